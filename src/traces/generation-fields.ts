// How a call's usage, input, parameters and output become Langfuse generation fields
// (../../shared/contracts/langfuse-otel-attributes.md, "Generation-only").
import { isObject } from '../calls/json-shape.ts';
import type { CallOutput, LlmCall, Usage } from '../calls/llm-call.ts';

const count = (value: number | undefined) =>
  value !== undefined && Number.isFinite(value) ? Math.max(0, Math.round(value)) : undefined;

/**
 * Langfuse's own disjoint buckets, not OpenAI's shape: cached and cache-write tokens are taken out
 * of `input` and reasoning out of `output` (what the server does itself when it converts an
 * OpenAI-shaped object), so the buckets add up to `total`. Only known keys are sent.
 */
export function usageDetails(usage: Usage | undefined): Record<string, number> | undefined {
  if (!usage) return undefined;
  const cached = count(usage.cachedInput);
  const cacheWrite = count(usage.cacheWrite);
  const reasoning = count(usage.reasoning);
  const input = count(usage.input);
  const output = count(usage.output);
  const details: Record<string, number> = {};
  let known = false;
  const put = (key: string, value: number | undefined) => {
    if (value === undefined) return;
    details[key] = value;
    known = true;
  };
  put('input', input === undefined ? undefined : Math.max(0, input - (cached ?? 0) - (cacheWrite ?? 0)));
  put('input_cached_tokens', cached);
  put('input_cache_write_tokens', cacheWrite);
  put('output', output === undefined ? undefined : Math.max(0, output - (reasoning ?? 0)));
  put('output_reasoning_tokens', reasoning);
  put('total', count(usage.total));
  return known ? details : undefined;
}

const toolKeys = ['tools', 'tool_choice', 'functions', 'function_call'];

/**
 * For chat calls that offer tools, the input is `{messages, tools, tool_choice}` (what Langfuse's
 * own OpenAI integration sends, so the UI and playground show the tools with the messages) and the
 * tools leave the model parameters; a Responses call's input is `{instructions, input, tools, tool_choice}`
 * the same way. Otherwise the input is the request's input as recorded.
 */
export function inputAndParameters(call: LlmCall): { input: unknown; modelParameters?: Record<string, unknown> } {
  const parameters = { ...call.modelParameters };
  let input = call.input;
  const offersTools = toolKeys.some((key) => parameters[key] !== undefined);
  // The record keeps chat input as the messages, or as `{messages, tools}` when the call offered tools; a
  // Responses call's as `{instructions, input, tools}` when it has instructions or tools (build-call.ts).
  const wrapped: Record<string, unknown> | undefined = call.endpoint === 'chat.completions'
    ? (Array.isArray(input) ? { messages: input } : isObject(input) && Array.isArray(input.messages) ? { ...input } : undefined)
    : call.endpoint === 'responses' && isObject(input) && 'input' in input ? { ...input } : undefined;
  if (wrapped && offersTools) {
    for (const key of toolKeys) {
      if (parameters[key] === undefined) continue;
      wrapped[key] = parameters[key];
      delete parameters[key];
    }
    input = wrapped;
  }
  return { input, modelParameters: Object.keys(parameters).length > 0 ? parameters : undefined };
}

/**
 * The assistant message as Langfuse renders it (a list of them for several choices); `raw` only when there is no
 * message. A `null` content is a message (the model said nothing: a refusal, a filtered answer); no content at all
 * means nothing of the answer was kept (TRACE_CONTENT=false): no output then, rather than what would read as an empty
 * answer. The finish reason stays in the metadata.
 */
export function outputMessage(output: CallOutput | undefined): unknown {
  if (!output) return undefined;
  if (output.choices && output.choices.length > 1) {
    const messages = output.choices.map((choice) => outputMessage({ ...choice, choices: undefined }));
    if (messages.some((message) => message !== undefined)) return messages;
  }
  const toolCalls = output.toolCalls ?? [];
  const hasMessage = output.content !== undefined || toolCalls.length > 0 || output.reasoning !== undefined || output.refusal !== undefined;
  if (!hasMessage && output.raw !== undefined) return output.raw;
  if (!hasMessage) return undefined;
  const message: Record<string, unknown> = { role: output.role ?? 'assistant', content: output.content ?? null };
  if (output.refusal !== undefined) message.refusal = output.refusal;
  if (output.reasoning !== undefined) message.reasoning = output.reasoning;
  if (toolCalls.length > 0) {
    message.tool_calls = toolCalls.map((toolCall) => ({
      ...(toolCall.id === undefined ? {} : { id: toolCall.id }),
      type: toolCall.type,
      function: { name: toolCall.function.name, arguments: toolCall.function.arguments },
    }));
  }
  return message;
}
