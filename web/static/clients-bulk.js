// "Add in bulk" on the clients page, as 3x-ui's: many clients with the same limits on the
// same inbounds, named by one of its five naming methods, created in one call (all or none).
import { $, api, html } from './core.js';
import { busy, clearErrors, fieldErrors, formValues, GB, t } from './ui.js';

// 3x-ui's naming methods, in its order.
const METHODS = [
  ['random', t('bulk.random')],
  ['random-prefix', t('bulk.random_prefix')],
  ['random-prefix-num', t('bulk.random_prefix_num')],
  ['random-prefix-num-postfix', t('bulk.random_prefix_num_postfix')],
  ['prefix-num-postfix', t('bulk.prefix_num_postfix')],
];
// Most clients one bulk add makes (the API takes at most 1000 per call).
const MAX_BULK = 500;

const randomName = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
};

// The emails a method makes for numbers first..last.
export function bulkEmails(method, first, last, prefix, postfix) {
  const out = [];
  for (let n = first; n <= last; n++) {
    const num = method.includes('num') ? String(n) : '';
    const random = method.startsWith('random') ? randomName() : '';
    const pre = method.includes('prefix') ? prefix : '';
    const post = method.endsWith('postfix') ? postfix : '';
    out.push(`${random}${pre}${num}${post}`);
  }
  return out;
}

export function bulkForm(inbounds, serverList) {
  const byServer = serverList.map((s) => ({ s, list: inbounds.filter((i) => i.serverId === s.id) })).filter((g) => g.list.length);
  return html`<form id="bulk-form" class="card section" novalidate>
    <h2>${t('bulk.title')}</h2>
    <div class="form-grid">
      <div><label for="b-method">${t('bulk.names')}</label><select id="b-method" name="method" data-field="method">${METHODS.map(([v, text]) => html`<option value="${v}">${text}</option>`)}</select></div>
      <div><label for="b-first">${t('bulk.first')}</label><input id="b-first" name="first" data-field="first" inputmode="numeric" value="1"></div>
      <div><label for="b-last">${t('bulk.last')}</label><input id="b-last" name="last" data-field="last" inputmode="numeric" value="10"><div class="hint">${t('bulk.how_many', { max: MAX_BULK })}</div></div>
      <div><label for="b-prefix">${t('bulk.prefix')}</label><input id="b-prefix" name="prefix" data-field="prefix" autocomplete="off"></div>
      <div><label for="b-postfix">${t('bulk.postfix')}</label><input id="b-postfix" name="postfix" data-field="postfix" autocomplete="off"></div>
      <div><label for="b-total">${t('clients.f_quota')}</label><input id="b-total" name="totalGB" data-field="totalGB" inputmode="decimal" value="0"></div>
      <div><label for="b-days">${t('bulk.days')}</label><input id="b-days" name="days" data-field="expiryTime" inputmode="numeric" value="0"></div>
      <div><label class="inline"><input type="checkbox" name="delayed"> ${t('bulk.delayed')}</label></div>
      <div><label for="b-limit">${t('clients.f_limit')}</label><input id="b-limit" name="limitIp" data-field="limitIp" inputmode="numeric" value="0"></div>
      <div><label for="b-flow">${t('clients.f_flow')}</label><select id="b-flow" name="flow" data-field="flow">${['', 'xtls-rprx-vision', 'xtls-rprx-vision-udp443'].map((f) => html`<option value="${f}">${f || t('common.none')}</option>`)}</select></div>
      <div><label for="b-reset">${t('clients.f_reset')}</label><input id="b-reset" name="reset" data-field="reset" inputmode="numeric" value="0"></div>
    </div>
    <fieldset data-field="inboundIds"><legend>${t('clients.inbounds')}</legend>${byServer.length ? byServer.map((g) => html`<div><strong>${g.s.name}</strong><div class="row">${g.list.map((i) => html`<label class="inline"><input type="checkbox" name="inboundIds" data-multi="1" value="${i.id}"> ${i.remark || i.tag} <span class="muted">${t('bulk.protocol_port', { protocol: i.protocol, port: String(i.port) })}</span></label>`)}</div></div>`) : html`<p class="muted">${t('bulk.no_inbounds')}</p>`}</fieldset>
    <div class="alert error form-error" role="alert" hidden></div>
    <div class="actions"><button type="submit" class="primary">${t('bulk.submit')}</button><button type="button" data-action="close-form">${t('common.cancel')}</button></div></form>`;
}

// Checks the form, then creates the clients in one call; the answer is `{created, emails}`,
// or null when the form itself was wrong (its fields then say why).
export async function submitBulk(form) {
  clearErrors(form);
  const v = formValues(form);
  const first = Number(v.first), last = Number(v.last);
  const local = [];
  if (!Number.isInteger(first) || first < 0) local.push({ field: 'first', message: t('clients.err_whole') });
  if (!Number.isInteger(last) || last < first) local.push({ field: 'last', message: t('bulk.err_last') });
  else if (last - first + 1 > MAX_BULK) local.push({ field: 'last', message: t('bulk.err_too_many', { n: last - first + 1, max: MAX_BULK }) });
  if (v.method.includes('prefix') && !v.method.startsWith('random') && !v.prefix.trim() && !v.postfix.trim()) local.push({ field: 'prefix', message: t('bulk.err_prefix') });
  const days = Number(v.days || 0);
  for (const [f, value, message] of [['totalGB', v.totalGB, t('clients.err_gigabytes')], ['expiryTime', v.days, t('bulk.err_days')], ['limitIp', v.limitIp, t('clients.err_whole')], ['reset', v.reset, t('clients.err_days')]]) {
    if (!(Number(value || 0) >= 0)) local.push({ field: f, message });
  }
  if (local.length) { fieldErrors(form, { fields: local }); return null; }
  const expiryTime = days > 0 ? (v.delayed ? -days * 86400000 : Date.now() + days * 86400000) : 0;
  const template = {
    totalGB: Math.round(Number(v.totalGB || 0) * GB), expiryTime, limitIp: Number(v.limitIp || 0), flow: v.flow, reset: Number(v.reset || 0), enable: true,
  };
  const emails = bulkEmails(v.method, first, last, v.prefix.trim(), v.postfix.trim());
  const body = { clients: emails.map((email) => ({ ...template, email })), inboundIds: (v.inboundIds || []).map(Number) };
  return busy(form.querySelector('[type="submit"]'), () => api('POST', '/clients/add-many', body));
}

// The delayed-start box only means something with a number of days.
export function wireBulkForm(form) {
  const delayed = form.querySelector('[name="delayed"]');
  const sync = () => { delayed.disabled = !(Number($('#b-days').value) > 0); if (delayed.disabled) delayed.checked = false; };
  $('#b-days').addEventListener('input', sync);
  sync();
}
