// Sends one OTLP/JSON trace request to Langfuse and classifies the answer for the shipper:
// delivered, worth retrying, or refused (../../shared/contracts/langfuse-otel-attributes.md, "Request-level").
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { Pool } from '../upstream/undici-pool.ts';
import { langfuseSdkName, langfuseSdkVersion } from './langfuse-names.ts';
import type { OtlpTraceRequest } from './langfuse-spans.ts';

const gzip = promisify(gzipCallback);

export interface LangfuseExporterOptions {
  host: string;
  publicKey: string;
  secretKey: string;
  /** Longest wait for the whole exchange; a stalled Langfuse counts as a retryable failure. */
  timeoutMs: number;
  /** Bodies above this are gzipped. */
  gzipAboveBytes?: number;
}

export type ExportResult =
  | { kind: 'ok' }
  /** `suspect`: a time-out or a 500/502/504, which one record of the batch may cause (not a 429, a 503, a refused connection). */
  | { kind: 'retry'; reason: string; retryAfterMs?: number; suspect?: boolean }
  | { kind: 'rejected'; status: number; reason: string };

export interface LangfuseExporter {
  /** The request as objects, as JSON text, or as JSON's UTF-8 bytes. */
  send(body: OtlpTraceRequest | string | Buffer, options?: { signal?: AbortSignal }): Promise<ExportResult>;
  close(): Promise<void>;
}

/**
 * What a 2xx answer says. Langfuse answers an object with no error in it (`{}`, a queued job) or nothing when it
 * took the batch. A batch it stored only in part (OTLP's `partialSuccess` with rejected spans, an `errors` list,
 * as in a 207) is `rejected`, so the batch is split
 * until the spans it refuses are found (a span sent twice is stored once: Langfuse upserts by id). An answer that is
 * not Langfuse's (an HTML login page from a proxy in front of it, `{"error": ...}`) stored nothing: retried.
 */
function readAcceptance(status: number, text: string, reason: string): ExportResult {
  if (text.trim() === '') return { kind: 'ok' };
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    return { kind: 'retry', reason: `${reason} (not an answer from Langfuse's API: is LANGFUSE_HOST its base URL?)` };
  }
  const fields = answer as { partialSuccess?: { rejectedSpans?: unknown }; errors?: unknown; error?: unknown };
  // rejectedSpans is an int64, which proto3 JSON may write as a string.
  const rejectedSpans = Number(fields.partialSuccess?.rejectedSpans ?? 0);
  if (rejectedSpans > 0 || (Array.isArray(fields.errors) && fields.errors.length > 0)) return { kind: 'rejected', status, reason };
  if (fields.error !== undefined && fields.error !== null && fields.error !== '') return { kind: 'retry', reason };
  return { kind: 'ok' };
}

/** Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function createLangfuseExporter(options: LangfuseExporterOptions): LangfuseExporter {
  const endpoint = new URL(`${options.host.replace(/\/+$/, '')}/api/public/otel/v1/traces`);
  const pool = new Pool(endpoint.origin, {
    connections: 4,
    keepAliveTimeout: 30_000,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  const gzipAbove = options.gzipAboveBytes ?? 64 * 1024;
  const credentials = Buffer.from(`${options.publicKey}:${options.secretKey}`).toString('base64');
  // The keys, and the Basic credentials they make: an answer (or a proxy's) may quote the request's headers.
  const secrets = [credentials, options.secretKey, options.publicKey].filter((key) => key.length > 0);
  const baseHeaders = {
    'content-type': 'application/json',
    authorization: `Basic ${credentials}`,
    'x-langfuse-sdk-name': langfuseSdkName,
    'x-langfuse-sdk-version': langfuseSdkVersion,
    'x-langfuse-ingestion-version': '4',
  };

  // Error texts come from the network or from Langfuse; keep them short and free of our keys.
  function scrub(text: string): string {
    // Replaced before the cut, so that no key survives as a prefix cut in the middle.
    let clean = text.replace(/\s+/g, ' ').trim();
    for (const secret of secrets) clean = clean.split(secret).join('***');
    return clean.slice(0, 300);
  }

  return {
    async send(body, sendOptions = {}) {
      const raw = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      const compress = raw.length > gzipAbove;
      // Level 3: as fast as level 1 here and smaller; the default (6) took twice the CPU for a smaller gain.
      const payload = compress ? await gzip(raw, { level: 3 }) : raw;
      // A body over 1 MB (one large record: batches are cut at 1 MB) gets 10 s more per MB, so a slow uplink still
      // gets it through: at a fixed 15 s, a 12 MB record over 400 kB/s timed out on every try.
      const timeoutMs = options.timeoutMs + Math.round(Math.max(0, payload.length - 1024 * 1024) / 100);
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = sendOptions.signal ? AbortSignal.any([timeout, sendOptions.signal]) : timeout;
      try {
        const response = await pool.request({
          method: 'POST',
          path: endpoint.pathname + endpoint.search,
          headers: compress ? { ...baseHeaders, 'content-encoding': 'gzip' } : baseHeaders,
          body: payload,
          signal,
          // A second after ours: the exchange's own time-out is the one that fires (undici's would race it).
          headersTimeout: timeoutMs + 1000,
          bodyTimeout: timeoutMs + 1000,
        });
        // Read the whole (small) answer so the socket goes back to the pool.
        const text = await response.body.text();
        const status = response.statusCode;
        const reason = `HTTP ${status}${text ? `: ${scrub(text)}` : ''}`;
        if (status >= 200 && status < 300) return readAcceptance(status, text, reason);
        if (status === 408 || status === 429 || status >= 500) {
          return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(response.headers['retry-after']), suspect: status === 500 || status === 502 || status === 504 };
        }
        return { kind: 'rejected', status, reason };
      } catch (error) {
        const err = error as { code?: unknown; name?: string; message?: string };
        const what = timeout.aborted ? `timed out after ${timeoutMs} ms` : err.message ?? String(error);
        // A DOMException (an abort, a time-out) has a numeric legacy code: its name says more.
        const kind = typeof err.code === 'string' ? err.code : err.name ?? 'Error';
        const timedOut = timeout.aborted || kind === 'UND_ERR_HEADERS_TIMEOUT' || kind === 'UND_ERR_BODY_TIMEOUT';
        return { kind: 'retry', reason: scrub(`${kind}: ${what}`), suspect: timedOut };
      }
    },
    // Destroy, not close: by now the shipper has stopped, and a stalled request must not hold shutdown.
    close: () => pool.destroy(),
  };
}
