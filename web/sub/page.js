// The subscription page's small helpers; the page works without them.
// - Copy buttons (hidden until this runs) copy their `data-copy` text and say so.
// - Times (`<time datetime>`, written in UTC by the server) are shown in the visitor's zone.
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
      status.textContent = `Copied: ${button.dataset.copy}`;
    } catch {
      status.textContent = 'Copying was refused: select the text and copy it by hand.';
    }
  });
}

for (const time of document.querySelectorAll('time[datetime]')) {
  const at = new Date(time.dateTime);
  if (!Number.isNaN(at.getTime())) {
    time.textContent = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    time.title = time.dateTime;
  }
}
