// Our own errors, OpenAI-shaped: clients pick the error class by status and show body.error.message
// (../shared/contracts/clients.md, "Errors"). Upstream errors never go through here: they pass unchanged.

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'service_unavailable'
  | 'upstream_error'
  | 'timeout_error'
  | 'server_error';

export interface OpenAIErrorBody {
  error: { message: string; type: ErrorType; code: string };
}

export class ProxyError extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: ErrorType;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.type = typeForStatus(status);
    this.headers = headers;
  }

  toJSON(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, code: this.code } };
  }
}

function typeForStatus(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable';
  if (status === 504) return 'timeout_error';
  if (status === 502) return 'upstream_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

// Every error the gateway itself makes, in one place, so the messages stay consistent and say what to do.
export const errors = {
  missingUpstreamKey: () => new ProxyError(503, 'upstream_not_configured',
    'The gateway has no OpenRouter key. Set OPENROUTER_API_KEY in the environment or in .env and restart the gateway.'),
  unauthorized: () => new ProxyError(401, 'invalid_api_key',
    'Missing or wrong gateway key. Send it as "Authorization: Bearer <key>" or as the "x-api-key" header (the API_KEY setting of the gateway).'),
  tooManyAuthFailures: (retryAfterS: number) => new ProxyError(429, 'too_many_auth_failures',
    `Too many failed authentication attempts from this address. Wait ${retryAfterS} s and retry with the right key.`,
    { 'retry-after': String(retryAfterS) }),
  notFound: (method: string, path: string) => new ProxyError(404, 'not_found',
    `No route for ${method} ${path}. Endpoints: /chat/completions, /responses, /completions, /embeddings, /models (also under /v1 and /api/v1).`),
  invalidJson: (detail: string) => new ProxyError(400, 'invalid_json',
    `The request body is not valid JSON (${detail}). Send a JSON object with "Content-Type: application/json".`),
  invalidBody: (detail: string) => new ProxyError(400, 'invalid_request', detail),
  bodyTooLarge: (limitBytes: number) => new ProxyError(413, 'request_too_large',
    `The request body is larger than the gateway's limit of ${Math.round(limitBytes / 1024 / 1024)} MB (BODY_LIMIT_MB).`),
  headersTooLarge: (limitBytes: number) => new ProxyError(431, 'headers_too_large',
    `The request headers are larger than the gateway's limit of ${Math.round(limitBytes / 1024)} KB (MAX_HEADER_KB).`),
  malformedRequest: () => new ProxyError(400, 'malformed_request', 'The request is not valid HTTP/1.1.'),
  badUrl: (url: string) => new ProxyError(400, 'invalid_url', `The request path is not a valid URL (${url}): check its percent-encoding.`),
  missingHost: () => new ProxyError(400, 'malformed_request', 'The request has no Host header, which HTTP/1.1 requires.'),
  unsupportedEncoding: (encoding: string) => new ProxyError(415, 'unsupported_content_encoding',
    `The request body is sent with Content-Encoding "${encoding}", which the gateway does not decode. Send it uncompressed.`),
  requestTimeout: () => new ProxyError(408, 'request_timeout', 'The request was not sent completely in time. Retry the request.'),
  upstreamUnreachable: (detail: string) => new ProxyError(502, 'upstream_unreachable',
    `Could not reach OpenRouter (${detail}). Check OPENROUTER_BASE_URL and the network, then retry.`),
  upstreamTimeout: (seconds: number) => new ProxyError(504, 'upstream_timeout',
    `OpenRouter sent no response within ${seconds} s (UPSTREAM_TIMEOUT_S). Retry, or raise the timeout.`),
  upstreamIdle: (seconds: number) => new ProxyError(504, 'upstream_timeout',
    `OpenRouter went silent for ${seconds} s in the middle of the answer (STREAM_IDLE_TIMEOUT_S). Retry the request.`),
  upstreamLost: (detail: string) => new ProxyError(502, 'upstream_connection_lost',
    `The connection to OpenRouter was lost before the answer ended (${detail}). Retry the request.`),
  upstreamUnreadable: (status: number, detail: string, headers: Record<string, string> = {}) => new ProxyError(status >= 400 ? status : 502,
    'upstream_invalid_response', `OpenRouter answered HTTP ${status} with ${detail}. Retry the request.`, headers),
  streamTooLong: (seconds: number) => new ProxyError(504, 'stream_too_long',
    `The answer took longer than the gateway's limit of ${seconds} s (MAX_STREAM_S).`),
  shuttingDown: () => new ProxyError(503, 'shutting_down', 'The gateway is shutting down. Retry in a moment.'),
  streamIncomplete: () => new ProxyError(502, 'upstream_incomplete_stream',
    'OpenRouter ended the stream before its last event ([DONE]): the answer may be incomplete. Retry the request.'),
  /** For the trace only: the client is gone, nobody reads this answer. */
  clientGone: () => new ProxyError(499, 'client_closed_request',
    'the gateway cancelled its request to OpenRouter'),
  internal: () => new ProxyError(500, 'internal_error', 'The gateway failed unexpectedly. The error is logged; retry the request.'),
};
