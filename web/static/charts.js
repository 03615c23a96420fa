// Charts with axes: a server's CPU and memory over time as lines (percent on the left), and
// traffic per hour as bars (bytes on the left), times below, and a tooltip for the minute or
// hour under the pointer, or chosen with the arrow keys once the chart has focus (Tab
// reaches it; Home and End go to the ends).
import { $, html, show } from './core.js';
import { bytes, LOCALE, num, t, when } from './ui.js';

const TEXT = {
  empty: () => t('charts.empty'),
  label: (hours, cpu, mem) => t('charts.label', { n: hours, cpu, mem }),
  point: (time, cpu, used, total, mem) => t('charts.point', { time, cpu, used, total, mem }),
  cpu: () => t('charts.cpu'),
  memory: () => t('charts.memory'),
  traffic: (time, up, down) => t('charts.traffic_point', { time, up, down }),
};
// The plot's drawing space; the SVG stretches it to the box, labels are HTML beside it.
const WIDTH = 1000, HEIGHT = 100;
// Minutes further apart than this are not joined: the server sent nothing between them.
const GAP_MS = 150000;

const percent = (v, digits = 1) => t('charts.percent', { value: num(v, { minimumFractionDigits: digits, maximumFractionDigits: digits }) });
const clock = (ms) => new Date(ms).toLocaleTimeString(LOCALE, { hour: '2-digit', minute: '2-digit' });
// An hour a day or more back: the weekday with it.
const dayClock = (ms) => new Date(ms).toLocaleString(LOCALE, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
const memPercent = (s) => (s.mem_total > 0 ? (s.mem_used / s.mem_total) * 100 : 0);

// The chart of `samples` (oldest first: t, cpu_tenths, mem_used, mem_total) over the last
// `hours` hours up to `now`; `id` names its tooltip.
export function sampleChart(samples, hours, now = Date.now(), id = 'samples') {
  if (!samples.length) return html`<p class="muted" data-empty-chart>${TEXT.empty()}</p>`;
  const since = now - hours * 3600000;
  const x = (ms) => (((ms - since) / (now - since)) * WIDTH).toFixed(1);
  const y = (p) => (HEIGHT - (Math.max(0, Math.min(100, p)) / 100) * HEIGHT).toFixed(1);
  // One polyline per run of minutes without a gap; a lone minute is a short dash.
  const lines = (value) => {
    const runs = [];
    samples.forEach((s, i) => {
      if (!i || s.t - samples[i - 1].t > GAP_MS) runs.push([]);
      runs[runs.length - 1].push(s);
    });
    return runs.map((run) => (run.length === 1 ? [run[0], { ...run[0], t: run[0].t + 60000 }] : run)
      .map((s) => `${x(s.t)},${y(value(s))}`).join(' '));
  };
  const last = samples[samples.length - 1];
  const ticks = [0, 1, 2, 3, 4].map((i) => since + ((now - since) * i) / 4);
  const points = samples.map((s) => [s.t, s.cpu_tenths, s.mem_used, s.mem_total]);
  return html`<figure class="line-chart" data-line-chart>
    <div class="lc-body">
      <div class="lc-y" aria-hidden="true" data-axis="y">${[100, 50, 0].map((p) => html`<span>${percent(p, 0)}</span>`)}</div>
      <div class="lc-area">
        <div class="lc-plot" tabindex="0" role="img" aria-describedby="${id}-tip" data-points="${JSON.stringify(points)}" data-since="${since}" data-now="${now}"
          aria-label="${TEXT.label(hours, percent(last.cpu_tenths / 10), percent(memPercent(last)))}">
          <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" aria-hidden="true">
            ${[0, 50, 100].map((p) => html`<line class="lc-grid" x1="0" x2="${WIDTH}" y1="${y(p)}" y2="${y(p)}"></line>`)}
            ${lines((s) => s.cpu_tenths / 10).map((p) => html`<polyline class="lc-cpu" points="${p}"></polyline>`)}
            ${lines(memPercent).map((p) => html`<polyline class="lc-mem" points="${p}"></polyline>`)}
            <line class="lc-cursor" x1="0" x2="0" y1="0" y2="${HEIGHT}" visibility="hidden"></line>
          </svg>
        </div>
        <div class="lc-tip" dir="auto" id="${id}-tip" role="tooltip" aria-live="polite" hidden></div>
      </div>
      <div class="lc-x" aria-hidden="true" data-axis="x">${ticks.map((tick) => html`<span>${clock(tick)}</span>`)}</div>
    </div>
    <figcaption class="legend"><span class="lc-key cpu">${TEXT.cpu()}</span> · <span class="lc-key mem">${TEXT.memory()}</span> · ${clock(since)}–${clock(now)}</figcaption>
  </figure>`;
}

// Traffic per hour over the `span` hours up to now, as bars of upload on download; `hours` are
// the API's rows (hour, up, down). `id` names its tooltip (unique on the page).
export function trafficChart(hours, span = 24, id = 'traffic') {
  const now = Date.now();
  const start = Math.floor(now / 3600000) * 3600000 - (span - 1) * 3600000;
  const end = start + span * 3600000;
  const buckets = Array.from({ length: span }, (_, i) => ({ hour: start + i * 3600000, up: 0, down: 0 }));
  for (const h of hours || []) {
    const i = Math.round((h.hour - start) / 3600000);
    if (i >= 0 && i < span) { buckets[i].up += h.up; buckets[i].down += h.down; }
  }
  // An empty chart would read as a broken one: say there is nothing to draw.
  if (!buckets.some((b) => b.up + b.down)) return html`<p class="muted" data-chart-empty>${t('charts.traffic_empty', { n: span })}</p>`;
  const max = Math.max(1, ...buckets.map((b) => b.up + b.down));
  const w = WIDTH / span;
  const h = (v) => (v / max) * HEIGHT;
  const bars = buckets.map((b, i) => html`<rect class="down" x="${(i * w + w * 0.1).toFixed(1)}" y="${(HEIGHT - h(b.down)).toFixed(1)}" width="${(w * 0.8).toFixed(1)}" height="${h(b.down).toFixed(1)}"></rect><rect class="up" x="${(i * w + w * 0.1).toFixed(1)}" y="${(HEIGHT - h(b.down) - h(b.up)).toFixed(1)}" width="${(w * 0.8).toFixed(1)}" height="${h(b.up).toFixed(1)}"></rect>`);
  const total = buckets.reduce((a, b) => a + b.up + b.down, 0);
  // A point per hour, at its middle: the tooltip's position and what it says.
  const points = buckets.map((b) => [b.hour + 1800000, b.up, b.down]);
  const ticks = [0, 1, 2, 3, 4].map((i) => start + ((end - start) * i) / 4);
  const label = span > 24 ? dayClock : clock;
  return html`<figure class="line-chart" data-bar-chart>
    <div class="lc-body">
      <div class="lc-y" aria-hidden="true" data-axis="y">${[max, max / 2, 0].map((v) => html`<span>${bytes(v)}</span>`)}</div>
      <div class="lc-area">
        <div class="lc-plot" tabindex="0" role="img" data-kind="traffic" aria-describedby="${id}-tip" data-points="${JSON.stringify(points)}" data-since="${start}" data-now="${end}"
          aria-label="${t('charts.traffic_label', { n: span, total: bytes(total) })}">
          <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" aria-hidden="true">
            ${[0, HEIGHT / 2].map((y) => html`<line class="lc-grid" x1="0" x2="${WIDTH}" y1="${y}" y2="${y}"></line>`)}
            ${bars}
            <line class="lc-cursor" x1="0" x2="0" y1="0" y2="${HEIGHT}" visibility="hidden"></line>
          </svg>
        </div>
        <div class="lc-tip" dir="auto" id="${id}-tip" role="tooltip" aria-live="polite" hidden></div>
      </div>
      <div class="lc-x" aria-hidden="true" data-axis="x">${ticks.map((tick) => html`<span>${label(tick)}</span>`)}</div>
    </div>
    <figcaption class="legend"><span class="up">${t('charts.up')}</span> · <span class="down">${t('charts.down')}</span> · ${t('charts.traffic_total', { n: span, total: bytes(total) })}</figcaption>
  </figure>`;
}

// ---- The tooltip: one point at a time, from the pointer or the keys ----
const state = new WeakMap();
function pointsOf(plot) { try { return JSON.parse(plot.dataset.points); } catch { return []; } }
function showPoint(plot, index) {
  const points = pointsOf(plot);
  if (!points.length) return;
  const i = Math.max(0, Math.min(points.length - 1, index));
  state.set(plot, i);
  const since = Number(plot.dataset.since), now = Number(plot.dataset.now);
  const at = (points[i][0] - since) / (now - since);
  const tip = $('.lc-tip', plot.parentElement);
  if (plot.dataset.kind === 'traffic') {
    const [middle, up, down] = points[i];
    tip.textContent = TEXT.traffic(when(middle - 1800000), bytes(up), bytes(down));
  } else {
    const [time, cpuTenths, used, total] = points[i];
    tip.textContent = TEXT.point(clock(time), percent(cpuTenths / 10), bytes(used), bytes(total), percent(total > 0 ? (used / total) * 100 : 0));
  }
  tip.hidden = false;
  tip.classList.toggle('left', at > 0.5);
  tip.style.setProperty('--at', `${(at * 100).toFixed(2)}%`);
  const cursor = $('.lc-cursor', plot);
  cursor.setAttribute('x1', (at * WIDTH).toFixed(1));
  cursor.setAttribute('x2', (at * WIDTH).toFixed(1));
  cursor.setAttribute('visibility', 'visible');
}
function hidePoint(plot) {
  $('.lc-tip', plot.parentElement).hidden = true;
  $('.lc-cursor', plot).setAttribute('visibility', 'hidden');
}
function nearest(plot, clientX) {
  const box = plot.getBoundingClientRect();
  const since = Number(plot.dataset.since), now = Number(plot.dataset.now);
  const time = since + ((clientX - box.left) / box.width) * (now - since);
  const points = pointsOf(plot);
  let best = 0;
  points.forEach(([pt], i) => { if (Math.abs(pt - time) < Math.abs(points[best][0] - time)) best = i; });
  return best;
}
document.addEventListener('pointermove', (e) => {
  const plot = e.target.closest?.('.lc-plot');
  if (plot) showPoint(plot, nearest(plot, e.clientX));
});
document.addEventListener('pointerout', (e) => {
  const plot = e.target.closest?.('.lc-plot');
  if (plot && !plot.contains(e.relatedTarget) && document.activeElement !== plot) hidePoint(plot);
});
document.addEventListener('focusin', (e) => {
  if (e.target.classList?.contains('lc-plot')) showPoint(e.target, state.get(e.target) ?? pointsOf(e.target).length - 1);
});
document.addEventListener('focusout', (e) => {
  if (e.target.classList?.contains('lc-plot')) hidePoint(e.target);
});
document.addEventListener('keydown', (e) => {
  const plot = e.target.classList?.contains('lc-plot') ? e.target : null;
  if (!plot) return;
  const i = state.get(plot) ?? pointsOf(plot).length - 1;
  const next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: pointsOf(plot).length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  showPoint(plot, next);
});

// Draws the chart into `box` when the samples changed; a chart being read keeps its focus
// and its point.
export function drawSamples(box, samples, hours, id) {
  const key = JSON.stringify(samples);
  if (box.dataset.drawn === key) return;
  const old = $('.lc-plot', box);
  const focused = old && document.activeElement === old;
  const at = old ? state.get(old) : undefined;
  show(box, sampleChart(samples, hours, Date.now(), id));
  box.dataset.drawn = key;
  const plot = $('.lc-plot', box);
  if (plot && focused) {
    if (at !== undefined) state.set(plot, at);
    plot.focus();
  }
}
