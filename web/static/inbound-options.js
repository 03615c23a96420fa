// The inbound form's optional parts: VLESS/Trojan fallbacks, TLS with several certificates,
// socket options and Hysteria's options. Each part draws its controls from the document and
// tidies what the controls wrote back (defaults left out, numbers as numbers).
import { html, raw } from './core.js';
import { ctl, getPath, prune } from './form-fields.js';

const ROW_ACTIONS = (list, i, what) => html`<div class="row"><button type="button" class="small danger" data-action="list-remove" data-list="${list}" data-index="${i}">Remove ${what} ${i + 1}</button></div>`;

// ---- Fallbacks ----
export function fallbackFields(doc) {
  if (!['vless', 'trojan'].includes(doc.protocol)) return '';
  const net = doc.streamSettings.network || 'tcp';
  if (!['tcp', 'raw'].includes(net)) return html`<p class="hint">Fallbacks are offered on the RAW (TCP) transport only: there the core reads a connection's first bytes itself and can hand anything that is not ${doc.protocol === 'vless' ? 'VLESS' : 'Trojan'} to another server.</p>`;
  const at = 'settings.fallbacks';
  const list = doc.settings.fallbacks || [];
  return html`<fieldset class="sub" data-section="${at}"><legend>Fallbacks</legend>
    <p class="hint">Connections that are not ${doc.protocol === 'vless' ? 'VLESS' : 'Trojan'} go to the first fallback whose SNI, ALPN and path match (empty matches anything).</p>
    ${list.map((_, i) => html`<fieldset class="sub" data-section="${at}[${i}]"><legend>Fallback ${i + 1}</legend><div class="form-grid">
      ${ctl(doc, `${at}[${i}].dest`, 'Destination', { placeholder: '8080, 127.0.0.1:8080 or /run/web.sock', hint: 'A port, host:port or a Unix socket path' })}
      ${ctl(doc, `${at}[${i}].name`, 'SNI', { placeholder: 'any name' })}
      ${ctl(doc, `${at}[${i}].alpn`, 'ALPN', { choices: [['', 'any'], 'h2', 'http/1.1'] })}
      ${ctl(doc, `${at}[${i}].path`, 'Path', { placeholder: 'any path, e.g. /ws' })}
      ${ctl(doc, `${at}[${i}].xver`, 'PROXY protocol', { kind: 'int', choices: [[0, 'off'], [1, 'version 1'], [2, 'version 2']], default: 0 })}
      </div>${ROW_ACTIONS(at, i, 'fallback')}</fieldset>`)}
    <div class="row"><button type="button" class="small" data-action="list-add" data-list="${at}">Add fallback</button></div></fieldset>`;
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
const TLS_VERSIONS = [['', 'default'], '1.0', '1.1', '1.2', '1.3'];
const FINGERPRINTS = [['', 'none'], 'chrome', 'firefox', 'safari', 'ios', 'android', 'edge', '360', 'qq', 'random', 'randomized', 'randomizednoalpn'];
const hasPem = (c) => (Array.isArray(c.certificate) ? c.certificate.length : c.certificate) && !c.certificateFile;
export function tlsFields(doc) {
  const at = 'streamSettings.tlsSettings';
  const tls = (doc.streamSettings.tlsSettings ||= {});
  if (!tls.certificates?.length) tls.certificates = [{}];
  return html`<div class="form-grid">
      ${ctl(doc, `${at}.serverName`, 'Server name (SNI)')}${ctl(doc, `${at}.alpn`, 'ALPN', { kind: 'csv', placeholder: 'h2, http/1.1' })}
      ${ctl(doc, `${at}.minVersion`, 'Minimum TLS version', { choices: TLS_VERSIONS })}${ctl(doc, `${at}.maxVersion`, 'Maximum TLS version', { choices: TLS_VERSIONS })}
      ${ctl(doc, `${at}.cipherSuites`, 'Cipher suites', { placeholder: 'the core\'s defaults', hint: 'Go suite names separated by ":" (TLS 1.0–1.2 only)' })}
      ${ctl(doc, `${at}.settings.fingerprint`, 'Fingerprint (share links)', { choices: FINGERPRINTS })}
      ${ctl(doc, `${at}.rejectUnknownSni`, 'Reject unknown SNI', { kind: 'bool', hint: 'Refuse names no certificate is for' })}
      ${ctl(doc, `${at}.settings.allowInsecure`, 'Allow insecure (share links)', { kind: 'bool', hint: 'Clients skip the certificate check' })}</div>
    <fieldset class="sub" data-section="${at}.certificates"><legend>Certificates</legend>
    <p class="hint">The core serves the certificate whose names match the client's SNI; the first one otherwise.</p>
    ${tls.certificates.map((c, i) => certificateFields(doc, c, i))}
    <div class="row"><button type="button" class="small" data-action="list-add" data-list="${at}.certificates">Add certificate</button></div></fieldset>`;
}
function certificateFields(doc, c, i) {
  const at = `streamSettings.tlsSettings.certificates[${i}]`;
  const source = c._source || (hasPem(c) ? 'pem' : 'file');
  const id = `f-cert-source-${i}`;
  return html`<fieldset class="sub" data-section="${at}"><legend>Certificate ${i + 1}</legend><div class="form-grid">
    <div><label for="${id}">Source</label><select id="${id}" name="certSource" data-index="${i}" data-redraw="1">
      <option value="file" ${raw(source === 'file' ? 'selected' : '')}>files on the server</option><option value="pem" ${raw(source === 'pem' ? 'selected' : '')}>pasted PEM</option></select></div>
    ${source === 'file'
    ? html`${ctl(doc, `${at}.certificateFile`, 'Certificate file', { placeholder: '/etc/ssl/fullchain.pem' })}${ctl(doc, `${at}.keyFile`, 'Key file', { placeholder: '/etc/ssl/privkey.pem' })}`
    : html`${ctl(doc, `${at}.certificate`, 'Certificate (PEM)', { kind: 'lines', rows: 4 })}${ctl(doc, `${at}.key`, 'Key (PEM)', { kind: 'lines', rows: 4 })}`}
    ${ctl(doc, `${at}.usage`, 'Usage', { choices: [['', 'serve it (encipherment)'], ['verify', 'verify clients (CA)'], ['issue', 'issue certificates (CA)']] })}
    ${ctl(doc, `${at}.ocspStapling`, 'OCSP stapling refresh (seconds)', { kind: 'int', hint: '0: no stapling' })}
    ${ctl(doc, `${at}.oneTimeLoading`, 'Load once (ignore renewed files)', { kind: 'bool' })}
    </div>${ROW_ACTIONS('streamSettings.tlsSettings.certificates', i, 'certificate')}</fieldset>`;
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

// ---- Socket options ----
export function sockoptFields(doc) {
  const at = 'streamSettings.sockopt';
  const s = doc.streamSettings.sockopt || {};
  const tfo = s.tcpFastOpen;
  const tfoChoices = [['', 'default'], ['true', 'on'], ['false', 'off'], ...(typeof tfo === 'number' ? [[String(tfo), `on, queue ${tfo}`]] : [])];
  // Open when something is set; the controls write their defaults back, which does not count.
  const set = Object.keys(prune(structuredClone(s), ['tcpFastOpen'])).length;
  return html`<details class="sub" data-section="${at}" ${raw(set ? 'open' : '')}><summary>Socket options</summary><div class="form-grid">
    ${ctl(doc, `${at}.acceptProxyProtocol`, 'Accept PROXY protocol', { kind: 'bool', hint: 'Behind a load balancer that sends it' })}
    ${ctl(doc, `${at}.tcpFastOpen`, 'TCP Fast Open', { choices: tfoChoices })}
    ${ctl(doc, `${at}.mark`, 'Routing mark (SO_MARK)', { kind: 'int', hint: '0: none' })}
    ${ctl(doc, `${at}.tproxy`, 'Transparent proxy', { choices: [['', 'off'], 'redirect', 'tproxy'] })}
    ${ctl(doc, `${at}.domainStrategy`, 'Domain strategy', { choices: [['', 'AsIs'], 'UseIP', 'UseIPv4', 'UseIPv6', 'UseIPv4v6', 'UseIPv6v4', 'ForceIP', 'ForceIPv4', 'ForceIPv6'] })}
    ${ctl(doc, `${at}.tcpKeepAliveInterval`, 'TCP keep-alive interval (seconds)', { kind: 'int' })}
    ${ctl(doc, `${at}.tcpKeepAliveIdle`, 'TCP keep-alive idle (seconds)', { kind: 'int' })}
    ${ctl(doc, `${at}.tcpUserTimeout`, 'TCP user timeout (ms)', { kind: 'int' })}
    ${ctl(doc, `${at}.tcpcongestion`, 'TCP congestion control', { placeholder: 'bbr' })}
    ${ctl(doc, `${at}.interface`, 'Bind to interface', { placeholder: 'eth0' })}
    ${ctl(doc, `${at}.v6only`, 'IPv6 only (V6Only)', { kind: 'bool' })}
    ${ctl(doc, `${at}.tcpMptcp`, 'Multipath TCP', { kind: 'bool' })}
    </div><p class="hint">A v2ray core uses only the PROXY protocol, TCP Fast Open, mark and transparent proxy.</p></details>`;
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
  return html`<fieldset class="sub" data-section="${at}"><legend>Hysteria</legend><div class="form-grid">
    ${ctl(doc, `${at}.udpIdleTimeout`, 'UDP idle timeout (seconds)', { kind: 'int', hint: '2–600; 0: 60' })}
    ${ctl(doc, `${q}.congestion`, 'Congestion control', { choices: [['', 'default (brutal)'], 'bbr', 'reno', 'brutal', 'force-brutal'] })}
    ${ctl(doc, `${q}.brutalUp`, 'Upload limit', { placeholder: '100 mbps', hint: 'Empty or 0: no limit' })}
    ${ctl(doc, `${q}.brutalDown`, 'Download limit', { placeholder: '100 mbps' })}
    <div><label for="f-salamander">Obfuscation password (Salamander)</label><div class="input-group"><input id="f-salamander" name="salamander" data-kind="skip" data-field="streamSettings.finalmask.udp[${si}].settings.password" value="${salamander}" autocomplete="off"><button type="button" data-action="gen" data-gen="password" data-target="f-salamander" aria-label="Generate obfuscation password">Generate</button></div><div class="hint">Empty: none. Share links carry it.</div></div>
    ${ctl(doc, `${m}.type`, 'Masquerade', { choices: [['', 'none (404 page)'], ['file', 'files from a folder'], ['proxy', 'a proxied site'], ['string', 'fixed text']], redraw: true, hint: 'What a plain HTTP/3 visitor sees' })}
    ${type === 'file' ? ctl(doc, `${m}.dir`, 'Folder to serve', { placeholder: '/var/www/html' }) : ''}
    ${type === 'proxy' ? html`${ctl(doc, `${m}.url`, 'Site URL', { placeholder: 'https://www.example.com' })}${ctl(doc, `${m}.rewriteHost`, 'Rewrite the Host header', { kind: 'bool' })}${ctl(doc, `${m}.insecure`, 'Skip the site\'s certificate check', { kind: 'bool' })}` : ''}
    ${type === 'string' ? html`${ctl(doc, `${m}.content`, 'Content', { area: true })}${ctl(doc, `${m}.statusCode`, 'Status code', { kind: 'int', hint: '0: 200' })}` : ''}
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
  tidySockopt(doc);
  tidyHysteria(doc, form);
}
