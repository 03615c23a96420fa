// The subscription page a VPN user opens, in real headless Chromium, driven by
// `the_subscription_page_in_a_real_browser` in tests/tests/panel.rs, which gives a client
// a subscription with a quota and an expiry. Prints `STEP <name>` lines, then `DONE`, or
// `FAIL <reason>`. Screenshots go to `SHOT_DIR` (`sub-*.png`).
//
// The page follows the visitor's light or dark scheme, shows the expiry in the visitor's
// time zone, copies the subscription URL with its Copy button, offers "add to app" links
// that carry the subscription URL, loads its icon, fits a phone, and passes the
// accessibility checks in both schemes. A Persian browser gets it in Persian, right to left.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, audit, axe } from './checks.mjs';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const PAGE = env('SUB_PAGE_URL');
const SUB = env('SUB_URL');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const SHOTS = env('SHOT_DIR', join(tmpdir(), `xfleet-panel-shots-${Date.now()}`));
// The expiry the test set, as a visitor in Tehran (UTC+03:30) reads it.
const LOCAL_EXPIRY = env('LOCAL_EXPIRY');
const step = (name) => console.log(`STEP ${name}`);

const problems = [];
let context;
const profile = mkdtempSync(join(tmpdir(), 'xfleet-chromium-'));
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 860 },
    locale: 'en-GB',
    timezoneId: 'Asia/Tehran',
    args: CHROMIUM_ARGS,
  });
  context.setDefaultTimeout(20000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(PAGE).origin });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} from ${r.url()}`); });
  mkdirSync(SHOTS, { recursive: true });

  step('the page in the visitor\'s zone');
  await page.goto(PAGE);
  await page.waitForLoadState('networkidle');
  const expiry = (await page.locator('time').first().textContent()).trim();
  if (expiry !== LOCAL_EXPIRY) throw new Error(`expiry shows "${expiry}", expected "${LOCAL_EXPIRY}" (Tehran time)`);

  step('copy the subscription URL');
  await page.getByRole('button', { name: 'Copy the Links URL' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== SUB) throw new Error(`copied "${copied}", expected "${SUB}"`);
  await page.getByRole('status').filter({ hasText: `Copied: ${SUB}` }).waitFor();

  step('add to app links carry the subscription URL');
  const href = async (name) => page.getByRole('link', { name, exact: true }).getAttribute('href');
  const expected = {
    v2rayNG: `v2rayng://install-sub?url=${encodeURIComponent(SUB)}&name=`,
    NekoBox: `sn://subscription?url=${encodeURIComponent(SUB)}&name=`,
    Happ: `happ://add/${SUB}`,
    Hiddify: `hiddify://import/${SUB}#`,
  };
  for (const [name, start] of Object.entries(expected)) {
    const got = await href(name);
    if (!got?.startsWith(start)) throw new Error(`${name} links to "${got}", expected it to start with "${start}"`);
  }

  step('the icon loads');
  const icon = await page.evaluate(async () => {
    const r = await fetch(document.querySelector('link[rel=icon]').href);
    return `${r.status} ${r.headers.get('content-type')}`;
  });
  if (icon !== '200 image/svg+xml') throw new Error(`the icon answers ${icon}`);

  const a11y = [];
  for (const scheme of ['light', 'dark']) {
    step(`${scheme} scheme, desktop and phone`);
    await page.emulateMedia({ colorScheme: scheme });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const dark = background === 'rgb(13, 17, 23)';
    if (dark !== (scheme === 'dark')) throw new Error(`${scheme} scheme: the page's background is ${background}`);
    for (const [width, height] of [[1280, 860], [390, 844]]) {
      await page.setViewportSize({ width, height });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) throw new Error(`${scheme} at ${width} px: the page is ${overflow} px wider than the screen`);
      await page.screenshot({ path: join(SHOTS, `sub-${scheme}-${width}.png`), fullPage: true });
      for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`${scheme} at ${width} px: ${issue}`);
    }
  }
  step('in Persian, right to left, for a browser asking for Persian');
  // The context's locale (en-GB) names the browser's language; a Persian browser's header
  // replaces it on every request.
  await page.route('**/*', (route) => route.continue({ headers: { ...route.request().headers(), 'accept-language': 'fa-IR,fa;q=0.9,en;q=0.5' } }));
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(PAGE);
  await page.waitForLoadState('networkidle');
  const root = await page.evaluate(() => ({ lang: document.documentElement.lang, dir: document.documentElement.dir }));
  if (root.lang !== 'fa' || root.dir !== 'rtl') throw new Error(`a Persian visitor gets lang="${root.lang}" dir="${root.dir}"`);
  const labels = (await page.locator('dt').allTextContents()).map((s) => s.trim());
  for (const label of ['مصرف‌شده', 'انقضا']) {
    if (!labels.includes(label)) throw new Error(`no "${label}" among the Persian page's labels: ${labels.join(', ')}`);
  }
  const persianExpiry = (await page.locator('time').first().textContent()).trim();
  if (!persianExpiry.includes('۲۰۳۰') || /[0-9]/.test(persianExpiry)) throw new Error(`the Persian expiry reads "${persianExpiry}"`);
  await page.getByRole('button', { name: 'کپی آدرس لینک‌ها' }).click();
  await page.getByRole('status').filter({ hasText: `کپی شد: ${SUB}` }).waitFor();
  const copyButton = (await page.getByRole('button', { name: 'کپی آدرس لینک‌ها' }).textContent()).trim();
  if (copyButton !== 'کپی') throw new Error(`the Persian copy button says "${copyButton}"`);
  for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`Persian: ${issue}`);

  if (a11y.length) throw new Error(`accessibility problems:\n${[...new Set(a11y)].join('\n')}`);
  if (problems.length) throw new Error(`the page reported errors:\n${problems.join('\n')}`);
  console.log('DONE');
} catch (e) {
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join(' | ')}`);
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
