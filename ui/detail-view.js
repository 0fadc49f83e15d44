// One call, in full: the record exactly as the journal keeps it and Langfuse receives it.
import { el, dash, formatCost, formatDuration, formatNumber, formatTimestamp, prettyJson, textBlock } from './dom.js';
import { deliveryBadge, statusBadge } from './badges.js';
import { filterLink } from './list-view.js';
import { messagesNodes, outputNodes, toolDefinitions } from './message-view.js';

const mono = (value) => (value ? el('code', { class: 'id' }, value) : dash);
const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

function facts(title, pairs, wide = false) {
  const rows = pairs.filter(([, value]) => value !== undefined).flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value ?? dash)]);
  return el('section', { class: wide ? 'card facts wide' : 'card facts' }, el('h2', {}, title), el('dl', {}, rows));
}

/** Parameters other than the tools, which the input section already shows. */
function parametersShown(call) {
  const { tools, ...rest } = call.modelParameters ?? {};
  const toolsInInput = tools !== undefined && typeof call.input === 'object' && call.input !== null && 'tools' in call.input;
  return toolsInInput ? rest : call.modelParameters ?? {};
}

function section(title, ...children) {
  return el('section', { class: 'card block' }, el('h2', {}, title), children);
}

const deliveryNotes = {
  local: 'Kept in the local journal only (Langfuse is not configured).',
  pending: 'Waiting in the journal to be sent to Langfuse.',
  delivered: 'Sent to Langfuse.',
  rejected: 'Langfuse refused it; it is sent again after the next restart.',
};

function usageValue(value) {
  return typeof value === 'number' ? formatNumber(value) : undefined;
}

function inputNodes(call) {
  const { input } = call;
  if (call.endpoint === 'chat.completions') {
    const parts = Array.isArray(input) ? { messages: input } : isObject(input) ? input : { messages: input };
    return [messagesNodes(parts.messages), parts.tools && toolDefinitions(parts.tools)];
  }
  if (call.endpoint === 'responses' && isObject(input) && ('instructions' in input || 'tools' in input)) {
    return [input.instructions && messagesNodes([{ role: 'instructions', content: input.instructions }]),
      messagesNodes(typeof input.input === 'string' ? [{ role: 'user', content: input.input }] : input.input),
      input.tools && toolDefinitions(input.tools)];
  }
  if (typeof input === 'string') return messagesNodes([{ role: call.endpoint === 'completions' ? 'prompt' : 'input', content: input }]);
  return messagesNodes(input);
}

export function renderDetail(container, call, backHash) {
  const usage = call.usage ?? {};
  const captured = call.input !== undefined;
  const notCaptured = el('p', { class: 'muted not-captured' }, 'Content not captured (TRACE_CONTENT=false).');
  const modelChanged = call.requestedModel && call.model && call.requestedModel !== call.model;

  const parameters = parametersShown(call);
  // replaceChildren would print a skipped (false or undefined) part as text.
  container.replaceChildren(...[
    el('a', { class: 'back', href: backHash }, '← All calls'),
    el('header', { class: 'detail-head' },
      el('h1', {}, call.name, ' ', statusBadge(call), call.stream && el('span', { class: 'badge quiet' }, 'stream')),
      el('p', { class: 'muted' }, `${formatTimestamp(call.startTime)} · ${call.model ?? call.requestedModel ?? call.endpoint} · ${formatDuration(call.endTime - call.startTime)}`)),
    call.statusMessage && el('p', { class: `banner ${call.level === 'ERROR' ? 'error' : 'warn'}` }, call.statusMessage),
    el('div', { class: 'fact-grid' },
      facts('Call', [
        ['Langfuse trace id', mono(call.id)],
        ['Generation id', mono(call.generationId)],
        ['Endpoint', call.endpoint],
        ['Streamed', call.stream ? 'yes' : 'no'],
      ], true),
      facts('Model', [
        ['Requested', call.requestedModel ?? dash],
        ['Used', modelChanged ? el('span', { class: 'changed', title: 'OpenRouter used another model' }, call.model) : call.model ?? dash],
        ['Provider', call.provider ?? dash],
      ]),
      facts('Timing', [
        ['Started', formatTimestamp(call.startTime)],
        ['Latency', formatDuration(call.endTime - call.startTime)],
        ['Time to first token', call.completionStartTime ? formatDuration(call.completionStartTime - call.startTime) : dash],
      ]),
      facts('Usage and cost', [
        ['Input tokens', usageValue(usage.input) ?? dash],
        ['Cached input', usageValue(usage.cachedInput)],
        ['Cache write', usageValue(usage.cacheWrite)],
        ['Output tokens', usageValue(usage.output) ?? dash],
        ['Reasoning', usageValue(usage.reasoning)],
        ['Total tokens', usageValue(usage.total) ?? dash],
        ['Cost', el('strong', {}, formatCost(call.cost))],
      ]),
      facts('Session and user', [
        ['Session', filterLink('session', call.sessionId)],
        ['User', filterLink('user', call.userId)],
        ['Tags', call.tags?.length ? el('span', { class: 'tags' }, call.tags.map((tag) => el('span', { class: 'tag' }, tag))) : dash],
      ]),
      facts('Outcome', [
        ['HTTP status', String(call.status)],
        ['Outcome', call.outcome],
        ['Level', call.level],
      ]),
      facts('Delivery', [
        ['State', el('span', {}, deliveryBadge(call.delivery), ' ', el('span', { class: 'muted' }, deliveryNotes[call.delivery] ?? ''))],
        ['Attempts', String(call.attempts ?? 0)],
        ['Delivered at', call.deliveredAt ? formatTimestamp(call.deliveredAt) : undefined],
        ['Last error', call.lastError ? el('span', { class: 'error-text' }, call.lastError) : undefined],
      ], true)),
    section('Input', captured ? inputNodes(call) : notCaptured.cloneNode(true)),
    section('Output', outputNodes(call, captured ? undefined : notCaptured)),
    Object.keys(parameters).length > 0 && section('Model parameters', el('pre', { class: 'json' }, prettyJson(parameters))),
    Object.keys(call.metadata ?? {}).length > 0 && section('Metadata', el('pre', { class: 'json' }, prettyJson(call.metadata))),
    rawRecord(call),
  ].filter(Boolean));
}

/** The whole record as JSON, written only when opened (for a large call it is megabytes of text). */
function rawRecord(call) {
  const pre = el('pre', { class: 'json' });
  const details = el('details', {
    class: 'card raw',
    ontoggle: () => { if (details.open && !pre.firstChild) pre.append(textBlock('span', 'raw-json', prettyJson(call))); },
  }, el('summary', {}, 'Raw record (JSON)'), pre);
  return details;
}

export function renderDetailError(container, message, backHash) {
  container.replaceChildren(el('a', { class: 'back', href: backHash }, '← All calls'), el('p', { class: 'banner error' }, message));
}
