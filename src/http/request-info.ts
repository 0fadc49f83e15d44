// What a route tells the request log line about the call (method, path, status and duration come from Fastify).
import type { Outcome } from '../calls/llm-call.ts';

export interface CallInfo {
  model?: string;
  stream: boolean;
  sessionId?: string;
  traceId?: string;
  outcome?: Outcome;
  status?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    callInfo?: CallInfo;
  }
}
