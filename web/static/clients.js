// The clients list with its form and bulk actions, and one client's page with its links.
import { $, allInbounds, api, BASE, enc, esc, html, navigate, pageRoot, raw, servers, show } from './core.js';
import { actions, ago, badge, busy, bytes, clearErrors, confirmDialog, dateInput, failed, fieldErrors, formValues, fromDateInput, GB, linkWarning, num, promptDialog, qrImage, switchControl, t, toast, when } from './ui.js';
import { trafficChart } from './charts.js';
import { live, throttle } from './live.js';
import { bulkForm, submitBulk, wireBulkForm } from './clients-bulk.js';

// ---- Clients ----
const DAY_MS = 86400000;
// Quick expiries from now, as 3x-ui users pick them: [days, label].
const EXPIRY_PRESETS = [[7, t('clients.days', { n: 7 })], [30, t('clients.days', { n: 30 })], [90, t('clients.days', { n: 90 })], [365, t('clients.one_year')]];
// The states a client can be in, as its badges and the list's filter name them.
const STATE = {
  online: t('common.online'), disabled: t('clients.state_disabled'), enabled: t('clients.state_enabled'),
  depleted: t('clients.state_depleted'), expiring: t('clients.state_expiring'),
};
// The subscription formats by their names; json and clash are names in every language.
const SUB_KINDS = { links: t('clients.sub_links') };
// When a client counts as expiring soon, from 3x-ui's settings: within `expireDiff` days of
// its expiry (3 when 0), or with `trafficDiff` GB or less left of a quota (never when 0). The
// API's "expiring" filter uses the same rule.
function soonRule(v = {}) {
  const days = Number(v.expireDiff) || 0;
  return { expireMs: (days > 0 ? days : 3) * DAY_MS, trafficBytes: (Number(v.trafficDiff) || 0) * GB, pageSize: Number(v.pageSize ?? 25) || 0 };
}
const listSettings = () => api('GET', '/settings').then(soonRule, () => soonRule());
function clientState(c, onlineSet, soon = soonRule()) {
  const now = Date.now();
  const left = c.totalGB - c.used;
  const out = [];
  // A disabled client cannot connect, whatever traffic it carried a moment ago.
  if (c.enable && (onlineSet?.has(c.email) || (c.lastOnline && now - c.lastOnline < 180000))) out.push(badge(STATE.online, 'online'));
  if (!c.enable) out.push(badge(STATE.disabled, 'offline'));
  if ((c.totalGB > 0 && c.used >= c.totalGB) || (c.expiryTime > 0 && c.expiryTime <= now)) out.push(badge(STATE.depleted, 'depleted'));
  else if ((c.expiryTime > now && c.expiryTime - now <= soon.expireMs) || (soon.trafficBytes > 0 && c.totalGB > 0 && left > 0 && left <= soon.trafficBytes)) out.push(badge(STATE.expiring, 'expiring'));
  return out;
}
// The largest page the API gives.
const MAX_PAGE = 500;
// The columns the list sorts by (the API's `sort` names).
const SORT_KEYS = ['id', 'email', 'inbounds', 'used', 'up', 'down', 'expiry', 'lastOnline', 'enable'];
// A column header that sorts the list by `key`; `aria-sort` says how it is sorted now.
function sortable(key, label, cls = '') {
  return html`<th data-sort="${key}" aria-sort="none" class="${cls}"><button type="button" class="sort" data-action="sort-clients">${label}</button></th>`;
}
function clientForm(c, inbounds, serverList) {
  const editing = Boolean(c);
  c = c || { email: '', uuid: '', totalGB: 0, expiryTime: 0, limitIp: 0, flow: '', enable: true, comment: '', tgId: 0, reset: 0, subId: '', inboundIds: [] };
  const attached = new Set(c.inboundIds);
  const byServer = serverList.map((s) => ({ s, list: inbounds.filter((i) => i.serverId === s.id) })).filter((g) => g.list.length);
  return html`<form id="client-form" class="card section" novalidate data-editing="${editing ? c.email : ''}">
    <h2>${editing ? t('clients.edit_title', { email: c.email }) : t('clients.add')}</h2>
    <div class="form-grid">
      <div><label for="c-email">${t('clients.f_email')}</label><input id="c-email" name="email" data-field="email" value="${c.email}" required autocomplete="off"></div>
      <div><label for="c-uuid">${t('clients.f_uuid')}</label><div class="input-group"><input id="c-uuid" name="id" data-field="id" value="${c.uuid}" placeholder="${t('clients.generated')}"><button type="button" data-action="gen" data-gen="uuid" data-target="c-uuid">${t('clients.generate')}</button></div></div>
      <div><label for="c-password">${t('clients.f_password')}</label><div class="input-group"><input id="c-password" name="password" data-field="password" value="${c.password || ''}" placeholder="${t('clients.generated')}"><button type="button" data-action="gen" data-gen="password" data-target="c-password">${t('clients.generate')}</button></div></div>
      <div><label for="c-total">${t('clients.f_quota')}</label><input id="c-total" name="totalGB" data-field="totalGB" inputmode="decimal" value="${c.totalGB ? +(c.totalGB / GB).toFixed(3) : 0}"></div>
      <div><label for="c-expiry">${t('clients.expires')}</label><input id="c-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(c.expiryTime > 0 ? c.expiryTime : 0)}"><div class="hint">${t('clients.expires_hint')}</div>
        <div class="row" role="group" aria-label="${t('clients.presets')}">${EXPIRY_PRESETS.map(([days, text]) => html`<button type="button" class="small" data-action="expiry-preset" data-days="${days}">${text}</button>`)}</div></div>
      <div><label for="c-delay">${t('clients.f_delay')}</label><input id="c-delay" name="delayDays" data-field="delayDays" inputmode="numeric" value="${c.expiryTime < 0 ? -c.expiryTime / DAY_MS : ''}"><div class="hint">${t('clients.delay_hint')}</div></div>
      <div><label for="c-limit">${t('clients.f_limit')}</label><input id="c-limit" name="limitIp" data-field="limitIp" inputmode="numeric" value="${c.limitIp}"></div>
      <div><label for="c-flow">${t('clients.f_flow')}</label><select id="c-flow" name="flow" data-field="flow">${['', 'xtls-rprx-vision', 'xtls-rprx-vision-udp443'].map((f) => html`<option value="${f}" ${raw(f === c.flow ? 'selected' : '')}>${f || t('common.none')}</option>`)}</select></div>
      <div><label for="c-reset">${t('clients.f_reset')}</label><input id="c-reset" name="reset" data-field="reset" inputmode="numeric" value="${c.reset}"></div>
      <div><label for="c-sub">${t('clients.sub_id')}</label><input id="c-sub" name="subId" data-field="subId" value="${c.subId}" placeholder="${t('clients.generated')}"></div>
      <div><label for="c-tg">${t('clients.f_tg')}</label><input id="c-tg" name="tgId" data-field="tgId" inputmode="numeric" value="${c.tgId || ''}"></div>
      <div><label for="c-comment">${t('clients.comment')}</label><input id="c-comment" name="comment" data-field="comment" value="${c.comment}"></div>
      <div><label class="inline"><input type="checkbox" name="enable" ${raw(c.enable ? 'checked' : '')}> ${t('common.enabled')}</label></div>
    </div>
    <fieldset data-field="inboundIds"><legend>${t('clients.inbounds')}</legend>${byServer.length ? byServer.map((g) => html`<div><strong>${g.s.name}</strong><div class="row">${g.list.map((i) => html`<label class="inline"><input type="checkbox" name="inboundIds" data-multi="1" value="${i.id}" ${raw(attached.has(i.id) ? 'checked' : '')}> ${i.remark || i.tag} (${i.protocol}:${i.port})</label>`)}</div></div>`) : html`<p class="muted">${t('clients.no_inbounds')}</p>`}</fieldset>
    <div class="alert error form-error" role="alert" hidden></div>
    <div class="actions"><button type="submit" class="primary">${editing ? t('common.save') : t('clients.add')}</button><button type="button" data-action="close-form">${t('common.cancel')}</button></div></form>`;
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
  for (const [f, message] of [['totalGB', t('clients.err_gigabytes')], ['limitIp', t('clients.err_whole')], ['reset', t('clients.err_days')], ['delayDays', t('clients.err_days')]]) if (!(Number(v[f] || 0) >= 0)) local.push({ field: f, message });
  if (!body.email) local.push({ field: 'email', message: t('clients.err_required') });
  else if (/\s/.test(body.email)) local.push({ field: 'email', message: t('clients.err_spaces') });
  else if ((body.email.match(/@/g) || []).length > 1) local.push({ field: 'email', message: t('clients.err_at') });
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
      <div class="grow"><label for="search">${t('common.search')}</label><input id="search" type="search" placeholder="${t('clients.search_hint')}" value="${q.get('search') || ''}"></div>
      <div><label for="filter">${t('clients.show')}</label><select id="filter">${[['', t('clients.all')], ...['online', 'depleted', 'expiring', 'disabled', 'enabled'].map((s) => [s, STATE[s]])].map(([v, text]) => html`<option value="${v}" ${raw(v === (q.get('filter') || '') ? 'selected' : '')}>${text}</option>`)}</select></div>
      <div><label for="inbound-filter">${t('clients.inbound')}</label><select id="inbound-filter"><option value="">${t('clients.all')}</option></select></div>
      <button class="primary" data-action="add-client">${t('clients.add')}</button><button data-action="add-bulk">${t('clients.add_bulk')}</button></div>
    <div id="client-editor"></div>
    <div class="toolbar" id="bulk" aria-label="${t('clients.bulk_actions')}"><span id="selected-count" class="muted">${t('clients.selected', { n: 0 })}</span>
      <button class="small" data-action="bulk" data-op="enable" disabled>${t('clients.enable')}</button><button class="small" data-action="bulk" data-op="disable" disabled>${t('clients.disable')}</button>
      <button class="small" data-action="bulk" data-op="reset-traffic" disabled>${t('clients.reset_traffic')}</button><button class="small" data-action="bulk" data-op="extend" disabled>${t('clients.extend_more')}</button><button class="small danger" data-action="bulk" data-op="delete" disabled>${t('common.delete')}</button>
      <button class="small danger" data-action="delete-depleted">${t('clients.delete_depleted')}</button></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('clients.list_label')}"><table class="cards"><thead><tr><th><input type="checkbox" id="select-all" aria-label="${t('clients.select_all')}"></th>${sortable('email', t('clients.email'))}<th>${t('clients.status')}</th>${sortable('inbounds', t('clients.inbounds'))}${sortable('used', t('clients.used'))}${sortable('up', html`<span aria-hidden="true">↑ </span>${t('clients.upload')}`)}${sortable('down', html`<span aria-hidden="true">↓ </span>${t('clients.download')}`)}${sortable('expiry', t('clients.expiry'), 'hide-phone')}${sortable('lastOnline', t('clients.last_online'), 'hide-phone')}${sortable('enable', t('common.enabled'))}<th><span class="skip">${t('common.actions')}</span></th></tr></thead><tbody id="client-rows"><tr><td colspan="11" class="empty">${t('common.loading')}</td></tr></tbody></table></div>
    <nav class="toolbar" id="pager" aria-label="${t('clients.pages_label')}" hidden><button class="small" data-page="prev">${t('clients.page_prev')}</button><span id="page-of" aria-live="polite"></span><button class="small" data-page="next">${t('clients.page_next')}</button></nav>
    <p id="client-total" class="muted" aria-live="polite"></p>`);
  let serverList = [], inbounds = [], clients = [], online = new Set(), lastJson = '', rule = soonRule(), page = 0, shown = [];
  // The server sorts, filters and pages (a fleet may have 100,000 clients): one page is here.
  let sort = SORT_KEYS.includes(q.get('sort')) ? q.get('sort') : 'id', order = q.get('order') === 'desc' ? 'desc' : 'asc';
  const selected = new Set();
  const inboundName = (id) => { const i = inbounds.find((x) => x.id === id); return i ? `${i.remark || i.tag}${serverList.length > 1 ? ' @ ' + i.serverName : ''}` : `#${id}`; };
  const load = async () => {
    const params = new URLSearchParams();
    if ($('#search').value.trim()) params.set('search', $('#search').value.trim());
    if ($('#filter').value) params.set('state', $('#filter').value);
    if ($('#inbound-filter').value) params.set('inbound', $('#inbound-filter').value);
    // 3x-ui's page size; 0 (every client on one page) is the API's largest page.
    const size = rule.pageSize > 0 ? Math.min(rule.pageSize, MAX_PAGE) : MAX_PAGE;
    params.set('sort', sort);
    params.set('order', order);
    params.set('page', page + 1);
    params.set('pageSize', size);
    const answer = await api('GET', `/clients?${params}`);
    const pages = Math.max(1, Math.ceil(answer.total / size));
    // The last page emptied (deleted or filtered away): show the one that is now last.
    if (page > pages - 1) { page = pages - 1; return load(); }
    clients = answer.items;
    shown = clients;
    const json = JSON.stringify([answer, [...online], page, sort, order]);
    if (json === lastJson) return;
    lastJson = json;
    for (const th of root.querySelectorAll('th[data-sort]')) th.setAttribute('aria-sort', th.dataset.sort !== sort ? 'none' : order === 'asc' ? 'ascending' : 'descending');
    $('#client-total').textContent = t('clients.matching', { n: answer.total });
    const pager = $('#pager');
    pager.hidden = pages < 2;
    $('#page-of').textContent = t('clients.page_of', { page: page + 1, pages });
    pager.querySelector('[data-page="prev"]').disabled = page === 0;
    pager.querySelector('[data-page="next"]').disabled = page >= pages - 1;
    show($('#client-rows'), shown.length ? shown.map((c) => html`<tr data-client="${c.email}">
      <td><input type="checkbox" data-select="${c.email}" ${raw(selected.has(c.email) ? 'checked' : '')} aria-label="${t('clients.select_one', { email: c.email })}"></td>
      <td><a href="${BASE}/panel/client?email=${enc(c.email)}">${c.email}</a>${c.comment ? html`<div class="muted">${c.comment}</div>` : ''}</td>
      <td>${clientState(c, online, rule)}</td><td class="wrap">${c.inboundIds.map(inboundName).join(', ') || '—'}</td>
      <td data-used="${c.used}">${c.totalGB ? t('clients.used_of', { used: bytes(c.used), total: bytes(c.totalGB) }) : bytes(c.used)}</td>
      <td data-up="${c.up}">${bytes(c.up)}</td><td data-down="${c.down}">${bytes(c.down)}</td><td class="hide-phone" data-expiry="${c.expiryTime}">${c.expiryTime ? when(c.expiryTime) : t('common.never')}</td>
      <td class="hide-phone">${ago(c.lastOnline)}</td><td>${switchControl(c.enable, t('clients.enable_one', { email: c.email }), `data-toggle-client="${esc(c.email)}"`)}</td>
      <td><div class="row"><button class="small" data-action="edit-client" data-email="${c.email}">${t('common.edit')}</button><button class="small" data-action="reset-client" data-email="${c.email}">${t('clients.reset')}</button><button class="small danger" data-action="delete-client" data-email="${c.email}">${t('common.delete')}</button></div></td></tr>`)
      : html`<tr><td colspan="11" class="empty">${filtered() ? t('clients.none_match') : t('clients.none_yet')}</td></tr>`);
    showSelection();
  };
  const filtered = () => Boolean($('#search').value.trim() || $('#filter').value || $('#inbound-filter').value);
  // The bulk actions act on the selection, so they are offered only while there is one.
  const showSelection = () => {
    $('#selected-count').textContent = t('clients.selected', { n: selected.size });
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
        toast(t('clients.saved', { email: saved.email }));
        show($('#client-editor'), '');
        await reload();
      } catch (err) { fieldErrors(form, err); }
    });
    $('#c-email').focus();
  };
  // The forms list the inbounds to attach to: they open once those are known.
  const ready = servers().then(async (list) => {
    serverList = list;
    rule = await listSettings();
    inbounds = await allInbounds(list);
    const pre = q.get('inbound');
    show($('#inbound-filter'), [html`<option value="">${t('clients.all')}</option>`, ...inbounds.map((i) => html`<option value="${i.id}" ${raw(String(i.id) === pre ? 'selected' : '')}>${inboundName(i.id)}</option>`)]);
    await reload();
  });
  ready.catch(failed);
  let timer;
  // A new search or filter starts at the first page.
  const fresh = () => { page = 0; return reload().catch(failed); };
  $('#search').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(fresh, 250); });
  $('#filter').addEventListener('change', fresh);
  $('#inbound-filter').addEventListener('change', fresh);
  // A column header sorts by it; again, the other way round.
  actions['sort-clients'] = (el) => {
    const key = el.closest('th').dataset.sort;
    order = key === sort && order === 'asc' ? 'desc' : 'asc';
    sort = key;
    page = 0;
    return reload();
  };
  $('#pager').addEventListener('click', (e) => {
    const to = e.target.closest('[data-page]')?.dataset.page;
    if (!to) return;
    page += to === 'next' ? 1 : -1;
    $('#select-all').checked = false;
    reload().catch(failed);
  });
  root.addEventListener('change', async (e) => {
    const el = e.target;
    if (el.id === 'select-all') { shown.forEach((c) => (el.checked ? selected.add(c.email) : selected.delete(c.email))); lastJson = ''; await load(); return; }
    if (el.dataset.select) { el.checked ? selected.add(el.dataset.select) : selected.delete(el.dataset.select); showSelection(); return; }
    if (el.dataset.toggleClient !== undefined) {
      try { await api('PUT', `/clients/${enc(el.dataset.toggleClient)}`, { enable: el.checked }); toast(el.checked ? t('clients.enabled_toast') : t('clients.disabled_toast')); await reload(); } catch (err) { el.checked = !el.checked; failed(err); }
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
        toast(t('clients.added', { n: done.created }));
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
    if (!(await confirmDialog(t('clients.reset_title', { email: el.dataset.email }), t('clients.reset_text'), t('clients.reset_traffic')))) return;
    await api('POST', `/clients/${enc(el.dataset.email)}/reset-traffic`); toast(t('clients.traffic_reset')); await reload();
  };
  actions['delete-client'] = async (el) => {
    if (!(await confirmDialog(t('clients.delete_title', { email: el.dataset.email }), t('clients.delete_text'), t('common.delete')))) return;
    await api('DELETE', `/clients/${enc(el.dataset.email)}`); selected.delete(el.dataset.email); toast(t('clients.deleted')); await reload();
  };
  // One call for the whole selection: it is applied to all of them or, on any problem, to none.
  actions.bulk = async (el) => {
    const emails = [...selected];
    if (!emails.length) { toast(t('clients.select_first'), 'error'); return; }
    const op = el.dataset.op;
    const n = emails.length;
    const body = { emails, action: op };
    if (op === 'delete' && !(await confirmDialog(t('clients.bulk_delete_title', { n }), t('clients.bulk_delete_text'), t('common.delete')))) return;
    if (op === 'reset-traffic' && !(await confirmDialog(t('clients.bulk_reset_title', { n }), t('clients.bulk_reset_text'), t('clients.reset_traffic')))) return;
    if (op === 'extend') {
      const days = await promptDialog(t('clients.bulk_extend_title', { n }), t('clients.days_to_add'), {
        value: '30', action: t('clients.extend'), hint: t('clients.extend_hint'),
        check: (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 3650 ? '' : t('clients.err_extend_days')),
      });
      if (days === null) return;
      body.days = Number(days);
    }
    const r = await busy(el, () => api('POST', '/clients/bulk', body));
    selected.clear();
    $('#select-all').checked = false;
    const done = { n: r.count, days: body.days };
    const said = { enable: t('clients.bulk_enabled', done), disable: t('clients.bulk_disabled', done), 'reset-traffic': t('clients.bulk_reset', done), delete: t('clients.bulk_deleted', done), extend: t('clients.bulk_extended', done) }[op];
    toast(t('clients.bulk_done', { done: said, servers: t('clients.servers_updated', { n: r.pushes.length }) }));
    await reload();
  };
  actions['delete-depleted'] = async () => {
    if (!(await confirmDialog(t('clients.depleted_title'), t('clients.depleted_text'), t('common.delete')))) return;
    const r = await api('POST', '/clients/delete-depleted');
    toast(t('clients.depleted_deleted', { n: r.length }));
    await reload();
  };
  live.on((snap) => { online = new Set(snap.online); });
  live.on(throttle(3000, () => { if (!$('#client-form')) load().catch(() => {}); }));
}

// ---- One client ----
export function pageClient() {
  const email = new URLSearchParams(location.search).get('email');
  const root = pageRoot();
  if (!email) { show(root, html`<p>${t('clients.no_client')} <a href="${BASE}/panel/clients">${t('clients.all_clients')}</a></p>`); return; }
  show(root, html`<div class="grid">
      <section class="card" aria-labelledby="ci-title"><h2 id="ci-title">${t('clients.client')}</h2><div id="info">${t('common.loading')}</div>
        <div class="actions"><button data-action="client-toggle" id="toggle">…</button><button data-action="client-reset">${t('clients.reset_traffic')}</button><a class="button" href="${BASE}/panel/clients?search=${enc(email)}">${t('clients.edit_in_list')}</a><button class="danger" data-action="client-delete">${t('common.delete')}</button></div></section>
      <section class="card" aria-labelledby="use-title"><h2 id="use-title">${t('clients.usage_title')}</h2><div id="usage">${t('common.loading')}</div><div id="client-chart"></div></section>
      <section class="card" aria-labelledby="ip-title"><h2 id="ip-title">${t('clients.addresses')}</h2><div id="ips">${t('common.loading')}</div></section>
    </div>
    <section class="card section" aria-labelledby="links-title"><h2 id="links-title">${t('clients.links_title')}</h2><div id="links">${t('common.loading')}</div></section>`);
  let client = null;
  const load = async () => {
    const [c, serverList, rule] = await Promise.all([api('GET', `/clients/${enc(email)}`), servers(), listSettings()]);
    client = c;
    $('#title').textContent = t('clients.title', { email: c.email });
    $('#toggle').textContent = c.enable ? t('clients.disable') : t('clients.enable');
    show($('#info'), html`<p>${clientState(c, new Set(live.last?.online || []), rule)}${c.enable ? badge(STATE.enabled, 'enabled') : ''}</p><dl class="kv">
      <dt>${t('clients.used')}</dt><dd id="client-used" data-used="${c.used}">${t('clients.used_up_down', { used: bytes(c.used), up: bytes(c.up), down: bytes(c.down) })}</dd><dt>${t('clients.quota')}</dt><dd>${c.totalGB ? bytes(c.totalGB) : t('common.unlimited')}</dd>
      <dt>${t('clients.all_time')}</dt><dd>${bytes(c.allTime)}</dd><dt>${t('clients.expires')}</dt><dd>${c.expiryTime ? when(c.expiryTime) : t('common.never')}</dd>
      <dt>${t('clients.last_online')}</dt><dd>${c.lastOnline ? t('clients.when_ago', { when: when(c.lastOnline), ago: ago(c.lastOnline) }) : t('common.never')}</dd><dt>${t('clients.ip_limit')}</dt><dd>${c.limitIp ? num(c.limitIp) : t('common.none')}</dd>
      <dt>UUID</dt><dd class="mono">${c.uuid}</dd><dt>${t('clients.password')}</dt><dd class="mono">${c.password}</dd><dt>${t('clients.sub_id')}</dt><dd class="mono">${c.subId}</dd>
      <dt>${t('clients.auto_renew')}</dt><dd>${c.reset ? t('clients.days', { n: c.reset }) : t('clients.off')}</dd><dt>${t('clients.comment')}</dt><dd>${c.comment || '—'}</dd></dl>`);
    const perServer = await Promise.all(serverList.map(async (s) => {
      try { const traffic = await api('GET', `/servers/${s.id}/traffic`); const row = traffic.clients.find((x) => x.name === c.email); return row ? { s, row } : null; } catch { return null; }
    }));
    const rows = perServer.filter(Boolean);
    show($('#usage'), rows.length ? html`<table><thead><tr><th>${t('clients.server')}</th><th>${t('clients.up')}</th><th>${t('clients.down')}</th></tr></thead><tbody>${rows.map(({ s, row }) => html`<tr><td>${s.name}</td><td>${bytes(row.up)}</td><td>${bytes(row.down)}</td></tr>`)}</tbody></table>` : html`<p class="muted">${t('clients.no_traffic')}</p>`);
    try { show($('#client-chart'), trafficChart(await api('GET', `/clients/${enc(email)}/history?hours=24`), 24, 'client-traffic')); } catch { /* optional */ }
  };
  const loadIps = async () => {
    try {
      const ips = await api('GET', `/clients/${enc(email)}/ips`);
      show($('#ips'), ips.length ? html`<table><thead><tr><th>${t('clients.address')}</th><th>${t('clients.last_seen')}</th><th>${t('clients.state')}</th></tr></thead><tbody>${ips.map((r) => html`<tr><td class="mono">${r.ip}</td><td>${ago(r.last_seen ?? r.lastSeen)}</td><td>${r.refused ? badge(t('clients.refused'), 'error') : ''}</td></tr>`)}</tbody></table><div class="actions"><button class="small" data-action="clear-ips">${t('clients.forget_ips')}</button></div>` : html`<p class="muted">${t('clients.no_ips')}</p>`);
    } catch (e) { show($('#ips'), html`<p class="muted">${e.message}</p>`); }
  };
  const loadLinks = async () => {
    try {
      const l = await api('GET', `/clients/${enc(email)}/links`);
      const subs = Object.entries(l.subscription || {}).filter(([, url]) => url);
      show($('#links'), html`${(l.warning_servers || []).map((w) => html`<div class="alert warn" data-link-warning>${linkWarning({ ...w, link_warning: true })}</div>`)}
        <h3>${t('clients.subscription')}</h3>${subs.length ? html`<ul class="links">${subs.map(([kind, url]) => html`<li><strong>${SUB_KINDS[kind] ?? kind}</strong> <button class="small" data-action="copy" data-copy="${url}" data-what="${t('clients.sub_copied')}">${t('common.copy')}</button><div class="link-url mono" data-sub="${kind}">${url}</div><details><summary>${t('clients.qr')}</summary>${qrImage(url, t('clients.sub_qr', { kind: SUB_KINDS[kind] ?? kind }))}</details></li>`)}</ul>` : html`<p class="muted">${t('clients.subs_off')}</p>`}
        <h3>${t('clients.links')}</h3>${l.links.length ? html`<ul class="links">${l.links.map((k) => html`<li><strong>${k.remark || k.inbound}</strong> <span class="muted">${k.server} · ${k.protocol}</span> <button class="small" data-action="copy" data-copy="${k.url}" data-what="${t('clients.link_copied')}">${t('common.copy')}</button><div class="link-url mono" data-link="${k.protocol}">${k.url}</div><details><summary>${t('clients.qr')}</summary>${qrImage(k.url, k.remark || k.inbound)}</details></li>`)}</ul>` : html`<p class="muted">${t('clients.no_links')}</p>`}`);
    } catch (e) {
      show($('#links'), html`<div class="alert error" role="alert">${t('clients.links_failed', { error: e.message })}</div>`);
    }
  };
  actions['client-toggle'] = async () => { await api('PUT', `/clients/${enc(email)}`, { enable: !client.enable }); toast(client.enable ? t('clients.disabled_toast') : t('clients.enabled_toast')); await load(); };
  actions['client-reset'] = async () => {
    if (!(await confirmDialog(t('clients.reset_title', { email }), t('clients.reset_text'), t('clients.reset_traffic')))) return;
    await api('POST', `/clients/${enc(email)}/reset-traffic`); toast(t('clients.traffic_reset')); await load();
  };
  actions['client-delete'] = async () => {
    if (!(await confirmDialog(t('clients.delete_title', { email }), t('clients.delete_text'), t('common.delete')))) return;
    await api('DELETE', `/clients/${enc(email)}`); navigate(`${BASE}/panel/clients`);
  };
  actions['clear-ips'] = async () => { await api('DELETE', `/clients/${enc(email)}/ips`); toast(t('clients.ips_forgotten')); await loadIps(); };
  load().catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
  loadIps(); loadLinks();
  live.on(throttle(3000, () => load().catch(() => {})));
}
