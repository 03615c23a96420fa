// The inbound form's and list's 3x-ui features in real headless Chromium, driven by
// `inbound_features_in_a_real_browser` in tests/tests/panel.rs, which starts a controller and
// an online server (SERVER_ID) with an inbound (INBOUND_REMARK) whose enabled clients are
// EMAILS (comma separated) beside one disabled client. PORT is free for a new inbound;
// CERT_FILE and KEY_FILE are a certificate the panel's settings are then given.
// Prints `STEP <name>` lines, then `DONE`, or `FAIL <reason>`.
//
// - "Use panel certificate" says when the panel has none, and fills in its files once it has.
// - A new inbound saved with the full sniffing options, an external proxy and a first client
//   comes back the same in the API and in the form after a reload, and saving it unchanged
//   changes neither.
// - That first client's share link points at the external proxy's address and port.
// - "Copy links" on the list copies one line per enabled client of the inbound.
// - Expanding an inbound's row lists its clients: ONLINE (which just carried traffic) online,
//   the others offline, the disabled one (which carried traffic too) disabled and not online;
//   a client's "Copy link" copies its link on this inbound (not its other inbound's), "QR"
//   opens the image of that link, the row stays expanded through a live refresh that shows
//   a new quota, and the expanded list passes the accessibility checks.
// - An inbound exported as JSON, deleted and imported from that JSON is the same inbound
//   with the same clients; JSON that is not an inbound is refused on the import form.
// - In Persian at phone width no inbound's clients are loaded until its row is expanded,
//   then only that inbound's; the expanded list is right to left, in Persian, fits the
//   screen with its buttons on it, its QR image is described in Persian, and it passes the
//   accessibility checks.
import { audit, axe, closeAll, env, launch, logIn, step } from './checks.mjs';

const PANEL = env('PANEL_URL').replace(/\/$/, '');
const PASSWORD = env('ADMIN_PASSWORD');
const SERVER_ID = env('SERVER_ID');
const PORT = env('PORT');
const INBOUND_REMARK = env('INBOUND_REMARK');
const EMAILS = env('EMAILS').split(',');
const ONLINE = env('ONLINE');
const DISABLED = 'switched-off';
const CERT_FILE = env('CERT_FILE');
const KEY_FILE = env('KEY_FILE');
const LONG = 60000;
const problems = [];
const expect = (ok, what) => { if (!ok) throw new Error(what); };
// Equal as JSON, whatever the order of keys.
const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));

const { context, page } = await launch(problems, { viewport: { width: 1280, height: 900 } });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(PANEL).origin });
const api = (method, path, body) => page.evaluate(async ([m, p, b]) => {
  const r = await fetch(`/api/v1${p}`, { method: m, headers: { 'content-type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
  const json = await r.json();
  if (!json.success) throw new Error(`${m} ${p}: ${r.status} ${JSON.stringify(json.error)}`);
  return json.data;
}, [method, path, body]);
const inboundNamed = async (remark) => (await api('GET', `/servers/${SERVER_ID}/inbounds`)).find((i) => i.remark === remark);
const row = (remark) => page.locator(`[data-inbound="${remark}"]`);

try {
  await logIn(page, PANEL, PASSWORD);

  step("use panel certificate: refused without one, then fills the panel's files");
  await page.goto(`${PANEL}/panel/inbound?server=${SERVER_ID}`);
  await page.locator('#f-streamSettings-security').selectOption('tls');
  const usePanel = page.getByRole('button', { name: 'Use panel certificate', exact: true });
  await usePanel.click();
  await page.getByText('The panel has no certificate', { exact: false }).waitFor();
  await api('PATCH', '/settings', { webCertFile: CERT_FILE, webKeyFile: KEY_FILE });
  await usePanel.click();
  const certs = page.locator('[data-section="streamSettings.tlsSettings.certificates[0]"]');
  await page.waitForFunction((want) => document.querySelector('[name="streamSettings.tlsSettings.certificates[0].certificateFile"]')?.value === want, CERT_FILE);
  expect((await certs.getByLabel('Key file', { exact: true }).inputValue()) === KEY_FILE, 'the key file is not the panel\'s');

  step('a new inbound with sniffing options, an external proxy and a first client');
  const remark = 'fronted by a CDN';
  await page.goto(`${PANEL}/panel/inbound?server=${SERVER_ID}`);
  await page.locator('#f-remark').fill(remark);
  await page.locator('#f-port').fill(PORT);
  const sniff = page.locator('[data-section="sniffing"]');
  await sniff.locator('input[name="sniffEnabled"]').check();
  await sniff.locator('input[name="sniffDest"][value="quic"]').check();
  await sniff.getByLabel('Route only', { exact: true }).check();
  await sniff.getByLabel('Metadata only', { exact: true }).check();
  await sniff.getByLabel('Domains excluded', { exact: true }).fill('courier.push.apple.com\nexample.org');
  await page.getByRole('button', { name: 'Add external proxy', exact: true }).click();
  const proxy = page.locator('[data-section="streamSettings.externalProxy[0]"]');
  await proxy.getByLabel('Security in links', { exact: true }).selectOption('tls');
  await proxy.getByLabel('Address', { exact: true }).fill('cdn.example.net');
  await proxy.getByLabel('Port', { exact: true }).fill('8443');
  await proxy.getByLabel('Remark', { exact: true }).fill('CDN');
  await page.locator('#f-first-client').fill('first@cdn');
  await page.getByRole('button', { name: 'Create inbound', exact: true }).click();
  await row(remark).waitFor({ timeout: LONG });
  const created = await inboundNamed(remark);
  const sniffing = { enabled: true, destOverride: ['http', 'tls', 'quic'], routeOnly: true, metadataOnly: true, domainsExcluded: ['courier.push.apple.com', 'example.org'] };
  const externalProxy = [{ forceTls: 'tls', dest: 'cdn.example.net', port: 8443, remark: 'CDN' }];
  expect(same(created.sniffing, sniffing), `sniffing saved as ${JSON.stringify(created.sniffing)}`);
  expect(same(created.streamSettings.externalProxy, externalProxy), `externalProxy saved as ${JSON.stringify(created.streamSettings.externalProxy)}`);
  expect(same(created.clients, ['first@cdn']), `created with clients ${JSON.stringify(created.clients)}`);

  step('the form shows them again after a reload, and saving unchanged keeps them');
  await page.goto(`${PANEL}/panel/inbound?id=${created.id}`);
  const form = page.locator('#inbound-form');
  expect(await form.locator('input[name="sniffDest"][value="quic"]').isChecked(), 'quic is not checked after a reload');
  expect(await form.getByLabel('Route only', { exact: true }).isChecked(), 'route only is not checked after a reload');
  expect(await form.getByLabel('Metadata only', { exact: true }).isChecked(), 'metadata only is not checked after a reload');
  expect((await form.getByLabel('Domains excluded', { exact: true }).inputValue()) === 'courier.push.apple.com\nexample.org', 'excluded domains lost');
  const shown = page.locator('[data-section="streamSettings.externalProxy[0]"]');
  expect((await shown.getByLabel('Address', { exact: true }).inputValue()) === 'cdn.example.net', 'proxy address lost');
  expect((await shown.getByLabel('Port', { exact: true }).inputValue()) === '8443', 'proxy port lost');
  expect((await shown.getByLabel('Security in links', { exact: true }).inputValue()) === 'tls', 'proxy security lost');
  expect(!(await page.locator('#f-first-client').count()), 'the edit form offers a first client');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await row(remark).waitFor({ timeout: LONG });
  const saved = await inboundNamed(remark);
  expect(same(saved.sniffing, sniffing) && same(saved.streamSettings, created.streamSettings), `saving unchanged changed it: ${JSON.stringify([saved.sniffing, saved.streamSettings])}`);

  step("the first client's share link points at the external proxy");
  await page.goto(`${PANEL}/panel/client?email=${encodeURIComponent('first@cdn')}`);
  const link = (await page.locator('[data-link]').first().textContent({ timeout: LONG })).trim();
  expect(/@cdn\.example\.net:8443\b/.test(link) && /[?&]security=tls\b/.test(link), `the link does not go through the proxy: ${link}`);

  step('copy links gives one line per enabled client');
  await page.goto(`${PANEL}/panel/inbounds?server=${SERVER_ID}`);
  await row(INBOUND_REMARK).getByRole('button', { name: 'Copy links', exact: true }).click();
  await page.getByText(`${EMAILS.length} links copied`).waitFor();
  const lines = (await page.evaluate(() => navigator.clipboard.readText())).split('\n');
  expect(lines.length === EMAILS.length && lines.every((l) => l.startsWith('vless://')), `copied ${lines.length} lines for ${EMAILS.length} clients: ${lines.join(' | ')}`);
  for (const email of EMAILS) expect(lines.some((l) => decodeURIComponent(l).includes(email)), `no link of ${email}`);

  step("expanding the inbound's row lists its clients with their states");
  const expander = (name) => row(name).getByRole('button', { name: `Clients of ${name}`, exact: true });
  const expand = expander(INBOUND_REMARK);
  expect((await expand.getAttribute('aria-expanded')) === 'false', 'the row starts expanded');
  expect(!(await page.locator('[data-clients-of]').count()), 'clients are listed before any row is expanded');
  await expand.click();
  const list = page.locator(`#${await expand.getAttribute('aria-controls')}`);
  const clientRow = (email) => list.locator(`tr[data-client="${email}"]`);
  await clientRow(DISABLED).waitFor({ timeout: LONG });
  expect((await expand.getAttribute('aria-expanded')) === 'true', 'the expand button does not say it is expanded');
  expect((await list.locator('tr[data-client]').count()) === EMAILS.length + 1, `listed ${await list.locator('tr[data-client]').count()} clients, not ${EMAILS.length + 1}`);
  for (const email of EMAILS) {
    const r = clientRow(email);
    const online = email === ONLINE;
    expect((await r.getAttribute('data-online')) === String(online), `${email} is ${online ? 'not ' : ''}shown online`);
    expect((await r.locator('td').nth(1).innerText()).trim() === (online ? 'online' : 'offline'), `${email}'s online cell says ${await r.locator('td').nth(1).innerText()}`);
    expect((await r.locator('td').nth(2).innerText()).trim() === 'Enabled', `${email} is not shown enabled`);
    expect((await r.getByRole('link', { name: email, exact: true }).getAttribute('href')).endsWith(`/panel/client?email=${encodeURIComponent(email)}`), `${email} has no link to its page`);
  }
  const off = await api('GET', `/clients/${DISABLED}`);
  expect(off.used > 0 && Date.now() - off.lastOnline < 180000, `${DISABLED} carried no recent traffic: ${JSON.stringify(off)}`);
  expect((await clientRow(DISABLED).getAttribute('data-online')) === 'false', 'the disabled client is shown online');
  expect((await clientRow(DISABLED).locator('td').nth(1).innerText()).trim() === 'offline', 'the disabled client is not shown offline');
  expect((await clientRow(DISABLED).locator('td').nth(2).innerText()).trim() === 'Disabled', 'the disabled client is not shown disabled');
  expect((await clientRow(ONLINE).locator('.dot.on').count()) === 1 && (await clientRow(DISABLED).locator('.dot.on').count()) === 0, 'the online dots are wrong');

  step("a client's copy link copies its link on this inbound, its QR opens that link's image");
  const inboundId = (await inboundNamed(INBOUND_REMARK)).id;
  const picked = EMAILS[1];
  await api('POST', `/clients/${picked}/attach`, { inboundIds: [created.id] });
  const links = (await api('GET', `/clients/${picked}/links`)).links;
  const want = links.find((k) => k.inbound_id === inboundId)?.url;
  expect(want && links.length === 2, `the links of ${picked}: ${JSON.stringify(links)}`);
  await clientRow(picked).getByRole('button', { name: 'Copy link', exact: true }).click();
  await page.getByText(`Link of ${picked} copied`, { exact: true }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied === want, `copied ${copied}, not ${want}`);
  await clientRow(picked).getByRole('button', { name: 'QR', exact: true }).click();
  const qr = page.locator('#qr-dialog');
  await qr.getByRole('heading', { name: `QR code of ${picked}`, exact: true }).waitFor();
  await page.waitForFunction(() => { const i = document.querySelector('#qr-dialog img.qr'); return i?.complete && i.naturalWidth > 0; }, null, { timeout: LONG });
  const src = await qr.locator('img.qr').getAttribute('src');
  expect(new URL(src, PANEL).searchParams.get('text') === want, `the QR shows ${src}, not the link ${want}`);
  const inDialog = [...(await page.evaluate(audit)), ...(await axe(page))];
  expect(!inDialog.length, `accessibility of the QR dialog:\n${inDialog.join('\n')}`);
  await qr.getByRole('button', { name: 'Close', exact: true }).click();
  await qr.waitFor({ state: 'detached' });
  // Attached only here again, so that the export below is of this inbound's clients alone.
  await api('POST', `/clients/${picked}/detach`, { inboundIds: [created.id] });

  step('the expanded row stays expanded through a live refresh');
  const quotaCell = () => clientRow(EMAILS[2]).locator('td').nth(4);
  expect(!(await quotaCell().innerText()).includes('5.00 GB'), 'the quota is there before it is set');
  await api('PUT', `/clients/${EMAILS[2]}`, { totalGB: 5 * 1024 ** 3 });
  await page.waitForFunction((email) => document.querySelector(`tr[data-client="${email}"] td:nth-child(5)`)?.textContent.includes('5.00 GB'), EMAILS[2], { timeout: LONG });
  expect((await expand.getAttribute('aria-expanded')) === 'true' && (await list.locator('tr[data-client]').count()) === EMAILS.length + 1, 'the row collapsed on the live refresh');

  step('the expanded list passes the accessibility checks');
  const found = [...(await page.evaluate(audit)), ...(await axe(page))];
  expect(!found.length, found.join('\n'));
  await expand.click();
  await list.waitFor({ state: 'detached' });
  expect((await expand.getAttribute('aria-expanded')) === 'false', 'collapsing does not say so');

  step('export, delete and import give the same inbound');
  const exportOf = async (name) => {
    await row(name).getByRole('button', { name: 'Export', exact: true }).click();
    const text = await page.locator('#export-json').inputValue();
    await page.locator('#export-dialog').getByRole('button', { name: 'Close', exact: true }).click();
    return JSON.parse(text);
  };
  const before = await exportOf(INBOUND_REMARK);
  expect(typeof before.settings === 'string' && JSON.parse(before.settings).clients.length === EMAILS.length + 1, `the export is not 3x-ui's: ${JSON.stringify(before).slice(0, 300)}`);
  await row(INBOUND_REMARK).getByRole('button', { name: 'Delete', exact: true }).click();
  await page.locator('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
  await row(INBOUND_REMARK).waitFor({ state: 'detached' });
  await page.getByText('Import an inbound', { exact: true }).click();
  const importForm = page.locator('#import-form');
  await importForm.getByLabel('Inbound JSON', { exact: true }).fill('[1, 2]');
  await importForm.getByRole('button', { name: 'Import', exact: true }).click();
  await importForm.locator('.field-error', { hasText: 'must be one inbound' }).waitFor();
  await importForm.getByLabel('Inbound JSON', { exact: true }).fill(JSON.stringify(before, null, 2));
  await importForm.getByRole('button', { name: 'Import', exact: true }).click();
  await row(INBOUND_REMARK).waitFor({ timeout: LONG });
  const after = await exportOf(INBOUND_REMARK);
  const key = (j) => ({ ...j, id: 0, up: 0, down: 0 });
  expect(after.id !== before.id, 'the import did not create a new inbound');
  expect(same(key(after), key(before)), `the imported inbound differs:\n${JSON.stringify(key(before))}\n${JSON.stringify(key(after))}`);

  step('in Persian at phone width the expanded list fits, right to left');
  await context.addCookies([{ name: 'xfleet_lang', value: 'fa', url: PANEL }]);
  await page.setViewportSize({ width: 390, height: 844 });
  // Which inbounds' clients the page asks for: none until a row is expanded.
  const asked = [];
  page.on('request', (r) => { const u = new URL(r.url()); if (u.pathname === '/api/v1/clients' && u.searchParams.has('inbound')) asked.push(u.searchParams.get('inbound')); });
  await page.goto(`${PANEL}/panel/inbounds?server=${SERVER_ID}`);
  await row(INBOUND_REMARK).waitFor({ timeout: LONG });
  await page.locator('#live.on').waitFor();
  expect(!asked.length, `clients loaded before any row is expanded: ${asked.join(', ')}`);
  expect((await page.evaluate(() => document.documentElement.dir)) === 'rtl', 'the Persian page is not right to left');
  const faExpand = row(INBOUND_REMARK).locator('[data-action="expand-inbound"]');
  await faExpand.click();
  const faList = page.locator(`#${await faExpand.getAttribute('aria-controls')}`);
  await faList.locator(`tr[data-client="${DISABLED}"]`).waitFor({ timeout: LONG });
  const faId = String((await inboundNamed(INBOUND_REMARK)).id);
  expect(asked.length && asked.every((id) => id === faId), `loaded the clients of inbounds ${asked.join(', ')}, not only ${faId}`);
  expect((await faExpand.getAttribute('aria-label')) === `کاربران ${INBOUND_REMARK}`, `the expand button is named ${await faExpand.getAttribute('aria-label')}`);
  const phone = await page.evaluate(() => {
    const out = [];
    if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push(`the page is ${document.documentElement.scrollWidth} px wide`);
    for (const b of document.querySelectorAll('.inbound-clients button, .inbound-clients a')) {
      const r = b.getBoundingClientRect();
      if (r.left < 0 || r.right > window.innerWidth + 1) out.push(`off the screen: ${b.textContent.trim()} (${r.left}..${r.right})`);
      if (r.width < 24 || r.height < 24) out.push(`too small to tap: ${b.textContent.trim()} (${r.width}x${r.height})`);
    }
    const buttons = [...document.querySelectorAll('.inbound-clients button')].map((b) => b.textContent.trim());
    if (!buttons.includes('کپی لینک') || !buttons.includes('کد QR')) out.push(`the buttons are not in Persian: ${buttons.join(', ')}`);
    return out;
  });
  expect(!phone.length, phone.join('\n'));
  await faList.locator(`tr[data-client="${EMAILS[0]}"]`).getByRole('button', { name: 'کد QR', exact: true }).click();
  await page.waitForFunction(() => { const i = document.querySelector('#qr-dialog img.qr'); return i?.complete && i.naturalWidth > 0; }, null, { timeout: LONG });
  const alt = await page.locator('#qr-dialog img.qr').getAttribute('alt');
  expect(alt === `کد QR کاربر ${EMAILS[0]}`, `the QR image is described as ${alt}`);
  const faDialog = [...(await page.evaluate(audit)), ...(await axe(page))];
  expect(!faDialog.length, `accessibility of the Persian QR dialog:\n${faDialog.join('\n')}`);
  await page.locator('#qr-dialog').getByRole('button', { name: 'بستن', exact: true }).click();
  const faFound = [...(await page.evaluate(audit)), ...(await axe(page))];
  expect(!faFound.length, faFound.join('\n'));

  expect(!problems.length, problems.join('\n'));
  console.log('DONE');
} catch (e) {
  console.log(`FAIL ${e.message}${problems.length ? `\n${problems.join('\n')}` : ''}`);
  process.exitCode = 1;
} finally {
  await closeAll();
}
