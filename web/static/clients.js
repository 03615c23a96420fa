// The clients list with its form and bulk actions, and one client's page with its links.
import { $, allInbounds, api, BASE, enc, esc, html, navigate, pageRoot, raw, servers, show } from './core.js';
import { actions, ago, badge, busy, bytes, chart, clearErrors, confirmDialog, dateInput, failed, fieldErrors, formValues, fromDateInput, GB, promptDialog, qrImage, switchControl, toast, when } from './ui.js';
import { live, throttle } from './live.js';
import { bulkForm, submitBulk, wireBulkForm } from './clients-bulk.js';

// ---- Clients ----
const DAY_MS = 86400000;
// Quick expiries from now, as 3x-ui users pick them: [days, label].
const EXPIRY_PRESETS = [[7, '7 days'], [30, '30 days'], [90, '90 days'], [365, '1 year']];
const RESET_CLIENT_TEXT = 'Its used traffic on every server goes back to zero, and it is enabled again if its quota had cut it off. This cannot be undone.';
const RESET_CLIENTS_TEXT = 'Their used traffic on every server goes back to zero, and those a quota had cut off are enabled again. This cannot be undone.';
function clientState(c, onlineSet) {
  const now = Date.now();
  const out = [];
  // A disabled client cannot connect, whatever traffic it carried a moment ago.
  if (c.enable && (onlineSet?.has(c.email) || (c.lastOnline && now - c.lastOnline < 180000))) out.push(badge('online'));
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
      <div><label for="c-expiry">Expires</label><input id="c-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(c.expiryTime > 0 ? c.expiryTime : 0)}"><div class="hint">Empty: never</div>
        <div class="row" role="group" aria-label="Expiry presets">${EXPIRY_PRESETS.map(([days, text]) => html`<button type="button" class="small" data-action="expiry-preset" data-days="${days}">${text}</button>`)}</div></div>
      <div><label for="c-delay">Or days from first use</label><input id="c-delay" name="delayDays" data-field="delayDays" inputmode="numeric" value="${c.expiryTime < 0 ? -c.expiryTime / DAY_MS : ''}"><div class="hint">Counting starts when the client first connects; wins over Expires</div></div>
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
    email: v.email.trim(), totalGB: Math.round(Number(v.totalGB || 0) * GB), expiryTime: Number(v.delayDays) > 0 ? -Number(v.delayDays) * DAY_MS : fromDateInput(v.expiryTime), limitIp: Number(v.limitIp || 0),
    flow: v.flow, enable: v.enable, comment: v.comment, reset: Number(v.reset || 0), tgId: v.tgId.trim() || null,
  };
  if (v.id.trim()) body.id = v.id.trim();
  if (v.password.trim()) body.password = v.password.trim();
  if (v.subId.trim()) body.subId = v.subId.trim();
  const local = [];
  for (const [f, label] of [['totalGB', 'a number of gigabytes'], ['limitIp', 'a whole number'], ['reset', 'a number of days'], ['delayDays', 'a number of days']]) if (!(Number(v[f] || 0) >= 0)) local.push({ field: f, message: `must be ${label}, 0 or more` });
  if (!body.email) local.push({ field: 'email', message: 'is required' });
  else if (/\s/.test(body.email)) local.push({ field: 'email', message: 'must not contain spaces, as in 3x-ui; use _, - or . instead' });
  else if ((body.email.match(/@/g) || []).length > 1) local.push({ field: 'email', message: 'must not contain more than one @' });
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
export function pageClients() {
  const q = new URLSearchParams(location.search);
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div class="grow"><label for="search">Search</label><input id="search" type="search" placeholder="email, comment or subscription id" value="${q.get('search') || ''}"></div>
      <div><label for="filter">Show</label><select id="filter">${[['', 'all'], ['online', 'online'], ['depleted', 'depleted'], ['expiring', 'expiring soon'], ['disabled', 'disabled'], ['enabled', 'enabled']].map(([v, t]) => html`<option value="${v}" ${raw(v === (q.get('filter') || '') ? 'selected' : '')}>${t}</option>`)}</select></div>
      <div><label for="inbound-filter">Inbound</label><select id="inbound-filter"><option value="">all</option></select></div>
      <button class="primary" data-action="add-client">Add client</button><button data-action="add-bulk">Add in bulk</button></div>
    <div id="client-editor"></div>
    <div class="toolbar" id="bulk" aria-label="Bulk actions"><span id="selected-count" class="muted">0 selected</span>
      <button class="small" data-action="bulk" data-op="enable" disabled>Enable</button><button class="small" data-action="bulk" data-op="disable" disabled>Disable</button>
      <button class="small" data-action="bulk" data-op="reset-traffic" disabled>Reset traffic</button><button class="small" data-action="bulk" data-op="extend" disabled>Extend…</button><button class="small danger" data-action="bulk" data-op="delete" disabled>Delete</button>
      <button class="small danger" data-action="delete-depleted">Delete all depleted</button></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="Clients, scrollable"><table class="cards"><thead><tr><th><input type="checkbox" id="select-all" aria-label="Select all clients"></th><th>Email</th><th>Status</th><th>Inbounds</th><th>Used</th><th class="hide-phone">Expiry</th><th class="hide-phone">Last online</th><th>Enabled</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="client-rows"><tr><td colspan="9" class="empty">Loading…</td></tr></tbody></table></div>`);
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
      <td data-used="${c.used}">${bytes(c.used)}${c.totalGB ? ` of ${bytes(c.totalGB)}` : ''}</td><td class="hide-phone" data-expiry="${c.expiryTime}">${c.expiryTime ? when(c.expiryTime) : 'never'}</td>
      <td class="hide-phone">${ago(c.lastOnline)}</td><td>${switchControl(c.enable, `Enable client ${c.email}`, `data-toggle-client="${esc(c.email)}"`)}</td>
      <td><div class="row"><button class="small" data-action="edit-client" data-email="${c.email}">Edit</button><button class="small" data-action="reset-client" data-email="${c.email}">Reset</button><button class="small danger" data-action="delete-client" data-email="${c.email}">Delete</button></div></td></tr>`)
      : html`<tr><td colspan="9" class="empty">${filtered() ? 'No clients match the search or filter.' : 'No clients yet: add one with Add client.'}</td></tr>`);
    showSelection();
  };
  const filtered = () => Boolean($('#search').value.trim() || $('#filter').value || $('#inbound-filter').value);
  // The bulk actions act on the selection, so they are offered only while there is one.
  const showSelection = () => {
    $('#selected-count').textContent = `${selected.size} selected`;
    for (const b of root.querySelectorAll('#bulk [data-op]')) b.disabled = !selected.size;
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
  // The forms list the inbounds to attach to: they open once those are known.
  const ready = servers().then(async (list) => {
    serverList = list;
    inbounds = await allInbounds(list);
    const pre = q.get('inbound');
    show($('#inbound-filter'), [html`<option value="">all</option>`, ...inbounds.map((i) => html`<option value="${i.id}" ${raw(String(i.id) === pre ? 'selected' : '')}>${inboundName(i.id)}</option>`)]);
    await reload();
  });
  ready.catch(failed);
  let timer;
  $('#search').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => reload().catch(failed), 250); });
  $('#filter').addEventListener('change', () => reload().catch(failed));
  $('#inbound-filter').addEventListener('change', () => reload().catch(failed));
  root.addEventListener('change', async (e) => {
    const t = e.target;
    if (t.id === 'select-all') { clients.forEach((c) => (t.checked ? selected.add(c.email) : selected.delete(c.email))); lastJson = ''; await load(); return; }
    if (t.dataset.select) { t.checked ? selected.add(t.dataset.select) : selected.delete(t.dataset.select); showSelection(); return; }
    if (t.dataset.toggleClient !== undefined) {
      try { await api('PUT', `/clients/${enc(t.dataset.toggleClient)}`, { enable: t.checked }); toast(`Client ${t.checked ? 'enabled' : 'disabled'}`); await reload(); } catch (err) { t.checked = !t.checked; failed(err); }
    }
  });
  actions['add-client'] = async () => { await ready; openForm(null); };
  actions['add-bulk'] = async () => {
    await ready;
    show($('#client-editor'), bulkForm(inbounds, serverList));
    const form = $('#bulk-form');
    wireBulkForm(form);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const done = await submitBulk(form);
        if (!done) return;
        toast(`${done.created} clients added`);
        show($('#client-editor'), '');
        await reload();
      } catch (err) { fieldErrors(form, err); }
    });
    $('#b-method').focus();
  };
  actions['close-form'] = () => show($('#client-editor'), '');
  actions['expiry-preset'] = (el) => {
    $('#c-expiry').value = dateInput(Date.now() + Number(el.dataset.days) * DAY_MS);
    $('#c-delay').value = '';
  };
  actions['edit-client'] = (el) => openForm(clients.find((c) => c.email === el.dataset.email));
  actions['reset-client'] = async (el) => {
    if (!(await confirmDialog(`Reset the traffic of ${el.dataset.email}?`, RESET_CLIENT_TEXT, 'Reset traffic'))) return;
    await api('POST', `/clients/${enc(el.dataset.email)}/reset-traffic`); toast('Traffic reset'); await reload();
  };
  actions['delete-client'] = async (el) => {
    if (!(await confirmDialog(`Delete client ${el.dataset.email}?`, 'It is removed from every server it is attached to.', 'Delete'))) return;
    await api('DELETE', `/clients/${enc(el.dataset.email)}`); selected.delete(el.dataset.email); toast('Client deleted'); await reload();
  };
  // One call for the whole selection: it is applied to all of them or, on any problem, to none.
  actions.bulk = async (el) => {
    const emails = [...selected];
    if (!emails.length) { toast('Select clients first', 'error'); return; }
    const op = el.dataset.op;
    const n = `${emails.length} client${emails.length === 1 ? '' : 's'}`;
    const body = { emails, action: op };
    if (op === 'delete' && !(await confirmDialog(`Delete ${n}?`, 'They are removed from every server.', 'Delete'))) return;
    if (op === 'reset-traffic' && !(await confirmDialog(`Reset the traffic of ${n}?`, RESET_CLIENTS_TEXT, 'Reset traffic'))) return;
    if (op === 'extend') {
      const days = await promptDialog(`Extend ${n}`, 'Days to add', {
        value: '30', action: 'Extend', hint: 'From the current expiry when it lies ahead, otherwise from now; a delayed start gets longer.',
        check: (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 3650 ? '' : 'must be a whole number of days from 1 to 3650'),
      });
      if (days === null) return;
      body.days = Number(days);
    }
    const r = await busy(el, () => api('POST', '/clients/bulk', body));
    selected.clear();
    $('#select-all').checked = false;
    const done = `${r.count} client${r.count === 1 ? '' : 's'}`;
    const said = { enable: `Enabled ${done}`, disable: `Disabled ${done}`, 'reset-traffic': `Reset the traffic of ${done}`, delete: `Deleted ${done}`, extend: `Extended ${done} by ${body.days} days` }[op];
    toast(`${said}; ${r.pushes.length} server${r.pushes.length === 1 ? '' : 's'} updated`);
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
export function pageClient() {
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
      show($('#ips'), ips.length ? html`<table><thead><tr><th>Address</th><th>Last seen</th><th>State</th></tr></thead><tbody>${ips.map((r) => html`<tr><td class="mono">${r.ip}</td><td>${ago(r.last_seen ?? r.lastSeen)}</td><td>${r.refused ? badge('refused', 'error') : ''}</td></tr>`)}</tbody></table><div class="actions"><button class="small" data-action="clear-ips">Forget addresses</button></div>` : html`<p class="muted">No addresses recorded.</p>`);
    } catch (e) { show($('#ips'), html`<p class="muted">${e.message}</p>`); }
  };
  const loadLinks = async () => {
    try {
      const l = await api('GET', `/clients/${enc(email)}/links`);
      const subs = Object.entries(l.subscription || {}).filter(([, url]) => url);
      show($('#links'), html`${(l.warnings || []).map((w) => html`<div class="alert warn" data-link-warning>${w}</div>`)}
        <h3>Subscription</h3>${subs.length ? html`<ul class="links">${subs.map(([kind, url]) => html`<li><strong>${kind}</strong> <button class="small" data-action="copy" data-copy="${url}" data-what="Subscription URL copied">Copy</button><div class="link-url mono" data-sub="${kind}">${url}</div><details><summary>QR code</summary>${qrImage(url, `${kind} subscription`)}</details></li>`)}</ul>` : html`<p class="muted">Subscriptions are not enabled.</p>`}
        <h3>Links</h3>${l.links.length ? html`<ul class="links">${l.links.map((k) => html`<li><strong>${k.remark || k.inbound}</strong> <span class="muted">${k.server} · ${k.protocol}</span> <button class="small" data-action="copy" data-copy="${k.url}" data-what="Link copied">Copy</button><div class="link-url mono" data-link="${k.protocol}">${k.url}</div><details><summary>QR code</summary>${qrImage(k.url, k.remark || k.inbound)}</details></li>`)}</ul>` : html`<p class="muted">The client is attached to no inbound.</p>`}`);
    } catch (e) {
      show($('#links'), html`<div class="alert error" role="alert">Links cannot be shown: ${e.message}</div>`);
    }
  };
  actions['client-toggle'] = async () => { await api('PUT', `/clients/${enc(email)}`, { enable: !client.enable }); toast(`Client ${client.enable ? 'disabled' : 'enabled'}`); await load(); };
  actions['client-reset'] = async () => {
    if (!(await confirmDialog(`Reset the traffic of ${email}?`, RESET_CLIENT_TEXT, 'Reset traffic'))) return;
    await api('POST', `/clients/${enc(email)}/reset-traffic`); toast('Traffic reset'); await load();
  };
  actions['client-delete'] = async () => {
    if (!(await confirmDialog(`Delete client ${email}?`, 'It is removed from every server it is attached to.', 'Delete'))) return;
    await api('DELETE', `/clients/${enc(email)}`); navigate(`${BASE}/panel/clients`);
  };
  actions['clear-ips'] = async () => { await api('DELETE', `/clients/${enc(email)}/ips`); toast('Addresses forgotten'); await loadIps(); };
  load().catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
  loadIps(); loadLinks();
  live.on(throttle(3000, () => load().catch(() => {})));
}
