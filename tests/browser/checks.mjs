// What the browser scripts share: how Chromium is started, and the accessibility checks.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// A setting the driver (tests/tests/panel.rs) passes in the environment.
export function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
}
export const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
export const SHOTS = env('SHOT_DIR', join(tmpdir(), `xfleet-panel-shots-${Date.now()}`));
export const step = (name) => console.log(`STEP ${name}`);

// Chromium with a fresh profile and `options` (viewport, locale, headers…); its first page
// reports page errors, console errors (except those `quiet` matches) and answers of
// `failStatus` or more into `problems`. `closeAll` closes every one and deletes the profiles.
const opened = [];
export async function launch(problems, { quiet = /status of 4[0-9][0-9]|qr\?text/, failStatus = 500, ...options } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'xfleet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, ...options, args: CHROMIUM_ARGS });
  opened.push({ profile, context });
  context.setDefaultTimeout(20000);
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !(quiet && quiet.test(m.text()))) problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= failStatus) problems.push(`${r.status()} from ${r.request().method()} ${r.url()}`); });
  return { context, page };
}
export async function closeAll() {
  for (const { context } of opened) await context.close().catch(() => {});
  for (const { profile } of opened) rmSync(profile, { recursive: true, force: true });
}

// Logs in as admin on the panel at `panel` (its login page in any language) and waits for
// the dashboard's live updates.
export async function logIn(page, panel, password) {
  await page.goto(`${panel}/`);
  await page.locator('#username').fill('admin');
  await page.locator('#password').fill(password);
  await page.locator('#login-form button[type="submit"]').click();
  await page.waitForURL(`${panel}/panel/`);
  await page.locator('#live.on').waitFor();
}

// Headless Chromium as every script starts it: no sandbox (CI runs as root), nothing fetched
// in the background.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// What an accessibility checker looks for, run inside the page: every control and button has
// a name, images have alternative text, ids are unique, nothing focusable is taken out of
// the tab order, tables have headers, and text has WCAG AA contrast (4.5:1, 3:1 when large).
export function audit() {
  const out = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && getComputedStyle(el).visibility !== 'hidden';
  const label = (el) => {
    const by = el.getAttribute('aria-labelledby');
    return [el.getAttribute('aria-label'), by && by.split(/\s+/).map((id) => document.getElementById(id)?.textContent).join(' '),
      ...(el.labels ? [...el.labels].map((l) => l.textContent) : []), el.title].filter(Boolean).join(' ').trim();
  };
  const what = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.name ? `[name=${el.name}]` : ''}`;
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) if (!label(el)) out.push(`no label: ${what(el)}`);
  for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
    if (!(el.textContent.trim() || label(el) || el.querySelector('img[alt]:not([alt=""])'))) out.push(`no name: ${what(el)}`);
    if (visible(el) && el.tabIndex < 0 && !el.disabled) out.push(`not reachable by keyboard: ${what(el)}`);
  }
  for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) out.push(`no alt: ${el.src.slice(0, 60)}`);
  const ids = new Map();
  for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) out.push(`id used ${n} times: ${id}`);
  for (const t of document.querySelectorAll('table')) if (!t.querySelector('th')) out.push('table without headers');
  if (!document.documentElement.lang) out.push('no page language');
  if (document.querySelectorAll('h1').length !== 1) out.push('not exactly one h1');
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.9)) return c;
    }
    return [255, 255, 255];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || seen.has(el) || !visible(el) || el.closest('svg, .skip, [disabled], option')) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    const fg = rgb(st.color);
    if (fg.length >= 4 && fg[3] < 0.9) continue;
    const [a, b] = [lum(fg), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(`contrast ${ratio.toFixed(2)} < ${need}: "${n.textContent.trim().slice(0, 30)}" (${what(el)}.${el.className})`);
  }
  return out;
}

// axe-core, the accessibility engine, run in the page against WCAG 2.1 A/AA and its best
// practices. It is evaluated through the browser's devtools protocol, which the panel's
// content security policy (scripts from the panel only) does not apply to.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
export async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.map((v) => `axe ${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

// The focused element after pressing Tab shows a visible focus indicator.
export async function focusShows(page) {
  await page.keyboard.press('Tab');
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'Tab focused nothing';
    const st = getComputedStyle(el);
    return st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0 ? '' : `no visible focus on ${el.tagName} ${el.textContent.trim().slice(0, 20)}`;
  });
}
