// The inbounds list; the inbound form is in inbound-form.js.
import { $, api, BASE, html, pageRoot, raw, servers, show } from './core.js';
import { actions, badge, bytes, confirmDialog, failed, switchControl, toast, when } from './ui.js';
import { live, throttle } from './live.js';
import { WITH_TRANSPORT } from './inbound-form.js';

// ---- Inbounds ----
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
export function pageInbounds() {
  const root = pageRoot();
  show(root, html`<div class="toolbar"><div id="server-pick" hidden></div><div class="grow"></div><a class="button primary" id="add-inbound" href="#">Add inbound</a></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="Inbounds, scrollable"><table class="cards"><thead><tr><th>Remark</th><th>Protocol</th><th>Port</th><th class="hide-phone">Transport</th><th>Clients</th><th>Traffic ↑/↓</th><th class="hide-phone">Quota</th><th class="hide-phone">Expiry</th><th>Enabled</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="inbound-rows"><tr><td colspan="10" class="empty">Loading…</td></tr></tbody></table></div>`);
  let serverId = new URLSearchParams(location.search).get('server');
  let lastJson = '';
  const load = async () => {
    if (!serverId) return;
    const list = await api('GET', `/servers/${serverId}/inbounds`);
    const json = JSON.stringify(list);
    if (json === lastJson) return;
    lastJson = json;
    show($('#inbound-rows'), list.length ? list.map((i) => html`<tr data-inbound="${i.remark || i.tag}">
      <td><a href="${BASE}/panel/inbound?id=${i.id}">${i.remark || i.tag}</a>${i.coreError ? html`<div class="core-error" data-core-error>${badge('not running', 'error')} ${i.coreError}</div>` : ''}</td><td>${i.protocol}</td><td>${i.port}</td><td class="hide-phone">${transportLabel(i)}</td>
      <td><a href="${BASE}/panel/clients?inbound=${i.id}">${i.clients.length}</a></td><td>${bytes(i.up)} / ${bytes(i.down)}</td>
      <td class="hide-phone">${i.total ? `${bytes(i.up + i.down)} of ${bytes(i.total)}` : '∞'}</td><td class="hide-phone">${i.expiryTime ? when(i.expiryTime) : 'never'}</td>
      <td>${switchControl(i.enable, `Enable inbound ${i.remark || i.tag}`, `data-toggle-inbound="${i.id}"`)}</td>
      <td><div class="row"><a class="button small" href="${BASE}/panel/inbound?id=${i.id}">Edit</a><a class="button small" href="${BASE}/panel/inbound?clone=${i.id}">Clone</a>
      <button class="small" data-action="reset-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">Reset traffic</button><button class="small danger" data-action="delete-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">Delete</button></div></td></tr>`)
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
  actions['reset-inbound'] = async (el) => {
    if (!(await confirmDialog(`Reset the traffic of inbound ${el.dataset.name}?`, 'Its up and down counters go back to zero, and it is enabled again if its quota had switched it off; its clients keep their own counters. This cannot be undone.', 'Reset traffic'))) return;
    await api('POST', `/inbounds/${el.dataset.id}/reset-traffic`); toast('Traffic reset'); lastJson = ''; await load();
  };
  actions['delete-inbound'] = async (el) => {
    if (!(await confirmDialog(`Delete inbound ${el.dataset.name}?`, 'Its clients are detached from it; clients attached nowhere else are deleted too.', 'Delete'))) return;
    await api('DELETE', `/inbounds/${el.dataset.id}?deleteClients=true`);
    toast('Inbound deleted'); lastJson = ''; await load();
  };
  live.on(throttle(5000, () => load().catch(() => {})));
}

export { pageInbound } from './inbound-form.js';
