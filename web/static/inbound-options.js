// The inbound form's optional parts: VLESS/Trojan fallbacks, TLS with several certificates,
// external proxies (CDN fronting), socket options and Hysteria's options. Each part draws its controls from the document and
// tidies what the controls wrote back (defaults left out, numbers as numbers).
import { html, raw } from './core.js';
import { ctl, getPath, prune } from './form-fields.js';
import { t } from './i18n.js';

// `label` names the row, as "Remove fallback 2".
const ROW_ACTIONS = (list, i, label) => html`<div class="row"><button type="button" class="small danger" data-action="list-remove" data-list="${list}" data-index="${i}">${label}</button></div>`;

// ---- Fallbacks ----
export function fallbackFields(doc) {
  if (!['vless', 'trojan'].includes(doc.protocol)) return '';
  const net = doc.streamSettings.network || 'tcp';
  if (!['tcp', 'raw'].includes(net)) return html`<p class="hint">${t('inbound.fallbacks_tcp_only', { protocol: doc.protocol === 'vless' ? 'VLESS' : 'Trojan' })}</p>`;
  const at = 'settings.fallbacks';
  const list = doc.settings.fallbacks || [];
  return html`<fieldset class="sub" data-section="${at}"><legend>${t('inbound.fallbacks')}</legend>
    <p class="hint">${t('inbound.fallbacks_hint', { protocol: doc.protocol === 'vless' ? 'VLESS' : 'Trojan' })}</p>
    ${list.map((_, i) => html`<fieldset class="sub" data-section="${at}[${i}]"><legend>${t('inbound.fallback_n', { n: i + 1 })}</legend><div class="form-grid">
      ${ctl(doc, `${at}[${i}].dest`, t('inbound.fallback_dest'), { placeholder: t('inbound.fallback_dest_placeholder'), hint: t('inbound.fallback_dest_hint') })}
      ${ctl(doc, `${at}[${i}].name`, 'SNI', { placeholder: t('inbound.any_name') })}
      ${ctl(doc, `${at}[${i}].alpn`, 'ALPN', { choices: [['', t('inbound.any')], 'h2', 'http/1.1'] })}
      ${ctl(doc, `${at}[${i}].path`, t('inbound.path'), { placeholder: t('inbound.any_path') })}
      ${ctl(doc, `${at}[${i}].xver`, t('inbound.proxy_protocol'), { kind: 'int', choices: [[0, t('inbound.off')], [1, t('inbound.proxy_v1')], [2, t('inbound.proxy_v2')]], default: 0 })}
      </div>${ROW_ACTIONS(at, i, t('inbound.remove_fallback', { n: i + 1 }))}</fieldset>`)}
    <div class="row"><button type="button" class="small" data-action="list-add" data-list="${at}">${t('inbound.add_fallback')}</button></div></fieldset>`;
}
function tidyFallbacks(doc) {
  const list = doc.settings.fallbacks;
  const net = doc.streamSettings.network || 'tcp';
  if (!list || !['vless', 'trojan'].includes(doc.protocol) || !['tcp', 'raw'].includes(net)) { delete doc.settings.fallbacks; return; }
  for (const f of list) {
    if (typeof f.dest === 'string' && /^\d+$/.test(f.dest)) f.dest = Number(f.dest);
    for (const k of ['name', 'alpn', 'path']) if (!f[k]) delete f[k];
  }
  if (!list.length) delete doc.settings.fallbacks;
}

// ---- TLS ----
const TLS_VERSIONS = [['', t('inbound.default')], '1.0', '1.1', '1.2', '1.3'];
const FINGERPRINTS = [['', t('common.none')], 'chrome', 'firefox', 'safari', 'ios', 'android', 'edge', '360', 'qq', 'random', 'randomized', 'randomizednoalpn'];
const hasPem = (c) => (Array.isArray(c.certificate) ? c.certificate.length : c.certificate) && !c.certificateFile;
export function tlsFields(doc) {
  const at = 'streamSettings.tlsSettings';
  const tls = (doc.streamSettings.tlsSettings ||= {});
  if (!tls.certificates?.length) tls.certificates = [{}];
  return html`<div class="form-grid">
      ${ctl(doc, `${at}.serverName`, t('inbound.server_name_sni'))}${ctl(doc, `${at}.alpn`, 'ALPN', { kind: 'csv', placeholder: 'h2, http/1.1' })}
      ${ctl(doc, `${at}.minVersion`, t('inbound.tls_min'), { choices: TLS_VERSIONS })}${ctl(doc, `${at}.maxVersion`, t('inbound.tls_max'), { choices: TLS_VERSIONS })}
      ${ctl(doc, `${at}.cipherSuites`, t('inbound.cipher_suites'), { placeholder: t('inbound.cipher_suites_placeholder'), hint: t('inbound.cipher_suites_hint') })}
      ${ctl(doc, `${at}.settings.fingerprint`, t('inbound.tls_fingerprint'), { choices: FINGERPRINTS })}
      ${ctl(doc, `${at}.rejectUnknownSni`, t('inbound.reject_unknown_sni'), { kind: 'bool', hint: t('inbound.reject_unknown_sni_hint') })}
      ${ctl(doc, `${at}.settings.allowInsecure`, t('inbound.allow_insecure'), { kind: 'bool', hint: t('inbound.allow_insecure_hint') })}</div>
    <fieldset class="sub" data-section="${at}.certificates"><legend>${t('inbound.certificates')}</legend>
    <p class="hint">${t('inbound.certificates_hint')}</p>
    ${tls.certificates.map((c, i) => certificateFields(doc, c, i))}
    <div class="row"><button type="button" class="small" data-action="list-add" data-list="${at}.certificates">${t('inbound.add_certificate')}</button></div></fieldset>`;
}
function certificateFields(doc, c, i) {
  const at = `streamSettings.tlsSettings.certificates[${i}]`;
  const source = c._source || (hasPem(c) ? 'pem' : 'file');
  const id = `f-cert-source-${i}`;
  return html`<fieldset class="sub" data-section="${at}"><legend>${t('inbound.certificate_n', { n: i + 1 })}</legend><div class="form-grid">
    <div><label for="${id}">${t('inbound.cert_source')}</label><select id="${id}" name="certSource" data-index="${i}" data-redraw="1">
      <option value="file" ${raw(source === 'file' ? 'selected' : '')}>${t('inbound.cert_source_file')}</option><option value="pem" ${raw(source === 'pem' ? 'selected' : '')}>${t('inbound.cert_source_pem')}</option></select></div>
    ${source === 'file'
    ? html`${ctl(doc, `${at}.certificateFile`, t('inbound.cert_file'), { placeholder: '/etc/ssl/fullchain.pem' })}${ctl(doc, `${at}.keyFile`, t('inbound.key_file'), { placeholder: '/etc/ssl/privkey.pem' })}
      <div><button type="button" class="small" data-action="panel-cert" data-index="${i}">${t('inbound.use_panel_cert')}</button><div class="hint">${t('inbound.use_panel_cert_hint')}</div></div>`
    : html`${ctl(doc, `${at}.certificate`, t('inbound.cert_pem'), { kind: 'lines', rows: 4 })}${ctl(doc, `${at}.key`, t('inbound.key_pem'), { kind: 'lines', rows: 4 })}`}
    ${ctl(doc, `${at}.usage`, t('inbound.cert_usage'), { choices: [['', t('inbound.cert_usage_serve')], ['verify', t('inbound.cert_usage_verify')], ['issue', t('inbound.cert_usage_issue')]] })}
    ${ctl(doc, `${at}.ocspStapling`, t('inbound.ocsp'), { kind: 'int', hint: t('inbound.ocsp_hint') })}
    ${ctl(doc, `${at}.oneTimeLoading`, t('inbound.one_time_loading'), { kind: 'bool' })}
    </div>${ROW_ACTIONS('streamSettings.tlsSettings.certificates', i, t('inbound.remove_certificate', { n: i + 1 }))}</fieldset>`;
}
// Remembers each certificate's source while the form is redrawn.
export function readCertificateSources(form, doc) {
  for (const sel of form.querySelectorAll('[name="certSource"]')) {
    const c = doc.streamSettings.tlsSettings?.certificates?.[Number(sel.dataset.index)];
    if (c) c._source = sel.value;
  }
}
function tidyTls(doc) {
  const st = doc.streamSettings;
  if (st.security !== 'tls') { delete st.tlsSettings; return; }
  const tls = st.tlsSettings || {};
  const certs = (tls.certificates || []).map((c) => {
    const source = c._source || (hasPem(c) ? 'pem' : 'file');
    delete c._source;
    for (const k of source === 'file' ? ['certificate', 'key'] : ['certificateFile', 'keyFile']) delete c[k];
    return prune(c);
  }).filter((c) => Object.keys(c).length);
  delete tls.certificates;
  prune(tls);
  tls.certificates = certs;
  st.tlsSettings = tls;
}

// ---- External proxies ----
// 3x-ui's `streamSettings.externalProxy`: share links point at these addresses (a CDN or a
// relay in front of the server) instead of the server's own, one link per entry.
const FORCE_TLS = () => [['same', t('inbound.ep_force_same')], ['tls', 'TLS'], ['none', t('common.none')]];
export function externalProxyFields(doc) {
  const at = 'streamSettings.externalProxy';
  const list = doc.streamSettings.externalProxy || [];
  return html`<fieldset class="sub" data-section="${at}"><legend>${t('inbound.external_proxies')}</legend>
    <p class="hint">${t('inbound.external_proxies_hint')}</p>
    ${list.map((_, i) => html`<fieldset class="sub" data-section="${at}[${i}]"><legend>${t('inbound.external_proxy_n', { n: i + 1 })}</legend><div class="form-grid">
      ${ctl(doc, `${at}[${i}].forceTls`, t('inbound.ep_force_tls'), { choices: FORCE_TLS(), default: 'same' })}
      ${ctl(doc, `${at}[${i}].dest`, t('inbound.ep_dest'), { placeholder: 'cdn.example.com' })}
      ${ctl(doc, `${at}[${i}].port`, t('inbound.ep_port'), { kind: 'int', default: 443 })}
      ${ctl(doc, `${at}[${i}].remark`, t('inbound.ep_remark'))}
      </div>${ROW_ACTIONS(at, i, t('inbound.remove_external_proxy', { n: i + 1 }))}</fieldset>`)}
    <div class="row"><button type="button" class="small" data-action="list-add" data-list="${at}">${t('inbound.add_external_proxy')}</button></div></fieldset>`;
}
// Entries without an address are dropped; a port that is not one is the form's error.
export function externalProxyProblems(doc) {
  return (doc.streamSettings.externalProxy || []).flatMap((p, i) => (p.dest && !(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535)
    ? [{ field: `streamSettings.externalProxy[${i}].port`, message: t('inbound.port_invalid') }] : []));
}
function tidyExternalProxy(doc) {
  const st = doc.streamSettings;
  if (!st.externalProxy) return;
  st.externalProxy = st.externalProxy.filter((p) => p.dest).map((p) => ({ forceTls: p.forceTls || 'same', dest: p.dest, port: p.port, remark: p.remark || '' }));
  if (!st.externalProxy.length) delete st.externalProxy;
}

// ---- Socket options ----
export function sockoptFields(doc) {
  const at = 'streamSettings.sockopt';
  const s = doc.streamSettings.sockopt || {};
  const tfo = s.tcpFastOpen;
  const tfoChoices = [['', t('inbound.default')], ['true', t('inbound.on')], ['false', t('inbound.off')], ...(typeof tfo === 'number' ? [[String(tfo), t('inbound.tfo_queue', { n: String(tfo) })]] : [])];
  // Open when something is set; the controls write their defaults back, which does not count.
  const set = Object.keys(prune(structuredClone(s), ['tcpFastOpen'])).length;
  return html`<details class="sub" data-section="${at}" ${raw(set ? 'open' : '')}><summary>${t('inbound.sockopt')}</summary><div class="form-grid">
    ${ctl(doc, `${at}.acceptProxyProtocol`, t('inbound.accept_proxy_protocol'), { kind: 'bool', hint: t('inbound.accept_proxy_protocol_hint') })}
    ${ctl(doc, `${at}.tcpFastOpen`, 'TCP Fast Open', { choices: tfoChoices })}
    ${ctl(doc, `${at}.mark`, t('inbound.mark'), { kind: 'int', hint: t('inbound.mark_hint') })}
    ${ctl(doc, `${at}.tproxy`, t('inbound.tproxy'), { choices: [['', t('inbound.off')], 'redirect', 'tproxy'] })}
    ${ctl(doc, `${at}.domainStrategy`, t('inbound.domain_strategy'), { choices: [['', 'AsIs'], 'UseIP', 'UseIPv4', 'UseIPv6', 'UseIPv4v6', 'UseIPv6v4', 'ForceIP', 'ForceIPv4', 'ForceIPv6'] })}
    ${ctl(doc, `${at}.tcpKeepAliveInterval`, t('inbound.keepalive_interval'), { kind: 'int' })}
    ${ctl(doc, `${at}.tcpKeepAliveIdle`, t('inbound.keepalive_idle'), { kind: 'int' })}
    ${ctl(doc, `${at}.tcpUserTimeout`, t('inbound.user_timeout'), { kind: 'int' })}
    ${ctl(doc, `${at}.tcpcongestion`, t('inbound.tcp_congestion'), { placeholder: 'bbr' })}
    ${ctl(doc, `${at}.interface`, t('inbound.interface'), { placeholder: 'eth0' })}
    ${ctl(doc, `${at}.v6only`, t('inbound.v6only'), { kind: 'bool' })}
    ${ctl(doc, `${at}.tcpMptcp`, t('inbound.mptcp'), { kind: 'bool' })}
    </div><p class="hint">${t('inbound.sockopt_v2ray')}</p></details>`;
}
function tidySockopt(doc) {
  const s = doc.streamSettings.sockopt;
  if (!s) return;
  if (s.tcpFastOpen === '') delete s.tcpFastOpen;
  else if (typeof s.tcpFastOpen === 'string') s.tcpFastOpen = /^\d+$/.test(s.tcpFastOpen) ? Number(s.tcpFastOpen) : s.tcpFastOpen === 'true';
  prune(s, ['tcpFastOpen']);
  if (!Object.keys(s).length) delete doc.streamSettings.sockopt;
  // Xray reads the PROXY protocol switch from sockopt for every transport.
  if (doc.streamSettings.tcpSettings) delete doc.streamSettings.tcpSettings.acceptProxyProtocol;
}

// ---- Hysteria ----
const MASQUERADE = { file: ['dir'], proxy: ['url', 'rewriteHost', 'insecure'], string: ['content', 'statusCode', 'headers'] };
function salamanderIndex(doc) {
  const udp = getPath(doc, 'streamSettings.finalmask.udp') || [];
  const i = udp.findIndex((m) => m?.type === 'salamander');
  return i < 0 ? udp.length : i;
}
export function hysteriaFields(doc) {
  const at = 'streamSettings.hysteriaSettings';
  const m = `${at}.masquerade`;
  const q = 'streamSettings.finalmask.quicParams';
  const type = getPath(doc, `${m}.type`) || '';
  const si = salamanderIndex(doc);
  const salamander = getPath(doc, `streamSettings.finalmask.udp[${si}].settings.password`) || '';
  return html`<fieldset class="sub" data-section="${at}"><legend>${t('inbound.hysteria')}</legend><div class="form-grid">
    ${ctl(doc, `${at}.udpIdleTimeout`, t('inbound.udp_idle_timeout'), { kind: 'int', hint: t('inbound.udp_idle_timeout_hint') })}
    ${ctl(doc, `${q}.congestion`, t('inbound.congestion'), { choices: [['', t('inbound.congestion_default')], 'bbr', 'reno', 'brutal', 'force-brutal'] })}
    ${ctl(doc, `${q}.brutalUp`, t('inbound.upload_limit'), { placeholder: '100 mbps', hint: t('inbound.limit_hint') })}
    ${ctl(doc, `${q}.brutalDown`, t('inbound.download_limit'), { placeholder: '100 mbps' })}
    <div><label for="f-salamander">${t('inbound.salamander')}</label><div class="input-group"><input id="f-salamander" name="salamander" data-kind="skip" data-field="streamSettings.finalmask.udp[${si}].settings.password" value="${salamander}" autocomplete="off"><button type="button" data-action="gen" data-gen="password" data-target="f-salamander" aria-label="${t('inbound.salamander_generate')}">${t('fields.generate')}</button></div><div class="hint">${t('inbound.salamander_hint')}</div></div>
    ${ctl(doc, `${m}.type`, t('inbound.masquerade'), { choices: [['', t('inbound.masquerade_none')], ['file', t('inbound.masquerade_file')], ['proxy', t('inbound.masquerade_proxy')], ['string', t('inbound.masquerade_string')]], redraw: true, hint: t('inbound.masquerade_hint') })}
    ${type === 'file' ? ctl(doc, `${m}.dir`, t('inbound.masquerade_dir'), { placeholder: '/var/www/html' }) : ''}
    ${type === 'proxy' ? html`${ctl(doc, `${m}.url`, t('inbound.masquerade_url'), { placeholder: 'https://www.example.com' })}${ctl(doc, `${m}.rewriteHost`, t('inbound.masquerade_rewrite_host'), { kind: 'bool' })}${ctl(doc, `${m}.insecure`, t('inbound.masquerade_insecure'), { kind: 'bool' })}` : ''}
    ${type === 'string' ? html`${ctl(doc, `${m}.content`, t('inbound.masquerade_content'), { area: true })}${ctl(doc, `${m}.statusCode`, t('inbound.masquerade_status'), { kind: 'int', hint: t('inbound.masquerade_status_hint') })}` : ''}
    </div></fieldset>`;
}
function tidyHysteria(doc, form) {
  const st = doc.streamSettings;
  if (!doc.protocol.startsWith('hysteria')) return;
  const h = (st.hysteriaSettings ||= {});
  const m = h.masquerade;
  if (m) for (const [type, keys] of Object.entries(MASQUERADE)) if (m.type !== type) keys.forEach((k) => delete m[k]);
  prune(h);
  h.version = 2;
  const mask = (st.finalmask ||= {});
  const input = form.querySelector('[name="salamander"]');
  if (input) {
    // In place, so the password's path stays the one its control was drawn with.
    const udp = (mask.udp ||= []);
    const i = udp.findIndex((l) => l?.type === 'salamander');
    const password = input.value.trim();
    if (i >= 0 && password) udp[i] = { ...udp[i], settings: { ...(udp[i].settings || {}), password } };
    else if (i >= 0) udp.splice(i, 1);
    else if (password) udp.push({ type: 'salamander', settings: { password } });
  }
  prune(mask);
  if (!Object.keys(mask).length) delete st.finalmask;
}

// Tidies every optional part after the controls were read.
export function tidyOptions(doc, form) {
  tidyFallbacks(doc);
  tidyTls(doc);
  tidyExternalProxy(doc);
  tidySockopt(doc);
  tidyHysteria(doc, form);
}
