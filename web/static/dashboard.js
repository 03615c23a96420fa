// The dashboard: fleet totals, the status grid, one card per server and recent alerts.
import { $, api, BASE, esc, html, pageRoot, raw, show } from './core.js';
import { ago, applyWidths, badge, bytes, chart, coreText, duration, meter, pct, stateBadge, when } from './ui.js';
import { every, live } from './live.js';

// ---- Dashboard ----
export function pageDashboard() {
  const root = pageRoot();
  show(root, html`
    <div class="stats" id="totals"></div>
    <section class="card section" aria-labelledby="grid-title"><h2 id="grid-title">Server status</h2><div class="status-grid" id="grid"></div></section>
    <section class="section" id="single" hidden></section>
    <section class="section" aria-labelledby="cards-title"><h2 id="cards-title">Servers</h2><div class="grid" id="cards"></div></section>
    <section class="card section" aria-labelledby="alerts-title"><h2 id="alerts-title">Recent errors and alerts</h2><ul id="alerts" class="wrap"><li class="muted">Loading…</li></ul></section>`);
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
    const t = snapshot.totals;
    show($('#totals'), [
      ['Servers', t.servers], ['Online', t.online], ['Offline', t.offline], ['Pending', t.pending], ['Errors', t.error],
      ['Inbounds', t.inbounds], ['Clients', t.clients], ['Online clients', t.clients_online],
      ['Today ↑', bytes(t.today_up)], ['Today ↓', bytes(t.today_down)], ['All time', bytes(t.all_time)],
    ].map(([label, value]) => html`<div class="stat" data-stat="${label}"><div class="label">${label}</div><div class="value">${value}</div></div>`));
    show($('#grid'), snapshot.servers.length
      ? snapshot.servers.map((s) => html`<a class="tile ${s.state}" href="${BASE}/panel/server?id=${s.id}" data-server="${s.name}" data-state="${s.state}"><span class="name">${s.name}</span><span class="muted">${s.state}</span></a>`)
      : html`<p class="muted">No servers yet. <a href="${BASE}/panel/servers">Add one</a> and run its enrollment command on the VPN host.</p>`);
    // One server: one view of its host (the figures the server page shows), not a card too.
    const one = snapshot.servers.length === 1;
    $('#cards').closest('section').hidden = snapshot.servers.length <= 1;
    show($('#cards'), one ? '' : snapshot.servers.map((s) => serverCard(s, sys[s.id], history[s.id])));
    const single = $('#single');
    single.hidden = !one;
    if (one) show(single, serverCard(snapshot.servers[0], sys[snapshot.servers[0].id], history[snapshot.servers[0].id], true));
    // The snapshot's alerts are what the Errors count counts; the address warnings follow.
    const alerts = (snapshot.alerts || []).map(alertItem);
    for (const s of snapshot.servers) {
      if (s.link_warning) alerts.push(html`<li data-link-warning="${s.name}">${badge('warning', 'warn')} <a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>: ${s.link_warning}</li>`);
    }
    show($('#alerts'), alerts.length ? alerts : html`<li class="muted">Nothing to report: every server runs its settings and no task failed.</li>`);
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
// One alert of the snapshot: the server, what happened and, set apart, the agent's or the
// core's own words.
function alertItem(a) {
  const mark = a.kind === 'inbound_failed' ? raw(`data-failed-inbound="${esc(a.subject)}"`) : '';
  const kind = a.severity === 'error' ? badge('error') : badge('warning', 'warn');
  return html`<li data-alert="${a.kind}" data-alert-server="${a.server}" data-operation="${a.operation || ''}" ${mark}>${kind} <a href="${BASE}/panel/server?id=${a.server_id}">${a.server}</a>: ${a.text}${a.reason ? html` — <span class="mono" data-reason>${a.reason}</span>` : ''}${a.at ? html` <span class="muted">(${a.kind === 'offline' ? `last seen ${ago(a.at)}` : when(a.at)})</span>` : ''}</li>`;
}
// A server's card; `full` (the only server) shows its host as the server page does.
function serverCard(s, stats, hours, full = false) {
  const hb = s.live?.heartbeat;
  const memPct = hb ? pct(hb.mem_used, hb.mem_total) : 0;
  const disk = stats?.disk;
  const name = html`<a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>`;
  const host = full
    ? (stats ? systemStats(stats) : html`<p class="muted">${s.connected ? 'Loading system status…' : 'The server is not connected.'}</p>`)
    : html`${hb ? html`<div>CPU ${hb.cpu_percent.toFixed(0)}%</div>${meter(hb.cpu_percent, 'CPU')}
      <div>Memory ${bytes(hb.mem_used)} / ${bytes(hb.mem_total)}</div>${meter(memPct, 'Memory')}` : html`<p class="muted">No live metrics (${s.connected ? 'waiting for a heartbeat' : 'not connected'}).</p>`}
    ${disk ? html`<div>Disk ${bytes(disk.current)} / ${bytes(disk.total)}</div>${meter(pct(disk.current, disk.total), 'Disk')}` : ''}`;
  return html`<article class="card" data-server-card="${s.name}">
    <div class="row">${full ? html`<h2 class="grow">${name}</h2>` : html`<h3 class="grow">${name}</h3>`}${stateBadge(s)}</div>
    ${host}
    <dl class="kv">
      <dt>Uptime</dt><dd>${hb ? duration(hb.uptime_s) : '—'}</dd>
      <dt>Core</dt><dd>${coreText(s)}</dd>
      <dt>Agent</dt><dd>${s.version || '—'}</dd>
      <dt>Last seen</dt><dd>${s.connected ? 'now' : ago(s.last_seen)}</dd>
      <dt>Links use</dt><dd class="mono">${s.link_host || 'the request\'s host'}${s.link_warning ? html` ${badge('no public address', 'warn')}` : ''}</dd>
      <dt>Traffic today</dt><dd>↑ ${bytes(s.usage.today_up)} ↓ ${bytes(s.usage.today_down)}</dd>
      <dt>Inbounds</dt><dd>${s.usage.inbounds}</dd>
    </dl>
    ${chart(hours)}
  </article>`;
}
export function systemStats(st) {
  const x = st.xray || {};
  return html`<div class="stats">
      <div class="stat"><div class="label">CPU (${st.cpuCores} cores)</div><div class="value">${st.cpu.toFixed(1)}%</div>${meter(st.cpu, 'CPU')}</div>
      <div class="stat"><div class="label">Memory</div><div class="value">${bytes(st.mem.current)}</div><div class="muted">of ${bytes(st.mem.total)}</div>${meter(pct(st.mem.current, st.mem.total), 'Memory')}</div>
      <div class="stat"><div class="label">Swap</div><div class="value">${bytes(st.swap.current)}</div><div class="muted">of ${bytes(st.swap.total)}</div>${meter(pct(st.swap.current, st.swap.total), 'Swap')}</div>
      <div class="stat"><div class="label">Disk</div><div class="value">${bytes(st.disk.current)}</div><div class="muted">of ${bytes(st.disk.total)}</div>${meter(pct(st.disk.current, st.disk.total), 'Disk')}</div>
      <div class="stat"><div class="label">Core</div><div class="value">${badge(x.state || 'unknown', x.state === 'stop' ? 'offline' : x.state)}</div><div class="muted">${x.version || ''}</div></div>
      <div class="stat"><div class="label">Uptime</div><div class="value">${duration(st.uptime)}</div></div>
      <div class="stat"><div class="label">Load</div><div class="value">${(st.loads || []).map((l) => l.toFixed(2)).join(' ')}</div></div>
      <div class="stat"><div class="label">Connections</div><div class="value">${st.tcpCount} / ${st.udpCount}</div><div class="muted">TCP / UDP</div></div>
      <div class="stat"><div class="label">Speed</div><div class="value">↑ ${bytes(st.netIO.up)}/s</div><div class="muted">↓ ${bytes(st.netIO.down)}/s</div></div>
      <div class="stat"><div class="label">Network total</div><div class="value">↑ ${bytes(st.netTraffic.sent)}</div><div class="muted">↓ ${bytes(st.netTraffic.recv)}</div></div>
    </div>
    ${x.errorMsg ? html`<div class="alert error">${x.errorMsg}</div>` : ''}
    <dl class="kv"><dt>Public IP</dt><dd>${st.publicIP?.ipv4 || '—'} ${st.publicIP?.ipv6 || ''}</dd><dt>Agent</dt><dd>${st.appStats?.threads ?? 0} threads, ${bytes(st.appStats?.mem)} memory, up ${duration(st.appStats?.uptime)}</dd></dl>`;
}
