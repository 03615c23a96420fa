// The inbounds list and the inbound form (protocol, transport and security settings).
import { $, api, BASE, esc, html, navigate, pageRoot, raw, servers, show } from './core.js';
import { actions, busy, bytes, clearErrors, confirmDialog, dateInput, failed, fieldErrors, formValues, fromDateInput, GB, switchControl, toast, when } from './ui.js';
import { live, throttle } from './live.js';

// ---- Inbounds ----
const PROTOCOLS = ['vless', 'vmess', 'trojan', 'shadowsocks', 'socks', 'mixed', 'http', 'tunnel', 'dokodemo-door', 'wireguard', 'hysteria', 'hysteria2'];
const WITH_TRANSPORT = ['vless', 'vmess', 'trojan', 'shadowsocks', 'hysteria', 'hysteria2'];
const NETWORKS = [['tcp', 'RAW (TCP)'], ['ws', 'WebSocket'], ['grpc', 'gRPC'], ['httpupgrade', 'HTTPUpgrade'], ['xhttp', 'XHTTP'], ['kcp', 'mKCP']];
const SS_METHODS = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-ietf-poly1305', 'xchacha20-ietf-poly1305', '2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm', '2022-blake3-chacha20-poly1305'];
function transportLabel(i) {
  const st = i.streamSettings || {};
  if (!WITH_TRANSPORT.includes(i.protocol)) return '—';
  return `${st.network || 'tcp'}${st.security && st.security !== 'none' ? ' + ' + st.security : ''}`;
}
async function serverPicker(list, selected, onChange) {
  const wrap = $('#server-pick');
  if (list.length <= 1) { wrap.hidden = true; return list[0]?.id; }
  wrap.hidden = false;
  show(wrap, html`<label for="server-select">Server</label><select id="server-select">${list.map((s) => html`<option value="${s.id}" ${raw(String(s.id) === String(selected) ? 'selected' : '')}>${s.name} (${s.status})</option>`)}</select>`);
  $('#server-select').addEventListener('change', (e) => onChange(e.target.value));
  return list.some((s) => String(s.id) === String(selected)) ? selected : list[0].id;
}
export function pageInbounds() {
  const root = pageRoot();
  show(root, html`<div class="toolbar"><div id="server-pick" hidden></div><div class="grow"></div><a class="button primary" id="add-inbound" href="#">Add inbound</a></div>
    <div class="table-wrap"><table><thead><tr><th>Remark</th><th>Protocol</th><th>Port</th><th class="hide-phone">Transport</th><th>Clients</th><th>Traffic ↑/↓</th><th class="hide-phone">Quota</th><th class="hide-phone">Expiry</th><th>Enabled</th><th><span class="skip">Actions</span></th></tr></thead><tbody id="inbound-rows"><tr><td colspan="10" class="empty">Loading…</td></tr></tbody></table></div>`);
  let serverId = new URLSearchParams(location.search).get('server');
  let lastJson = '';
  const load = async () => {
    if (!serverId) return;
    const list = await api('GET', `/servers/${serverId}/inbounds`);
    const json = JSON.stringify(list);
    if (json === lastJson) return;
    lastJson = json;
    show($('#inbound-rows'), list.length ? list.map((i) => html`<tr data-inbound="${i.remark || i.tag}">
      <td><a href="${BASE}/panel/inbound?id=${i.id}">${i.remark || i.tag}</a></td><td>${i.protocol}</td><td>${i.port}</td><td class="hide-phone">${transportLabel(i)}</td>
      <td><a href="${BASE}/panel/clients?inbound=${i.id}">${i.clients.length}</a></td><td>${bytes(i.up)} / ${bytes(i.down)}</td>
      <td class="hide-phone">${i.total ? `${bytes(i.up + i.down)} of ${bytes(i.total)}` : '∞'}</td><td class="hide-phone">${i.expiryTime ? when(i.expiryTime) : 'never'}</td>
      <td>${switchControl(i.enable, `Enable inbound ${i.remark || i.tag}`, `data-toggle-inbound="${i.id}"`)}</td>
      <td class="row"><a class="button small" href="${BASE}/panel/inbound?id=${i.id}">Edit</a><a class="button small" href="${BASE}/panel/inbound?clone=${i.id}">Clone</a>
      <button class="small" data-action="reset-inbound" data-id="${i.id}">Reset traffic</button><button class="small danger" data-action="delete-inbound" data-id="${i.id}" data-name="${i.remark || i.tag}">Delete</button></td></tr>`)
      : html`<tr><td colspan="10" class="empty">No inbounds on this server yet.</td></tr>`);
  };
  const setServer = (id) => {
    serverId = id;
    lastJson = '';
    $('#add-inbound').href = `${BASE}/panel/inbound?server=${id}`;
    history.replaceState(null, '', `?server=${id}`);
    load().catch(failed);
  };
  servers().then(async (list) => {
    if (!list.length) { show($('#inbound-rows'), html`<tr><td colspan="10" class="empty">Add a server first.</td></tr>`); $('#add-inbound').hidden = true; return; }
    setServer(await serverPicker(list, serverId, setServer));
  }).catch(failed);
  root.addEventListener('change', async (e) => {
    const id = e.target.dataset.toggleInbound;
    if (!id) return;
    try { await api('POST', `/inbounds/${id}/enable`, { enable: e.target.checked }); toast(`Inbound ${e.target.checked ? 'enabled' : 'disabled'}`); } catch (err) { e.target.checked = !e.target.checked; failed(err); }
  });
  actions['reset-inbound'] = async (el) => { await api('POST', `/inbounds/${el.dataset.id}/reset-traffic`); toast('Traffic reset'); lastJson = ''; await load(); };
  actions['delete-inbound'] = async (el) => {
    if (!(await confirmDialog(`Delete inbound ${el.dataset.name}?`, 'Its clients are detached from it; clients attached nowhere else are deleted too.', 'Delete'))) return;
    await api('DELETE', `/inbounds/${el.dataset.id}?deleteClients=true`);
    toast('Inbound deleted'); lastJson = ''; await load();
  };
  live.on(throttle(5000, () => load().catch(() => {})));
}

function getPath(obj, path) { return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj); }
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) { if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {}; o = o[k]; }
  o[keys[keys.length - 1]] = value;
}
// One form control bound to a path in the inbound document.
function ctl(doc, path, label, opts = {}) {
  const id = `f-${path.replace(/[^a-zA-Z0-9]/g, '-')}`;
  let v = getPath(doc, path);
  const kind = opts.kind || 'text';
  if (kind === 'csv' && Array.isArray(v)) v = v.join(', ');
  if (kind === 'lines' && Array.isArray(v)) v = v.join('\n');
  if (v === undefined || v === null) v = opts.default ?? '';
  const hint = opts.hint ? html`<div class="hint">${opts.hint}</div>` : '';
  const attrs = html`id="${id}" name="${path}" data-kind="${kind}" data-field="${opts.field || path}"`;
  if (kind === 'bool') return html`<div><label class="inline"><input type="checkbox" ${attrs} ${raw(v === true ? 'checked' : '')}> ${label}</label>${hint}</div>`;
  if (opts.choices) return html`<div><label for="${id}">${label}</label><select ${attrs}>${opts.choices.map((c) => { const [val, text] = Array.isArray(c) ? c : [c, c]; return html`<option value="${val}" ${raw(String(v) === String(val) ? 'selected' : '')}>${text}</option>`; })}</select>${hint}</div>`;
  if (kind === 'lines' || opts.area) return html`<div><label for="${id}">${label}</label><textarea ${attrs} rows="3">${v}</textarea>${hint}</div>`;
  const input = html`<input ${attrs} value="${v}" ${raw(kind === 'int' ? 'inputmode="numeric"' : '')} ${raw(opts.placeholder ? `placeholder="${esc(opts.placeholder)}"` : '')} autocomplete="off">`;
  const gen = opts.gen ? html`<button type="button" data-action="gen" data-gen="${opts.gen}" data-target="${id}" aria-label="Generate ${label}">Generate</button>` : '';
  return html`<div><label for="${id}">${label}</label>${gen ? html`<div class="input-group">${input}${gen}</div>` : input}${hint}</div>`;
}
function readControls(form, doc) {
  for (const el of form.querySelectorAll('[data-kind]')) {
    const path = el.name;
    if (!path || el.dataset.kind === 'skip') continue;
    let v;
    switch (el.dataset.kind) {
      case 'bool': v = el.checked; break;
      case 'int': v = el.value.trim() === '' ? 0 : Number(el.value); break;
      case 'csv': v = el.value.split(',').map((s) => s.trim()).filter(Boolean); break;
      case 'lines': v = el.value.split('\n').map((s) => s.trim()).filter(Boolean); break;
      default: v = el.value.trim();
    }
    setPath(doc, path, v);
  }
  return doc;
}
function protocolFields(doc) {
  const p = doc.protocol;
  switch (p) {
    case 'vless': return html`<p class="muted">VLESS clients (UUID and flow) are managed on the Clients page.</p>${ctl(doc, 'settings.decryption', 'Decryption', { choices: ['none'] })}`;
    case 'vmess': return html`<p class="muted">VMess clients (UUID) are managed on the Clients page.</p>`;
    case 'trojan': return html`<p class="muted">Trojan clients (password) are managed on the Clients page.</p>`;
    case 'shadowsocks': return html`<div class="form-grid">${ctl(doc, 'settings.method', 'Method', { choices: SS_METHODS, default: '2022-blake3-aes-256-gcm', field: 'settings' })}
      ${ctl(doc, 'settings.password', 'Server password / key', { gen: 'ss-key', hint: '2022 methods need a base64 key of the method\'s size', field: 'settings' })}
      ${ctl(doc, 'settings.network', 'Network', { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}</div>`;
    case 'socks': case 'mixed': return html`<div class="form-grid">${ctl(doc, 'settings.auth', 'Authentication', { choices: [['noauth', 'none'], ['password', 'password']], default: 'noauth' })}
      ${ctl(doc, 'settings.udp', 'UDP', { kind: 'bool' })}${ctl(doc, 'settings.ip', 'UDP address', { placeholder: '127.0.0.1' })}</div>
      ${accountsField(doc)}`;
    case 'http': return accountsField(doc);
    case 'tunnel': case 'dokodemo-door': return html`<div class="form-grid">${ctl(doc, 'settings.address', 'Target address', { placeholder: '1.1.1.1' })}${ctl(doc, 'settings.port', 'Target port', { kind: 'int' })}
      ${ctl(doc, 'settings.network', 'Network', { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}${ctl(doc, 'settings.followRedirect', 'Follow redirect', { kind: 'bool' })}</div>`;
    case 'wireguard': return html`<div class="form-grid">${ctl(doc, 'settings.secretKey', 'Private key', { gen: 'wg-key', field: 'settings' })}${ctl(doc, 'settings.mtu', 'MTU', { kind: 'int', default: 1420 })}</div>
      <div><label for="f-peers">Peers</label><textarea id="f-peers" name="peers" data-kind="skip" data-field="settings" rows="3" placeholder="publicKey 10.0.0.2/32">${(doc.settings.peers || []).map((pe) => `${pe.publicKey || ''} ${(pe.allowedIPs || []).join(',')}`).join('\n')}</textarea><div class="hint">One peer a line: public key, then allowed IPs separated by commas</div></div>`;
    case 'hysteria': case 'hysteria2': return html`<p class="muted">Hysteria 2 runs over QUIC with TLS: choose TLS below and give a certificate. Clients use their auth secret.</p>`;
    default: return '';
  }
}
function accountsField(doc) {
  const lines = (doc.settings.accounts || []).map((a) => `${a.user}:${a.pass}`).join('\n');
  return html`<div><label for="f-accounts">Accounts</label><textarea id="f-accounts" name="accounts" data-kind="skip" data-field="settings" rows="3" placeholder="user:password">${lines}</textarea><div class="hint">One account a line as user:password</div></div>`;
}
function transportFields(doc) {
  if (!WITH_TRANSPORT.includes(doc.protocol)) return html`<p class="muted">${doc.protocol} takes no transport or security settings.</p>`;
  const hysteria = doc.protocol.startsWith('hysteria');
  const st = doc.streamSettings;
  const net = hysteria ? 'hysteria' : (st.network || 'tcp');
  const sec = st.security || 'none';
  let netFields = '';
  if (net === 'ws') netFields = html`${ctl(doc, 'streamSettings.wsSettings.path', 'Path', { default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.wsSettings.host', 'Host', { field: 'streamSettings' })}`;
  if (net === 'httpupgrade') netFields = html`${ctl(doc, 'streamSettings.httpupgradeSettings.path', 'Path', { default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.httpupgradeSettings.host', 'Host', { field: 'streamSettings' })}`;
  if (net === 'xhttp') netFields = html`${ctl(doc, 'streamSettings.xhttpSettings.path', 'Path', { default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.xhttpSettings.host', 'Host', { field: 'streamSettings' })}${ctl(doc, 'streamSettings.xhttpSettings.mode', 'Mode', { choices: ['auto', 'packet-up', 'stream-up', 'stream-one'], default: 'auto' })}`;
  if (net === 'grpc') netFields = html`${ctl(doc, 'streamSettings.grpcSettings.serviceName', 'Service name', { field: 'streamSettings' })}${ctl(doc, 'streamSettings.grpcSettings.multiMode', 'Multi mode', { kind: 'bool' })}`;
  if (net === 'kcp') netFields = html`${ctl(doc, 'streamSettings.kcpSettings.header.type', 'Header', { choices: ['none', 'srtp', 'utp', 'wechat-video', 'dtls', 'wireguard'], default: 'none' })}${ctl(doc, 'streamSettings.kcpSettings.seed', 'Seed', { field: 'streamSettings' })}`;
  if (net === 'tcp') {
    const http = getPath(doc, 'streamSettings.tcpSettings.header.type') === 'http';
    netFields = html`${ctl(doc, 'streamSettings.tcpSettings.acceptProxyProtocol', 'Accept PROXY protocol', { kind: 'bool' })}
      ${ctl(doc, 'streamSettings.tcpSettings.header.type', 'Header obfuscation', { choices: [['none', 'none'], ['http', 'HTTP']], default: 'none', field: 'streamSettings' })}
      ${http ? html`${ctl(doc, 'streamSettings.tcpSettings.header.request.path', 'Request paths', { kind: 'csv', default: '/', field: 'streamSettings' })}${ctl(doc, 'streamSettings.tcpSettings.header.request.headers.Host', 'Host names', { kind: 'csv', placeholder: 'www.example.com', field: 'streamSettings' })}` : ''}`;
  }
  const tls = st.tlsSettings || {};
  const cert = (tls.certificates || [])[0] || {};
  const join = (v) => (Array.isArray(v) ? v.join('\n') : v || '');
  let secFields = '';
  if (sec === 'tls') secFields = html`<div class="form-grid">${ctl(doc, 'streamSettings.tlsSettings.serverName', 'Server name (SNI)', { field: 'streamSettings' })}${ctl(doc, 'streamSettings.tlsSettings.alpn', 'ALPN', { kind: 'csv', placeholder: 'h2, http/1.1' })}
      <div><label for="f-cert-file">Certificate file</label><input id="f-cert-file" name="certFile" data-kind="skip" data-field="streamSettings" value="${cert.certificateFile || ''}" placeholder="/etc/ssl/fullchain.pem"></div>
      <div><label for="f-key-file">Key file</label><input id="f-key-file" name="keyFile" data-kind="skip" data-field="streamSettings" value="${cert.keyFile || ''}" placeholder="/etc/ssl/privkey.pem"></div></div>
      <details><summary>Or paste the certificate and key</summary><div class="form-grid">
      <div><label for="f-cert">Certificate (PEM)</label><textarea id="f-cert" name="cert" data-kind="skip" rows="4">${join(cert.certificate)}</textarea></div>
      <div><label for="f-key">Key (PEM)</label><textarea id="f-key" name="key" data-kind="skip" rows="4">${join(cert.key)}</textarea></div></div></details>`;
  if (sec === 'reality') secFields = html`<div class="form-grid">${ctl(doc, 'streamSettings.realitySettings.target', 'Target (borrowed site)', { placeholder: 'www.example.com:443', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.realitySettings.serverNames', 'Server names', { kind: 'csv', placeholder: 'www.example.com', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.realitySettings.privateKey', 'Private key', { gen: 'x25519', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.publicKey', 'Public key', { hint: 'Filled with the private key; goes into share links' })}
      ${ctl(doc, 'streamSettings.realitySettings.shortIds', 'Short ids', { kind: 'csv', gen: 'short-ids' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.fingerprint', 'Fingerprint', { choices: ['chrome', 'firefox', 'safari', 'ios', 'edge', 'random'], default: 'chrome' })}</div>`;
  return html`<div class="form-grid">
      ${hysteria ? html`<div><label>Transport</label><p>QUIC (Hysteria)</p></div>` : ctl(doc, 'streamSettings.network', 'Transport', { choices: NETWORKS, default: 'tcp', field: 'streamSettings' })}
      ${ctl(doc, 'streamSettings.security', 'Security', { choices: hysteria ? [['tls', 'TLS']] : [['none', 'none'], ['tls', 'TLS'], ['reality', 'REALITY']], default: hysteria ? 'tls' : 'none', field: 'streamSettings' })}
      ${netFields}</div>${secFields}`;
}

const SNIFF = ['http', 'tls', 'quic', 'fakedns'];
export function pageInbound() {
  const q = new URLSearchParams(location.search);
  const id = q.get('id'), cloneId = q.get('clone');
  const root = pageRoot();
  Promise.all([servers(), id || cloneId ? api('GET', `/inbounds/${id || cloneId}`) : null]).then(([list, orig]) => {
    if (!list.length) { show(root, html`<p>Add a server first: <a href="${BASE}/panel/servers">Servers</a></p>`); return; }
    const editing = Boolean(id);
    $('#title').textContent = editing ? `Edit inbound ${orig.remark || orig.tag}` : cloneId ? `Clone inbound ${orig.remark || orig.tag}` : 'Add inbound';
    const base = orig || { protocol: 'vless', enable: true, listen: '', port: 10000 + Math.floor(Math.random() * 50000), remark: '', total: 0, expiryTime: 0, trafficReset: 'never', tag: '', settings: { decryption: 'none' }, streamSettings: { network: 'ws', security: 'none', wsSettings: { path: '/' } }, sniffing: { enabled: true, destOverride: ['http', 'tls'] }, serverId: Number(q.get('server')) || list[0].id };
    const settings = { ...(base.settings || {}) };
    delete settings.clients;
    const doc = { protocol: base.protocol, settings, streamSettings: structuredClone(base.streamSettings || {}), sniffing: structuredClone(base.sniffing || {}) };
    const serverId = base.serverId;
    const sniffOn = new Set(doc.sniffing.destOverride || []);
    show(root, html`<form id="inbound-form" novalidate>
      <fieldset><legend>Inbound</legend><div class="form-grid">
        ${editing || list.length === 1 ? html`<input type="hidden" name="serverId" value="${serverId}">` : html`<div><label for="f-server">Server</label><select id="f-server" name="serverId">${list.map((s) => html`<option value="${s.id}" ${raw(s.id === serverId ? 'selected' : '')}>${s.name}</option>`)}</select></div>`}
        <div><label for="f-remark">Remark</label><input id="f-remark" name="remark" data-field="remark" value="${cloneId ? `${base.remark} copy` : base.remark}"></div>
        <div><label for="f-protocol">Protocol</label><select id="f-protocol" name="protocol" data-field="protocol">${PROTOCOLS.map((p) => html`<option ${raw(p === doc.protocol ? 'selected' : '')}>${p}</option>`)}</select></div>
        <div><label for="f-listen">Listen address</label><input id="f-listen" name="listen" data-field="listen" value="${base.listen}" placeholder="all addresses"></div>
        <div><label for="f-port">Port</label><div class="input-group"><input id="f-port" name="port" data-field="port" inputmode="numeric" value="${cloneId ? 10000 + Math.floor(Math.random() * 50000) : base.port}"><button type="button" data-action="gen" data-gen="port" data-target="f-port" aria-label="Random port">Random</button></div></div>
        <div><label for="f-total">Quota (GB, 0 = unlimited)</label><input id="f-total" name="total" data-field="total" inputmode="decimal" value="${base.total ? +(base.total / GB).toFixed(3) : 0}"></div>
        <div><label for="f-expiry">Expires</label><input id="f-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(base.expiryTime)}"><div class="hint">Empty: never</div></div>
        <div><label for="f-reset">Traffic reset</label><select id="f-reset" name="trafficReset" data-field="trafficReset">${['never', 'hourly', 'daily', 'weekly', 'monthly'].map((r) => html`<option ${raw(r === base.trafficReset ? 'selected' : '')}>${r}</option>`)}</select></div>
        <div><label for="f-tag">Tag</label><input id="f-tag" name="tag" data-field="tag" value="${editing ? base.tag : ''}" placeholder="inbound-PORT"></div>
        <div><label class="inline"><input type="checkbox" name="enable" ${raw(base.enable ? 'checked' : '')}> Enabled</label></div>
      </div></fieldset>
      <fieldset><legend>Protocol settings</legend><div id="proto"></div></fieldset>
      <fieldset><legend>Transport and security</legend><div id="stream"></div></fieldset>
      <fieldset><legend>Sniffing</legend><div class="row"><label class="inline"><input type="checkbox" name="sniffEnabled" ${raw(doc.sniffing.enabled ? 'checked' : '')}> Enabled</label>
        ${SNIFF.map((s) => html`<label class="inline"><input type="checkbox" name="sniffDest" data-multi="1" value="${s}" ${raw(sniffOn.has(s) ? 'checked' : '')}> ${s}</label>`)}</div></fieldset>
      <div class="alert error form-error" role="alert" hidden></div>
      <div class="actions"><button type="submit" class="primary">${editing ? 'Save' : 'Create inbound'}</button><a class="button" href="${BASE}/panel/inbounds?server=${serverId}">Cancel</a></div></form>`);
    const form = $('#inbound-form');
    const draw = () => { show($('#proto'), protocolFields(doc)); show($('#stream'), transportFields(doc)); };
    draw();
    form.addEventListener('change', (e) => {
      if (['protocol', 'streamSettings.network', 'streamSettings.security', 'streamSettings.tcpSettings.header.type'].includes(e.target.name)) {
        collect(form, doc);
        doc.protocol = form.protocol.value;
        if (doc.protocol === 'vless' && !doc.settings.decryption) doc.settings.decryption = 'none';
        draw();
      }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      collect(form, doc);
      // Only an HTTP header carries a request to imitate.
      const header = doc.streamSettings.tcpSettings?.header;
      if (header && header.type !== 'http') delete header.request;
      const v = formValues(form);
      const body = {
        remark: v.remark.trim(), enable: v.enable, listen: v.listen.trim(), port: Number(v.port), protocol: v.protocol,
        settings: doc.settings, streamSettings: WITH_TRANSPORT.includes(v.protocol) ? doc.streamSettings : {},
        sniffing: { ...doc.sniffing, enabled: v.sniffEnabled, destOverride: v.sniffDest || [] },
        tag: v.tag.trim(), total: Math.round(Number(v.total || 0) * GB), expiryTime: fromDateInput(v.expiryTime), trafficReset: v.trafficReset,
      };
      const local = [];
      if (!Number.isInteger(body.port) || body.port < 1 || body.port > 65535) local.push({ field: 'port', message: 'must be a whole number between 1 and 65535' });
      if (!(Number(v.total) >= 0)) local.push({ field: 'total', message: 'must be a number of gigabytes, 0 for unlimited' });
      if (local.length) { fieldErrors(form, { fields: local }); return; }
      try {
        const saved = await busy(form.querySelector('[type="submit"]'), () => (editing ? api('PUT', `/inbounds/${id}`, body) : api('POST', `/servers/${v.serverId}/inbounds`, body)));
        toast(`Inbound ${saved.remark || saved.tag} saved`);
        navigate(`${BASE}/panel/inbounds?server=${saved.serverId}`);
      } catch (err) { fieldErrors(form, err, { 'settings.*': 'settings', 'streamSettings.*': 'streamSettings' }); }
    });
  }).catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
}
// Reads the protocol and transport controls into the inbound document.
function collect(form, doc) {
  readControls($('#proto', form), doc);
  readControls($('#stream', form), doc);
  if (doc.protocol.startsWith('hysteria')) {
    doc.settings.version = 2;
    doc.streamSettings.network = 'hysteria';
    doc.streamSettings.security = 'tls';
    doc.streamSettings.hysteriaSettings = { version: 2, ...(doc.streamSettings.hysteriaSettings || {}) };
  }
  const acc = form.querySelector('[name="accounts"]');
  if (acc) doc.settings.accounts = acc.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const i = l.indexOf(':'); return { user: i < 0 ? l : l.slice(0, i), pass: i < 0 ? '' : l.slice(i + 1) }; });
  if (acc && ['socks', 'mixed'].includes(doc.protocol) && doc.settings.accounts.length && doc.settings.auth === 'noauth') doc.settings.auth = 'password';
  const peers = form.querySelector('[name="peers"]');
  if (peers) doc.settings.peers = peers.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const [publicKey, ips = ''] = l.split(/\s+/); return { publicKey, allowedIPs: ips.split(',').filter(Boolean) }; });
  const certFile = form.querySelector('[name="certFile"]');
  if (certFile) {
    const lines = (name) => (form.querySelector(`[name="${name}"]`)?.value || '').split('\n').map((l) => l.trimEnd()).filter(Boolean);
    const cert = certFile.value.trim() || form.keyFile.value.trim()
      ? { certificateFile: certFile.value.trim(), keyFile: form.keyFile.value.trim() }
      : { certificate: lines('cert'), key: lines('key') };
    doc.streamSettings.tlsSettings = { ...(doc.streamSettings.tlsSettings || {}), certificates: [cert] };
  }
  return doc;
}
