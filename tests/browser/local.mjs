// The panel of a controller in single-server mode, in real headless Chromium, driven by
// `the_local_server_in_a_real_browser` in tests/tests/panel.rs, which starts the controller
// and gives the local server an inbound with the client `lou`. Prints `STEP <name>` lines,
// then `DONE`, or `FAIL <reason>`. Screenshots of its pages go to `SHOT_DIR` (`local-*.png`).
//
// The local server runs inside the controller: it was never enrolled, has no certificate,
// and cannot be removed while the mode is on. Its page says so and offers none of those
// actions. Where its share links point is shown as the API reports it, with a warning on
// the dashboard, the server page and the client page while no public address is known.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const LONG = 60000;

const problems = [];
let failed = false;
try {
  const { page } = await launch(problems, { viewport: { width: 1280, height: 860 }, quiet: /status of 40[0-9]|qr\?text/ });

  step('login');
  await logIn(page, PANEL, PASSWORD);
  const local = await page.evaluate(async () => (await (await fetch('/api/v1/servers')).json()).data.find((s) => s.local));
  if (!local) throw new Error('there is no local server');
  await page.locator(`[data-server="${local.name}"][data-state="online"]`).waitFor({ timeout: LONG });

  step('the dashboard warns while no public address is known');
  const dashWarning = page.locator(`[data-link-warning="${local.name}"]`);
  if (local.link_warning) await dashWarning.filter({ hasText: local.link_warning }).waitFor();
  else if (await dashWarning.count()) throw new Error('the dashboard warns though the server has a public address');

  step('the local server page offers no enrollment, revocation or removal, and says why');
  await page.goto(`${PANEL}/panel/server?id=${local.id}`);
  await page.locator('#info .badge.online').waitFor({ timeout: LONG });
  const reasons = page.locator('#access-refusals');
  for (const [button, why] of [['New enrollment command', 'needs no enrollment'], ['Revoke', 'has no certificate to revoke'], ['Remove', 'single-server mode is on']]) {
    const el = page.getByRole('button', { name: button, exact: true });
    if (!(await el.isDisabled())) throw new Error(`"${button}" is offered for the local server`);
    await reasons.filter({ hasText: why }).waitFor();
    if (await el.getAttribute('aria-describedby') !== 'access-refusals') throw new Error(`"${button}" does not point at its reason`);
  }
  if (await page.locator('dialog').count()) throw new Error('a confirmation opened');
  if (local.link_warning) await page.locator('#link-warning').filter({ hasText: local.link_warning }).waitFor();
  await page.locator('#link-host').filter({ hasText: local.link_host || 'the address each request reached' }).waitFor();

  step('the client page warns while no public address is known');
  await page.goto(`${PANEL}/panel/client?email=lou`);
  await page.locator('[data-link]').first().waitFor({ timeout: LONG });
  const clientWarning = page.locator('#links [data-link-warning]');
  if (local.link_warning) await clientWarning.filter({ hasText: local.link_warning }).waitFor();
  else if (await clientWarning.count()) throw new Error('the client page warns though the server has a public address');

  step('accessibility of these pages in both themes');
  const a11y = [];
  mkdirSync(SHOTS, { recursive: true });
  const pages = [['dashboard', '/panel/'], ['server', `/panel/server?id=${local.id}`], ['client', '/panel/client?email=lou']];
  for (const theme of ['first', 'second']) {
    for (const [name, path] of pages) {
      await page.goto(PANEL + path);
      await page.waitForLoadState('networkidle').catch(() => {});
      if (theme === 'first') await page.screenshot({ path: join(SHOTS, `local-${name}-desktop.png`), fullPage: true });
      for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`${name} (${theme} theme): ${issue}`);
    }
    await page.getByRole('button', { name: 'Switch between dark and light theme' }).click();
  }
  if (a11y.length) throw new Error(`accessibility problems:\n${[...new Set(a11y)].join('\n')}`);

  if (problems.length) throw new Error(`the pages reported errors:\n${problems.join('\n')}`);
  console.log('DONE');
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join(' | ')}`);
} finally {
  await closeAll();
}
process.exit(failed ? 1 : 0);
