// The clients list paged, sorted and searched by the server, in real headless Chromium;
// driven by `the_clients_list_pages_sorts_and_searches_on_the_server` in tests/tests/panel.rs,
// which starts a controller with `COUNT` clients `c-000…` (client n carries n MiB up and
// 2n MiB down, every seventh is disabled) and a page size of 25. Prints `STEP <name>` lines,
// then `DONE`, or `FAIL <reason>`. Screenshots go to `SHOT_DIR` (`clients-list-*.png`).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const COUNT = Number(env('COUNT'));
const DISABLED = env('DISABLED').split(',');
const PAGE = 25;
const email = (n) => `c-${String(n).padStart(3, '0')}`;

const problems = [];
let failed = false;
let shown = null;
try {
  mkdirSync(SHOTS, { recursive: true });
  const { page } = await launch(problems, { viewport: { width: 1280, height: 900 } });
  shown = page;
  const a11y = [];
  const checkA11y = async (name) => {
    for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`${name}: ${issue}`);
  };
  // Every list request the page makes, and how many clients each answer carried.
  const lists = [];
  page.on('response', async (r) => {
    const url = new URL(r.url());
    if (r.request().method() !== 'GET' || url.pathname !== '/api/v1/clients') return;
    // Recorded as the answer arrives, before the page has drawn it.
    const entry = { query: url.searchParams, items: undefined };
    lists.push(entry);
    const body = await r.json().catch(() => null);
    entry.items = Array.isArray(body?.data) ? body.data.length : body?.data?.items?.length;
  });
  const rowEmails = () => page.locator('#client-rows [data-client]').evaluateAll((rows) => rows.map((r) => r.dataset.client));
  const rowsAre = async (want, what) => {
    await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('#client-rows [data-client]')].map((r) => r.dataset.client)) === JSON.stringify(w), want, { timeout: 20000 })
      .catch(async () => { throw new Error(`${what}: the rows are ${(await rowEmails()).join(', ')}; expected ${want.join(', ')}`); });
  };
  const header = (key) => page.locator(`th[data-sort="${key}"]`);

  step('login');
  await logIn(page, PANEL, PASSWORD);

  step('the list asks the server for one page of the page size and shows how many match');
  await page.goto(`${PANEL}/panel/clients`);
  const ids = Array.from({ length: COUNT }, (_, n) => email(n));
  await rowsAre(ids.slice(0, PAGE), 'first page in id order');
  await page.locator('#client-total').filter({ hasText: `Matching: ${COUNT}` }).waitFor();
  await page.locator('#page-of').filter({ hasText: `Page 1 of ${Math.ceil(COUNT / PAGE)}` }).waitFor();
  const unpaged = lists.filter((l) => l.query.get('page') !== '1' || l.query.get('pageSize') !== String(PAGE));
  if (unpaged.length) throw new Error(`the list asked for more than a page: ${unpaged.map((l) => l.query).join('; ')}`);
  if (lists.some((l) => l.items > PAGE)) throw new Error('an answer carried more than a page of clients');
  if ((await header('used').getAttribute('aria-sort')) !== 'none') throw new Error('an unsorted column says it is sorted');
  await checkA11y('clients list');

  step('a column header sorts by it, both ways, and says so with aria-sort');
  await header('used').getByRole('button', { name: /^Used/ }).click();
  await page.locator('th[data-sort="used"][aria-sort="ascending"]').waitFor();
  await rowsAre(ids.slice(0, PAGE), 'used ascending (usage grows with the number)');
  await header('used').getByRole('button', { name: /^Used/ }).click();
  await page.locator('th[data-sort="used"][aria-sort="descending"]').waitFor();
  const heaviest = [...ids].reverse();
  await rowsAre(heaviest.slice(0, PAGE), 'used descending');
  if ((await header('email').getAttribute('aria-sort')) !== 'none') throw new Error('the email column still says it is sorted');
  await page.screenshot({ path: join(SHOTS, 'clients-list-sorted.png'), fullPage: true });

  step('the next page continues the same order');
  await page.locator('#pager').getByRole('button', { name: 'Next page' }).click();
  await page.locator('#page-of').filter({ hasText: /^Page 2 of/ }).waitFor();
  await rowsAre(heaviest.slice(PAGE, 2 * PAGE), 'used descending, page 2');
  const asked = (want) => lists.some((l) => Object.entries(want).every(([k, v]) => l.query.get(k) === v));
  if (!asked({ sort: 'used', order: 'desc', page: '2', pageSize: String(PAGE) })) throw new Error(`page 2 was not asked sorted: ${lists.map((l) => l.query).join('; ')}`);

  step('the search box asks the server and starts at the first page');
  await page.locator('#search').fill('c-04');
  const forties = ids.filter((e) => e.startsWith('c-04')).reverse();
  await rowsAre(forties, 'search c-04, used descending');
  await page.locator('#client-total').filter({ hasText: `Matching: ${forties.length}` }).waitFor();
  if (!(await page.locator('#pager').isHidden())) throw new Error('the pager shows for one page of matches');

  step('the state filter keeps the disabled clients only');
  await page.locator('#search').fill('');
  await page.locator('#filter').selectOption('disabled');
  await rowsAre([...DISABLED].reverse(), 'disabled, used descending');
  if (!asked({ state: 'disabled', sort: 'used', page: '1' })) throw new Error(`the filter was not asked of the server: ${lists.map((l) => l.query).join('; ')}`);
  await page.screenshot({ path: join(SHOTS, 'clients-list-disabled.png'), fullPage: true });
  await checkA11y('clients list, filtered and sorted');

  if (a11y.length) throw new Error(`accessibility problems:\n${[...new Set(a11y)].join('\n')}`);
  if (problems.length) throw new Error(`the pages reported errors:\n${problems.join('\n')}`);
  console.log('DONE');
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join(' | ')}`);
  const table = await shown?.locator('#client-rows').innerText().catch(() => '');
  if (table) console.log(`FAIL the list showed: ${table.slice(0, 600).split('\n').join(' | ')}`);
} finally {
  await closeAll();
}
process.exit(failed ? 1 : 0);
