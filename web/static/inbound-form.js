// The inbound form: protocol settings, transport and security, sniffing, and on a new
// inbound its first client. Controls are bound to paths in the inbound document
// (form-fields.js); the optional parts (fallbacks, TLS certificates, external proxies, socket
// and Hysteria options) are in inbound-options.js.
import { $, api, BASE, html, navigate, pageRoot, raw, servers, show } from './core.js';
import { actions, busy, clearErrors, dateInput, fieldErrors, formValues, fromDateInput, GB, toast } from './ui.js';
import { ctl, getPath, readControls, setPath } from './form-fields.js';
import { t } from './i18n.js';
import { externalProxyFields, externalProxyProblems, fallbackFields, hysteriaFields, readCertificateSources, sockoptFields, tidyOptions, tlsFields } from './inbound-options.js';

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
    case 'vless': return html`<p class="muted">${t('inbound.vless_clients_note')}</p>${ctl(doc, 'settings.decryption', t('inbound.decryption'), { choices: ['none'] })}${fallbackFields(doc)}`;
    case 'vmess': return html`<p class="muted">${t('inbound.vmess_clients_note')}</p>`;
    case 'trojan': return html`<p class="muted">${t('inbound.trojan_clients_note')}</p>${fallbackFields(doc)}`;
    case 'shadowsocks': return html`<div class="form-grid">${ctl(doc, 'settings.method', t('inbound.method'), { choices: offered(SS_METHODS, doc.settings.method), default: lacks.length ? 'aes-256-gcm' : '2022-blake3-aes-256-gcm' })}
      ${ctl(doc, 'settings.password', t('inbound.ss_password'), { gen: 'ss-key', hint: t('inbound.ss_password_hint') })}
      ${ctl(doc, 'settings.network', t('inbound.network'), { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}</div>`;
    case 'socks': case 'mixed': return html`<div class="form-grid">${ctl(doc, 'settings.auth', t('inbound.auth'), { choices: [['noauth', t('common.none')], ['password', t('inbound.auth_password')]], default: 'noauth' })}
      ${ctl(doc, 'settings.udp', 'UDP', { kind: 'bool' })}${ctl(doc, 'settings.ip', t('inbound.udp_address'), { placeholder: '127.0.0.1' })}</div>
      ${accountsField(doc)}`;
    case 'http': return accountsField(doc);
    case 'tunnel': case 'dokodemo-door': return html`<div class="form-grid">${ctl(doc, 'settings.address', t('inbound.target_address'), { placeholder: '1.1.1.1' })}${ctl(doc, 'settings.port', t('inbound.target_port'), { kind: 'int' })}
      ${ctl(doc, 'settings.network', t('inbound.network'), { choices: ['tcp,udp', 'tcp', 'udp'], default: 'tcp,udp' })}${ctl(doc, 'settings.followRedirect', t('inbound.follow_redirect'), { kind: 'bool' })}</div>`;
    case 'wireguard': return html`<div class="form-grid">${ctl(doc, 'settings.secretKey', t('inbound.private_key'), { gen: 'wg-key' })}${ctl(doc, 'settings.mtu', 'MTU', { kind: 'int', default: 1420 })}</div>
      <div><label for="f-peers">${t('inbound.peers')}</label><textarea id="f-peers" name="peers" data-kind="skip" data-field="settings.peers" rows="3" placeholder="publicKey 10.0.0.2/32">${(doc.settings.peers || []).map((pe) => `${pe.publicKey || ''} ${(pe.allowedIPs || []).join(',')}`).join('\n')}</textarea><div class="hint">${t('inbound.peers_hint')}</div></div>`;
    case 'hysteria': case 'hysteria2': return html`<p class="muted">${t('inbound.hysteria_note')}</p>`;
    default: return '';
  }
}
function accountsField(doc) {
  const lines = (doc.settings.accounts || []).map((a) => `${a.user}:${a.pass}`).join('\n');
  return html`<div><label for="f-accounts">${t('inbound.accounts')}</label><textarea id="f-accounts" name="accounts" data-kind="skip" data-field="settings.accounts" rows="3" placeholder="${t('inbound.accounts_placeholder')}">${lines}</textarea><div class="hint">${t('inbound.accounts_hint')}</div></div>`;
}
function transportFields(doc) {
  if (!WITH_TRANSPORT.includes(doc.protocol)) return html`<p class="muted">${t('inbound.no_transport', { protocol: doc.protocol })}</p>${sockoptFields(doc)}`;
  const hysteria = doc.protocol.startsWith('hysteria');
  const st = doc.streamSettings;
  const net = hysteria ? 'hysteria' : (st.network || 'tcp');
  const sec = st.security || 'none';
  let netFields = '';
  if (net === 'ws') netFields = html`${ctl(doc, 'streamSettings.wsSettings.path', t('inbound.path'), { default: '/' })}${ctl(doc, 'streamSettings.wsSettings.host', t('inbound.host'))}`;
  if (net === 'httpupgrade') netFields = html`${ctl(doc, 'streamSettings.httpupgradeSettings.path', t('inbound.path'), { default: '/' })}${ctl(doc, 'streamSettings.httpupgradeSettings.host', t('inbound.host'))}`;
  if (net === 'xhttp') netFields = html`${ctl(doc, 'streamSettings.xhttpSettings.path', t('inbound.path'), { default: '/' })}${ctl(doc, 'streamSettings.xhttpSettings.host', t('inbound.host'))}${ctl(doc, 'streamSettings.xhttpSettings.mode', t('inbound.xhttp_mode'), { choices: ['auto', 'packet-up', 'stream-up', 'stream-one'], default: 'auto' })}`;
  if (net === 'grpc') netFields = html`${ctl(doc, 'streamSettings.grpcSettings.serviceName', t('inbound.grpc_service_name'))}${ctl(doc, 'streamSettings.grpcSettings.multiMode', t('inbound.grpc_multi_mode'), { kind: 'bool' })}`;
  if (net === 'kcp') netFields = html`${ctl(doc, 'streamSettings.kcpSettings.header.type', t('inbound.kcp_header'), { choices: ['none', 'srtp', 'utp', 'wechat-video', 'dtls', 'wireguard'], default: 'none' })}${ctl(doc, 'streamSettings.kcpSettings.seed', t('inbound.kcp_seed'))}`;
  if (net === 'tcp') {
    const http = getPath(doc, 'streamSettings.tcpSettings.header.type') === 'http';
    netFields = html`${ctl(doc, 'streamSettings.tcpSettings.header.type', t('inbound.tcp_header'), { choices: [['none', t('common.none')], ['http', 'HTTP']], default: 'none' })}
      ${http ? html`${ctl(doc, 'streamSettings.tcpSettings.header.request.path', t('inbound.request_paths'), { kind: 'csv', default: '/' })}${ctl(doc, 'streamSettings.tcpSettings.header.request.headers.Host', t('inbound.host_names'), { kind: 'csv', placeholder: 'www.example.com' })}` : ''}`;
  }
  let secFields = '';
  if (sec === 'tls') secFields = tlsFields(doc);
  if (sec === 'reality') secFields = html`<div class="form-grid">${ctl(doc, 'streamSettings.realitySettings.target', t('inbound.reality_target'), { placeholder: 'www.example.com:443' })}
      ${ctl(doc, 'streamSettings.realitySettings.serverNames', t('inbound.server_names'), { kind: 'csv', placeholder: 'www.example.com' })}
      ${ctl(doc, 'streamSettings.realitySettings.privateKey', t('inbound.private_key'), { gen: 'x25519' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.publicKey', t('inbound.public_key'), { hint: t('inbound.public_key_hint') })}
      ${ctl(doc, 'streamSettings.realitySettings.shortIds', t('inbound.short_ids'), { kind: 'csv', gen: 'short-ids' })}
      ${ctl(doc, 'streamSettings.realitySettings.settings.fingerprint', t('inbound.fingerprint'), { choices: ['chrome', 'firefox', 'safari', 'ios', 'edge', 'random'], default: 'chrome' })}</div>`;
  return html`<div class="form-grid">
      ${hysteria ? html`<div><label>${t('inbound.transport')}</label><p>QUIC (Hysteria)</p></div>` : ctl(doc, 'streamSettings.network', t('inbound.transport'), { choices: offered(NETWORKS, st.network), default: 'tcp' })}
      ${ctl(doc, 'streamSettings.security', t('inbound.security'), { choices: hysteria ? [['tls', 'TLS']] : offered([['none', t('common.none')], ['tls', 'TLS'], ['reality', 'REALITY']], st.security), default: hysteria ? 'tls' : 'none' })}
      ${netFields}</div>${secFields}${hysteria ? hysteriaFields(doc) : ''}${externalProxyFields(doc)}${sockoptFields(doc)}`;
}

const SNIFF = ['http', 'tls', 'quic', 'fakedns'];
// Xray's `sniffing` object; a v2ray core reads only `enabled` and the http and tls overrides.
function sniffingFields(doc) {
  const on = new Set(doc.sniffing.destOverride || []);
  return html`<div class="row"><label class="inline"><input type="checkbox" name="sniffEnabled" ${raw(doc.sniffing.enabled ? 'checked' : '')}> ${t('common.enabled')}</label>
    ${SNIFF.map((s) => html`<label class="inline"><input type="checkbox" name="sniffDest" data-multi="1" value="${s}" ${raw(on.has(s) ? 'checked' : '')}> ${s}</label>`)}</div>
    <div class="form-grid">${ctl(doc, 'sniffing.routeOnly', t('inbound.sniff_route_only'), { kind: 'bool', hint: t('inbound.sniff_route_only_hint') })}
    ${ctl(doc, 'sniffing.metadataOnly', t('inbound.sniff_metadata_only'), { kind: 'bool', hint: t('inbound.sniff_metadata_only_hint') })}
    ${ctl(doc, 'sniffing.domainsExcluded', t('inbound.sniff_domains_excluded'), { kind: 'lines', rows: 3, hint: t('inbound.sniff_domains_excluded_hint') })}</div>
    <p class="hint">${t('inbound.sniff_v2ray')}</p>`;
}
// What the form sends as `sniffing`: the switches it shows, off and empty ones left out.
function sniffingOf(doc, v) {
  const out = { ...doc.sniffing, enabled: v.sniffEnabled, destOverride: v.sniffDest || [] };
  for (const k of ['routeOnly', 'metadataOnly']) if (!out[k]) delete out[k];
  if (!out.domainsExcluded?.length) delete out.domainsExcluded;
  return out;
}
const RESETS = () => ({ never: t('inbound.reset_never'), hourly: t('inbound.reset_hourly'), daily: t('inbound.reset_daily'), weekly: t('inbound.reset_weekly'), monthly: t('inbound.reset_monthly') });
export function pageInbound() {
  const q = new URLSearchParams(location.search);
  const id = q.get('id'), cloneId = q.get('clone');
  const root = pageRoot();
  Promise.all([servers(), id || cloneId ? api('GET', `/inbounds/${id || cloneId}`) : null]).then(([list, orig]) => {
    if (!list.length) { show(root, html`<p>${t('inbound.no_servers')} <a href="${BASE}/panel/servers">${t('inbound.servers_link')}</a></p>`); return; }
    const editing = Boolean(id);
    $('#title').textContent = editing ? t('inbound.edit_title', { name: orig.remark || orig.tag }) : cloneId ? t('inbound.clone_title', { name: orig.remark || orig.tag }) : t('inbound.add_title');
    const base = orig || { protocol: 'vless', enable: true, listen: '', port: 10000 + Math.floor(Math.random() * 50000), remark: '', total: 0, expiryTime: 0, trafficReset: 'never', tag: '', settings: { decryption: 'none' }, streamSettings: { network: 'ws', security: 'none', wsSettings: { path: '/' } }, sniffing: { enabled: true, destOverride: ['http', 'tls'] }, serverId: Number(q.get('server')) || list[0].id };
    const settings = { ...(base.settings || {}) };
    delete settings.clients;
    const doc = { protocol: base.protocol, settings, streamSettings: structuredClone(base.streamSettings || {}), sniffing: structuredClone(base.sniffing || {}) };
    // The PROXY protocol switch lives with the socket options, for every transport.
    if (doc.streamSettings.tcpSettings?.acceptProxyProtocol) { (doc.streamSettings.sockopt ||= {}).acceptProxyProtocol = true; delete doc.streamSettings.tcpSettings.acceptProxyProtocol; }
    const serverId = base.serverId;
    lacks = coreOf(list.find((s) => s.id === serverId));
    const protocolOptions = () => offered(PROTOCOLS, base.protocol).map((p) => html`<option ${raw(p === doc.protocol ? 'selected' : '')}>${p}</option>`);
    const coreNote = () => (lacks.length ? t('inbound.v2ray_note') : '');
    show(root, html`<form id="inbound-form" novalidate>
      <fieldset><legend>${t('inbound.legend')}</legend><div class="form-grid">
        ${editing || list.length === 1 ? html`<input type="hidden" name="serverId" value="${serverId}">` : html`<div><label for="f-server">${t('inbound.server')}</label><select id="f-server" name="serverId">${list.map((s) => html`<option value="${s.id}" ${raw(s.id === serverId ? 'selected' : '')}>${s.name}</option>`)}</select></div>`}
        <div><label for="f-remark">${t('inbound.remark')}</label><input id="f-remark" name="remark" data-field="remark" value="${cloneId ? t('inbound.clone_remark', { remark: base.remark }) : base.remark}"></div>
        <div><label for="f-protocol">${t('inbound.protocol')}</label><select id="f-protocol" name="protocol" data-field="protocol">${protocolOptions()}</select><div class="hint" id="core-note">${coreNote()}</div></div>
        <div><label for="f-listen">${t('inbound.listen')}</label><input id="f-listen" name="listen" data-field="listen" value="${base.listen}" placeholder="${t('inbound.listen_placeholder')}"></div>
        <div><label for="f-port">${t('inbound.port')}</label><div class="input-group"><input id="f-port" name="port" data-field="port" inputmode="numeric" value="${cloneId ? 10000 + Math.floor(Math.random() * 50000) : base.port}"><button type="button" data-action="gen" data-gen="port" data-target="f-port" aria-label="${t('inbound.random_port')}">${t('inbound.random')}</button></div></div>
        <div><label for="f-total">${t('inbound.quota')}</label><input id="f-total" name="total" data-field="total" inputmode="decimal" value="${base.total ? +(base.total / GB).toFixed(3) : 0}"></div>
        <div><label for="f-expiry">${t('inbound.expires')}</label><input id="f-expiry" name="expiryTime" data-field="expiryTime" type="datetime-local" value="${dateInput(base.expiryTime)}"><div class="hint">${t('inbound.expires_hint')}</div></div>
        <div><label for="f-reset">${t('inbound.traffic_reset')}</label><select id="f-reset" name="trafficReset" data-field="trafficReset">${Object.entries(RESETS()).map(([r, label]) => html`<option value="${r}" ${raw(r === base.trafficReset ? 'selected' : '')}>${label}</option>`)}</select></div>
        <div><label for="f-tag">${t('inbound.tag')}</label><input id="f-tag" name="tag" data-field="tag" value="${editing ? base.tag : ''}" placeholder="${t('inbound.tag_placeholder')}"></div>
        <div><label class="inline"><input type="checkbox" name="enable" ${raw(base.enable ? 'checked' : '')}> ${t('common.enabled')}</label></div>
      </div></fieldset>
      <fieldset data-section="settings"><legend>${t('inbound.protocol_settings')}</legend><div id="proto"></div></fieldset>
      <fieldset data-section="streamSettings"><legend>${t('inbound.transport_security')}</legend><div id="stream"></div></fieldset>
      <fieldset data-section="sniffing"><legend>${t('inbound.sniffing')}</legend><div id="sniff">${sniffingFields(doc)}</div></fieldset>
      ${editing ? '' : html`<fieldset data-section="settings.clients"><legend>${t('inbound.first_client')}</legend><div class="form-grid">
        <div><label for="f-first-client">${t('inbound.first_client_email')}</label><input id="f-first-client" name="firstClient" data-field="settings.clients[0].email" autocomplete="off"><div class="hint">${t('inbound.first_client_hint')}</div></div></div></fieldset>`}
      <div class="alert error form-error" role="alert" hidden></div>
      <div class="actions"><button type="submit" class="primary">${editing ? t('common.save') : t('inbound.create')}</button><a class="button" href="${BASE}/panel/inbounds?server=${serverId}">${t('common.cancel')}</a></div></form>`);
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
    // Fills a certificate's file paths from the panel's own certificate (Settings), as 3x-ui does.
    actions['panel-cert'] = async (el) => {
      const values = await api('GET', '/settings');
      if (!values.webCertFile || !values.webKeyFile) { toast(t('inbound.no_panel_cert'), 'error'); return; }
      collect(form, doc);
      const cert = doc.streamSettings.tlsSettings.certificates[Number(el.dataset.index)];
      Object.assign(cert, { certificateFile: values.webCertFile, keyFile: values.webKeyFile, _source: 'file' });
      draw();
      toast(t('inbound.panel_cert_filled'));
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
      readControls($('#sniff', form), doc);
      const proxyProblems = externalProxyProblems(doc);
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
        sniffing: sniffingOf(doc, v),
        tag: v.tag.trim(), total: Math.round(Number(v.total || 0) * GB), expiryTime: fromDateInput(v.expiryTime), trafficReset: v.trafficReset,
      };
      // The first client is created with the inbound, in the same request.
      if (!editing && v.firstClient.trim()) body.settings.clients = [{ email: v.firstClient.trim() }];
      const local = [...proxyProblems];
      if (!Number.isInteger(body.port) || body.port < 1 || body.port > 65535) local.push({ field: 'port', message: t('inbound.port_invalid') });
      if (!(Number(v.total) >= 0)) local.push({ field: 'total', message: t('inbound.total_invalid') });
      if (local.length) { fieldErrors(form, { fields: local }); return; }
      try {
        const saved = await busy(form.querySelector('[type="submit"]'), () => (editing ? api('PUT', `/inbounds/${id}`, body) : api('POST', `/servers/${v.serverId}/inbounds`, body)));
        toast(t('inbound.saved', { name: saved.remark || saved.tag }));
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
