// The servers list (add a server, enrollment commands) and one server's page.
import { $, api, BASE, html, navigate, pageRoot, raw, show } from './core.js';
import { actions, ago, applyWidths, badge, busy, clearErrors, confirmDialog, coreText, duration, failed, fieldErrors, formValues, linkWarning, LOCALE, num, rich, stateBadge, t, taskStatus, toast, waitTask, when } from './ui.js';
import { every, live } from './live.js';

// The geo files 3x-ui offers; the first two are what every core uses.
const GEO_FILES = ['geoip.dat', 'geosite.dat', 'geoip_IR.dat', 'geosite_IR.dat', 'geoip_RU.dat', 'geosite_RU.dat'];
import { systemStats } from './dashboard.js';
import { drawSamples, trafficChart } from './charts.js';
// How far back the server page charts CPU and memory.
const SAMPLE_HOURS = 6;

// ---- Servers ----
const ADDRESS_HINT = t('servers.address_hint');
const LINK_SOURCES = { public_address: t('servers.source_public_address'), agent: t('servers.source_agent'), hostname: t('servers.source_hostname') };
// A rollout's state, and a server's within it.
const ROLLOUT_STATES = { running: t('servers.rollout_running'), paused: t('servers.rollout_paused'), done: t('servers.rollout_done'), cancelled: t('servers.rollout_cancelled') };
const AGENT_UPDATE_STATES = { pending: t('servers.agent_pending'), sending: t('servers.agent_sending'), waiting: t('servers.agent_waiting'), updated: t('servers.agent_updated'), rolled_back: t('servers.agent_rolled_back'), failed: t('servers.agent_failed'), skipped: t('servers.agent_skipped') };
const rolloutState = (state) => ROLLOUT_STATES[state] ?? state;
const agentUpdateState = (state) => AGENT_UPDATE_STATES[state] ?? state;
const mib = (n) => t('servers.mib', { n: num(n / 1048576, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
export function pageServers() {
  const root = pageRoot();
  show(root, html`
    <section class="card section" aria-labelledby="add-title">
      <h2 id="add-title">${t('servers.add')}</h2>
      <form id="add-server" novalidate>
        <div class="form-grid">
          <div><label for="s-name">${t('common.name')}</label><input id="s-name" name="name" required placeholder="ams-1" autocomplete="off"><div class="hint">${t('servers.name_hint')}</div></div>
          <div><label for="s-region">${t('servers.region')}</label><input id="s-region" name="region" placeholder="eu"></div>
          <div><label for="s-tags">${t('servers.tags')}</label><input id="s-tags" name="tags" placeholder="prod, nl"><div class="hint">${t('servers.tags_hint')}</div></div>
          <div><label for="s-address">${t('servers.public_address')}</label><input id="s-address" name="public_address" data-field="public_address" placeholder="vpn1.example.com" autocomplete="off"><div class="hint">${ADDRESS_HINT}</div></div>
        </div>
        <div class="alert error form-error" role="alert" hidden></div>
        <div class="actions"><button class="primary" type="submit">${t('servers.add')}</button></div>
      </form>
      <div id="enroll" aria-live="polite"></div>
      <p class="hint" id="agent-binaries">${t('servers.binaries_loading')}</p>
    </section>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('servers.list_region')}"><table class="cards"><caption class="skip">${t('servers.servers')}</caption><thead><tr><th>${t('common.name')}</th><th>${t('servers.status')}</th><th class="hide-phone">${t('servers.region')}</th><th class="hide-phone">${t('servers.public_address')}</th><th class="hide-phone">${t('servers.agent')}</th><th>${t('servers.core')}</th><th>${t('servers.last_seen')}</th><th>${t('servers.inbounds')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead><tbody id="server-rows"></tbody></table></div>
    <section class="section" aria-labelledby="rollouts-title"><h2 id="rollouts-title">${t('servers.rollouts_title')}</h2><div id="rollouts"><p class="muted">${t('common.loading')}</p></div></section>`);
  const form = $('#add-server');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    const body = { name: v.name.trim(), region: v.region.trim(), tags: v.tags.split(',').map((tag) => tag.trim()).filter(Boolean), notes: '', public_address: v.public_address.trim() };
    try {
      const server = await busy(form.querySelector('[type="submit"]'), () => api('POST', '/servers', body));
      form.reset();
      toast(t('servers.added', { name: server.name }));
      await showEnrollment(server);
    } catch (err) {
      if (!err.fields.length && /name/i.test(err.english)) err.fields = [{ field: 'name', message: err.message }];
      fieldErrors(form, err);
    }
  });
  actions.enroll = async (el) => showEnrollment({ id: Number(el.dataset.id), name: el.dataset.name });
  actions['agent-update'] = async (el) => {
    if (!await confirmDialog(t('servers.update_agent_title', { name: el.dataset.name }), t('servers.update_agent_text', { version: latestAgent }), t('servers.update_agent'))) return;
    await busy(el, () => api('POST', `/servers/${el.dataset.id}/agent-update`, { version: latestAgent }));
    toast(t('servers.updating_agent', { name: el.dataset.name }));
    await showRollouts();
  };
  actions['rollout-resume'] = async (el) => { await busy(el, () => api('POST', `/agent/rollouts/${el.dataset.id}/resume`, {})); await showRollouts(); };
  actions['rollout-cancel'] = async (el) => { await busy(el, () => api('POST', `/agent/rollouts/${el.dataset.id}/cancel`, {})); await showRollouts(); };
  showAgentBinaries();
  showRollouts();
  every(3000, () => showRollouts().catch(() => {}));
  live.on((snap) => {
    show($('#server-rows'), snap.servers.length ? snap.servers.map((s) => html`<tr data-server-row="${s.name}">
      <td><a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>${s.local ? html` ${badge(t('servers.local'), 'ok')}` : ''}</td>
      <td>${stateBadge(s)}</td><td class="hide-phone">${s.region || '—'}</td><td class="hide-phone mono" data-public-address>${s.public_address || '—'}</td><td class="hide-phone">${s.version || '—'}${newer(s) ? html` <button class="small" data-action="agent-update" data-id="${s.id}" data-name="${s.name}" title="${t('servers.update_agent_hint', { version: latestAgent })}">${t('servers.update_agent')}</button>` : ''}</td>
      <td>${coreText(s)}</td><td>${s.connected ? t('servers.now') : ago(s.last_seen)}</td><td>${num(s.usage.inbounds)}</td>
      <td>${s.local ? '' : html`<button class="small" data-action="enroll" data-id="${s.id}" data-name="${s.name}">${t('servers.enrollment_command')}</button>`}</td></tr>`)
      : html`<tr><td colspan="9" class="empty">${t('servers.none')}</td></tr>`);
  });
}
// The newest agent version the controller carries, and whether a server runs an older one.
let latestAgent = null;
const versionParts = (v) => { const [core, pre] = String(v).split('-', 2); return [core.split('.').map(Number), pre]; };
function olderThan(a, b) {
  const [ac, ap] = versionParts(a); const [bc, bp] = versionParts(b);
  for (let i = 0; i < Math.max(ac.length, bc.length); i++) if ((ac[i] || 0) !== (bc[i] || 0)) return (ac[i] || 0) < (bc[i] || 0);
  if (ap === bp) return false;
  return ap !== undefined && (bp === undefined || ap < bp);
}
const newer = (s) => latestAgent && !s.local && s.connected && s.version && olderThan(s.version, latestAgent);
// Recent rollouts with each server's state; a paused one can be resumed or cancelled.
async function showRollouts() {
  const list = await api('GET', '/agent/rollouts?limit=5');
  const views = await Promise.all(list.map((r) => api('GET', `/agent/rollouts/${r.id}`)));
  show($('#rollouts'), views.length ? views.map((r) => html`<details class="card" data-rollout="${r.id}" ${r.state === 'running' || r.state === 'paused' ? 'open' : ''}>
    <summary>${t('servers.rollout_agent', { version: r.version })} ${badge(rolloutState(r.state), r.state === 'done' ? 'ok' : r.state === 'paused' ? 'warn' : r.state)} ${Object.entries(r.counts).map(([k, n]) => t('servers.rollout_count', { n, state: agentUpdateState(k) })).join(', ')} <span class="muted">· ${r.created_by}, ${when(r.created_at)}</span></summary>
    ${r.message ? html`<div class="alert ${r.state === 'paused' ? 'warn' : 'info'}">${r.message}</div>` : ''}
    ${r.state === 'running' || r.state === 'paused' ? html`<div class="row">${r.state === 'paused' ? html`<button data-action="rollout-resume" data-id="${r.id}">${t('servers.resume')}</button>` : ''}<button class="danger" data-action="rollout-cancel" data-id="${r.id}">${t('common.cancel')}</button></div>` : ''}
    <div class="table-wrap"><table class="cards"><thead><tr><th>${t('servers.server')}</th><th>${t('servers.from')}</th><th>${t('servers.state')}</th><th class="hide-phone">${t('servers.message')}</th></tr></thead><tbody>${r.servers.map((s) => html`<tr data-rollout-server="${s.server_name}"><td>${s.server_name}</td><td>${s.from_version || '—'}</td><td>${badge(agentUpdateState(s.state), s.state === 'updated' ? 'ok' : s.state)}</td><td class="hide-phone">${s.message || ''}</td></tr>`)}</tbody></table></div></details>`)
    : html`<p class="muted">${rich(t('servers.no_rollouts', { version: latestAgent || t('servers.newest_carried') }), { command: html`<code>xfleet agent rollout</code>` })}</p>`);
}
// What the install line can hand out: versions and architectures of the agent binaries.
async function showAgentBinaries() {
  const box = $('#agent-binaries');
  try {
    const c = await api('GET', '/agent/binaries');
    latestAgent = c.binaries.reduce((best, b) => (!best || olderThan(best, b.version) ? b.version : best), null);
    show(box, c.binaries.length
      ? rich(t('servers.binaries'), { list: c.binaries.map((b, i) => html`${i ? ', ' : ''}<span class="mono" data-agent-binary="${b.version} ${b.arch}" title="SHA-256 ${b.sha256}">${b.version} ${b.arch}</span> (${mib(b.size)})`) })
      : rich(t('servers.no_binaries'), { file: html`<code>xfleet-agent-VERSION-linux-ARCH</code>`, dirs: c.searched.map((p, i) => html`${i ? ', ' : ''}<code>${p}</code>`), setting: html`<code>agent_binaries_dir</code>` }));
  } catch (err) {
    show(box, t('servers.binaries_error', { error: err.message }));
  }
}
async function showEnrollment(server) {
  const box = $('#enroll');
  const token = await api('POST', `/servers/${server.id}/enrollment-tokens`, {});
  const next = token.replaces_enrollment
    ? rich(t('servers.enroll_replaces'), { force: html`<code>--force</code>`, restart: html`<code>systemctl restart xfleet-agent</code>` })
    : rich(t('servers.enroll_start'), { run: html`<code>xfleet-agent run</code>`, enable: html`<code>systemctl enable --now xfleet-agent</code>` });
  const lead = t('servers.enroll_text', { when: when(token.expires_at), left: duration((token.expires_at - Date.now()) / 1000) });
  show(box, html`<div class="alert info">
    ${rich(lead, { title: html`<strong>${t('servers.enroll_title', { name: server.name })}</strong>` })}
    <div class="command"><code id="enroll-command" data-expires="${token.expires_at}">${token.command}</code><button class="primary" data-action="copy" data-copy-from="#enroll-command" data-what="${t('servers.enroll_copied')}">${t('common.copy')}</button></div>
    <div class="hint">${next} ${t('servers.turns_online')}</div>
    <p>${t('servers.install_text')}</p>
    <div class="command"><code id="install-command">${token.install_command}</code><button class="primary" data-action="copy" data-copy-from="#install-command" data-what="${t('servers.install_copied')}">${t('common.copy')}</button></div></div>`);
  box.scrollIntoView({ block: 'nearest' });
}

// ---- One server ----
export function pageServer() {
  const id = new URLSearchParams(location.search).get('id');
  const root = pageRoot();
  if (!id) { show(root, html`<p>${rich(t('servers.no_id'), { all: html`<a href="${BASE}/panel/servers">${t('servers.all_servers')}</a>` })}</p>`); return; }
  show(root, html`
    <div class="grid">
      <section class="card" aria-labelledby="info-title"><h2 id="info-title">${t('servers.server')}</h2><div id="info">${t('common.loading')}</div>
        <form id="address-form" novalidate><label for="public-address">${t('servers.public_address')}</label><div class="input-group"><input id="public-address" name="public_address" data-field="public_address" placeholder="vpn1.example.com" autocomplete="off"><button type="submit">${t('common.save')}</button></div>
        <div class="hint">${ADDRESS_HINT}</div><div class="alert error form-error" role="alert" hidden></div></form></section>
      <section class="card" aria-labelledby="core-title"><h2 id="core-title">${t('servers.core')}</h2>
        <div class="row"><button data-action="core" data-op="core.start">${t('servers.start')}</button><button data-action="core" data-op="core.stop">${t('servers.stop')}</button><button data-action="core" data-op="core.restart">${t('servers.restart')}</button></div>
        <form id="install" class="row" novalidate><div class="grow"><label for="core-version">${t('servers.install_version')}</label><input id="core-version" name="version" placeholder="25.3.6" required></div><button type="submit">${t('servers.install')}</button></form>
        <fieldset class="row" id="geo-files"><legend>${t('servers.geo_files')}</legend>${GEO_FILES.map((f, i) => (i < 2 ? html`<label><input type="checkbox" name="geo" value="${f}" checked> ${f}</label>` : html`<label><input type="checkbox" name="geo" value="${f}"> ${f}</label>`))}</fieldset>
        <div class="actions"><button data-action="geo">${t('servers.geo_update')}</button></div>
        <details id="releases"><summary>${t('servers.releases')}</summary><div id="release-rows" class="muted">${t('common.loading')}</div>
          <form id="release-upload" class="row" novalidate><div class="grow"><label for="release-file">${t('servers.release_file')}</label><input id="release-file" name="file" type="file" accept=".zip" required></div>
          <div><label for="release-version">${t('servers.version')}</label><input id="release-version" name="version" data-field="version" placeholder="25.3.6" required></div>
          <div><label for="release-arch">${t('servers.arch')}</label><select id="release-arch" name="arch"><option>x86_64</option><option>aarch64</option></select></div><button type="submit">${t('servers.upload')}</button>
          <div class="alert error form-error" role="alert" hidden></div></form></details>
        <div class="alert error form-error" role="alert" hidden></div>
      </section>
      <section class="card" aria-labelledby="danger-title"><h2 id="danger-title">${t('servers.access')}</h2>
        <p class="muted">${t('servers.access_text')}</p>
        <div class="row"><button data-action="server-enroll" data-access="enroll" aria-describedby="access-refusals">${t('servers.new_enrollment')}</button><button class="danger" data-action="revoke" data-access="revoke" aria-describedby="access-refusals">${t('servers.revoke')}</button><button class="danger" data-action="remove" data-access="remove" aria-describedby="access-refusals">${t('servers.remove')}</button></div>
        <ul class="muted" id="access-refusals"></ul>
      </section>
    </div>
    <section class="section" id="enroll" aria-live="polite"></section>
    <section class="card section" aria-labelledby="sys-title"><h2 id="sys-title">${t('servers.system')}</h2><div id="sys"><p class="muted">${t('common.loading')}</p></div></section>
    <section class="card section" aria-labelledby="samples-title"><h2 id="samples-title">${t('servers.samples_title', { n: SAMPLE_HOURS })}</h2><div id="samples"><p class="muted">${t('common.loading')}</p></div></section>
    <section class="card section" aria-labelledby="traffic-title"><h2 id="traffic-title">${t('servers.traffic')}</h2><div id="traffic"></div></section>
    <section class="card section" aria-labelledby="logs-title"><h2 id="logs-title">${t('servers.logs')}</h2>
      <div class="toolbar"><div><label for="log-level">${t('servers.log_level')}</label><select id="log-level"><option value="debug">${t('servers.log_debug')}</option><option value="info">${t('servers.log_info')}</option><option value="warning" selected>${t('servers.log_warning')}</option><option value="error">${t('servers.log_error')}</option></select></div>
      <div><label for="log-count">${t('servers.log_lines')}</label><select id="log-count">${[50, 200, 1000].map((n) => html`<option value="${n}" ${n === 200 ? raw('selected') : ''}>${num(n)}</option>`)}</select></div>
      <label class="inline"><input type="checkbox" id="log-follow"> ${t('servers.log_follow')}</label><button data-action="logs">${t('servers.refresh')}</button></div>
      <p><a id="access-log-link" href="${BASE}/panel/logs?server=${id}">${t('logs.server_link')}</a></p>
      <div class="logs" id="logs" tabindex="0" aria-label="${t('servers.log_label')}"><span class="muted">${t('common.loading')}</span></div></section>
    <section class="section" aria-labelledby="tasks-title"><h2 id="tasks-title">${t('servers.tasks_title')}</h2><div class="table-wrap" tabindex="0" role="region" aria-label="${t('servers.tasks_region')}"><table class="cards"><thead><tr><th>${t('activity.created')}</th><th>${t('activity.operation')}</th><th>${t('activity.status')}</th><th class="hide-phone">${t('activity.by')}</th><th class="hide-phone">${t('activity.attempts')}</th><th class="hide-phone">${t('activity.result')}</th></tr></thead><tbody id="task-rows"></tbody></table></div></section>`);
  let server = null;
  const loadInfo = (s) => {
    server = s;
    $('#title').textContent = t('servers.title', { name: s.name });
    document.title = `${s.name} · xfleet`;
    show($('#info'), html`<p>${stateBadge(s)} ${s.local ? badge(t('servers.local_server'), 'ok') : ''}</p><dl class="kv">
      <dt>${t('servers.id')}</dt><dd>${s.id}</dd><dt>${t('servers.region')}</dt><dd>${s.region || '—'}</dd><dt>${t('servers.tags')}</dt><dd>${(s.tags || []).join(', ') || '—'}</dd>
      <dt>${t('servers.host')}</dt><dd>${s.hostname || '—'}</dd><dt>${t('servers.connects_from')}</dt><dd class="mono">${s.live?.remote || '—'}</dd>
      <dt>${t('servers.public_address')}</dt><dd class="mono" id="public-address-now">${s.public_address || '—'}</dd>
      <dt>${t('servers.links_use')}</dt><dd id="link-host">${s.link_host ? html`<span class="mono">${s.link_host}</span> <span class="muted">(${LINK_SOURCES[s.link_host_source] || s.link_host_source})</span>` : html`<span>${t('servers.request_address')}</span>`}</dd>
      <dt>${t('servers.agent')}</dt><dd>${s.version || '—'}</dd>${s.agent_update ? html`<dt>${t('servers.agent_update_label')}</dt><dd id="agent-update">${badge(agentUpdateState(s.agent_update.state), s.agent_update.state === 'updated' ? 'ok' : s.agent_update.state)} <span class="muted">${s.agent_update.message || ''}</span></dd>` : ''}<dt>${t('servers.core')}</dt><dd>${coreText(s)}</dd>
      <dt>${t('servers.core_template')}</dt><dd><a id="core-template" href="${BASE}/panel/core?template=${s.core_template?.id ?? 'fleet'}">${s.core_template ? s.core_template.name : t('servers.fleet_template')}</a></dd>
      <dt>${t('servers.revision')}</dt><dd>${t('servers.revision_of', { applied: String(s.applied_revision), revision: String(s.revision) })}</dd><dt>${t('servers.last_seen')}</dt><dd>${s.connected ? t('servers.now') : when(s.last_seen)}</dd>
      ${s.last_error ? html`<dt>${t('servers.last_error')}</dt><dd>${s.last_error}</dd>` : ''}</dl>${failures(s)}
      ${s.link_warning ? html`<div class="alert warn" id="link-warning">${linkWarning(s)}</div>` : ''}`);
    showAccess(s);
  };
  // Actions that do not apply to this server are shown disabled, with the reason (the local
  // server's, which are the only ones, in the reader's words).
  const LOCAL_REFUSALS = { enroll: t('servers.refuse_enroll'), revoke: t('servers.refuse_revoke'), remove: t('servers.refuse_remove') };
  const showAccess = (s) => {
    const refusals = s.refusals || {};
    for (const button of root.querySelectorAll('[data-access]')) button.disabled = !!refusals[button.dataset.access];
    const reasons = [...new Set(Object.entries(refusals).filter(([, r]) => r)
      .map(([action, r]) => (s.local && LOCAL_REFUSALS[action]) || `${r.charAt(0).toUpperCase() + r.slice(1)}.`))];
    show($('#access-refusals'), reasons.map((r) => html`<li>${r}</li>`));
  };
  const loadSys = async () => {
    if (!server?.connected) { show($('#sys'), html`<p class="muted">${t('dashboard.not_connected')}</p>`); return; }
    try { show($('#sys'), systemStats(await api('POST', `/servers/${id}/call`, { method: 'system.stats', body: {} }))); applyWidths($('#sys')); } catch (e) { show($('#sys'), html`<p class="alert error">${e.message}</p>`); }
  };
  const loadSamples = async () => {
    const box = $('#samples');
    try { drawSamples(box, await api('GET', `/servers/${id}/samples?hours=${SAMPLE_HOURS}`), SAMPLE_HOURS, 'samples'); } catch (e) { delete box.dataset.drawn; show(box, html`<p class="alert error">${e.message}</p>`); }
  };
  const loadTraffic = async () => {
    try { show($('#traffic'), trafficChart(await api('GET', `/servers/${id}/history?hours=48`), 48, 'server-traffic')); } catch (e) { show($('#traffic'), html`<p class="muted">${e.message}</p>`); }
  };
  const loadLogs = async () => {
    if (!server?.connected) { show($('#logs'), html`<span class="muted">${t('dashboard.not_connected')}</span>`); return; }
    try {
      const out = await api('POST', `/servers/${id}/call`, { method: 'core.logs', body: { level: $('#log-level').value, count: Number($('#log-count').value) } });
      const box = $('#logs');
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 10;
      show(box, out.lines.length ? out.lines.map((l) => html`<div class="${l.level}"><span class="muted">${new Date(l.at_ms).toLocaleTimeString(LOCALE)}</span> [${l.level}] ${l.text}</div>`) : html`<span class="muted">${t('servers.no_lines')}</span>`);
      if (atEnd || $('#log-follow').checked) box.scrollTop = box.scrollHeight;
    } catch (e) { show($('#logs'), html`<span class="error">${e.message}</span>`); }
  };
  const loadTasks = async () => {
    const tasks = await api('GET', `/servers/${id}/tasks?limit=50`);
    show($('#task-rows'), tasks.length ? tasks.map(taskRow) : html`<tr><td colspan="6" class="empty">${t('servers.no_tasks')}</td></tr>`);
  };
  const task = async (operation, request, label) => {
    const queued = await api('POST', `/servers/${id}/tasks`, { operation, request });
    toast(t('servers.queued', { label }));
    await loadTasks();
    await waitTask(queued, label);
    await loadTasks();
  };
  // Stopping or restarting cuts every client of the server off, so it is asked first.
  const CORE_CONFIRM = {
    'core.stop': [(name) => t('servers.stop_title', { name }), t('servers.stop_text'), t('servers.stop_core')],
    'core.restart': [(name) => t('servers.restart_title', { name }), t('servers.restart_text'), t('servers.restart_core')],
  };
  // What each core button's task is called in its toasts.
  const CORE_LABELS = { 'core.start': t('servers.start_core'), 'core.stop': t('servers.stop_core'), 'core.restart': t('servers.restart_core') };
  actions.core = async (el) => {
    const ask = CORE_CONFIRM[el.dataset.op];
    if (ask && !(await confirmDialog(ask[0](server?.name ?? id), ask[1], ask[2]))) return;
    return busy(el, () => task(el.dataset.op, {}, CORE_LABELS[el.dataset.op]));
  };
  actions.geo = (el) => {
    const files = [...document.querySelectorAll('#geo-files input:checked')].map((i) => i.value);
    if (!files.length) { toast(t('servers.geo_none')); return; }
    return busy(el, () => task('geo.update', { files }, t('servers.geo_label', { files: files.join(', ') })));
  };
  const loadReleases = async () => {
    try {
      const held = await api('GET', '/core/releases');
      show($('#release-rows'), held.length
        ? html`<table><tr><th>${t('servers.version')}</th><th>${t('servers.arch')}</th><th>${t('servers.size')}</th><th>SHA-256</th></tr>${held.map((r) => html`<tr><td>${r.version}</td><td>${r.arch}</td><td>${mib(r.size)}</td><td><code>${r.sha256.slice(0, 16)}…</code></td></tr>`)}</table>`
        : html`<p class="muted">${t('servers.no_releases')}</p>`);
    } catch (e) { show($('#release-rows'), html`<p class="alert error">${e.message}</p>`); }
  };
  $('#releases').addEventListener('toggle', loadReleases);
  $('#release-upload').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    clearErrors(form);
    const file = form.file.files[0];
    const version = form.version.value.trim();
    if (!file || !/^v?\d+(\.\d+)+$/.test(version)) { fieldErrors(form, { fields: [{ field: 'version', message: t('servers.release_invalid') }] }); return; }
    try {
      const r = await busy(form.querySelector('[type="submit"]'), () => api('POST', `/core/releases?version=${encodeURIComponent(version)}&arch=${form.arch.value}`, file));
      toast(t('servers.release_stored', { version: r.version, arch: r.arch }));
      await loadReleases();
    } catch (err) { fieldErrors(form, err); }
  });
  actions.logs = loadLogs;
  $('#log-level').addEventListener('change', loadLogs);
  $('#log-count').addEventListener('change', loadLogs);
  $('#install').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const version = form.version.value.trim();
    clearErrors(form);
    if (!/^v?\d+(\.\d+)+$/.test(version)) { fieldErrors(form, { fields: [{ field: 'version', message: t('servers.version_invalid') }] }); return; }
    await busy(form.querySelector('button'), () => task('core.install', { version }, t('servers.install_label', { version }))).catch(failed);
  });
  const addressForm = $('#address-form');
  addressForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(addressForm);
    const address = addressForm.public_address.value.trim();
    try {
      const s = await busy(addressForm.querySelector('[type="submit"]'), () => api('PATCH', `/servers/${id}`, { public_address: address }));
      addressForm.public_address.value = s.public_address;
      loadInfo({ ...server, ...s });
      toast(s.public_address ? t('servers.address_set', { address: s.public_address }) : t('servers.address_cleared'));
    } catch (err) { fieldErrors(addressForm, err); }
  });
  actions['server-enroll'] = () => showEnrollment(server);
  actions.revoke = async () => {
    if (!(await confirmDialog(t('servers.revoke_title', { name: server.name }), t('servers.revoke_text'), t('servers.revoke')))) return;
    const r = await api('POST', `/servers/${id}/revoke`);
    toast(t(r.disconnected ? 'servers.revoked_disconnected' : 'servers.revoked', { n: r.certificates_revoked }));
  };
  actions.remove = async () => {
    if (!(await confirmDialog(t('servers.remove_title', { name: server.name }), t('servers.remove_text'), t('servers.remove')))) return;
    await api('DELETE', `/servers/${id}`);
    navigate(`${BASE}/panel/servers`);
  };
  // A server that cannot be shown leaves only its error on the page: nothing else loads.
  api('GET', `/servers/${id}`).then((s) => {
    loadInfo(s); addressForm.public_address.value = s.public_address; loadSys(); loadLogs();
    loadTraffic(); loadSamples(); loadTasks().catch(failed);
    every(3000, loadSys);
    every(2000, () => { if ($('#log-follow').checked) loadLogs(); });
    every(10000, () => loadTasks().catch(() => {}));
    every(60000, loadTraffic);
    every(20000, loadSamples);
  }).catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
  live.on((snap) => {
    const s = snap.servers.find((x) => String(x.id) === id);
    if (!s) return;
    const was = server?.connected;
    loadInfo(s);
    if (was === false && s.connected) { loadSys(); loadLogs(); }
  });
}
// What the server's core refused, in its own words: the last state as a whole, or single
// inbounds it runs without (the rest of the state runs).
export function failures(s) {
  const failed = s.failed_inbounds || [];
  if (!failed.length && !s.apply_error) return '';
  const name = (f) => (f.inbound_id ? html`<a href="${BASE}/panel/inbound?id=${f.inbound_id}">${f.remark || f.tag}</a>` : f.tag);
  return html`<div class="alert error" data-failures>
    ${s.apply_error ? html`<p>${t('servers.refused_state', { error: s.apply_error })}</p>` : ''}
    ${failed.map((f) => html`<p data-failed-inbound="${f.tag}">${rich(t('servers.inbound_failed'), { name: name(f), message: html`<span class="mono">${f.message}</span>` })}</p>`)}
    ${failed.length ? html`<p class="hint">${t('servers.failed_hint')}</p>` : ''}</div>`;
}
export function taskRow(task) {
  const result = task.error ? `${task.error.code}: ${task.error.message}` : task.response ? JSON.stringify(task.response).slice(0, 160) : '';
  const kind = task.status === 'running' ? 'running-task' : task.status;
  return html`<tr data-task="${task.operation}"><td>${when(task.created_at)}</td><td><code>${task.operation}</code></td><td>${badge(taskStatus(task.status), kind)}</td><td class="hide-phone" translate="no">${task.created_by}</td><td class="hide-phone">${num(task.attempts)}</td><td class="wrap hide-phone"><span class="mono">${result}</span></td></tr>`;
}
