// Turns an undici failure into what the client gets (an OpenAI-shaped error) and what the trace records.
import { cleanLabel } from '../calls/clean-label.ts';
import { errors } from '../errors.ts';
import type { ProxyError } from '../errors.ts';
import type { Outcome } from '../calls/llm-call.ts';
import type { Config } from '../config.ts';

export interface UpstreamFailure {
  outcome: Exclude<Outcome, 'ok' | 'stream_error' | 'upstream_error'>;
  error: ProxyError;
}

export interface FailureContext {
  clientGone: boolean;
  tooLong: boolean;
  /** The gateway ended the call itself: its shutdown drain ran out. */
  shuttingDown?: boolean;
  headersReceived: boolean;
}

/** The configured limits, named in the messages. */
export type FailureLimits = Pick<Config, 'upstreamTimeoutMs' | 'streamIdleTimeoutMs' | 'maxStreamMs'>;

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export function classifyUpstreamFailure(cause: unknown, context: FailureContext, limits: FailureLimits): UpstreamFailure {
  const code = (cause as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? code : cause instanceof Error ? cause.name : 'unknown error';
  if (context.clientGone) return { outcome: 'client_aborted', error: errors.clientGone() };
  if (context.shuttingDown) return { outcome: 'shutdown', error: errors.shuttingDown() };
  if (context.tooLong) return { outcome: 'timeout', error: errors.streamTooLong(limits.maxStreamMs / 1000) };
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return { outcome: 'timeout', error: errors.upstreamTimeout(limits.upstreamTimeoutMs / 1000) };
  if (code === 'UND_ERR_BODY_TIMEOUT') return { outcome: 'timeout', error: errors.upstreamIdle(limits.streamIdleTimeoutMs / 1000) };
  if (typeof code === 'string' && unreachableCodes.has(code)) return { outcome: 'connection_lost', error: errors.upstreamUnreachable(detail) };
  return { outcome: 'connection_lost', error: errors.upstreamLost(context.headersReceived ? detail : `${detail} before any response`) };
}

/** An upstream body no client could parse (an HTML error page, cut or garbled JSON) as an OpenAI-shaped error. */
export function unreadableAnswer(status: number, contentType: string, payload: Buffer, headers: Record<string, string>): ProxyError {
  const excerpt = cleanLabel(payload.subarray(0, 400).toString('utf8'), 100);
  const detail = `a body that is not JSON (${contentType || 'no content type'}${excerpt ? `, starting "${excerpt}"` : ', empty'})`;
  return errors.upstreamUnreadable(status, detail, headers);
}
