// The core configuration page (3x-ui's "Xray configs"): choose the fleet template or a named
// one, see and assign the servers that use it, and edit it in structured tabs or as JSON.
// Every tab edits one working copy of the template; keys no tab knows stay as they are.
// Nothing reaches a server until Save, which the controller answers with the core's refusal
// when a core rejects the template.
import { $, api, BASE, enc, html, pageRoot, raw, show } from './core.js';
import { actions, badge, busy, confirmDialog, promptDialog, toast } from './ui.js';
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
  if (state.chosen !== FLEET && !templates.some((t) => t.id === state.chosen)) state.chosen = FLEET;
}
const chosenRow = () => (state.chosen === FLEET ? null : state.templates.find((t) => t.id === state.chosen));
const chosenName = () => chosenRow()?.name ?? 'the fleet template';
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
    <section class="card section" aria-labelledby="tpl-title"><h2 id="tpl-title">Template</h2>
      <div class="toolbar">
        <div class="grow"><label for="tpl-select">Editing</label><select id="tpl-select"></select></div>
        <button type="button" data-action="tpl-new">New template</button>
        <button type="button" data-action="tpl-rename" id="tpl-rename">Rename</button>
        <button type="button" class="danger" data-action="tpl-delete" id="tpl-delete">Delete</button>
      </div>
      <p class="hint" id="tpl-note"></p>
      <div id="tpl-servers" aria-live="polite"></div>
      <details class="sub" id="assign"><summary>Assign servers</summary><form id="assign-form" novalidate><div id="assign-list" class="form-grid"></div>
        <div class="actions"><button type="submit">Apply assignment</button></div></form></details>
    </section>
    <section class="card section" aria-labelledby="cfg-title"><h2 id="cfg-title">Configuration <span id="dirty"></span></h2>
      <div class="tabs" role="tablist" aria-label="Template sections">${TABS.map((t) => html`<button type="button" role="tab" id="tab-${t.id}" data-tab="${t.id}" aria-controls="tab-panel" aria-selected="false">${t.label}</button>`)}</div>
      <div id="tab-panel" role="tabpanel" tabindex="0"></div>
      <div class="alert error" id="save-error" role="alert" hidden></div>
      <div class="actions"><button type="button" class="primary" data-action="tpl-save">Save template</button><button type="button" data-action="tpl-default">Restore default</button><button type="button" data-action="tpl-discard">Discard changes</button></div>
      <p class="hint">Saving checks the template with the core of the servers it applies to; a template a core refuses is not stored, and the servers keep their running configuration.</p>
    </section>`);
  const tablist = $('.tabs');
  tablist.addEventListener('click', (e) => { const b = e.target.closest('[role="tab"]'); if (b) switchTab(b.dataset.tab); });
  tablist.addEventListener('keydown', (e) => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    const i = TABS.findIndex((t) => t.id === state.tab);
    const next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: TABS.length - 1 }[e.key];
    e.preventDefault();
    if (switchTab(TABS[(next + TABS.length) % TABS.length].id)) $(`#tab-${state.tab}`).focus();
  });
  $('#tpl-select').addEventListener('change', async (e) => {
    const want = e.target.value === FLEET ? FLEET : Number(e.target.value);
    if (state.dirty && !(await confirmDialog('Discard the unsaved changes?', `The changes to ${chosenName()} are lost.`, 'Discard'))) { e.target.value = String(state.chosen); return; }
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
  const count = (n) => `${n} server${n === 1 ? '' : 's'}`;
  show(sel, [html`<option value="${FLEET}">Fleet template (${count(state.fleet.servers.length)})</option>`,
    ...state.templates.map((t) => html`<option value="${t.id}">${t.name} (${count(t.servers.length)})</option>`)]);
  sel.value = String(state.chosen);
  const fleet = state.chosen === FLEET;
  $('#tpl-rename').disabled = fleet;
  $('#tpl-delete').disabled = fleet;
  show($('#tpl-note'), fleet
    ? (state.fleet.config ? 'Every server without a template of its own uses this one.' : 'Every server without a template of its own uses this one. It is the built-in default until you save it.')
    : html`A named template replaces the fleet template on the servers assigned to it.${chosenRow()?.notes ? html` ${chosenRow().notes}` : ''}`);
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
  const markup = String(users.length ? html`<p>Used by:</p><ul class="server-list">${users.map((u) => {
    const s = snap.get(u.id) || state.servers.find((x) => x.id === u.id) || {};
    const applied = s.revision !== undefined && s.applied_revision === s.revision;
    return html`<li data-template-server="${u.name}"><a href="${BASE}/panel/server?id=${u.id}">${u.name}</a> ${s.revision === undefined ? '' : applied
      ? badge(`running revision ${s.revision}`, 'ok') : badge(`running revision ${s.applied_revision} of ${s.revision}`, 'pending')}
      ${s.apply_error ? html`<div class="core-error" data-apply-error>${s.apply_error}</div>` : ''}</li>`;
  })}</ul>` : html`<p class="muted">No server uses this template.</p>`);
  // Snapshots come every 2 s: only a change is drawn (and announced).
  if (markup !== drawnServers) { box.innerHTML = markup; drawnServers = markup; }
}
let drawnServers = '';
function drawAssign() {
  const fleet = state.chosen === FLEET;
  const users = new Set(usersOf().map((s) => s.id));
  const where = (id) => state.templates.find((t) => t.servers.some((s) => s.id === id))?.name;
  show($('#assign-list'), [state.servers.length ? state.servers.map((s) => html`<div><label class="inline"><input type="checkbox" name="server" value="${s.id}" aria-describedby="runs-${s.id}" ${raw(users.has(s.id) ? 'checked' : '')}> ${s.name}</label>
    <div class="hint" id="runs-${s.id}">${where(s.id) ? `runs ${where(s.id)}` : 'runs the fleet template'}${s.tags?.length ? ` · tags: ${s.tags.join(', ')}` : ''}</div></div>`) : html`<p class="muted">No servers yet.</p>`,
  fleet ? '' : html`<div><label for="assign-tags">And every server tagged</label><input id="assign-tags" name="tags" placeholder="ir, edge" autocomplete="off"><div class="hint">Comma separated; those servers run this template too</div></div>`]);
  show($('#assign summary'), fleet ? 'Assign servers (back to the fleet template)' : `Assign servers to ${chosenName()}`);
}
// A named template takes exactly the ticked servers (and the tagged ones) in one change; the
// fleet template takes a server back from the template it ran.
async function assign(form) {
  const ticked = [...form.querySelectorAll('input[name="server"]:checked')].map((b) => Number(b.value));
  const row = chosenRow();
  if (row) {
    const tags = (form.elements.tags?.value || '').split(',').map((t) => t.trim()).filter(Boolean);
    const r = await busy(form.querySelector('[type="submit"]'), () => api('PUT', `/core/templates/${row.id}`, { servers: ticked, tags }));
    toast(`${row.name} now runs on ${r.servers.length} server${r.servers.length === 1 ? '' : 's'}`);
  } else {
    const users = new Set(usersOf().map((s) => s.id));
    const back = ticked.filter((id) => !users.has(id));
    if (!back.length) { toast('Nothing to change: to move a server off the fleet template, assign it from a named one'); return; }
    await busy(form.querySelector('[type="submit"]'), async () => { for (const id of back) await api('PUT', `/servers/${id}/core-template`, { template: null }); });
    toast(`${back.length} server${back.length === 1 ? '' : 's'} back on the fleet template`);
  }
  await refresh(false);
}
function drawDirty() { show($('#dirty'), state.dirty ? badge('unsaved changes', 'pending') : ''); }

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
  const leaving = TABS.find((t) => t.id === state.tab);
  if (!force && leaving?.leave && !leaving.leave(ctx)) return false;
  state.tab = id;
  for (const b of document.querySelectorAll('[role="tab"]')) {
    const on = b.dataset.tab === id;
    b.setAttribute('aria-selected', String(on));
  }
  const panel = $('#tab-panel');
  panel.setAttribute('aria-labelledby', `tab-${id}`);
  TABS.find((t) => t.id === id).draw(panel, ctx);
  return true;
}

// ---- Actions ----
actions['tpl-save'] = async (el) => {
  const tab = TABS.find((t) => t.id === state.tab);
  if (tab.leave && !tab.leave(ctx)) return;
  const box = $('#save-error');
  box.hidden = true;
  let saved;
  try {
    saved = await busy(el, saveChosen);
  } catch (err) {
    // The controller's (or the core's) own words, as they came.
    const more = err.fields.filter((f) => !err.message.includes(f.message));
    show(box, html`<strong>Not saved:</strong> <span id="save-error-text">${err.message}</span>${more.length ? html`<ul>${more.map((f) => html`<li><code>${f.field}</code>: ${f.message}</li>`)}</ul>` : ''}`);
    box.hidden = false;
    box.scrollIntoView({ block: 'nearest' });
    return;
  }
  const names = (l) => (l || []).map((x) => x.name).join(', ');
  toast(`Saved ${chosenName()}${saved?.checked_on?.length ? `, tested by the core of ${names(saved.checked_on)}` : ''}; ${saved?.servers?.length ?? 0} server${saved?.servers?.length === 1 ? '' : 's'} follow${saved?.servers?.length === 1 ? 's' : ''}`);
  await refresh(true);
};
actions['tpl-default'] = async () => {
  if (!(await confirmDialog('Load the default template?', 'The editor gets the built-in template; nothing is stored until you save.', 'Load default'))) return;
  state.doc = structuredClone(await api('GET', '/core/template/default'));
  ctx.changed();
  ctx.redraw();
};
actions['tpl-discard'] = () => { takeConfig(); drawAll(); };
const nameCheck = (v) => (!v ? 'a name is required' : v.length > 64 ? 'at most 64 characters' : '');
actions['tpl-new'] = async () => {
  const name = await promptDialog('New template', 'Name', { action: 'Create', hint: 'It starts as a copy of what the editor shows now.', check: nameCheck });
  if (name === null) return;
  const row = await api('POST', '/core/templates', { name, config: state.doc });
  state.chosen = row.id;
  toast(`Template ${row.name} created`);
  await refresh(true);
};
actions['tpl-rename'] = async () => {
  const row = chosenRow();
  if (!row) return;
  const name = await promptDialog(`Rename ${row.name}`, 'Name', { value: row.name, action: 'Rename', check: nameCheck });
  if (name === null || name === row.name) return;
  await api('PUT', `/core/templates/${row.id}`, { name });
  toast(`Renamed to ${name}`);
  await refresh(false);
};
actions['tpl-delete'] = async () => {
  const row = chosenRow();
  if (!row) return;
  const n = row.servers.length;
  if (n) { toast(`${n} server${n === 1 ? ' runs' : 's run'} ${row.name}: assign ${n === 1 ? 'it' : 'them'} another template first`, 'error'); return; }
  if (!(await confirmDialog(`Delete template ${row.name}?`, 'No server runs it.', 'Delete'))) return;
  await api('DELETE', `/core/templates/${enc(row.id)}`);
  state.chosen = FLEET;
  toast(`Template ${row.name} deleted`);
  await refresh(true);
};
