// Assembles the call record from what the route saw: the request, the upstream's answer and how it ended.
// Pure, so every outcome can be tested with a table of cases.
import type { CallOutput, Endpoint, LlmCall, Outcome } from './llm-call.ts';
import type { CallIdentity } from './call-identity.ts';
import type { ResponseSummary } from './response-summary.ts';

export interface CallFacts {
  id: string;
  endpoint: Endpoint;
  identity: CallIdentity;
  /** The request body as forwarded upstream. */
  body: Record<string, unknown>;
  stream: boolean;
  startTime: number;
  endTime: number;
  /** Status the client received. */
  status: number;
  summary: ResponseSummary;
  /** Set when the call did not end normally (timeout, lost connection, client gone, gateway refusal). */
  failure?: { outcome: Exclude<Outcome, 'ok' | 'stream_error'>; message: string };
  captureContent: boolean;
  metadata: Record<string, string | number | boolean>;
  release?: string;
  environment?: string;
}

/** Body keys that are the input or the call's identity, not model parameters. */
const notParameters = new Set(['model', 'messages', 'input', 'prompt', 'instructions', 'stream', 'user', 'session_id', 'metadata', 'trace']);
/**
 * Parameters that carry content (a predicted output, a completion's suffix, tool definitions, whose descriptions are
 * prompt text): left out with TRACE_CONTENT=false. With content on, the tools show in the input (generation-fields.ts).
 */
const contentParameters = new Set(['prediction', 'suffix', 'tools', 'functions']);

function inputOf(endpoint: Endpoint, body: Record<string, unknown>): unknown {
  if (endpoint === 'chat.completions') return body.tools ? { messages: body.messages, tools: body.tools } : body.messages;
  if (endpoint === 'responses') {
    return body.instructions || body.tools ? { instructions: body.instructions, input: body.input, tools: body.tools } : body.input;
  }
  if (endpoint === 'completions') return body.prompt;
  return body.input;
}

function outcomeOf(facts: CallFacts): { outcome: Outcome; level: LlmCall['level']; statusMessage?: string } {
  const { failure, summary, status } = facts;
  if (failure?.outcome === 'client_aborted') {
    return { outcome: 'client_aborted', level: 'WARNING', statusMessage: `Client went away before the answer ended: ${failure.message}` };
  }
  if (failure) return { outcome: failure.outcome, level: 'ERROR', statusMessage: failure.message };
  if (summary.error) {
    return summary.streamed
      ? { outcome: 'stream_error', level: 'ERROR', statusMessage: `Upstream error in the stream: ${summary.error}` }
      : { outcome: 'upstream_error', level: 'ERROR', statusMessage: `Upstream error: ${summary.error}` };
  }
  if (status >= 400) return { outcome: 'upstream_error', level: 'ERROR', statusMessage: `Upstream answered HTTP ${status}` };
  if (summary.malformed) {
    return { outcome: 'ok', level: 'WARNING', statusMessage: `Upstream sent ${summary.malformed} unreadable event(s) or an unreadable body` };
  }
  return { outcome: 'ok', level: 'DEFAULT' };
}

function withoutContent(output: CallOutput | undefined): CallOutput | undefined {
  if (!output) return undefined;
  return { role: output.role, finishReason: output.finishReason };
}

export function buildCall(facts: CallFacts): LlmCall {
  const { body, summary, identity } = facts;
  const modelParameters: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (notParameters.has(key) || value === undefined || (!facts.captureContent && contentParameters.has(key))) continue;
    modelParameters[key] = value;
  }
  const requestedModel = typeof body.model === 'string' ? body.model : undefined;
  const { outcome, level, statusMessage } = outcomeOf(facts);
  return {
    id: facts.id,
    endpoint: facts.endpoint,
    name: identity.name,
    startTime: facts.startTime,
    endTime: facts.endTime,
    completionStartTime: facts.stream ? summary.firstTokenAt : undefined,
    stream: facts.stream,
    requestedModel,
    model: summary.model ?? requestedModel,
    provider: summary.provider,
    generationId: summary.generationId,
    modelParameters,
    input: facts.captureContent ? inputOf(facts.endpoint, body) : undefined,
    output: facts.captureContent ? summary.output : withoutContent(summary.output),
    usage: summary.usage,
    cost: summary.cost,
    sessionId: identity.sessionId,
    userId: identity.userId,
    tags: identity.tags,
    metadata: facts.metadata,
    release: facts.release,
    environment: facts.environment,
    status: facts.status,
    outcome,
    level,
    // The provider's raw error text may quote the request: it is content.
    statusMessage: facts.captureContent ? statusMessage : statusMessage?.replace(/"raw":"(?:[^"\\]|\\.)*",?/g, '').replace(/,}/g, '}'),
  };
}
