// The panel in every language it speaks, in real headless Chromium, driven by
// `the_panel_in_every_language` in tests/tests/panel.rs, which starts a controller and an
// online server (SERVER_ID, SERVER_NAME) with an inbound (INBOUND_ID, remark INBOUND_REMARK),
// clients (EMAILS, comma separated; the first has a subscription at SUB_PAGE_URL), a task, an
// audit entry, and the Jalali calendar chosen (`datepicker`). Prints `STEP <name>` lines, then
// `DONE`, or `FAIL <reason>`. Screenshots go to `SHOT_DIR` (`lang-*.png`).
//
// - The login page's menu switches the language, and the choice outlives the login and a new
//   page; the panel's menu switches it again.
// - Persian, at desktop and phone width: every main page is right to left and has no English
//   left (data such as names, emails and protocol names aside), and nothing scrolls sideways on
//   the phone. Russian and Chinese: no English left either. Vietnamese: its own texts.
// - A field the controller refuses is explained in the reader's language (a taken port, in
//   Persian), and so is a refusal that is about no field (a server that does not exist).
// - Dates are in the reader's language: Jalali with Persian digits in Persian (the calendar
//   chosen), day.month.year in Russian.
// - The browser's Accept-Language chooses the first language when nothing was chosen.
// - The subscription page follows Accept-Language too.
// - The accessibility checks (our own and axe-core) pass on every page in every language.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn as logInAt, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const SERVER_ID = env('SERVER_ID');
const SERVER_NAME = env('SERVER_NAME');
const INBOUND_ID = env('INBOUND_ID');
const INBOUND_REMARK = env('INBOUND_REMARK');
const EMAILS = env('EMAILS').split(',');
const SUB_PAGE = env('SUB_PAGE_URL');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const LONG = 60000;
const enc = encodeURIComponent;

const problems = [];

// A browser whose pages report a text missing from the catalog too.
async function open(screen, extra = {}) {
  const { page } = await launch(problems, { ...screen, ...extra });
  page.on('console', (m) => { if (/no text for/.test(m.text())) problems.push(`console: ${m.text()}`); });
  return page;
}
const logIn = (page) => logInAt(page, PANEL, PASSWORD);

// The main pages, each with what shows it has drawn its content.
const PAGES = [
  { name: 'dashboard', path: '/panel/', ready: [`[data-server="${SERVER_NAME}"]`, '#totals .stat'] },
  { name: 'servers', path: '/panel/servers', ready: [`[data-server-row="${SERVER_NAME}"]`] },
  { name: 'server', path: `/panel/server?id=${SERVER_ID}`, ready: ['#sys .stat', '#task-rows [data-task]'] },
  { name: 'inbounds', path: '/panel/inbounds', ready: [`[data-inbound="${INBOUND_REMARK}"]`] },
  { name: 'inbound-edit', path: `/panel/inbound?id=${INBOUND_ID}`, ready: ['#f-port'] },
  { name: 'inbound-new', path: `/panel/inbound?server=${SERVER_ID}`, ready: ['#f-port'] },
  { name: 'clients', path: '/panel/clients', ready: EMAILS.map((e) => `[data-client="${e}"]`) },
  { name: 'client-form', path: '/panel/clients', ready: [`[data-client="${EMAILS[0]}"]`], then: async (page) => { await page.locator('[data-action="add-client"]').click(); await page.locator('#client-form').waitFor(); } },
  { name: 'client', path: `/panel/client?email=${enc(EMAILS[0])}`, ready: ['[data-link]'] },
  { name: 'tasks', path: '/panel/tasks', ready: ['#task-rows [data-task]'] },
  { name: 'audit', path: '/panel/audit', ready: ['#audit-rows td:not(.empty)'] },
  { name: 'settings', path: '/panel/settings', ready: ['#session-rows td'] },
  ...['basic', 'outbounds', 'routing', 'balancers', 'dns'].map((tab) => ({ name: `core-${tab}`, path: '/panel/core', ready: ['#basic-form'], then: async (page) => { await page.locator(`[data-tab="${tab}"]`).click(); await page.locator(`[data-tab="${tab}"][aria-selected="true"]`).waitFor(); } })),
  { name: 'not-found', path: '/panel/no-such-page', ready: ['#not-found'] },
];

// What a list or section says while it loads, in each language (every catalog text whose key
// ends in `loading`).
const loadingTexts = (lang) => Object.entries(JSON.parse(readFileSync(new URL(`../../web/i18n/${lang}.json`, import.meta.url), 'utf8')))
  .filter(([k, v]) => k.endsWith('loading') && typeof v === 'string').map(([, v]) => v);

async function visit(page, p) {
  await page.goto(PANEL + p.path);
  for (const selector of p.ready) await page.locator(selector).first().waitFor({ timeout: LONG });
  if (p.then) await p.then(page);
  const lang = await page.evaluate(() => document.documentElement.lang);
  await page.waitForFunction((texts) => { const text = document.querySelector('#page')?.innerText || ''; return !texts.some((t) => text.includes(t)); }, loadingTexts(lang), { timeout: LONG });
}

// Words the panel may show untranslated in any language: what the operator or the core named
// (protocols, transports, security, outbound and routing keywords, fingerprints, formats and
// units), and the product's name.
const TECH = new Set(`xfleet xray v2ray vless vmess trojan shadowsocks socks http https mixed wireguard dokodemo door tunnel
  freedom blackhole dns loopback tcp udp ws websocket grpc h2 httpupgrade xhttp splithttp kcp quic mkcp raw
  tls reality xtls rprx vision none auto chrome firefox safari ios android edge random randomized qq
  json clash yaml uuid id ip ipv4 ipv6 cidr sni alpn h3 url api ssh cpu ram ok
  geoip geosite ir ru cn private direct blocked proxy block fakedns bittorrent
  utls mux warp sockopt tproxy redirect asis useipv4 useipv6 useip forceipv4 forceipv6
  aes gcm chacha20 poly1305 blake3 xchacha20 plain
  telegram v2rayng v2rayn hiddify streisand nekobox happ
  gb mb kb tb pb b s ms tag flow fallback fallbacks geo hysteria shadowtls socket sockopt mptcp linux windows macos ios
  token agent zip`.split(/\s+/).filter(Boolean));
// Names of the core's features, kept as the core's documentation writes them, and Telegram's
// name for its bot interface.
const PHRASES = ['TCP Fast Open', 'PROXY protocol', 'Multipath TCP', 'keep-alive', 'Bot API'];

// Visible texts and accessible names with English words left: `data` (names the test gave
// things) and `TECH` words aside. Code, links, keys, the language menu's own names and values
// typed into inputs are not prose.
async function englishLeft(page, data) {
  return page.evaluate(({ data, tech, phrases: PHRASES }) => {
    const techSet = new Set(tech);
    const out = new Set();
    // Code, the core's own log lines, links and names typed in are not prose.
    const skip = (el) => !el || el.closest('code, pre, textarea, script, style, svg, .mono, .logs, .brand, .user, #language, [translate="no"], option, .link-url, [data-link], [data-sub]');
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && getComputedStyle(el).visibility !== 'hidden';
    const check = (text, where) => {
      let s = text;
      for (const d of data) s = s.split(d).join(' ');
      // Addresses, paths, file names, versions, hashes and identifiers (remarkModel, V6Only,
      // base64, server_id) are data; so are the names of features the core itself uses.
      for (const phrase of PHRASES) s = s.split(phrase).join(' ');
      s = s.replace(/\b[\w.+-]+@[\w.-]+\b/g, ' ').replace(/\S*[/:=?]\S*/g, ' ').replace(/\S+\.(dat|zip|json|pem|key|log)\b/g, ' ')
        .replace(/\bv?\d[\w.-]*/g, ' ').replace(/\b\w*([a-z][A-Z]|[A-Za-z]\d|_)\w*/g, ' ');
      const words = (s.match(/[A-Za-z][A-Za-z'’-]*/g) || []).filter((w) => /[a-z]/.test(w) && w.length > 1);
      const prose = words.filter((w) => !w.toLowerCase().split(/[-'’]/).every((part) => !part || techSet.has(part)));
      if (prose.length) out.add(`${where}: ${prose.join(' ')} in "${text.trim().replace(/\s+/g, ' ').slice(0, 80)}"`);
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || skip(el) || !visible(el)) continue;
      check(n.textContent, el.tagName.toLowerCase() + (el.id ? `#${el.id}` : ''));
    }
    for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], input[type="submit"], input[type="button"]')) {
      if (skip(el)) continue;
      for (const attr of ['aria-label', 'title', 'placeholder', 'value']) {
        if (attr === 'value' && !/^(submit|button)$/.test(el.type)) continue;
        const v = el.getAttribute(attr);
        // A placeholder is mostly an example of data ("ams-1", "prod, nl"); one of three
        // words or more is a sentence.
        if (attr === 'placeholder' && (v || '').split(/\s+/).filter((w) => /^[A-Za-z]{3,}/.test(w)).length < 3) continue;
        if (v) check(v, `${el.tagName.toLowerCase()}[${attr}]`);
      }
    }
    if (document.title) check(document.title, 'title');
    return [...out];
  }, { data, tech: [...TECH], phrases: PHRASES });
}

// What the test named, and the host's name (the agent reports it).
const DATA = [SERVER_NAME, INBOUND_REMARK, ...EMAILS, 'admin', 'local-cli', env('HOST_NAME')];

// Every page: its checks, and in `strict` languages no English.
async function allPages(page, lang, { strict, phone = false, dir = 'ltr' }) {
  for (const p of PAGES) {
    step(`${lang}${phone ? ' phone' : ''}: ${p.name}`);
    await visit(page, p);
    const seen = await page.evaluate(() => [document.documentElement.lang, document.documentElement.dir]);
    if (seen[0] !== lang || seen[1] !== dir) problems.push(`${lang} ${p.name}: the page is lang=${seen[0]} dir=${seen[1]}`);
    for (const a of await page.evaluate(audit)) problems.push(`${lang}${phone ? ' phone' : ''} ${p.name}: ${a}`);
    for (const a of await axe(page)) problems.push(`${lang}${phone ? ' phone' : ''} ${p.name}: ${a}`);
    if (strict) for (const e of await englishLeft(page, DATA)) problems.push(`${lang}${phone ? ' phone' : ''} ${p.name}: English left: ${e}`);
    if (phone) {
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
      if (wide > 0) problems.push(`${lang} phone ${p.name}: the page scrolls ${wide} px sideways`);
    }
    await page.screenshot({ path: join(SHOTS, `lang-${lang}${phone ? '-phone' : ''}-${p.name}.png`), fullPage: true });
  }
}

async function chooseLanguage(page, code) {
  await Promise.all([page.waitForNavigation(), page.locator('#language').selectOption(code)]);
  await page.waitForFunction((c) => document.documentElement.lang === c, code);
}

try {
  mkdirSync(SHOTS, { recursive: true });

  // An English browser: English until the login page's menu says Russian; Russian from then on,
  // through the login and on a new page.
  step('the login page menu');
  let page = await open({ viewport: DESKTOP }, { locale: 'en-US', extraHTTPHeaders: { 'Accept-Language': 'en-US,en;q=0.9' } });
  await page.goto(`${PANEL}/`);
  if ((await page.evaluate(() => document.documentElement.lang)) !== 'en') problems.push('an English browser did not get the English login page');
  await chooseLanguage(page, 'ru');
  const russianButton = (await page.locator('#login-form button[type="submit"]').textContent()).trim();
  if (russianButton !== 'Войти') problems.push(`the Russian login button says "${russianButton}"`);
  for (const e of await englishLeft(page, DATA)) problems.push(`ru login: English left: ${e}`);
  // The controller's refusal of a wrong password reads in Russian too.
  await page.locator('#username').fill('admin');
  await page.locator('#password').fill('not the password');
  await page.locator('#login-form button[type="submit"]').click();
  await page.locator('#login-error:not([hidden])').waitFor();
  const refused = (await page.locator('#login-error').textContent()).trim();
  if (!/^Неверное имя пользователя или пароль/.test(refused)) problems.push(`a wrong password is refused in other words than Russian: "${refused}"`);
  for (const a of [...await page.evaluate(audit), ...await axe(page)]) problems.push(`ru login: ${a}`);
  await logIn(page);
  step('Russian is remembered');
  await page.goto(`${PANEL}/panel/servers`);
  if ((await page.evaluate(() => document.documentElement.lang)) !== 'ru') problems.push('the Russian choice was not remembered after logging in');
  await allPages(page, 'ru', { strict: true });
  step('Russian dates');
  await visit(page, PAGES.find((p) => p.name === 'audit'));
  const ruDate = await page.locator('#audit-rows td').first().textContent();
  if (!/\d{2}\.\d{2}\.\d{4}/.test(ruDate)) problems.push(`a Russian date reads "${ruDate}"`);

  // The panel's menu: Persian, right to left, Jalali dates in Persian digits.
  step('the panel menu: Persian');
  await chooseLanguage(page, 'fa');
  await allPages(page, 'fa', { strict: true, dir: 'rtl' });
  step('Persian dates');
  await visit(page, PAGES.find((p) => p.name === 'audit'));
  const faDate = await page.locator('#audit-rows td').first().textContent();
  if (!/[۱۲][۳۴][۰-۹]{2}/.test(faDate)) problems.push(`a Jalali date in Persian digits was expected, the audit log says "${faDate}"`);
  // A refusal from the controller names its catalog message: a taken port reads in Persian.
  step('a refused field in Persian');
  const taken = await page.evaluate(async ([id, remark]) => (await (await fetch(`/api/v1/servers/${id}/inbounds`)).json()).data.find((i) => i.remark === remark).port, [SERVER_ID, INBOUND_REMARK]);
  await visit(page, PAGES.find((p) => p.name === 'inbound-new'));
  await page.locator('#f-port').fill(String(taken));
  await page.locator('#inbound-form button[type="submit"]').click();
  await page.locator('#f-port[aria-invalid="true"]').waitFor();
  const refusal = await page.locator('.field-error').first().textContent();
  if (!refusal.includes('پورت') || /already used/.test(refusal)) problems.push(`a taken port is refused in other words than Persian: "${refusal}"`);
  step('a refusal that is not about a field, in Persian');
  await page.goto(`${PANEL}/panel/server?id=987654`);
  // The alert that says something: it is drawn first and filled when the answer is read.
  const missing = (await page.locator('#page .alert.error').filter({ hasText: /\S/ }).first().textContent({ timeout: LONG })).trim();
  if (missing !== 'سرور پیدا نشد') problems.push(`a server that does not exist is reported in other words than Persian: "${missing}"`);
  const sides = await page.evaluate(() => [document.querySelector('.brand').getBoundingClientRect().left, document.querySelector('.top-actions').getBoundingClientRect().left]);
  if (!(sides[0] > sides[1])) problems.push(`right to left: the brand (x ${sides[0]}) is not right of the top actions (x ${sides[1]})`);

  // A Persian phone: the cookie says Persian.
  const phone = await open({ viewport: PHONE, screen: PHONE, deviceScaleFactor: 3, isMobile: true, hasTouch: true }, { locale: 'fa-IR' });
  await phone.context().addCookies([{ name: 'xfleet_lang', value: 'fa', url: PANEL }]);
  await logIn(phone);
  await allPages(phone, 'fa', { strict: true, phone: true, dir: 'rtl' });

  // Browsers that ask for Chinese and Vietnamese first get them without choosing.
  for (const [code, header, lead] of [['zh', 'zh-CN,zh;q=0.9,en;q=0.8', '登录'], ['vi', 'vi-VN,vi;q=0.9,en;q=0.5', 'Đăng nhập']]) {
    step(`${code} from Accept-Language`);
    const p = await open({ viewport: DESKTOP }, { extraHTTPHeaders: { 'Accept-Language': header } });
    await p.goto(`${PANEL}/`);
    const button = (await p.locator('#login-form button[type="submit"]').textContent()).trim();
    if (button !== lead) problems.push(`${code}: the login button says "${button}", expected "${lead}"`);
    for (const a of [...await p.evaluate(audit), ...await axe(p)]) problems.push(`${code} login: ${a}`);
    await logIn(p);
    await allPages(p, code, { strict: code === 'zh' });
  }

  // The subscription page follows the visitor's language.
  for (const [code, dir] of [['fa', 'rtl'], ['ru', 'ltr'], ['zh', 'ltr'], ['vi', 'ltr']]) {
    step(`subscription page in ${code}`);
    const p = await open({ viewport: PHONE, screen: PHONE, deviceScaleFactor: 3, isMobile: true, hasTouch: true }, { extraHTTPHeaders: { 'Accept-Language': code } });
    await p.goto(SUB_PAGE);
    const seen = await p.evaluate(() => [document.documentElement.lang, document.documentElement.dir]);
    if (seen[0] !== code || seen[1] !== dir) problems.push(`subscription page for ${code}: lang=${seen[0]} dir=${seen[1]}`);
    if (code !== 'vi') for (const e of await englishLeft(p, DATA)) problems.push(`subscription page ${code}: English left: ${e}`);
    for (const a of [...await p.evaluate(audit), ...await axe(p)]) problems.push(`subscription page ${code}: ${a}`);
    await p.screenshot({ path: join(SHOTS, `lang-${code}-subscription.png`), fullPage: true });
  }

  if (problems.length) throw new Error([...new Set(problems)].join('\n'));
  console.log('DONE');
} catch (e) {
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  process.exitCode = 1;
} finally {
  await closeAll();
}
