// "Add in bulk" on the clients page, as 3x-ui's: many clients with the same limits on the
// same inbounds, named by one of its five naming methods, created in one call (all or none).
import { $, api, html } from './core.js';
import { busy, clearErrors, fieldErrors, formValues, GB } from './ui.js';

// 3x-ui's naming methods, in its order.
const METHODS = [
  ['random', 'Random'],
  ['random-prefix', 'Random + prefix'],
  ['random-prefix-num', 'Random + prefix + number'],
  ['random-prefix-num-postfix', 'Random + prefix + number + postfix'],
  ['prefix-num-postfix', 'Prefix + number + postfix'],
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
    <h2>Add clients in bulk</h2>
    <div class="form-grid">
      <div><label for="b-method">Names</label><select id="b-method" name="method" data-field="method">${METHODS.map(([v, t]) => html`<option value="${v}">${t}</option>`)}</select></div>
      <div><label for="b-first">First number</label><input id="b-first" name="first" data-field="first" inputmode="numeric" value="1"></div>
      <div><label for="b-last">Last number</label><input id="b-last" name="last" data-field="last" inputmode="numeric" value="10"><div class="hint">How many: last − first + 1, at most ${MAX_BULK}</div></div>
      <div><label for="b-prefix">Prefix</label><input id="b-prefix" name="prefix" data-field="prefix" autocomplete="off"></div>
      <div><label for="b-postfix">Postfix</label><input id="b-postfix" name="postfix" data-field="postfix" autocomplete="off"></div>
      <div><label for="b-total">Quota (GB, 0 = unlimited)</label><input id="b-total" name="totalGB" data-field="totalGB" inputmode="decimal" value="0"></div>
      <div><label for="b-days">Days until expiry (0 = never)</label><input id="b-days" name="days" data-field="expiryTime" inputmode="numeric" value="0"></div>
      <div><label class="inline"><input type="checkbox" name="delayed"> Start counting the days at first use</label></div>
      <div><label for="b-limit">IP limit (0 = none)</label><input id="b-limit" name="limitIp" data-field="limitIp" inputmode="numeric" value="0"></div>
      <div><label for="b-flow">Flow (VLESS)</label><select id="b-flow" name="flow" data-field="flow">${['', 'xtls-rprx-vision', 'xtls-rprx-vision-udp443'].map((f) => html`<option value="${f}">${f || 'none'}</option>`)}</select></div>
      <div><label for="b-reset">Auto-renew (days, 0 = off)</label><input id="b-reset" name="reset" data-field="reset" inputmode="numeric" value="0"></div>
    </div>
    <fieldset data-field="inboundIds"><legend>Inbounds</legend>${byServer.length ? byServer.map((g) => html`<div><strong>${g.s.name}</strong><div class="row">${g.list.map((i) => html`<label class="inline"><input type="checkbox" name="inboundIds" data-multi="1" value="${i.id}"> ${i.remark || i.tag} <span class="muted">(${i.protocol}, port ${i.port})</span></label>`)}</div></div>`) : html`<p class="muted">No inbounds yet: clients can be attached later.</p>`}</fieldset>
    <div class="alert error form-error" role="alert" hidden></div>
    <div class="actions"><button type="submit" class="primary">Add clients</button><button type="button" data-action="close-form">Cancel</button></div></form>`;
}

// Checks the form, then creates the clients in one call; the answer is `{created, emails}`,
// or null when the form itself was wrong (its fields then say why).
export async function submitBulk(form) {
  clearErrors(form);
  const v = formValues(form);
  const first = Number(v.first), last = Number(v.last);
  const local = [];
  if (!Number.isInteger(first) || first < 0) local.push({ field: 'first', message: 'must be a whole number, 0 or more' });
  if (!Number.isInteger(last) || last < first) local.push({ field: 'last', message: 'must be a whole number, at least the first' });
  else if (last - first + 1 > MAX_BULK) local.push({ field: 'last', message: `makes ${last - first + 1} clients; at most ${MAX_BULK} at once` });
  if (v.method.includes('prefix') && !v.method.startsWith('random') && !v.prefix.trim() && !v.postfix.trim()) local.push({ field: 'prefix', message: 'is needed (or a postfix) when names have no random part' });
  const days = Number(v.days || 0);
  for (const [f, value, label] of [['totalGB', v.totalGB, 'a number of gigabytes'], ['expiryTime', v.days, 'a whole number of days'], ['limitIp', v.limitIp, 'a whole number'], ['reset', v.reset, 'a number of days']]) {
    if (!(Number(value || 0) >= 0)) local.push({ field: f, message: `must be ${label}, 0 or more` });
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
