// Reads a chat completion (or legacy text completion) answer into a summary: whole JSON bodies, or a stream
// of chunks whose content, reasoning and tool-call fragments are assembled (../shared/contracts/openrouter.md).
import type { CallOutput, ToolCall } from './llm-call.ts';
import type { ReadableEvent } from './sse-guard.ts';
import type { ResponseSummary } from './response-summary.ts';
import { readUsage } from './usage.ts';
import { isObject, text } from './json-shape.ts';
import type { Json } from './json-shape.ts';
import { TextBuilder } from './text-builder.ts';


/**
 * `code: message`, then what OpenRouter adds that says why: its `metadata` (the provider, the provider's raw error,
 * moderation reasons; not `flagged_input`, which is the prompt itself) and an availability error's details.
 */
export function describeError(error: unknown): string | undefined {
  if (!isObject(error)) return undefined;
  const code = error.code ?? error.http_status;
  const message = text(error.message) ?? 'no message';
  const { flagged_input: _prompt, ...metadata } = isObject(error.metadata) ? error.metadata : {};
  const details = { ...metadata, ...(isObject(error.availability) ? { availability: error.availability } : {}) };
  const extra = Object.keys(details).length > 0 ? ` ${JSON.stringify(details).slice(0, 1000)}` : '';
  return `${code === undefined ? message : `${String(code)}: ${message}`}${extra}`;
}

function readToolCalls(value: unknown): ToolCall[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return value.filter(isObject).map((call) => {
    const fn = isObject(call.function) ? call.function : {};
    return { id: text(call.id), type: text(call.type) ?? 'function', function: { name: text(fn.name) ?? '', arguments: text(fn.arguments) ?? '' } };
  });
}

function common(json: Json): ResponseSummary {
  return {
    ...readUsage(json.usage),
    model: text(json.model),
    provider: text(json.provider),
    generationId: text(json.id),
    error: describeError(json.error),
  };
}

/**
 * The readable part of `reasoning_details` (text and summaries; encrypted blocks have none), for answers that carry
 * no `reasoning` text beside it.
 */
function detailsText(details: unknown): string | undefined {
  if (!Array.isArray(details)) return undefined;
  const parts = details.filter(isObject).map((detail) => text(detail.text) ?? text(detail.summary)).filter((part) => part !== undefined);
  return parts.length > 0 ? parts.join('') : undefined;
}

function readChoice(choice: Json): CallOutput {
  const message = isObject(choice.message) ? choice.message : {};
  return {
    role: text(message.role) ?? 'assistant',
    content: typeof message.content === 'string' || message.content === null ? message.content : text(choice.text),
    refusal: text(message.refusal),
    reasoning: text(message.reasoning) ?? detailsText(message.reasoning_details),
    toolCalls: readToolCalls(message.tool_calls),
    finishReason: text(choice.finish_reason),
  };
}

/** The first choice's output, with every choice beside it when there are several. */
function withChoices(outputs: CallOutput[]): CallOutput | undefined {
  const [first] = outputs;
  if (!first) return undefined;
  return outputs.length > 1 ? { ...first, choices: outputs } : first;
}

export function readChatBody(json: Json): ResponseSummary {
  const summary = common(json);
  const choices = Array.isArray(json.choices) ? json.choices.filter(isObject) : [];
  const output = withChoices(choices.map(readChoice));
  if (output) summary.output = output;
  return summary;
}

/** A tool call being streamed: its arguments arrive in fragments. */
interface ToolCallState { id?: string; type: string; name: string; arguments: TextBuilder }
interface ChoiceState { content: TextBuilder; refusal: TextBuilder; reasoning: TextBuilder; finishReason?: string; tools: Map<number, ToolCallState> }

/** Reads a chat stream event by event, as the tap forwards it: content, reasoning and tool-call fragments. */
export function createChatStreamReader() {
  const summary: ResponseSummary = {};
  const choices = new Map<number, ChoiceState>();
  return {
    add(event: ReadableEvent, at: number): void {
      if (event.data === '[DONE]') { summary.done = true; return; }
      const json = event.json;
      if (!isObject(json)) return;
      summary.model ??= text(json.model);
      summary.provider ??= text(json.provider);
      summary.generationId ??= text(json.id);
      if (json.error !== undefined) summary.error = describeError(json.error) ?? 'error chunk';
      if (isObject(json.usage)) Object.assign(summary, readUsage(json.usage));
      if (!Array.isArray(json.choices)) return;
      for (const choice of json.choices) {
        if (!isObject(choice)) continue;
        const index = typeof choice.index === 'number' ? choice.index : 0;
        let state = choices.get(index);
        if (!state) { state = { content: new TextBuilder(), refusal: new TextBuilder(), reasoning: new TextBuilder(), tools: new Map() }; choices.set(index, state); }
        if (typeof choice.finish_reason === 'string') state.finishReason = choice.finish_reason;
        const delta = isObject(choice.delta) ? choice.delta : {};
        const piece = text(delta.content) ?? text(choice.text);
        const reasoning = text(delta.reasoning) ?? detailsText(delta.reasoning_details);
        const refusal = text(delta.refusal);
        if (piece) state.content.add(piece);
        if (refusal) state.refusal.add(refusal);
        if (reasoning) state.reasoning.add(reasoning);
        if (Array.isArray(delta.tool_calls)) mergeToolFragments(state.tools, delta.tool_calls);
        if (summary.firstTokenAt === undefined && (piece || refusal || reasoning || Array.isArray(delta.tool_calls))) summary.firstTokenAt = at;
      }
    },
    summary(): ResponseSummary {
      const output = withChoices([...choices.entries()].sort(([a], [b]) => a - b).map(([, state]) => toOutput(state)));
      if (output) summary.output = output;
      return summary;
    },
  };
}

function mergeToolFragments(tools: Map<number, ToolCallState>, fragments: unknown[]) {
  for (const fragment of fragments) {
    if (!isObject(fragment)) continue;
    const index = typeof fragment.index === 'number' ? fragment.index : tools.size;
    const fn = isObject(fragment.function) ? fragment.function : {};
    const call = tools.get(index) ?? { type: 'function', name: '', arguments: new TextBuilder() };
    const id = text(fragment.id);
    const type = text(fragment.type);
    const name = text(fn.name);
    if (id) call.id = id;
    if (type) call.type = type;
    // Replaced, not appended: some providers repeat the whole name in every fragment (the OpenAI SDK replaces it too).
    if (name) call.name = name;
    call.arguments.add(text(fn.arguments) ?? ''); // the builder skips empty pieces
    tools.set(index, call);
  }
}

function toOutput(state: ChoiceState): CallOutput {
  const toolCalls: ToolCall[] = [...state.tools.entries()].sort(([a], [b]) => a - b)
    .map(([, call]) => ({ ...(call.id === undefined ? {} : { id: call.id }), type: call.type, function: { name: call.name, arguments: call.arguments.toString() } }));
  const content = state.content.toString();
  const refusal = state.refusal.toString() || undefined;
  // No text beside tool calls or a refusal: `null`, as the whole message has it (OpenAI's own shape).
  return {
    role: 'assistant',
    content: content || (toolCalls.length > 0 || refusal !== undefined ? null : ''),
    refusal,
    reasoning: state.reasoning.toString() || undefined,
    toolCalls: toolCalls.length > 0 ? toolCalls : undefined,
    finishReason: state.finishReason,
  };
}
