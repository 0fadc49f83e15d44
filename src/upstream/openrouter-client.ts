// The OpenRouter client: one keep-alive undici Pool, our own credentials and attribution headers.
// The client's own Authorization never goes upstream (issue 2, "Auth").
import { Pool } from './undici-pool.ts';
import type { Config } from '../config.ts';
import { jsonSecrets, redactBytes } from '../redact.ts';
import { dispatchRequest } from './upstream-body.ts';
import type { UpstreamResponse } from './upstream-body.ts';

export interface UpstreamOptions {
  baseUrl: string;
  apiKey?: string;
  httpReferer?: string;
  title?: string;
  /** Longest wait for the response headers. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs: number;
  /** Upper bound on open upstream connections; unlimited by default (each running stream holds one). */
  connections?: number | null;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  /** Path below the base URL, with its query string: `/chat/completions`, `/models?x=1`. */
  path: string;
  body?: Buffer | string;
  signal?: AbortSignal;
  /** Extra headers (already checked by the caller). */
  headers?: Record<string, string>;
}

export interface UpstreamClient {
  readonly configured: boolean;
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
  /**
   * A whole answer as a client may see it: our key replaced wherever it is quoted (an error from a proxy at the
   * base URL that echoes the request's headers); the same bytes when it is not.
   */
  withoutKey(answer: Buffer): Buffer;
  close(): Promise<void>;
}

/** The client's options as the configuration sets them. */
export function upstreamOptions(config: Config): UpstreamOptions {
  const { baseUrl, apiKey, httpReferer, title } = config.openrouter;
  return { baseUrl, apiKey, httpReferer, title, headersTimeoutMs: config.upstreamTimeoutMs, bodyTimeoutMs: config.streamIdleTimeoutMs };
}

export function createOpenRouterClient(options: UpstreamOptions): UpstreamClient {
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: options.connections ?? null,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: options.bodyTimeoutMs,
  });

  const keyAsQuoted = options.apiKey ? jsonSecrets([options.apiKey]) : [];
  const fixedHeaders: Record<string, string> = { 'content-type': 'application/json', 'accept-encoding': 'identity' };
  if (options.apiKey) fixedHeaders.authorization = `Bearer ${options.apiKey}`;
  if (options.httpReferer) fixedHeaders['http-referer'] = options.httpReferer;
  if (options.title) {
    fixedHeaders['x-title'] = options.title;
    fixedHeaders['x-openrouter-title'] = options.title;
  }

  return {
    configured: Boolean(options.apiKey),
    request(request) {
      return dispatchRequest(pool, {
        origin: base.origin,
        method: request.method,
        path: basePath + request.path,
        headers: request.headers ? { ...request.headers, ...fixedHeaders } : fixedHeaders,
        body: request.body,
      }, request.signal);
    },
    withoutKey: (answer) => redactBytes(answer, keyAsQuoted),
    close: () => pool.close(),
  };
}
