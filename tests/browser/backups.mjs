// Backups on the Settings page in real headless Chromium; driven by
// `backups_from_the_settings_page_in_a_real_browser` in tests/tests/panel.rs, which starts a
// controller with the server `SERVER_NAME`. Prints `STEP <name>` lines, then `DONE`, or
// `FAIL <reason>`. Screenshots go to `SHOT_DIR` (`backups-*.png`).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const SERVER_NAME = env('SERVER_NAME');
const LONG = 60000;

const problems = [];
let failed = false;
try {
  mkdirSync(SHOTS, { recursive: true });
  // A refused upload answers 400, which is what this checks; while the controller restarts,
  // the page's live updates and its wait for the new run are refused.
  const quiet = /status of 4[0-9][0-9]|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE/;
  const { context, page } = await launch(problems, { viewport: { width: 1280, height: 900 }, acceptDownloads: true, quiet });
  const a11y = [];
  const checkA11y = async (name) => {
    for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`${name}: ${issue}`);
  };
  const restore = async (file) => {
    await page.locator('#restore-file').setInputFiles(file);
    await page.locator('#restore-form button[type="submit"]').click();
    return page.getByRole('dialog');
  };

  step('login');
  await logIn(page, PANEL, PASSWORD);

  step('the Settings page downloads a backup: a zip with its manifest');
  await page.goto(`${PANEL}/panel/settings`);
  await page.locator('#backup-last').filter({ hasText: 'No scheduled backup has run yet.' }).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#backup-download').click()]);
  if (!/^xfleet-\d{8}-\d{6}\.zip$/.test(download.suggestedFilename())) throw new Error(`the backup is named ${download.suggestedFilename()}`);
  const saved = join(SHOTS, 'backup.zip');
  await download.saveAs(saved);
  const bytes = readFileSync(saved);
  if (bytes.subarray(0, 2).toString() !== 'PK' || !bytes.includes('manifest.json')) throw new Error('the download is not a backup archive');
  step('the Telegram card shows why the bot is not running, in Telegram\'s words');
  await page.locator('#tg-state-text').filter({ hasText: 'Invalid bot token' }).waitFor({ timeout: LONG });
  await page.screenshot({ path: join(SHOTS, 'backups-settings.png'), fullPage: true });
  await checkA11y('settings with backups');

  step('restore asks first; cancelling changes nothing');
  let dialog = await restore(saved);
  await dialog.filter({ hasText: 'backup.zip' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'backups-confirm.png') });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  if (await page.locator('#restore-done').count()) throw new Error('a cancelled restore went ahead');

  step('a file that is not a backup is refused with what is wrong, in the reader\'s language');
  const bad = { name: 'notes.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip at all') };
  dialog = await restore(bad);
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await page.locator('#restore-error').filter({ hasText: 'not a complete zip archive' }).waitFor();
  await context.addCookies([{ name: 'xfleet_lang', value: 'ru', url: PANEL }]);
  await page.goto(`${PANEL}/panel/settings`);
  dialog = await restore(bad);
  await dialog.getByRole('button', { name: 'Восстановить' }).click();
  await page.locator('#restore-error').filter({ hasText: 'не является целым zip-архивом' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'backups-refused-ru.png'), fullPage: true });
  await context.addCookies([{ name: 'xfleet_lang', value: 'en', url: PANEL }]);

  step('the downloaded backup restores: the controller restarts and the fleet is there');
  await page.goto(`${PANEL}/panel/settings`);
  const startedAt = () => page.evaluate(async () => (await (await fetch('/api/v1/health', { cache: 'no-store' })).json()).data.started_at).catch(() => null);
  const before = await startedAt();
  dialog = await restore(saved);
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await page.locator('#restore-done').waitFor({ timeout: LONG });
  // The page follows the restart and comes back by itself.
  await page.waitForEvent('load', { timeout: LONG });
  const after = await startedAt();
  if (!after || after === before) throw new Error('the page came back before the controller restarted');
  await page.locator('#backup-download').waitFor({ timeout: LONG });
  await page.goto(`${PANEL}/panel/servers`);
  await page.getByText(SERVER_NAME).first().waitFor({ timeout: LONG });

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
