// The OpenRouter client: one keep-alive undici Pool, our own credentials and attribution headers.
// The client's own Authorization never goes upstream (issue 2, "Auth").
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from './undici-pool.ts';
import type { Dispatcher } from 'undici';
import type { Config } from '../config.ts';
import { UpstreamBody } from './upstream-body.ts';

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

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

export interface UpstreamClient {
  readonly configured: boolean;
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
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
      return new Promise((resolve, reject) => {
        const { signal } = request;
        let controller: Dispatcher.DispatchController | undefined;
        let body: UpstreamBody | undefined;
        // An abort before undici has a controller is applied as soon as it has one.
        const abort = () => controller?.abort(signal?.reason);
        signal?.addEventListener('abort', abort, { once: true });
        const done = () => signal?.removeEventListener('abort', abort);
        pool.dispatch({
          origin: base.origin,
          method: request.method,
          path: basePath + request.path,
          headers: request.headers ? { ...request.headers, ...fixedHeaders } : fixedHeaders,
          body: request.body,
        }, {
          onRequestStart(started) {
            controller = started;
            if (signal?.aborted) started.abort(signal.reason);
          },
          onResponseStart(started, statusCode, headers) {
            if (statusCode < 200) return; // 1xx: the real answer follows
            body = new UpstreamBody(started);
            resolve({ statusCode, headers, body });
          },
          onResponseData(_, chunk) {
            body?.push(chunk);
          },
          onResponseEnd() {
            done();
            body?.end();
          },
          onResponseError(_, error) {
            done();
            if (body) body.fail(error);
            else reject(error);
          },
        });
      });
    },
    close: () => pool.close(),
  };
}
