// Messages, tool definitions, tool calls and the assistant's output, rendered as text (never as markup).
import { el, prettyJson, textBlock } from './dom.js';

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const roleClass = (role) => (/^[a-z_]+$/.test(role) ? `role-${role}` : 'role-other');
const textPartTypes = new Set(['text', 'input_text', 'output_text']);
const clip = (text, length = 120) => (text.length > length ? `${text.slice(0, length)}…` : text);

function contentNodes(content) {
  if (typeof content === 'string') return textBlock('div', 'text', content);
  if (content === null || content === undefined) return undefined;
  if (!Array.isArray(content)) return el('pre', { class: 'json' }, prettyJson(content));
  return content.map((part) => {
    if (isObject(part) && textPartTypes.has(part.type) && typeof part.text === 'string') return textBlock('div', 'text', part.text);
    if (isObject(part) && part.type === 'image_url') {
      // Shown as text only: the page never loads anything from outside the gateway.
      const url = typeof part.image_url === 'string' ? part.image_url : part.image_url?.url;
      return el('div', { class: 'part muted' }, `[image] ${clip(String(url ?? ''))}`);
    }
    return el('pre', { class: 'json' }, prettyJson(part));
  });
}

export function toolCallList(toolCalls) {
  return el('div', { class: 'tool-calls' }, toolCalls.map((call) => {
    const fn = call.function ?? {};
    return el('div', { class: 'tool-call' },
      el('div', { class: 'tool-head' }, el('span', { class: 'label' }, 'tool call'), el('span', { class: 'tool-name' }, fn.name ?? call.name ?? '?'),
        call.id && el('code', { class: 'id muted' }, call.id)),
      el('pre', { class: 'json' }, prettyJson(fn.arguments ?? call.arguments ?? '')));
  }));
}

function messageCard(message) {
  const role = typeof message.role === 'string' ? message.role : 'message';
  const extra = message.tool_call_id ? ` · for ${message.tool_call_id}` : message.name ? ` · ${message.name}` : '';
  const toolCalls = Array.isArray(message.tool_calls) && message.tool_calls.length > 0 ? toolCallList(message.tool_calls) : undefined;
  const body = contentNodes(message.content) ?? (toolCalls ? undefined : el('div', { class: 'muted' }, '(no content)'));
  return el('div', { class: `message ${roleClass(role)}` }, el('div', { class: 'role' }, role, extra), body, toolCalls);
}

/** A list of chat messages (or Responses input items); anything else as pretty JSON. */
export function messagesNodes(messages) {
  if (messages === undefined) return el('p', { class: 'muted' }, 'No input.');
  if (!Array.isArray(messages)) return el('pre', { class: 'json' }, prettyJson(messages));
  return el('div', { class: 'messages' }, messages.map((message) => (isObject(message) && ('role' in message || 'content' in message)
    ? messageCard(message)
    : el('div', { class: 'message role-other' }, el('div', { class: 'role' }, isObject(message) ? String(message.type ?? 'item') : 'item'),
      el('pre', { class: 'json' }, prettyJson(message))))));
}

export function toolDefinitions(tools) {
  if (!Array.isArray(tools)) return el('pre', { class: 'json' }, prettyJson(tools));
  return el('div', { class: 'tool-definitions' }, el('h3', {}, `Tools offered (${tools.length})`), tools.map((tool) => {
    const fn = tool.function ?? tool;
    return el('details', { class: 'tool-definition' },
      el('summary', {}, el('span', { class: 'tool-name' }, fn.name ?? tool.type ?? 'tool'), fn.description && el('span', { class: 'muted' }, ` ${fn.description}`)),
      el('pre', { class: 'json' }, prettyJson(fn.parameters ?? tool)));
  }));
}

/** The assistant's answer: reasoning, content, tool calls, anything endpoint-specific. */
export function outputNodes(call, notCaptured) {
  const out = call.output ?? {};
  // Several choices (n > 1): each one in turn.
  if (Array.isArray(out.choices) && out.choices.length > 1) {
    return out.choices.map((choice, index) => el('div', { class: 'choice' },
      el('div', { class: 'role' }, `choice ${index}`), outputNodes({ ...call, output: { ...choice, choices: undefined } }, notCaptured)));
  }
  const hasToolCalls = Array.isArray(out.toolCalls) && out.toolCalls.length > 0;
  const hasAnything = (out.content !== undefined && out.content !== null) || out.refusal || out.reasoning || hasToolCalls || out.raw !== undefined;
  if (!hasAnything) {
    if (notCaptured) return notCaptured;
    return el('p', { class: 'muted' }, call.level === 'ERROR' ? 'No output: the call failed (see the message above).' : 'No output.');
  }
  return [
    out.reasoning && el('div', { class: 'reasoning' }, el('div', { class: 'role' }, 'reasoning'), textBlock('div', 'text', out.reasoning)),
    out.content !== undefined && out.content !== null && el('div', { class: 'message role-assistant' },
      el('div', { class: 'role' }, out.role ?? 'assistant'), contentNodes(out.content)),
    out.refusal && el('div', { class: 'message role-assistant' }, el('div', { class: 'role' }, 'refusal'), textBlock('div', 'text', out.refusal)),
    hasToolCalls && toolCallList(out.toolCalls),
    out.raw !== undefined && el('pre', { class: 'json' }, prettyJson(out.raw)),
    out.finishReason && el('p', { class: 'muted finish' }, `finish reason: ${out.finishReason}`),
  ];
}
