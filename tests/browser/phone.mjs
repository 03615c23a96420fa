// The panel on a phone, in real headless Chromium, driven by
// `the_panel_on_a_phone_in_a_real_browser` in tests/tests/panel.rs, which starts a controller
// and an online server (SERVER_ID) with an inbound (INBOUND_ID, remark INBOUND_REMARK) whose
// clients have long addresses (EMAILS, comma separated), an extra outbound in the core
// template (OUTBOUND), a task and an API token. Prints `STEP <name>` lines, then `DONE`, or
// `FAIL <reason>`. Screenshots go to `SHOT_DIR` (`phone-*.png`, `phone-desktop-*.png`).
//
// At 390 px (an iPhone 12's viewport, three device pixels a CSS pixel), in the light and the
// dark theme: no page scrolls sideways; every row of every list keeps its buttons, links and
// switches on screen, at least 24 px each way and reachable by a tap; the menu opens and
// leads to a page; a client's switch tapped there disables and enables it, as the API then
// says; the accessibility checks pass. At desktop width the stat tiles wrap into even rows
// (ten: 5 + 5), the lists' action cells line up with the borders of their rows, and the
// server's CPU and memory chart has a percent axis, a time axis and a tooltip that follows
// the pointer and, once Tab reaches the chart, the arrow, Home and End keys.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const SERVER_ID = env('SERVER_ID');
const SERVER_NAME = env('SERVER_NAME');
const INBOUND_ID = env('INBOUND_ID');
const INBOUND_REMARK = env('INBOUND_REMARK');
const EMAILS = env('EMAILS').split(',');
const OUTBOUND = env('OUTBOUND');
const PHONE = { width: 390, height: 844 };
const LONG = 60000;

const problems = [];
const found = [];
let failed = false;

// A fresh browser profile with the given screen, logged in to the panel.
async function open(screen) {
  const { context, page } = await launch(problems, { ...screen, quiet: /status of 40[0-9]|qr\?text/ });
  await logIn(page, PANEL, PASSWORD);
  return { context, page };
}

// The main pages, each with what shows it has drawn its content, and the rows of its lists.
const enc = encodeURIComponent;
const PAGES = [
  { name: 'dashboard', path: '/panel/', ready: [`[data-server="${SERVER_NAME}"][data-state="online"]`, '#totals .stat'] },
  { name: 'servers', path: '/panel/servers', ready: [`[data-server-row="${SERVER_NAME}"]`], lists: ['#server-rows'] },
  { name: 'server', path: `/panel/server?id=${SERVER_ID}`, ready: ['#sys .stat', '#task-rows [data-task]', '#samples [data-line-chart]'], lists: ['#task-rows'] },
  { name: 'inbounds', path: '/panel/inbounds', ready: [`[data-inbound="${INBOUND_REMARK}"]`], lists: ['#inbound-rows'] },
  { name: 'inbound-edit', path: `/panel/inbound?id=${INBOUND_ID}`, ready: ['#f-port'] },
  { name: 'clients', path: '/panel/clients', ready: EMAILS.map((e) => `[data-client="${e}"]`), lists: ['#client-rows'] },
  { name: 'client', path: `/panel/client?email=${enc(EMAILS[0])}`, ready: ['[data-link]'] },
  { name: 'tasks', path: '/panel/tasks', ready: ['#task-rows [data-task]'], lists: ['#task-rows'] },
  { name: 'audit', path: '/panel/audit', ready: ['#audit-rows td:not(.empty)'], lists: ['#audit-rows'] },
  { name: 'settings', path: '/panel/settings', ready: ['#session-rows td', '#token-rows [data-action="delete-token"]'], lists: ['#session-rows', '#token-rows'] },
  { name: 'core', path: '/panel/core', ready: ['#basic-form'] },
  { name: 'core-outbounds', path: '/panel/core', tab: 'Outbounds', ready: [`[data-outbound="${OUTBOUND}"]`], lists: ['#tab-panel tbody'] },
  { name: 'core-routing', path: '/panel/core', tab: 'Routing', ready: ['[data-rule="0"]'], lists: ['#tab-panel tbody'] },
];
const named = (name) => PAGES.find((p) => p.name === name);

async function visit(page, p) {
  await page.goto(PANEL + p.path);
  if (p.tab) await page.getByRole('tab', { name: p.tab, exact: true }).click();
  for (const selector of p.ready) await page.locator(selector).first().waitFor({ timeout: LONG });
  // Lists fill in from the API after the page: wait until no "Loading…" is left.
  await page.waitForFunction(() => !document.querySelector('#page')?.innerText.includes('Loading…'), null, { timeout: LONG });
}

// What does not fit the phone: the page scrolling sideways, and in each row of the lists a
// button, link or switch that is hidden, off the screen, smaller than 24 px or covered.
async function phoneProblems(page, lists) {
  return page.evaluate(async (bodies) => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > innerWidth) out.push(`the page is ${doc.scrollWidth} px wide on a ${innerWidth} px screen`);
    const what = (el) => `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent).trim().slice(0, 40)}"`;
    for (const selector of bodies) {
      const rows = [...document.querySelectorAll(`${selector} > tr`)].filter((r) => !r.querySelector('td[colspan]'));
      for (const row of rows) {
        row.scrollIntoView({ block: 'center' });
        await new Promise((r) => requestAnimationFrame(r));
        for (const el of row.querySelectorAll('button, a, input, select')) {
          const box = el.getBoundingClientRect();
          if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') { out.push(`${selector}: ${what(el)} is hidden`); continue; }
          if (box.left < 0 || box.right > innerWidth) out.push(`${selector}: ${what(el)} is off the screen (${Math.round(box.left)}..${Math.round(box.right)})`);
          if (box.width < 24 || box.height < 24) out.push(`${selector}: ${what(el)} is ${box.width.toFixed(1)} × ${box.height.toFixed(1)} px`);
          const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
          if (!hit || !(el === hit || el.contains(hit))) out.push(`${selector}: ${what(el)} is covered by ${hit ? what(hit) : 'nothing'}`);
        }
      }
      if (!rows.length) out.push(`${selector}: no rows to check`);
    }
    return out;
  }, lists);
}

// Polls the API (as the page's session) until `check(client)` holds.
async function clientUntil(page, email, check, what) {
  const deadline = Date.now() + LONG;
  for (;;) {
    const c = await page.evaluate(async (e) => (await (await fetch(`/api/v1/clients/${encodeURIComponent(e)}`)).json()).data, email);
    if (check(c)) return;
    if (Date.now() > deadline) throw new Error(`${what}: the API still says ${JSON.stringify({ enable: c?.enable })}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

try {
  mkdirSync(SHOTS, { recursive: true });
  const phone = await open({ viewport: PHONE, screen: PHONE, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  let page = phone.page;

  step('the menu opens on a phone and leads to a page');
  const nav = page.locator('#nav');
  if (await nav.isVisible()) throw new Error('the navigation takes the screen before the menu is opened');
  await page.getByRole('button', { name: 'Menu', exact: true }).tap();
  await nav.waitFor({ state: 'visible' });
  if (await page.getByRole('button', { name: 'Menu', exact: true }).getAttribute('aria-expanded') !== 'true') throw new Error('the menu button does not say it is open');
  await nav.getByRole('link', { name: 'Clients', exact: true }).tap();
  await page.waitForURL(`${PANEL}/panel/clients`);

  for (const theme of ['light', 'dark']) {
    await phone.context.addCookies([{ name: 'xfleet_theme', value: theme, url: PANEL }]);
    for (const p of PAGES) {
      step(`${p.name} on a phone, ${theme} theme`);
      await visit(page, p);
      if (await page.evaluate(() => document.documentElement.dataset.theme) !== theme) throw new Error(`${p.name} is not in the ${theme} theme`);
      await page.screenshot({ path: join(SHOTS, `phone-${p.name}-${theme}.png`), fullPage: true });
      for (const issue of await phoneProblems(page, p.lists || [])) found.push(`${p.name} (${theme}): ${issue}`);
      for (const issue of [...await page.evaluate(audit), ...await axe(page)]) found.push(`${p.name} (${theme}): ${issue}`);
    }
  }
  if (found.length) throw new Error(`the pages do not fit a phone:\n${[...new Set(found)].join('\n')}`);

  step("a client's switch works on the phone layout");
  await visit(page, named('clients'));
  const email = EMAILS[EMAILS.length - 1];
  const toggle = page.getByLabel(`Enable client ${email}`, { exact: true });
  await toggle.scrollIntoViewIfNeeded();
  await toggle.tap();
  await page.locator('.toast').filter({ hasText: 'Client disabled' }).waitFor();
  await clientUntil(page, email, (c) => c.enable === false, 'the switch tapped off');
  await page.locator(`[data-client="${email}"] .badge`).filter({ hasText: 'disabled' }).waitFor();
  await page.getByLabel(`Enable client ${email}`, { exact: true }).tap();
  await page.locator('.toast').filter({ hasText: 'Client enabled' }).waitFor();
  await clientUntil(page, email, (c) => c.enable === true, 'the switch tapped on');

  step("an inbound's switch and its Edit button work on the phone layout");
  await visit(page, named('inbounds'));
  await page.getByLabel(`Enable inbound ${INBOUND_REMARK}`, { exact: true }).tap();
  await page.locator('.toast').filter({ hasText: 'Inbound disabled' }).waitFor();
  await page.getByLabel(`Enable inbound ${INBOUND_REMARK}`, { exact: true }).tap();
  await page.locator('.toast').filter({ hasText: 'Inbound enabled' }).waitFor();
  await page.locator(`[data-inbound="${INBOUND_REMARK}"]`).getByRole('link', { name: 'Edit', exact: true }).tap();
  await page.waitForURL(`${PANEL}/panel/inbound?id=${INBOUND_ID}`);
  await phone.context.close();

  step('desktop: stat tiles in even rows, action cells in line with their rows');
  const desktop = await open({ viewport: { width: 1280, height: 900 } });
  page = desktop.page;
  // Rows of tiles from their boxes: even rows hold as many tiles, or one more (ten: 5 + 5).
  const tileRows = (selector) => page.evaluate((sel) => {
    const rows = new Map();
    for (const el of document.querySelectorAll(sel)) {
      const top = Math.round(el.getBoundingClientRect().top);
      rows.set(top, (rows.get(top) || 0) + 1);
    }
    return [...rows.values()];
  }, selector);
  for (const [p, tiles] of [[named('dashboard'), '#totals .stat'], [named('server'), '#sys .stats > .stat']]) {
    await visit(page, p);
    await page.locator(tiles).nth(9).waitFor();
    const rows = await tileRows(tiles);
    if (rows.length < 2 || Math.max(...rows) - Math.min(...rows) > 1) throw new Error(`${p.name}: the stat tiles wrap unevenly: ${rows.join(' + ')} a row`);
    await page.screenshot({ path: join(SHOTS, `phone-desktop-${p.name}.png`), fullPage: true });
  }
  step('desktop: the CPU and memory chart has axes and a tooltip for the pointer and the keys');
  await visit(page, named('server'));
  const chart = page.locator('#samples [data-line-chart]');
  const axis = async (name) => (await chart.locator(`[data-axis="${name}"] span`).allTextContents()).map((t) => t.trim());
  const [yAxis, xAxis] = [await axis('y'), await axis('x')];
  if (yAxis.join('|') !== '100 %|50 %|0 %') throw new Error(`the percent axis reads ${JSON.stringify(yAxis)}`);
  if (xAxis.length < 3 || xAxis.some((t) => !/\d{1,2}:\d{2}/.test(t))) throw new Error(`the time axis reads ${JSON.stringify(xAxis)}`);
  const plot = chart.locator('.lc-plot');
  const tip = chart.locator('.lc-tip');
  await plot.hover();
  await tip.filter({ hasText: /CPU \d+(\.\d)? %, memory .+ of .+ \(\d+(\.\d)? %\)/ }).waitFor();
  await page.mouse.move(0, 0);
  await tip.waitFor({ state: 'hidden' });
  // Tab reaches the chart; the arrow keys move between minutes.
  for (let i = 0; i < 80 && !(await plot.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press('Tab');
  if (!(await plot.evaluate((el) => el === document.activeElement))) throw new Error('Tab does not reach the chart');
  await tip.waitFor();
  // The tooltip names the minute it tells of: Home the first charted, End the latest.
  const minuteOf = (which) => plot.evaluate((el, w) => {
    const points = JSON.parse(el.dataset.points);
    return new Date(points[w === 'first' ? 0 : points.length - 1][0]).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }, which);
  for (const [key, which] of [['Home', 'first'], ['End', 'latest']]) {
    await page.keyboard.press(key);
    const [text, minute] = [await tip.textContent(), await minuteOf(which)];
    if (!text.startsWith(`${minute}: CPU `) || !/ %\)$/.test(text)) throw new Error(`after ${key} the chart's tooltip reads ${JSON.stringify(text)}, not the ${which} minute (${minute})`);
  }
  await page.screenshot({ path: join(SHOTS, 'phone-desktop-server-chart.png'), fullPage: true });

  // Every cell of a row spans the row's height, so the borders between rows are straight.
  for (const p of PAGES.filter((x) => ['inbounds', 'clients', 'servers', 'core-outbounds'].includes(x.name))) {
    await visit(page, p);
    const crooked = await page.evaluate((bodies) => [...document.querySelectorAll(bodies.map((b) => `${b} > tr`).join(', '))].flatMap((row) => {
      const r = row.getBoundingClientRect();
      return [...row.cells].filter((c) => { const b = c.getBoundingClientRect(); return Math.abs(b.top - r.top) > 1 || Math.abs(b.bottom - r.bottom) > 1; })
        .map((c) => `row "${row.textContent.trim().slice(0, 30)}": a cell spans ${Math.round(c.getBoundingClientRect().top)}..${Math.round(c.getBoundingClientRect().bottom)}, the row ${Math.round(r.top)}..${Math.round(r.bottom)}`);
    }), p.lists);
    if (crooked.length) throw new Error(`${p.name}: cells out of line with their rows:\n${crooked.join('\n')}`);
    await page.screenshot({ path: join(SHOTS, `phone-desktop-${p.name}.png`), fullPage: true });
  }

  if (problems.length) throw new Error(`the pages reported errors:\n${problems.join('\n')}`);
  console.log(`SHOTS ${SHOTS}`);
  console.log('DONE');
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join(' | ')}`);
} finally {
  await closeAll();
}
process.exit(failed ? 1 : 0);
