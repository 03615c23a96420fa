// xfleet panel: fills the server-rendered page shells from the native API (/api/v1) with
// the session cookie, and keeps them current from the live event stream. No build step.
'use strict';

const BASE = document.body.dataset.base || '';
const PAGE = document.body.dataset.page;
const API = '/api/v1';
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---- Markup: every interpolated value is escaped unless it is already markup ----
class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
const raw = (s) => new Raw(s);
function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function part(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === false || v === null || v === undefined) return '';
  return esc(v);
}
function html(strings, ...values) {
  let out = '';
  strings.forEach((s, i) => { out += s; if (i < values.length) out += part(values[i]); });
  return raw(out);
}
function show(node, content) { if (node) node.innerHTML = part(content); }
const pageRoot = () => $('#page');
const pageData = (() => { try { return JSON.parse($('#page-data')?.textContent || '{}'); } catch { return {}; } })();

// ---- API ----
class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = error?.code || 'error';
    this.fields = error?.details?.fields || [];
  }
}
let leaving = false;
function sessionEnded() {
  if (leaving) return;
  leaving = true;
  const here = location.pathname.slice(BASE.length) + location.search;
  location.href = `${BASE}/?expired=1&next=${encodeURIComponent(here)}`;
}
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { opts.headers['content-type'] = 'application/json'; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(API + path, opts); } catch (e) {
    throw new ApiError(0, { code: 'network', message: `the controller cannot be reached (${e.message})` });
  }
  if (resp.status === 401 && PAGE !== 'login') { sessionEnded(); throw new ApiError(401, { message: 'your session has ended' }); }
  let json;
  try { json = await resp.json(); } catch {
    throw new ApiError(resp.status, { code: 'bad_response', message: `unexpected answer (HTTP ${resp.status})` });
  }
  if (!json.success) throw new ApiError(resp.status, json.error);
  return json.data;
}
const enc = encodeURIComponent;

// ---- Formatting ----
function bytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
function duration(secs) {
  secs = Math.floor(Number(secs) || 0);
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m`;
  return `${secs}s`;
}
function ago(ms) {
  if (!ms) return 'never';
  const s = (Date.now() - ms) / 1000;
  if (s < 5) return 'just now';
  if (s < 0) return 'in ' + duration(-s);
  return duration(s) + ' ago';
}
function when(ms) { return ms ? new Date(ms).toLocaleString() : '—'; }
function pct(used, total) { return total > 0 ? Math.min(100, (used / total) * 100) : 0; }
function meter(percent, label) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  return html`<div class="meter ${p > 85 ? 'high' : ''}" role="meter" aria-label="${label}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p.toFixed(0)}"><span data-width="${p.toFixed(1)}"></span></div>`;
}
// Widths are set after rendering (no inline style attributes in markup).
function applyWidths(root = document) {
  $$('[data-width]', root).forEach((el) => { el.style.width = `${el.dataset.width}%`; });
}
function badge(text, kind) { return html`<span class="badge ${kind || text}">${text}</span>`; }
const GB = 1024 ** 3;

// ---- Feedback ----
function toast(message, kind = 'ok') {
  const t = document.createElement('div');
  t.className = `toast ${kind}`;
  t.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  t.textContent = message;
  $('#toasts')?.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}
function failed(e) { toast(e.message || String(e), 'error'); }
function confirmDialog(title, text, action = 'Confirm') {
  return new Promise((resolve) => {
    const d = document.createElement('dialog');
    d.setAttribute('aria-labelledby', 'dialog-title');
    show(d, html`<form method="dialog"><h2 id="dialog-title">${title}</h2><p>${text}</p>
      <div class="actions"><button value="no" autofocus>Cancel</button><button value="yes" class="danger solid">${action}</button></div></form>`);
    document.body.appendChild(d);
    d.addEventListener('close', () => { resolve(d.returnValue === 'yes'); d.remove(); });
    d.showModal();
  });
}
async function copyText(text, what = 'Copied') {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {
      const ta = document.createElement('textarea');
      ta.value = text; ta.setAttribute('readonly', ''); ta.className = 'skip';
      document.body.appendChild(ta); ta.select(); document.execCommand('copy'); ta.remove();
    }
    toast(`${what} to the clipboard`);
  } catch (e) { toast(`Could not copy: ${e.message}`, 'error'); }
}
// Shows field errors from an API answer next to the inputs named after them; the rest
// go to the form's general error box. Returns whether anything was shown.
function fieldErrors(form, err, aliases = {}) {
  clearErrors(form);
  const general = [];
  const fields = err.fields?.length ? err.fields : [];
  for (const f of fields) {
    const name = aliases[f.field] || aliasFor(aliases, f.field) || f.field;
    const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      const msg = document.createElement('div');
      msg.className = 'field-error';
      msg.id = `err-${Math.random().toString(36).slice(2)}`;
      msg.textContent = f.message;
      input.setAttribute('aria-describedby', msg.id);
      (input.closest('.input-group') || input).insertAdjacentElement('afterend', msg);
    } else general.push(`${f.field}: ${f.message}`);
  }
  if (!fields.length) general.push(err.message);
  const box = form.querySelector('.form-error');
  if (box) { box.textContent = general.join('; '); box.hidden = !general.length; }
  else if (general.length) toast(general.join('; '), 'error');
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}
function aliasFor(aliases, field) {
  for (const [prefix, target] of Object.entries(aliases)) if (prefix.endsWith('*') && field.startsWith(prefix.slice(0, -1))) return target;
  return null;
}
function clearErrors(form) {
  $$('.field-error', form).forEach((e) => e.remove());
  $$('[aria-invalid]', form).forEach((e) => { e.removeAttribute('aria-invalid'); e.removeAttribute('aria-describedby'); });
  const box = form.querySelector('.form-error');
  if (box) { box.hidden = true; box.textContent = ''; }
}
function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') { if (el.dataset.multi) (out[el.name] ||= []).push(...(el.checked ? [el.value] : [])); else out[el.name] = el.checked; }
    else out[el.name] = el.value;
  }
  return out;
}
async function busy(button, work) {
  const was = button?.disabled;
  if (button) button.disabled = true;
  try { return await work(); } finally { if (button) button.disabled = was; }
}

// ---- Actions, theme, menu, logout ----
const actions = {};
document.addEventListener('click', (e) => {
  const el = e.target.closest('[data-action]');
  if (!el || !actions[el.dataset.action]) return;
  e.preventDefault();
  Promise.resolve(actions[el.dataset.action](el, e)).catch(failed);
});
actions.theme = () => {
  const root = document.documentElement;
  const dark = root.dataset.theme === 'dark' || (root.dataset.theme === 'auto' && matchMedia('(prefers-color-scheme: dark)').matches);
  const next = dark ? 'light' : 'dark';
  root.dataset.theme = next;
  document.cookie = `xfleet_theme=${next}; Path=/; Max-Age=31536000; SameSite=Lax`;
};
actions.logout = async () => {
  try { await api('POST', '/auth/logout'); } finally { leaving = true; location.href = `${BASE}/`; }
};
actions.copy = (el) => copyText(el.dataset.copy ?? $(el.dataset.copyFrom)?.textContent ?? '', el.dataset.what || 'Copied');
document.addEventListener('DOMContentLoaded', () => {
  const toggle = $('.menu-toggle');
  toggle?.addEventListener('click', () => {
    const nav = $('#nav');
    const open = !nav.classList.contains('open');
    nav.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
  });
});

// ---- Live updates (server-sent events) ----
const live = {
  last: null,
  handlers: [],
  source: null,
  on(f) { this.handlers.push(f); if (this.last) f(this.last); },
  connect() {
    const badgeEl = $('#live');
    this.source = new EventSource(API + '/events');
    this.source.addEventListener('snapshot', (ev) => {
      try { this.last = JSON.parse(ev.data); } catch { return; }
      if (badgeEl) { badgeEl.textContent = 'live'; badgeEl.className = 'live on'; }
      for (const f of this.handlers) { try { f(this.last); } catch (e) { console.error(e); } }
    });
    this.source.onerror = () => {
      if (badgeEl) { badgeEl.textContent = 'reconnecting…'; badgeEl.className = 'live off'; }
      // A refused stream may mean the session ended: asking the API finds out.
      api('GET', '/auth/me').catch(() => {});
    };
  },
};
function throttle(ms, f) {
  let last = 0, timer = null;
  return (...args) => {
    const wait = last + ms - Date.now();
    if (wait <= 0) { last = Date.now(); f(...args); } else if (!timer) timer = setTimeout(() => { timer = null; last = Date.now(); f(...args); }, wait);
  };
}
function every(ms, f) { const id = setInterval(() => { if (!document.hidden) f(); }, ms); return () => clearInterval(id); }

// ---- Shared pieces ----
function stateBadge(s) {
  const state = s.state || s.status;
  return badge(state, state);
}
function coreText(s) {
  const core = s.live?.core;
  if (!core) return s.core_version ? `${s.core_version}` : '—';
  return `${core.state}${s.core_version ? ' · ' + s.core_version : ''}`;
}
function chart(hours, spanHours = 24) {
  const now = Date.now();
  const start = Math.floor(now / 3600000) * 3600000 - (spanHours - 1) * 3600000;
  const buckets = Array.from({ length: spanHours }, (_, i) => ({ hour: start + i * 3600000, up: 0, down: 0 }));
  for (const h of hours || []) {
    const i = Math.round((h.hour - start) / 3600000);
    if (i >= 0 && i < spanHours) { buckets[i].up += h.up; buckets[i].down += h.down; }
  }
  const max = Math.max(1, ...buckets.map((b) => b.up + b.down));
  const w = 100 / spanHours;
  const bars = buckets.map((b, i) => {
    const hu = (b.up / max) * 66, hd = (b.down / max) * 66;
    return html`<rect class="down" x="${(i * w + 0.1).toFixed(2)}" y="${(68 - hd).toFixed(2)}" width="${(w - 0.2).toFixed(2)}" height="${hd.toFixed(2)}"><title>${new Date(b.hour).toLocaleString()}: down ${bytes(b.down)}, up ${bytes(b.up)}</title></rect><rect class="up" x="${(i * w + 0.1).toFixed(2)}" y="${(68 - hd - hu).toFixed(2)}" width="${(w - 0.2).toFixed(2)}" height="${hu.toFixed(2)}"></rect>`;
  });
  const total = buckets.reduce((a, b) => a + b.up + b.down, 0);
  return html`<svg class="chart" viewBox="0 0 100 70" preserveAspectRatio="none" role="img" aria-label="Traffic per hour over the last ${spanHours} hours, ${bytes(total)} in total">${bars}</svg>
    <div class="legend"><span class="up">up</span> · <span class="down">down</span> · last ${spanHours} h: ${bytes(total)}</div>`;
}
async function servers() { return api('GET', '/servers'); }
async function allInbounds(serverList) {
  const lists = await Promise.all(serverList.map((s) => api('GET', `/servers/${s.id}/inbounds`).then((l) => l.map((i) => ({ ...i, serverName: s.name })))));
  return lists.flat();
}
function serverName(list, id) { return list.find((s) => s.id === id)?.name ?? `#${id}`; }
async function waitTask(task, label) {
  const deadline = Date.now() + 330000;
  let t = task;
  while (!['completed', 'failed', 'expired'].includes(t.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 700));
    t = await api('GET', `/tasks/${t.id}`);
  }
  if (t.status === 'completed') toast(`${label}: done`);
  else if (t.status === 'failed' || t.status === 'expired') toast(`${label}: ${t.status}${t.error ? ' — ' + t.error.message : ''}`, 'error');
  else toast(`${label}: still ${t.status}; see the task list`, 'error');
  return t;
}
function switchControl(checked, label, attrs = '') {
  return html`<label class="switch"><input type="checkbox" ${raw(checked ? 'checked' : '')} aria-label="${label}" ${raw(attrs)}><span></span></label>`;
}
function dateInput(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function fromDateInput(v) { return v ? new Date(v).getTime() : 0; }

// ---- Login ----
function pageLogin() {
  const form = $('#login-form');
  const error = $('#login-error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const v = formValues(form);
    const body = { username: v.username.trim(), password: v.password };
    if (v.twoFactorCode) body.twoFactorCode = v.twoFactorCode.trim();
    if (!body.username || !body.password) { error.textContent = 'Enter your username and password.'; error.hidden = false; return; }
    try {
      await busy(form.querySelector('button[type="submit"]'), () => api('POST', '/auth/login', body));
      const next = new URLSearchParams(location.search).get('next') || '';
      location.href = BASE + (/^\/panel(\/|$)/.test(next) && !next.includes('//') ? next : '/panel/');
    } catch (err) {
      error.textContent = err.message.charAt(0).toUpperCase() + err.message.slice(1);
      error.hidden = false;
      (/two-factor/.test(err.message) ? $('#two-factor') : $('#password'))?.focus();
    }
  });
}

// ---- Dashboard ----
function pageDashboard() {
  const root = pageRoot();
  show(root, html`
    <div class="stats" id="totals"></div>
    <section class="card section" aria-labelledby="grid-title"><h2 id="grid-title">Server status</h2><div class="status-grid" id="grid"></div></section>
    <section class="section" id="single" hidden></section>
    <section class="section" aria-labelledby="cards-title"><h2 id="cards-title">Servers</h2><div class="grid" id="cards"></div></section>
    <section class="card section" aria-labelledby="alerts-title"><h2 id="alerts-title">Recent errors and alerts</h2><ul id="alerts" class="wrap"><li class="muted">Loading…</li></ul></section>`);
  const history = {};
  const sys = {};
  let auditErrors = [];
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
  const refreshAudit = async () => {
    try { auditErrors = (await api('GET', '/audit?limit=300')).filter((a) => a.result !== 'ok').slice(0, 8); } catch { auditErrors = []; }
    draw();
  };
  function draw() {
    if (!snapshot) return;
    const t = snapshot.totals;
    show($('#totals'), [
      ['Servers', t.servers], ['Online', t.online], ['Offline', t.offline + t.pending], ['Errors', t.error],
      ['Inbounds', t.inbounds], ['Clients', t.clients], ['Online clients', t.clients_online],
      ['Today ↑', bytes(t.today_up)], ['Today ↓', bytes(t.today_down)], ['All time', bytes(t.all_time)],
    ].map(([label, value]) => html`<div class="stat" data-stat="${label}"><div class="label">${label}</div><div class="value">${value}</div></div>`));
    show($('#grid'), snapshot.servers.length
      ? snapshot.servers.map((s) => html`<a class="tile ${s.state}" href="${BASE}/panel/server?id=${s.id}" data-server="${s.name}" data-state="${s.state}"><span class="name">${s.name}</span><span class="muted">${s.state}</span></a>`)
      : html`<p class="muted">No servers yet. <a href="${BASE}/panel/servers">Add one</a> and run its enrollment command on the VPN host.</p>`);
    show($('#cards'), snapshot.servers.map((s) => serverCard(s, sys[s.id], history[s.id])));
    const single = $('#single');
    single.hidden = snapshot.servers.length !== 1;
    if (snapshot.servers.length === 1) {
      const s = snapshot.servers[0];
      show(single, html`<div class="card"><h2>${s.name} status</h2>${sys[s.id] ? systemStats(sys[s.id]) : html`<p class="muted">${s.connected ? 'Loading system status…' : 'The server is not connected.'}</p>`}</div>`);
    }
    const alerts = [];
    for (const s of snapshot.servers) {
      if (s.state === 'offline') alerts.push(html`<li>${badge('offline')} <a href="${BASE}/panel/server?id=${s.id}">${s.name}</a> is offline${s.last_error ? ': ' + s.last_error : ''} (last seen ${ago(s.last_seen)})</li>`);
      if (s.state === 'error') alerts.push(html`<li>${badge('error')} <a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>: core error — ${s.live?.core?.message || ''}</li>`);
      if (s.connected && s.applied_revision < s.revision) alerts.push(html`<li>${badge('pending')} ${s.name} has not applied revision ${s.revision} yet (at ${s.applied_revision})</li>`);
    }
    for (const a of auditErrors) alerts.push(html`<li>${badge(a.result, 'error')} ${when(a.at)} · ${a.actor}: ${a.action} ${a.target}</li>`);
    show($('#alerts'), alerts.length ? alerts : html`<li class="muted">Nothing to report.</li>`);
    applyWidths();
  }
  let started = false;
  live.on((snap) => {
    snapshot = snap;
    draw();
    if (!started) { started = true; refreshHistory(); refreshSys(); refreshAudit(); }
  });
  every(60000, refreshHistory);
  every(snapshot?.servers?.length === 1 ? 3000 : 15000, refreshSys);
  every(3000, () => { if (snapshot?.servers?.length === 1) refreshSys(); });
  every(30000, refreshAudit);
}
function serverCard(s, stats, hours) {
  const hb = s.live?.heartbeat;
  const memPct = hb ? pct(hb.mem_used, hb.mem_total) : 0;
  const disk = stats?.disk;
  return html`<article class="card" data-server-card="${s.name}">
    <div class="row"><h3 class="grow"><a href="${BASE}/panel/server?id=${s.id}">${s.name}</a></h3>${stateBadge(s)}</div>
    ${hb ? html`<div>CPU ${hb.cpu_percent.toFixed(0)}%</div>${meter(hb.cpu_percent, 'CPU')}
      <div>Memory ${bytes(hb.mem_used)} / ${bytes(hb.mem_total)}</div>${meter(memPct, 'Memory')}` : html`<p class="muted">No live metrics (${s.connected ? 'waiting for a heartbeat' : 'not connected'}).</p>`}
    ${disk ? html`<div>Disk ${bytes(disk.current)} / ${bytes(disk.total)}</div>${meter(pct(disk.current, disk.total), 'Disk')}` : ''}
    <dl class="kv">
      <dt>Uptime</dt><dd>${hb ? duration(hb.uptime_s) : '—'}</dd>
      <dt>Core</dt><dd>${coreText(s)}</dd>
      <dt>Agent</dt><dd>${s.version || '—'}</dd>
      <dt>Last seen</dt><dd>${s.connected ? 'now' : ago(s.last_seen)}</dd>
      <dt>Traffic today</dt><dd>↑ ${bytes(s.usage.today_up)} ↓ ${bytes(s.usage.today_down)}</dd>
      <dt>Inbounds</dt><dd>${s.usage.inbounds}</dd>
    </dl>
    ${chart(hours)}
  </article>`;
}
function systemStats(st) {
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

// ---- Servers ----
function pageServers() {
  const root = pageRoot();
  show(root, html`
    <section class="card section" aria-labelledby="add-title">
      <h2 id="add-title">Add server</h2>
      <form id="add-server" novalidate>
        <div class="form-grid">
          <div><label for="s-name">Name</label><input id="s-name" name="name" required placeholder="ams-1" autocomplete="off"><div class="hint">Letters, digits, - _ .</div></div>
          <div><label for="s-region">Region</label><input id="s-region" name="region" placeholder="eu"></div>
          <div><label for="s-tags">Tags</label><input id="s-tags" name="tags" placeholder="prod, nl"><div class="hint">Comma separated</div></div>
        </div>
        <div class="alert error form-error" role="alert" hidden></div>
        <div class="actions"><button class="primary" type="submit">Add server</button></div>
      </form>
      <div id="enroll" aria-live="polite"></div>
    </section>
    <div class="table-wrap"><table><caption class="skip">Servers</caption><thead><tr><th>Name</th><th>Status</th><th class="hide-phone">Region</th><th class="hide-phone">Agent</th><th>Core</th><th>Last seen</th><th>Inbounds</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="server-rows"></tbody></table></div>`);
  const form = $('#add-server');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    const body = { name: v.name.trim(), region: v.region.trim(), tags: v.tags.split(',').map((t) => t.trim()).filter(Boolean), notes: '' };
    try {
      const server = await busy(form.querySelector('[type="submit"]'), () => api('POST', '/servers', body));
      form.reset();
      toast(`Server ${server.name} added`);
      await showEnrollment(server);
    } catch (err) {
      if (!err.fields.length && /name/i.test(err.message)) err.fields = [{ field: 'name', message: err.message }];
      fieldErrors(form, err);
    }
  });
  actions.enroll = async (el) => showEnrollment({ id: Number(el.dataset.id), name: el.dataset.name });
  live.on((snap) => {
    show($('#server-rows'), snap.servers.length ? snap.servers.map((s) => html`<tr data-server-row="${s.name}">
      <td><a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>${s.local ? html` ${badge('local', 'ok')}` : ''}</td>
      <td>${stateBadge(s)}</td><td class="hide-phone">${s.region || '—'}</td><td class="hide-phone">${s.version || '—'}</td>
      <td>${coreText(s)}</td><td>${s.connected ? 'now' : ago(s.last_seen)}</td><td>${s.usage.inbounds}</td>
      <td>${s.local ? '' : html`<button class="small" data-action="enroll" data-id="${s.id}" data-name="${s.name}">Enrollment command</button>`}</td></tr>`)
      : html`<tr><td colspan="8" class="empty">No servers yet: add one above.</td></tr>`);
  });
}
async function showEnrollment(server) {
  const box = $('#enroll');
  const t = await api('POST', `/servers/${server.id}/enrollment-tokens`, {});
  show(box, html`<div class="alert info">
    <strong>Enroll ${server.name}</strong>: run this on the VPN host. It works once and expires ${when(t.expires_at)} (${duration((t.expires_at - Date.now()) / 1000)} from now).
    <div class="command"><code id="enroll-command" data-expires="${t.expires_at}">${t.command}</code><button class="primary" data-action="copy" data-copy-from="#enroll-command" data-what="Enrollment command copied">Copy</button></div>
    <div class="hint">Then start the agent: <code>xfleet-agent run</code> (or <code>systemctl enable --now xfleet-agent</code>). The server turns online here by itself.</div></div>`);
  box.scrollIntoView({ block: 'nearest' });
}

// ---- One server ----
function pageServer() {
  const id = new URLSearchParams(location.search).get('id');
  const root = pageRoot();
  if (!id) { show(root, html`<p>No server given. <a href="${BASE}/panel/servers">All servers</a></p>`); return; }
  show(root, html`
    <div class="grid">
      <section class="card" aria-labelledby="info-title"><h2 id="info-title">Server</h2><div id="info">Loading…</div></section>
      <section class="card" aria-labelledby="core-title"><h2 id="core-title">Core</h2>
        <div class="row"><button data-action="core" data-op="core.start">Start</button><button data-action="core" data-op="core.stop">Stop</button><button data-action="core" data-op="core.restart">Restart</button></div>
        <form id="install" class="row" novalidate><div class="grow"><label for="core-version">Install core version</label><input id="core-version" name="version" placeholder="25.3.6" required></div><button type="submit">Install</button></form>
        <div class="actions"><button data-action="geo">Update geo files</button></div>
        <div class="alert error form-error" role="alert" hidden></div>
      </section>
      <section class="card" aria-labelledby="danger-title"><h2 id="danger-title">Access</h2>
        <p class="muted">A new enrollment command lets an agent join as this server. Revoking cuts the agent off at once; removing deletes the server with its inbounds.</p>
        <div class="row"><button data-action="server-enroll">New enrollment command</button><button class="danger" data-action="revoke">Revoke</button><button class="danger" data-action="remove">Remove</button></div>
        <div id="enroll"></div>
      </section>
    </div>
    <section class="card section" aria-labelledby="sys-title"><h2 id="sys-title">System status</h2><div id="sys"><p class="muted">Loading…</p></div></section>
    <section class="card section" aria-labelledby="traffic-title"><h2 id="traffic-title">Traffic</h2><div id="traffic"></div></section>
    <section class="card section" aria-labelledby="logs-title"><h2 id="logs-title">Core logs</h2>
      <div class="toolbar"><div><label for="log-level">Level</label><select id="log-level"><option value="debug">debug and above</option><option value="info">info and above</option><option value="warning" selected>warning and above</option><option value="error">error</option></select></div>
      <div><label for="log-count">Lines</label><select id="log-count"><option>50</option><option selected>200</option><option>1000</option></select></div>
      <label class="inline"><input type="checkbox" id="log-follow"> Follow</label><button data-action="logs">Refresh</button></div>
      <div class="logs" id="logs" tabindex="0" aria-label="Core log lines"><span class="muted">Loading…</span></div></section>
    <section class="section" aria-labelledby="tasks-title"><h2 id="tasks-title">Task history</h2><div class="table-wrap"><table><thead><tr><th>Created</th><th>Operation</th><th>Status</th><th class="hide-phone">By</th><th class="hide-phone">Attempts</th><th class="hide-phone">Result</th></tr></thead><tbody id="task-rows"></tbody></table></div></section>`);
  let server = null;
  const loadInfo = (s) => {
    server = s;
    $('#title').textContent = `Server ${s.name}`;
    document.title = `${s.name} · xfleet`;
    show($('#info'), html`<p>${stateBadge(s)} ${s.local ? badge('local server', 'ok') : ''}</p><dl class="kv">
      <dt>Id</dt><dd>${s.id}</dd><dt>Region</dt><dd>${s.region || '—'}</dd><dt>Tags</dt><dd>${(s.tags || []).join(', ') || '—'}</dd>
      <dt>Host</dt><dd>${s.hostname || '—'}</dd><dt>Address</dt><dd>${s.live?.remote || '—'}</dd>
      <dt>Agent</dt><dd>${s.version || '—'}</dd><dt>Core</dt><dd>${coreText(s)}</dd>
      <dt>Revision</dt><dd>${s.applied_revision} of ${s.revision}</dd><dt>Last seen</dt><dd>${s.connected ? 'now' : when(s.last_seen)}</dd>
      ${s.last_error ? html`<dt>Last error</dt><dd>${s.last_error}</dd>` : ''}</dl>`);
  };
  const loadSys = async () => {
    if (!server?.connected) { show($('#sys'), html`<p class="muted">The server is not connected.</p>`); return; }
    try { show($('#sys'), systemStats(await api('POST', `/servers/${id}/call`, { method: 'system.stats', body: {} }))); applyWidths($('#sys')); } catch (e) { show($('#sys'), html`<p class="alert error">${e.message}</p>`); }
  };
  const loadTraffic = async () => {
    try { show($('#traffic'), chart(await api('GET', `/servers/${id}/history?hours=48`), 48)); } catch (e) { show($('#traffic'), html`<p class="muted">${e.message}</p>`); }
  };
  const loadLogs = async () => {
    if (!server?.connected) { show($('#logs'), html`<span class="muted">The server is not connected.</span>`); return; }
    try {
      const out = await api('POST', `/servers/${id}/call`, { method: 'core.logs', body: { level: $('#log-level').value, count: Number($('#log-count').value) } });
      const box = $('#logs');
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 10;
      show(box, out.lines.length ? out.lines.map((l) => html`<div class="${l.level}"><span class="muted">${new Date(l.at_ms).toLocaleTimeString()}</span> [${l.level}] ${l.text}</div>`) : html`<span class="muted">No lines at this level.</span>`);
      if (atEnd || $('#log-follow').checked) box.scrollTop = box.scrollHeight;
    } catch (e) { show($('#logs'), html`<span class="error">${e.message}</span>`); }
  };
  const loadTasks = async () => {
    const tasks = await api('GET', `/servers/${id}/tasks?limit=50`);
    show($('#task-rows'), tasks.length ? tasks.map(taskRow) : html`<tr><td colspan="6" class="empty">No tasks yet.</td></tr>`);
  };
  const task = async (operation, request, label) => {
    const t = await api('POST', `/servers/${id}/tasks`, { operation, request });
    toast(`${label}: queued`);
    await loadTasks();
    await waitTask(t, label);
    await loadTasks();
  };
  actions.core = (el) => busy(el, () => task(el.dataset.op, {}, `${el.textContent} core`));
  actions.geo = (el) => busy(el, () => task('geo.update', { files: [] }, 'Geo files update'));
  actions.logs = loadLogs;
  $('#log-level').addEventListener('change', loadLogs);
  $('#log-count').addEventListener('change', loadLogs);
  $('#install').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const version = form.version.value.trim();
    clearErrors(form);
    if (!/^v?\d+(\.\d+)+$/.test(version)) { fieldErrors(form, { fields: [{ field: 'version', message: 'a release version such as 25.3.6' }] }); return; }
    await busy(form.querySelector('button'), () => task('core.install', { version }, `Install core ${version}`)).catch(failed);
  });
  actions['server-enroll'] = () => showEnrollment(server);
  actions.revoke = async () => {
    if (!(await confirmDialog(`Revoke ${server.name}?`, 'The agent is cut off at once and needs a new enrollment command to come back.', 'Revoke'))) return;
    const r = await api('POST', `/servers/${id}/revoke`);
    toast(`Revoked ${r.certificates_revoked} certificate(s)${r.disconnected ? ', agent disconnected' : ''}`);
  };
  actions.remove = async () => {
    if (!(await confirmDialog(`Remove ${server.name}?`, 'The server, its inbounds and its task history are deleted. Clients attached elsewhere stay.', 'Remove'))) return;
    await api('DELETE', `/servers/${id}`);
    leaving = true;
    location.href = `${BASE}/panel/servers`;
  };
  api('GET', `/servers/${id}`).then((s) => { loadInfo(s); loadSys(); loadLogs(); }).catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
  live.on((snap) => {
    const s = snap.servers.find((x) => String(x.id) === id);
    if (!s) return;
    const was = server?.connected;
    loadInfo(s);
    if (was === false && s.connected) { loadSys(); loadLogs(); }
  });
  loadTraffic(); loadTasks().catch(failed);
  every(3000, loadSys);
  every(2000, () => { if ($('#log-follow').checked) loadLogs(); });
  every(10000, () => loadTasks().catch(() => {}));
  every(60000, loadTraffic);
}
function taskRow(t) {
  const result = t.error ? `${t.error.code}: ${t.error.message}` : t.response ? JSON.stringify(t.response).slice(0, 160) : '';
  const kind = t.status === 'running' ? 'running-task' : t.status;
  return html`<tr data-task="${t.operation}"><td>${when(t.created_at)}</td><td><code>${t.operation}</code></td><td>${badge(t.status, kind)}</td><td class="hide-phone">${t.created_by}</td><td class="hide-phone">${t.attempts}</td><td class="wrap hide-phone"><span class="mono">${result}</span></td></tr>`;
}

// ---- Inbounds ----
const PROTOCOLS = ['vless', 'vmess', 'trojan', 'shadowsocks', 'socks', 'mixed', 'http', 'tunnel', 'dokodemo-door', 'wireguard', 'hysteria', 'hysteria2'];
const WITH_TRANSPORT = ['vless', 'vmess', 'trojan', 'shadowsocks', 'hysteria', 'hysteria2'];
const NETWORKS = [['tcp', 'RAW (TCP)'], ['ws', 'WebSocket'], ['grpc', 'gRPC'], ['httpupgrade', 'HTTPUpgrade'], ['xhttp', 'XHTTP'], ['kcp', 'mKCP']];
const SS_METHODS = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-ietf-poly1305', 'xchacha20-ietf-poly1305', '2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm', '2022-blake3-chacha20-poly1305'];
function transportLabel(i) {
  const st = i.streamSettings || {};
  if (!WITH_TRANSPORT.includes(i.protocol)) return '—';
  return `${st.network || 'tcp'}${st.security && st.security !== 'none' ? ' + ' + st.security : ''}`;
}
async function serverPicker(list, selected, onChange) {
  const wrap = $('#server-pick');
  if (list.length <= 1) { wrap.hidden = true; return list[0]?.id; }
  wrap.hidden = false;
  show(wrap, html`<label for="server-select">Server</label><select id="server-select">${list.map((s) => html`<option value="${s.id}" ${raw(String(s.id) === String(selected) ? 'selected' : '')}>${s.name} (${s.status})</option>`)}</select>`);
  $('#server-select').addEventListener('change', (e) => onChange(e.target.value));
  return list.some((s) => String(s.id) === String(selected)) ? selected : list[0].id;
}
function pageInbounds() {
  const root = pageRoot();
  show(root, html`<div class="toolbar"><div id="server-pick" hidden></div><div class="grow"></div><a class="button primary" id="add-inbound" href="#">Add inbound</a></div>
    <div class="table-wrap"><table><thead><tr><th>Remark</th><th>Protocol</th><th>Port</th><th class="hide-phone">Transport</th><th>Clients</th><th>Traffic ↑/↓</th><th class="hide-phone">Quota</th><th class="hide-phone">Expiry</th><th>Enabled</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="inbound-rows"><tr><td colspan="10" class="empty">Loading…</td></tr></tbody></table></div>`);
  let serverId = new URLSearchParams(location.search).get('server');
  let lastJson = '';
  const load = async () => {
    if (!serverId) return;
    const list = await api('GET', `/servers/${serverId}/inbounds`);
    const json = JSON.stringify(list);
    if (json === lastJson) return;
    lastJson = json;
    show($('#inbound-rows'), list.length ? list.map((i) => html`<tr data-inbound="${i.remark || i.tag}">
      <td><a href="${BASE}/panel/inbound?id=${i.id}">${i.remark || i.tag}</a></td><td>${i.protocol}</td><td>${i.port}</td><td class="hide-phone">${transportLabel(i)}</td>
      <td><a href="${BASE}/panel/clients?inbound=${i.id}">${i.clients.length}</a></td><td>${bytes(i.up)} / ${bytes(i.down)}</td>
      <td class="hide-phone">${i.total ? `${bytes(i.up + i.down)} of ${bytes(i.total)}` : '∞'}</td><td class="hide-phone">${i.expiryTime ? when(i.expiryTime) : 'never'}</td>
      <td>${switchControl(i.enable, `Enable inbound ${i.remark || i.tag}`, `data-toggle-inbound="${i.id}"`)}</td>
      <td class="row"><a class="button small" href="${BASE}/panel/inbound?id=${i.id}">Edit</a><a class="button small" href="${BASE}/panel/inbound?clone=${i.id}">Clone</a>
      <button class="small" data-action="reset-inbound" data-id="${i.id}">Reset traffic</button><button class="small danger" data-action="delete-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">Delete</button></td></tr>`)
      : html`<tr><td colspan="10" class="empty">No inbounds on this server yet.</td></tr>`);
  };
  const setServer = (id) => {
    serverId = id;
    lastJson = '';
    $('#add-inbound').href = `${BASE}/panel/inbound?server=${id}`;
    history.replaceState(null, '', `?server=${id}`);
    load().catch(failed);
  };
  servers().then(async (list) => {
    if (!list.length) { show($('#inbound-rows'), html`<tr><td colspan="10" class="empty">Add a server first.</td></tr>`); $('#add-inbound').hidden = true; return; }
    setServer(await serverPicker(list, serverId, setServer));
  }).catch(failed);
  root.addEventListener('change', async (e) => {
    const id = e.target.dataset.toggleInbound;
    if (!id) return;
    try { await api('POST', `/inbounds/${id}/enable`, { enable: e.target.checked }); toast(`Inbound ${e.target.checked ? 'enabled' : 'disabled'}`); } catch (err) { e.target.checked = !e.target.checked; failed(err); }
  });
  actions['reset-inbound'] = async (el) => { await api('POST', `/inbounds/${el.dataset.id}/reset-traffic`); toast('Traffic reset'); lastJson = ''; await load(); };
  actions['delete-inbound'] = async (el) => {
    if (!(await confirmDialog(`Delete inbound ${el.dataset.name}?`, 'Its clients are detached from it; clients attached nowhere else are deleted too.', 'Delete'))) return;
    await api('DELETE', `/inbounds/${el.dataset.id}?deleteClients=true`);
    toast('Inbound deleted'); lastJson = ''; await load();
  };
  live.on(throttle(5000, () => load().catch(() => {})));
}

function getPath(obj, path) { return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj); }
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) { if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {}; o = o[k]; }
  o[keys[keys.length - 1]] = value;
}
// One form control bound to a path in the inbound document.
function ctl(doc, path, label, opts = {}) {
  const id = `f-${path.replace(/[^a-zA-Z0-9]/g, '-')}`;
  let v = getPath(doc, path);
  const kind = opts.kind || 'text';
  if (kind === 'csv' && Array.isArray(v)) v = v.join(', ');
  if (kind === 'lines' && Array.isArray(v)) v = v.join('\n');
  if (v === undefined || v === null) v = opts.default ?? '';
  const hint = opts.hint ? html`<div class="hint">${opts.hint}</div>` : '';
  const attrs = html`id="${id}" name="${path}" data-kind="${kind}" data-field="${opts.field || path}"`;
  if (kind === 'bool') return html`<div><label class="inline"><input type="checkbox" ${attrs} ${raw(v === true ? 'checked' : '')}> ${label}</label>${hint}</div>`;
  if (opts.choices) return html`<div><label for="${id}">${label}</label><select ${attrs}>${opts.choices.map((c) => { const [val, text] = Array.isArray(c) ? c : [c, c]; return html`<option value="${val}" ${raw(String(v) === String(val) ? 'selected' : '')}>${text}</option>`; })}</select>${hint}</div>`;
  if (kind === 'lines' || opts.area) return html`<div><label for="${id}">${label}</label><textarea ${attrs} rows="3">${v}</textarea>${hint}</div>`;
  const input = html`<input ${attrs} value="${v}" ${raw(kind === 'int' ? 'inputmode="numeric"' : '')} ${raw(opts.placeholder ? `placeholder="${esc(opts.placeholder)}"` : '')} autocomplete="off">`;
  const gen = opts.gen ? html`<button type="button" data-action="gen" data-gen="${opts.gen}" data-target="${id}" aria-label="Generate ${label}">Generate</button>` : '';
  return html`<div><label for="${id}">${label}</label>${gen ? html`<div class="input-group">${input}${gen}</div>` : input}${hint}</div>`;
}
function readControls(form, doc) {
  for (const el of form.querySelectorAll('[data-kind]')) {
    const path = el.name;
    if (!path || el.dataset.kind === 'skip') continue;
    let v;
    switch (el.dataset.kind) {
      case 'bool': v = el.checked; break;
      case 'int': v = el.value.trim() === '' ? 0 : Number(el.value); break;
      case 'csv': v = el.value.split(',').map((s) => s.trim()).filter(Boolean); break;
      case 'lines': v = el.value.split('\n').map((s) => s.trim()).filter(Boolean); break;
      default: v = el.value.trim();
    }
    setPath(doc, path, v);
  }
  return doc;
}
function protocolFields(doc) {
  const p = doc.protocol;
  switch (p) {
    case 'vless': return html`<p class="muted">VLESS clients (UUID and flow) are managed on the Clients page.</p>${ctl(doc, 'settings.decryption', 'Decryption', { choices: ['none'] })}`;
    case 'vmess': return html`<p class="muted">VMess clients (UUID) are managed on the Clients page.</p>`;
    case 'trojan': return html`<p class="muted">Trojan clients (password) are managed on the Clients page.</p>`;
    case 'shadowsocks': return html`<div class="form-grid">${ctl(doc, 'settings.method', 'Method', { choices: SS_METHODS, default: '2022-blake3-aes-256-gcm', field: 'settings' })}
      ${ctl(doc, 'settings.password', 'Server password / key', { gen: 'ss-key', hint: '2022 methods need a base64 key of the method\'s size', field: 'settings' })}
      ${ctl(doc, 'settings.network', 'Network', { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}</div>`;
    case 'socks': case 'mixed': return html`<div class="form-grid">${ctl(doc, 'settings.auth', 'Authentication', { choices: [['noauth', 'none'], ['password', 'password']], default: 'noauth' })}
      ${ctl(doc, 'settings.udp', 'UDP', { kind: 'bool' })}${ctl(doc, 'settings.ip', 'UDP address', { placeholder: '127.0.0.1' })}</div>
      ${accountsField(doc)}`;
    case 'http': return accountsField(doc);
    case 'tunnel': case 'dokodemo-door': return html`<div class="form-grid">${ctl(doc, 'settings.address', 'Target address', { placeholder: '1.1.1.1' })}${ctl(doc, 'settings.port', 'Target port', { kind: 'int' })}
      ${ctl(doc, 'settings.network', 'Network', { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}${ctl(doc, 'settings.followRedirect', 'Follow redirect', { kind: 'bool' })}</div>`;
    case 'wireguard': return html`<div class="form-grid">${ctl(doc, 'settings.secretKey', 'Private key', { gen: 'wg-key', field: 'settings' })}${ctl(doc, 'settings.mtu', 'MTU', { kind: 'int', default: 1420 })}</div>
      <div><label for="f-peers">Peers</label><textarea id="f-peers" name="peers" data-kind="skip" data-field="settings" rows="3" placeholder="publicKey 10.0.0.2/32">${(doc.settings.peers || []).map((pe) => `${pe.publicKey || ''} ${(pe.allowedIPs || []).join(',')}`).join('\n')}</textarea><div class="hint">One peer a line: public key, then allowed IPs separated by commas</div></div>`;
    case 'hysteria': case 'hysteria2': return html`<p class="muted">Hysteria 2 runs over QUIC with TLS: choose TLS below and give a certificate. Clients use their auth secret.</p>`;
    default: return '';
  }
}
function accountsField(doc) {
  const lines = (doc.settings.accounts || []).map((a) => `${a.user}:${a.pass}`).join('\n');
  return html`<div><label for="f-accounts">Accounts</label><textarea id="f-accounts" name="accounts" data-kind="skip" data-field="settings" rows="3" placeholder="user:password">${lines}</textarea><div class="hint">One account a line as user:password</div></div>`;
}
function transportFields(doc) {
  if (!WITH_TRANSPORT.includes(doc.protocol)) return html`<p class="muted">${doc.protocol} takes no transport or security settings.</p>`;
  const hysteria = doc.protocol.startsWith('hysteria');
  const st = doc.streamSettings;
  const net = hysteria ? 'hysteria' : (st.network || 'tcp');
  const sec = st.security || 'none';
  let netFields = '';
  if (net === 'ws') netFields = html`${ctl(doc, 'streamSettings.wsSettings.path', 'Path', { default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.wsSettings.host', 'Host', { field: 'streamSettings' })}`;
  if (net === 'httpupgrade') netFields = html`${ctl(doc, 'streamSettings.httpupgradeSettings.path', 'Path', { default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.httpupgradeSettings.host', 'Host', { field: 'streamSettings' })}`;
  if (net === 'xhttp') netFields = html`${ctl(doc, 'streamSettings.xhttpSettings.path', 'Path', { default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.xhttpSettings.host', 'Host', { field: 'streamSettings' })}${ctl(doc, 'streamSettings.xhttpSettings.mode', 'Mode', { choices: ['auto', 'packet-up', 'stream-up', 'stream-one'], default: 'auto' })}`;
  if (net === 'grpc') netFields = html`${ctl(doc, 'streamSettings.grpcSettings.serviceName', 'Service name', { field: 'streamSettings' })}${ctl(doc, 'streamSettings.grpcSettings.multiMode', 'Multi mode', { kind: 'bool' })}`;
  if (net === 'kcp') netFields = html`${ctl(doc, 'streamSettings.kcpSettings.header.type', 'Header', { choices: ['none', 'srtp', 'utp', 'wechat-video', 'dtls', 'wireguard'], default: 'none' })}${ctl(doc, 'streamSettings.kcpSettings.seed', 'Seed', { field: 'streamSettings' })}`;
  if (net === 'tcp') netFields = ctl(doc, 'streamSettings.tcpSettings.acceptProxyProtocol', 'Accept PROXY protocol', { kind: 'bool' });
  const tls = st.tlsSettings || {};
  const cert = (tls.certificates || [])[0] || {};
  const join = (v) => (Array.isArray(v) ? v.join('\n') : v || '');
  let secFields = '';
  if (sec === 'tls') secFields = html`<div class="form-grid">${ctl(doc, 'streamSettings.tlsSettings.serverName', 'Server name (SNI)', { field: 'streamSettings' })}${ctl(doc, 'streamSettings.tlsSettings.alpn', 'ALPN', { kind: 'csv', placeholder: 'h2, http/1.1' })}
      <div><label for="f-cert-file">Certificate file</label><input id="f-cert-file" name="certFile" data-kind="skip" data-field="streamSettings" value="${cert.certificateFile || ''}" placeholder="/etc/ssl/fullchain.pem"></div>
      <div><label for="f-key-file">Key file</label><input id="f-key-file" name="keyFile" data-kind="skip" data-field="streamSettings" value="${cert.keyFile || ''}" placeholder="/etc/ssl/privkey.pem"></div></div>
      <details><summary>Or paste the certificate and key</summary><div class="form-grid">
      <div><label for="f-cert">Certificate (PEM)</label><textarea id="f-cert" name="cert" data-kind="skip" rows="4">${join(cert.certificate)}</textarea></div>
      <div><label for="f-key">Key (PEM)</label><textarea id="f-key" name="key" data-kind="skip" rows="4">${join(cert.key)}</textarea></div></div></details>`;
  if (sec === 'reality') secFields = html`<div class="form-grid">${ctl(doc, 'streamSettings.realitySettings.target', 'Target (borrowed site)', { placeholder: 'www.example.com:443', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.realitySettings.serverNames', 'Server names', { kind: 'csv', placeholder: 'www.example.com', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.realitySettings.privateKey', 'Private key', { gen: 'x25519', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.publicKey', 'Public key', { hint: 'Filled with the private key; goes into share links' })}
      ${ctl(doc, 'streamSettings.realitySettings.shortIds', 'Short ids', { kind: 'csv', gen: 'short-ids' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.fingerprint', 'Fingerprint', { choices: ['chrome', 'firefox', 'safari', 'ios', 'edge', 'random'], default: 'chrome' })}</div>`;
  return html`<div class="form-grid">
      ${hysteria ? html`<div><label>Transport</label><p>QUIC (Hysteria)</p></div>` : ctl(doc, 'streamSettings.network', 'Transport', { choices: NETWORKS, default: 'tcp', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.security', 'Security', { choices: hysteria ? [['tls', 'TLS']] : [['none', 'none'], ['tls', 'TLS'], ['reality', 'REALITY']], default: hysteria ? 'tls' : 'none', field: 'streamSettings' })}
      ${netFields}</div>${secFields}`;
}

const SNIFF = ['http', 'tls', 'quic', 'fakedns'];
function pageInbound() {
  const q = new URLSearchParams(location.search);
  const id = q.get('id'), cloneId = q.get('clone');
  const root = pageRoot();
  Promise.all([servers(), id || cloneId ? api('GET', `/inbounds/${id || cloneId}`) : null]).then(([list, orig]) => {
    if (!list.length) { show(root, html`<p>Add a server first: <a href="${BASE}/panel/servers">Servers</a></p>`); return; }
    const editing = Boolean(id);
    $('#title').textContent = editing ? `Edit inbound ${orig.remark || orig.tag}` : cloneId ? `Clone inbound ${orig.remark || orig.tag}` : 'Add inbound';
    const base = orig || { protocol: 'vless', enable: true, listen: '', port: 10000 + Math.floor(Math.random() * 50000), remark: '', total: 0, expiryTime: 0, trafficReset: 'never', tag: '', settings: { decryption: 'none' }, streamSettings: { network: 'ws', security: 'none', wsSettings: { path: '/' } }, sniffing: { enabled: true, destOverride: ['http', 'tls'] }, serverId: Number(q.get('server')) || list[0].id };
    const settings = { ...(base.settings || {}) };
    delete settings.clients;
    const doc = { protocol: base.protocol, settings, streamSettings: structuredClone(base.streamSettings || {}), sniffing: structuredClone(base.sniffing || {}) };
    const serverId = base.serverId;
    const sniffOn = new Set(doc.sniffing.destOverride || []);
    show(root, html`<form id="inbound-form" novalidate>
      <fieldset><legend>Inbound</legend><div class="form-grid">
        ${editing || list.length === 1 ? html`<input type="hidden" name="serverId" value="${serverId}">` : html`<div><label for="f-server">Server</label><select id="f-server" name="serverId">${list.map((s) => html`<option value="${s.id}" ${raw(s.id === serverId ? 'selected' : '')}>${s.name}</option>`)}</select></div>`}
        <div><label for="f-remark">Remark</label><input id="f-remark" name="remark" data-field="remark" value="${cloneId ? `${base.remark} copy` : base.remark}"></div>
        <div><label for="f-protocol">Protocol</label><select id="f-protocol" name="protocol" data-field="protocol">${PROTOCOLS.map((p) => html`<option ${raw(p === doc.protocol ? 'selected' : '')}>${p}</option>`)}</select></div>
        <div><label for="f-listen">Listen address</label><input id="f-listen" name="listen" data-field="listen" value="${base.listen}" placeholder="all addresses"></div>
        <div><label for="f-port">Port</label><div class="input-group"><input id="f-port" name="port" data-field="port" inputmode="numeric" value="${cloneId ? 10000 + Math.floor(Math.random() * 50000) : base.port}"><button type="button" data-action="gen" data-gen="port" data-target="f-port" aria-label="Random port">Random</button></div></div>
        <div><label for="f-total">Quota (GB, 0 = unlimited)</label><input id="f-total" name="total" data-field="total" inputmode="decimal" value="${base.total ? +(base.total / GB).toFixed(3) : 0}"></div>
        <div><label for="f-expiry">Expires</label><input id="f-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(base.expiryTime)}"><div class="hint">Empty: never</div></div>
        <div><label for="f-reset">Traffic reset</label><select id="f-reset" name="trafficReset" data-field="trafficReset">${['never', 'hourly', 'daily', 'weekly', 'monthly'].map((r) => html`<option ${raw(r === base.trafficReset ? 'selected' : '')}>${r}</option>`)}</select></div>
        <div><label for="f-tag">Tag</label><input id="f-tag" name="tag" data-field="tag" value="${editing ? base.tag : ''}" placeholder="inbound-PORT"></div>
        <div><label class="inline"><input type="checkbox" name="enable" ${raw(base.enable ? 'checked' : '')}> Enabled</label></div>
      </div></fieldset>
      <fieldset><legend>Protocol settings</legend><div id="proto"></div></fieldset>
      <fieldset><legend>Transport and security</legend><div id="stream"></div></fieldset>
      <fieldset><legend>Sniffing</legend><div class="row"><label class="inline"><input type="checkbox" name="sniffEnabled" ${raw(doc.sniffing.enabled ? 'checked' : '')}> Enabled</label>
        ${SNIFF.map((s) => html`<label class="inline"><input type="checkbox" name="sniffDest" data-multi="1" value="${s}" ${raw(sniffOn.has(s) ? 'checked' : '')}> ${s}</label>`)}</div></fieldset>
      <div class="alert error form-error" role="alert" hidden></div>
      <div class="actions"><button type="submit" class="primary">${editing ? 'Save' : 'Create inbound'}</button><a class="button" href="${BASE}/panel/inbounds?server=${serverId}">Cancel</a></div></form>`);
    const form = $('#inbound-form');
    const draw = () => { show($('#proto'), protocolFields(doc)); show($('#stream'), transportFields(doc)); };
    draw();
    form.addEventListener('change', (e) => {
      if (['protocol', 'streamSettings.network', 'streamSettings.security'].includes(e.target.name)) {
        collect(form, doc);
        doc.protocol = form.protocol.value;
        if (doc.protocol === 'vless' && !doc.settings.decryption) doc.settings.decryption = 'none';
        draw();
      }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      collect(form, doc);
      const v = formValues(form);
      const body = {
        remark: v.remark.trim(), enable: v.enable, listen: v.listen.trim(), port: Number(v.port), protocol: v.protocol,
        settings: doc.settings, streamSettings: WITH_TRANSPORT.includes(v.protocol) ? doc.streamSettings : {},
        sniffing: { ...doc.sniffing, enabled: v.sniffEnabled, destOverride: v.sniffDest || [] },
        tag: v.tag.trim(), total: Math.round(Number(v.total || 0) * GB), expiryTime: fromDateInput(v.expiryTime), trafficReset: v.trafficReset,
      };
      const local = [];
      if (!Number.isInteger(body.port) || body.port < 1 || body.port > 65535) local.push({ field: 'port', message: 'must be a whole number between 1 and 65535' });
      if (!(Number(v.total) >= 0)) local.push({ field: 'total', message: 'must be a number of gigabytes, 0 for unlimited' });
      if (local.length) { fieldErrors(form, { fields: local }); return; }
      try {
        const saved = await busy(form.querySelector('[type="submit"]'), () => (editing ? api('PUT', `/inbounds/${id}`, body) : api('POST', `/servers/${v.serverId}/inbounds`, body)));
        toast(`Inbound ${saved.remark || saved.tag} saved`);
        leaving = true;
        location.href = `${BASE}/panel/inbounds?server=${saved.serverId}`;
      } catch (err) { fieldErrors(form, err, { 'settings.*': 'settings', 'streamSettings.*': 'streamSettings' }); }
    });
  }).catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
}
// Reads the protocol and transport controls into the inbound document.
function collect(form, doc) {
  readControls($('#proto', form), doc);
  readControls($('#stream', form), doc);
  if (doc.protocol.startsWith('hysteria')) {
    doc.settings.version = 2;
    doc.streamSettings.network = 'hysteria';
    doc.streamSettings.security = 'tls';
    doc.streamSettings.hysteriaSettings = { version: 2, ...(doc.streamSettings.hysteriaSettings || {}) };
  }
  const acc = form.querySelector('[name="accounts"]');
  if (acc) doc.settings.accounts = acc.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const i = l.indexOf(':'); return { user: i < 0 ? l : l.slice(0, i), pass: i < 0 ? '' : l.slice(i + 1) }; });
  if (acc && ['socks', 'mixed'].includes(doc.protocol) && doc.settings.accounts.length && doc.settings.auth === 'noauth') doc.settings.auth = 'password';
  const peers = form.querySelector('[name="peers"]');
  if (peers) doc.settings.peers = peers.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const [publicKey, ips = ''] = l.split(/\s+/); return { publicKey, allowedIPs: ips.split(',').filter(Boolean) }; });
  const certFile = form.querySelector('[name="certFile"]');
  if (certFile) {
    const lines = (name) => (form.querySelector(`[name="${name}"]`)?.value || '').split('\n').map((l) => l.trimEnd()).filter(Boolean);
    const cert = certFile.value.trim() || form.keyFile.value.trim()
      ? { certificateFile: certFile.value.trim(), keyFile: form.keyFile.value.trim() }
      : { certificate: lines('cert'), key: lines('key') };
    doc.streamSettings.tlsSettings = { ...(doc.streamSettings.tlsSettings || {}), certificates: [cert] };
  }
  return doc;
}
function b64std(urlsafe) { let s = urlsafe.replace(/-/g, '+').replace(/_/g, '/'); while (s.length % 4) s += '='; return s; }
actions.gen = async (el) => {
  const target = document.getElementById(el.dataset.target);
  const form = el.closest('form');
  switch (el.dataset.gen) {
    case 'port': target.value = 10000 + Math.floor(Math.random() * 50000); break;
    case 'uuid': target.value = await api('GET', '/generate/uuid'); break;
    case 'password': target.value = await api('GET', '/generate/password?length=16'); break;
    case 'short-ids': target.value = (await api('GET', '/generate/short-ids?count=4')).join(', '); break;
    case 'x25519': {
      const pair = await api('GET', '/generate/x25519');
      target.value = pair.privateKey ?? pair.private_key;
      const pub = form.querySelector('[name="streamSettings.realitySettings.settings.publicKey"]');
      if (pub) pub.value = pair.publicKey ?? pair.public_key;
      break;
    }
    case 'wg-key': { const pair = await api('GET', '/generate/x25519'); target.value = b64std(pair.privateKey ?? pair.private_key); break; }
    case 'ss-key': {
      const method = form.querySelector('[name="settings.method"]')?.value || '';
      target.value = method.startsWith('2022-') ? await api('GET', `/generate/ss2022-key?method=${enc(method)}`) : await api('GET', '/generate/password?length=24');
      break;
    }
    default: return;
  }
  target.dispatchEvent(new Event('input', { bubbles: true }));
};

// ---- Clients ----
function clientState(c, onlineSet) {
  const now = Date.now();
  const out = [];
  if (onlineSet?.has(c.email) || (c.lastOnline && now - c.lastOnline < 180000)) out.push(badge('online'));
  if (!c.enable) out.push(badge('disabled', 'offline'));
  if ((c.totalGB > 0 && c.used >= c.totalGB) || (c.expiryTime > 0 && c.expiryTime <= now)) out.push(badge('depleted'));
  else if (c.expiryTime > now && c.expiryTime - now < 3 * 86400000) out.push(badge('expiring soon', 'expiring'));
  return out;
}
function clientForm(c, inbounds, serverList) {
  const editing = Boolean(c);
  c = c || { email: '', uuid: '', totalGB: 0, expiryTime: 0, limitIp: 0, flow: '', enable: true, comment: '', tgId: 0, reset: 0, subId: '', inboundIds: [] };
  const attached = new Set(c.inboundIds);
  const byServer = serverList.map((s) => ({ s, list: inbounds.filter((i) => i.serverId === s.id) })).filter((g) => g.list.length);
  return html`<form id="client-form" class="card section" novalidate data-editing="${editing ? c.email : ''}">
    <h2>${editing ? `Edit client ${c.email}` : 'Add client'}</h2>
    <div class="form-grid">
      <div><label for="c-email">Email (name)</label><input id="c-email" name="email" data-field="email" value="${c.email}" required autocomplete="off"></div>
      <div><label for="c-uuid">UUID (VMess/VLESS)</label><div class="input-group"><input id="c-uuid" name="id" data-field="id" value="${c.uuid}" placeholder="generated when empty"><button type="button" data-action="gen" data-gen="uuid" data-target="c-uuid">Generate</button></div></div>
      <div><label for="c-password">Password (Trojan/Shadowsocks)</label><div class="input-group"><input id="c-password" name="password" data-field="password" value="${c.password || ''}" placeholder="generated when empty"><button type="button" data-action="gen" data-gen="password" data-target="c-password">Generate</button></div></div>
      <div><label for="c-total">Quota (GB, 0 = unlimited)</label><input id="c-total" name="totalGB" data-field="totalGB" inputmode="decimal" value="${c.totalGB ? +(c.totalGB / GB).toFixed(3) : 0}"></div>
      <div><label for="c-expiry">Expires</label><input id="c-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(c.expiryTime)}"><div class="hint">Empty: never</div></div>
      <div><label for="c-limit">IP limit (0 = none)</label><input id="c-limit" name="limitIp" data-field="limitIp" inputmode="numeric" value="${c.limitIp}"></div>
      <div><label for="c-flow">Flow (VLESS)</label><select id="c-flow" name="flow" data-field="flow">${['', 'xtls-rprx-vision', 'xtls-rprx-vision-udp443'].map((f) => html`<option value="${f}" ${raw(f === c.flow ? 'selected' : '')}>${f || 'none'}</option>`)}</select></div>
      <div><label for="c-reset">Auto-renew (days, 0 = off)</label><input id="c-reset" name="reset" data-field="reset" inputmode="numeric" value="${c.reset}"></div>
      <div><label for="c-sub">Subscription id</label><input id="c-sub" name="subId" data-field="subId" value="${c.subId}" placeholder="generated when empty"></div>
      <div><label for="c-tg">Telegram user id</label><input id="c-tg" name="tgId" data-field="tgId" inputmode="numeric" value="${c.tgId || ''}"></div>
      <div><label for="c-comment">Comment</label><input id="c-comment" name="comment" data-field="comment" value="${c.comment}"></div>
      <div><label class="inline"><input type="checkbox" name="enable" ${raw(c.enable ? 'checked' : '')}> Enabled</label></div>
    </div>
    <fieldset data-field="inboundIds"><legend>Inbounds</legend>${byServer.length ? byServer.map((g) => html`<div><strong>${g.s.name}</strong><div class="row">${g.list.map((i) => html`<label class="inline"><input type="checkbox" name="inboundIds" data-multi="1" value="${i.id}" ${raw(attached.has(i.id) ? 'checked' : '')}> ${i.remark || i.tag} (${i.protocol}:${i.port})</label>`)}</div></div>`) : html`<p class="muted">No inbounds yet.</p>`}</fieldset>
    <div class="alert error form-error" role="alert" hidden></div>
    <div class="actions"><button type="submit" class="primary">${editing ? 'Save' : 'Add client'}</button><button type="button" data-action="close-form">Cancel</button></div></form>`;
}
async function submitClient(form, original) {
  clearErrors(form);
  const v = formValues(form);
  const ids = (v.inboundIds || []).map(Number);
  const body = {
    email: v.email.trim(), totalGB: Math.round(Number(v.totalGB || 0) * GB), expiryTime: fromDateInput(v.expiryTime), limitIp: Number(v.limitIp || 0),
    flow: v.flow, enable: v.enable, comment: v.comment, reset: Number(v.reset || 0), tgId: v.tgId.trim() || null,
  };
  if (v.id.trim()) body.id = v.id.trim();
  if (v.password.trim()) body.password = v.password.trim();
  if (v.subId.trim()) body.subId = v.subId.trim();
  const local = [];
  for (const [f, label] of [['totalGB', 'a number of gigabytes'], ['limitIp', 'a whole number'], ['reset', 'a number of days']]) if (!(Number(v[f] || 0) >= 0)) local.push({ field: f, message: `must be ${label}, 0 or more` });
  if (!body.email) local.push({ field: 'email', message: 'is required' });
  if (local.length) { fieldErrors(form, { fields: local }); return null; }
  const submit = form.querySelector('[type="submit"]');
  if (!original) return busy(submit, () => api('POST', '/clients', { ...body, inboundIds: ids }));
  return busy(submit, async () => {
    const saved = await api('PUT', `/clients/${enc(original.email)}`, body);
    const add = ids.filter((i) => !original.inboundIds.includes(i));
    const remove = original.inboundIds.filter((i) => !ids.includes(i));
    if (add.length) await api('POST', `/clients/${enc(saved.email)}/attach`, { inboundIds: add });
    if (remove.length) await api('POST', `/clients/${enc(saved.email)}/detach`, { inboundIds: remove });
    return saved;
  });
}
function pageClients() {
  const q = new URLSearchParams(location.search);
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div class="grow"><label for="search">Search</label><input id="search" type="search" placeholder="email, comment or subscription id" value="${q.get('search') || ''}"></div>
      <div><label for="filter">Show</label><select id="filter">${[['', 'all'], ['online', 'online'], ['depleted', 'depleted'], ['expiring', 'expiring soon'], ['disabled', 'disabled'], ['enabled', 'enabled']].map(([v, t]) => html`<option value="${v}" ${raw(v === (q.get('filter') || '') ? 'selected' : '')}>${t}</option>`)}</select></div>
      <div><label for="inbound-filter">Inbound</label><select id="inbound-filter"><option value="">all</option></select></div>
      <button class="primary" data-action="add-client">Add client</button></div>
    <div id="client-editor"></div>
    <div class="toolbar" id="bulk" aria-label="Bulk actions"><span id="selected-count" class="muted">0 selected</span>
      <button class="small" data-action="bulk" data-op="enable">Enable</button><button class="small" data-action="bulk" data-op="disable">Disable</button>
      <button class="small" data-action="bulk" data-op="reset">Reset traffic</button><button class="small danger" data-action="bulk" data-op="delete">Delete</button>
      <button class="small danger" data-action="delete-depleted">Delete all depleted</button></div>
    <div class="table-wrap"><table><thead><tr><th><input type="checkbox" id="select-all" aria-label="Select all clients"></th><th>Email</th><th>Status</th><th>Inbounds</th><th>Used</th><th class="hide-phone">Expiry</th><th class="hide-phone">Last online</th><th>Enabled</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="client-rows"><tr><td colspan="9" class="empty">Loading…</td></tr></tbody></table></div>`);
  let serverList = [], inbounds = [], clients = [], online = new Set(), lastJson = '';
  const selected = new Set();
  const inboundName = (id) => { const i = inbounds.find((x) => x.id === id); return i ? `${i.remark || i.tag}${serverList.length > 1 ? ' @ ' + i.serverName : ''}` : `#${id}`; };
  const load = async () => {
    const params = new URLSearchParams();
    if ($('#search').value.trim()) params.set('search', $('#search').value.trim());
    if ($('#filter').value) params.set('filter', $('#filter').value);
    if ($('#inbound-filter').value) params.set('inbound', $('#inbound-filter').value);
    clients = await api('GET', `/clients?${params}`);
    const json = JSON.stringify([clients, [...online]]);
    if (json === lastJson) return;
    lastJson = json;
    show($('#client-rows'), clients.length ? clients.map((c) => html`<tr data-client="${c.email}">
      <td><input type="checkbox" data-select="${c.email}" ${raw(selected.has(c.email) ? 'checked' : '')} aria-label="Select ${c.email}"></td>
      <td><a href="${BASE}/panel/client?email=${enc(c.email)}">${c.email}</a>${c.comment ? html`<div class="muted">${c.comment}</div>` : ''}</td>
      <td>${clientState(c, online)}</td><td class="wrap">${c.inboundIds.map(inboundName).join(', ') || '—'}</td>
      <td data-used="${c.used}">${bytes(c.used)}${c.totalGB ? ` of ${bytes(c.totalGB)}` : ''}</td><td class="hide-phone">${c.expiryTime ? when(c.expiryTime) : 'never'}</td>
      <td class="hide-phone">${ago(c.lastOnline)}</td><td>${switchControl(c.enable, `Enable client ${c.email}`, `data-toggle-client="${esc(c.email)}"`)}</td>
      <td class="row"><button class="small" data-action="edit-client" data-email="${c.email}">Edit</button><button class="small" data-action="reset-client" data-email="${c.email}">Reset</button><button class="small danger" data-action="delete-client" data-email="${c.email}">Delete</button></td></tr>`)
      : html`<tr><td colspan="9" class="empty">No clients match.</td></tr>`);
    $('#selected-count').textContent = `${selected.size} selected`;
  };
  const reload = () => { lastJson = ''; return load(); };
  const openForm = (c) => {
    show($('#client-editor'), clientForm(c, inbounds, serverList));
    const form = $('#client-form');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const saved = await submitClient(form, c);
        if (!saved) return;
        toast(`Client ${saved.email} saved`);
        show($('#client-editor'), '');
        await reload();
      } catch (err) { fieldErrors(form, err); }
    });
    $('#c-email').focus();
  };
  servers().then(async (list) => {
    serverList = list;
    inbounds = await allInbounds(list);
    const pre = q.get('inbound');
    show($('#inbound-filter'), [html`<option value="">all</option>`, ...inbounds.map((i) => html`<option value="${i.id}" ${raw(String(i.id) === pre ? 'selected' : '')}>${inboundName(i.id)}</option>`)]);
    await reload();
  }).catch(failed);
  let timer;
  $('#search').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => reload().catch(failed), 250); });
  $('#filter').addEventListener('change', () => reload().catch(failed));
  $('#inbound-filter').addEventListener('change', () => reload().catch(failed));
  root.addEventListener('change', async (e) => {
    const t = e.target;
    if (t.id === 'select-all') { clients.forEach((c) => (t.checked ? selected.add(c.email) : selected.delete(c.email))); lastJson = ''; await load(); return; }
    if (t.dataset.select) { t.checked ? selected.add(t.dataset.select) : selected.delete(t.dataset.select); $('#selected-count').textContent = `${selected.size} selected`; return; }
    if (t.dataset.toggleClient !== undefined) {
      try { await api('PUT', `/clients/${enc(t.dataset.toggleClient)}`, { enable: t.checked }); toast(`Client ${t.checked ? 'enabled' : 'disabled'}`); await reload(); } catch (err) { t.checked = !t.checked; failed(err); }
    }
  });
  actions['add-client'] = () => openForm(null);
  actions['close-form'] = () => show($('#client-editor'), '');
  actions['edit-client'] = (el) => openForm(clients.find((c) => c.email === el.dataset.email));
  actions['reset-client'] = async (el) => { await api('POST', `/clients/${enc(el.dataset.email)}/reset-traffic`); toast('Traffic reset'); await reload(); };
  actions['delete-client'] = async (el) => {
    if (!(await confirmDialog(`Delete client ${el.dataset.email}?`, 'It is removed from every server it is attached to.', 'Delete'))) return;
    await api('DELETE', `/clients/${enc(el.dataset.email)}`); selected.delete(el.dataset.email); toast('Client deleted'); await reload();
  };
  actions.bulk = async (el) => {
    const emails = [...selected];
    if (!emails.length) { toast('Select clients first', 'error'); return; }
    const op = el.dataset.op;
    if (op === 'delete' && !(await confirmDialog(`Delete ${emails.length} clients?`, 'They are removed from every server.', 'Delete'))) return;
    let done = 0;
    for (const email of emails) {
      try {
        if (op === 'enable' || op === 'disable') await api('PUT', `/clients/${enc(email)}`, { enable: op === 'enable' });
        if (op === 'reset') await api('POST', `/clients/${enc(email)}/reset-traffic`);
        if (op === 'delete') { await api('DELETE', `/clients/${enc(email)}`); selected.delete(email); }
        done++;
      } catch (e) { toast(`${email}: ${e.message}`, 'error'); }
    }
    toast(`${op}: ${done} of ${emails.length} clients`);
    await reload();
  };
  actions['delete-depleted'] = async () => {
    if (!(await confirmDialog('Delete all depleted clients?', 'Clients over quota or expired (without auto-renew) are deleted everywhere.', 'Delete'))) return;
    const r = await api('POST', '/clients/delete-depleted');
    toast(`Deleted ${Array.isArray(r) ? r.length : (r?.deleted ?? 'the')} depleted clients`);
    await reload();
  };
  live.on((snap) => { online = new Set(snap.online); });
  live.on(throttle(3000, () => { if (!$('#client-form')) load().catch(() => {}); }));
}

// ---- One client ----
function qrImage(text, label) {
  return html`<img class="qr" alt="QR code: ${label}" src="${API}/qr?text=${enc(text)}" loading="lazy">`;
}
function pageClient() {
  const email = new URLSearchParams(location.search).get('email');
  const root = pageRoot();
  if (!email) { show(root, html`<p>No client given. <a href="${BASE}/panel/clients">All clients</a></p>`); return; }
  show(root, html`<div class="grid">
      <section class="card" aria-labelledby="ci-title"><h2 id="ci-title">Client</h2><div id="info">Loading…</div>
        <div class="actions"><button data-action="client-toggle" id="toggle">…</button><button data-action="client-reset">Reset traffic</button><a class="button" href="${BASE}/panel/clients?search=${enc(email)}">Edit in list</a><button class="danger" data-action="client-delete">Delete</button></div></section>
      <section class="card" aria-labelledby="use-title"><h2 id="use-title">Usage per server</h2><div id="usage">Loading…</div><div id="client-chart"></div></section>
      <section class="card" aria-labelledby="ip-title"><h2 id="ip-title">Addresses</h2><div id="ips">Loading…</div></section>
    </div>
    <section class="card section" aria-labelledby="links-title"><h2 id="links-title">Links and subscription</h2><div id="links">Loading…</div></section>`);
  let client = null;
  const load = async () => {
    const [c, serverList] = await Promise.all([api('GET', `/clients/${enc(email)}`), servers()]);
    client = c;
    $('#title').textContent = `Client ${c.email}`;
    $('#toggle').textContent = c.enable ? 'Disable' : 'Enable';
    show($('#info'), html`<p>${clientState(c, new Set(live.last?.online || []))}${c.enable ? badge('enabled') : ''}</p><dl class="kv">
      <dt>Used</dt><dd id="client-used" data-used="${c.used}">${bytes(c.used)} (↑ ${bytes(c.up)} ↓ ${bytes(c.down)})</dd><dt>Quota</dt><dd>${c.totalGB ? bytes(c.totalGB) : 'unlimited'}</dd>
      <dt>All time</dt><dd>${bytes(c.allTime)}</dd><dt>Expires</dt><dd>${c.expiryTime ? when(c.expiryTime) : 'never'}</dd>
      <dt>Last online</dt><dd>${c.lastOnline ? `${when(c.lastOnline)} (${ago(c.lastOnline)})` : 'never'}</dd><dt>IP limit</dt><dd>${c.limitIp || 'none'}</dd>
      <dt>UUID</dt><dd class="mono">${c.uuid}</dd><dt>Password</dt><dd class="mono">${c.password}</dd><dt>Subscription id</dt><dd class="mono">${c.subId}</dd>
      <dt>Auto-renew</dt><dd>${c.reset ? `${c.reset} days` : 'off'}</dd><dt>Comment</dt><dd>${c.comment || '—'}</dd></dl>`);
    const perServer = await Promise.all(serverList.map(async (s) => {
      try { const t = await api('GET', `/servers/${s.id}/traffic`); const row = t.clients.find((x) => x.name === c.email); return row ? { s, row } : null; } catch { return null; }
    }));
    const rows = perServer.filter(Boolean);
    show($('#usage'), rows.length ? html`<table><thead><tr><th>Server</th><th>Up</th><th>Down</th></tr></thead><tbody>${rows.map(({ s, row }) => html`<tr><td>${s.name}</td><td>${bytes(row.up)}</td><td>${bytes(row.down)}</td></tr>`)}</tbody></table>` : html`<p class="muted">No traffic recorded yet.</p>`);
    try { show($('#client-chart'), chart(await api('GET', `/clients/${enc(email)}/history?hours=24`))); } catch { /* optional */ }
  };
  const loadIps = async () => {
    try {
      const ips = await api('GET', `/clients/${enc(email)}/ips`);
      show($('#ips'), ips.length ? html`<table><thead><tr><th>Address</th><th>Last seen</th><th></th></tr></thead><tbody>${ips.map((r) => html`<tr><td class="mono">${r.ip}</td><td>${ago(r.last_seen ?? r.lastSeen)}</td><td>${r.refused ? badge('refused', 'error') : ''}</td></tr>`)}</tbody></table><div class="actions"><button class="small" data-action="clear-ips">Forget addresses</button></div>` : html`<p class="muted">No addresses recorded.</p>`);
    } catch (e) { show($('#ips'), html`<p class="muted">${e.message}</p>`); }
  };
  const loadLinks = async () => {
    try {
      const l = await api('GET', `/clients/${enc(email)}/links`);
      const subs = Object.entries(l.subscription || {}).filter(([, url]) => url);
      show($('#links'), html`
        <h3>Subscription</h3>${subs.length ? html`<ul class="links">${subs.map(([kind, url]) => html`<li><strong>${kind}</strong> <button class="small" data-action="copy" data-copy="${url}" data-what="Subscription URL copied">Copy</button><div class="link-url mono" data-sub="${kind}">${url}</div><details><summary>QR code</summary>${qrImage(url, `${kind} subscription`)}</details></li>`)}</ul>` : html`<p class="muted">Subscriptions are not enabled.</p>`}
        <h3>Links</h3>${l.links.length ? html`<ul class="links">${l.links.map((k) => html`<li><strong>${k.remark || k.inbound}</strong> <span class="muted">${k.server} · ${k.protocol}</span> <button class="small" data-action="copy" data-copy="${k.url}" data-what="Link copied">Copy</button><div class="link-url mono" data-link="${k.protocol}">${k.url}</div><details><summary>QR code</summary>${qrImage(k.url, k.remark || k.inbound)}</details></li>`)}</ul>` : html`<p class="muted">The client is attached to no inbound.</p>`}`);
    } catch (e) {
      show($('#links'), html`<div class="alert error" role="alert">Links cannot be shown: ${e.message}</div>`);
    }
  };
  actions['client-toggle'] = async () => { await api('PUT', `/clients/${enc(email)}`, { enable: !client.enable }); toast(`Client ${client.enable ? 'disabled' : 'enabled'}`); await load(); };
  actions['client-reset'] = async () => { await api('POST', `/clients/${enc(email)}/reset-traffic`); toast('Traffic reset'); await load(); };
  actions['client-delete'] = async () => {
    if (!(await confirmDialog(`Delete client ${email}?`, 'It is removed from every server it is attached to.', 'Delete'))) return;
    await api('DELETE', `/clients/${enc(email)}`); leaving = true; location.href = `${BASE}/panel/clients`;
  };
  actions['clear-ips'] = async () => { await api('DELETE', `/clients/${enc(email)}/ips`); toast('Addresses forgotten'); await loadIps(); };
  load().catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
  loadIps(); loadLinks();
  live.on(throttle(3000, () => load().catch(() => {})));
}

// ---- Tasks and audit ----
function pageTasks() {
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div><label for="t-server">Server</label><select id="t-server"><option value="">all</option></select></div>
      <div><label for="t-status">Status</label><select id="t-status">${['', 'pending', 'running', 'completed', 'failed', 'expired'].map((s) => html`<option value="${s}">${s || 'all'}</option>`)}</select></div>
      <div class="grow"><label for="t-op">Operation</label><input id="t-op" placeholder="core.restart"></div>
      <div class="grow"><label for="t-who">Who</label><input id="t-who" placeholder="admin"></div></div>
    <div class="table-wrap"><table><thead><tr><th>Created</th><th>Server</th><th>Operation</th><th>Status</th><th class="hide-phone">By</th><th class="hide-phone">Attempts</th><th class="hide-phone">Result</th></tr></thead><tbody id="task-rows"><tr><td colspan="7" class="empty">Loading…</td></tr></tbody></table></div>`);
  let serverList = [], tasks = [];
  const draw = () => {
    const f = { server: $('#t-server').value, status: $('#t-status').value, op: $('#t-op').value.trim().toLowerCase(), who: $('#t-who').value.trim().toLowerCase() };
    const rows = tasks.filter((t) => (!f.server || String(t.server_id) === f.server) && (!f.status || t.status === f.status)
      && (!f.op || t.operation.toLowerCase().includes(f.op)) && (!f.who || t.created_by.toLowerCase().includes(f.who)));
    show($('#task-rows'), rows.length ? rows.slice(0, 500).map((t) => {
      const row = taskRow(t);
      return raw(row.s.replace(/<td><code>/, `<td>${esc(serverName(serverList, t.server_id))}</td><td><code>`));
    }) : html`<tr><td colspan="7" class="empty">No tasks match.</td></tr>`);
  };
  const load = async () => {
    serverList = await servers();
    if ($('#t-server').options.length === 1) show($('#t-server'), [html`<option value="">all</option>`, ...serverList.map((s) => html`<option value="${s.id}">${s.name}</option>`)]);
    tasks = (await Promise.all(serverList.map((s) => api('GET', `/servers/${s.id}/tasks?limit=200`)))).flat().sort((a, b) => b.created_at - a.created_at);
    draw();
  };
  ['#t-server', '#t-status'].forEach((s) => $(s).addEventListener('change', draw));
  ['#t-op', '#t-who'].forEach((s) => $(s).addEventListener('input', draw));
  load().catch(failed);
  every(10000, () => load().catch(() => {}));
}
function pageAudit() {
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div class="grow"><label for="a-who">Who</label><input id="a-who" placeholder="admin"></div>
      <div class="grow"><label for="a-action">Action</label><input id="a-action" placeholder="client.create"></div>
      <div class="grow"><label for="a-target">Target</label><input id="a-target" placeholder="server:1"></div>
      <div><label for="a-result">Result</label><select id="a-result"><option value="">all</option><option value="ok">ok</option><option value="failed">refused or failed</option></select></div></div>
    <div class="table-wrap"><table><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Result</th><th class="hide-phone">Address</th><th class="hide-phone">Details</th></tr></thead><tbody id="audit-rows"><tr><td colspan="7" class="empty">Loading…</td></tr></tbody></table></div>`);
  let entries = [];
  const draw = () => {
    const who = $('#a-who').value.trim().toLowerCase(), action = $('#a-action').value.trim().toLowerCase(), target = $('#a-target').value.trim().toLowerCase(), result = $('#a-result').value;
    const rows = entries.filter((a) => (!who || a.actor.toLowerCase().includes(who)) && (!action || a.action.toLowerCase().includes(action))
      && (!target || a.target.toLowerCase().includes(target)) && (!result || (result === 'ok' ? a.result === 'ok' : a.result !== 'ok')));
    show($('#audit-rows'), rows.length ? rows.slice(0, 500).map((a) => html`<tr><td>${when(a.at)}</td><td>${a.actor}</td><td><code>${a.action}</code></td><td>${a.target}</td><td>${badge(a.result, a.result === 'ok' ? 'ok' : 'error')}</td><td class="hide-phone">${a.source_ip}</td><td class="wrap hide-phone"><span class="mono">${a.details === '{}' ? '' : a.details}</span></td></tr>`) : html`<tr><td colspan="7" class="empty">No entries match.</td></tr>`);
  };
  const load = async () => { entries = await api('GET', '/audit?limit=1000'); draw(); };
  ['#a-who', '#a-action', '#a-target'].forEach((s) => $(s).addEventListener('input', draw));
  $('#a-result').addEventListener('change', draw);
  load().catch(failed);
  every(15000, () => load().catch(() => {}));
}

// ---- Settings ----
const SUB_KEYS = [['subEnable', 'Serve subscriptions', 'bool'], ['subURI', 'Public subscription URL prefix', 'text'], ['subPath', 'Links path', 'text'], ['subJsonPath', 'JSON path', 'text'], ['subUpdates', 'Update interval (hours)', 'text'], ['subTitle', 'Title', 'text']];
const TG_KEYS = [['tgBotEnable', 'Telegram bot enabled', 'bool'], ['tgBotToken', 'Bot token', 'secret'], ['tgBotChatId', 'Admin chat ids (comma separated)', 'text'], ['tgRunTime', 'Report schedule', 'text'], ['tgBotLoginNotify', 'Notify on panel logins', 'bool'], ['tgCpu', 'CPU alert threshold (%)', 'text']];
function settingsForm(id, title, keys, values, note) {
  return html`<form class="card section" id="${id}" novalidate><h2>${title}</h2>${note ? html`<p class="muted">${note}</p>` : ''}<div class="form-grid">
    ${keys.map(([key, label, kind]) => kind === 'bool'
      ? html`<div><label class="inline"><input type="checkbox" name="${key}" data-field="${key}" ${raw(values[key] === 'true' ? 'checked' : '')}> ${label}</label></div>`
      : html`<div><label for="set-${key}">${label}</label><input id="set-${key}" name="${key}" data-field="${key}" ${raw(kind === 'secret' ? 'type="password" autocomplete="new-password"' : 'autocomplete="off"')} value="${kind === 'secret' ? '' : values[key] || ''}" placeholder="${kind === 'secret' && values[key] ? 'unchanged' : ''}"></div>`)}
    </div><div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">Save</button></div></form>`;
}
function pageSettings() {
  const root = pageRoot();
  const cfg = pageData.config || {};
  show(root, html`
    <section class="card section" aria-labelledby="panel-title"><h2 id="panel-title">Panel</h2>
      <dl class="kv"><dt>Listens on</dt><dd class="mono">${cfg.panel_listen}</dd><dt>Base path</dt><dd class="mono">${cfg.base_path}</dd>
      <dt>TLS</dt><dd>Plain HTTP; put a TLS-terminating proxy in front for remote access</dd><dt>Session lifetime</dt><dd>${duration(cfg.session_ttl_secs)}</dd>
      <dt>Agent gateway</dt><dd class="mono">${cfg.gateway_url} (listens on ${cfg.gateway_listen})</dd><dt>Enrollment token lifetime</dt><dd>${duration(cfg.token_ttl_secs)}</dd>
      <dt>Single-server mode</dt><dd>${cfg.local_server ? 'on' : 'off'}</dd><dt>Version</dt><dd>${pageData.version}</dd></dl>
      <p class="hint">These come from the configuration file, <code>XFLEET_*</code> variables or flags (<code>panel_listen</code>, <code>base_path</code>, <code>gateway_url</code>) and take effect at the next start.</p></section>
    <form class="card section" id="password-form" novalidate><h2>Admin password</h2><div class="form-grid">
      <div><label for="pw-current">Current password</label><input id="pw-current" name="current" data-field="current" type="password" autocomplete="current-password"></div>
      <div><label for="pw-new">New password</label><input id="pw-new" name="new" data-field="new" type="password" autocomplete="new-password"><div class="hint">At least 8 characters</div></div>
      <div><label for="pw-repeat">Repeat new password</label><input id="pw-repeat" name="repeat" data-field="repeat" type="password" autocomplete="new-password"></div></div>
      <div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">Change password</button></div></form>
    <section class="card section" aria-labelledby="tfa-title"><h2 id="tfa-title">Two-factor login</h2><div id="tfa">Loading…</div></section>
    <section class="card section" aria-labelledby="tok-title"><h2 id="tok-title">API tokens</h2>
      <form id="token-form" class="row" novalidate><div class="grow"><label for="tok-name">Name</label><input id="tok-name" name="name" data-field="name" placeholder="ci"></div>
      <div><label for="tok-scope">Scope</label><select id="tok-scope" name="scope"><option value="admin">admin</option><option value="read-only">read-only</option></select></div><button type="submit" class="primary">Create token</button></form>
      <div id="new-token"></div><div class="table-wrap"><table><thead><tr><th>Name</th><th>Scope</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody id="token-rows"></tbody></table></div></section>
    <section class="card section" aria-labelledby="ses-title"><h2 id="ses-title">Sessions</h2><div class="table-wrap"><table><thead><tr><th>User</th><th>Address</th><th>Started</th><th>Expires</th><th></th></tr></thead><tbody id="session-rows"></tbody></table></div></section>
    <div id="stored"></div>`);
  // Password
  const pw = $('#password-form');
  pw.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(pw);
    if (v.new !== v.repeat) { fieldErrors(pw, { fields: [{ field: 'repeat', message: 'does not match the new password' }] }); return; }
    try {
      const r = await busy(pw.querySelector('[type="submit"]'), () => api('POST', '/auth/password', { current: v.current, new: v.new }));
      clearErrors(pw); pw.reset(); toast(`Password changed; ${r.sessions_revoked} other session(s) ended`); loadSessions();
    } catch (err) {
      if (!err.fields.length) err.fields = [{ field: /current/i.test(err.message) ? 'current' : 'new', message: err.message }];
      fieldErrors(pw, err);
    }
  });
  // Two-factor
  const loadTfa = async () => {
    const me = await api('GET', '/auth/me');
    if (me.two_factor_enabled) {
      show($('#tfa'), html`<p>${badge('on', 'ok')} Logging in needs a code from your authenticator app.</p><form id="tfa-off" class="row" novalidate><div><label for="tfa-off-code">Current code</label><input id="tfa-off-code" name="code" data-field="code" inputmode="numeric" autocomplete="one-time-code"></div><button type="submit" class="danger">Turn off</button><div class="alert error form-error" role="alert" hidden></div></form>`);
      $('#tfa-off').addEventListener('submit', async (e) => {
        e.preventDefault();
        try { await api('POST', '/auth/totp/disable', { code: e.target.code.value.trim() }); toast('Two-factor login is off'); loadTfa(); } catch (err) { fieldErrors(e.target, { fields: [{ field: 'code', message: err.message }] }); }
      });
    } else {
      show($('#tfa'), html`<p>${badge('off')} Add a second factor: scan a QR code with an authenticator app, then confirm with a code.</p><button data-action="tfa-setup" class="primary">Set up</button><div id="tfa-setup"></div>`);
    }
  };
  actions['tfa-setup'] = async () => {
    const s = await api('POST', '/auth/totp/setup');
    show($('#tfa-setup'), html`<div class="grid"><div>${qrImage(s.uri, 'two-factor setup')}</div><div>
      <p>Scan the code, or enter the secret by hand:</p><p class="secret" id="tfa-secret">${s.secret}</p>
      <p class="hint">URI: <span class="mono" id="tfa-uri">${s.uri}</span></p>
      <form id="tfa-on" novalidate><label for="tfa-code">Code from the app</label><div class="input-group"><input id="tfa-code" name="code" data-field="code" inputmode="numeric" autocomplete="one-time-code"><button type="submit" class="primary">Turn on</button></div><div class="alert error form-error" role="alert" hidden></div></form></div></div>`);
    $('#tfa-on').addEventListener('submit', async (e) => {
      e.preventDefault();
      try { await api('POST', '/auth/totp/enable', { code: e.target.code.value.trim() }); toast('Two-factor login is on'); loadTfa(); } catch (err) { fieldErrors(e.target, { fields: [{ field: 'code', message: err.message }] }); }
    });
    $('#tfa-code').focus();
  };
  // Tokens
  const loadTokens = async () => {
    const list = await api('GET', '/api-tokens');
    show($('#token-rows'), list.length ? list.map((t) => html`<tr><td>${t.name}</td><td>${t.scope}</td><td>${when(t.created_at)}</td><td>${t.last_used_at ? ago(t.last_used_at) : 'never'}</td><td><button class="small danger" data-action="delete-token" data-id="${t.id}" data-name="${t.name}">Delete</button></td></tr>`) : html`<tr><td colspan="5" class="empty">No tokens.</td></tr>`);
  };
  const tf = $('#token-form');
  tf.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(tf);
    try {
      const t = await api('POST', '/api-tokens', { name: tf.name.value.trim(), scope: tf.scope.value });
      tf.reset();
      show($('#new-token'), html`<div class="alert ok">Token <strong>${t.name}</strong> created. Copy it now: it is not shown again.<div class="command"><code id="token-secret">${t.token}</code><button data-action="copy" data-copy-from="#token-secret" data-what="Token copied">Copy</button></div></div>`);
      loadTokens();
    } catch (err) { fieldErrors(tf, { fields: [{ field: /scope/.test(err.message) ? 'scope' : 'name', message: err.message }] }); }
  });
  actions['delete-token'] = async (el) => {
    if (!(await confirmDialog(`Delete token ${el.dataset.name}?`, 'Scripts using it stop working at once.', 'Delete'))) return;
    await api('DELETE', `/api-tokens/${el.dataset.id}`); toast('Token deleted'); loadTokens();
  };
  // Sessions
  const loadSessions = async () => {
    const list = await api('GET', '/sessions');
    show($('#session-rows'), list.map((s) => html`<tr><td>${s.username}${s.current ? html` ${badge('this browser', 'ok')}` : ''}</td><td>${s.source_ip}</td><td>${when(s.created_at)}</td><td>${when(s.expires_at)}</td><td>${s.current ? '' : html`<button class="small danger" data-action="revoke-session" data-id="${s.id}">End</button>`}</td></tr>`));
  };
  actions['revoke-session'] = async (el) => { await api('DELETE', `/sessions/${el.dataset.id}`); toast('Session ended'); loadSessions(); };
  // Stored settings (3x-ui keys)
  const loadStored = async () => {
    const values = await api('GET', '/settings');
    show($('#stored'), [settingsForm('sub-form', 'Subscription', SUB_KEYS, values, 'Stored under 3x-ui\'s key names for the subscription server.'),
      settingsForm('tg-form', 'Telegram', TG_KEYS, values, 'Stored under 3x-ui\'s key names for the Telegram bot. The token is never shown; leave it empty to keep it.')]);
    for (const [id, keys] of [['#sub-form', SUB_KEYS], ['#tg-form', TG_KEYS]]) {
      const form = $(id);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const v = formValues(form);
        const body = {};
        for (const [key, , kind] of keys) { if (kind === 'secret' && !v[key]) continue; body[key] = kind === 'bool' ? String(v[key]) : v[key].trim(); }
        try { await busy(form.querySelector('[type="submit"]'), () => api('PATCH', '/settings', body)); clearErrors(form); toast('Settings saved'); } catch (err) { fieldErrors(form, err); }
      });
    }
  };
  loadTfa().catch(failed); loadTokens().catch(failed); loadSessions().catch(failed); loadStored().catch(failed);
}

// ---- Start ----
const PAGES = { login: pageLogin, dashboard: pageDashboard, servers: pageServers, server: pageServer, inbounds: pageInbounds, inbound: pageInbound, clients: pageClients, client: pageClient, tasks: pageTasks, audit: pageAudit, settings: pageSettings };
document.addEventListener('DOMContentLoaded', () => {
  const start = PAGES[PAGE];
  if (!start) return;
  if (PAGE !== 'login') live.connect();
  start();
});
