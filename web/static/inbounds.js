// The inbounds list with each inbound's links and its JSON as 3x-ui exports and imports it;
// the inbound form is in inbound-form.js.
import { $, API, api, BASE, enc, html, pageRoot, raw, servers, show } from './core.js';
import { actions, badge, busy, bytes, clearErrors, confirmDialog, copyText, failed, fieldErrors, switchControl, toast, when } from './ui.js';
import { live, throttle } from './live.js';
import { WITH_TRANSPORT } from './inbound-form.js';
import { num, t } from './i18n.js';

// ---- Inbounds ----
function transportLabel(i) {
  const st = i.streamSettings || {};
  if (!WITH_TRANSPORT.includes(i.protocol)) return '—';
  return `${st.network || 'tcp'}${st.security && st.security !== 'none' ? ' + ' + st.security : ''}`;
}
const STATUS = () => ({ online: t('common.online'), offline: t('common.offline'), pending: t('common.pending') });
async function serverPicker(list, selected, onChange) {
  const wrap = $('#server-pick');
  if (list.length <= 1) { wrap.hidden = true; return list[0]?.id; }
  wrap.hidden = false;
  show(wrap, html`<label for="server-select">${t('inbounds.server')}</label><select id="server-select">${list.map((s) => html`<option value="${s.id}" ${raw(String(s.id) === String(selected) ? 'selected' : '')}>${t('inbounds.server_option', { name: s.name, status: STATUS()[s.status] || s.status })}</option>`)}</select>`);
  $('#server-select').addEventListener('change', (e) => onChange(e.target.value));
  return list.some((s) => String(s.id) === String(selected)) ? selected : list[0].id;
}
// ---- 3x-ui's inbound JSON ----
// A client as 3x-ui keeps it inside `settings.clients` (as the controller's
// fleet::desired::client_json writes it for the agents).
function xuiClient(protocol, c) {
  const out = { email: c.email, enable: c.enable, limitIp: c.limitIp, totalGB: c.totalGB, expiryTime: c.expiryTime, subId: c.subId, tgId: c.tgId, comment: c.comment, reset: c.reset };
  if (protocol === 'vmess') Object.assign(out, { id: c.uuid }, c.security ? { security: c.security } : {});
  else if (protocol === 'vless') Object.assign(out, { id: c.uuid, flow: c.flow });
  else if (protocol.startsWith('hysteria')) out.auth = c.auth;
  else out.password = c.password;
  return out;
}
// The inbound as 3x-ui's API returns and its import takes it: `settings`, `streamSettings`
// and `sniffing` as JSON text, the clients inside `settings`.
async function exportJson(id) {
  const [i, clients] = await Promise.all([api('GET', `/inbounds/${id}`), api('GET', `/clients?inbound=${id}`)]);
  const settings = { ...(i.settings || {}) };
  if (clients.length) settings.clients = clients.map((c) => xuiClient(i.protocol, c));
  return {
    id: i.id, up: i.up, down: i.down, total: i.total, remark: i.remark, enable: i.enable, expiryTime: i.expiryTime, trafficReset: i.trafficReset,
    listen: i.listen, port: i.port, protocol: i.protocol, settings: JSON.stringify(settings, null, 2),
    streamSettings: JSON.stringify(i.streamSettings || {}, null, 2), tag: i.tag, sniffing: JSON.stringify(i.sniffing || {}, null, 2),
  };
}
// What the API's create takes from pasted JSON: 3x-ui 2.x (fields as JSON text) or 3.x
// (objects). The id, counters and client statistics are not taken. Throws field problems.
function importBody(text) {
  let j;
  try { j = JSON.parse(text); } catch (e) { throw { fields: [{ field: 'json', message: t('inbounds.import_bad_json', { error: e.message }) }] }; }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw { fields: [{ field: 'json', message: t('inbounds.import_not_object') }] };
  const body = {};
  for (const k of ['remark', 'enable', 'listen', 'port', 'protocol', 'tag', 'total', 'expiryTime', 'trafficReset']) if (j[k] !== undefined) body[k] = j[k];
  for (const k of ['settings', 'streamSettings', 'sniffing']) {
    if (typeof j[k] !== 'string') { if (j[k] !== undefined) body[k] = j[k]; continue; }
    try { body[k] = j[k].trim() ? JSON.parse(j[k]) : {}; } catch (e) { throw { fields: [{ field: 'json', message: t('inbounds.import_bad_field', { field: k, error: e.message }) }] }; }
  }
  return body;
}
// A dialog with the inbound's JSON, to copy or download.
function exportDialog(name, json) {
  const d = document.createElement('dialog');
  d.setAttribute('aria-labelledby', 'dialog-title');
  d.id = 'export-dialog';
  const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  show(d, html`<form method="dialog"><h2 id="dialog-title">${t('inbounds.export_title', { name })}</h2>
    <div><label for="export-json">${t('inbounds.export_label')}</label><textarea id="export-json" class="mono" dir="ltr" rows="14" readonly>${json}</textarea></div>
    <div class="actions"><button type="button" class="primary" data-action="copy" data-copy-from="#export-json" data-what="${t('inbounds.export_copied')}">${t('common.copy')}</button>
    <a class="button" href="${url}" download="${name}.json">${t('inbounds.download')}</a><button value="close">${t('common.close')}</button></div></form>`);
  document.body.appendChild(d);
  d.addEventListener('close', () => { URL.revokeObjectURL(url); d.remove(); });
  d.showModal();
}

// ---- Each inbound's clients, expanded under its row ----
// Online as the clients page decides: in the live snapshot's online list or seen in the last
// three minutes, and never while disabled (a disabled client cannot connect, whatever
// traffic it carried a moment ago).
const ONLINE_WINDOW_MS = 180000;
const DAY_MS = 86400000;
function clientOnline(c, online) {
  return c.enable && (online.has(c.email) || (c.lastOnline > 0 && Date.now() - c.lastOnline < ONLINE_WINDOW_MS));
}
function clientExpiry(c) {
  if (c.expiryTime > 0) return when(c.expiryTime);
  if (c.expiryTime < 0) return t('inbounds.client_after_first_use', { n: Math.round(-c.expiryTime / DAY_MS) });
  return t('common.never');
}
// The row under an inbound's row listing its clients: `clients` is null while they load.
function clientsRow(i, clients, online) {
  const name = i.remark || i.tag;
  const body = !clients ? html`<p class="muted">${t('common.loading')}</p>`
    : !clients.length ? html`<p class="muted">${t('inbounds.client_none')}</p>`
      : html`<table class="cards client-list" aria-label="${t('inbounds.clients_of', { name })}"><thead><tr><th>${t('inbounds.client_col_email')}</th><th>${t('inbounds.client_col_online')}</th><th>${t('common.enabled')}</th><th>${t('inbounds.col_traffic')}</th><th>${t('inbounds.client_col_used')}</th><th>${t('inbounds.col_expiry')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead><tbody>${clients.map((c) => {
        const on = clientOnline(c, online);
        return html`<tr data-client="${c.email}" data-online="${String(on)}" data-enabled="${String(c.enable)}">
          <td><a href="${BASE}/panel/client?email=${enc(c.email)}">${c.email}</a></td>
          <td><span class="dot ${on ? 'on' : 'off'}" aria-hidden="true"></span> ${on ? t('common.online') : t('common.offline')}</td>
          <td>${c.enable ? badge(t('common.enabled'), 'enabled') : badge(t('common.disabled'), 'offline')}</td>
          <td>${bytes(c.up)} / ${bytes(c.down)}</td>
          <td>${c.totalGB ? t('inbounds.quota_used', { used: bytes(c.used), total: bytes(c.totalGB) }) : html`${bytes(c.used)} / ∞`}</td>
          <td>${clientExpiry(c)}</td>
          <td><div class="row"><button class="small" data-action="copy-client-link" data-id="${i.id}" data-email="${c.email}">${t('inbounds.client_copy_link')}</button><button class="small" data-action="client-qr" data-id="${i.id}" data-email="${c.email}">${t('inbounds.client_qr')}</button></div></td></tr>`;
      })}</tbody></table>`;
  return html`<tr class="inbound-clients" id="clients-of-${i.id}" data-clients-of="${name}"><td colspan="10">${body}</td></tr>`;
}
// The client's share link on inbound `id`, as its page shows it.
async function linkOn(id, email) {
  const answer = await api('GET', `/clients/${enc(email)}/links`);
  const link = answer.links.find((k) => k.inbound_id === id);
  if (!link) throw new Error(t('inbounds.client_no_link', { email }));
  return link.url;
}
// The QR code as the client page draws it (ui.js qrImage), named in the reader's language.
function qrDialog(email, url) {
  const d = document.createElement('dialog');
  d.setAttribute('aria-labelledby', 'dialog-title');
  d.id = 'qr-dialog';
  show(d, html`<form method="dialog"><h2 id="dialog-title">${t('inbounds.qr_title', { email })}</h2><img class="qr" alt="${t('inbounds.qr_title', { email })}" src="${API}/qr?text=${enc(url)}">
    <div class="link-url mono" data-link>${url}</div><div class="actions"><button value="close" autofocus>${t('common.close')}</button></div></form>`);
  document.body.appendChild(d);
  d.addEventListener('close', () => d.remove());
  d.showModal();
}

export function pageInbounds() {
  const root = pageRoot();
  show(root, html`<div class="toolbar"><div id="server-pick" hidden></div><div class="grow"></div><a class="button primary" id="add-inbound" href="#">${t('inbounds.add')}</a></div>
    <details class="card" id="import-box"><summary>${t('inbounds.import')}</summary><form id="import-form" novalidate>
      <div><label for="import-json">${t('inbounds.import_label')}</label><textarea id="import-json" name="json" class="mono" dir="ltr" rows="8" placeholder='{"port": 443, "protocol": "vless", "settings": "{…}", …}'></textarea><div class="hint">${t('inbounds.import_hint')}</div></div>
      <div class="alert error form-error" role="alert" hidden></div>
      <div class="actions"><button type="submit" class="primary">${t('inbounds.import_submit')}</button></div></form></details>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('inbounds.table_label')}"><table class="cards"><thead><tr><th>${t('inbounds.col_remark')}</th><th>${t('inbounds.col_protocol')}</th><th>${t('inbounds.col_port')}</th><th class="hide-phone">${t('inbounds.col_transport')}</th><th>${t('inbounds.col_clients')}</th><th>${t('inbounds.col_traffic')}</th><th class="hide-phone">${t('inbounds.col_quota')}</th><th class="hide-phone">${t('inbounds.col_expiry')}</th><th>${t('common.enabled')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead><tbody id="inbound-rows"><tr><td colspan="10" class="empty">${t('common.loading')}</td></tr></tbody></table></div>`);
  let serverId = new URLSearchParams(location.search).get('server');
  let lastJson = '', list = [];
  // The inbounds whose clients are shown (kept across redraws), and their clients as last loaded.
  const expanded = new Set();
  const clientsOf = new Map();
  const onlineNow = () => new Set(live.last?.online || []);
  const draw = () => {
    const focused = document.activeElement?.dataset?.action === 'expand-inbound' ? document.activeElement.dataset.id : null;
    const online = onlineNow();
    show($('#inbound-rows'), list.length ? list.map((i) => html`<tr data-inbound="${i.remark || i.tag}">
      <td><button class="small expand" data-action="expand-inbound" data-id="${i.id}" aria-expanded="${String(expanded.has(i.id))}" aria-controls="clients-of-${i.id}" aria-label="${t('inbounds.clients_of', { name: i.remark || i.tag })}">${expanded.has(i.id) ? '−' : '+'}</button> <a href="${BASE}/panel/inbound?id=${i.id}">${i.remark || i.tag}</a>${i.coreError ? html`<div class="core-error" data-core-error>${badge(t('inbounds.not_running'), 'error')} ${i.coreError}</div>` : ''}</td><td>${i.protocol}</td><td>${i.port}</td><td class="hide-phone">${transportLabel(i)}</td>
      <td><a href="${BASE}/panel/clients?inbound=${i.id}">${num(i.clients.length)}</a></td><td>${bytes(i.up)} / ${bytes(i.down)}</td>
      <td class="hide-phone">${i.total ? t('inbounds.quota_used', { used: bytes(i.up + i.down), total: bytes(i.total) }) : '∞'}</td><td class="hide-phone">${i.expiryTime ? when(i.expiryTime) : t('common.never')}</td>
      <td>${switchControl(i.enable, t('inbounds.enable_label', { name: i.remark || i.tag }), `data-toggle-inbound="${i.id}"`)}</td>
      <td><div class="row"><a class="button small" href="${BASE}/panel/inbound?id=${i.id}">${t('common.edit')}</a><a class="button small" href="${BASE}/panel/inbound?clone=${i.id}">${t('inbounds.clone')}</a>
      <button class="small" data-action="copy-links" data-id="${i.id}">${t('inbounds.copy_links')}</button><button class="small" data-action="export-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">${t('inbounds.export')}</button>
      <button class="small" data-action="reset-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">${t('inbounds.reset_traffic')}</button><button class="small danger" data-action="delete-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">${t('common.delete')}</button></div></td></tr>
      ${expanded.has(i.id) ? clientsRow(i, clientsOf.get(i.id), online) : ''}`)
      : html`<tr><td colspan="10" class="empty">${t('inbounds.empty')}</td></tr>`);
    if (focused) $(`[data-action="expand-inbound"][data-id="${focused}"]`)?.focus();
  };
  // The list and the clients of the expanded inbounds, drawn again only when they changed.
  const load = async () => {
    if (!serverId) return;
    const fresh = await api('GET', `/servers/${serverId}/inbounds`);
    const open = fresh.filter((i) => expanded.has(i.id)).map((i) => i.id);
    const lists = await Promise.all(open.map((id) => api('GET', `/clients?inbound=${id}`)));
    const json = JSON.stringify([fresh, lists, open.length ? [...onlineNow()] : []]);
    if (json === lastJson) return;
    lastJson = json;
    list = fresh;
    open.forEach((id, n) => clientsOf.set(id, lists[n]));
    draw();
  };
  const setServer = (id) => {
    serverId = id;
    lastJson = '';
    $('#add-inbound').href = `${BASE}/panel/inbound?server=${id}`;
    history.replaceState(null, '', `?server=${id}`);
    load().catch(failed);
  };
  servers().then(async (list) => {
    if (!list.length) { show($('#inbound-rows'), html`<tr><td colspan="10" class="empty">${t('inbounds.no_servers')}</td></tr>`); $('#add-inbound').hidden = true; return; }
    setServer(await serverPicker(list, serverId, setServer));
  }).catch(failed);
  root.addEventListener('change', async (e) => {
    const id = e.target.dataset.toggleInbound;
    if (!id) return;
    try { await api('POST', `/inbounds/${id}/enable`, { enable: e.target.checked }); toast(e.target.checked ? t('inbounds.enabled_toast') : t('inbounds.disabled_toast')); } catch (err) { e.target.checked = !e.target.checked; failed(err); }
  });
  // A row's clients are loaded when it is expanded, and again with every live refresh.
  actions['expand-inbound'] = async (el) => {
    const id = Number(el.dataset.id);
    if (expanded.delete(id)) { draw(); return; }
    expanded.add(id);
    draw();
    let clients;
    // A list that cannot be loaded closes again, and the toast says why.
    try { clients = await api('GET', `/clients?inbound=${id}`); } catch (err) { expanded.delete(id); draw(); throw err; }
    clientsOf.set(id, clients);
    lastJson = '';
    if (expanded.has(id)) draw();
  };
  actions['copy-client-link'] = async (el) => {
    await copyText(await linkOn(Number(el.dataset.id), el.dataset.email), t('inbounds.client_link_copied', { email: el.dataset.email }));
  };
  actions['client-qr'] = async (el) => {
    qrDialog(el.dataset.email, await linkOn(Number(el.dataset.id), el.dataset.email));
  };
  actions['reset-inbound'] = async (el) => {
    if (!(await confirmDialog(t('inbounds.reset_title', { name: el.dataset.name }), t('inbounds.reset_text'), t('inbounds.reset_traffic')))) return;
    await api('POST', `/inbounds/${el.dataset.id}/reset-traffic`); toast(t('inbounds.traffic_reset')); lastJson = ''; await load();
  };
  actions['delete-inbound'] = async (el) => {
    if (!(await confirmDialog(t('inbounds.delete_title', { name: el.dataset.name }), t('inbounds.delete_text'), t('common.delete')))) return;
    await api('DELETE', `/inbounds/${el.dataset.id}?deleteClients=true`);
    toast(t('inbounds.deleted')); lastJson = ''; await load();
  };
  // Every enabled client's share link on this inbound, one a line, from the API the client
  // page shows its links with.
  actions['copy-links'] = async (el) => {
    const id = Number(el.dataset.id);
    const clients = (await api('GET', `/clients?inbound=${id}`)).filter((c) => c.enable);
    const answers = await Promise.all(clients.map((c) => api('GET', `/clients/${enc(c.email)}/links`)));
    const urls = answers.flatMap((a) => a.links.filter((k) => k.inbound_id === id).map((k) => k.url));
    if (!urls.length) { toast(t('inbounds.no_links'), 'error'); return; }
    await copyText(urls.join('\n'), t('inbounds.links_copied', { n: urls.length }));
  };
  actions['export-inbound'] = async (el) => {
    exportDialog(el.dataset.name, JSON.stringify(await exportJson(el.dataset.id), null, 2));
  };
  const importForm = $('#import-form');
  importForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(importForm);
    try {
      const body = importBody(importForm.json.value);
      const saved = await busy(importForm.querySelector('[type="submit"]'), () => api('POST', `/servers/${serverId}/inbounds`, body));
      toast(t('inbounds.imported', { name: saved.remark || saved.tag }));
      importForm.reset();
      $('#import-box').open = false;
      lastJson = '';
      await load();
    } catch (err) { fieldErrors(importForm, err); }
  });
  live.on(throttle(5000, () => load().catch(() => {})));
}

export { pageInbound } from './inbound-form.js';
