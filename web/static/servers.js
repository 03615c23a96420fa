// The servers list (add a server, enrollment commands) and one server's page.
import { $, api, BASE, html, navigate, pageRoot, show } from './core.js';
import { actions, ago, applyWidths, badge, busy, chart, clearErrors, confirmDialog, coreText, duration, failed, fieldErrors, formValues, stateBadge, toast, waitTask, when } from './ui.js';
import { every, live } from './live.js';
import { t } from './i18n.js';

// The geo files 3x-ui offers; the first two are what every core uses.
const GEO_FILES = ['geoip.dat', 'geosite.dat', 'geoip_IR.dat', 'geosite_IR.dat', 'geoip_RU.dat', 'geosite_RU.dat'];
import { systemStats } from './dashboard.js';
import { drawSamples } from './charts.js';
// How far back the server page charts CPU and memory.
const SAMPLE_HOURS = 6;

// ---- Servers ----
const ADDRESS_HINT = 'Host name or IP put in share links; empty: an address the agent reports reachable, else its host name';
const LINK_SOURCES = { public_address: 'the public address set here', agent: 'reported by the agent', hostname: 'the host name the agent reports' };
export function pageServers() {
  const root = pageRoot();
  show(root, html`
    <section class="card section" aria-labelledby="add-title">
      <h2 id="add-title">Add server</h2>
      <form id="add-server" novalidate>
        <div class="form-grid">
          <div><label for="s-name">Name</label><input id="s-name" name="name" required placeholder="ams-1" autocomplete="off"><div class="hint">Letters, digits, - _ .</div></div>
          <div><label for="s-region">Region</label><input id="s-region" name="region" placeholder="eu"></div>
          <div><label for="s-tags">Tags</label><input id="s-tags" name="tags" placeholder="prod, nl"><div class="hint">Comma separated</div></div>
          <div><label for="s-address">Public address</label><input id="s-address" name="public_address" data-field="public_address" placeholder="vpn1.example.com" autocomplete="off"><div class="hint">${ADDRESS_HINT}</div></div>
        </div>
        <div class="alert error form-error" role="alert" hidden></div>
        <div class="actions"><button class="primary" type="submit">Add server</button></div>
      </form>
      <div id="enroll" aria-live="polite"></div>
      <p class="hint" id="agent-binaries">Agent binaries: …</p>
    </section>
    <div class="table-wrap" tabindex="0" role="region" aria-label="Servers, scrollable"><table class="cards"><caption class="skip">Servers</caption><thead><tr><th>Name</th><th>Status</th><th class="hide-phone">Region</th><th class="hide-phone">Public address</th><th class="hide-phone">Agent</th><th>Core</th><th>Last seen</th><th>Inbounds</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="server-rows"></tbody></table></div>
    <section class="section" aria-labelledby="rollouts-title"><h2 id="rollouts-title">Agent updates</h2><div id="rollouts"><p class="muted">Loading…</p></div></section>`);
  const form = $('#add-server');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    const body = { name: v.name.trim(), region: v.region.trim(), tags: v.tags.split(',').map((t) => t.trim()).filter(Boolean), notes: '', public_address: v.public_address.trim() };
    try {
      const server = await busy(form.querySelector('[type="submit"]'), () => api('POST', '/servers', body));
      form.reset();
      toast(`Server ${server.name} added`);
      await showEnrollment(server);
    } catch (err) {
      if (!err.fields.length && /name/i.test(err.message)) err.fields = [{ field: 'name', message: err.message }];
      fieldErrors(form, err);
    }
  });
  actions.enroll = async (el) => showEnrollment({ id: Number(el.dataset.id), name: el.dataset.name });
  actions['agent-update'] = async (el) => {
    if (!await confirmDialog(`Update the agent of ${el.dataset.name}?`, `The agent ${latestAgent} is sent over the server's channel; the agent checks its signature, restarts into it (its core restarts too, a second or so without VPN) and rolls back by itself if it cannot reconnect.`, 'Update agent')) return;
    await busy(el, () => api('POST', `/servers/${el.dataset.id}/agent-update`, { version: latestAgent }));
    toast(`Updating the agent of ${el.dataset.name}`);
    await showRollouts();
  };
  actions['rollout-resume'] = async (el) => { await busy(el, () => api('POST', `/agent/rollouts/${el.dataset.id}/resume`, {})); await showRollouts(); };
  actions['rollout-cancel'] = async (el) => { await busy(el, () => api('POST', `/agent/rollouts/${el.dataset.id}/cancel`, {})); await showRollouts(); };
  showAgentBinaries();
  showRollouts();
  every(3000, () => showRollouts().catch(() => {}));
  live.on((snap) => {
    show($('#server-rows'), snap.servers.length ? snap.servers.map((s) => html`<tr data-server-row="${s.name}">
      <td><a href="${BASE}/panel/server?id=${s.id}">${s.name}</a>${s.local ? html` ${badge('local', 'ok')}` : ''}</td>
      <td>${stateBadge(s)}</td><td class="hide-phone">${s.region || '—'}</td><td class="hide-phone mono" data-public-address>${s.public_address || '—'}</td><td class="hide-phone">${s.version || '—'}${newer(s) ? html` <button class="small" data-action="agent-update" data-id="${s.id}" data-name="${s.name}" title="Push agent ${latestAgent} to this server over its channel">Update agent</button>` : ''}</td>
      <td>${coreText(s)}</td><td>${s.connected ? 'now' : ago(s.last_seen)}</td><td>${s.usage.inbounds}</td>
      <td>${s.local ? '' : html`<button class="small" data-action="enroll" data-id="${s.id}" data-name="${s.name}">Enrollment command</button>`}</td></tr>`)
      : html`<tr><td colspan="9" class="empty">No servers yet: add one above.</td></tr>`);
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
    <summary>Agent ${r.version}: ${badge(r.state, r.state === 'done' ? 'ok' : r.state === 'paused' ? 'warn' : r.state)} ${Object.entries(r.counts).map(([k, n]) => `${n} ${k}`).join(', ')} <span class="muted">· ${r.created_by}, ${when(r.created_at)}</span></summary>
    ${r.message ? html`<div class="alert ${r.state === 'paused' ? 'warn' : 'info'}">${r.message}</div>` : ''}
    ${r.state === 'running' || r.state === 'paused' ? html`<div class="row">${r.state === 'paused' ? html`<button data-action="rollout-resume" data-id="${r.id}">Resume</button>` : ''}<button class="danger" data-action="rollout-cancel" data-id="${r.id}">Cancel</button></div>` : ''}
    <div class="table-wrap"><table class="cards"><thead><tr><th>Server</th><th>From</th><th>State</th><th class="hide-phone">Message</th></tr></thead><tbody>${r.servers.map((s) => html`<tr data-rollout-server="${s.server_name}"><td>${s.server_name}</td><td>${s.from_version || '—'}</td><td>${badge(s.state, s.state === 'updated' ? 'ok' : s.state)}</td><td class="hide-phone">${s.message || ''}</td></tr>`)}</tbody></table></div></details>`)
    : html`<p class="muted">No agent updates yet. A server whose agent is older than ${latestAgent || 'the newest carried'} shows an Update agent button above; the API and <code>xfleet agent rollout</code> update many at once.</p>`);
}
// What the install line can hand out: versions and architectures of the agent binaries.
async function showAgentBinaries() {
  const box = $('#agent-binaries');
  try {
    const c = await api('GET', '/agent/binaries');
    latestAgent = c.binaries.reduce((best, b) => (!best || olderThan(best, b.version) ? b.version : best), null);
    const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
    show(box, c.binaries.length
      ? html`Agent binaries this controller hands out: ${c.binaries.map((b, i) => html`${i ? ', ' : ''}<span class="mono" data-agent-binary="${b.version} ${b.arch}" title="SHA-256 ${b.sha256}">${b.version} ${b.arch}</span> (${mib(b.size)})`)}.`
      : html`This controller carries no agent binaries, so install lines cannot work yet: put <code>xfleet-agent-VERSION-linux-ARCH</code> files in one of ${c.searched.map((p, i) => html`${i ? ', ' : ''}<code>${p}</code>`)} or set <code>agent_binaries_dir</code>.`);
  } catch (err) {
    show(box, html`Agent binaries: ${err.message}`);
  }
}
async function showEnrollment(server) {
  const box = $('#enroll');
  const t = await api('POST', `/servers/${server.id}/enrollment-tokens`, {});
  const next = t.replaces_enrollment
    ? html`This server was enrolled before, so the command replaces the enrollment its host holds (<code>--force</code>). A running agent uses the new one at its next attempt; <code>systemctl restart xfleet-agent</code> makes that now.`
    : html`Then start the agent: <code>xfleet-agent run</code> (or <code>systemctl enable --now xfleet-agent</code>).`;
  show(box, html`<div class="alert info">
    <strong>Enroll ${server.name}</strong>: run this on the VPN host. It works once and expires ${when(t.expires_at)} (${duration((t.expires_at - Date.now()) / 1000)} from now).
    <div class="command"><code id="enroll-command" data-expires="${t.expires_at}">${t.command}</code><button class="primary" data-action="copy" data-copy-from="#enroll-command" data-what="Enrollment command copied">Copy</button></div>
    <div class="hint">${next} The server turns online here by itself.</div>
    <p>Or, on a fresh host, as root: this line downloads the agent from this controller (trusting only its pinned key), installs it as a service with its own user and enrolls it. On a host already enrolled it changes nothing.</p>
    <div class="command"><code id="install-command">${t.install_command}</code><button class="primary" data-action="copy" data-copy-from="#install-command" data-what="Install line copied">Copy</button></div></div>`);
  box.scrollIntoView({ block: 'nearest' });
}

// ---- One server ----
export function pageServer() {
  const id = new URLSearchParams(location.search).get('id');
  const root = pageRoot();
  if (!id) { show(root, html`<p>No server given. <a href="${BASE}/panel/servers">All servers</a></p>`); return; }
  show(root, html`
    <div class="grid">
      <section class="card" aria-labelledby="info-title"><h2 id="info-title">Server</h2><div id="info">Loading…</div>
        <form id="address-form" novalidate><label for="public-address">Public address</label><div class="input-group"><input id="public-address" name="public_address" data-field="public_address" placeholder="vpn1.example.com" autocomplete="off"><button type="submit">Save</button></div>
        <div class="hint">${ADDRESS_HINT}</div><div class="alert error form-error" role="alert" hidden></div></form></section>
      <section class="card" aria-labelledby="core-title"><h2 id="core-title">Core</h2>
        <div class="row"><button data-action="core" data-op="core.start">Start</button><button data-action="core" data-op="core.stop">Stop</button><button data-action="core" data-op="core.restart">Restart</button></div>
        <form id="install" class="row" novalidate><div class="grow"><label for="core-version">Install core version</label><input id="core-version" name="version" placeholder="25.3.6" required></div><button type="submit">Install</button></form>
        <fieldset class="row" id="geo-files"><legend>Geo files (sent by the controller)</legend>${GEO_FILES.map((f, i) => (i < 2 ? html`<label><input type="checkbox" name="geo" value="${f}" checked> ${f}</label>` : html`<label><input type="checkbox" name="geo" value="${f}"> ${f}</label>`))}</fieldset>
        <div class="actions"><button data-action="geo">Update geo files</button></div>
        <details id="releases"><summary>Core releases the controller holds</summary><div id="release-rows" class="muted">Loading…</div>
          <form id="release-upload" class="row" novalidate><div class="grow"><label for="release-file">Release zip (as published, e.g. Xray-linux-64.zip)</label><input id="release-file" name="file" type="file" accept=".zip" required></div>
          <div><label for="release-version">Version</label><input id="release-version" name="version" data-field="version" placeholder="25.3.6" required></div>
          <div><label for="release-arch">Architecture</label><select id="release-arch" name="arch"><option>x86_64</option><option>aarch64</option></select></div><button type="submit">Upload</button>
          <div class="alert error form-error" role="alert" hidden></div></form></details>
        <div class="alert error form-error" role="alert" hidden></div>
      </section>
      <section class="card" aria-labelledby="danger-title"><h2 id="danger-title">Access</h2>
        <p class="muted">A new enrollment command lets an agent join as this server. Revoking cuts the agent off at once; removing deletes the server with its inbounds.</p>
        <div class="row"><button data-action="server-enroll" data-access="enroll" aria-describedby="access-refusals">New enrollment command</button><button class="danger" data-action="revoke" data-access="revoke" aria-describedby="access-refusals">Revoke</button><button class="danger" data-action="remove" data-access="remove" aria-describedby="access-refusals">Remove</button></div>
        <ul class="muted" id="access-refusals"></ul>
      </section>
    </div>
    <section class="section" id="enroll" aria-live="polite"></section>
    <section class="card section" aria-labelledby="sys-title"><h2 id="sys-title">System status</h2><div id="sys"><p class="muted">Loading…</p></div></section>
    <section class="card section" aria-labelledby="samples-title"><h2 id="samples-title">CPU and memory, last ${SAMPLE_HOURS} hours</h2><div id="samples"><p class="muted">Loading…</p></div></section>
    <section class="card section" aria-labelledby="traffic-title"><h2 id="traffic-title">Traffic</h2><div id="traffic"></div></section>
    <section class="card section" aria-labelledby="logs-title"><h2 id="logs-title">Core logs</h2>
      <div class="toolbar"><div><label for="log-level">Level</label><select id="log-level"><option value="debug">debug and above</option><option value="info">info and above</option><option value="warning" selected>warning and above</option><option value="error">error</option></select></div>
      <div><label for="log-count">Lines</label><select id="log-count"><option>50</option><option selected>200</option><option>1000</option></select></div>
      <label class="inline"><input type="checkbox" id="log-follow"> Follow</label><button data-action="logs">Refresh</button></div>
      <p><a id="access-log-link" href="${BASE}/panel/logs?server=${id}">${t('logs.server_link')}</a></p>
      <div class="logs" id="logs" tabindex="0" aria-label="Core log lines"><span class="muted">Loading…</span></div></section>
    <section class="section" aria-labelledby="tasks-title"><h2 id="tasks-title">Task history</h2><div class="table-wrap" tabindex="0" role="region" aria-label="Task history, scrollable"><table class="cards"><thead><tr><th>Created</th><th>Operation</th><th>Status</th><th class="hide-phone">By</th><th class="hide-phone">Attempts</th><th class="hide-phone">Result</th></tr></thead><tbody id="task-rows"></tbody></table></div></section>`);
  let server = null;
  const loadInfo = (s) => {
    server = s;
    $('#title').textContent = `Server ${s.name}`;
    document.title = `${s.name} · xfleet`;
    show($('#info'), html`<p>${stateBadge(s)} ${s.local ? badge('local server', 'ok') : ''}</p><dl class="kv">
      <dt>Id</dt><dd>${s.id}</dd><dt>Region</dt><dd>${s.region || '—'}</dd><dt>Tags</dt><dd>${(s.tags || []).join(', ') || '—'}</dd>
      <dt>Host</dt><dd>${s.hostname || '—'}</dd><dt>Connects from</dt><dd>${s.live?.remote || '—'}</dd>
      <dt>Public address</dt><dd class="mono" id="public-address-now">${s.public_address || '—'}</dd>
      <dt>Share links use</dt><dd id="link-host"><span class="mono">${s.link_host || 'the address each request reached'}</span>${s.link_host ? html` <span class="muted">(${LINK_SOURCES[s.link_host_source] || s.link_host_source})</span>` : ''}</dd>
      <dt>Agent</dt><dd>${s.version || '—'}</dd>${s.agent_update ? html`<dt>Agent update</dt><dd id="agent-update">${badge(s.agent_update.state, s.agent_update.state === 'updated' ? 'ok' : s.agent_update.state)} <span class="muted">${s.agent_update.message || ''}</span></dd>` : ''}<dt>Core</dt><dd>${coreText(s)}</dd>
      <dt>Core template</dt><dd><a id="core-template" href="${BASE}/panel/core?template=${s.core_template?.id ?? 'fleet'}">${s.core_template ? s.core_template.name : 'the fleet template'}</a></dd>
      <dt>Revision</dt><dd>${s.applied_revision} of ${s.revision}</dd><dt>Last seen</dt><dd>${s.connected ? 'now' : when(s.last_seen)}</dd>
      ${s.last_error ? html`<dt>Last error</dt><dd>${s.last_error}</dd>` : ''}</dl>${failures(s)}
      ${s.link_warning ? html`<div class="alert warn" id="link-warning">${s.link_warning}</div>` : ''}`);
    showAccess(s);
  };
  // Actions that do not apply to this server are shown disabled, with the reason.
  const showAccess = (s) => {
    const refusals = s.refusals || {};
    for (const button of root.querySelectorAll('[data-access]')) button.disabled = !!refusals[button.dataset.access];
    const reasons = [...new Set(Object.values(refusals).filter(Boolean))];
    show($('#access-refusals'), reasons.map((r) => html`<li>${r.charAt(0).toUpperCase() + r.slice(1)}.</li>`));
  };
  const loadSys = async () => {
    if (!server?.connected) { show($('#sys'), html`<p class="muted">The server is not connected.</p>`); return; }
    try { show($('#sys'), systemStats(await api('POST', `/servers/${id}/call`, { method: 'system.stats', body: {} }))); applyWidths($('#sys')); } catch (e) { show($('#sys'), html`<p class="alert error">${e.message}</p>`); }
  };
  const loadSamples = async () => {
    const box = $('#samples');
    try { drawSamples(box, await api('GET', `/servers/${id}/samples?hours=${SAMPLE_HOURS}`), SAMPLE_HOURS, 'samples'); } catch (e) { delete box.dataset.drawn; show(box, html`<p class="alert error">${e.message}</p>`); }
  };
  const loadTraffic = async () => {
    try { show($('#traffic'), chart(await api('GET', `/servers/${id}/history?hours=48`), 48)); } catch (e) { show($('#traffic'), html`<p class="muted">${e.message}</p>`); }
  };
  const loadLogs = async () => {
    if (!server?.connected) { show($('#logs'), html`<span class="muted">The server is not connected.</span>`); return; }
    try {
      const out = await api('POST', `/servers/${id}/call`, { method: 'core.logs', body: { level: $('#log-level').value, count: Number($('#log-count').value) } });
      const box = $('#logs');
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 10;
      show(box, out.lines.length ? out.lines.map((l) => html`<div class="${l.level}"><span class="muted">${new Date(l.at_ms).toLocaleTimeString()}</span> [${l.level}] ${l.text}</div>`) : html`<span class="muted">No lines at this level.</span>`);
      if (atEnd || $('#log-follow').checked) box.scrollTop = box.scrollHeight;
    } catch (e) { show($('#logs'), html`<span class="error">${e.message}</span>`); }
  };
  const loadTasks = async () => {
    const tasks = await api('GET', `/servers/${id}/tasks?limit=50`);
    show($('#task-rows'), tasks.length ? tasks.map(taskRow) : html`<tr><td colspan="6" class="empty">No tasks yet.</td></tr>`);
  };
  const task = async (operation, request, label) => {
    const t = await api('POST', `/servers/${id}/tasks`, { operation, request });
    toast(`${label}: queued`);
    await loadTasks();
    await waitTask(t, label);
    await loadTasks();
  };
  // Stopping or restarting cuts every client of the server off, so it is asked first.
  const CORE_CONFIRM = {
    'core.stop': [(name) => `Stop the core of ${name}?`, 'Every inbound of this server stops serving clients until the core is started again.', 'Stop core'],
    'core.restart': [(name) => `Restart the core of ${name}?`, 'Every client of this server is disconnected for a moment while the core restarts.', 'Restart core'],
  };
  actions.core = async (el) => {
    const ask = CORE_CONFIRM[el.dataset.op];
    if (ask && !(await confirmDialog(ask[0](server?.name ?? id), ask[1], ask[2]))) return;
    return busy(el, () => task(el.dataset.op, {}, `${el.textContent} core`));
  };
  actions.geo = (el) => {
    const files = [...document.querySelectorAll('#geo-files input:checked')].map((i) => i.value);
    if (!files.length) { toast('Choose at least one geo file'); return; }
    return busy(el, () => task('geo.update', { files }, `Geo files update (${files.join(', ')})`));
  };
  const loadReleases = async () => {
    try {
      const held = await api('GET', '/core/releases');
      show($('#release-rows'), held.length
        ? html`<table><tr><th>Version</th><th>Architecture</th><th>Size</th><th>SHA-256</th></tr>${held.map((r) => html`<tr><td>${r.version}</td><td>${r.arch}</td><td>${(r.size / 1048576).toFixed(1)} MiB</td><td><code>${r.sha256.slice(0, 16)}…</code></td></tr>`)}</table>`
        : html`<p class="muted">None yet: installing a version fetches it once from the release site, or upload it here.</p>`);
    } catch (e) { show($('#release-rows'), html`<p class="alert error">${e.message}</p>`); }
  };
  $('#releases').addEventListener('toggle', loadReleases);
  $('#release-upload').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    clearErrors(form);
    const file = form.file.files[0];
    const version = form.version.value.trim();
    if (!file || !/^v?\d+(\.\d+)+$/.test(version)) { fieldErrors(form, { fields: [{ field: 'version', message: 'a zip file and a release version such as 25.3.6' }] }); return; }
    try {
      const r = await busy(form.querySelector('[type="submit"]'), () => api('POST', `/core/releases?version=${encodeURIComponent(version)}&arch=${form.arch.value}`, file));
      toast(`Xray ${r.version} for ${r.arch} stored`);
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
    if (!/^v?\d+(\.\d+)+$/.test(version)) { fieldErrors(form, { fields: [{ field: 'version', message: 'a release version such as 25.3.6' }] }); return; }
    await busy(form.querySelector('button'), () => task('core.install', { version }, `Install core ${version}`)).catch(failed);
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
      toast(s.public_address ? `Share links now point at ${s.public_address}` : 'Share links use the default address again');
    } catch (err) { fieldErrors(addressForm, err); }
  });
  actions['server-enroll'] = () => showEnrollment(server);
  actions.revoke = async () => {
    if (!(await confirmDialog(`Revoke ${server.name}?`, 'The agent is cut off at once and needs a new enrollment command to come back.', 'Revoke'))) return;
    const r = await api('POST', `/servers/${id}/revoke`);
    toast(`Revoked ${r.certificates_revoked} certificate(s)${r.disconnected ? ', agent disconnected' : ''}`);
  };
  actions.remove = async () => {
    if (!(await confirmDialog(`Remove ${server.name}?`, 'The server, its inbounds and its task history are deleted. Clients attached elsewhere stay.', 'Remove'))) return;
    await api('DELETE', `/servers/${id}`);
    navigate(`${BASE}/panel/servers`);
  };
  api('GET', `/servers/${id}`).then((s) => { loadInfo(s); addressForm.public_address.value = s.public_address; loadSys(); loadLogs(); }).catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
  live.on((snap) => {
    const s = snap.servers.find((x) => String(x.id) === id);
    if (!s) return;
    const was = server?.connected;
    loadInfo(s);
    if (was === false && s.connected) { loadSys(); loadLogs(); }
  });
  loadTraffic(); loadSamples(); loadTasks().catch(failed);
  every(3000, loadSys);
  every(2000, () => { if ($('#log-follow').checked) loadLogs(); });
  every(10000, () => loadTasks().catch(() => {}));
  every(60000, loadTraffic);
  every(20000, loadSamples);
}
// What the server's core refused, in its own words: the last state as a whole, or single
// inbounds it runs without (the rest of the state runs).
export function failures(s) {
  const failed = s.failed_inbounds || [];
  if (!failed.length && !s.apply_error) return '';
  const name = (f) => (f.inbound_id ? html`<a href="${BASE}/panel/inbound?id=${f.inbound_id}">${f.remark || f.tag}</a>` : f.tag);
  return html`<div class="alert error" data-failures>
    ${s.apply_error ? html`<p>The core refused the last state: ${s.apply_error}</p>` : ''}
    ${failed.map((f) => html`<p data-failed-inbound="${f.tag}">Inbound ${name(f)} is not running: <span class="mono">${f.message}</span></p>`)}
    ${failed.length ? html`<p class="hint">The rest of the server's inbounds run. Change the inbound (another port, for one another program holds) or switch it off and on to try it again.</p>` : ''}</div>`;
}
export function taskRow(t) {
  const result = t.error ? `${t.error.code}: ${t.error.message}` : t.response ? JSON.stringify(t.response).slice(0, 160) : '';
  const kind = t.status === 'running' ? 'running-task' : t.status;
  return html`<tr data-task="${t.operation}"><td>${when(t.created_at)}</td><td><code>${t.operation}</code></td><td>${badge(t.status, kind)}</td><td class="hide-phone">${t.created_by}</td><td class="hide-phone">${t.attempts}</td><td class="wrap hide-phone"><span class="mono">${result}</span></td></tr>`;
}
