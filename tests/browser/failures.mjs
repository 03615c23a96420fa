// Every failure visible, and nothing reset or stopped by a slip, in real headless Chromium;
// driven by `failures_are_visible_in_a_real_browser` in tests/tests/panel.rs, which starts a
// controller whose geo file sources cannot be reached and an agent for `edge-1`, gives edge-1
// an inbound `taken` on a port another program holds (the core runs without it) and the
// client `dora`, who carried traffic and was then disabled, and adds `never-1`, which never
// enrolls. Prints `STEP <name>` lines, then `DONE`, or `FAIL <reason>`. Screenshots go to
// `SHOT_DIR` (`failures-*.png`).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const LONG = 60000;

const problems = [];
let failed = false;
try {
  const { page } = await launch(problems, { viewport: { width: 1280, height: 860 } });
  const apiGet = (path) => page.evaluate(async (p) => (await (await fetch(`/api/v1${p}`)).json()).data, path);
  const a11y = [];
  const checkA11y = async (name) => {
    for (const issue of [...await page.evaluate(audit), ...await axe(page)]) a11y.push(`${name}: ${issue}`);
  };
  const stat = (label) => page.locator(`[data-stat="${label}"] .value`);

  step('login');
  await logIn(page, PANEL, PASSWORD);
  const edge = (await apiGet('/servers')).find((s) => s.name === 'edge-1');

  step('a server that never connected is pending, not offline');
  await page.locator('[data-server="never-1"][data-state="pending"]').waitFor({ timeout: LONG });
  await stat('Pending').filter({ hasText: /^1$/ }).waitFor();
  await stat('Offline').filter({ hasText: /^0$/ }).waitFor();
  if (await page.locator('#alerts [data-alert-server="never-1"]').count()) throw new Error('the dashboard reports the pending server as a problem');

  step('the inbound the core cannot run is on the dashboard, in the core\'s words, and counted');
  await page.locator('#alerts [data-failed-inbound]').filter({ hasText: 'taken' }).filter({ hasText: 'address already in use' }).waitFor({ timeout: LONG });
  await stat('Errors').filter({ hasText: /^1$/ }).waitFor({ timeout: LONG });

  step('a refused submission is the form\'s business, not the dashboard\'s');
  const refused = await page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/servers/${id}/inbounds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ port: 70000, protocol: 'vless', settings: { decryption: 'none' } }) });
    return r.status;
  }, edge.id);
  if (refused !== 422 && refused !== 400) throw new Error(`the bad inbound was answered ${refused}`);
  await page.reload();
  await page.locator('#alerts [data-failed-inbound]').first().waitFor({ timeout: LONG });
  await page.waitForLoadState('networkidle').catch(() => {});
  await stat('Errors').filter({ hasText: /^1$/ }).waitFor();
  if (await page.locator('#alerts li').filter({ hasText: 'inbound.create' }).count()) throw new Error('the dashboard lists a refused form submission');

  step('a failed geo update answers with a toast in the controller\'s words, and stays on the dashboard');
  await page.goto(`${PANEL}/panel/server?id=${edge.id}`);
  await page.locator('#info .badge').first().waitFor();
  await page.getByRole('button', { name: 'Update geo files' }).click();
  await page.locator('.toast.error').filter({ hasText: 'Geo files update' }).filter({ hasText: 'cannot fetch geoip.dat' }).waitFor({ timeout: LONG });
  await page.locator('#task-rows tr').filter({ hasText: 'geo.update' }).filter({ hasText: 'failed' }).first().waitFor({ timeout: LONG });

  step('stopping or restarting the core asks first; Cancel does nothing');
  const core = page.locator('#core-title').locator('..');
  const restarts = async () => (await apiGet(`/servers/${edge.id}/tasks?limit=100`)).filter((t) => t.operation === 'core.restart').length;
  for (const [button, confirm] of [['Stop', 'Stop core'], ['Restart', 'Restart core']]) {
    await core.getByRole('button', { name: button, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: confirm }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
  }
  const stops = (await apiGet(`/servers/${edge.id}/tasks?limit=100`)).filter((t) => t.operation === 'core.stop').length;
  if (stops || await restarts()) throw new Error('a cancelled stop or restart was queued');
  await core.getByRole('button', { name: 'Restart', exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Restart core' }).click();
  await page.locator('.toast').filter({ hasText: 'Restart core: done' }).waitFor({ timeout: LONG });
  await checkA11y('server');

  step('the dashboard counts and lists the failed task with its reason, as the alerts API does');
  await page.goto(`${PANEL}/panel/`);
  const geoAlert = page.locator('#alerts [data-alert="task_failed"][data-operation="geo.update"]');
  await geoAlert.filter({ hasText: 'edge-1' }).filter({ hasText: 'cannot fetch geoip.dat' }).waitFor({ timeout: LONG });
  await stat('Errors').filter({ hasText: /^2$/ }).waitFor({ timeout: LONG });
  const alerts = await apiGet('/alerts');
  const errors = alerts.filter((a) => a.severity === 'error');
  if (errors.length !== 2 || !errors.some((a) => a.operation === 'geo.update') || !errors.some((a) => a.kind === 'inbound_failed')) throw new Error(`the alerts API says ${JSON.stringify(alerts)}`);
  await checkA11y('dashboard');
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'failures-dashboard-desktop.png'), fullPage: true });

  step('a disabled client that carried traffic shows no online badge');
  await page.goto(`${PANEL}/panel/clients`);
  const dora = page.locator('[data-client="dora"]');
  await dora.locator('.badge.offline').filter({ hasText: 'disabled' }).waitFor({ timeout: LONG });
  const used = Number(await dora.locator('[data-used]').getAttribute('data-used'));
  if (!(used > 0)) throw new Error(`dora shows ${used} bytes used; she carried traffic`);
  if (await dora.locator('.badge.online').count()) throw new Error('the disabled client dora shows an online badge');

  step('bulk actions wait for a selection');
  for (const name of ['Enable', 'Disable', 'Reset traffic', 'Extend…', 'Delete']) {
    if (!(await page.locator('#bulk').getByRole('button', { name, exact: true }).isDisabled())) throw new Error(`bulk ${name} is offered with nothing selected`);
  }
  await page.getByLabel('Select dora', { exact: true }).check();
  if (await page.locator('#bulk').getByRole('button', { name: 'Disable', exact: true }).isDisabled()) throw new Error('bulk Disable stays off with a client selected');
  await page.getByLabel('Select dora', { exact: true }).uncheck();

  step('a traffic reset asks first: Cancel keeps the usage, confirming resets it');
  const usage = async () => (await apiGet('/clients/dora')).used;
  await dora.getByRole('button', { name: 'Reset', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.filter({ hasText: 'Reset the traffic of dora?' }).waitFor();
  await checkA11y('reset confirmation');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  if ((await usage()) !== used) throw new Error(`Cancel changed dora's usage from ${used} to ${await usage()}`);
  await dora.getByRole('button', { name: 'Reset', exact: true }).click();
  await dialog.getByRole('button', { name: 'Reset traffic' }).click();
  await page.locator('.toast').filter({ hasText: 'Traffic reset' }).waitFor();
  if ((await usage()) !== 0) throw new Error(`dora still shows ${await usage()} bytes after the reset`);

  step('a malformed email is refused in the form with a clear message');
  await page.getByRole('button', { name: 'Add client' }).click();
  await page.getByLabel('Email (name)').fill('bad user@@');
  await page.locator('#client-form').getByRole('button', { name: 'Add client' }).click();
  await page.locator('#client-form .field-error').filter({ hasText: 'must not contain spaces' }).waitFor();
  await page.getByLabel('Email (name)').fill('bad@user@x');
  await page.locator('#client-form').getByRole('button', { name: 'Add client' }).click();
  await page.locator('#client-form .field-error').filter({ hasText: 'more than one @' }).waitFor();
  if ((await apiGet('/clients')).some((c) => c.email.startsWith('bad'))) throw new Error('a malformed email was stored');
  await checkA11y('clients');

  step('an unknown panel address gets the panel\'s own not-found page');
  const missing = await page.goto(`${PANEL}/panel/no-such-page`);
  if (missing.status() !== 404) throw new Error(`an unknown page answered ${missing.status()}`);
  await page.locator('#title').filter({ hasText: 'Page not found' }).waitFor();
  await page.locator('#not-found').filter({ hasText: '/panel/no-such-page' }).waitFor();
  await checkA11y('not found');
  await page.getByRole('link', { name: 'Go to the dashboard' }).click();
  await page.waitForURL(`${PANEL}/panel/`);

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
