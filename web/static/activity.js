// The task list and the audit log across the fleet.
import { $, api, esc, html, pageRoot, raw, serverName, servers, show } from './core.js';
import { badge, failed, t, taskStatus, when } from './ui.js';
import { every } from './live.js';
import { taskRow } from './servers.js';

// ---- Tasks and audit ----
export function pageTasks() {
  const root = pageRoot();
  show(root, html`<div class="toolbar">
      <div><label for="t-server">${t('activity.server')}</label><select id="t-server"><option value="">${t('activity.all')}</option></select></div>
      <div><label for="t-status">${t('activity.status')}</label><select id="t-status">${['', 'pending', 'running', 'completed', 'failed', 'expired'].map((s) => html`<option value="${s}">${s ? taskStatus(s) : t('activity.all')}</option>`)}</select></div>
      <div class="grow"><label for="t-op">${t('activity.operation')}</label><input id="t-op" placeholder="core.restart"></div>
      <div class="grow"><label for="t-who">${t('activity.who')}</label><input id="t-who" placeholder="admin"></div></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('activity.tasks_region')}"><table class="cards"><thead><tr><th>${t('activity.created')}</th><th>${t('activity.server')}</th><th>${t('activity.operation')}</th><th>${t('activity.status')}</th><th class="hide-phone">${t('activity.by')}</th><th class="hide-phone">${t('activity.attempts')}</th><th class="hide-phone">${t('activity.result')}</th></tr></thead><tbody id="task-rows"><tr><td colspan="7" class="empty">${t('common.loading')}</td></tr></tbody></table></div>`);
  let serverList = [], tasks = [];
  const draw = () => {
    const f = { server: $('#t-server').value, status: $('#t-status').value, op: $('#t-op').value.trim().toLowerCase(), who: $('#t-who').value.trim().toLowerCase() };
    const rows = tasks.filter((task) => (!f.server || String(task.server_id) === f.server) && (!f.status || task.status === f.status)
      && (!f.op || task.operation.toLowerCase().includes(f.op)) && (!f.who || task.created_by.toLowerCase().includes(f.who)));
    show($('#task-rows'), rows.length ? rows.slice(0, 500).map((task) => {
      const row = taskRow(task);
      return raw(row.s.replace(/<td><code>/, `<td>${esc(serverName(serverList, task.server_id))}</td><td><code>`));
    }) : html`<tr><td colspan="7" class="empty">${t('activity.no_tasks')}</td></tr>`);
  };
  const load = async () => {
    serverList = await servers();
    if ($('#t-server').options.length === 1) show($('#t-server'), [html`<option value="">${t('activity.all')}</option>`, ...serverList.map((s) => html`<option value="${s.id}">${s.name}</option>`)]);
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
      <div class="grow"><label for="a-who">${t('activity.who')}</label><input id="a-who" placeholder="admin"></div>
      <div class="grow"><label for="a-action">${t('activity.action')}</label><input id="a-action" placeholder="client.create"></div>
      <div class="grow"><label for="a-target">${t('activity.target')}</label><input id="a-target" placeholder="server:1"></div>
      <div><label for="a-result">${t('activity.result')}</label><select id="a-result"><option value="">${t('activity.all')}</option><option value="ok">${t('activity.result_ok')}</option><option value="failed">${t('activity.result_failed')}</option></select></div></div>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('activity.audit_region')}"><table class="cards"><thead><tr><th>${t('activity.when')}</th><th>${t('activity.who')}</th><th>${t('activity.action')}</th><th>${t('activity.target')}</th><th>${t('activity.result')}</th><th class="hide-phone">${t('activity.address')}</th><th class="hide-phone">${t('activity.details')}</th></tr></thead><tbody id="audit-rows"><tr><td colspan="7" class="empty">${t('common.loading')}</td></tr></tbody></table></div>`);
  let entries = [];
  const draw = () => {
    const who = $('#a-who').value.trim().toLowerCase(), action = $('#a-action').value.trim().toLowerCase(), target = $('#a-target').value.trim().toLowerCase(), result = $('#a-result').value;
    const rows = entries.filter((a) => (!who || a.actor.toLowerCase().includes(who)) && (!action || a.action.toLowerCase().includes(action))
      && (!target || a.target.toLowerCase().includes(target)) && (!result || (result === 'ok' ? a.result === 'ok' : a.result !== 'ok')));
    show($('#audit-rows'), rows.length ? rows.slice(0, 500).map((a) => html`<tr><td>${when(a.at)}</td><td translate="no">${a.actor}</td><td><code>${a.action}</code></td><td translate="no">${a.target}</td><td>${a.result === 'ok' ? badge(t('activity.result_ok'), 'ok') : badge(a.result, 'error')}</td><td class="hide-phone">${a.source_ip}</td><td class="wrap hide-phone"><span class="mono">${a.details === '{}' ? '' : a.details}</span></td></tr>`) : html`<tr><td colspan="7" class="empty">${t('activity.no_entries')}</td></tr>`);
  };
  const load = async () => { entries = await api('GET', '/audit?limit=1000'); draw(); };
  ['#a-who', '#a-action', '#a-target'].forEach((s) => $(s).addEventListener('input', draw));
  $('#a-result').addEventListener('change', draw);
  load().catch(failed);
  every(15000, () => load().catch(() => {}));
}
