// Shared presentation: formatting, feedback (toasts, dialogs, field errors), form helpers,
// the data-action click registry and the small widgets several pages draw.
import { $, $$, API, api, enc, html, pageData, raw, said, show } from './core.js';
import { LANG, LOCALE, num, t } from './i18n.js';

// ---- Formatting ----
export function bytes(n) {
  n = Number(n) || 0;
  const units = ['unit.b', 'unit.kb', 'unit.mb', 'unit.gb', 'unit.tb', 'unit.pb'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  const digits = i === 0 ? 0 : (n < 10 ? 2 : 1);
  return `${num(n, { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${t(units[i])}`;
}
export function duration(secs) {
  secs = Math.floor(Number(secs) || 0);
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  if (d) return t('time.days_hours', { d, h });
  if (h) return t('time.hours_minutes', { h, m });
  if (m) return t('time.minutes', { m });
  return t('time.seconds', { s: secs });
}
export function ago(ms) {
  if (!ms) return t('common.never');
  const s = (Date.now() - ms) / 1000;
  if (s < 0) return t('common.in', { time: duration(-s) });
  if (s < 5) return t('common.just_now');
  return t('common.ago', { time: duration(s) });
}
// Dates in the reader's language and the browser's zone, in the Persian (Jalali) calendar
// when the `datepicker` setting says jalalian, else the Gregorian one (also in Persian, whose
// locale would otherwise default to Jalali).
const calendar = { calendar: pageData.calendar === 'jalalian' ? 'persian' : 'gregory' };
export function when(ms) { return ms ? new Date(ms).toLocaleString(LOCALE, calendar) : '—'; }
export { LANG, LOCALE, num, t };
// A text with elements inside it (a link, a command): each `{name}` the catalog text holds
// becomes `elements[name]` (markup made with html``), the rest is escaped text.
export function rich(text, elements) {
  return html`${text.split(/\{(\w+)\}/).map((part, i) => (i % 2 ? elements[part] ?? `{${part}}` : part))}`;
}
export function pct(used, total) { return total > 0 ? Math.min(100, (used / total) * 100) : 0; }
export function meter(percent, label) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  return html`<div class="meter ${p > 85 ? 'high' : ''}" role="meter" aria-label="${label}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p.toFixed(0)}"><span data-width="${p.toFixed(1)}"></span></div>`;
}
// Widths are set after rendering (no inline style attributes in markup).
export function applyWidths(root = document) {
  $$('[data-width]', root).forEach((el) => { el.style.width = `${el.dataset.width}%`; });
}
export function badge(text, kind) { return html`<span class="badge ${kind || text}">${text}</span>`; }
export const GB = 1024 ** 3;

// ---- Feedback ----
export function toast(message, kind = 'ok') {
  const note = document.createElement('div');
  note.className = `toast ${kind}`;
  note.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  note.textContent = message;
  $('#toasts')?.appendChild(note);
  setTimeout(() => note.remove(), kind === 'error' ? 8000 : 4000);
}
export function failed(e) { toast(e.message || String(e), 'error'); }
export function confirmDialog(title, text, action = t('common.confirm')) {
  return new Promise((resolve) => {
    const d = document.createElement('dialog');
    d.setAttribute('aria-labelledby', 'dialog-title');
    show(d, html`<form method="dialog"><h2 id="dialog-title">${title}</h2><p>${text}</p>
      <div class="actions"><button value="no" autofocus>${t('common.cancel')}</button><button value="yes" class="danger solid">${action}</button></div></form>`);
    document.body.appendChild(d);
    d.addEventListener('close', () => { resolve(d.returnValue === 'yes'); d.remove(); });
    d.showModal();
  });
}
// Asks for one value in the panel's own dialog; resolves to the trimmed text, or null when
// cancelled. `check(value)` returns a problem to show beside the input (the dialog stays).
export function promptDialog(title, label, { value = '', action = t('common.ok'), hint = '', check } = {}) {
  return new Promise((resolve) => {
    const d = document.createElement('dialog');
    d.setAttribute('aria-labelledby', 'dialog-title');
    show(d, html`<form method="dialog" novalidate><h2 id="dialog-title">${title}</h2>
      <div><label for="prompt-value">${label}</label><input id="prompt-value" name="value" value="${value}" autocomplete="off">${hint ? html`<div class="hint">${hint}</div>` : ''}</div>
      <div class="actions"><button value="yes" class="primary">${action}</button><button type="button" data-close>${t('common.cancel')}</button></div></form>`);
    document.body.appendChild(d);
    const form = d.querySelector('form');
    const input = d.querySelector('input');
    form.addEventListener('submit', (e) => {
      const problem = check?.(input.value.trim());
      if (problem) { e.preventDefault(); fieldErrors(form, { fields: [{ field: 'value', message: problem }] }); }
    });
    d.querySelector('[data-close]').addEventListener('click', () => d.close('no'));
    d.addEventListener('close', () => { resolve(d.returnValue === 'yes' ? input.value.trim() : null); d.remove(); });
    d.showModal();
    input.select();
  });
}
// `what` is the toast after copying (default: "Copied to the clipboard").
export async function copyText(text, what = t('common.copied')) {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {
      const ta = document.createElement('textarea');
      ta.value = text; ta.setAttribute('readonly', ''); ta.className = 'skip';
      document.body.appendChild(ta); ta.select(); document.execCommand('copy'); ta.remove();
    }
    toast(what);
  } catch (e) { toast(t('common.copy_failed', { error: e.message }), 'error'); }
}
// Shows field errors from an API answer next to the inputs named after them. An error about
// a whole section, or a path no control is bound to, goes at the top of the innermost
// element whose data-section is a prefix of its path; the rest go to the form's general
// error box. Returns whether anything was shown.
// A field error from the API in the reader's language when it names a catalog message (its
// `key` and `args`), else in the controller's own words.
const fieldMessage = said;
export function fieldErrors(form, err, aliases = {}) {
  clearErrors(form);
  const general = [];
  const fields = err.fields?.length ? err.fields : [];
  const note = (message) => {
    const msg = document.createElement('div');
    msg.className = 'field-error';
    msg.id = `err-${Math.random().toString(36).slice(2)}`;
    msg.textContent = message;
    return msg;
  };
  for (const f of fields) {
    const name = aliases[f.field] || aliasFor(aliases, f.field) || f.field;
    const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.querySelector(`[name="${CSS.escape(name)}"]`);
    const section = input ? null : sectionOf(form, name);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      const msg = note(fieldMessage(f));
      input.setAttribute('aria-describedby', msg.id);
      (input.closest('.input-group') || input).insertAdjacentElement('afterend', msg);
      openDetails(input);
    } else if (section) {
      const path = section.dataset.section;
      const msg = note(name === path ? fieldMessage(f) : `${name.slice(path.length).replace(/^\./, '')}: ${fieldMessage(f)}`);
      msg.classList.add('section-error');
      msg.setAttribute('role', 'alert');
      const head = section.querySelector(':scope > legend, :scope > summary');
      if (head) head.insertAdjacentElement('afterend', msg); else section.prepend(msg);
      section.setAttribute('aria-describedby', msg.id);
      openDetails(msg);
    } else general.push(`${f.field}: ${fieldMessage(f)}`);
  }
  if (!fields.length) general.push(err.message);
  const box = form.querySelector('.form-error');
  if (box) { box.textContent = general.join('; '); box.hidden = !general.length; }
  else if (general.length) toast(general.join('; '), 'error');
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
  else form.querySelector('.section-error')?.scrollIntoView({ block: 'center' });
}
function sectionOf(form, field) {
  let best = null;
  for (const s of form.querySelectorAll('[data-section]')) {
    const p = s.dataset.section;
    const inside = field === p || field.startsWith(`${p}.`) || field.startsWith(`${p}[`);
    if (inside && (!best || p.length > best.dataset.section.length)) best = s;
  }
  return best;
}
function openDetails(el) {
  for (let d = el.closest('details'); d; d = d.parentElement?.closest('details')) d.open = true;
}
function aliasFor(aliases, field) {
  for (const [prefix, target] of Object.entries(aliases)) if (prefix.endsWith('*') && field.startsWith(prefix.slice(0, -1))) return target;
  return null;
}
export function clearErrors(form) {
  $$('.field-error', form).forEach((e) => e.remove());
  $$('[aria-invalid]', form).forEach((e) => { e.removeAttribute('aria-invalid'); e.removeAttribute('aria-describedby'); });
  $$('[data-section][aria-describedby]', form).forEach((e) => e.removeAttribute('aria-describedby'));
  const box = form.querySelector('.form-error');
  if (box) { box.hidden = true; box.textContent = ''; }
}
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') { if (el.dataset.multi) (out[el.name] ||= []).push(...(el.checked ? [el.value] : [])); else out[el.name] = el.checked; }
    else out[el.name] = el.value;
  }
  return out;
}
export async function busy(button, work) {
  const was = button?.disabled;
  if (button) button.disabled = true;
  try { return await work(); } finally { if (button) button.disabled = was; }
}

// ---- Actions: elements with data-action call actions[name](element, event) ----
export const actions = {};
document.addEventListener('click', (e) => {
  const el = e.target.closest('[data-action]');
  if (!el || !actions[el.dataset.action]) return;
  e.preventDefault();
  Promise.resolve(actions[el.dataset.action](el, e)).catch(failed);
});

// ---- Shared pieces ----
// A server's state (the dashboard's words), a core's state and a task's status, in the
// reader's language; a value not listed shows as it is.
const SERVER_STATES = { online: t('common.online'), offline: t('common.offline'), pending: t('common.pending'), error: t('ui.state_error') };
const CORE_STATES = { running: t('ui.core_running'), stop: t('ui.core_stop'), error: t('ui.state_error') };
const TASK_STATUSES = { pending: t('ui.task_pending'), running: t('ui.task_running'), completed: t('ui.task_completed'), failed: t('ui.task_failed'), expired: t('ui.task_expired') };
export const serverState = (state) => SERVER_STATES[state] ?? state;
export const coreState = (state) => CORE_STATES[state] ?? state;
export const taskStatus = (status) => TASK_STATUSES[status] ?? status;
export function stateBadge(s) {
  const state = s.state || s.status;
  return badge(serverState(state), state);
}
// The core's state, with its own words when it does not run or refused the last settings.
export function coreText(s) {
  const core = s.live?.core;
  const state = core ? `${coreState(core.state)}${s.core_version ? ' · ' + s.core_version : ''}` : (s.core_version || '—');
  const error = core?.state === 'error' ? core.message : '';
  return html`<span data-core-state="${core?.state || 'unknown'}">${state}</span>${error ? html`<div class="error-text" data-core-message>${error}</div>` : ''}${s.apply_error ? html`<div class="error-text" data-apply-error>${t('ui.refused_settings', { error: s.apply_error })}</div>` : ''}`;
}
// The warning of a server whose share links have no public address (`s.link_warning`), in
// the reader's words.
export function linkWarning(s) {
  if (!s.link_warning) return '';
  return s.link_host_source === 'hostname' ? t('ui.link_warning_hostname', { name: s.name, host: s.link_host }) : t('ui.link_warning_request', { name: s.name });
}
export async function waitTask(task, label) {
  const deadline = Date.now() + 330000;
  let current = task;
  while (!['completed', 'failed', 'expired'].includes(current.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 700));
    current = await api('GET', `/tasks/${current.id}`);
  }
  const status = taskStatus(current.status);
  if (current.status === 'completed') toast(t('ui.task_done', { label }));
  else if (current.status === 'failed' || current.status === 'expired') toast(current.error ? t('ui.task_ended_error', { label, status, error: current.error.message }) : t('ui.task_ended', { label, status }), 'error');
  else toast(t('ui.task_still', { label, status }), 'error');
  return current;
}
export function switchControl(checked, label, attrs = '') {
  return html`<label class="switch"><input type="checkbox" ${raw(checked ? 'checked' : '')} aria-label="${label}" ${raw(attrs)}><span></span></label>`;
}
export function dateInput(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fromDateInput(v) { return v ? new Date(v).getTime() : 0; }
export function qrImage(text, label) {
  return html`<img class="qr" alt="${t('ui.qr_alt', { label })}" src="${API}/qr?text=${enc(text)}" loading="lazy">`;
}

// ---- Lists as cards on phones ----
// Below the phone breakpoint each row of a `table.cards` is a card (app.css) whose cells
// name their column. The names are the header's, copied here, so a list names its columns
// once. Cells spanning columns (a list's empty state) and columns without a visible name
// (actions, selection) get none.
export function labelCells(table) {
  const names = [];
  for (const th of table.tHead?.rows[0]?.cells || []) {
    const name = th.querySelector('.skip') ? '' : th.textContent.trim();
    for (let i = 0; i < th.colSpan; i++) names.push(name);
  }
  for (const body of table.tBodies) {
    for (const row of body.rows) {
      let column = 0;
      for (const cell of row.cells) {
        const name = cell.colSpan === 1 ? names[column] : '';
        if (name && cell.dataset.label !== name) cell.dataset.label = name;
        column += cell.colSpan;
      }
    }
  }
}

// ---- Generate buttons (data-gen) fill the input named by data-target ----
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
