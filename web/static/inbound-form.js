// The inbound form: protocol settings, transport and security, sniffing. Controls are bound
// to paths in the inbound document (form-fields.js); the optional parts (fallbacks, TLS
// certificates, socket and Hysteria options) are in inbound-options.js.
import { $, api, BASE, html, navigate, pageRoot, raw, servers, show } from './core.js';
import { actions, busy, clearErrors, dateInput, fieldErrors, formValues, fromDateInput, GB, toast } from './ui.js';
import { ctl, getPath, readControls, setPath } from './form-fields.js';
import { fallbackFields, hysteriaFields, readCertificateSources, sockoptFields, tidyOptions, tlsFields } from './inbound-options.js';

export const PROTOCOLS = ['vless', 'vmess', 'trojan', 'shadowsocks', 'socks', 'mixed', 'http', 'tunnel', 'dokodemo-door', 'wireguard', 'hysteria', 'hysteria2'];
export const WITH_TRANSPORT = ['vless', 'vmess', 'trojan', 'shadowsocks', 'hysteria', 'hysteria2'];
const NETWORKS = [['tcp', 'RAW (TCP)'], ['ws', 'WebSocket'], ['grpc', 'gRPC'], ['httpupgrade', 'HTTPUpgrade'], ['xhttp', 'XHTTP'], ['kcp', 'mKCP']];
const SS_METHODS = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-ietf-poly1305', 'xchacha20-ietf-poly1305', '2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm', '2022-blake3-chacha20-poly1305'];
// What a v2ray 4 core cannot run (DESIGN §7): not offered for a server whose agent runs one.
// A value an inbound already has stays offered; the API then says why it cannot run.
const V2RAY_LACKS = ['mixed', 'wireguard', 'hysteria', 'hysteria2', 'grpc', 'httpupgrade', 'xhttp', 'reality', 'xchacha20-ietf-poly1305', '2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm', '2022-blake3-chacha20-poly1305'];
let lacks = [];
// One port-forwarding inbound is offered, under the name the server's core knows it by: Xray
// calls it `tunnel`, v2ray 4 `dokodemo-door` (the agent renders either for either core).
const otherTunnelName = () => (lacks.length ? 'tunnel' : 'dokodemo-door');
function offered(choices, current) {
  return choices.filter((c) => { const v = Array.isArray(c) ? c[0] : c; return (!lacks.includes(v) && v !== otherTunnelName()) || v === current; });
}
function coreOf(server) { return server?.core_flavour === 'v2ray' ? V2RAY_LACKS : []; }

function protocolFields(doc) {
  const p = doc.protocol;
  switch (p) {
    case 'vless': return html`<p class="muted">VLESS clients (UUID and flow) are managed on the Clients page.</p>${ctl(doc, 'settings.decryption', 'Decryption', { choices: ['none'] })}${fallbackFields(doc)}`;
    case 'vmess': return html`<p class="muted">VMess clients (UUID) are managed on the Clients page.</p>`;
    case 'trojan': return html`<p class="muted">Trojan clients (password) are managed on the Clients page.</p>${fallbackFields(doc)}`;
    case 'shadowsocks': return html`<div class="form-grid">${ctl(doc, 'settings.method', 'Method', { choices: offered(SS_METHODS, doc.settings.method), default: lacks.length ? 'aes-256-gcm' : '2022-blake3-aes-256-gcm' })}
      ${ctl(doc, 'settings.password', 'Server password / key', { gen: 'ss-key', hint: '2022 methods need a base64 key of the method\'s size' })}
      ${ctl(doc, 'settings.network', 'Network', { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}</div>`;
    case 'socks': case 'mixed': return html`<div class="form-grid">${ctl(doc, 'settings.auth', 'Authentication', { choices: [['noauth', 'none'], ['password', 'password']], default: 'noauth' })}
      ${ctl(doc, 'settings.udp', 'UDP', { kind: 'bool' })}${ctl(doc, 'settings.ip', 'UDP address', { placeholder: '127.0.0.1' })}</div>
      ${accountsField(doc)}`;
    case 'http': return accountsField(doc);
    case 'tunnel': case 'dokodemo-door': return html`<div class="form-grid">${ctl(doc, 'settings.address', 'Target address', { placeholder: '1.1.1.1' })}${ctl(doc, 'settings.port', 'Target port', { kind: 'int' })}
      ${ctl(doc, 'settings.network', 'Network', { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}${ctl(doc, 'settings.followRedirect', 'Follow redirect', { kind: 'bool' })}</div>`;
    case 'wireguard': return html`<div class="form-grid">${ctl(doc, 'settings.secretKey', 'Private key', { gen: 'wg-key' })}${ctl(doc, 'settings.mtu', 'MTU', { kind: 'int', default: 1420 })}</div>
      <div><label for="f-peers">Peers</label><textarea id="f-peers" name="peers" data-kind="skip" data-field="settings.peers" rows="3" placeholder="publicKey 10.0.0.2/32">${(doc.settings.peers || []).map((pe) => `${pe.publicKey || ''} ${(pe.allowedIPs || []).join(',')}`).join('\n')}</textarea><div class="hint">One peer a line: public key, then allowed IPs separated by commas</div></div>`;
    case 'hysteria': case 'hysteria2': return html`<p class="muted">Hysteria 2 runs over QUIC with TLS: give a certificate below. Clients use their auth secret; its options are with the transport.</p>`;
    default: return '';
  }
}
function accountsField(doc) {
  const lines = (doc.settings.accounts || []).map((a) => `${a.user}:${a.pass}`).join('\n');
  return html`<div><label for="f-accounts">Accounts</label><textarea id="f-accounts" name="accounts" data-kind="skip" data-field="settings.accounts" rows="3" placeholder="user:password">${lines}</textarea><div class="hint">One account a line as user:password</div></div>`;
}
function transportFields(doc) {
  if (!WITH_TRANSPORT.includes(doc.protocol)) return html`<p class="muted">${doc.protocol} takes no transport or security settings.</p>${sockoptFields(doc)}`;
  const hysteria = doc.protocol.startsWith('hysteria');
  const st = doc.streamSettings;
  const net = hysteria ? 'hysteria' : (st.network || 'tcp');
  const sec = st.security || 'none';
  let netFields = '';
  if (net === 'ws') netFields = html`${ctl(doc, 'streamSettings.wsSettings.path', 'Path', { default: '/' })}${ctl(doc, 'streamSettings.wsSettings.host', 'Host')}`;
  if (net === 'httpupgrade') netFields = html`${ctl(doc, 'streamSettings.httpupgradeSettings.path', 'Path', { default: '/' })}${ctl(doc, 'streamSettings.httpupgradeSettings.host', 'Host')}`;
  if (net === 'xhttp') netFields = html`${ctl(doc, 'streamSettings.xhttpSettings.path', 'Path', { default: '/' })}${ctl(doc, 'streamSettings.xhttpSettings.host', 'Host')}${ctl(doc, 'streamSettings.xhttpSettings.mode', 'Mode', { choices: ['auto', 'packet-up', 'stream-up', 'stream-one'], default: 'auto' })}`;
  if (net === 'grpc') netFields = html`${ctl(doc, 'streamSettings.grpcSettings.serviceName', 'Service name')}${ctl(doc, 'streamSettings.grpcSettings.multiMode', 'Multi mode', { kind: 'bool' })}`;
  if (net === 'kcp') netFields = html`${ctl(doc, 'streamSettings.kcpSettings.header.type', 'Header', { choices: ['none', 'srtp', 'utp', 'wechat-video', 'dtls', 'wireguard'], default: 'none' })}${ctl(doc, 'streamSettings.kcpSettings.seed', 'Seed')}`;
  if (net === 'tcp') {
    const http = getPath(doc, 'streamSettings.tcpSettings.header.type') === 'http';
    netFields = html`${ctl(doc, 'streamSettings.tcpSettings.header.type', 'Header obfuscation', { choices: [['none', 'none'], ['http', 'HTTP']], default: 'none' })}
      ${http ? html`${ctl(doc, 'streamSettings.tcpSettings.header.request.path', 'Request paths', { kind: 'csv', default: '/' })}${ctl(doc, 'streamSettings.tcpSettings.header.request.headers.Host', 'Host names', { kind: 'csv', placeholder: 'www.example.com' })}` : ''}`;
  }
  let secFields = '';
  if (sec === 'tls') secFields = tlsFields(doc);
  if (sec === 'reality') secFields = html`<div class="form-grid">${ctl(doc, 'streamSettings.realitySettings.target', 'Target (borrowed site)', { placeholder: 'www.example.com:443' })}
      ${ctl(doc, 'streamSettings.realitySettings.serverNames', 'Server names', { kind: 'csv', placeholder: 'www.example.com' })}
      ${ctl(doc, 'streamSettings.realitySettings.privateKey', 'Private key', { gen: 'x25519' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.publicKey', 'Public key', { hint: 'Filled with the private key; goes into share links' })}
      ${ctl(doc, 'streamSettings.realitySettings.shortIds', 'Short ids', { kind: 'csv', gen: 'short-ids' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.fingerprint', 'Fingerprint', { choices: ['chrome', 'firefox', 'safari', 'ios', 'edge', 'random'], default: 'chrome' })}</div>`;
  return html`<div class="form-grid">
      ${hysteria ? html`<div><label>Transport</label><p>QUIC (Hysteria)</p></div>` : ctl(doc, 'streamSettings.network', 'Transport', { choices: offered(NETWORKS, st.network), default: 'tcp' })}
      ${ctl(doc, 'streamSettings.security', 'Security', { choices: hysteria ? [['tls', 'TLS']] : offered([['none', 'none'], ['tls', 'TLS'], ['reality', 'REALITY']], st.security), default: hysteria ? 'tls' : 'none' })}
      ${netFields}</div>${secFields}${hysteria ? hysteriaFields(doc) : ''}${sockoptFields(doc)}`;
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
    // The PROXY protocol switch lives with the socket options, for every transport.
    if (doc.streamSettings.tcpSettings?.acceptProxyProtocol) { (doc.streamSettings.sockopt ||= {}).acceptProxyProtocol = true; delete doc.streamSettings.tcpSettings.acceptProxyProtocol; }
    const serverId = base.serverId;
    lacks = coreOf(list.find((s) => s.id === serverId));
    const protocolOptions = () => offered(PROTOCOLS, base.protocol).map((p) => html`<option ${raw(p === doc.protocol ? 'selected' : '')}>${p}</option>`);
    const coreNote = () => (lacks.length ? 'This server runs v2ray: what only Xray runs (REALITY, gRPC, XHTTP, HTTPUpgrade, Hysteria, WireGuard, Shadowsocks 2022) is not offered.' : '');
    const sniffOn = new Set(doc.sniffing.destOverride || []);
    show(root, html`<form id="inbound-form" novalidate>
      <fieldset><legend>Inbound</legend><div class="form-grid">
        ${editing || list.length === 1 ? html`<input type="hidden" name="serverId" value="${serverId}">` : html`<div><label for="f-server">Server</label><select id="f-server" name="serverId">${list.map((s) => html`<option value="${s.id}" ${raw(s.id === serverId ? 'selected' : '')}>${s.name}</option>`)}</select></div>`}
        <div><label for="f-remark">Remark</label><input id="f-remark" name="remark" data-field="remark" value="${cloneId ? `${base.remark} copy` : base.remark}"></div>
        <div><label for="f-protocol">Protocol</label><select id="f-protocol" name="protocol" data-field="protocol">${protocolOptions()}</select><div class="hint" id="core-note">${coreNote()}</div></div>
        <div><label for="f-listen">Listen address</label><input id="f-listen" name="listen" data-field="listen" value="${base.listen}" placeholder="all addresses"></div>
        <div><label for="f-port">Port</label><div class="input-group"><input id="f-port" name="port" data-field="port" inputmode="numeric" value="${cloneId ? 10000 + Math.floor(Math.random() * 50000) : base.port}"><button type="button" data-action="gen" data-gen="port" data-target="f-port" aria-label="Random port">Random</button></div></div>
        <div><label for="f-total">Quota (GB, 0 = unlimited)</label><input id="f-total" name="total" data-field="total" inputmode="decimal" value="${base.total ? +(base.total / GB).toFixed(3) : 0}"></div>
        <div><label for="f-expiry">Expires</label><input id="f-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(base.expiryTime)}"><div class="hint">Empty: never</div></div>
        <div><label for="f-reset">Traffic reset</label><select id="f-reset" name="trafficReset" data-field="trafficReset">${['never', 'hourly', 'daily', 'weekly', 'monthly'].map((r) => html`<option ${raw(r === base.trafficReset ? 'selected' : '')}>${r}</option>`)}</select></div>
        <div><label for="f-tag">Tag</label><input id="f-tag" name="tag" data-field="tag" value="${editing ? base.tag : ''}" placeholder="inbound-PORT"></div>
        <div><label class="inline"><input type="checkbox" name="enable" ${raw(base.enable ? 'checked' : '')}> Enabled</label></div>
      </div></fieldset>
      <fieldset data-section="settings"><legend>Protocol settings</legend><div id="proto"></div></fieldset>
      <fieldset data-section="streamSettings"><legend>Transport and security</legend><div id="stream"></div></fieldset>
      <fieldset data-section="sniffing"><legend>Sniffing</legend><div class="row"><label class="inline"><input type="checkbox" name="sniffEnabled" ${raw(doc.sniffing.enabled ? 'checked' : '')}> Enabled</label>
        ${SNIFF.map((s) => html`<label class="inline"><input type="checkbox" name="sniffDest" data-multi="1" value="${s}" ${raw(sniffOn.has(s) ? 'checked' : '')}> ${s}</label>`)}</div></fieldset>
      <div class="alert error form-error" role="alert" hidden></div>
      <div class="actions"><button type="submit" class="primary">${editing ? 'Save' : 'Create inbound'}</button><a class="button" href="${BASE}/panel/inbounds?server=${serverId}">Cancel</a></div></form>`);
    const form = $('#inbound-form');
    const draw = () => { show($('#proto'), protocolFields(doc)); show($('#stream'), transportFields(doc)); };
    draw();
    form.addEventListener('change', (e) => {
      if (e.target.name === 'serverId' && e.target.tagName === 'SELECT') {
        collect(form, doc);
        lacks = coreOf(list.find((s) => String(s.id) === e.target.value));
        show(form.protocol, protocolOptions());
        $('#core-note').textContent = coreNote();
        draw();
        return;
      }
      if (e.target.dataset.redraw || ['protocol', 'streamSettings.network', 'streamSettings.security', 'streamSettings.tcpSettings.header.type'].includes(e.target.name)) {
        collect(form, doc);
        doc.protocol = form.protocol.value;
        if (doc.protocol === 'vless' && !doc.settings.decryption) doc.settings.decryption = 'none';
        draw();
      }
    });
    // Add and remove rows of the fallback and certificate lists.
    actions['list-add'] = (el) => {
      collect(form, doc);
      const list = getPath(doc, el.dataset.list);
      if (Array.isArray(list)) list.push({}); else setPath(doc, el.dataset.list, [{}]);
      draw();
      const rows = form.querySelectorAll(`[data-section^="${el.dataset.list}["]`);
      rows[rows.length - 1]?.querySelector('input, select, textarea')?.focus();
    };
    actions['list-remove'] = (el) => {
      collect(form, doc);
      getPath(doc, el.dataset.list)?.splice(Number(el.dataset.index), 1);
      draw();
    };
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      collect(form, doc);
      // What the form sends is a copy: a failed save keeps the rows being edited.
      const sent = structuredClone(doc);
      tidyOptions(sent, form);
      // Only an HTTP header carries a request to imitate.
      const header = sent.streamSettings.tcpSettings?.header;
      if (header && header.type !== 'http') delete header.request;
      const v = formValues(form);
      const body = {
        remark: v.remark.trim(), enable: v.enable, listen: v.listen.trim(), port: Number(v.port), protocol: v.protocol,
        settings: sent.settings, streamSettings: WITH_TRANSPORT.includes(v.protocol) ? sent.streamSettings : sockoptOnly(sent.streamSettings),
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
      } catch (err) { fieldErrors(form, err); }
    });
  }).catch((e) => show(root, html`<p class="alert error">${e.message}</p>`));
}
// Reads the protocol and transport controls into the inbound document.
function collect(form, doc) {
  readControls($('#proto', form), doc);
  readControls($('#stream', form), doc);
  readCertificateSources(form, doc);
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
  return doc;
}
// Protocols without a transport keep only their socket options.
function sockoptOnly(st) { return st.sockopt ? { sockopt: st.sockopt } : {}; }
