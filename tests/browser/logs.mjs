// The Logs page in real headless Chromium; driven by `the_logs_page_in_a_real_browser` in
// tests/tests/panel.rs, which starts a controller and an agent for `edge-1` running the real
// core, and keeps the client `EMAIL` downloading through it to `DESTINATION` while this runs.
// Prints `STEP <name>` lines, then `DONE`, or `FAIL <reason>`. Screenshots go to `SHOT_DIR`
// (`logs-*.png`).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const SERVER_ID = env('SERVER_ID');
const EMAIL = env('EMAIL');
const DESTINATION = env('DESTINATION');
const LONG = 60000;

const problems = [];
let failed = false;
let shown = null;
try {
  mkdirSync(SHOTS, { recursive: true });
  const { context, page } = await launch(problems, { viewport: { width: 1280, height: 860 } });
  shown = page;
  const a11y = [];
  const checkA11y = async (name) => {
    for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`${name}: ${issue}`);
  };
  const rows = page.locator(`#log-table tbody tr[data-email="${EMAIL}"]`);

  step('login');
  await logIn(page, PANEL, PASSWORD);

  step('the server page leads to its access log, which shows the connection made through the core');
  await page.goto(`${PANEL}/panel/server?id=${SERVER_ID}`);
  await page.locator('#access-log-link').click();
  await page.waitForURL(`${PANEL}/panel/logs?server=${SERVER_ID}`);
  await page.locator('#l-source').filter({ has: page.locator(`option[value="${SERVER_ID}"]:checked`) }).waitFor();
  await rows.filter({ hasText: DESTINATION }).first().waitFor({ timeout: LONG });
  const row = rows.first();
  await row.filter({ hasText: 'direct' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'logs-access.png'), fullPage: true });
  await checkA11y('access log');

  step('following brings new connections without a reload, with the newest in view');
  await page.locator('#l-count').selectOption('1000');
  const before = await rows.count();
  await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [`#log-table tbody tr[data-email="${EMAIL}"]`, before], { timeout: LONG });
  const atBottom = await page.evaluate(() => { const w = document.querySelector('#log-wrap'); return w.scrollHeight - w.clientHeight - w.scrollTop < 4; });
  if (!atBottom) throw new Error('following did not keep the newest line in view');

  step('without direct connections the connection is hidden');
  await page.locator('#l-follow').uncheck();
  await page.locator('#l-direct').uncheck();
  // What is left (the core's refusals of clients not yet added while it started) is not direct.
  await page.waitForFunction(() => ![...document.querySelectorAll('#log-table tbody tr')].some((tr) => tr.dataset.event === 'direct'));
  if (await rows.count()) throw new Error('a direct connection is shown with direct connections off');
  await page.locator('#l-direct').check();
  await rows.first().waitFor();

  step('the text filter finds the connection; for a text no line has the page says why it is empty');
  await page.locator('#l-filter').fill(EMAIL.split('@')[0].toUpperCase());
  await page.waitForFunction((email) => {
    const trs = [...document.querySelectorAll('#log-table tbody tr')];
    return trs.length > 0 && trs.every((tr) => tr.dataset.email === email);
  }, EMAIL);
  await page.locator('#l-filter').fill('no-such-connection-anywhere');
  await page.locator('#log-empty').filter({ hasText: 'No connections match these filters.' }).waitFor();
  if (await rows.count()) throw new Error('the text filter kept a line without the text');
  await page.locator('#l-filter').fill('');
  await rows.first().waitFor();

  step('the controller log shows the line it wrote when the agent connected');
  await page.locator('#l-source').selectOption('');
  await page.waitForFunction(() => location.search === '');
  await page.locator('#l-level').selectOption('info');
  await page.locator('#log-table tbody tr').filter({ hasText: 'agent connected' }).first().waitFor({ timeout: LONG });
  if (await page.locator('[data-for="access"]:visible').count()) throw new Error('access log filters shown for the controller log');
  await page.locator('#l-level').selectOption('error');
  await page.waitForFunction(() => ![...document.querySelectorAll('#log-table tbody tr')].some((tr) => tr.textContent.includes('agent connected')));
  await checkA11y('controller log');

  step('at 390 px in the light and the dark theme the page fits and passes the checks');
  await page.setViewportSize({ width: 390, height: 844 });
  for (const theme of ['light', 'dark']) {
    await context.addCookies([{ name: 'xfleet_theme', value: theme, url: PANEL }]);
    await page.goto(`${PANEL}/panel/logs?server=${SERVER_ID}`);
    await rows.first().waitFor({ timeout: LONG });
    if (await page.evaluate(() => document.documentElement.dataset.theme) !== theme) throw new Error(`not in the ${theme} theme`);
    const wide = await page.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
    if (wide > 1) throw new Error(`the page scrolls sideways by ${wide} px at 390 px (${theme})`);
    const box = await rows.first().boundingBox();
    if (!box || box.x < 0 || box.x + box.width > 391) throw new Error(`a log row leaves the screen (${theme}): ${JSON.stringify(box)}`);
    await page.screenshot({ path: join(SHOTS, `logs-phone-${theme}.png`), fullPage: true });
    await checkA11y(`access log, phone, ${theme}`);
  }

  if (a11y.length) throw new Error(`accessibility problems:\n${[...new Set(a11y)].join('\n')}`);
  if (problems.length) throw new Error(`the pages reported errors:\n${problems.join('\n')}`);
  console.log('DONE');
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join(' | ')}`);
  const table = await shown?.locator('#log-table').innerText().catch(() => '');
  if (table) console.log(`FAIL the list showed: ${table.slice(0, 600).split('\n').join(' | ')}`);
} finally {
  await closeAll();
}
process.exit(failed ? 1 : 0);
