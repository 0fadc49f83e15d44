// DOM and formatting helpers. Data only ever reaches the page as text nodes or attributes, never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(node, props, children) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.setAttribute('class', value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** `el('td', {class: 'num'}, 'text', otherNode)`: strings become text nodes. */
export const el = (tag, props, ...children) => build(document.createElement(tag), props, children);
export const svg = (tag, props, ...children) => build(document.createElementNS(SVG_NS, tag), props, children);

export const dash = '—';

export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return dash;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatCost(usd) {
  if (typeof usd !== 'number' || !Number.isFinite(usd)) return dash;
  if (usd === 0) return '$0';
  const digits = usd >= 1 ? 2 : Math.min(8, 2 - Math.floor(Math.log10(usd)));
  return `$${usd.toFixed(digits).replace(/(\.\d*?[1-9])0+$/, '$1').replace(/\.0+$/, '')}`;
}

export function formatNumber(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toLocaleString('en-US') : dash;
}

const pad = (value, width = 2) => String(value).padStart(width, '0');

/** Time of day for today's calls, date and time for older ones. */
export function formatClock(ms) {
  const date = new Date(ms);
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

export function formatTimestamp(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return dash;
  const date = new Date(ms);
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Pretty JSON for arguments and parameters; text that is not JSON is shown as it is. */
export function prettyJson(value) {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2) ?? String(value);
}

/** Text up to this length is shown at once; a longer one (a pasted document) shows its start and a button. */
export const longTextChars = 100_000;

/**
 * `el(tag, {class}, text)`, except that a very long text shows its first 100,000 characters and a button for the
 * rest: laying out megabytes of text would freeze the page (a 20 MB prompt took 9 s).
 */
export function textBlock(tag, className, text) {
  if (text.length <= longTextChars) return el(tag, { class: className }, text);
  const node = el(tag, { class: className }, text.slice(0, longTextChars));
  const more = el('button', {
    type: 'button', class: 'button ghost show-all',
    onclick: () => { node.textContent = text; more.remove(); },
  }, `Show all ${text.length.toLocaleString('en-US')} characters`);
  return el('div', { class: 'long-text' }, node, more);
}

export function show(node, visible) {
  node.hidden = !visible;
}
