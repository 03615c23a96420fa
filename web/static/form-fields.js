// Form controls bound to paths in a JSON document (`streamSettings.tlsSettings.certificates[1].keyFile`):
// drawing one, reading them all back, and the small path helpers they share. A control's
// name and data-field are its path, so an API error about that path lands beside it.
import { esc, html, raw } from './core.js';
import { t } from './i18n.js';

function keys(path) { return path.replace(/\[(\d+)\]/g, '.$1').split('.'); }
export function getPath(obj, path) { return keys(path).reduce((o, k) => (o == null ? undefined : o[k]), obj); }
export function setPath(obj, path, value) {
  const ks = keys(path);
  let o = obj;
  ks.slice(0, -1).forEach((k, i) => {
    const list = /^\d+$/.test(ks[i + 1]);
    if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k]) !== list) o[k] = list ? [] : {};
    o = o[k];
  });
  o[ks[ks.length - 1]] = value;
}
export function deletePath(obj, path) {
  const ks = keys(path);
  const parent = ks.length > 1 ? getPath(obj, ks.slice(0, -1).join('.')) : obj;
  if (parent && typeof parent === 'object') delete parent[ks[ks.length - 1]];
}
// Drops keys whose value means "the core's default": '', 0, false, null, empty lists and
// objects (after pruning their own keys). `keep` names keys whose false or 0 is meant.
export function prune(obj, keep = []) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return obj;
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) prune(v, keep);
    const empty = v === '' || v === null || v === undefined || (Array.isArray(v) && !v.length) || (typeof v === 'object' && v && !Array.isArray(v) && !Object.keys(v).length);
    if (empty || ((v === 0 || v === false) && !keep.includes(k))) delete obj[k];
  }
  return obj;
}

// One form control bound to `path` in `doc`. opts: kind (text, int, bool, csv, lines),
// choices, default, hint, placeholder, gen (a Generate button), area, redraw (changing it
// redraws the form).
export function ctl(doc, path, label, opts = {}) {
  const id = `f-${path.replace(/[^a-zA-Z0-9]/g, '-')}`;
  let v = getPath(doc, path);
  const kind = opts.kind || 'text';
  if (kind === 'csv' && Array.isArray(v)) v = v.join(', ');
  if (kind === 'lines' && Array.isArray(v)) v = v.join('\n');
  if (v === undefined || v === null) v = opts.default ?? '';
  const hint = opts.hint ? html`<div class="hint">${opts.hint}</div>` : '';
  const attrs = html`id="${id}" name="${path}" data-kind="${kind}" data-field="${path}" ${raw(opts.redraw ? 'data-redraw="1"' : '')}`;
  // Values are mostly paths, hosts and keys: written left to right even on a right-to-left page.
  const dir = raw('dir="auto"');
  if (kind === 'bool') return html`<div><label class="inline"><input type="checkbox" ${attrs} ${raw(v === true ? 'checked' : '')}> ${label}</label>${hint}</div>`;
  if (opts.choices) return html`<div><label for="${id}">${label}</label><select ${attrs}>${opts.choices.map((c) => { const [val, text] = Array.isArray(c) ? c : [c, c]; return html`<option value="${val}" ${raw(String(v) === String(val) ? 'selected' : '')}>${text}</option>`; })}</select>${hint}</div>`;
  if (kind === 'lines' || opts.area) return html`<div><label for="${id}">${label}</label><textarea ${attrs} ${dir} rows="${opts.rows || 3}">${v}</textarea>${hint}</div>`;
  const input = html`<input ${attrs} ${dir} value="${v}" ${raw(kind === 'int' ? 'inputmode="numeric"' : '')} ${raw(opts.placeholder ? `placeholder="${esc(opts.placeholder)}"` : '')} autocomplete="off">`;
  const gen = opts.gen ? html`<button type="button" data-action="gen" data-gen="${opts.gen}" data-target="${id}" aria-label="${t('fields.generate_label', { label })}">${t('fields.generate')}</button>` : '';
  return html`<div><label for="${id}">${label}</label>${gen ? html`<div class="input-group">${input}${gen}</div>` : input}${hint}</div>`;
}

// Writes every bound control inside `root` into `doc`. An int left empty is 0; one that is
// not a number stays text, so the API names it rather than the form guessing.
export function readControls(root, doc) {
  for (const el of root.querySelectorAll('[data-kind]')) {
    const path = el.name;
    if (!path || el.dataset.kind === 'skip') continue;
    let v;
    switch (el.dataset.kind) {
      case 'bool': v = el.checked; break;
      case 'int': { const text = el.value.trim(); v = text === '' ? 0 : (/^-?\d+$/.test(text) ? Number(text) : text); break; }
      case 'csv': v = el.value.split(',').map((s) => s.trim()).filter(Boolean); break;
      case 'lines': v = el.value.split('\n').map((s) => s.trim()).filter(Boolean); break;
      default: v = el.value.trim();
    }
    setPath(doc, path, v);
  }
  return doc;
}
