// Live updates: the server-sent event stream of fleet snapshots, and timers that pause
// while the tab is hidden.
import { $, API, api } from './core.js';
import { t } from './i18n.js';

// ---- Live updates (server-sent events) ----
export const live = {
  last: null,
  handlers: [],
  source: null,
  on(f) { this.handlers.push(f); if (this.last) f(this.last); },
  connect() {
    const badgeEl = $('#live');
    this.source = new EventSource(API + '/events');
    this.source.addEventListener('snapshot', (ev) => {
      try { this.last = JSON.parse(ev.data); } catch { return; }
      if (badgeEl) { badgeEl.textContent = t('layout.live_on'); badgeEl.className = 'live on'; }
      for (const f of this.handlers) { try { f(this.last); } catch (e) { console.error(e); } }
    });
    this.source.onerror = () => {
      if (badgeEl) { badgeEl.textContent = t('layout.reconnecting'); badgeEl.className = 'live off'; }
      // A refused stream may mean the session ended: asking the API finds out.
      api('GET', '/auth/me').catch(() => {});
    };
  },
};
export function throttle(ms, f) {
  let last = 0, timer = null;
  return (...args) => {
    const wait = last + ms - Date.now();
    if (wait <= 0) { last = Date.now(); f(...args); } else if (!timer) timer = setTimeout(() => { timer = null; last = Date.now(); f(...args); }, wait);
  };
}
export function every(ms, f) { const id = setInterval(() => { if (!document.hidden) f(); }, ms); return () => clearInterval(id); }
