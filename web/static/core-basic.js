// The Basic tab: 3x-ui's switches over the template's routing (block BitTorrent and lists of
// bad sites, send a country's sites direct, IPv4-only and WARP domains) and its log. A switch
// owns entries in plain list rules (an outbound tag and one list); the operator's other
// rules are never rewritten.
import { $, api, esc, html, raw, show } from './core.js';
import { actions, t, toast } from './ui.js';
import { getPath, setPath } from './form-fields.js';

const MATCH = ['domain', 'ip', 'port', 'sourcePort', 'network', 'protocol', 'source', 'user', 'inboundTag', 'attrs'];
const BLOCK = [
  { id: 'bittorrent', label: t('coreconf.block_bittorrent'), parts: [['protocol', ['bittorrent']]], hint: t('coreconf.block_bittorrent_hint') },
  { id: 'ads', label: t('coreconf.block_ads'), parts: [['domain', ['geosite:category-ads-all']]] },
  { id: 'malware', label: t('coreconf.block_malware'), parts: [['domain', ['geosite:malware']]] },
  { id: 'phishing', label: t('coreconf.block_phishing'), parts: [['domain', ['geosite:phishing']]] },
];
const DIRECT = [
  { id: 'ir', label: t('coreconf.country_ir'), parts: [['ip', ['geoip:ir']], ['domain', ['geosite:category-ir']]] },
  { id: 'ru', label: t('coreconf.country_ru'), parts: [['ip', ['geoip:ru']], ['domain', ['geosite:category-ru']]] },
  { id: 'cn', label: t('coreconf.country_cn'), parts: [['ip', ['geoip:cn']], ['domain', ['geosite:cn']]] },
  { id: 'vn', label: t('coreconf.country_vn'), parts: [['ip', ['geoip:vn']], ['domain', ['geosite:category-vn']]] },
];
const OUTBOUNDS = {
  blocked: { tag: 'blocked', protocol: 'blackhole', settings: {} },
  direct: { tag: 'direct', protocol: 'freedom', settings: { domainStrategy: 'AsIs' } },
  IPv4: { tag: 'IPv4', protocol: 'freedom', settings: { domainStrategy: 'UseIPv4' } },
};

const rules = (doc) => (Array.isArray(getPath(doc, 'routing.rules')) ? getPath(doc, 'routing.rules') : []);
// A rule that only sends one list to one outbound: what the switches add to and take from.
const isListRule = (r, tag, key) => r?.outboundTag === tag && Array.isArray(r[key]) && Object.keys(r).every((k) => ['type', 'outboundTag', 'ruleTag', key].includes(k));
function hasAll(doc, tag, key, entries) {
  const found = new Set(rules(doc).filter((r) => r.outboundTag === tag && Array.isArray(r[key])).flatMap((r) => r[key]));
  return entries.every((e) => found.has(e));
}
function ensureOutbound(doc, tag) {
  const outs = Array.isArray(doc.outbounds) ? doc.outbounds : (doc.outbounds = []);
  if (!outs.some((o) => o.tag === tag) && OUTBOUNDS[tag]) outs.push(structuredClone(OUTBOUNDS[tag]));
}
function addEntries(doc, tag, key, entries) {
  const list = rules(doc);
  let rule = list.find((r) => isListRule(r, tag, key));
  if (!rule) { rule = { type: 'field', outboundTag: tag, [key]: [] }; list.push(rule); }
  for (const e of entries) if (!rule[key].includes(e)) rule[key].push(e);
  setPath(doc, 'routing.rules', list);
  ensureOutbound(doc, tag);
}
function removeEntries(doc, tag, key, entries) {
  const kept = [];
  for (const r of rules(doc)) {
    if (r.outboundTag === tag && Array.isArray(r[key])) {
      r[key] = r[key].filter((e) => !entries.includes(e));
      if (!r[key].length) delete r[key];
      if (!MATCH.some((k) => r[k] !== undefined)) continue;
    }
    kept.push(r);
  }
  setPath(doc, 'routing.rules', kept);
}
// The domains of the plain list rules to `tag`, replaced by `entries`.
const listed = (doc, tag) => rules(doc).filter((r) => isListRule(r, tag, 'domain')).flatMap((r) => r.domain);
function setListed(doc, tag, entries) {
  setPath(doc, 'routing.rules', rules(doc).filter((r) => !isListRule(r, tag, 'domain')));
  if (entries.length) addEntries(doc, tag, 'domain', entries);
}

function switches(doc, group, tag) {
  return group.map((sw) => {
    const on = sw.parts.every(([key, entries]) => hasAll(doc, tag, key, entries));
    return html`<div><label class="inline"><input type="checkbox" data-switch="${sw.id}" ${raw(on ? 'checked' : '')}> ${sw.label}</label>${sw.hint ? html`<div class="hint">${sw.hint}</div>` : ''}</div>`;
  });
}
// A text with names the core reads in its placeholders, each drawn by `wrap` (as code, or
// kept as it is in every language).
const named = (key, names, wrap) => raw(esc(t(key)).replace(/\{(\w+)\}/g, (whole, name) => (name in names ? String(wrap(names[name])) : whole)));
const withCode = (key, names) => named(key, names, (v) => html`<code>${v}</code>`);
const lines = (v) => v.split('\n').map((s) => s.trim()).filter(Boolean);

export function basicTab(panel, ctx) {
  const doc = ctx.doc;
  const level = getPath(doc, 'log.loglevel') || 'warning';
  const hasWarp = (doc.outbounds || []).some((o) => o.tag === 'warp');
  show(panel, html`<form id="basic-form" novalidate>
    <fieldset><legend>${t('coreconf.log')}</legend><div class="form-grid">
      <div><label for="log-level">${t('coreconf.log_level')}</label><select id="log-level" name="log.loglevel">${['debug', 'info', 'warning', 'error', 'none'].map((l) => html`<option ${raw(l === level ? 'selected' : '')}>${l}</option>`)}</select></div>
      <div><label for="log-access">${t('coreconf.access_log')}</label><input id="log-access" name="log.access" value="${getPath(doc, 'log.access') ?? 'none'}" autocomplete="off"><div class="hint">${t('coreconf.access_log_hint')}</div></div></div></fieldset>
    <fieldset><legend>${t('coreconf.block')}</legend><div class="form-grid">${switches(doc, BLOCK, 'blocked')}</div><p class="hint">${withCode('coreconf.block_hint', { tag: 'blocked' })}</p></fieldset>
    <fieldset><legend>${t('coreconf.direct')}</legend><div class="form-grid">${switches(doc, DIRECT, 'direct')}</div><p class="hint">${withCode('coreconf.direct_hint', { tag: 'direct' })}</p></fieldset>
    <fieldset><legend>${t('coreconf.domains_by_route')}</legend><div class="form-grid">
      <div><label for="ipv4-domains">${named('coreconf.ipv4_domains', { ipv4: 'IPv4' }, (v) => html`<span translate="no">${v}</span>`)}</label><textarea id="ipv4-domains" name="ipv4" rows="4">${listed(doc, 'IPv4').join('\n')}</textarea><div class="hint">${withCode('coreconf.ipv4_hint', { tag: 'IPv4', strategy: 'UseIPv4' })}</div></div>
      <div><label for="warp-domains">${t('coreconf.warp_domains')}</label><textarea id="warp-domains" name="warp" rows="4">${listed(doc, 'warp').join('\n')}</textarea><div class="hint">${withCode('coreconf.warp_hint', { tag: 'warp' })}</div>
        <div id="warp-state">${hasWarp ? '' : html`<p class="alert warn">${withCode('coreconf.no_warp', { tag: 'warp' })} <button type="button" class="small" data-action="warp-add">${t('coreconf.warp_add')}</button></p>`}</div></div></div></fieldset>
  </form>`);
  const form = $('#basic-form');
  form.addEventListener('change', (e) => {
    const el = e.target;
    const toggle = [...BLOCK.map((sw) => [sw, 'blocked']), ...DIRECT.map((sw) => [sw, 'direct'])].find(([sw]) => sw.id === el.dataset.switch);
    if (toggle) {
      const [sw, tag] = toggle;
      for (const [key, entries] of sw.parts) (el.checked ? addEntries : removeEntries)(ctx.doc, tag, key, entries);
    } else if (el.name === 'ipv4') setListed(ctx.doc, 'IPv4', lines(el.value));
    else if (el.name === 'warp') setListed(ctx.doc, 'warp', lines(el.value));
    else if (el.name.startsWith('log.')) setPath(ctx.doc, el.name, el.value.trim() || (el.name === 'log.access' ? 'none' : 'warning'));
    ctx.changed();
  });
  actions['warp-add'] = async (el) => {
    el.disabled = true;
    try {
      const r = await api('GET', '/core/warp/outbound');
      const outbound = r?.outbound ?? r;
      if (!outbound?.protocol) throw new Error(t('coreconf.warp_none'));
      ctx.doc.outbounds = [...(ctx.doc.outbounds || []).filter((o) => o.tag !== outbound.tag), outbound];
      ctx.changed();
      toast(r?.note ? t('coreconf.outbound_added_note', { tag: outbound.tag, note: r.note }) : t('coreconf.outbound_added', { tag: outbound.tag }));
      ctx.redraw();
    } catch (err) {
      show($('#warp-state'), html`<p class="alert error" role="alert">${t('coreconf.warp_failed', { error: err.message })}</p>`);
    }
  };
}
