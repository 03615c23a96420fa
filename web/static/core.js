// The page, the markup helpers and the API client every other module builds on.
import { has, t } from './i18n.js';

export const BASE = document.body.dataset.base || '';
export const PAGE = document.body.dataset.page;
export const API = '/api/v1';
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---- Markup: every interpolated value is escaped unless it is already markup ----
class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
export const raw = (s) => new Raw(s);
export function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function part(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === false || v === null || v === undefined) return '';
  return esc(v);
}
export function html(strings, ...values) {
  let out = '';
  strings.forEach((s, i) => { out += s; if (i < values.length) out += part(values[i]); });
  return raw(out);
}
export function show(node, content) { if (node) node.innerHTML = part(content); }
export const pageRoot = () => $('#page');
export const pageData = (() => { try { return JSON.parse($('#page-data')?.textContent || '{}'); } catch { return {}; } })();

// ---- API ----
// A refusal in the reader's language when the catalog has its key, else the controller's words.
export const said = (e) => (e?.key && has(e.key) ? t(e.key, e.args || {}) : e?.message);
class ApiError extends Error {
  constructor(status, error) {
    super(said(error) || t('api.failed', { status: String(status) }));
    this.status = status;
    this.code = error?.code || 'error';
    this.key = error?.key;
    this.args = error?.args;
    // The controller's English words, for telling refusals apart.
    this.english = error?.message || '';
    this.fields = error?.details?.fields || [];
  }
}
// Once the page is being left, a failing request must not send it elsewhere.
let leaving = false;
export function navigate(url) {
  leaving = true;
  location.href = url;
}
function sessionEnded() {
  if (leaving) return;
  const here = location.pathname.slice(BASE.length) + location.search;
  navigate(`${BASE}/?expired=1&next=${encodeURIComponent(here)}`);
}
export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body instanceof Blob) { opts.headers['content-type'] = 'application/octet-stream'; opts.body = body; }
  else if (body !== undefined) { opts.headers['content-type'] = 'application/json'; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(API + path, opts); } catch (e) {
    throw new ApiError(0, { code: 'network', message: t('api.unreachable', { error: e.message }) });
  }
  if (resp.status === 401 && PAGE !== 'login') { sessionEnded(); throw new ApiError(401, { message: t('api.session_ended') }); }
  let json;
  try { json = await resp.json(); } catch {
    throw new ApiError(resp.status, { code: 'bad_response', message: t('api.bad_response', { status: String(resp.status) }) });
  }
  if (!json.success) throw new ApiError(resp.status, json.error);
  return json.data;
}
export const enc = encodeURIComponent;

// ---- Fleet lookups ----
export async function servers() { return api('GET', '/servers'); }
export async function allInbounds(serverList) {
  const lists = await Promise.all(serverList.map((s) => api('GET', `/servers/${s.id}/inbounds`).then((l) => l.map((i) => ({ ...i, serverName: s.name })))));
  return lists.flat();
}
export function serverName(list, id) { return list.find((s) => s.id === id)?.name ?? `#${id}`; }
