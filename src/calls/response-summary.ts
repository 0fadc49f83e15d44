// What the gateway learned from the upstream's answer, whatever the endpoint: one shape for build-call.ts.
import type { CallOutput, Endpoint, Usage } from './llm-call.ts';
import type { ReadableEvent } from './sse-guard.ts';
import { createChatStreamReader, readChatBody } from './chat-result.ts';
import { createResponsesStreamReader, readResponsesBody } from './responses-result.ts';
import { readEmbeddingsBody } from './embeddings-result.ts';

export interface ResponseSummary {
  output?: CallOutput;
  usage?: Usage;
  cost?: number;
  model?: string;
  provider?: string;
  generationId?: string;
  /** An error the upstream reported inside a 200 body or a stream chunk. */
  error?: string;
  firstTokenAt?: number;
  /** The stream ended with `data: [DONE]` (or the Responses API's final event). */
  done?: boolean;
  /** Stream events whose data was not JSON. */
  malformed?: number;
  /** The answer was an event stream (a call asked to stream can still get a plain JSON error). */
  streamed?: boolean;
}

/** Non-streaming answers: the body as text (OpenRouter may prefix it with newline heartbeats). */
export function summarizeBody(endpoint: Endpoint, bodyText: string): ResponseSummary {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    return { malformed: 1 };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { malformed: 1 };
  const body = json as Record<string, unknown>;
  if (endpoint === 'responses') return readResponsesBody(body);
  if (endpoint === 'embeddings') return readEmbeddingsBody(body);
  return readChatBody(body);
}

export interface StreamReader {
  add(event: ReadableEvent, at: number): void;
  summary(): ResponseSummary;
}

/** Streams are read event by event as they are forwarded, each event parsed once (by the SSE guard). */
export function createStreamReader(endpoint: Endpoint): StreamReader {
  return endpoint === 'responses' ? createResponsesStreamReader() : createChatStreamReader();
}
