// The login page.
import { $, api, BASE } from './core.js';
import { busy, formValues, t } from './ui.js';

// ---- Login ----
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
      error.textContent = err.message.charAt(0).toUpperCase() + err.message.slice(1);
      error.hidden = false;
      (/two-factor/.test(err.message) ? $('#two-factor') : $('#password'))?.focus();
    }
  });
}
