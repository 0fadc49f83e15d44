// The call record: one complete account of a proxied call, built once when the call ends.
// It is what the journal stores, what the Langfuse exporter maps to spans and what the viewer shows,
// so all three always agree (see ../shared/contracts/langfuse-otel-attributes.md for the mapping).

export type Endpoint = 'chat.completions' | 'responses' | 'completions' | 'embeddings';

/** How the call ended, from the gateway's point of view. */
export type Outcome =
  | 'ok'               // upstream answered 2xx and the body was complete
  | 'upstream_error'   // upstream answered 4xx/5xx, or a 200 whose body carries an `error`
  | 'stream_error'     // an error chunk arrived in the middle of a stream
  | 'timeout'          // no response headers, or silence between chunks, for too long
  | 'connection_lost'  // the upstream connection failed or was reset
  | 'not_configured'   // the gateway has no OpenRouter key: nothing was sent
  | 'shutdown'         // the gateway shut down (SHUTDOWN_DRAIN_S ran out) before the answer ended
  | 'client_aborted';  // the client went away before the answer ended

export interface Usage {
  input?: number;
  output?: number;
  total?: number;
  cachedInput?: number;
  cacheWrite?: number;
  reasoning?: number;
}

export interface ToolCall {
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

/** The assistant's answer as the trace shows it (assembled from stream fragments when streaming). */
export interface CallOutput {
  role?: string;
  content?: string | null;
  /** What the model said instead of answering (OpenAI's `refusal`). */
  refusal?: string;
  reasoning?: string;
  toolCalls?: ToolCall[];
  finishReason?: string;
  /** Anything endpoint-specific that has no slot above (a Responses `output` array, embeddings' shape...). */
  raw?: unknown;
  /** Several choices (`n` > 1): each one, the first (the fields above) included, streamed or not alike. */
  choices?: CallOutput[];
}

export interface LlmCall {
  /** 32 lowercase hex; also the Langfuse trace id. Observation ids derive from it. */
  id: string;
  endpoint: Endpoint;
  /** Trace name: the `x-trace-name` header, else the endpoint. */
  name: string;
  /** Epoch milliseconds with sub-millisecond precision. */
  startTime: number;
  endTime: number;
  /** First content, reasoning or tool-call chunk of a stream (time to first token). */
  completionStartTime?: number;
  stream: boolean;
  requestedModel?: string;
  /** The model OpenRouter actually used (may differ after fallbacks). */
  model?: string;
  provider?: string;
  /** OpenRouter's generation id (`gen-...`). */
  generationId?: string;
  /** Request parameters other than the input (temperature, max_tokens, tools, response_format...). */
  modelParameters: Record<string, unknown>;
  /** Messages / input / prompt as sent upstream; undefined when content capture is off. */
  input?: unknown;
  output?: CallOutput;
  usage?: Usage;
  /** Total cost in USD (OpenRouter's `usage.cost`, plus upstream cost only when BYOK). */
  cost?: number;
  sessionId?: string;
  userId?: string;
  tags: string[];
  /** Extra trace metadata (client user agent, upstream status...). Small, flat values only. */
  metadata: Record<string, string | number | boolean>;
  /** LANGFUSE_RELEASE and LANGFUSE_ENVIRONMENT when the call was made: a backlog shipped after an upgrade keeps them. */
  release?: string;
  environment?: string;
  /** HTTP status the client received. */
  status: number;
  outcome: Outcome;
  level: 'DEFAULT' | 'WARNING' | 'ERROR';
  statusMessage?: string;
}

/**
 * Metadata keys the span mapper writes from the call's own fields (langfuse-spans.ts, typed against this list): a
 * client's metadata key of the same name never stands in for them (call-identity.ts drops it).
 */
export const callFactMetadataKeys = ['requested_model', 'provider', 'generation_id', 'endpoint', 'http_status', 'outcome', 'stream', 'finish_reason'] as const;
export type CallFactMetadataKey = typeof callFactMetadataKeys[number];
