// The settings page: panel configuration, password, two-factor login, API tokens,
// sessions and the stored 3x-ui settings.
import { $, API, api, html, pageData, pageRoot, raw, show } from './core.js';
import { actions, ago, badge, busy, clearErrors, confirmDialog, duration, failed, fieldErrors, formValues, qrImage, rich, t, toast, when } from './ui.js';

// ---- Settings ----
// [key, label, kind, what the server uses while the key is unset]
const SUB_KEYS = [
  ['subEnable', t('settings.sub_enable'), 'bool', 'true'],
  ['subListen', t('settings.sub_listen'), 'text', t('settings.all_addresses')],
  ['subPort', t('settings.sub_port'), 'int', '2096'],
  ['subDomain', t('settings.sub_domain'), 'text', t('settings.any_host')],
  ['subCertFile', t('settings.sub_cert'), 'text', t('settings.plain_http')],
  ['subKeyFile', t('settings.sub_key'), 'text'],
  ['subURI', t('settings.sub_uri'), 'text', t('settings.listener_address')],
  ['subPath', t('settings.sub_path'), 'text', '/sub/'],
  ['subUpdates', t('settings.sub_updates'), 'int', '12'],
  ['subEncrypt', t('settings.sub_encrypt'), 'bool', 'true'],
  ['subShowInfo', t('settings.sub_show_info'), 'bool', 'true'],
  ['remarkModel', t('settings.remark_model'), 'text', '-ieo'],
  ['subTitle', t('settings.sub_title'), 'text'],
  ['subSupportUrl', t('settings.sub_support'), 'text'],
  ['subProfileUrl', t('settings.sub_profile'), 'text', t('settings.own_page')],
  ['subAnnounce', t('settings.sub_announce'), 'long'],
  ['subEnableRouting', t('settings.sub_routing_enable'), 'bool', 'true'],
  ['subRoutingRules', t('settings.sub_routing_rules'), 'long'],
  ['subJsonEnable', t('settings.sub_json_enable'), 'bool', 'true'],
  ['subJsonPath', t('settings.sub_json_path'), 'text', '/json/'],
  ['subJsonURI', t('settings.sub_json_uri'), 'text', t('settings.listener_address')],
  ['subClashEnable', t('settings.sub_clash_enable'), 'bool', 'true'],
  ['subClashPath', t('settings.sub_clash_path'), 'text', '/clash/'],
  ['subClashURI', t('settings.sub_clash_uri'), 'text', t('settings.listener_address')],
];
const SESSION_KEYS = [['sessionMaxAge', t('settings.session_length'), 'int', '10080'],
  ['datepicker', t('settings.calendar'), 'select', 'gregorian', [['gregorian', t('settings.gregorian')], ['jalalian', t('settings.jalali')]]],
  ['timeLocation', t('settings.time_zone'), 'text', t('settings.local_zone')]];
// 3x-ui's list settings: rows per page of the clients list, and when a client counts as
// expiring soon (days before its expiry, gigabytes left of its quota).
const LIST_KEYS = [['pageSize', t('settings.page_size'), 'int', '25'],
  ['expireDiff', t('settings.expire_diff'), 'int', '0'],
  ['trafficDiff', t('settings.traffic_diff'), 'int', '0']];
const TLS_KEYS = [['webCertFile', t('settings.cert_file'), 'text'], ['webKeyFile', t('settings.key_file'), 'text']];
const COMPAT_KEYS = [['defaultServer', t('settings.default_server'), 'text', t('settings.default_server_unset')]];
const TG_LANGS = [['en-US', 'English'], ['fa-IR', 'فارسی'], ['ru-RU', 'Русский'], ['zh-CN', '简体中文'], ['vi-VN', 'Tiếng Việt']];
const TG_KEYS = [['tgBotEnable', t('settings.tg_enable'), 'bool'], ['tgBotToken', t('settings.tg_token'), 'secret'], ['tgBotChatId', t('settings.tg_chat'), 'text'],
  ['tgBotProxy', t('settings.tg_proxy'), 'text', 'socks5://127.0.0.1:1080'], ['tgBotAPIServer', t('settings.tg_api_server'), 'text', 'https://api.telegram.org'],
  ['tgLang', t('settings.tg_lang'), 'select', 'en-US', TG_LANGS], ['tgRunTime', t('settings.tg_schedule'), 'text', '@daily'], ['tgBotBackup', t('settings.tg_backup'), 'bool'],
  ['tgBotLoginNotify', t('settings.tg_login_notify'), 'bool'], ['tgCpu', t('settings.tg_cpu'), 'int', '80'], ['tgMemory', t('settings.tg_memory'), 'int', '80'],
  ['tgOfflineGrace', t('settings.tg_grace'), 'int', '60'], ['tgEnabledEvents', t('settings.tg_events'), 'events', 'login.attempt,cpu.high,memory.high,node.down,node.up,xray.crash,cert.failed,task.failed']];
// Scheduled backups; the folder's placeholder is where they go while it is unset.
const backupKeys = (dir) => [['backupEnable', t('settings.backup_enable'), 'bool', 'false'], ['backupDir', t('settings.backup_dir'), 'text', dir],
  ['backupEveryHours', t('settings.backup_every'), 'int', '24'], ['backupKeep', t('settings.backup_keep'), 'int', '7']];
// The token scopes, as the reader calls them.
const SCOPES = { admin: t('settings.scope_admin'), 'read-only': t('settings.scope_read_only') };
function settingsForm(id, title, keys, values, note) {
  return html`<form class="card section" id="${id}" novalidate><h2>${title}</h2>${note ? html`<p class="muted">${note}</p>` : ''}<div class="form-grid">
    ${keys.map(([key, label, kind, unset = '', choices = []]) => kind === 'bool'
      ? html`<div><label class="inline"><input type="checkbox" name="${key}" data-field="${key}" ${raw((values[key] ?? unset) === 'true' ? 'checked' : '')}> ${label}</label></div>`
      : kind === 'select'
        ? html`<div><label for="set-${key}">${label}</label><select id="set-${key}" name="${key}" data-field="${key}">${choices.map(([v, text]) => html`<option value="${v}" ${raw((values[key] || unset) === v ? 'selected' : '')}>${text}</option>`)}</select></div>`
        : kind === 'long'
        ? html`<div class="span-all"><label for="set-${key}">${label}</label><textarea id="set-${key}" name="${key}" data-field="${key}" rows="3" placeholder="${unset}">${values[key] || ''}</textarea></div>`
        : html`<div><label for="set-${key}">${label}</label><input id="set-${key}" name="${key}" data-field="${key}" ${raw(kind === 'secret' ? 'type="password" autocomplete="new-password"' : kind === 'int' ? 'inputmode="numeric" autocomplete="off"' : 'autocomplete="off"')} value="${kind === 'secret' ? '' : values[key] || ''}" placeholder="${kind === 'secret' ? (values[key] ? t('settings.unchanged') : '') : unset}"></div>`)}
    </div><div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">${t('common.save')}</button></div></form>`;
}
// Saves a settings form's keys when it is submitted.
function saveOnSubmit(form, keys, saved) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(form);
    const body = {};
    // An empty number field means its default: numbers cannot be stored empty; nor can the
    // bot's events (empty would silence it).
    for (const [key, , kind, unset] of keys) { if (kind === 'secret' && !v[key]) continue; body[key] = kind === 'bool' ? String(v[key]) : (v[key].trim() || (kind === 'int' || kind === 'events' ? unset : '')); }
    try { await busy(form.querySelector('[type="submit"]'), () => api('PATCH', '/settings', body)); clearErrors(form); toast(saved); } catch (err) { fieldErrors(form, err); }
  });
}
// One of the panel's place settings; disabled, with the reason, when the configuration sets it.
function placeField(key, label, fixed, placeholder, hint, configKey) {
  return html`<div><label for="set-${key}">${label}</label><input id="set-${key}" name="${key}" data-field="${key}" autocomplete="off" placeholder="${placeholder}" ${raw(key === 'webPort' ? 'inputmode="numeric"' : '')} ${raw(fixed ? 'disabled' : '')}>
    <div class="hint">${fixed ? rich(t('settings.fixed'), { key: html`<code>${configKey}</code>` }) : hint}</div></div>`;
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
    <section class="card section" aria-labelledby="panel-title"><h2 id="panel-title">${t('settings.panel')}</h2>
      ${place.problem ? html`<p class="alert error" id="place-problem">${place.problem}</p>` : ''}
      <dl class="kv"><dt>${t('settings.listening_on')}</dt><dd class="mono" id="panel-listen">${cfg.panel_listen}</dd><dt>${t('settings.base_path')}</dt><dd class="mono" id="panel-base">${cfg.base_path}</dd>
      <dt>${t('settings.tls')}</dt><dd id="panel-tls">${cfg.panel_tls ? rich(t('settings.https_with', { setting: cfg.panel_tls.cert_setting }), { file: html`<span class="mono">${cfg.panel_tls.cert_file}</span>` }) : t('settings.plain_http_note')}</dd><dt>${t('settings.session_lifetime')}</dt><dd>${cfg.session_ttl_secs ? rich(t('settings.session_set_by', { duration: duration(cfg.session_ttl_secs) }), { key: html`<code>session_ttl_secs</code>` }) : t('settings.session_below')}</dd>
      <dt>${t('settings.gateway')}</dt><dd>${rich(t('settings.gateway_value'), { url: html`<span class="mono">${cfg.gateway_url}</span>`, listen: html`<span class="mono">${cfg.gateway_listen}</span>` })}</dd><dt>${t('settings.token_lifetime')}</dt><dd>${duration(cfg.token_ttl_secs)}</dd>
      <dt>${t('settings.single_server')}</dt><dd>${cfg.local_server ? t('settings.on') : t('settings.off')}</dd><dt>${t('settings.version')}</dt><dd>${pageData.version}</dd></dl>
      <form id="place-form" novalidate><div class="form-grid">
        ${placeField('webListen', t('settings.listen_address'), place.listen_fixed, '127.0.0.1', t('settings.listen_hint'), 'panel_listen')}
        ${placeField('webPort', t('settings.port'), place.listen_fixed, '2053', t('settings.port_hint'), 'panel_listen')}
        ${placeField('webBasePath', t('settings.base_path'), place.base_fixed, '/', t('settings.base_path_hint'), 'base_path')}</div>
        <div class="alert error form-error" role="alert" hidden></div>
        <div class="actions"><button type="submit" class="primary">${t('common.save')}</button><button type="button" data-action="restart-panel">${t('settings.restart_panel')}</button></div></form>
      <p class="hint">${t('settings.restart_hint')}</p><div id="restart-state" aria-live="polite"></div></section>
    <form class="card section" id="username-form" novalidate><h2>${t('settings.username_title')}</h2><div class="form-grid">
      <div><label for="un-new">${t('settings.username')}</label><input id="un-new" name="username" data-field="username" autocomplete="username" value="${document.querySelector('.top .user')?.textContent.trim() || ''}"><div class="hint">${t('settings.username_hint')}</div></div>
      <div><label for="un-current">${t('settings.current_password')}</label><input id="un-current" name="current" data-field="current" type="password" autocomplete="current-password"></div></div>
      <div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">${t('settings.change_username')}</button></div></form>
    <form class="card section" id="password-form" novalidate><h2>${t('settings.password_title')}</h2><div class="form-grid">
      <div><label for="pw-current">${t('settings.current_password')}</label><input id="pw-current" name="current" data-field="current" type="password" autocomplete="current-password"></div>
      <div><label for="pw-new">${t('settings.new_password')}</label><input id="pw-new" name="new" data-field="new" type="password" autocomplete="new-password"><div class="hint">${t('settings.password_hint')}</div></div>
      <div><label for="pw-repeat">${t('settings.repeat_password')}</label><input id="pw-repeat" name="repeat" data-field="repeat" type="password" autocomplete="new-password"></div></div>
      <div class="alert error form-error" role="alert" hidden></div><div class="actions"><button type="submit" class="primary">${t('settings.change_password')}</button></div></form>
    <section class="card section" aria-labelledby="tfa-title"><h2 id="tfa-title">${t('settings.tfa_title')}</h2><div id="tfa">${t('common.loading')}</div></section>
    <section class="card section" aria-labelledby="tok-title"><h2 id="tok-title">${t('settings.tokens_title')}</h2>
      <form id="token-form" class="row" novalidate><div class="grow"><label for="tok-name">${t('common.name')}</label><input id="tok-name" name="name" data-field="name" placeholder="ci"></div>
      <div><label for="tok-scope">${t('settings.scope')}</label><select id="tok-scope" name="scope">${Object.entries(SCOPES).map(([value, label]) => html`<option value="${value}">${label}</option>`)}</select></div><button type="submit" class="primary">${t('settings.create_token')}</button></form>
      <div id="new-token"></div><div class="table-wrap" tabindex="0" role="region" aria-label="${t('settings.tokens_region')}"><table class="cards"><thead><tr><th>${t('common.name')}</th><th>${t('settings.scope')}</th><th>${t('settings.created')}</th><th>${t('settings.last_used')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead><tbody id="token-rows"></tbody></table></div></section>
    <section class="card section" aria-labelledby="ses-title"><h2 id="ses-title">${t('settings.sessions_title')}</h2><div class="table-wrap" tabindex="0" role="region" aria-label="${t('settings.sessions_region')}"><table class="cards"><thead><tr><th>${t('settings.user')}</th><th>${t('settings.address')}</th><th>${t('settings.started')}</th><th>${t('settings.expires')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead><tbody id="session-rows"></tbody></table></div></section>
    <section class="card section" id="backups" aria-labelledby="backup-title"><h2 id="backup-title">${t('settings.backup_title')}</h2><p class="muted">${t('settings.backup_note')}</p>
      <div class="actions"><a class="button" id="backup-download" href="${API}/backup" download>${t('settings.backup_download')}</a></div>
      <form id="restore-form" class="row" novalidate><div class="grow"><label for="restore-file">${t('settings.backup_file')}</label><input id="restore-file" name="archive" type="file" accept=".zip,application/zip"></div>
        <button type="submit" class="danger">${t('settings.backup_restore')}</button></form>
      <div class="alert error form-error" id="restore-error" role="alert" hidden></div><div id="restore-state" aria-live="polite"></div><div id="backup-last"></div></section>
    <div id="backup-schedule"></div>
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
      toast(t('settings.saved_restart'));
    } catch (err) { fieldErrors(pf, err); }
  });
  actions['restart-panel'] = async (el) => {
    if (!(await confirmDialog(t('settings.restart_title'), t('settings.restart_text'), t('settings.restart')))) return;
    const before = (await (await fetch('/api/v1/health', { cache: 'no-store' })).json()).data.started_at;
    let next;
    try { next = await busy(el, () => api('POST', '/panel/restart')); } catch (err) { show($('#restart-state'), html`<p class="alert error" role="alert">${err.message}</p>`); return; }
    const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
    const target = `${next.tls ? 'https' : 'http'}://${host}:${next.port}${next.base_path}panel/settings`;
    show($('#restart-state'), html`<p class="alert">${rich(t('settings.restarting'), { target: html`<a href="${target}" id="restart-target">${target}</a>` })}</p>`);
    followRestart(target, before);
  };
  // Username
  const un = $('#username-form');
  un.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(un);
    try {
      const r = await busy(un.querySelector('[type="submit"]'), () => api('POST', '/auth/username', { current: v.current, username: v.username }));
      clearErrors(un); un.current.value = ''; toast(t('settings.username_changed', { name: r.username }));
      for (const el of document.querySelectorAll('.top .user')) el.textContent = r.username;
    } catch (err) {
      if (!err.fields.length) err.fields = [{ field: /password/i.test(err.english) ? 'current' : 'username', message: err.message }];
      fieldErrors(un, err);
    }
  });
  // Password
  const pw = $('#password-form');
  pw.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValues(pw);
    if (v.new !== v.repeat) { fieldErrors(pw, { fields: [{ field: 'repeat', message: t('settings.password_mismatch') }] }); return; }
    try {
      const r = await busy(pw.querySelector('[type="submit"]'), () => api('POST', '/auth/password', { current: v.current, new: v.new }));
      clearErrors(pw); pw.reset(); toast(t('settings.password_changed', { n: r.sessions_revoked })); loadSessions();
    } catch (err) {
      if (!err.fields.length) err.fields = [{ field: /current/i.test(err.english) ? 'current' : 'new', message: err.message }];
      fieldErrors(pw, err);
    }
  });
  // Two-factor
  const loadTfa = async () => {
    const me = await api('GET', '/auth/me');
    if (me.two_factor_enabled) {
      show($('#tfa'), html`<p>${badge(t('settings.on'), 'ok')} ${t('settings.tfa_on_text')}</p><form id="tfa-off" class="row" novalidate><div><label for="tfa-off-code">${t('settings.current_code')}</label><input id="tfa-off-code" name="code" data-field="code" inputmode="numeric" autocomplete="one-time-code"></div><button type="submit" class="danger">${t('settings.turn_off')}</button><div class="alert error form-error" role="alert" hidden></div></form>`);
      $('#tfa-off').addEventListener('submit', async (e) => {
        e.preventDefault();
        try { await api('POST', '/auth/totp/disable', { code: e.target.code.value.trim() }); toast(t('settings.tfa_off_done')); loadTfa(); } catch (err) { fieldErrors(e.target, { fields: [{ field: 'code', message: err.message }] }); }
      });
    } else {
      show($('#tfa'), html`<p>${badge(t('settings.off'), 'off')} ${t('settings.tfa_off_text')}</p><button data-action="tfa-setup" class="primary">${t('settings.set_up')}</button><div id="tfa-setup"></div>`);
    }
  };
  actions['tfa-setup'] = async () => {
    const s = await api('POST', '/auth/totp/setup');
    show($('#tfa-setup'), html`<div class="grid"><div>${qrImage(s.uri, t('settings.tfa_qr'))}</div><div>
      <p>${t('settings.tfa_scan')}</p><p class="secret" id="tfa-secret">${s.secret}</p>
      <p class="hint">${rich(t('settings.tfa_uri'), { uri: html`<span class="mono" id="tfa-uri">${s.uri}</span>` })}</p>
      <form id="tfa-on" novalidate><label for="tfa-code">${t('settings.tfa_code')}</label><div class="input-group"><input id="tfa-code" name="code" data-field="code" inputmode="numeric" autocomplete="one-time-code"><button type="submit" class="primary">${t('settings.turn_on')}</button></div><div class="alert error form-error" role="alert" hidden></div></form></div></div>`);
    $('#tfa-on').addEventListener('submit', async (e) => {
      e.preventDefault();
      try { await api('POST', '/auth/totp/enable', { code: e.target.code.value.trim() }); toast(t('settings.tfa_on_done')); loadTfa(); } catch (err) { fieldErrors(e.target, { fields: [{ field: 'code', message: err.message }] }); }
    });
    $('#tfa-code').focus();
  };
  // Tokens
  const loadTokens = async () => {
    const list = await api('GET', '/api-tokens');
    show($('#token-rows'), list.length ? list.map((token) => html`<tr><td>${token.name}</td><td>${SCOPES[token.scope] ?? token.scope}</td><td>${when(token.created_at)}</td><td>${token.last_used_at ? ago(token.last_used_at) : t('common.never')}</td><td><button class="small danger" data-action="delete-token" data-id="${token.id}" data-name="${token.name}">${t('common.delete')}</button></td></tr>`) : html`<tr><td colspan="5" class="empty">${t('settings.no_tokens')}</td></tr>`);
  };
  const tf = $('#token-form');
  tf.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(tf);
    try {
      const token = await api('POST', '/api-tokens', { name: tf.name.value.trim(), scope: tf.scope.value });
      tf.reset();
      show($('#new-token'), html`<div class="alert ok">${rich(t('settings.token_created'), { name: html`<strong>${token.name}</strong>` })}<div class="command"><code id="token-secret">${token.token}</code><button data-action="copy" data-copy-from="#token-secret" data-what="${t('settings.token_copied')}">${t('common.copy')}</button></div></div>`);
      loadTokens();
    } catch (err) { fieldErrors(tf, { fields: [{ field: /scope/.test(err.english) ? 'scope' : 'name', message: err.message }] }); }
  });
  actions['delete-token'] = async (el) => {
    if (!(await confirmDialog(t('settings.delete_token_title', { name: el.dataset.name }), t('settings.delete_token_text'), t('common.delete')))) return;
    await api('DELETE', `/api-tokens/${el.dataset.id}`); toast(t('settings.token_deleted')); loadTokens();
  };
  // Sessions
  const loadSessions = async () => {
    const list = await api('GET', '/sessions');
    show($('#session-rows'), list.map((s) => html`<tr><td>${s.username}${s.current ? html` ${badge(t('settings.this_browser'), 'ok')}` : ''}</td><td>${s.source_ip}</td><td>${when(s.created_at)}</td><td>${when(s.expires_at)}</td><td>${s.current ? '' : html`<button class="small danger" data-action="revoke-session" data-id="${s.id}">${t('settings.end_session')}</button>`}</td></tr>`));
  };
  actions['revoke-session'] = async (el) => { await api('DELETE', `/sessions/${el.dataset.id}`); toast(t('settings.session_ended')); loadSessions(); };
  // Backups: download, restore (after a confirmation; the controller restarts), schedule
  const rf = $('#restore-form');
  rf.addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = rf.archive.files[0];
    const problem = $('#restore-error');
    const say = (text) => { problem.textContent = text; problem.hidden = !text; };
    if (!file) { say(t('settings.backup_choose')); return; }
    if (!(await confirmDialog(t('settings.backup_restore_title', { file: file.name }), t('settings.backup_restore_text'), t('settings.backup_restore')))) return;
    const before = (await (await fetch('/api/v1/health', { cache: 'no-store' })).json()).data.started_at;
    try { await busy(rf.querySelector('[type="submit"]'), () => api('POST', '/restore', file)); } catch (err) { say(err.message); return; }
    say('');
    show($('#restore-state'), html`<p class="alert ok" role="status" id="restore-done">${t('settings.backup_restored')}</p>`);
    followRestart(location.href, before);
  });
  const loadBackups = async () => {
    const [values, schedule] = await Promise.all([api('GET', '/settings'), api('GET', '/backup/schedule')]);
    const last = schedule.last_run;
    const lastText = !last ? t('settings.backup_never') : last.error ? t('settings.backup_last_failed', { when: when(last.at), error: last.error }) : t('settings.backup_last_ok', { when: when(last.at), file: last.file });
    const keys = backupKeys(schedule.dir);
    show($('#backup-schedule'), settingsForm('backup-form', t('settings.backup_schedule_title'), keys, values, t('settings.backup_schedule_note')));
    show($('#backup-last'), html`<p class="${last?.error ? 'alert error' : 'hint'}">${lastText}</p>`);
    saveOnSubmit($('#backup-form'), keys, t('settings.saved'));
  };
  // Stored settings (3x-ui keys)
  const loadStored = async () => {
    const values = await api('GET', '/settings');
    for (const el of $('#place-form').querySelectorAll('input')) el.value = values[el.name] || '';
    show($('#stored'), [settingsForm('tls-form', t('settings.tls_title'), TLS_KEYS, values, t('settings.tls_note')),
      settingsForm('session-form', t('settings.session_title'), SESSION_KEYS, values, cfg.session_ttl_secs ? t('settings.session_note_config') : t('settings.session_note')),
      settingsForm('list-form', t('settings.list_title'), LIST_KEYS, values, t('settings.list_note')),
      settingsForm('sub-form', t('settings.sub_form_title'), SUB_KEYS, values, t('settings.sub_note')),
      settingsForm('compat-form', t('settings.compat_title'), COMPAT_KEYS, values, t('settings.compat_note')),
      settingsForm('tg-form', t('settings.tg_title'), TG_KEYS, values, t('settings.tg_note')),
      html`<div class="card section" id="tg-state-card"><h2>${t('settings.tg_state_title')}</h2><div id="tg-state" aria-live="polite"></div>
        <div class="actions"><button type="button" id="tg-backup">${t('settings.tg_send_backup')}</button></div></div>`]);
    for (const [id, keys] of [['#tls-form', TLS_KEYS], ['#session-form', SESSION_KEYS], ['#list-form', LIST_KEYS], ['#sub-form', SUB_KEYS], ['#compat-form', COMPAT_KEYS], ['#tg-form', TG_KEYS]]) {
      saveOnSubmit($(id), keys, id === '#tls-form' ? t('settings.tls_saved') : t('settings.saved'));
    }
    $('#tg-backup').addEventListener('click', async (e) => {
      try { const r = await busy(e.currentTarget, () => api('POST', '/telegram/backup')); toast(t('settings.tg_backup_sent', { count: r.sent_to })); } catch (err) { failed(err); }
    });
    // The bot follows saved settings within seconds: its state is read again until the page
    // is left.
    const telegramState = async () => {
      const bot = await api('GET', '/telegram');
      const s = bot.status;
      const [cls, text] = !bot.enabled || !bot.token_set ? ['hint', t('settings.tg_state_off')]
        : !s || s.state === 'starting' ? ['hint', t('settings.tg_state_starting')]
        : s.state === 'running' ? ['alert ok', t('settings.tg_state_running', { name: s.username || '' })]
        : ['alert error', t('settings.tg_state_failed', { error: s.error || '' })];
      show($('#tg-state'), html`<p class="${cls}" id="tg-state-text">${text}</p>`);
    };
    await telegramState();
    const timer = setInterval(() => { if (!document.body.contains($('#tg-state'))) clearInterval(timer); else telegramState().catch(() => {}); }, 3000);
  };
  loadTfa().catch(failed); loadTokens().catch(failed); loadSessions().catch(failed); loadStored().catch(failed); loadBackups().catch(failed);
}
