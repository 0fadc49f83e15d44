// The list of recent calls: filters (kept in the address's #fragment), the table, the chart and paging.
import { el, dash, formatClock, formatCost, formatDuration, formatNumber, formatTimestamp } from './dom.js';
import { deliveryBadge, statusBadge } from './badges.js';
import { renderChart } from './chart.js';

export const filterNames = ['session', 'user', 'model', 'status'];

/** `#/?session=a&before=12` -> {filters: {session: 'a'}, before: 12}. */
export function readListHash(hash) {
  const query = new URLSearchParams(hash.split('?')[1] ?? '');
  const filters = {};
  for (const name of filterNames) if (query.get(name)) filters[name] = query.get(name);
  const before = Number(query.get('before'));
  return { filters, before: Number.isInteger(before) && before > 0 ? before : undefined };
}

export function listHash(filters, before) {
  const query = new URLSearchParams();
  for (const name of filterNames) if (filters[name]) query.set(name, filters[name]);
  if (before) query.set('before', String(before));
  const text = query.toString();
  return text ? `#/?${text}` : '#/';
}

const callHref = (id) => `#/call/${encodeURIComponent(id)}`;

/** A value that, clicked, filters the list by it. */
export function filterLink(name, value) {
  if (!value) return el('span', { class: 'muted' }, dash);
  return el('a', { class: 'filter-link', href: listHash({ [name]: value }), title: `Show only ${name} ${value}` }, value);
}

function modelCell(call) {
  const used = call.model ?? call.requestedModel ?? dash;
  const asked = call.requestedModel && call.model && call.requestedModel !== call.model ? call.requestedModel : undefined;
  return [el('span', { class: 'model-name' }, used), asked && el('div', { class: 'sub' }, `asked for ${asked}`)];
}

function tokensCell(call) {
  if (call.inputTokens === undefined && call.outputTokens === undefined) return dash;
  return `${formatNumber(call.inputTokens)} → ${formatNumber(call.outputTokens)}`;
}

function row(call) {
  return el('tr', {
    class: call.level === 'ERROR' ? 'failed' : undefined,
    'data-id': call.id,
    onclick: (event) => {
      if (!event.target.closest('a, button')) location.hash = callHref(call.id);
    },
  },
  el('td', { class: 'nowrap' }, el('a', { href: callHref(call.id), title: formatTimestamp(call.startedAt) }, formatClock(call.startedAt))),
  el('td', { class: 'col-endpoint' }, call.endpoint, call.name !== call.endpoint && el('div', { class: 'sub' }, call.name)),
  el('td', { class: 'model' }, modelCell(call)),
  el('td', { class: 'label-cell' }, filterLink('session', call.sessionId)),
  el('td', { class: 'label-cell col-user' }, filterLink('user', call.userId)),
  el('td', {}, statusBadge(call)),
  el('td', { class: 'num' }, formatDuration(call.latencyMs)),
  el('td', { class: 'num col-ttft' }, formatDuration(call.ttftMs)),
  el('td', { class: 'num nowrap', title: `input → output tokens (total ${formatNumber(call.totalTokens)})` }, tokensCell(call)),
  el('td', { class: 'num' }, formatCost(call.cost)),
  el('td', { class: 'col-delivery' }, deliveryBadge(call.delivery)));
}

/** Which link of which row has the keyboard focus, so a refresh that redraws the rows can give it back. */
function focusedInRow(table) {
  const active = document.activeElement;
  const tr = active?.closest?.('tbody tr');
  if (!tr || !table.contains(tr)) return undefined;
  return { id: tr.dataset.id, index: [...tr.querySelectorAll('a, button')].indexOf(active) };
}

function restoreFocus(table, { id, index }) {
  const tr = [...table.tBodies[0].rows].find((candidate) => candidate.dataset.id === id);
  tr?.querySelectorAll('a, button')[index]?.focus({ preventScroll: true });
}

/** Empties the list (its rows, chart and page line): what it showed belongs to another address. */
export function clearList() {
  document.getElementById('calls').tBodies[0].replaceChildren();
  document.getElementById('chart').replaceChildren();
  document.getElementById('empty').hidden = true;
  document.getElementById('page-info').textContent = '';
  document.getElementById('older').disabled = true;
}

/** Fills the list view with one page of GET /api/traces. */
export function renderList(page, { filters, before }) {
  const table = document.getElementById('calls');
  table.classList.toggle('hide-delivery', page.delivery?.mode !== 'langfuse');
  const focus = focusedInRow(table);
  table.tBodies[0].replaceChildren(...page.items.map(row));
  if (focus) restoreFocus(table, focus);

  const empty = document.getElementById('empty');
  const filtered = Object.keys(filters).length > 0;
  empty.hidden = page.items.length > 0;
  empty.textContent = before ? 'No older calls.' : filtered ? 'No calls match these filters.' : 'No calls yet. Send a request through the gateway and it appears here.';

  renderChart(document.getElementById('chart'), page.items, empty.textContent);

  document.getElementById('newest').disabled = !before;
  document.getElementById('older').disabled = !page.nextBefore;
  document.getElementById('older').dataset.before = page.nextBefore ?? '';
  const count = `${page.items.length} call${page.items.length === 1 ? '' : 's'}`;
  document.getElementById('page-info').textContent = before ? `${count}, older page` : `${count}, newest first`;
}

/** Puts the filters of the address into the form. */
export function fillFilterForm(form, filters) {
  for (const name of filterNames) form.elements[name].value = filters[name] ?? '';
}

export function readFilterForm(form) {
  const filters = {};
  for (const name of filterNames) {
    const value = form.elements[name].value.trim();
    if (value) filters[name] = value;
  }
  return filters;
}
