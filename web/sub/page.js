// The subscription page's small helpers; the page works without them.
// - Copy buttons (hidden until this runs) copy their `data-copy` text and say so.
// - Times (`<time datetime>`, written in UTC by the server) are shown in the visitor's zone.
// The page's language is its <html lang>; its texts come with the page (`data-*` of <main>),
// already in that language.
const main = document.querySelector('main');
const LANG = document.documentElement.lang || 'en';
// Dates in the page's language and the Gregorian calendar (Persian digits in Persian); English
// keeps the browser's own variant (en-GB dates for a British reader).
const LOCALES = { fa: 'fa-IR', ru: 'ru-RU', zh: 'zh-CN', vi: 'vi-VN' };
const LOCALE = LOCALES[LANG];
const copy = async (text) => {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.append(area);
  area.select();
  const done = document.execCommand('copy');
  area.remove();
  if (!done) throw new Error('copy refused');
};

// Says what a Copy button did, to everyone (screen readers too: a status region).
const status = document.getElementById('copy-status');
for (const button of document.querySelectorAll('button[data-copy]')) {
  button.hidden = false;
  button.addEventListener('click', async () => {
    try {
      await copy(button.dataset.copy);
      status.textContent = main.dataset.copied.replace('{text}', button.dataset.copy);
    } catch {
      status.textContent = main.dataset.copyRefused;
    }
  });
}

for (const time of document.querySelectorAll('time[datetime]')) {
  const at = new Date(time.dateTime);
  if (!Number.isNaN(at.getTime())) {
    time.textContent = at.toLocaleString(LOCALE, { dateStyle: 'medium', timeStyle: 'short', calendar: 'gregory' });
    time.title = time.dateTime;
  }
}
