// The tabs of the core configuration page. Each draws part of the working template
// (`ctx.doc`) and writes changes back into it, leaving every key it does not show alone.
import { $, api, html, raw, show } from './core.js';
import { actions, bytes, clearErrors, confirmDialog, fieldErrors, t, toast } from './ui.js';
import { ctl, deletePath, getPath, readControls, setPath } from './form-fields.js';
import { basicTab } from './core-basic.js';

const list = (doc, path) => { const v = getPath(doc, path); return Array.isArray(v) ? v : []; };
const tagsOf = (items) => items.map((o) => o?.tag).filter(Boolean);
// Reads an item editor's controls into `item`; what was left empty is taken out again, with
// the objects and lists it leaves empty (a socks server's `users: [{}]`).
function readItem(form, item) {
  readControls(form, item);
  for (const el of form.querySelectorAll('[data-kind]')) {
    const v = getPath(item, el.name);
    if (v === '' || (Array.isArray(v) && !v.length) || (el.dataset.kind === 'int' && v === 0)) dropPath(item, el.name);
  }
  return item;
}
const isEmpty = (v) => v === undefined || v === null || v === '' || (typeof v === 'object' && !Object.keys(v).length);
function dropPath(item, path) {
  const ks = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  for (let n = ks.length; n >= 1; n--) {
    const parent = n > 1 ? getPath(item, ks.slice(0, n - 1).join('.')) : item;
    if (!parent || typeof parent !== 'object') return;
    // The leaf goes; above it, only what it left empty, never the item's own top-level keys.
    if (n < ks.length && (n === 1 || !isEmpty(parent[ks[n - 1]]))) return;
    if (Array.isArray(parent)) parent.splice(Number(ks[n - 1]), 1); else delete parent[ks[n - 1]];
  }
}
function editorShell(id, title, body, apply) {
  return html`<form class="card editor" id="${id}" novalidate><h3>${title}</h3>${body}
    <div class="alert error form-error" role="alert" hidden></div>
    <div class="actions"><button type="submit" class="primary">${apply}</button><button type="button" data-action="editor-cancel">${t('common.cancel')}</button></div>
    <p class="hint">${t('coreconf.editor_hint')}</p></form>`;
}
actions['editor-cancel'] = () => $('#tab-panel form.editor')?.remove();
function moveItem(items, i, by) {
  const j = i + by;
  if (j < 0 || j >= items.length) return false;
  [items[i], items[j]] = [items[j], items[i]];
  return true;
}

// ---- Outbounds ----
const SERVER = (key) => [[`settings.${key}[0].address`, t('coreconf.server_address')], [`settings.${key}[0].port`, t('coreconf.server_port'), { kind: 'int' }]];
const NONE = ['', t('common.none')];
const SS_METHODS = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305', 'chacha20-ietf-poly1305', 'xchacha20-poly1305', '2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm', '2022-blake3-chacha20-poly1305', 'none'];
const OUT_FIELDS = {
  freedom: [['settings.domainStrategy', t('coreconf.domain_strategy'), { choices: ['AsIs', 'UseIP', 'UseIPv4', 'UseIPv6'] }], ['settings.redirect', t('coreconf.redirect'), { placeholder: '127.0.0.1:8080', hint: t('coreconf.redirect_hint') }]],
  blackhole: [['settings.response.type', t('coreconf.response'), { choices: [['none', t('coreconf.response_none')], ['http', t('coreconf.response_http')]] }]],
  socks: [...SERVER('servers'), ['settings.servers[0].users[0].user', t('coreconf.user')], ['settings.servers[0].users[0].pass', t('coreconf.password')]],
  http: [...SERVER('servers'), ['settings.servers[0].users[0].user', t('coreconf.user')], ['settings.servers[0].users[0].pass', t('coreconf.password')]],
  vless: [...SERVER('vnext'), ['settings.vnext[0].users[0].id', 'UUID', { gen: 'uuid' }], ['settings.vnext[0].users[0].encryption', t('coreconf.encryption'), { default: 'none' }], ['settings.vnext[0].users[0].flow', t('coreconf.flow'), { choices: [NONE, 'xtls-rprx-vision'] }]],
  vmess: [...SERVER('vnext'), ['settings.vnext[0].users[0].id', 'UUID', { gen: 'uuid' }], ['settings.vnext[0].users[0].security', t('coreconf.security'), { choices: ['auto', 'aes-128-gcm', 'chacha20-poly1305', 'none', 'zero'] }]],
  trojan: [...SERVER('servers'), ['settings.servers[0].password', t('coreconf.password'), { gen: 'password' }]],
  shadowsocks: [...SERVER('servers'), ['settings.servers[0].method', t('coreconf.method'), { choices: SS_METHODS }], ['settings.servers[0].password', t('coreconf.password'), { gen: 'ss-key' }]],
  wireguard: [['settings.secretKey', t('coreconf.private_key'), { gen: 'wg-key' }], ['settings.address', t('coreconf.interface_addresses'), { kind: 'csv', placeholder: '172.16.0.2/32, fd01::2/128' }],
    ['settings.peers[0].publicKey', t('coreconf.peer_public_key')], ['settings.peers[0].endpoint', t('coreconf.peer_endpoint'), { placeholder: 'engage.cloudflareclient.com:2408' }],
    ['settings.peers[0].allowedIPs', t('coreconf.allowed_ips'), { kind: 'csv', placeholder: '0.0.0.0/0, ::/0' }], ['settings.mtu', 'MTU', { kind: 'int' }], ['settings.reserved', t('coreconf.reserved'), { kind: 'csv', placeholder: '0, 0, 0' }]],
};
const STREAMED = ['socks', 'http', 'vless', 'vmess', 'trojan', 'shadowsocks'];
function streamFields(o) {
  const net = getPath(o, 'streamSettings.network') || 'tcp';
  const sec = getPath(o, 'streamSettings.security') || 'none';
  const f = [['streamSettings.network', t('coreconf.transport'), { choices: ['tcp', 'ws', 'grpc', 'httpupgrade'], redraw: true }], ['streamSettings.security', t('coreconf.security'), { choices: ['none', 'tls', 'reality'], redraw: true }]];
  if (net === 'ws') f.push(['streamSettings.wsSettings.path', t('coreconf.path')], ['streamSettings.wsSettings.headers.Host', t('coreconf.host_header')]);
  if (net === 'httpupgrade') f.push(['streamSettings.httpupgradeSettings.path', t('coreconf.path')], ['streamSettings.httpupgradeSettings.host', t('coreconf.host')]);
  if (net === 'grpc') f.push(['streamSettings.grpcSettings.serviceName', t('coreconf.service_name')]);
  if (sec === 'tls') f.push(['streamSettings.tlsSettings.serverName', t('coreconf.sni')], ['streamSettings.tlsSettings.fingerprint', t('coreconf.fingerprint'), { choices: [NONE, 'chrome', 'firefox', 'safari', 'ios', 'random'] }], ['streamSettings.tlsSettings.allowInsecure', t('coreconf.allow_insecure'), { kind: 'bool' }]);
  if (sec === 'reality') f.push(['streamSettings.realitySettings.serverName', t('coreconf.sni')], ['streamSettings.realitySettings.publicKey', t('coreconf.public_key')], ['streamSettings.realitySettings.shortId', t('coreconf.short_id')], ['streamSettings.realitySettings.fingerprint', t('coreconf.fingerprint'), { choices: ['chrome', 'firefox', 'safari', 'ios', 'random'] }]);
  return f;
}
function outboundForm(o, title, apply) {
  const fields = [...(OUT_FIELDS[o.protocol] || []), ...(STREAMED.includes(o.protocol) ? streamFields(o) : [])];
  const known = OUT_FIELDS[o.protocol] ? '' : html`<p class="hint">${t('coreconf.settings_in_json', { protocol: o.protocol })}</p>`;
  return editorShell('outbound-form', title, html`<div class="form-grid">
    ${ctl(o, 'tag', t('coreconf.tag'), { hint: t('coreconf.tag_hint') })}
    ${ctl(o, 'protocol', t('coreconf.protocol'), { choices: [...new Set([...Object.keys(OUT_FIELDS), o.protocol])], redraw: true })}
    ${ctl(o, 'sendThrough', t('coreconf.send_through'), { placeholder: t('coreconf.any') })}
    ${fields.map(([path, label, opts]) => ctl(o, path, label, opts))}</div>${known}`, apply);
}
function outboundAddress(o) {
  const s = o.settings || {};
  const peer = s.vnext?.[0] || s.servers?.[0];
  if (peer?.address) return `${peer.address}:${peer.port ?? ''}`;
  if (o.protocol === 'wireguard') return s.peers?.[0]?.endpoint || '';
  if (o.protocol === 'freedom' && s.redirect) return `→ ${s.redirect}`;
  return '';
}
// Outbound traffic by tag: the servers using this template added up.
async function outboundTraffic(ctx) {
  const traffic = await api('GET', '/core/outbounds/traffic');
  const mine = new Set(ctx.servers().map((s) => s.id));
  const sums = new Map();
  for (const s of traffic.servers || []) {
    if (!mine.has(s.id)) continue;
    for (const o of s.outbounds || []) {
      const a = sums.get(o.tag) || { up: 0, down: 0 };
      sums.set(o.tag, { up: a.up + (o.up || 0), down: a.down + (o.down || 0) });
    }
  }
  return sums;
}
function outboundsTab(panel, ctx) {
  const items = list(ctx.doc, 'outbounds');
  show(panel, html`<p class="hint">${t('coreconf.outbounds_hint')}</p>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('coreconf.outbounds_label')}"><table class="cards"><caption class="skip">${t('coreconf.outbounds')}</caption>
    <thead><tr><th>#</th><th>${t('coreconf.tag')}</th><th>${t('coreconf.protocol')}</th><th class="hide-phone">${t('coreconf.address')}</th><th>${t('coreconf.traffic_up_down')}</th><th>${t('coreconf.test')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead>
    <tbody>${items.length ? items.map((o, i) => html`<tr data-outbound="${o.tag || ''}"><td>${i + 1}</td><td>${o.tag || '—'}</td><td>${o.protocol || '—'}</td><td class="hide-phone mono">${outboundAddress(o) || '—'}</td>
      <td data-traffic="${o.tag || ''}">…</td><td class="wrap" data-test-result="${i}"></td>
      <td><div class="row"><button type="button" class="small" data-action="out-move" data-i="${i}" data-by="-1" aria-label="${t('coreconf.move_up', { name: o.tag || t('coreconf.outbound_n', { n: i + 1 }) })}" ${raw(i === 0 ? 'disabled' : '')}>${t('coreconf.up')}</button><button type="button" class="small" data-action="out-move" data-i="${i}" data-by="1" aria-label="${t('coreconf.move_down', { name: o.tag || t('coreconf.outbound_n', { n: i + 1 }) })}" ${raw(i === items.length - 1 ? 'disabled' : '')}>${t('coreconf.down')}</button>
      <button type="button" class="small" data-action="out-edit" data-i="${i}">${t('common.edit')}</button><button type="button" class="small" data-action="out-clone" data-i="${i}">${t('coreconf.clone')}</button><button type="button" class="small" data-action="out-test" data-i="${i}">${t('coreconf.test')}</button><button type="button" class="small danger" data-action="out-delete" data-i="${i}">${t('common.delete')}</button></div></td></tr>`)
    : html`<tr><td colspan="7" class="empty">${t('coreconf.no_outbounds')}</td></tr>`}</tbody></table></div>
    <p class="hint" id="traffic-note" aria-live="polite"></p>
    <form id="test-url-form" novalidate><label for="test-url">${t('coreconf.test_url')}</label><div class="input-group"><input id="test-url" name="xrayOutboundTestUrl" data-field="xrayOutboundTestUrl" placeholder="https://www.google.com/generate_204" autocomplete="off"><button type="submit">${t('common.save')}</button></div>
      <div class="hint">${t('coreconf.test_url_hint')}</div></form>
    <div class="actions"><button type="button" data-action="out-add">${t('coreconf.add_outbound')}</button><button type="button" data-action="traffic-refresh">${t('coreconf.refresh_traffic')}</button><button type="button" data-action="traffic-reset">${t('coreconf.reset_traffic')}</button></div>`);
  const drawTraffic = () => outboundTraffic(ctx).then((sums) => {
    for (const cell of panel.querySelectorAll('[data-traffic]')) {
      const s = sums.get(cell.dataset.traffic);
      cell.textContent = s ? `${bytes(s.up)} / ${bytes(s.down)}` : '—';
    }
    show($('#traffic-note', panel), t('coreconf.traffic_of', { n: ctx.servers().length }));
  }).catch((err) => {
    for (const cell of panel.querySelectorAll('[data-traffic]')) cell.textContent = '—';
    show($('#traffic-note', panel), t('coreconf.traffic_failed', { error: err.message }));
  });
  drawTraffic();
  actions['traffic-refresh'] = drawTraffic;
  const urlForm = $('#test-url-form', panel);
  api('GET', '/settings').then((v) => { urlForm.elements.xrayOutboundTestUrl.value = v.xrayOutboundTestUrl || ''; }).catch(() => {});
  urlForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(urlForm);
    try {
      await api('PATCH', '/settings', { xrayOutboundTestUrl: urlForm.elements.xrayOutboundTestUrl.value.trim() });
      toast(t('coreconf.test_url_saved'));
    } catch (err) { fieldErrors(urlForm, err); }
  });
  actions['traffic-reset'] = async (el) => {
    const servers = ctx.servers();
    if (!servers.length) { toast(t('coreconf.no_server_runs'), 'error'); return; }
    if (!(await confirmDialog(t('coreconf.reset_title'), t('coreconf.reset_text', { servers: servers.map((s) => s.name).join(', ') }), t('coreconf.reset')))) return;
    el.disabled = true;
    try { for (const s of servers) await api('POST', '/core/outbounds/traffic/reset', { server: String(s.id) }); } finally { el.disabled = false; }
    toast(t('coreconf.traffic_reset', { n: servers.length }));
    await drawTraffic();
  };
  const edit = (o, at, title, apply) => {
    $('#outbound-form')?.remove();
    const work = structuredClone(o);
    const mount = (where) => {
      where(String(outboundForm(work, title, apply)));
      const form = $('#outbound-form');
      // Protocol, transport and security change which fields there are.
      form.addEventListener('change', (e) => {
        if (!e.target.dataset.redraw) return;
        const before = work.protocol;
        readItem(form, work);
        // Another protocol starts its settings afresh.
        if (work.protocol !== before) work.settings = {};
        const name = e.target.name;
        mount((markup) => { form.outerHTML = markup; });
        $('#outbound-form').elements[name]?.focus();
      });
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        clearErrors(form);
        readItem(form, work);
        if (Array.isArray(work.settings?.reserved)) work.settings.reserved = work.settings.reserved.map((b) => (/^\d+$/.test(b) ? Number(b) : b));
        const taken = items.some((x, i) => i !== at && x.tag && x.tag === work.tag);
        if (!work.tag || taken) { fieldErrors(form, { fields: [{ field: 'tag', message: work.tag ? t('coreconf.err_outbound_tag_taken') : t('coreconf.err_tag_required') }] }); return; }
        if (at === null) items.push(work); else items[at] = work;
        ctx.doc.outbounds = items;
        ctx.changed();
        ctx.redraw();
      });
    };
    mount((markup) => panel.insertAdjacentHTML('beforeend', markup));
    $('#outbound-form').querySelector('input, select')?.focus();
  };
  actions['out-add'] = () => edit({ tag: '', protocol: 'freedom', settings: {} }, null, t('coreconf.new_outbound'), t('coreconf.add_outbound'));
  actions['out-edit'] = (el) => { const i = Number(el.dataset.i); edit(items[i], i, t('coreconf.outbound_title', { name: items[i].tag || t('coreconf.outbound_n', { n: i + 1 }) }), t('coreconf.apply')); };
  actions['out-clone'] = (el) => { const o = structuredClone(items[Number(el.dataset.i)]); o.tag = `${o.tag || 'outbound'}-copy`; edit(o, null, t('coreconf.copy_of', { name: items[Number(el.dataset.i)].tag }), t('coreconf.add_outbound')); };
  actions['out-move'] = (el) => { if (moveItem(items, Number(el.dataset.i), Number(el.dataset.by))) { ctx.doc.outbounds = items; ctx.changed(); ctx.redraw(); } };
  actions['out-delete'] = (el) => {
    const [gone] = items.splice(Number(el.dataset.i), 1);
    ctx.doc.outbounds = items;
    ctx.changed();
    ctx.redraw();
    const used = list(ctx.doc, 'routing.rules').filter((r) => r.outboundTag === gone.tag).length;
    toast(used ? t('coreconf.outbound_removed_used', { tag: gone.tag || '', n: used }) : t('coreconf.outbound_removed', { tag: gone.tag || '' }), used ? 'error' : 'ok');
  };
  actions['out-test'] = async (el) => {
    const o = items[Number(el.dataset.i)];
    const cell = panel.querySelector(`[data-test-result="${el.dataset.i}"]`);
    const online = new Set((ctx.allServers() || []).filter((s) => s.connected).map((s) => s.id));
    const server = ctx.servers().find((s) => online.has(s.id)) || ctx.allServers().find((s) => online.has(s.id));
    if (!server) { cell.textContent = t('coreconf.test_no_server'); return; }
    cell.textContent = t('coreconf.testing_from', { server: server.name });
    el.disabled = true;
    try {
      const r = await api('POST', `/servers/${server.id}/outbounds/test`, { outbound: o, allOutbounds: items });
      show(cell, r.success ? html`${t('coreconf.delay_ms', { ms: r.delay })} <span class="muted">(${server.name})</span>` : html`<span class="core-error">${r.error || t('coreconf.test_failed')}</span>`);
    } catch (err) {
      show(cell, html`<span class="core-error">${err.message}</span>`);
    } finally { el.disabled = false; }
  };
}

// ---- Routing ----
const MATCH = ['domain', 'ip', 'port', 'sourcePort', 'network', 'protocol', 'source', 'user', 'inboundTag', 'attrs'];
function attrsText(a) {
  if (a && typeof a === 'object') return Object.entries(a).map(([k, v]) => `${k}=${v}`).join('\n');
  return a ?? '';
}
// `name=value` lines are Xray's attribute map; anything else is v2ray's expression, kept as text.
function attrsValue(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!lines.length) return undefined;
  const pairs = lines.map((l) => l.match(/^([^=\s][^=]*?)\s*=(?!=)\s*(.*)$/));
  return pairs.every(Boolean) ? Object.fromEntries(pairs.map((m) => [m[1], m[2]])) : text.trim();
}
function ruleForm(r, doc, title, apply) {
  const outs = tagsOf(list(doc, 'outbounds'));
  const bals = tagsOf(list(doc, 'routing.balancers'));
  const keep = (tags, v) => (v && !tags.includes(v) ? [...tags, v] : tags);
  return editorShell('rule-form', title, html`<div class="form-grid">
    ${ctl(r, 'domain', t('coreconf.domain'), { kind: 'lines', hint: t('coreconf.domain_hint') })}
    ${ctl(r, 'ip', 'IP', { kind: 'lines', hint: t('coreconf.ip_hint') })}
    ${ctl(r, 'port', t('coreconf.port'), { placeholder: '53,443,1000-2000' })}
    ${ctl(r, 'sourcePort', t('coreconf.source_port'), { placeholder: '1000-2000' })}
    ${ctl(r, 'network', t('coreconf.network'), { choices: [['', t('coreconf.any')], 'tcp', 'udp', 'tcp,udp'] })}
    ${ctl(r, 'protocol', t('coreconf.protocol'), { kind: 'csv', placeholder: 'http, tls, bittorrent', hint: t('coreconf.sniffed') })}
    ${ctl(r, 'source', t('coreconf.source_ip'), { kind: 'lines' })}
    ${ctl(r, 'user', t('coreconf.rule_user'), { kind: 'lines' })}
    ${ctl(r, 'inboundTag', t('coreconf.inbound_tags'), { kind: 'csv', placeholder: 'inbound-443' })}
    <div><label for="f-attrs">${t('coreconf.attributes')}</label><textarea id="f-attrs" name="attrs" data-field="attrs" rows="2">${attrsText(r.attrs)}</textarea><div class="hint">${t('coreconf.attributes_hint')}</div></div>
    ${ctl(r, 'outboundTag', t('coreconf.outbound'), { choices: [['', '—'], ...keep(outs, r.outboundTag)] })}
    ${ctl(r, 'balancerTag', t('coreconf.balancer'), { choices: [['', '—'], ...keep(bals, r.balancerTag)] })}</div>`, apply);
}
function ruleSummary(r) {
  const parts = MATCH.filter((k) => r[k] !== undefined && r[k] !== '').map((k) => {
    const v = r[k];
    const text = Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? attrsText(v).replace(/\n/g, ', ') : String(v);
    return `${k}: ${text.length > 80 ? `${text.slice(0, 77)}…` : text}`;
  });
  return parts.join(' · ') || t('coreconf.everything');
}
function routingTab(panel, ctx) {
  const rules = list(ctx.doc, 'routing.rules');
  const strategy = getPath(ctx.doc, 'routing.domainStrategy') || 'AsIs';
  show(panel, html`<form id="routing-form" class="form-grid" novalidate>${ctl({ routing: { domainStrategy: strategy } }, 'routing.domainStrategy', t('coreconf.domain_strategy'), { choices: ['AsIs', 'IPIfNonMatch', 'IPOnDemand'], hint: t('coreconf.domain_strategy_hint') })}</form>
    <p class="hint">${t('coreconf.rules_hint')}</p>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('coreconf.rules_label')}"><table class="cards"><caption class="skip">${t('coreconf.rules')}</caption>
    <thead><tr><th>#</th><th>${t('coreconf.match')}</th><th>${t('coreconf.to')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead>
    <tbody>${rules.length ? rules.map((r, i) => html`<tr data-rule="${i}"><td>${i + 1}</td><td class="wrap mono">${ruleSummary(r)}</td><td>${r.outboundTag ? r.outboundTag : r.balancerTag ? t('coreconf.to_balancer', { tag: r.balancerTag }) : '—'}</td>
      <td><div class="row"><button type="button" class="small" data-action="rule-move" data-i="${i}" data-by="-1" aria-label="${t('coreconf.rule_up', { n: i + 1 })}" ${raw(i === 0 ? 'disabled' : '')}>${t('coreconf.up')}</button><button type="button" class="small" data-action="rule-move" data-i="${i}" data-by="1" aria-label="${t('coreconf.rule_down', { n: i + 1 })}" ${raw(i === rules.length - 1 ? 'disabled' : '')}>${t('coreconf.down')}</button>
      <button type="button" class="small" data-action="rule-edit" data-i="${i}" aria-label="${t('coreconf.rule_edit', { n: i + 1 })}">${t('common.edit')}</button><button type="button" class="small danger" data-action="rule-delete" data-i="${i}" aria-label="${t('coreconf.rule_delete', { n: i + 1 })}">${t('common.delete')}</button></div></td></tr>`)
    : html`<tr><td colspan="4" class="empty">${t('coreconf.no_rules')}</td></tr>`}</tbody></table></div>
    <div class="actions"><button type="button" data-action="rule-add">${t('coreconf.add_rule')}</button></div>`);
  $('#routing-form').addEventListener('change', (e) => { setPath(ctx.doc, 'routing.domainStrategy', e.target.value); ctx.changed(); });
  const edit = (r, at, title, apply) => {
    $('#rule-form')?.remove();
    const work = structuredClone(r);
    panel.insertAdjacentHTML('beforeend', String(ruleForm(work, ctx.doc, title, apply)));
    const form = $('#rule-form');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      readItem(form, work);
      const attrs = attrsValue(form.elements.attrs.value);
      if (attrs === undefined) delete work.attrs; else work.attrs = attrs;
      if (typeof work.port === 'string' && /^\d+$/.test(work.port)) work.port = Number(work.port);
      const problems = [];
      if (!MATCH.some((k) => work[k] !== undefined)) problems.push({ field: 'domain', message: t('coreconf.err_match') });
      if (!work.outboundTag === !work.balancerTag) problems.push({ field: 'outboundTag', message: t('coreconf.err_target') });
      if (problems.length) { fieldErrors(form, { fields: problems }); return; }
      work.type = 'field';
      const next = list(ctx.doc, 'routing.rules');
      if (at === null) next.push(work); else next[at] = work;
      setPath(ctx.doc, 'routing.rules', next);
      ctx.changed();
      ctx.redraw();
    });
    form.querySelector('textarea, input')?.focus();
  };
  actions['rule-add'] = () => edit({ type: 'field' }, null, t('coreconf.new_rule'), t('coreconf.add_rule'));
  actions['rule-edit'] = (el) => { const i = Number(el.dataset.i); edit(rules[i], i, t('coreconf.rule_title', { n: i + 1 }), t('coreconf.apply')); };
  actions['rule-move'] = (el) => { if (moveItem(rules, Number(el.dataset.i), Number(el.dataset.by))) { setPath(ctx.doc, 'routing.rules', rules); ctx.changed(); ctx.redraw(); } };
  actions['rule-delete'] = (el) => { rules.splice(Number(el.dataset.i), 1); setPath(ctx.doc, 'routing.rules', rules); ctx.changed(); ctx.redraw(); };
}

// ---- Balancers ----
function balancersTab(panel, ctx) {
  const items = list(ctx.doc, 'routing.balancers');
  show(panel, html`<p class="hint">${t('coreconf.balancers_hint')}</p>
    <div class="table-wrap" tabindex="0" role="region" aria-label="${t('coreconf.balancers_label')}"><table class="cards"><caption class="skip">${t('coreconf.balancers')}</caption>
    <thead><tr><th>${t('coreconf.tag')}</th><th>${t('coreconf.selector')}</th><th>${t('coreconf.strategy')}</th><th><span class="skip">${t('common.actions')}</span></th></tr></thead>
    <tbody>${items.length ? items.map((b, i) => html`<tr data-balancer="${b.tag || ''}"><td>${b.tag || '—'}</td><td class="wrap mono">${(b.selector || []).join(', ')}</td><td>${b.strategy?.type || 'random'}</td>
      <td><div class="row"><button type="button" class="small" data-action="bal-edit" data-i="${i}">${t('common.edit')}</button><button type="button" class="small danger" data-action="bal-delete" data-i="${i}">${t('common.delete')}</button></div></td></tr>`)
    : html`<tr><td colspan="4" class="empty">${t('coreconf.no_balancers')}</td></tr>`}</tbody></table></div>
    <div class="actions"><button type="button" data-action="bal-add">${t('coreconf.add_balancer')}</button></div>`);
  const edit = (b, at, title, apply) => {
    $('#balancer-form')?.remove();
    const work = structuredClone(b);
    const outs = tagsOf(list(ctx.doc, 'outbounds'));
    panel.insertAdjacentHTML('beforeend', String(editorShell('balancer-form', title, html`<div class="form-grid">
      ${ctl(work, 'tag', t('coreconf.tag'))}${ctl(work, 'selector', t('coreconf.selector'), { kind: 'csv', placeholder: 'proxy-, warp', hint: t('coreconf.selector_hint', { outbounds: outs.join(', ') || t('common.none') }) })}
      ${ctl(work, 'strategy.type', t('coreconf.strategy'), { choices: ['random', 'roundRobin', 'leastPing', 'leastLoad'] })}
      ${ctl(work, 'fallbackTag', t('coreconf.fallback'), { choices: [['', '—'], ...outs] })}</div>`, apply)));
    const form = $('#balancer-form');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      readItem(form, work);
      const problems = [];
      if (!work.tag) problems.push({ field: 'tag', message: t('coreconf.err_tag_required') });
      else if (items.some((x, i) => i !== at && x.tag === work.tag)) problems.push({ field: 'tag', message: t('coreconf.err_balancer_tag_taken') });
      if (!work.selector?.length) problems.push({ field: 'selector', message: t('coreconf.err_selector') });
      if (problems.length) { fieldErrors(form, { fields: problems }); return; }
      if (at === null) items.push(work); else items[at] = work;
      setPath(ctx.doc, 'routing.balancers', items);
      ctx.changed();
      ctx.redraw();
    });
    form.querySelector('input')?.focus();
  };
  actions['bal-add'] = () => edit({ tag: '', selector: [], strategy: { type: 'random' } }, null, t('coreconf.new_balancer'), t('coreconf.add_balancer'));
  actions['bal-edit'] = (el) => { const i = Number(el.dataset.i); edit(items[i], i, t('coreconf.balancer_title', { tag: items[i].tag }), t('coreconf.apply')); };
  actions['bal-delete'] = (el) => {
    items.splice(Number(el.dataset.i), 1);
    if (items.length) setPath(ctx.doc, 'routing.balancers', items); else deletePath(ctx.doc, 'routing.balancers');
    ctx.changed();
    ctx.redraw();
  };
}

// ---- DNS ----
// A server is the plain address string unless it has more than an address; the keys the
// form does not show (tag, skipFallback, clientIp…) stay on it.
function dnsTab(panel, ctx) {
  const servers = list(ctx.doc, 'dns.servers').map((s) => (typeof s === 'string' ? { address: s } : structuredClone(s)));
  const row = (s, i) => html`<fieldset class="sub" data-dns="${i}"><legend>${t('coreconf.dns_server', { n: i + 1 })}</legend><div class="form-grid">
    <div><label for="dns-address-${i}">${t('coreconf.address')}</label><input id="dns-address-${i}" name="address" value="${s.address ?? ''}" placeholder="1.1.1.1, https://1.1.1.1/dns-query, localhost" autocomplete="off"></div>
    <div><label for="dns-port-${i}">${t('coreconf.port')}</label><input id="dns-port-${i}" name="port" value="${s.port ?? ''}" inputmode="numeric" placeholder="53"></div>
    <div><label for="dns-domains-${i}">${t('coreconf.domains')}</label><input id="dns-domains-${i}" name="domains" value="${(s.domains || []).join(', ')}" placeholder="geosite:cn"></div>
    <div><label for="dns-expect-${i}">${t('coreconf.expected_ips')}</label><input id="dns-expect-${i}" name="expectIPs" value="${(s.expectIPs || []).join(', ')}" placeholder="geoip:cn"></div></div>
    <div class="actions"><button type="button" class="small danger" data-action="dns-remove" data-i="${i}" aria-label="${t('coreconf.dns_remove_label', { n: i + 1 })}">${t('coreconf.remove')}</button></div></fieldset>`;
  show(panel, html`<form id="dns-form" novalidate><p class="hint">${t('coreconf.dns_hint')}</p>
    <div class="form-grid">${ctl(ctx.doc, 'dns.queryStrategy', t('coreconf.query_strategy'), { choices: [['', t('coreconf.query_default')], 'UseIP', 'UseIPv4', 'UseIPv6'] })}${ctl(ctx.doc, 'dns.tag', t('coreconf.tag'), { placeholder: 'dns', hint: t('coreconf.dns_tag_hint') })}</div>
    ${servers.map(row)}
    <div class="actions"><button type="button" data-action="dns-add">${t('coreconf.add_dns')}</button></div></form>`);
  const form = $('#dns-form');
  const write = () => {
    const out = [];
    for (const fs of form.querySelectorAll('[data-dns]')) {
      const i = Number(fs.dataset.dns);
      const s = servers[i];
      const v = (n) => fs.querySelector(`[name="${n}"]`).value.trim();
      const csv = (n) => v(n).split(',').map((x) => x.trim()).filter(Boolean);
      s.address = v('address');
      if (v('port')) s.port = /^\d+$/.test(v('port')) ? Number(v('port')) : v('port'); else delete s.port;
      for (const k of ['domains', 'expectIPs']) { const l = csv(k); if (l.length) s[k] = l; else delete s[k]; }
      if (!s.address) continue;
      out.push(Object.keys(s).length === 1 ? s.address : s);
    }
    for (const k of ['queryStrategy', 'tag']) { const val = form.elements[`dns.${k}`].value.trim(); if (val) setPath(ctx.doc, `dns.${k}`, val); else deletePath(ctx.doc, `dns.${k}`); }
    if (out.length) setPath(ctx.doc, 'dns.servers', out); else deletePath(ctx.doc, 'dns.servers');
    if (ctx.doc.dns && !Object.keys(ctx.doc.dns).length) delete ctx.doc.dns;
    ctx.changed();
  };
  form.addEventListener('change', write);
  actions['dns-add'] = () => {
    servers.push({ address: '' });
    form.querySelector(':scope > .actions').insertAdjacentHTML('beforebegin', String(row(servers[servers.length - 1], servers.length - 1)));
    $(`#dns-address-${servers.length - 1}`).focus();
  };
  actions['dns-remove'] = (el) => { form.querySelector(`[data-dns="${el.dataset.i}"]`).remove(); write(); };
}

// ---- JSON ----
// Where JSON.parse stopped, as line and column: "at position N" in V8's message.
function jsonProblem(text, e) {
  const at = Number(e.message.match(/position (\d+)/)?.[1]);
  if (Number.isNaN(at)) return t('coreconf.json_invalid', { error: e.message });
  const before = text.slice(0, at).split('\n');
  const error = e.message.replace(/\s*\(line \d+ column \d+\)/, '');
  return t('coreconf.json_invalid_at', { line: before.length, column: before[before.length - 1].length + 1, error });
}
function jsonTab(panel, ctx) {
  show(panel, html`<label for="json-editor">${t('coreconf.json_label')}</label>
    <textarea id="json-editor" class="json-editor" spellcheck="false" rows="28" aria-describedby="json-hint json-error">${JSON.stringify(ctx.doc, null, 2)}</textarea>
    <div class="hint" id="json-hint">${t('coreconf.json_hint')}</div>
    <div class="alert error" id="json-error" role="alert" hidden></div>
    <div class="actions"><button type="button" data-action="json-check">${t('coreconf.json_check')}</button><button type="button" data-action="json-format">${t('coreconf.json_format')}</button></div>`);
  $('#json-editor').addEventListener('input', () => { ctx.changed(); $('#json-error').hidden = true; });
  actions['json-check'] = () => { if (takeJson(ctx)) toast(t('coreconf.json_valid')); };
  actions['json-format'] = () => { if (takeJson(ctx)) $('#json-editor').value = JSON.stringify(ctx.doc, null, 2); };
}
function takeJson(ctx) {
  const area = $('#json-editor');
  if (!area) return true;
  const box = $('#json-error');
  let parsed;
  try { parsed = JSON.parse(area.value); } catch (e) {
    box.textContent = jsonProblem(area.value, e);
    box.hidden = false;
    area.setAttribute('aria-invalid', 'true');
    area.focus();
    return false;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    box.textContent = t('coreconf.json_not_object');
    box.hidden = false;
    area.setAttribute('aria-invalid', 'true');
    return false;
  }
  area.removeAttribute('aria-invalid');
  box.hidden = true;
  ctx.doc = parsed;
  return true;
}

export const TABS = [
  { id: 'basic', label: t('coreconf.basic'), draw: basicTab },
  { id: 'outbounds', label: t('coreconf.outbounds'), draw: outboundsTab },
  { id: 'routing', label: t('coreconf.routing'), draw: routingTab },
  { id: 'balancers', label: t('coreconf.balancers'), draw: balancersTab },
  { id: 'dns', label: 'DNS', draw: dnsTab },
  { id: 'json', label: 'JSON', draw: jsonTab, leave: takeJson },
];
