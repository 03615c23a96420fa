// xfleet panel, entry point: fills the server-rendered page shell named by <body data-page>
// from the native API (/api/v1) and keeps it current from the live event stream. Native ES
// modules, no build step; every file is served from one versioned folder, so the relative
// imports below always load files of the same build.
import { $, $$, api, BASE, html, navigate, PAGE, pageRoot, show } from './core.js';
import { actions, copyText, labelCells, t } from './ui.js';
import { live } from './live.js';
import { pageLogin } from './login.js';
import { pageDashboard } from './dashboard.js';
import { pageServer, pageServers } from './servers.js';
import { pageInbound, pageInbounds } from './inbounds.js';
import { pageClient, pageClients } from './clients.js';
import { pageAudit, pageTasks } from './activity.js';
import { pageSettings } from './settings.js';
import { pageCoreConfig } from './core-config.js';
import { pageLogs } from './logs.js';

// ---- Theme, menu, logout, copy ----
actions.theme = () => {
  const root = document.documentElement;
  const dark = root.dataset.theme === 'dark' || (root.dataset.theme === 'auto' && matchMedia('(prefers-color-scheme: dark)').matches);
  const next = dark ? 'light' : 'dark';
  root.dataset.theme = next;
  document.cookie = `xfleet_theme=${next}; Path=/; Max-Age=31536000; SameSite=Lax`;
};
actions.logout = async () => {
  try { await api('POST', '/auth/logout'); } finally { navigate(`${BASE}/`); }
};
actions.copy = (el) => copyText(el.dataset.copy ?? $(el.dataset.copyFrom)?.textContent ?? '', el.dataset.what || t('common.copied'));
// The language menus (panel and login page): the choice is kept in a cookie for a year, and
// the page is drawn again in the new language.
document.addEventListener('change', (e) => {
  if (e.target.id !== 'language') return;
  document.cookie = `xfleet_lang=${encodeURIComponent(e.target.value)}; Path=/; Max-Age=31536000; SameSite=Lax`;
  location.reload();
});
// Module scripts run once the document is parsed (after DOMContentLoaded when the catalog
// import in i18n.js had to wait), so the page is there to fill.
{
  const toggle = $('.menu-toggle');
  toggle?.addEventListener('click', () => {
    const nav = $('#nav');
    const open = !nav.classList.contains('open');
    nav.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
  });
  // Lists are drawn and redrawn at any time; their cells are labelled for the phone layout.
  const labelLists = () => $$('table.cards').forEach(labelCells);
  new MutationObserver(labelLists).observe(document.body, { childList: true, subtree: true });
}

// ---- An address no page answers (the controller sends it with status 404) ----
function pageNotFound() {
  show(pageRoot(), html`<div class="card" id="not-found"><p>${t('notfound.text', { path: location.pathname })}</p>
    <div class="actions"><a class="button primary" href="${BASE}/panel/">${t('notfound.home')}</a></div></div>`);
}

// ---- Start ----
const PAGES = { notfound: pageNotFound, login: pageLogin, dashboard: pageDashboard, servers: pageServers, server: pageServer, inbounds: pageInbounds, inbound: pageInbound, clients: pageClients, client: pageClient, tasks: pageTasks, audit: pageAudit, settings: pageSettings, core: pageCoreConfig, logs: pageLogs };
{
  const start = PAGES[PAGE];
  if (start) {
    if (PAGE !== 'login') live.connect();
    start();
  }
}
