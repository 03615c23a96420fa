// The Logs page: the controller's own log and each server's core access log, with 3x-ui's
// filters (direct / blocked / proxy, text, count), followed live while the tab is visible.
import { $, api, BASE, enc, html, pageRoot, servers, show } from './core.js';
import { badge, when } from './ui.js';
import { num, t } from './i18n.js';
import { every } from './live.js';

const COUNTS = [10, 20, 50, 100, 500, 1000];
const LEVELS = ['debug', 'info', 'warning', 'error'];
const EVENTS = { direct: 'ok', blocked: 'error', proxy: 'warn' };

export function pageLogs() {
  const root = pageRoot();
  const wanted = new URLSearchParams(location.search).get('server') || '';
  show(root, html`<div class="toolbar" id="log-filters">
      <div><label for="l-source">${t('logs.source')}</label><select id="l-source"><option value="">${t('logs.controller')}</option></select></div>
      <div><label for="l-count">${t('logs.count_label')}</label><select id="l-count">${COUNTS.map((n) => html`<option value="${n}" ${n === 100 ? 'selected' : ''}>${num(n)}</option>`)}</select></div>
      <div data-for="controller"><label for="l-level">${t('logs.level')}</label><select id="l-level">${LEVELS.map((l) => html`<option value="${l}" ${l === 'info' ? 'selected' : ''}>${t(`logs.level_${l}`)}</option>`)}</select></div>
      <div class="grow" data-for="access"><label for="l-filter">${t('logs.filter')}</label><input id="l-filter" type="search" autocomplete="off" placeholder="${t('logs.filter_hint')}"></div>
      <fieldset class="row" data-for="access"><legend>${t('logs.show')}</legend>
        ${Object.keys(EVENTS).map((k) => html`<label class="inline"><input type="checkbox" id="l-${k}" checked> ${t(`logs.${k}`)}</label>`)}</fieldset>
      <label class="inline"><input type="checkbox" id="l-follow" checked> ${t('logs.follow')}</label></div>
    <div class="alert error" id="log-error" role="alert" hidden></div>
    <p class="muted" id="log-note"></p>
    <div class="table-wrap" id="log-wrap" tabindex="0" role="region" aria-label="${t('logs.region')}"><table class="cards" id="log-table"><tbody><tr><td class="empty">${t('layout.loading')}</td></tr></tbody></table></div>`);

  const source = $('#l-source');
  const access = () => source.value !== '';
  const filtered = () => $('#l-filter').value.trim() !== '' || Object.keys(EVENTS).some((k) => !$(`#l-${k}`).checked);
  const toggle = () => {
    for (const el of root.querySelectorAll('[data-for]')) el.hidden = (el.dataset.for === 'access') !== access();
  };
  const error = (message) => {
    const el = $('#log-error');
    el.hidden = !message;
    el.textContent = message || '';
  };
  // Newest last; the view stays at the newest line while following.
  const draw = (head, rows, empty) => {
    show($('#log-table'), html`<thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead>
      <tbody>${rows.length ? rows : html`<tr><td colspan="${head.length}" class="empty" id="log-empty">${empty}</td></tr>`}</tbody>`);
    if ($('#l-follow').checked) {
      const wrap = $('#log-wrap');
      wrap.scrollTop = wrap.scrollHeight;
    }
  };

  const loadController = async () => {
    const q = `count=${$('#l-count').value}&level=${$('#l-level').value}`;
    const { lines } = await api('GET', `/logs?${q}`);
    $('#log-note').textContent = t('logs.controller_note');
    draw([t('logs.time'), t('logs.level'), t('logs.message')], lines.map((l) => html`<tr data-level="${l.level}">
        <td>${when(l.at_ms)}</td><td>${badge(l.level, l.level === 'error' ? 'error' : l.level === 'warn' ? 'warn' : '')}</td>
        <td class="wrap"><span class="mono">${l.text.replace(/^\S+\s+\S+\s+/, '')}</span></td></tr>`), t('logs.no_lines'));
  };
  const loadAccess = async () => {
    const q = new URLSearchParams({ count: $('#l-count').value, filter: $('#l-filter').value.trim() });
    for (const k of Object.keys(EVENTS)) q.set(k, String($(`#l-${k}`).checked));
    const { entries, truncated } = await api('GET', `/servers/${enc(source.value)}/access-log?${q}`);
    $('#log-note').textContent = truncated ? t('logs.truncated') : t('logs.access_note');
    const empty = filtered() ? t('logs.none_match') : t('logs.no_connections');
    draw([t('logs.time'), t('logs.from'), t('logs.to'), t('logs.inbound'), t('logs.outbound'), t('logs.email'), t('logs.kind')],
      entries.map((e) => html`<tr data-event="${e.event}" data-email="${e.email}">
        <td>${e.time}</td><td class="mono">${e.source}</td><td class="mono wrap">${e.destination}</td>
        <td>${e.inbound || '—'}</td><td>${e.outbound || '—'}</td><td>${e.email || '—'}</td>
        <td>${badge(t(`logs.${e.event}`), EVENTS[e.event])}</td></tr>`), empty);
  };
  // One request at a time; a change made meanwhile loads again when it ends, so the list
  // always follows the latest filters.
  let loading = false, again = false;
  const load = async () => {
    if (loading) { again = true; return; }
    loading = true;
    try {
      do {
        again = false;
        try {
          await (access() ? loadAccess() : loadController());
          error('');
        } catch (e) {
          // An offline or outdated agent, in the controller's words, where the lines would be.
          error(e.message || String(e));
          draw([t('logs.message')], [], t('logs.unavailable'));
        }
      } while (again);
    } finally {
      loading = false;
    }
  };

  const start = async () => {
    const list = await servers().catch(() => []);
    show(source, [html`<option value="">${t('logs.controller')}</option>`,
      ...list.map((s) => html`<option value="${s.id}">${t('logs.server_access', { name: s.name })}</option>`)]);
    if (list.some((s) => String(s.id) === wanted)) source.value = wanted;
    toggle();
    await load();
  };
  source.addEventListener('change', () => {
    toggle();
    history.replaceState(null, '', source.value ? `${BASE}/panel/logs?server=${enc(source.value)}` : `${BASE}/panel/logs`);
    load();
  });
  for (const id of ['#l-count', '#l-level', '#l-direct', '#l-blocked', '#l-proxy']) $(id).addEventListener('change', load);
  let typing = null;
  $('#l-filter').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(load, 300); });
  $('#l-follow').addEventListener('change', () => { if ($('#l-follow').checked) load(); });
  start();
  every(2000, () => { if ($('#l-follow').checked) load(); });
}
