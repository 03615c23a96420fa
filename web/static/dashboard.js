// The dashboard: fleet totals, the status grid, one card per server and recent alerts.
import { $, api, BASE, esc, html, pageRoot, raw, show } from './core.js';
import { ago, applyWidths, badge, bytes, coreState, coreText, duration, linkWarning, meter, num, pct, rich, serverState, stateBadge, t, when } from './ui.js';
import { trafficChart } from './charts.js';
import { every, live } from './live.js';

// ---- Dashboard ----
export function pageDashboard() {
  const root = pageRoot();
  show(root, html`
    <div class="stats" id="totals"></div>
    <section class="card section" aria-labelledby="grid-title"><h2 id="grid-title">${t('dashboard.status_title')}</h2><div class="status-grid" id="grid"></div></section>
    <section class="section" id="single" hidden></section>
    <section class="section" aria-labelledby="cards-title"><h2 id="cards-title">${t('dashboard.servers')}</h2><div class="grid" id="cards"></div></section>
    <section class="card section" aria-labelledby="alerts-title"><h2 id="alerts-title">${t('dashboard.alerts_title')}</h2><ul id="alerts" class="wrap"><li class="muted">${t('common.loading')}</li></ul></section>`);
  const history = {};
  const sys = {};
  let snapshot = null;
  const refreshHistory = async () => {
    if (!snapshot) return;
    await Promise.all(snapshot.servers.map(async (s) => {
      try { history[s.id] = await api('GET', `/servers/${s.id}/history?hours=24`); } catch { /* shown as empty */ }
    }));
    draw();
  };
  const refreshSys = async () => {
    if (!snapshot) return;
    const online = snapshot.servers.filter((s) => s.connected).slice(0, 24);
    await Promise.all(online.map(async (s) => {
      try { sys[s.id] = await api('POST', `/servers/${s.id}/call`, { method: 'system.stats', body: {} }); } catch { delete sys[s.id]; }
    }));
    draw();
  };
  function draw() {
    if (!snapshot) return;
    const totals = snapshot.totals;
    // [the tile's name for scripts, its label, its value]
    show($('#totals'), [
      ['Servers', t('dashboard.servers'), num(totals.servers)], ['Online', t('dashboard.stat_online'), num(totals.online)],
      ['Offline', t('dashboard.stat_offline'), num(totals.offline)], ['Pending', t('dashboard.stat_pending'), num(totals.pending)],
      ['Errors', t('dashboard.stat_errors'), num(totals.error)], ['Inbounds', t('dashboard.stat_inbounds'), num(totals.inbounds)],
      ['Clients', t('dashboard.stat_clients'), num(totals.clients)], ['Online clients', t('dashboard.stat_online_clients'), num(totals.clients_online)],
      ['Today ↑', t('dashboard.stat_today_up'), bytes(totals.today_up)], ['Today ↓', t('dashboard.stat_today_down'), bytes(totals.today_down)],
      ['All time', t('dashboard.stat_all_time'), bytes(totals.all_time)],
    ].map(([name, label, value]) => html`<div class="stat" data-stat="${name}"><div class="label">${label}</div><div class="value">${value}</div></div>`));
    show($('#grid'), snapshot.servers.length
      ? snapshot.servers.map((s) => html`<a class="tile ${s.state}" href="${BASE}/panel/server?id=${s.id}" data-server="${s.name}" data-state="${s.state}"><span class="name">${s.name}</span><span class="muted">${serverState(s.state)}</span></a>`)
      : html`<p class="muted">${rich(t('dashboard.no_servers'), { add: html`<a href="${BASE}/panel/servers">${t('dashboard.add_one')}</a>` })}</p>`);
    // One server: one view of its host (the figures the server page shows), not a card too.
    const one = snapshot.servers.length === 1;
    $('#cards').closest('section').hidden = snapshot.servers.length <= 1;
    show($('#cards'), one ? '' : snapshot.servers.map((s) => serverCard(s, sys[s.id], history[s.id])));
    const single = $('#single');
    single.hidden = !one;
    if (one) show(single, serverCard(snapshot.servers[0], sys[snapshot.servers[0].id], history[snapshot.servers[0].id], true));
    // The snapshot's alerts are what the Errors count counts; the address warnings follow.
    const alerts = (snapshot.alerts || []).map((a) => alertItem(a, snapshot.servers.find((s) => s.id === a.server_id)));
    for (const s of snapshot.servers) {
      if (s.link_warning) alerts.push(html`<li data-link-warning="${s.name}">${badge(t('dashboard.warning'), 'warn')} <a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>: ${linkWarning(s)}</li>`);
    }
    show($('#alerts'), alerts.length ? alerts : html`<li class="muted">${t('dashboard.nothing')}</li>`);
    applyWidths();
  }
  let started = false;
  live.on((snap) => {
    snapshot = snap;
    draw();
    if (!started) { started = true; refreshHistory(); refreshSys(); }
  });
  every(60000, refreshHistory);
  every(snapshot?.servers?.length === 1 ? 3000 : 15000, refreshSys);
  every(3000, () => { if (snapshot?.servers?.length === 1) refreshSys(); });
}
// What an alert says happened, in the reader's language: the controller's English words
// (`a.text`) for a kind not listed here.
function alertText(a, server) {
  const revisions = { applied: String(server?.applied_revision ?? ''), revision: String(server?.revision ?? '') };
  const failedInbound = server?.failed_inbounds?.find((f) => f.tag === a.subject);
  const operation = a.operation || '';
  switch (a.kind) {
    case 'offline': return t('dashboard.alert_offline');
    case 'core_error': return t('dashboard.alert_core_error');
    case 'core_stopped': return t('dashboard.alert_core_stopped');
    case 'state_refused': return server ? t('dashboard.alert_state_refused', revisions) : a.text;
    case 'not_applied': return server ? t('dashboard.alert_not_applied', revisions) : a.text;
    case 'inbound_failed': return t('dashboard.alert_inbound_failed', { name: failedInbound?.remark || a.subject });
    case 'task_failed': return t('dashboard.alert_task_failed', { operation });
    case 'task_expired': return t('dashboard.alert_task_expired', { operation });
    case 'task_retrying': return t('dashboard.alert_task_retrying', { operation });
    default: return a.text;
  }
}
// One alert of the snapshot: the server, what happened and, set apart, the agent's or the
// core's own words.
function alertItem(a, server) {
  const mark = a.kind === 'inbound_failed' ? raw(`data-failed-inbound="${esc(a.subject)}"`) : '';
  const kind = a.severity === 'error' ? badge(t('ui.state_error'), 'error') : badge(t('dashboard.warning'), 'warn');
  return html`<li data-alert="${a.kind}" data-alert-server="${a.server}" data-operation="${a.operation || ''}" ${mark}>${kind} <a href="${BASE}/panel/server?id=${a.server_id}">${a.server}</a>: ${alertText(a, server)}${a.reason ? html` — <span class="mono" data-reason>${a.reason}</span>` : ''}${a.at ? html` <span class="muted">(${a.kind === 'offline' ? t('dashboard.last_seen_ago', { time: ago(a.at) }) : when(a.at)})</span>` : ''}</li>`;
}
// A percent in the reader's digits and sign: 12%, ۱۲٪.
const percent = (value, digits) => num(value / 100, { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits });
// A server's card; `full` (the only server) shows its host as the server page does.
function serverCard(s, stats, hours, full = false) {
  const hb = s.live?.heartbeat;
  const memPct = hb ? pct(hb.mem_used, hb.mem_total) : 0;
  const disk = stats?.disk;
  const name = html`<a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>`;
  const host = full
    ? (stats ? systemStats(stats) : html`<p class="muted">${s.connected ? t('dashboard.loading_system') : t('dashboard.not_connected')}</p>`)
    : html`${hb ? html`<div>${t('dashboard.cpu_now', { percent: percent(hb.cpu_percent, 0) })}</div>${meter(hb.cpu_percent, t('dashboard.cpu'))}
      <div>${t('dashboard.memory_of', { used: bytes(hb.mem_used), total: bytes(hb.mem_total) })}</div>${meter(memPct, t('dashboard.memory'))}` : html`<p class="muted">${s.connected ? t('dashboard.no_metrics_waiting') : t('dashboard.no_metrics_offline')}</p>`}
    ${disk ? html`<div>${t('dashboard.disk_of', { used: bytes(disk.current), total: bytes(disk.total) })}</div>${meter(pct(disk.current, disk.total), t('dashboard.disk'))}` : ''}`;
  return html`<article class="card" data-server-card="${s.name}">
    <div class="row">${full ? html`<h2 class="grow">${name}</h2>` : html`<h3 class="grow">${name}</h3>`}${stateBadge(s)}</div>
    ${host}
    <dl class="kv">
      <dt>${t('dashboard.uptime')}</dt><dd>${hb ? duration(hb.uptime_s) : '—'}</dd>
      <dt>${t('dashboard.core')}</dt><dd>${coreText(s)}</dd>
      <dt>${t('dashboard.agent')}</dt><dd>${s.version || '—'}</dd>
      <dt>${t('dashboard.last_seen')}</dt><dd>${s.connected ? t('dashboard.now') : ago(s.last_seen)}</dd>
      <dt>${t('dashboard.links_use')}</dt><dd>${s.link_host ? html`<span class="mono">${s.link_host}</span>` : t('dashboard.request_host')}${s.link_warning ? html` ${badge(t('dashboard.no_public_address'), 'warn')}` : ''}</dd>
      <dt>${t('dashboard.traffic_today')}</dt><dd>↑ ${bytes(s.usage.today_up)} ↓ ${bytes(s.usage.today_down)}</dd>
      <dt>${t('dashboard.inbounds')}</dt><dd>${num(s.usage.inbounds)}</dd>
    </dl>
    ${trafficChart(hours, 24, `traffic-${s.id}`)}
  </article>`;
}
export function systemStats(st) {
  const x = st.xray || {};
  return html`<div class="stats">
      <div class="stat"><div class="label">${t('dashboard.cpu_cores', { n: st.cpuCores })}</div><div class="value">${percent(st.cpu, 1)}</div>${meter(st.cpu, t('dashboard.cpu'))}</div>
      <div class="stat"><div class="label">${t('dashboard.memory')}</div><div class="value">${bytes(st.mem.current)}</div><div class="muted">${t('dashboard.of', { total: bytes(st.mem.total) })}</div>${meter(pct(st.mem.current, st.mem.total), t('dashboard.memory'))}</div>
      <div class="stat"><div class="label">${t('dashboard.swap')}</div><div class="value">${bytes(st.swap.current)}</div><div class="muted">${t('dashboard.of', { total: bytes(st.swap.total) })}</div>${meter(pct(st.swap.current, st.swap.total), t('dashboard.swap'))}</div>
      <div class="stat"><div class="label">${t('dashboard.disk')}</div><div class="value">${bytes(st.disk.current)}</div><div class="muted">${t('dashboard.of', { total: bytes(st.disk.total) })}</div>${meter(pct(st.disk.current, st.disk.total), t('dashboard.disk'))}</div>
      <div class="stat"><div class="label">${t('dashboard.core')}</div><div class="value">${badge(x.state ? coreState(x.state) : t('dashboard.unknown'), x.state === 'stop' ? 'offline' : x.state)}</div><div class="muted">${x.version || ''}</div></div>
      <div class="stat"><div class="label">${t('dashboard.uptime')}</div><div class="value">${duration(st.uptime)}</div></div>
      <div class="stat"><div class="label">${t('dashboard.load')}</div><div class="value">${(st.loads || []).map((l) => num(l, { minimumFractionDigits: 2, maximumFractionDigits: 2 })).join(' ')}</div></div>
      <div class="stat"><div class="label">${t('dashboard.connections')}</div><div class="value">${num(st.tcpCount)} / ${num(st.udpCount)}</div><div class="muted">TCP / UDP</div></div>
      <div class="stat"><div class="label">${t('dashboard.speed')}</div><div class="value">↑ ${t('dashboard.per_second', { amount: bytes(st.netIO.up) })}</div><div class="muted">↓ ${t('dashboard.per_second', { amount: bytes(st.netIO.down) })}</div></div>
      <div class="stat"><div class="label">${t('dashboard.network_total')}</div><div class="value">↑ ${bytes(st.netTraffic.sent)}</div><div class="muted">↓ ${bytes(st.netTraffic.recv)}</div></div>
    </div>
    ${x.errorMsg ? html`<div class="alert error">${x.errorMsg}</div>` : ''}
    <dl class="kv"><dt>${t('dashboard.public_ip')}</dt><dd class="mono">${st.publicIP?.ipv4 || '—'} ${st.publicIP?.ipv6 || ''}</dd><dt>${t('dashboard.agent')}</dt><dd>${t('dashboard.agent_stats', { n: st.appStats?.threads ?? 0, memory: bytes(st.appStats?.mem), uptime: duration(st.appStats?.uptime) })}</dd></dl>`;
}
