// POST /chat/completions, /responses, /completions, /embeddings: forward to OpenRouter, stream without
// buffering, and record the call once it has ended. The flow: parse -> identify -> forward -> tap -> record.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../errors.ts';
import type { ProxyError } from '../errors.ts';
import type { Endpoint } from '../calls/llm-call.ts';
import { identifyCall, unsmuggledBody, unsmuggleSession } from '../calls/call-identity.ts';
import { createStreamReader, summarizeBody } from '../calls/response-summary.ts';
import { tapStream } from '../calls/stream-tap.ts';
import { backoffHeaders, forwardableHeaders, headerValue } from '../upstream/response-headers.ts';
import { readJsonBody } from '../http/read-json-body.ts';
import { unreadableAnswer } from '../upstream/upstream-failure.ts';
import type { UpstreamBody } from '../upstream/upstream-body.ts';
import { openCall } from './call-context.ts';
import type { CallContext, LlmRouteDeps } from './call-context.ts';

export type { CallRecorder, LlmRouteDeps } from './call-context.ts';

const endpoints: Array<[string, Endpoint]> = [
  ['/chat/completions', 'chat.completions'],
  ['/responses', 'responses'],
  ['/completions', 'completions'],
  ['/embeddings', 'embeddings'],
];

export function llmEndpoints(deps: LlmRouteDeps) {
  return async function routes(app: FastifyInstance) {
    for (const [path, endpoint] of endpoints) {
      app.post(path, (request, reply) => handleCall(deps, endpoint, path, request, reply));
    }
  };
}

async function handleCall(deps: LlmRouteDeps, endpoint: Endpoint, path: string, request: FastifyRequest, reply: FastifyReply) {
  const parsed = readJsonBody(request.body);
  const identity = identifyCall(endpoint, parsed.json, request.headers, deps.config.traces.defaultTags);
  const smuggled = identity.smuggledFormat;
  const body = smuggled ? unsmuggleSession(endpoint, parsed.json, identity.smuggledSessionId) : parsed.json;
  const ctx = openCall(deps, endpoint, request, reply, identity, body);

  try {
    if (!deps.upstream.configured) {
      const error = errors.missingUpstreamKey();
      await ctx.finish(error.status, {}, { outcome: 'not_configured', message: error.message });
      throw error;
    }
    let response;
    try {
      // Re-serialise only when the session id was taken out of the body; otherwise send the client's bytes.
      response = await deps.upstream.request({
        method: 'POST', path, body: smuggled ? unsmuggledBody(endpoint, parsed.raw, identity.smuggledSessionId) : parsed.raw, signal: ctx.signal,
        headers: identity.sessionHeader ? { 'x-session-id': identity.sessionHeader } : undefined,
      });
    } catch (cause) {
      return await failBeforeAnswer(ctx, reply, cause);
    }
    ctx.state.headersReceived = true;
    ctx.state.generationId = headerValue(response.headers, 'x-generation-id');
    const status = response.statusCode;
    const headers = forwardableHeaders(response.headers);
    const contentType = headerValue(response.headers, 'content-type') ?? '';
    if (status < 300 && contentType.startsWith('text/event-stream')) {
      return await forwardStream(ctx, reply, response.body, status, headers);
    }

    return await forwardBody(ctx, reply, response.body, status, headers, contentType, backoffHeaders(response.headers));
  } finally {
    ctx.close();
  }
}

/**
 * Non-streaming answers are read whole before the client sees them, so a failure half-way gives the client a
 * clean error instead of half a JSON body. Except OpenRouter's heartbeats: newlines it sends before the body
 * while a slow model works (../../shared/contracts/openrouter.md). Each goes to the client as it comes, so an
 * idle timeout between the client and us (a reverse proxy's, an HTTP client's) sees what it would see from
 * OpenRouter; the status and headers go with the first one, as OpenRouter's own did.
 */
async function forwardBody(ctx: CallContext, reply: FastifyReply, body: UpstreamBody, status: number, headers: Record<string, string | string[]>, contentType: string, retryHeaders: Record<string, string>) {
  let started = false;
  const { chunks, failure: cause } = await readWhole(body, (heartbeat) => {
    if (!started) startEarly(reply, status, headers);
    started = true;
    if (!reply.raw.destroyed) reply.raw.write(heartbeat);
  });
  const payload = ctx.withoutKey(Buffer.concat(chunks));
  const summary = summarizeBody(ctx.endpoint, payload.toString('utf8'));
  // A body that failed after its whole JSON had come (a reset before HTTP's last chunk) lost nothing: it goes out.
  if (cause !== undefined && (summary.malformed || ctx.state.clientGone)) {
    if (!started) return await failBeforeAnswer(ctx, reply, cause);
    const failure = ctx.failureOf(cause);
    await ctx.finish(failure.outcome === 'client_aborted' ? 499 : status, {}, { outcome: failure.outcome, message: failure.error.message });
    return endEarly(reply, failure.error);
  }
  if (summary.malformed) {
    if (!started) return await failUnreadable(ctx, reply, status, contentType, payload, retryHeaders);
    const error = unreadableAnswer(status, contentType, payload, retryHeaders);
    await ctx.finish(status, {}, { outcome: 'upstream_error', message: error.message });
    return endEarly(reply, error);
  }
  await ctx.finish(status, summary);
  if (started) return void reply.raw.end(payload);
  if (ctx.state.clientGone) return reply.hijack();
  return reply.code(status).headers(headers).send(payload);
}

/**
 * The body's chunks, once it has ended or failed (`failure`: what ended it); heartbeats before the first byte of
 * the body go to `onHeartbeat` instead. If `onHeartbeat` throws, the upstream body aborts the call with that error.
 */
function readWhole(body: UpstreamBody, onHeartbeat: (chunk: Buffer) => void): Promise<{ chunks: Buffer[]; failure?: Error }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    body.read({
      data(chunk) {
        if (chunks.length > 0 || !isBlank(chunk)) chunks.push(chunk);
        else onHeartbeat(chunk);
      },
      end: () => resolve({ chunks }),
      error: (failure) => resolve({ chunks, failure }),
    });
  });
}

/** Only whitespace (newlines, in practice): a heartbeat OpenRouter sends before a non-streaming body. */
function isBlank(chunk: Buffer): boolean {
  for (const byte of chunk) if (byte !== 0x0a && byte !== 0x0d && byte !== 0x20 && byte !== 0x09) return false;
  return chunk.length > 0;
}

/** The answer's status and headers, sent now, ahead of its body (which then goes chunked). */
function startEarly(reply: FastifyReply, status: number, headers: Record<string, string | string[]>) {
  reply.hijack();
  reply.raw.writeHead(status, { ...(reply.getHeaders() as Record<string, string>), ...headers });
}

/**
 * The status went out with the heartbeats, so a failure after them can only be told in the body: the error,
 * OpenAI-shaped, as the JSON the client reads (what OpenRouter does for a request that fails after work started).
 */
function endEarly(reply: FastifyReply, error: ProxyError) {
  if (!reply.raw.destroyed) reply.raw.end(JSON.stringify(error.toJSON()));
}

async function failBeforeAnswer(ctx: CallContext, reply: FastifyReply, cause: unknown) {
  const failure = ctx.failureOf(cause);
  const status = failure.outcome === 'client_aborted' ? 499 : failure.error.status;
  await ctx.finish(status, {}, { outcome: failure.outcome, message: failure.error.message });
  if (ctx.state.clientGone) return reply.hijack();
  throw failure.error;
}

/** A body no client could parse (an HTML error page, cut or garbled JSON) becomes an OpenAI-shaped error. */
async function failUnreadable(ctx: CallContext, reply: FastifyReply, status: number, contentType: string, payload: Buffer, headers: Record<string, string>) {
  const error = unreadableAnswer(status, contentType, payload, headers);
  await ctx.finish(error.status, {}, { outcome: 'upstream_error', message: error.message });
  if (ctx.state.clientGone) return reply.hijack();
  throw error;
}

/** How long stream headers wait for the first chunk to travel with. */
const headerFlushDelayMs = 10;

async function forwardStream(ctx: CallContext, reply: FastifyReply, body: UpstreamBody, status: number, headers: Record<string, string | string[]>) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(status, {
    ...(reply.getHeaders() as Record<string, string>),
    ...headers,
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  // Headers go out with the first chunk (one write, one packet), or on their own if it takes longer than
  // a moment (a model that thinks before its first token): the client learns the status either way.
  // (`res.headersSent` is already true here: it says the head is built, not that it went out. Flushing after the
  // first chunk writes nothing.)
  const flushLater = setTimeout(() => { if (!res.writableEnded && !res.destroyed) res.flushHeaders(); }, headerFlushDelayMs);
  const reader = createStreamReader(ctx.endpoint);
  const tap = await tapStream(body, res, ctx.now, reader, ctx.withoutKey);
  clearTimeout(flushLater);
  const summary = reader.summary();
  summary.streamed = true;
  if (tap.unreadable > 0) summary.malformed = tap.unreadable;
  if (ctx.state.clientGone || res.destroyed) {
    await ctx.finish(499, summary, { outcome: 'client_aborted', message: errors.clientGone().message });
    return;
  }
  // An upstream that ended without [DONE] (or the Responses API's last event) and without an error event of its own
  // failed as surely as one that dropped: OpenRouter always ends a stream with one or the other, and the client's
  // SDK will not take the answer as complete either.
  // A failure after [DONE] (a reset before HTTP's last chunk) lost nothing: the answer was whole.
  const failure = tap.failure !== undefined && !summary.done ? ctx.failureOf(tap.failure)
    : tap.unreadable > 0 && !summary.done ? { outcome: 'upstream_error' as const, error: errors.upstreamUnreadable(status, `${tap.unreadable} unreadable event(s) and no end of stream`) }
      : !summary.done && summary.error === undefined ? { outcome: 'upstream_error' as const, error: errors.streamIncomplete() }
        : undefined;
  if (failure !== undefined) {
    // The client already has a 200 and part of the stream: end it with one OpenAI-shaped error event.
    await ctx.finish(status, summary, { outcome: failure.outcome, message: failure.error.message });
    if (tap.held) res.write(tap.held);
    res.end(`data: ${JSON.stringify(failure.error.toJSON())}\n\n`);
    return;
  }
  await ctx.finish(status, summary);
  res.end(tap.held);
}
