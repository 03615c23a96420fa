// The settings page: panel configuration, password, two-factor login, API tokens,
// sessions and the stored 3x-ui settings.
import { $, api, html, pageData, pageRoot, raw, show } from './core.js';
import { actions, ago, badge, busy, clearErrors, confirmDialog, duration, failed, fieldErrors, formValues, qrImage, toast, when } from './ui.js';

// ---- Settings ----
// [key, label, kind, what the server uses while the key is unset]
const SUB_KEYS = [
  ['subEnable', 'Serve subscriptions', 'bool', 'true'],
  ['subListen', 'Listen address (applies at the next start)', 'text', 'all addresses'],
  ['subPort', 'Port (applies at the next start)', 'int', '2096'],
  ['subDomain', 'Domain: requests for any other host name are refused', 'text', 'any host name'],
  ['subCertFile', 'TLS certificate file (PEM chain, applies at the next start)', 'text', 'plain HTTP'],
  ['subKeyFile', 'TLS key file (PEM)', 'text'],
  ['subURI', 'Public subscription URL prefix', 'text', 'the listener\'s address'],
  ['subPath', 'Links path', 'text', '/sub/'],
  ['subUpdates', 'Update interval (hours)', 'int', '12'],
  ['subEncrypt', 'Encode the link list in base64', 'bool', 'true'],
  ['subShowInfo', 'Show usage and time left in each link\'s name', 'bool', 'true'],
  ['remarkModel', 'Link name model (3x-ui remarkModel)', 'text', '-ieo'],
  ['subTitle', 'Title', 'text'],
  ['subSupportUrl', 'Support URL', 'text'],
  ['subProfileUrl', 'Profile page URL', 'text', 'the subscription\'s own page'],
  ['subAnnounce', 'Announcement to users (apps and the page)', 'long'],
  ['subEnableRouting', 'Send routing rules to apps that take them (Happ)', 'bool', 'true'],
  ['subRoutingRules', 'Routing rules (a Happ routing link)', 'long'],
  ['subJsonEnable', 'Serve the JSON format', 'bool', 'true'],
  ['subJsonPath', 'JSON path', 'text', '/json/'],
  ['subJsonURI', 'Public JSON URL prefix', 'text', 'the listener\'s address'],
  ['subClashEnable', 'Serve the Clash format', 'bool', 'true'],
  ['subClashPath', 'Clash path', 'text', '/clash/'],
  ['subClashURI', 'Public Clash URL prefix', 'text', 'the listener\'s address'],
];
const SESSION_KEYS = [['sessionMaxAge', 'Session length (minutes)', 'int', '10080'],
  ['datepicker', 'Calendar for dates in the panel', 'select', 'gregorian', [['gregorian', 'Gregorian'], ['jalalian', 'Persian (Jalali)']]],
  ['timeLocation', 'Time zone of periodic traffic resets (e.g. Asia/Tehran)', 'text', 'Local: this host\'s zone']];
const TLS_KEYS = [['webCertFile', 'Certificate file (PEM chain)', 'text'], ['webKeyFile', 'Key file (PEM)', 'text']];
const COMPAT_KEYS = [['defaultServer', 'Default server (id or name)', 'text', 'the local server, else the first added']];
const TG_KEYS = [['tgBotEnable', 'Telegram bot enabled', 'bool'], ['tgBotToken', 'Bot token', 'secret'], ['tgBotChatId', 'Admin chat ids (comma separated)', 'text'], ['tgRunTime', 'Report schedule', 'text'], ['tgBotLoginNotify', 'Notify on panel logins', 'bool'], ['tgCpu', 'CPU alert threshold (%)', 'int', '80']];
function settingsForm(id, title, keys, values, note) {
  return html`<form class="card section" id="${id}" novalidate><h2>${title}</h2>${note ? html`<p class="muted">${note}</p>` : ''}<div class="form-grid">
    ${keys.map(([key, label, kind, unset = '', choices = []]) => kind === 'bool'
      ? html`<div><label class="inline"><input type="checkbox" name="${key}" data-field="${key}" ${raw((values[key] ?? unset) === 'true' ? 'checked' : '')}> ${label}</label></div>`
      : kind === 'select'
        ? html`<div><label for="set-${key}">${label}</label><select id="set-${key}" name="${key}" data-field="${key}">${choices.map(([v, text]) => html`<option value="${v}" ${raw((values[key] || unset) === v ? 'selected' : '')}>${text}</option>`)}</select></div>`
        : kind === 'long'
        ? html`<div class="span-all"><label for="set-${key}">${label}</label><textarea id="set-${key}" name="${key}" data-field="${key}" rows="3" placeholder="${unset}">${values[key] || ''}</textarea></div>`
        : html`<div><label for="set-${key}">${label}</label><input id="set-${key}" name="${key}" data-field="${key}" ${raw(kind === 'secret' ? 'type="password" autocomplete="new-password"' : kind === 'int' ? 'inputmode="numeric" autocomplete="off"' : 'autocomplete="off"')} value="${kind === 'secret' ? '' : values[key] || ''}" placeholder="${kind === 'secret' ? (values[key] ? 'unchanged' : '') : unset}"></div>`)}
    </div><div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">Save</button></div></form>`;
}
// One of the panel's place settings; disabled, with the reason, when the configuration sets it.
function placeField(key, label, fixed, placeholder, hint, configKey) {
  return html`<div><label for="set-${key}">${label}</label><input id="set-${key}" name="${key}" data-field="${key}" autocomplete="off" placeholder="${placeholder}" ${raw(key === 'webPort' ? 'inputmode="numeric"' : '')} ${raw(fixed ? 'disabled' : '')}>
    <div class="hint">${fixed ? html`Set by <code>${configKey}</code> in the configuration, which wins` : hint}</div></div>`;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Waits for a new run of the controller (its start time changes), then opens the panel where
// it now lives. Another origin cannot be asked (the page's policy keeps requests to its own),
// so then the wait is for this one to go away.
async function followRestart(target, before) {
  const same = new URL(target).origin === location.origin;
  for (let i = 0; i < 120; i++) {
    await sleep(500);
    try {
      const r = await fetch('/api/v1/health', { cache: 'no-store' });
      const h = await r.json();
      if (same && h.data.started_at !== before) break;
    } catch { if (!same) { await sleep(2000); break; } }
  }
  location.href = target;
}
export function pageSettings() {
  const root = pageRoot();
  const cfg = pageData.config || {};
  const place = cfg.place || {};
  show(root, html`
    <section class="card section" aria-labelledby="panel-title"><h2 id="panel-title">Panel</h2>
      ${place.problem ? html`<p class="alert error" id="place-problem">${place.problem}</p>` : ''}
      <dl class="kv"><dt>Listening on</dt><dd class="mono" id="panel-listen">${cfg.panel_listen}</dd><dt>Base path</dt><dd class="mono" id="panel-base">${cfg.base_path}</dd>
      <dt>TLS</dt><dd id="panel-tls">${cfg.panel_tls ? html`HTTPS with <span class="mono">${cfg.panel_tls.cert_file}</span> (${cfg.panel_tls.cert_setting})` : 'Plain HTTP: keep it on loopback, or set a certificate below'}</dd><dt>Session lifetime</dt><dd>${cfg.session_ttl_secs ? html`${duration(cfg.session_ttl_secs)} (set by <code>session_ttl_secs</code> in the configuration)` : 'the Session length below'}</dd>
      <dt>Agent gateway</dt><dd class="mono">${cfg.gateway_url} (listens on ${cfg.gateway_listen})</dd><dt>Enrollment token lifetime</dt><dd>${duration(cfg.token_ttl_secs)}</dd>
      <dt>Single-server mode</dt><dd>${cfg.local_server ? 'on' : 'off'}</dd><dt>Version</dt><dd>${pageData.version}</dd></dl>
      <form id="place-form" novalidate><div class="form-grid">
        ${placeField('webListen', 'Listen address', place.listen_fixed, '127.0.0.1', 'An IP address; 0.0.0.0 or :: for all. Empty: 127.0.0.1, this machine only', 'panel_listen')}
        ${placeField('webPort', 'Port', place.listen_fixed, '2053', '1–65535. Empty: 2053', 'panel_listen')}
        ${placeField('webBasePath', 'Base path', place.base_fixed, '/', 'Pages and the 3x-ui API live under it, e.g. /secret/. The native API stays at /api/v1', 'base_path')}</div>
        <div class="alert error form-error" role="alert" hidden></div>
        <div class="actions"><button type="submit" class="primary">Save</button><button type="button" data-action="restart-panel">Restart panel</button></div></form>
      <p class="hint">Saved values, and the certificate below, apply when the panel restarts. A restart is refused if the panel could not come back (an address in use, unusable certificate files). Remote servers keep serving through it; the local server's core restarts with the panel.</p><div id="restart-state" aria-live="polite"></div></section>
    <form class="card section" id="username-form" novalidate><h2>Admin username</h2><div class="form-grid">
      <div><label for="un-new">Username</label><input id="un-new" name="username" data-field="username" autocomplete="username" value="${document.querySelector('.top .user')?.textContent.trim() || ''}"><div class="hint">Up to 64 characters, no spaces. Sessions and API tokens stay valid</div></div>
      <div><label for="un-current">Current password</label><input id="un-current" name="current" data-field="current" type="password" autocomplete="current-password"></div></div>
      <div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">Change username</button></div></form>
    <form class="card section" id="password-form" novalidate><h2>Admin password</h2><div class="form-grid">
      <div><label for="pw-current">Current password</label><input id="pw-current" name="current" data-field="current" type="password" autocomplete="current-password"></div>
      <div><label for="pw-new">New password</label><input id="pw-new" name="new" data-field="new" type="password" autocomplete="new-password"><div class="hint">At least 8 characters</div></div>
      <div><label for="pw-repeat">Repeat new password</label><input id="pw-repeat" name="repeat" data-field="repeat" type="password" autocomplete="new-password"></div></div>
      <div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">Change password</button></div></form>
    <section class="card section" aria-labelledby="tfa-title"><h2 id="tfa-title">Two-factor login</h2><div id="tfa">Loading…</div></section>
    <section class="card section" aria-labelledby="tok-title"><h2 id="tok-title">API tokens</h2>
      <form id="token-form" class="row" novalidate><div class="grow"><label for="tok-name">Name</label><input id="tok-name" name="name" data-field="name" placeholder="ci"></div>
      <div><label for="tok-scope">Scope</label><select id="tok-scope" name="scope"><option value="admin">admin</option><option value="read-only">read-only</option></select></div><button type="submit" class="primary">Create token</button></form>
      <div id="new-token"></div><div class="table-wrap" tabindex="0" role="region" aria-label="API tokens, scrollable"><table class="cards"><thead><tr><th>Name</th><th>Scope</th><th>Created</th><th>Last used</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="token-rows"></tbody></table></div></section>
    <section class="card section" aria-labelledby="ses-title"><h2 id="ses-title">Sessions</h2><div class="table-wrap" tabindex="0" role="region" aria-label="Sessions, scrollable"><table class="cards"><thead><tr><th>User</th><th>Address</th><th>Started</th><th>Expires</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="session-rows"></tbody></table></div></section>
    <div id="stored"></div>`);
  // Address, port and base path, then a restart to apply them
  const pf = $('#place-form');
  pf.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    for (const el of pf.querySelectorAll('input:not([disabled])')) body[el.name] = el.value.trim();
    try {
      const saved = await busy(pf.querySelector('[type="submit"]'), () => api('PATCH', '/settings', body));
      clearErrors(pf);
      for (const el of pf.querySelectorAll('input')) el.value = saved[el.name] || '';
      toast('Saved: restart the panel to apply');
    } catch (err) { fieldErrors(pf, err); }
  });
  actions['restart-panel'] = async (el) => {
    if (!(await confirmDialog('Restart the panel?', 'Saved address, port, base path and certificate take effect. Agents reconnect within seconds.', 'Restart'))) return;
    const before = (await (await fetch('/api/v1/health', { cache: 'no-store' })).json()).data.started_at;
    let next;
    try { next = await busy(el, () => api('POST', '/panel/restart')); } catch (err) { show($('#restart-state'), html`<p class="alert error" role="alert">${err.message}</p>`); return; }
    const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
    const target = `${next.tls ? 'https' : 'http'}://${host}:${next.port}${next.base_path}panel/settings`;
    show($('#restart-state'), html`<p class="alert">Restarting… the panel will be at <a href="${target}" id="restart-target">${target}</a></p>`);
    followRestart(target, before);
  };
  // Username
  const un = $('#username-form');
  un.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(un);
    try {
      const r = await busy(un.querySelector('[type="submit"]'), () => api('POST', '/auth/username', { current: v.current, username: v.username }));
      clearErrors(un); un.current.value = ''; toast(`Username changed to ${r.username}`);
      for (const el of document.querySelectorAll('.top .user')) el.textContent = r.username;
    } catch (err) {
      if (!err.fields.length) err.fields = [{ field: /password/i.test(err.message) ? 'current' : 'username', message: err.message }];
      fieldErrors(un, err);
    }
  });
  // Password
  const pw = $('#password-form');
  pw.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(pw);
    if (v.new !== v.repeat) { fieldErrors(pw, { fields: [{ field: 'repeat', message: 'does not match the new password' }] }); return; }
    try {
      const r = await busy(pw.querySelector('[type="submit"]'), () => api('POST', '/auth/password', { current: v.current, new: v.new }));
      clearErrors(pw); pw.reset(); toast(`Password changed; ${r.sessions_revoked} other session(s) ended`); loadSessions();
    } catch (err) {
      if (!err.fields.length) err.fields = [{ field: /current/i.test(err.message) ? 'current' : 'new', message: err.message }];
      fieldErrors(pw, err);
    }
  });
  // Two-factor
  const loadTfa = async () => {
    const me = await api('GET', '/auth/me');
    if (me.two_factor_enabled) {
      show($('#tfa'), html`<p>${badge('on', 'ok')} Logging in needs a code from your authenticator app.</p><form id="tfa-off" class="row" novalidate><div><label for="tfa-off-code">Current code</label><input id="tfa-off-code" name="code" data-field="code" inputmode="numeric" autocomplete="one-time-code"></div><button type="submit" class="danger">Turn off</button><div class="alert error form-error" role="alert" hidden></div></form>`);
      $('#tfa-off').addEventListener('submit', async (e) => {
        e.preventDefault();
        try { await api('POST', '/auth/totp/disable', { code: e.target.code.value.trim() }); toast('Two-factor login is off'); loadTfa(); } catch (err) { fieldErrors(e.target, { fields: [{ field: 'code', message: err.message }] }); }
      });
    } else {
      show($('#tfa'), html`<p>${badge('off')} Add a second factor: scan a QR code with an authenticator app, then confirm with a code.</p><button data-action="tfa-setup" class="primary">Set up</button><div id="tfa-setup"></div>`);
    }
  };
  actions['tfa-setup'] = async () => {
    const s = await api('POST', '/auth/totp/setup');
    show($('#tfa-setup'), html`<div class="grid"><div>${qrImage(s.uri, 'two-factor setup')}</div><div>
      <p>Scan the code, or enter the secret by hand:</p><p class="secret" id="tfa-secret">${s.secret}</p>
      <p class="hint">URI: <span class="mono" id="tfa-uri">${s.uri}</span></p>
      <form id="tfa-on" novalidate><label for="tfa-code">Code from the app</label><div class="input-group"><input id="tfa-code" name="code" data-field="code" inputmode="numeric" autocomplete="one-time-code"><button type="submit" class="primary">Turn on</button></div><div class="alert error form-error" role="alert" hidden></div></form></div></div>`);
    $('#tfa-on').addEventListener('submit', async (e) => {
      e.preventDefault();
      try { await api('POST', '/auth/totp/enable', { code: e.target.code.value.trim() }); toast('Two-factor login is on'); loadTfa(); } catch (err) { fieldErrors(e.target, { fields: [{ field: 'code', message: err.message }] }); }
    });
    $('#tfa-code').focus();
  };
  // Tokens
  const loadTokens = async () => {
    const list = await api('GET', '/api-tokens');
    show($('#token-rows'), list.length ? list.map((t) => html`<tr><td>${t.name}</td><td>${t.scope}</td><td>${when(t.created_at)}</td><td>${t.last_used_at ? ago(t.last_used_at) : 'never'}</td><td><button class="small danger" data-action="delete-token" data-id="${t.id}" data-name="${t.name}">Delete</button></td></tr>`) : html`<tr><td colspan="5" class="empty">No tokens.</td></tr>`);
  };
  const tf = $('#token-form');
  tf.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(tf);
    try {
      const t = await api('POST', '/api-tokens', { name: tf.name.value.trim(), scope: tf.scope.value });
      tf.reset();
      show($('#new-token'), html`<div class="alert ok">Token <strong>${t.name}</strong> created. Copy it now: it is not shown again.<div class="command"><code id="token-secret">${t.token}</code><button data-action="copy" data-copy-from="#token-secret" data-what="Token copied">Copy</button></div></div>`);
      loadTokens();
    } catch (err) { fieldErrors(tf, { fields: [{ field: /scope/.test(err.message) ? 'scope' : 'name', message: err.message }] }); }
  });
  actions['delete-token'] = async (el) => {
    if (!(await confirmDialog(`Delete token ${el.dataset.name}?`, 'Scripts using it stop working at once.', 'Delete'))) return;
    await api('DELETE', `/api-tokens/${el.dataset.id}`); toast('Token deleted'); loadTokens();
  };
  // Sessions
  const loadSessions = async () => {
    const list = await api('GET', '/sessions');
    show($('#session-rows'), list.map((s) => html`<tr><td>${s.username}${s.current ? html` ${badge('this browser', 'ok')}` : ''}</td><td>${s.source_ip}</td><td>${when(s.created_at)}</td><td>${when(s.expires_at)}</td><td>${s.current ? '' : html`<button class="small danger" data-action="revoke-session" data-id="${s.id}">End</button>`}</td></tr>`));
  };
  actions['revoke-session'] = async (el) => { await api('DELETE', `/sessions/${el.dataset.id}`); toast('Session ended'); loadSessions(); };
  // Stored settings (3x-ui keys)
  const loadStored = async () => {
    const values = await api('GET', '/settings');
    for (const el of $('#place-form').querySelectorAll('input')) el.value = values[el.name] || '';
    show($('#stored'), [settingsForm('tls-form', 'Panel certificate', TLS_KEYS, values, 'HTTPS for the panel and both APIs, under 3x-ui\'s key names. Applies at the next start, when the configuration sets no panel_cert_file/panel_key_file. Both files are checked when saved; clear both for plain HTTP.'),
      settingsForm('session-form', 'Sessions, dates and time zone', SESSION_KEYS, values, `${cfg.session_ttl_secs ? 'The configuration sets session_ttl_secs, which wins over the session length here.' : 'The session length applies to logins from now on; empty: a week.'} The calendar applies when a page is opened; the time zone decides when daily, weekly and monthly traffic resets happen.`),
      settingsForm('sub-form', 'Subscription', SUB_KEYS, values, 'Stored under 3x-ui\'s key names for the subscription server. The listener, its port and its certificate apply at the next start; the rest at the next request.'),
      settingsForm('compat-form', '3x-ui scripts', COMPAT_KEYS, values, 'Calls to the 3x-ui compatible API that name no server (no ?server_id=) act on this server; lists cover the whole fleet.'),
      settingsForm('tg-form', 'Telegram', TG_KEYS, values, 'xfleet runs no Telegram bot yet: these 3x-ui settings are kept under their key names (an import brings them along) so nothing is lost. The token is never shown; leave it empty to keep it.')]);
    for (const [id, keys] of [['#tls-form', TLS_KEYS], ['#session-form', SESSION_KEYS], ['#sub-form', SUB_KEYS], ['#compat-form', COMPAT_KEYS], ['#tg-form', TG_KEYS]]) {
      const form = $(id);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const v = formValues(form);
        const body = {};
        // An empty number field means its default: numbers cannot be stored empty.
        for (const [key, , kind, unset] of keys) { if (kind === 'secret' && !v[key]) continue; body[key] = kind === 'bool' ? String(v[key]) : (v[key].trim() || (kind === 'int' ? unset : '')); }
        try { await busy(form.querySelector('[type="submit"]'), () => api('PATCH', '/settings', body)); clearErrors(form); toast(id === '#tls-form' ? 'Saved: the panel uses it from the next start' : 'Settings saved'); } catch (err) { fieldErrors(form, err); }
      });
    }
  };
  loadTfa().catch(failed); loadTokens().catch(failed); loadSessions().catch(failed); loadStored().catch(failed);
}
