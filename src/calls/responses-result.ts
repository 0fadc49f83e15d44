// Reads a Responses API answer (POST /responses; n8n's default) into a summary. Streams end with a
// `response.completed` (or `.failed` / `.incomplete`) event that carries the whole response.
import type { CallOutput, ToolCall } from './llm-call.ts';
import type { ReadableEvent } from './sse-guard.ts';
import type { ResponseSummary } from './response-summary.ts';
import { describeError } from './chat-result.ts';
import { TextBuilder } from './text-builder.ts';
import { readUsage } from './usage.ts';
import { isObject, text } from './json-shape.ts';
import type { Json } from './json-shape.ts';


function readOutput(items: unknown): CallOutput | undefined {
  if (!Array.isArray(items)) return undefined;
  let content = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    const parts = [...(Array.isArray(item.content) ? item.content : []), ...(Array.isArray(item.summary) ? item.summary : [])];
    if (item.type === 'message') {
      for (const part of parts) if (isObject(part) && part.type === 'output_text') content += text(part.text) ?? '';
    } else if (item.type === 'reasoning') {
      for (const part of parts) if (isObject(part)) reasoning += text(part.text) ?? '';
    } else if (item.type === 'function_call') {
      toolCalls.push({ id: text(item.call_id) ?? text(item.id), type: 'function', function: { name: text(item.name) ?? '', arguments: text(item.arguments) ?? '' } });
    }
  }
  return {
    role: 'assistant',
    content: content || (toolCalls.length > 0 ? null : ''),
    reasoning: reasoning || undefined,
    toolCalls: toolCalls.length > 0 ? toolCalls : undefined,
    raw: items,
  };
}

/** Nothing was said: no text, no reasoning, no tool call. */
const saidNothing = (output: CallOutput) => !output.content && output.reasoning === undefined && output.toolCalls === undefined;

export function readResponsesBody(json: Json): ResponseSummary {
  let output = readOutput(json.output);
  // A response that failed (or stopped) before saying anything has no answer: no message, rather than an empty one
  // (its status stays, as the finish reason).
  if (output && saidNothing(output) && json.status !== 'completed') output = { role: 'assistant' };
  if (output && typeof json.status === 'string') output.finishReason = json.status;
  return {
    ...readUsage(json.usage),
    output,
    model: text(json.model),
    provider: text(json.provider),
    generationId: text(json.id),
    error: describeError(json.error),
  };
}

const finalEvents = new Set(['response.completed', 'response.failed', 'response.incomplete']);

/** Reads a Responses API stream event by event, as the tap forwards it. */
export function createResponsesStreamReader() {
  let summary: ResponseSummary = {};
  let firstTokenAt: number | undefined;
  const streamedText = new TextBuilder();
  let error: string | undefined;
  let done = false;
  return {
    add(event: ReadableEvent, at: number): void {
      if (event.data === '[DONE]') { done = true; return; }
      const json = event.json;
      if (!isObject(json)) return;
      const type = text(json.type) ?? event.name ?? '';
      if (type.endsWith('.delta')) {
        firstTokenAt ??= at;
        if (type === 'response.output_text.delta') streamedText.add(text(json.delta) ?? '');
      } else if (type === 'error') {
        error = describeError(json.error ?? json) ?? 'error event';
      } else if (finalEvents.has(type) && isObject(json.response)) {
        summary = readResponsesBody(json.response);
        done = true;
      } else if (type === 'response.created' && isObject(json.response)) {
        summary.model ??= text(json.response.model);
        summary.generationId ??= text(json.response.id);
      }
    },
    summary(): ResponseSummary {
      // A stream cut before its final event, or whose final event carries less than was streamed (a
      // `response.failed` with an empty output), still shows what was said.
      if (streamedText.length > 0 && (!summary.output || saidNothing(summary.output))) {
        summary.output = { ...summary.output, role: 'assistant', content: streamedText.toString() };
      }
      return { ...summary, error: error ?? summary.error, firstTokenAt, done };
    },
  };
}
