// The task list and the audit log across the fleet.
import { $, api, esc, html, pageRoot, raw, serverName, servers, show } from './core.js';
import { badge, failed, when } from './ui.js';
import { every } from './live.js';
import { taskRow } from './servers.js';

// ---- Tasks and audit ----
export function pageTasks() {
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div><label for="t-server">Server</label><select id="t-server"><option value="">all</option></select></div>
      <div><label for="t-status">Status</label><select id="t-status">${['', 'pending', 'running', 'completed', 'failed', 'expired'].map((s) => html`<option value="${s}">${s || 'all'}</option>`)}</select></div>
      <div class="grow"><label for="t-op">Operation</label><input id="t-op" placeholder="core.restart"></div>
      <div class="grow"><label for="t-who">Who</label><input id="t-who" placeholder="admin"></div></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="Tasks, scrollable"><table class="cards"><thead><tr><th>Created</th><th>Server</th><th>Operation</th><th>Status</th><th class="hide-phone">By</th><th class="hide-phone">Attempts</th><th class="hide-phone">Result</th></tr></thead><tbody id="task-rows"><tr><td colspan="7" class="empty">Loading…</td></tr></tbody></table></div>`);
  let serverList = [], tasks = [];
  const draw = () => {
    const f = { server: $('#t-server').value, status: $('#t-status').value, op: $('#t-op').value.trim().toLowerCase(), who: $('#t-who').value.trim().toLowerCase() };
    const rows = tasks.filter((t) => (!f.server || String(t.server_id) === f.server) && (!f.status || t.status === f.status)
      && (!f.op || t.operation.toLowerCase().includes(f.op)) && (!f.who || t.created_by.toLowerCase().includes(f.who)));
    show($('#task-rows'), rows.length ? rows.slice(0, 500).map((t) => {
      const row = taskRow(t);
      return raw(row.s.replace(/<td><code>/, `<td>${esc(serverName(serverList, t.server_id))}</td><td><code>`));
    }) : html`<tr><td colspan="7" class="empty">No tasks match.</td></tr>`);
  };
  const load = async () => {
    serverList = await servers();
    if ($('#t-server').options.length === 1) show($('#t-server'), [html`<option value="">all</option>`, ...serverList.map((s) => html`<option value="${s.id}">${s.name}</option>`)]);
    tasks = (await Promise.all(serverList.map((s) => api('GET', `/servers/${s.id}/tasks?limit=200`)))).flat().sort((a, b) => b.created_at - a.created_at);
    draw();
  };
  ['#t-server', '#t-status'].forEach((s) => $(s).addEventListener('change', draw));
  ['#t-op', '#t-who'].forEach((s) => $(s).addEventListener('input', draw));
  load().catch(failed);
  every(10000, () => load().catch(() => {}));
}
export function pageAudit() {
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div class="grow"><label for="a-who">Who</label><input id="a-who" placeholder="admin"></div>
      <div class="grow"><label for="a-action">Action</label><input id="a-action" placeholder="client.create"></div>
      <div class="grow"><label for="a-target">Target</label><input id="a-target" placeholder="server:1"></div>
      <div><label for="a-result">Result</label><select id="a-result"><option value="">all</option><option value="ok">ok</option><option value="failed">refused or failed</option></select></div></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="Audit log, scrollable"><table class="cards"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Result</th><th class="hide-phone">Address</th><th class="hide-phone">Details</th></tr></thead><tbody id="audit-rows"><tr><td colspan="7" class="empty">Loading…</td></tr></tbody></table></div>`);
  let entries = [];
  const draw = () => {
    const who = $('#a-who').value.trim().toLowerCase(), action = $('#a-action').value.trim().toLowerCase(), target = $('#a-target').value.trim().toLowerCase(), result = $('#a-result').value;
    const rows = entries.filter((a) => (!who || a.actor.toLowerCase().includes(who)) && (!action || a.action.toLowerCase().includes(action))
      && (!target || a.target.toLowerCase().includes(target)) && (!result || (result === 'ok' ? a.result === 'ok' : a.result !== 'ok')));
    show($('#audit-rows'), rows.length ? rows.slice(0, 500).map((a) => html`<tr><td>${when(a.at)}</td><td>${a.actor}</td><td><code>${a.action}</code></td><td>${a.target}</td><td>${badge(a.result, a.result === 'ok' ? 'ok' : 'error')}</td><td class="hide-phone">${a.source_ip}</td><td class="wrap hide-phone"><span class="mono">${a.details === '{}' ? '' : a.details}</span></td></tr>`) : html`<tr><td colspan="7" class="empty">No entries match.</td></tr>`);
  };
  const load = async () => { entries = await api('GET', '/audit?limit=1000'); draw(); };
  ['#a-who', '#a-action', '#a-target'].forEach((s) => $(s).addEventListener('input', draw));
  $('#a-result').addEventListener('change', draw);
  load().catch(failed);
  every(15000, () => load().catch(() => {}));
}
