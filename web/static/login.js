// The login page.
import { $, api, BASE } from './core.js';
import { busy, formValues, t } from './ui.js';

// ---- Login ----
// The controller's refusals of a login (`LoginError` in front/auth), in the reader's words;
// anything else in the controller's own.
function refusal(err) {
  const m = err.message;
  const n = Number((m.match(/in (\d+) (seconds|minutes)/) || [])[1] || 0);
  if (err.status === 429) {
    if (/temporarily blocked/.test(m)) return t('login.blocked', { n });
    if (/busy with other logins/.test(m)) return t('login.busy', { n });
    if (/too many login attempts/.test(m)) return t('login.too_many', { n });
  }
  if (err.status === 403) {
    if (/two-factor code is missing/.test(m)) return t('login.tfa_missing');
    if (/wrong or already used two-factor code/.test(m)) return t('login.tfa_wrong');
    if (m === 'wrong username or password') return t('login.failed');
  }
  return m.charAt(0).toUpperCase() + m.slice(1);
}
export function pageLogin() {
  const form = $('#login-form');
  const error = $('#login-error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const v = formValues(form);
    const body = { username: v.username.trim(), password: v.password };
    if (v.twoFactorCode) body.twoFactorCode = v.twoFactorCode.trim();
    if (!body.username || !body.password) { error.textContent = t('login.missing'); error.hidden = false; return; }
    try {
      await busy(form.querySelector('button[type="submit"]'), () => api('POST', '/auth/login', body));
      const next = new URLSearchParams(location.search).get('next') || '';
      location.href = BASE + (/^\/panel(\/|$)/.test(next) && !next.includes('//') ? next : '/panel/');
    } catch (err) {
      error.textContent = refusal(err);
      error.hidden = false;
      (/two-factor/.test(err.english) ? $('#two-factor') : $('#password'))?.focus();
    }
  });
}
