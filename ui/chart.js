// A small hand-drawn SVG chart of the calls on the current page: latency (time to first token shaded)
// and cost, one bar per call, oldest on the left. Each bar links to its call.
import { el, svg, formatClock, formatCost, formatDuration } from './dom.js';

const HEIGHT = 120;
const PAD = { top: 8, right: 6, bottom: 20, left: 58 };

/** The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or above `value`. */
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((step) => step * power).find((candidate) => candidate >= value * 0.999) ?? value;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function bars(width, calls, series) {
  const max = niceCeiling(Math.max(...calls.map((call) => series.value(call) ?? 0)));
  const plotWidth = width - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / calls.length;
  const barWidth = Math.max(1.5, Math.min(28, slot * 0.7));
  const y = (value) => PAD.top + plotHeight - (Math.max(0, value) / max) * plotHeight;
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const at = y(max * fraction);
    nodes.push(svg('line', { class: 'grid', x1: PAD.left, x2: width - PAD.right, y1: at, y2: at }));
    // The middle line stays unlabelled: half of a round maximum is often not round (12.5 ms).
    if (fraction !== 0.5) nodes.push(svg('text', { class: 'axis', x: PAD.left - 6, y: at + 4, 'text-anchor': 'end' }, series.format(max * fraction)));
  }
  calls.forEach((call, index) => {
    const value = series.value(call);
    if (typeof value !== 'number') return;
    const x = PAD.left + slot * index + (slot - barWidth) / 2;
    const failed = call.level === 'ERROR';
    const title = `${formatClock(call.startedAt)} · ${call.model ?? call.requestedModel ?? call.endpoint} · ${series.describe(call)}`;
    const top = y(value);
    const parts = [svg('title', {}, title), svg('rect', { class: failed ? 'bar failed' : 'bar', x, y: top, width: barWidth, height: Math.max(2, y(0) - top) })];
    const inner = series.inner?.(call);
    if (typeof inner === 'number' && inner > 0) {
      const innerTop = y(Math.min(inner, value));
      parts.push(svg('rect', { class: 'bar-inner', x, y: innerTop, width: barWidth, height: Math.max(1, y(0) - innerTop) }));
    }
    // The table below links every call too: the bars stay out of the tab order (50 calls would be 100 tab stops).
    nodes.push(svg('a', { href: `#/call/${encodeURIComponent(call.id)}`, tabindex: '-1' }, parts));
  });
  const first = calls[0];
  const last = calls.at(-1);
  nodes.push(svg('text', { class: 'axis', x: PAD.left, y: HEIGHT - 4 }, formatClock(first.startedAt)));
  if (calls.length > 1) nodes.push(svg('text', { class: 'axis', x: width - PAD.right, y: HEIGHT - 4, 'text-anchor': 'end' }, formatClock(last.startedAt)));
  return svg('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': series.label }, nodes);
}

const latencySeries = {
  label: 'Latency per call',
  value: (call) => call.latencyMs,
  inner: (call) => call.ttftMs,
  format: formatDuration,
  describe: (call) => `${formatDuration(call.latencyMs)}${typeof call.ttftMs === 'number' ? ` (first token after ${formatDuration(call.ttftMs)})` : ''}`,
};

const costSeries = {
  label: 'Cost per call',
  value: (call) => call.cost,
  format: formatCost,
  describe: (call) => formatCost(call.cost),
};

function panel(title, summary, legend) {
  const plot = el('div', { class: 'chart-plot' });
  const node = el('figure', { class: 'chart-panel' },
    el('figcaption', {}, el('strong', {}, title), ' ', el('span', { class: 'muted' }, summary), legend), plot);
  return { node, plot };
}

/** `emptyText`: what to say when there is no call to draw (the list's own reason: no call yet, none matching, none older). */
export function renderChart(container, items, emptyText) {
  const calls = items.filter((call) => typeof call.latencyMs === 'number').reverse();
  if (calls.length === 0) {
    container.replaceChildren(el('p', { class: 'muted chart-empty' }, emptyText));
    return;
  }
  const costs = calls.map((call) => call.cost).filter((cost) => typeof cost === 'number');
  const latencyPanel = panel('Latency', `median ${formatDuration(median(calls.map((call) => call.latencyMs)))}`,
    el('span', { class: 'legend' }, el('i', { class: 'swatch inner' }), 'time to first token', el('i', { class: 'swatch failed' }), 'error'));
  const costPanel = panel('Cost', costs.length ? `${formatCost(costs.reduce((sum, cost) => sum + cost, 0))} in total` : 'not reported');
  container.replaceChildren(latencyPanel.node, costPanel.node);
  // Drawn at the panel's real width, so text keeps its size on any screen.
  for (const [target, series] of [[latencyPanel.plot, latencySeries], [costPanel.plot, costSeries]]) {
    target.append(bars(Math.max(240, target.clientWidth || 560), calls, series));
  }
}
