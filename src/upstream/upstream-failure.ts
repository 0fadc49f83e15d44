// Turns an undici failure into what the client gets (an OpenAI-shaped error) and what the trace records.
import { errors } from '../errors.ts';
import type { ProxyError } from '../errors.ts';
import type { Outcome } from '../calls/llm-call.ts';

export interface UpstreamFailure {
  outcome: Exclude<Outcome, 'ok' | 'stream_error' | 'upstream_error'>;
  error: ProxyError;
}

export interface FailureContext {
  clientGone: boolean;
  tooLong: boolean;
  headersReceived: boolean;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  maxStreamMs: number;
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export function classifyUpstreamFailure(cause: unknown, context: FailureContext): UpstreamFailure {
  const code = (cause as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? code : cause instanceof Error ? cause.name : 'unknown error';
  if (context.clientGone) return { outcome: 'client_aborted', error: errors.upstreamLost('client closed the connection') };
  if (context.tooLong) return { outcome: 'timeout', error: errors.streamTooLong(context.maxStreamMs / 1000) };
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return { outcome: 'timeout', error: errors.upstreamTimeout(context.headersTimeoutMs / 1000) };
  if (code === 'UND_ERR_BODY_TIMEOUT') return { outcome: 'timeout', error: errors.upstreamIdle(context.idleTimeoutMs / 1000) };
  if (typeof code === 'string' && unreachableCodes.has(code)) return { outcome: 'connection_lost', error: errors.upstreamUnreachable(detail) };
  return { outcome: 'connection_lost', error: errors.upstreamLost(context.headersReceived ? detail : `${detail} before any response`) };
}
