// The panel in real headless Chromium, driven by tests/tests/panel.rs, which owns the
// controller, the agent and the VPN client. Lines on stdout ask the Rust side to act and
// wait for its answer on stdin:
//   ENROLL <command>   run the enrollment command read from the page, start the agent
//   LINK <url>         proxy a download through a share link read from the page
//   DISABLED           check that the disabled client's traffic is refused
// Every answer is one line: `OK ...` or `ERR <reason>`. `STEP <name>` marks progress,
// `SHOTS <dir>` names the screenshot folder, `DONE` ends a successful run.
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const INBOUND_PORT = env('INBOUND_PORT');
const SECOND_PORT = env('SECOND_PORT');
const CLONE_PORT = env('CLONE_PORT');
const SHOTS = env('SHOT_DIR', join(tmpdir(), `xfleet-panel-shots-${Date.now()}`));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const LONG = 60000;

const lines = createInterface({ input: process.stdin });
const pending = [];
const queued = [];
lines.on('line', (l) => (pending.length ? pending.shift()(l) : queued.push(l)));
function ask(line) {
  console.log(line);
  return new Promise((resolve, reject) => {
    const take = (answer) => (answer.startsWith('OK') ? resolve(answer.slice(2).trim()) : reject(new Error(`${line.split(' ')[0]}: ${answer}`)));
    if (queued.length) take(queued.shift()); else pending.push(take);
  });
}
const step = (name) => console.log(`STEP ${name}`);

function totp(secretB32, offsetSteps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretB32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offsetSteps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const problems = [];
let failed = false;
let context;
// A fresh profile every run.
const profile = mkdtempSync(join(tmpdir(), 'xfleet-chromium-'));
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(20000);
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[0-9]|qr\?text/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => d.accept());

  step('login error');
  await page.goto(`${PANEL}/`);
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.locator('#login-error').filter({ hasText: 'Wrong username or password' }).waitFor();

  step('login');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL(`${PANEL}/panel/`);
  await page.locator('#live.on').waitFor();

  step('add server');
  await page.getByRole('link', { name: 'Servers', exact: true }).click();
  await page.getByLabel('Name', { exact: true }).fill('vpn-1');
  await page.getByLabel('Region').fill('eu');
  await page.getByRole('button', { name: 'Add server' }).click();
  const command = (await page.locator('#enroll-command').textContent()).trim();
  if (!command.startsWith('xfleet-agent enroll --token ')) throw new Error(`unexpected enrollment command: ${command}`);
  await page.locator('[data-server-row="vpn-1"]').waitFor();

  step('server turns online without a reload');
  await page.getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.waitForURL(`${PANEL}/panel/`);
  await page.locator('[data-server="vpn-1"][data-state="pending"]').waitFor();
  let loads = 0;
  page.on('load', () => loads++);
  await ask(`ENROLL ${command}`);
  await page.locator('[data-server="vpn-1"][data-state="online"]').waitFor({ timeout: LONG });
  await page.locator('[data-server-card="vpn-1"]').getByText('CPU').first().waitFor({ timeout: LONG });
  if (loads) throw new Error('the dashboard reloaded instead of updating live');

  step('inbound validation errors');
  await page.getByRole('link', { name: 'Inbounds', exact: true }).click();
  await page.getByRole('link', { name: 'Add inbound' }).click();
  await page.waitForURL(/\/panel\/inbound\?server=/);
  await page.getByLabel('Remark').fill('ws-in');
  await page.getByLabel('Port', { exact: true }).fill('70000');
  await page.getByRole('button', { name: 'Create inbound' }).click();
  await page.locator('#f-port[aria-invalid="true"]').waitFor();
  await page.locator('.field-error').filter({ hasText: 'between 1 and 65535' }).waitFor();
  await page.getByLabel('Port', { exact: true }).fill(INBOUND_PORT);
  await page.getByLabel('Security').selectOption('tls');
  await page.getByRole('button', { name: 'Create inbound' }).click();
  // The controller refuses TLS without a certificate; the message sits in the transport section.
  await page.locator('#stream .field-error').filter({ hasText: 'certificate' }).waitFor();

  step('create VLESS+WebSocket inbound');
  await page.getByLabel('Security').selectOption('none');
  await page.getByLabel('Transport').selectOption('ws');
  await page.getByLabel('Path', { exact: true }).fill('/ws');
  await page.getByRole('button', { name: 'Create inbound' }).click();
  await page.waitForURL(/\/panel\/inbounds\?server=/);
  await page.locator('[data-inbound="ws-in"]').waitFor();

  step('TCP inbound with HTTP header obfuscation, then delete it');
  await page.getByRole('link', { name: 'Add inbound' }).click();
  await page.waitForURL(/\/panel\/inbound\?server=/);
  await page.getByLabel('Remark').fill('tcp-http');
  await page.getByLabel('Port', { exact: true }).fill(SECOND_PORT);
  await page.getByLabel('Transport').selectOption('tcp');
  await page.getByLabel('Header obfuscation').selectOption('http');
  await page.getByLabel('Request paths').fill('/a, /b');
  await page.getByLabel('Host names').fill('cdn.example.com');
  await page.getByRole('button', { name: 'Create inbound' }).click();
  await page.locator('[data-inbound="tcp-http"]').waitFor();
  const header = await page.evaluate(async () => {
    const servers = (await (await fetch('/api/v1/servers')).json()).data;
    const server = servers.find((x) => x.name === 'vpn-1');
    const list = (await (await fetch(`/api/v1/servers/${server.id}/inbounds`)).json()).data;
    const inbound = list.find((i) => i.remark === 'tcp-http');
    const stream = typeof inbound.streamSettings === 'string' ? JSON.parse(inbound.streamSettings) : inbound.streamSettings;
    return stream.tcpSettings.header;
  });
  const stored = JSON.stringify([header.type, header.request?.path, header.request?.headers?.Host]);
  if (stored !== JSON.stringify(['http', ['/a', '/b'], ['cdn.example.com']])) throw new Error(`the HTTP header was stored as ${JSON.stringify(header)}`);
  await page.locator('[data-inbound="tcp-http"]').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.locator('[data-inbound="tcp-http"]').waitFor({ state: 'detached' });

  step('add client');
  await page.getByRole('link', { name: 'Clients', exact: true }).click();
  await page.getByRole('button', { name: 'Add client' }).click();
  await page.getByLabel('Email (name)').fill('alice');
  await page.getByLabel(/ws-in \(vless:/).check();
  await page.locator('#client-form').getByRole('button', { name: 'Add client' }).click();
  await page.locator('[data-client="alice"]').waitFor();

  step('public address: refused, then set on the server page');
  await page.getByRole('link', { name: 'Servers', exact: true }).click();
  await page.locator('[data-server-row="vpn-1"]').getByRole('link', { name: 'vpn-1' }).click();
  await page.waitForURL(/\/panel\/server\?id=/);
  const address = page.getByLabel('Public address', { exact: true });
  await address.fill('https://vpn.example.com:443/');
  await page.locator('#address-form').getByRole('button', { name: 'Save' }).click();
  await page.locator('#public-address[aria-invalid="true"]').waitFor();
  await page.locator('#address-form .field-error').filter({ hasText: 'host name or an IP address' }).waitFor();
  // Share links point at this machine, where the agent runs.
  await address.fill('127.0.0.1');
  await page.locator('#address-form').getByRole('button', { name: 'Save' }).click();
  await page.locator('#public-address-now').filter({ hasText: '127.0.0.1' }).waitFor();
  if (await page.locator('#address-form .field-error').count()) throw new Error('the accepted address still shows an error');
  await page.getByRole('link', { name: 'Servers', exact: true }).click();
  await page.locator('[data-server-row="vpn-1"] [data-public-address]').filter({ hasText: '127.0.0.1' }).waitFor();
  await page.getByRole('link', { name: 'Clients', exact: true }).click();

  step('read the link and proxy a download');
  await page.locator('[data-client="alice"]').getByRole('link', { name: 'alice' }).click();
  await page.waitForURL(/\/panel\/client\?email=alice/);
  const link = page.locator('[data-link="vless"]').first();
  const linkError = page.locator('#links .alert.error');
  await Promise.race([link.waitFor(), linkError.waitFor()]);
  if (!(await link.count())) {
    throw new Error(`the client page shows no share link: ${(await linkError.textContent()).trim()}`);
  }
  await ask(`LINK ${(await link.textContent()).trim()}`);

  step('client traffic grows on the page');
  await page.waitForFunction(() => Number(document.querySelector('#client-used')?.dataset.used || 0) >= 256 * 1024, null, { timeout: LONG });

  step('client edit: quota and expiry');
  await page.getByRole('link', { name: 'Clients', exact: true }).click();
  await page.locator('[data-client="alice"]').getByRole('button', { name: 'Edit' }).click();
  await page.locator('#client-form h2').filter({ hasText: 'Edit client alice' }).waitFor();
  await page.getByLabel('Quota (GB, 0 = unlimited)').fill('50');
  await page.getByLabel('Expires').fill('2031-03-04T05:06');
  await page.locator('#client-form').getByRole('button', { name: 'Save' }).click();
  await page.locator('#client-form').waitFor({ state: 'detached' });
  const aliceExpiry = await page.evaluate(() => new Date('2031-03-04T05:06').getTime());
  await page.locator(`[data-client="alice"] [data-expiry="${aliceExpiry}"]`).filter({ hasText: '2031' }).waitFor();
  await page.locator('[data-client="alice"] [data-used]').filter({ hasText: 'of 50.0 GB' }).waitFor();
  if (!(await page.getByLabel('Enable client alice').isChecked())) throw new Error('editing alice switched her off');

  step('bulk actions: disable, extend and delete two clients in one call each');
  for (const email of ['bob', 'carol']) {
    await page.getByRole('button', { name: 'Add client' }).click();
    await page.getByLabel('Email (name)').fill(email);
    await page.getByLabel(/ws-in \(vless:/).check();
    await page.locator('#client-form').getByRole('button', { name: 'Add client' }).click();
    await page.locator(`[data-client="${email}"]`).waitFor();
  }
  const bulkCalls = [];
  page.on('request', (r) => { if (r.method() !== 'GET' && r.url().includes('/api/v1/clients')) bulkCalls.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  const selectPair = async () => {
    for (const email of ['bob', 'carol']) await page.getByLabel(`Select ${email}`, { exact: true }).check();
    await page.locator('#selected-count').filter({ hasText: '2 selected' }).waitFor();
  };
  const bulk = (name) => page.locator('#bulk').getByRole('button', { name, exact: true });
  await selectPair();
  await bulk('Disable').click();
  await page.locator('.toast').filter({ hasText: 'Disabled 2 clients; 1 server updated' }).waitFor();
  for (const email of ['bob', 'carol']) await page.locator(`[data-client="${email}"] .badge.offline`).filter({ hasText: 'disabled' }).waitFor();
  if (await page.locator('[data-client="alice"] .badge.offline').count()) throw new Error('bulk disable touched alice');
  if (!(await page.getByLabel('Enable client alice').isChecked())) throw new Error('bulk disable switched alice off');
  await page.locator('#selected-count').filter({ hasText: '0 selected' }).waitFor();
  if (await page.getByLabel('Select bob', { exact: true }).isChecked()) throw new Error('the selection was kept after the bulk call');

  await page.locator('[data-client="bob"] [data-expiry="0"]').filter({ hasText: 'never' }).waitFor();
  await selectPair();
  await bulk('Extend…').click();
  const prompt = page.getByRole('dialog');
  await prompt.getByLabel('Days to add').fill('0');
  await prompt.getByRole('button', { name: 'Extend' }).click();
  await prompt.locator('.field-error').filter({ hasText: 'from 1 to 3650' }).waitFor();
  await prompt.getByLabel('Days to add').fill('45');
  const asked = Date.now();
  await prompt.getByRole('button', { name: 'Extend' }).click();
  await page.locator('.toast').filter({ hasText: 'Extended 2 clients by 45 days' }).waitFor();
  for (const email of ['bob', 'carol']) {
    const cell = page.locator(`[data-client="${email}"] [data-expiry]`);
    await cell.filter({ hasNotText: 'never' }).waitFor();
    const expiry = Number(await cell.getAttribute('data-expiry'));
    const days = (expiry - asked) / 86400000;
    if (!(days > 44.9 && days < 45.1)) throw new Error(`${email} expires ${days} days from now, not 45`);
  }
  if ((await page.locator('[data-client="alice"] [data-expiry]').getAttribute('data-expiry')) !== String(aliceExpiry)) throw new Error('extend moved alice\'s expiry');

  await selectPair();
  await bulk('Delete').click();
  await page.getByRole('dialog').filter({ hasText: 'Delete 2 clients?' }).getByRole('button', { name: 'Delete' }).click();
  await page.locator('.toast').filter({ hasText: 'Deleted 2 clients' }).waitFor();
  for (const email of ['bob', 'carol']) await page.locator(`[data-client="${email}"]`).waitFor({ state: 'detached' });
  await page.locator('[data-client="alice"]').waitFor();
  const expected = ['POST /api/v1/clients/bulk', 'POST /api/v1/clients/bulk', 'POST /api/v1/clients/bulk'];
  if (JSON.stringify(bulkCalls) !== JSON.stringify(expected)) throw new Error(`the bulk actions made these calls: ${bulkCalls.join(', ')}`);

  step('inbound clone and enable switch');
  const inboundsOf = () => page.evaluate(async () => {
    const servers = (await (await fetch('/api/v1/servers')).json()).data;
    const server = servers.find((x) => x.name === 'vpn-1');
    return (await (await fetch(`/api/v1/servers/${server.id}/inbounds`)).json()).data;
  });
  const storedEnable = async (remark, want) => {
    const deadline = Date.now() + 10000;
    for (;;) {
      const found = (await inboundsOf()).find((i) => i.remark === remark);
      if (found?.enable === want) return found;
      if (Date.now() > deadline) throw new Error(`inbound ${remark} is stored as ${JSON.stringify(found?.enable)}, not ${want}`);
      await page.waitForTimeout(200);
    }
  };
  await page.getByRole('link', { name: 'Inbounds', exact: true }).click();
  await page.locator('[data-inbound="ws-in"]').getByRole('link', { name: 'Clone' }).click();
  await page.waitForURL(/\/panel\/inbound\?clone=/);
  await page.locator('#title').filter({ hasText: 'Clone inbound ws-in' }).waitFor();
  if ((await page.getByLabel('Remark').inputValue()) !== 'ws-in copy') throw new Error('the clone form is not prefilled with the remark');
  if ((await page.getByLabel('Transport').inputValue()) !== 'ws' || (await page.getByLabel('Path', { exact: true }).inputValue()) !== '/ws') throw new Error('the clone form lost the WebSocket transport');
  await page.getByLabel('Port', { exact: true }).fill(CLONE_PORT);
  await page.getByRole('button', { name: 'Create inbound' }).click();
  await page.waitForURL(/\/panel\/inbounds\?server=/);
  await page.locator('[data-inbound="ws-in copy"]').waitFor();
  const clone = await storedEnable('ws-in copy', true);
  if (clone.port !== Number(CLONE_PORT) || clone.streamSettings.wsSettings?.path !== '/ws' || clone.clients.length) throw new Error(`the clone was stored as ${JSON.stringify(clone)}`);
  const cloneSwitch = page.getByLabel('Enable inbound ws-in copy', { exact: true });
  await cloneSwitch.uncheck();
  await page.locator('.toast').filter({ hasText: 'Inbound disabled' }).waitFor();
  await storedEnable('ws-in copy', false);
  await storedEnable('ws-in', true);
  await cloneSwitch.check();
  await page.locator('.toast').filter({ hasText: 'Inbound enabled' }).waitFor();
  await storedEnable('ws-in copy', true);
  await page.locator('[data-inbound="ws-in copy"]').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.locator('[data-inbound="ws-in copy"]').waitFor({ state: 'detached' });
  if ((await inboundsOf()).some((i) => i.remark === 'ws-in copy')) throw new Error('the deleted clone is still stored');
  await storedEnable('ws-in', true);

  step('screenshots');
  mkdirSync(SHOTS, { recursive: true });
  const serverHref = await page.evaluate(async () => {
    const r = await fetch('/api/v1/servers');
    const s = (await r.json()).data.find((x) => x.name === 'vpn-1');
    return `/panel/server?id=${s.id}`;
  });
  const inboundId = await page.evaluate(async (sid) => {
    const r = await fetch(`/api/v1/servers/${sid}/inbounds`);
    return (await r.json()).data[0].id;
  }, serverHref.split('=')[1]);
  const pages = [['dashboard', '/panel/'], ['servers', '/panel/servers'], ['server', serverHref], ['inbounds', '/panel/inbounds'],
    ['inbound-edit', `/panel/inbound?id=${inboundId}`], ['clients', '/panel/clients'], ['client', '/panel/client?email=alice'],
    ['tasks', '/panel/tasks'], ['audit', '/panel/audit'], ['settings', '/panel/settings']];
  for (const [width, label] of [[1280, 'desktop'], [390, 'phone']]) {
    await page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
    for (const [name, path] of pages) {
      await page.goto(PANEL + path);
      await page.waitForLoadState('networkidle').catch(() => {});
      await page.screenshot({ path: join(SHOTS, `${name}-${label}.png`), fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 860 });
  console.log(`SHOTS ${SHOTS}`);

  step('disable the client');
  await page.goto(`${PANEL}/panel/clients`);
  const toggle = page.getByLabel('Enable client alice');
  await toggle.uncheck();
  await page.locator('[data-client="alice"] .badge.offline').filter({ hasText: 'disabled' }).waitFor();
  await ask('DISABLED');

  step('revoke the server; it shows offline');
  await page.goto(PANEL + serverHref);
  await page.getByRole('button', { name: 'Revoke' }).click();
  await page.locator('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#info .badge.offline').waitFor({ timeout: LONG });
  await page.getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.locator('[data-server="vpn-1"][data-state="offline"]').waitFor({ timeout: LONG });

  step('panel certificate files are checked when saved');
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.locator('#panel-tls').filter({ hasText: 'Plain HTTP' }).waitFor();
  const tlsForm = page.locator('#tls-form');
  await tlsForm.getByLabel('Certificate file (PEM chain)').fill('/nonexistent/panel.crt');
  await tlsForm.getByLabel('Key file (PEM)').fill('/nonexistent/panel.key');
  await tlsForm.getByRole('button', { name: 'Save' }).click();
  await tlsForm.locator('[name="webCertFile"][aria-invalid="true"]').waitFor();
  await tlsForm.locator('.field-error').filter({ hasText: '/nonexistent/panel.crt' }).waitFor();

  step('two-factor login');
  await page.getByRole('button', { name: 'Set up' }).click();
  const secret = (await page.locator('#tfa-secret').textContent()).trim();
  await page.getByLabel('Code from the app').fill(totp(secret, -1));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#tfa-off').waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(`${PANEL}/`);
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.locator('#login-error').filter({ hasText: 'two-factor' }).waitFor();
  await page.getByLabel('Two-factor code').fill(totp(secret, 0));
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL(`${PANEL}/panel/`);

  step('session expiry goes back to the login page');
  // The session is gone (as when it expires): the open page notices on its own.
  await context.clearCookies();
  await page.waitForURL(/\/\?expired=1&next=%2Fpanel%2F/, { timeout: LONG });
  await page.getByText('Your session has ended').waitFor();
  await page.goto(`${PANEL}/panel/servers`);
  await page.waitForURL(/\/\?next=%2Fpanel%2Fservers/);
  await page.getByLabel('Username', { exact: true }).waitFor();

  if (problems.length) throw new Error(`the pages reported errors:\n${problems.join('\n')}`);
  console.log('DONE');
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message.split('\n').join(' | ')}`);
  if (problems.length) console.log(`FAIL page problems: ${problems.join(' | ')}`);
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
