// Per-call state shared by the LLM routes: ids, timing, client-gone and time-limit tracking, and `finish`,
// which builds the call record and journals it (resolving once it is durable).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Endpoint, LlmCall } from '../calls/llm-call.ts';
import { headerText } from '../calls/call-identity.ts';
import type { CallIdentity } from '../calls/call-identity.ts';
import { buildCall } from '../calls/build-call.ts';
import { newCallId } from '../calls/call-id.ts';
import type { CallFacts } from '../calls/build-call.ts';
import type { ResponseSummary } from '../calls/response-summary.ts';
import { cleanLabel } from '../calls/clean-label.ts';
import type { UpstreamClient } from '../upstream/openrouter-client.ts';
import { classifyUpstreamFailure } from '../upstream/upstream-failure.ts';
import type { UpstreamFailure } from '../upstream/upstream-failure.ts';

export interface CallRecorder {
  /** Journals the call; resolves once it is durable. Never rejects. */
  record(call: LlmCall): Promise<void>;
}

export interface LlmRouteDeps {
  config: Config;
  upstream: UpstreamClient;
  recorder: CallRecorder;
  now: () => number;
  /** Calls in flight, each as the function that ends it for a shutdown (see createApp's endRunningCalls). */
  running?: Set<() => void>;
}

export type CallContext = ReturnType<typeof openCall>;

export function openCall(deps: LlmRouteDeps, endpoint: Endpoint, request: FastifyRequest, reply: FastifyReply, identity: CallIdentity, body: Record<string, unknown>) {
  const { config, now } = deps;
  const startTime = now();
  const id = newCallId();
  const stream = body.stream === true;
  const traced = config.traces.sampleRate >= 1 || Math.random() < config.traces.sampleRate;
  const state = {
    clientGone: false, tooLong: false, shuttingDown: false, headersReceived: false,
    /** OpenRouter's `X-Generation-Id` header: the generation id of answers whose body has none (embeddings, errors). */
    generationId: undefined as string | undefined,
  };
  const controller = new AbortController();
  const info: NonNullable<FastifyRequest['callInfo']> = {
    model: typeof body.model === 'string' ? body.model : undefined, stream, sessionId: identity.sessionId, traceId: traced ? id : undefined,
  };
  request.callInfo = info;
  if (traced) reply.header('x-trace-id', id);

  // The client went away: abort the upstream at once so no more tokens are generated (and billed).
  const onClose = () => {
    if (reply.raw.writableFinished) return;
    state.clientGone = true;
    controller.abort();
  };
  reply.raw.on('close', onClose);
  const maxTimer = setTimeout(() => { state.tooLong = true; controller.abort(); }, config.maxStreamMs).unref();
  // A shutdown whose drain ran out ends the call like a time limit: the client gets an error, the trace says why.
  const endForShutdown = () => { state.shuttingDown = true; controller.abort(); };
  deps.running?.add(endForShutdown);
  // `client` is the user agent: the client's own metadata cannot hold that key (call-identity.ts).
  const agent = cleanLabel(headerText(request.headers['user-agent']), 120);
  const metadata = agent ? { ...identity.metadata, client: agent } : identity.metadata;

  return {
    endpoint,
    now,
    state,
    signal: controller.signal,
    withoutKey: deps.upstream.withoutKey,
    failureOf(cause: unknown): UpstreamFailure {
      return classifyUpstreamFailure(cause, state, config);
    },
    async finish(status: number, answer: ResponseSummary, failure?: CallFacts['failure']): Promise<void> {
      const summary = answer.generationId === undefined && state.generationId !== undefined ? { ...answer, generationId: state.generationId } : answer;
      const call = buildCall({
        id, endpoint, identity, body, stream, startTime, endTime: now(), status, summary, failure,
        captureContent: config.traces.captureContent, metadata,
        release: config.traces.release, environment: config.traces.environment,
      });
      info.outcome = call.outcome;
      info.status = status;
      if (traced) await deps.recorder.record(call);
    },
    close() {
      clearTimeout(maxTimer);
      deps.running?.delete(endForShutdown);
      reply.raw.off('close', onClose);
    },
  };
}
