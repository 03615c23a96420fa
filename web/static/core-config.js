// The core configuration page (3x-ui's "Xray configs"): choose the fleet template or a named
// one, see and assign the servers that use it, and edit it in structured tabs or as JSON.
// Every tab edits one working copy of the template; keys no tab knows stay as they are.
// Nothing reaches a server until Save, which the controller answers with the core's refusal
// when a core rejects the template.
import { $, api, BASE, enc, html, pageRoot, raw, show } from './core.js';
import { actions, badge, busy, confirmDialog, promptDialog, t, toast } from './ui.js';
import { live } from './live.js';
import { TABS } from './core-editors.js';

const FLEET = 'fleet';
// What the page works on. `chosen` is 'fleet' or a named template's id.
const state = { chosen: FLEET, fleet: null, templates: [], servers: [], doc: {}, dirty: false, tab: 'basic' };
// `?template=<id>` opens a named template (the server page links here so).
const asked = Number(new URLSearchParams(location.search).get('template'));
if (asked) state.chosen = asked;

// ---- Loading and saving ----
async function loadAll() {
  const [fleet, templates, servers] = await Promise.all([api('GET', '/core/template'), api('GET', '/core/templates'), api('GET', '/servers')]);
  state.fleet = fleet;
  state.templates = templates;
  state.servers = servers;
  if (state.chosen !== FLEET && !templates.some((row) => row.id === state.chosen)) state.chosen = FLEET;
}
const chosenRow = () => (state.chosen === FLEET ? null : state.templates.find((row) => row.id === state.chosen));
// The servers the chosen template applies to.
const usersOf = () => (state.chosen === FLEET ? state.fleet.servers : chosenRow()?.servers) || [];
function takeConfig() {
  const row = chosenRow();
  const config = row ? row.config : state.fleet.config ?? state.fleet.default;
  state.doc = structuredClone(config && typeof config === 'object' ? config : {});
  state.dirty = false;
}
// Answers what the controller says was saved: the servers that follow, the cores that tested it.
async function saveChosen() {
  const row = chosenRow();
  if (row) return (await api('PUT', `/core/templates/${row.id}`, { config: state.doc })).saved;
  return api('PUT', '/core/template', { config: state.doc });
}

// ---- The page ----
export function pageCoreConfig() {
  show(pageRoot(), html`
    <section class="card section" aria-labelledby="tpl-title"><h2 id="tpl-title">${t('coreconf.template')}</h2>
      <div class="toolbar">
        <div class="grow"><label for="tpl-select">${t('coreconf.editing')}</label><select id="tpl-select"></select></div>
        <button type="button" data-action="tpl-new">${t('coreconf.new_template')}</button>
        <button type="button" data-action="tpl-rename" id="tpl-rename">${t('coreconf.rename')}</button>
        <button type="button" class="danger" data-action="tpl-delete" id="tpl-delete">${t('common.delete')}</button>
      </div>
      <p class="hint" id="tpl-note"></p>
      <div id="tpl-servers" aria-live="polite"></div>
      <details class="sub" id="assign"><summary>${t('coreconf.assign')}</summary><form id="assign-form" novalidate><div id="assign-list" class="form-grid"></div>
        <div class="actions"><button type="submit">${t('coreconf.apply_assignment')}</button></div></form></details>
    </section>
    <section class="card section" aria-labelledby="cfg-title"><h2 id="cfg-title">${t('coreconf.configuration')} <span id="dirty"></span></h2>
      <div class="tabs" role="tablist" aria-label="${t('coreconf.sections')}">${TABS.map((tab) => html`<button type="button" role="tab" id="tab-${tab.id}" data-tab="${tab.id}" aria-controls="tab-panel" aria-selected="false">${tab.label}</button>`)}</div>
      <div id="tab-panel" role="tabpanel" tabindex="0"></div>
      <div class="alert error" id="save-error" role="alert" hidden></div>
      <div class="actions"><button type="button" class="primary" data-action="tpl-save">${t('coreconf.save')}</button><button type="button" data-action="tpl-default">${t('coreconf.restore_default')}</button><button type="button" data-action="tpl-discard">${t('coreconf.discard_changes')}</button></div>
      <p class="hint">${t('coreconf.save_hint')}</p>
    </section>`);
  const tablist = $('.tabs');
  tablist.addEventListener('click', (e) => { const b = e.target.closest('[role="tab"]'); if (b) switchTab(b.dataset.tab); });
  tablist.addEventListener('keydown', (e) => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    const i = TABS.findIndex((tab) => tab.id === state.tab);
    const next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: TABS.length - 1 }[e.key];
    e.preventDefault();
    if (switchTab(TABS[(next + TABS.length) % TABS.length].id)) $(`#tab-${state.tab}`).focus();
  });
  $('#tpl-select').addEventListener('change', async (e) => {
    const want = e.target.value === FLEET ? FLEET : Number(e.target.value);
    const lost = chosenRow() ? t('coreconf.discard_text', { name: chosenRow().name }) : t('coreconf.discard_text_fleet');
    if (state.dirty && !(await confirmDialog(t('coreconf.discard_title'), lost, t('coreconf.discard')))) { e.target.value = String(state.chosen); return; }
    state.chosen = want;
    takeConfig();
    drawAll();
  });
  $('#assign-form').addEventListener('submit', (e) => { e.preventDefault(); assign(e.target).catch((err) => toast(err.message, 'error')); });
  live.on(() => drawServers());
  refresh(true).catch((err) => show($('#tab-panel'), html`<p class="alert error" role="alert">${err.message}</p>`));
}
async function refresh(takeDoc) {
  await loadAll();
  if (takeDoc) takeConfig();
  drawAll();
}
function drawAll() {
  const sel = $('#tpl-select');
  show(sel, [html`<option value="${FLEET}">${t('coreconf.fleet_option', { n: state.fleet.servers.length })}</option>`,
    ...state.templates.map((row) => html`<option value="${row.id}">${t('coreconf.named_option', { name: row.name, n: row.servers.length })}</option>`)]);
  sel.value = String(state.chosen);
  const fleet = state.chosen === FLEET;
  $('#tpl-rename').disabled = fleet;
  $('#tpl-delete').disabled = fleet;
  show($('#tpl-note'), fleet
    ? (state.fleet.config ? t('coreconf.fleet_note') : t('coreconf.fleet_note_default'))
    : html`${t('coreconf.named_note')}${chosenRow()?.notes ? html` ${chosenRow().notes}` : ''}`);
  drawServers();
  drawAssign();
  drawDirty();
  switchTab(state.tab, true);
}
// Which servers use the template, whether each runs its latest revision, and why not.
function drawServers() {
  const box = $('#tpl-servers');
  if (!box || !state.fleet) return;
  const snap = new Map((live.last?.servers || []).map((s) => [s.id, s]));
  const users = usersOf();
  const markup = String(users.length ? html`<p>${t('coreconf.used_by')}</p><ul class="server-list">${users.map((u) => {
    const s = snap.get(u.id) || state.servers.find((x) => x.id === u.id) || {};
    const applied = s.revision !== undefined && s.applied_revision === s.revision;
    return html`<li data-template-server="${u.name}"><a href="${BASE}/panel/server?id=${u.id}">${u.name}</a> ${s.revision === undefined ? '' : applied
      ? badge(t('coreconf.running_revision', { revision: String(s.revision) }), 'ok') : badge(t('coreconf.running_revision_of', { applied: String(s.applied_revision), revision: String(s.revision) }), 'pending')}
      ${s.apply_error ? html`<div class="core-error" data-apply-error>${s.apply_error}</div>` : ''}</li>`;
  })}</ul>` : html`<p class="muted">${t('coreconf.no_users')}</p>`);
  // Snapshots come every 2 s: only a change is drawn (and announced).
  if (markup !== drawnServers) { box.innerHTML = markup; drawnServers = markup; }
}
let drawnServers = '';
function drawAssign() {
  const fleet = state.chosen === FLEET;
  const users = new Set(usersOf().map((s) => s.id));
  const where = (id) => state.templates.find((row) => row.servers.some((s) => s.id === id))?.name;
  show($('#assign-list'), [state.servers.length ? state.servers.map((s) => html`<div><label class="inline"><input type="checkbox" name="server" value="${s.id}" aria-describedby="runs-${s.id}" ${raw(users.has(s.id) ? 'checked' : '')}> ${s.name}</label>
    <div class="hint" id="runs-${s.id}">${where(s.id) ? t('coreconf.runs', { name: where(s.id) }) : t('coreconf.runs_fleet')}${s.tags?.length ? ` · ${t('coreconf.tags', { tags: s.tags.join(', ') })}` : ''}</div></div>`) : html`<p class="muted">${t('coreconf.no_servers')}</p>`,
  fleet ? '' : html`<div><label for="assign-tags">${t('coreconf.assign_tags')}</label><input id="assign-tags" name="tags" placeholder="ir, edge" autocomplete="off"><div class="hint">${t('coreconf.assign_tags_hint')}</div></div>`]);
  show($('#assign summary'), fleet ? t('coreconf.assign_fleet') : t('coreconf.assign_to', { name: chosenRow()?.name }));
}
// A named template takes exactly the ticked servers (and the tagged ones) in one change; the
// fleet template takes a server back from the template it ran.
async function assign(form) {
  const ticked = [...form.querySelectorAll('input[name="server"]:checked')].map((b) => Number(b.value));
  const row = chosenRow();
  if (row) {
    const tags = (form.elements.tags?.value || '').split(',').map((tag) => tag.trim()).filter(Boolean);
    const r = await busy(form.querySelector('[type="submit"]'), () => api('PUT', `/core/templates/${row.id}`, { servers: ticked, tags }));
    toast(t('coreconf.assigned', { name: row.name, n: r.servers.length }));
  } else {
    const users = new Set(usersOf().map((s) => s.id));
    const back = ticked.filter((id) => !users.has(id));
    if (!back.length) { toast(t('coreconf.nothing_to_change')); return; }
    await busy(form.querySelector('[type="submit"]'), async () => { for (const id of back) await api('PUT', `/servers/${id}/core-template`, { template: null }); });
    toast(t('coreconf.back_on_fleet', { n: back.length }));
  }
  await refresh(false);
}
function drawDirty() { show($('#dirty'), state.dirty ? badge(t('coreconf.unsaved'), 'pending') : ''); }

// ---- Tabs ----
const ctx = {
  get doc() { return state.doc; },
  set doc(d) { state.doc = d; },
  changed() { state.dirty = true; drawDirty(); $('#save-error').hidden = true; },
  redraw() { switchTab(state.tab, true); },
  servers: () => usersOf(),
  allServers: () => state.servers,
  chosen: () => state.chosen,
};
// Every tab stays in the Tab order (as every other control of the panel); arrow keys move
// between them too. Leaving a tab keeps what it holds; the JSON tab lets go only of text that parses.
function switchTab(id, force = false) {
  if (id === state.tab && !force) return true;
  const leaving = TABS.find((tab) => tab.id === state.tab);
  if (!force && leaving?.leave && !leaving.leave(ctx)) return false;
  state.tab = id;
  for (const b of document.querySelectorAll('[role="tab"]')) {
    const on = b.dataset.tab === id;
    b.setAttribute('aria-selected', String(on));
  }
  const panel = $('#tab-panel');
  panel.setAttribute('aria-labelledby', `tab-${id}`);
  TABS.find((tab) => tab.id === id).draw(panel, ctx);
  return true;
}

// ---- Actions ----
actions['tpl-save'] = async (el) => {
  const tab = TABS.find((x) => x.id === state.tab);
  if (tab.leave && !tab.leave(ctx)) return;
  const box = $('#save-error');
  box.hidden = true;
  let saved;
  try {
    saved = await busy(el, saveChosen);
  } catch (err) {
    // The controller's (or the core's) own words, as they came.
    const more = err.fields.filter((f) => !err.message.includes(f.message));
    show(box, html`<strong>${t('coreconf.not_saved')}</strong> <span id="save-error-text">${err.message}</span>${more.length ? html`<ul>${more.map((f) => html`<li><code>${f.field}</code>: ${f.message}</li>`)}</ul>` : ''}`);
    box.hidden = false;
    box.scrollIntoView({ block: 'nearest' });
    return;
  }
  const names = (l) => (l || []).map((x) => x.name).join(', ');
  const said = { name: chosenRow()?.name, names: names(saved?.checked_on), n: saved?.servers?.length ?? 0 };
  const tested = saved?.checked_on?.length;
  toast(chosenRow() ? t(tested ? 'coreconf.saved_tested' : 'coreconf.saved', said) : t(tested ? 'coreconf.saved_fleet_tested' : 'coreconf.saved_fleet', said));
  await refresh(true);
};
actions['tpl-default'] = async () => {
  if (!(await confirmDialog(t('coreconf.default_title'), t('coreconf.default_text'), t('coreconf.load_default')))) return;
  state.doc = structuredClone(await api('GET', '/core/template/default'));
  ctx.changed();
  ctx.redraw();
};
actions['tpl-discard'] = () => { takeConfig(); drawAll(); };
const nameCheck = (v) => (!v ? t('coreconf.err_name_required') : v.length > 64 ? t('coreconf.err_name_long') : '');
actions['tpl-new'] = async () => {
  const name = await promptDialog(t('coreconf.new_template'), t('common.name'), { action: t('coreconf.create'), hint: t('coreconf.new_hint'), check: nameCheck });
  if (name === null) return;
  const row = await api('POST', '/core/templates', { name, config: state.doc });
  state.chosen = row.id;
  toast(t('coreconf.created', { name: row.name }));
  await refresh(true);
};
actions['tpl-rename'] = async () => {
  const row = chosenRow();
  if (!row) return;
  const name = await promptDialog(t('coreconf.rename_title', { name: row.name }), t('common.name'), { value: row.name, action: t('coreconf.rename'), check: nameCheck });
  if (name === null || name === row.name) return;
  await api('PUT', `/core/templates/${row.id}`, { name });
  toast(t('coreconf.renamed', { name }));
  await refresh(false);
};
actions['tpl-delete'] = async () => {
  const row = chosenRow();
  if (!row) return;
  const n = row.servers.length;
  if (n) { toast(t('coreconf.delete_in_use', { n, name: row.name }), 'error'); return; }
  if (!(await confirmDialog(t('coreconf.delete_title', { name: row.name }), t('coreconf.delete_text'), t('common.delete')))) return;
  await api('DELETE', `/core/templates/${enc(row.id)}`);
  state.chosen = FLEET;
  toast(t('coreconf.deleted', { name: row.name }));
  await refresh(true);
};
