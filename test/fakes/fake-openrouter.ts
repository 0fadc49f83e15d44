// A fake OpenRouter for tests: the request body's `model` picks the behaviour.
// Reproduces the lines marked [fake] in ../../../shared/contracts/openrouter.md.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FakeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  rawBody: string;
  receivedAt: number;
  /** Bytes of the answer written to the socket so far (head and body): shows whether a reader holds the upstream back. */
  bytesSent(): number;
}

export interface FakeAbort {
  path: string;
  model?: string;
  at: number;
  msSinceLastWrite: number;
}

export interface FakeOpenRouter {
  url: string;
  requests: FakeRequest[];
  aborts: FakeAbort[];
  waitForAbort(timeoutMs?: number): Promise<FakeAbort>;
  reset(): void;
  close(): Promise<void>;
}

export interface FakeOpenRouterOptions {
  apiKey?: string;
  host?: string;
}

export const FAKE_CONTENT = 'Hello from fake OpenRouter';
export const FAKE_REASONING = 'Let me think step by step.';
export const FAKE_REASONING_CONTENT = 'The answer is 42.';
export const FAKE_TOOL_CALL = {
  id: 'call_abc123',
  name: 'get_weather',
  arguments: '{"city":"Paris","unit":"celsius"}',
} as const;
export const FAKE_USAGE = {
  prompt_tokens: 12,
  completion_tokens: 7,
  total_tokens: 19,
  prompt_tokens_details: { cached_tokens: 2 },
  completion_tokens_details: { reasoning_tokens: 0 },
  cost: 0.00042,
  is_byok: false,
  cost_details: { upstream_inference_cost: 0.00042 },
};
export const FAKE_REASONING_USAGE = { ...FAKE_USAGE, completion_tokens_details: { reasoning_tokens: 5 } };

type Usage = typeof FAKE_USAGE;
type Json = Record<string, unknown>;

const DEFAULT_MODEL = 'openai/gpt-4o-mini';
const PROVIDER = 'FakeProvider';
const CONTENT_PIECES = ['Hello', ' from', ' fake', ' Open', 'Router'];
const COMMENT = ': OPENROUTER PROCESSING\n\n';
const DONE = 'data: [DONE]\n\n';
const HEARTBEAT_MS = 50;
const JSON_TYPE = { 'Content-Type': 'application/json' };
const ERROR_AFTER_WORK = { code: 502, message: 'Upstream provider failed after work started' };
const PROVIDER_DISCONNECTED = { code: 502, message: 'Provider disconnected' };
const ERROR_MESSAGES: Record<number, string> = {
  400: 'Invalid request',
  401: 'No auth credentials found',
  402: 'Insufficient credits. Add more using https://openrouter.ai/settings/credits',
  403: 'Input was flagged by moderation',
  404: 'No endpoints found for this model',
  408: 'Request timed out',
  413: 'Request entity too large',
  422: 'Unprocessable entity',
  429: 'Rate limit exceeded',
  500: 'Internal Server Error',
  502: 'Provider returned error',
  503: 'No available provider',
  524: 'Provider timed out',
  529: 'Provider overloaded',
};

/** One request in flight: what arrived, and how far the answer got. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  request: FakeRequest;
  generationId: string;
  created: number;
  model: string | undefined;
  stream: boolean;
  signal: AbortSignal;
  lastWriteAt: number;
  closedByFake: boolean;
}

interface Context {
  apiKey: string | undefined;
  requests: FakeRequest[];
  generations: Map<string, { model: string; streamed: boolean }>;
}

interface Scenario {
  name: string;
  params: string[];
}

/** What the assistant says, both as one message and as stream deltas. */
interface Answer {
  model: string;
  provider: string;
  message: Json;
  deltas: Json[];
  finishReason: string;
  usage: Usage;
}

/** heartbeats undefined: the usual 2 leading SSE comments and no newline prefix on JSON bodies. */
interface Pace {
  heartbeats?: number;
  /** Non-streaming, after the heartbeats: half the JSON body then a reset, or an HTML page instead of JSON. */
  afterHeartbeats?: 'drop' | 'garbage';
  chunkMs: number;
  delayMs: number;
}

export async function startFakeOpenRouter(options: FakeOpenRouterOptions = {}): Promise<FakeOpenRouter> {
  const host = options.host ?? '127.0.0.1';
  const requests: FakeRequest[] = [];
  const aborts: FakeAbort[] = [];
  const context: Context = { apiKey: options.apiKey, requests, generations: new Map() };
  const waiters: Array<{ resolve: (abort: FakeAbort) => void; reject: (error: Error) => void }> = [];
  let delivered = 0;
  let closing = false;

  // Each waiter takes the oldest abort no waiter has taken yet, so an abort that lands just before
  // waitForAbort() is called is not lost.
  const deliverAborts = (): void => {
    while (waiters.length > 0 && delivered < aborts.length) {
      const abort = aborts[delivered++];
      if (abort !== undefined) waiters.shift()?.resolve(abort);
    }
  };

  const server = createServer((req, res) => {
    const controller = new AbortController();
    const receivedAt = Date.now();
    const sentBefore = req.socket.bytesWritten;
    const exchange: Exchange = {
      req,
      res,
      request: { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: '', rawBody: '', receivedAt, bytesSent: () => req.socket.bytesWritten - sentBefore },
      generationId: `gen-${Math.floor(receivedAt / 1000)}-${randomToken(20)}`,
      created: Math.floor(receivedAt / 1000),
      model: undefined,
      stream: false,
      signal: controller.signal,
      lastWriteAt: receivedAt,
      closedByFake: false,
    };
    req.on('error', () => {}); // a client that hangs up mid-upload is reported through res 'close'
    res.on('close', () => {
      if (res.writableEnded) return;
      controller.abort(); // cancels every pending timer and write of this request
      if (exchange.closedByFake || closing) return;
      const at = Date.now();
      aborts.push({ path: exchange.request.path, model: exchange.model, at, msSinceLastWrite: at - exchange.lastWriteAt });
      deliverAborts();
    });
    serve(exchange, context).catch((error: unknown) => failSafely(exchange, error));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}/api/v1`,
    requests,
    aborts,
    waitForAbort(timeoutMs = 2000) {
      return new Promise<FakeAbort>((resolve, reject) => {
        const waiter = {
          resolve: (abort: FakeAbort) => {
            clearTimeout(timer);
            resolve(abort);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`fake OpenRouter saw no abort within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
        deliverAborts();
      });
    },
    reset() {
      requests.length = 0;
      aborts.length = 0;
      delivered = 0;
      context.generations.clear();
    },
    close() {
      closing = true;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error('fake OpenRouter closed'));
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function serve(ex: Exchange, context: Context): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of ex.req) chunks.push(chunk as Buffer);
  ex.request.rawBody = Buffer.concat(chunks).toString('utf8');
  ex.request.body = parseJson(ex.request.rawBody);
  context.requests.push(ex.request);
  const body = isRecord(ex.request.body) ? ex.request.body : {};
  ex.model = typeof body.model === 'string' ? body.model : undefined;
  ex.stream = body.stream === true;
  if (ex.model !== undefined) context.generations.set(ex.generationId, { model: ex.model, streamed: ex.stream });
  await route(ex, context);
}

async function route(ex: Exchange, context: Context): Promise<void> {
  if (context.apiKey !== undefined && ex.req.headers.authorization !== `Bearer ${context.apiKey}`) {
    return sendJson(ex, 401, { error: { code: 401, message: ERROR_MESSAGES[401] } });
  }
  const url = new URL(ex.request.path, 'http://fake');
  // Only the real base URL is served, so a gateway that drops the /api/v1 prefix gets a 404.
  const endpoint = url.pathname.startsWith('/api/v1/') ? url.pathname.slice('/api/v1'.length) : '';
  const scenario = scenarioOf(ex.model);
  switch (`${ex.request.method} ${endpoint}`) {
    case 'GET /models':
      // `?scenario=html-502` (or any other failure scenario) fails the model list the same way.
      if (failBeforeAnswer(ex, scenarioOf(url.searchParams.has('scenario') ? `fake/${url.searchParams.get('scenario')}` : undefined))) return undefined;
      return sendJson(ex, 200, { data: FAKE_MODELS });
    case 'GET /key':
      return sendJson(ex, 200, { data: FAKE_KEY });
    case 'GET /generation':
      return sendGeneration(ex, context, url.searchParams.get('id'));
    case 'POST /chat/completions':
      return failBeforeAnswer(ex, scenario) ? undefined : handleChat(ex, scenario);
    case 'POST /responses':
      return failBeforeAnswer(ex, scenario) ? undefined : handleResponses(ex);
    case 'POST /completions':
      return failBeforeAnswer(ex, scenario) ? undefined : handleLegacyCompletions(ex);
    case 'POST /embeddings':
      return failBeforeAnswer(ex, scenario) ? undefined : handleEmbeddings(ex);
  }
  return sendJson(ex, 404, { error: { code: 404, message: `Not Found: ${ex.request.method} ${url.pathname}` } });
}

function failSafely(ex: Exchange, error: unknown): void {
  // The client left (maybe mid-upload, before 'close' fired) or the fake is closing: nobody to answer.
  if (ex.signal.aborted || ex.req.socket.destroyed) return;
  if (!ex.res.headersSent) {
    sendJson(ex, 500, { error: { code: 500, message: `fake OpenRouter bug: ${String(error)}` } });
    return;
  }
  destroyConnection(ex);
}

// ---- scenarios shared by every model endpoint: they fail before any byte of the answer ----

function failBeforeAnswer(ex: Exchange, scenario: Scenario | undefined): boolean {
  switch (scenario?.name) {
    case 'status':
      sendStatusError(ex, statusParam(scenario));
      return true;
    case 'echo-error':
      // What a debugging proxy in front of OpenRouter may answer: an error that quotes the request's headers.
      sendJson(ex, 400, { error: { code: 400, message: `Bad request; you sent ${JSON.stringify(ex.request.headers)}` } });
      return true;
    case 'availability':
      sendJson(ex, 503, {
        error: {
          message: 'No endpoints available for this model right now',
          error_type: 'provider_unavailable',
          http_status: 503,
          availability: { code: 'no_endpoints', retryable: true, retry_after: 5 },
        },
      });
      return true;
    case 'html-502': {
      const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
      head(ex, 502, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(html) });
      ex.res.end(html);
      return true;
    }
    case 'html-429': {
      // A rate limit answered by a proxy in front of OpenRouter: HTML, but with the back-off headers.
      const html = '<html><body><h1>429 Too Many Requests</h1></body></html>';
      head(ex, 429, {
        'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(html), 'Retry-After': '7',
        'X-RateLimit-Limit': '20', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1764201600000',
      });
      ex.res.end(html);
      return true;
    }
    case 'reset':
      destroyConnection(ex);
      return true;
    case 'stall-headers':
      return true; // the response stays open until the client gives up
    default:
      return false;
  }
}

function statusParam(scenario: Scenario): number {
  const code = numberParam(scenario, 0, 500);
  return Number.isInteger(code) && code >= 400 && code <= 599 ? code : 500;
}

function sendStatusError(ex: Exchange, code: number): void {
  const error: Json = { code, message: ERROR_MESSAGES[code] ?? `Fake upstream error ${code}` };
  if (code === 403) {
    error.metadata = { reasons: ['violence'], flagged_input: 'a request the moderator flagged...', provider_name: PROVIDER, model_slug: ex.model };
  }
  if (code === 502) error.metadata = { provider_name: PROVIDER, raw: 'upstream connection reset' };
  sendJson(ex, code, { error }, retryHeaders(code));
}

function retryHeaders(code: number): OutgoingHttpHeaders {
  if (code === 503) return { 'Retry-After': '2' };
  if (code !== 429) return {};
  const nextMinute = Math.ceil((Date.now() + 1) / 60_000) * 60_000;
  return { 'Retry-After': '1', 'X-RateLimit-Limit': '20', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(nextMinute) };
}

// ---- POST /chat/completions ----

async function handleChat(ex: Exchange, scenario: Scenario | undefined): Promise<void> {
  const model = ex.model ?? DEFAULT_MODEL;
  const prompt: Pace = { chunkMs: 0, delayMs: 0 };
  const deliver = (answer: Answer, pace: Pace = prompt): Promise<void> =>
    ex.stream ? streamChat(ex, answer, pace) : answerChat(ex, answer, pace);
  const normal = textAnswer(model, PROVIDER, CONTENT_PIECES);
  if (scenario === undefined) return deliver(normal);

  switch (scenario.name) {
    case 'fallback':
      return deliver(textAnswer('fake/fallback-used', 'FallbackProvider', CONTENT_PIECES));
    case 'tool-call':
      return deliver(toolCallAnswer(model));
    case 'reasoning':
      return deliver(reasoningAnswer(model));
    case 'heartbeat': {
      const then = scenario.params[1];
      return deliver(normal, { ...prompt, heartbeats: numberParam(scenario, 0, 3), ...(then === 'drop' || then === 'garbage' ? { afterHeartbeats: then } : {}) });
    }
    case 'pause': {
      const ms = numberParam(scenario, 0, 300);
      return deliver(normal, { chunkMs: ms, delayMs: ms });
    }
    case 'slow-stream': {
      const count = numberParam(scenario, 0, 100);
      const intervalMs = numberParam(scenario, 1, 100);
      const pieces = Array.from({ length: count }, (_, index) => `t${index} `);
      return deliver(textAnswer(model, PROVIDER, pieces), { chunkMs: intervalMs, delayMs: count * intervalMs });
    }
    case 'big':
      return deliver(textAnswer(model, PROVIDER, slices(bigText(numberParam(scenario, 0, 10)), 64 * 1024)));
    case 'echo': {
      const echo = JSON.stringify({ headers: ex.request.headers, body: ex.request.body });
      return deliver(textAnswer(model, PROVIDER, slices(echo, Math.ceil(echo.length / 5))));
    }
    case 'error-200':
      return ex.stream ? streamFailure(ex, model, 0, ERROR_AFTER_WORK, false) : sendJson(ex, 200, failedCompletion(ex, model));
    case 'mid-stream-error':
      return ex.stream
        ? streamFailure(ex, model, 2, PROVIDER_DISCONNECTED, scenario.params[0] === 'done')
        : sendJson(ex, 200, failedCompletion(ex, model));
    case 'drop':
      return ex.stream ? streamThenDrop(ex, model, numberParam(scenario, 0, 2)) : answerHalfThenDrop(ex, normal);
    case 'reset-after-end':
      // The whole answer (the stream with its [DONE]), then the connection reset before the body's last chunk.
      return ex.stream ? streamWholeThenDrop(ex, model) : answerWholeThenDrop(ex, normal);
    case 'echo-error-event': {
      // A stream that fails with an error event quoting the request's headers (a proxy in front of OpenRouter).
      if (!ex.stream) return deliver(normal);
      await streamOpening(ex, model, 2);
      const error = { code: 502, message: `Upstream failed; you sent ${JSON.stringify(ex.request.headers)}` };
      await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [{ index: 0, delta: { content: '' }, finish_reason: 'error' }], { error })));
      return end(ex, DONE);
    }
    case 'done-open':
      // The whole stream with its [DONE], then the response stays open for 3 s before its last HTTP chunk.
      if (!ex.stream) return deliver(normal);
      await streamOpening(ex, model, CONTENT_PIECES.length);
      await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [{ index: 0, delta: {}, finish_reason: 'stop' }])));
      await write(ex, DONE);
      await wait(ex, 3000);
      return end(ex, undefined);
    case 'quiet': {
      // Headers at once, then N ms without a byte (a model that thinks and sends no keep-alive comment), then the answer.
      if (!ex.stream) return deliver(normal);
      openSse(ex);
      ex.res.flushHeaders();
      await wait(ex, numberParam(scenario, 0, 800));
      await streamOpening(ex, model, CONTENT_PIECES.length, false);
      await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [{ index: 0, delta: {}, finish_reason: 'stop' }])));
      return end(ex, DONE);
    }
    case 'done-tail':
      // The stream's last write is its [DONE] and, after it, an unfinished comment line (no blank line).
      if (!ex.stream) return deliver(normal);
      await streamOpening(ex, model, CONTENT_PIECES.length);
      await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [{ index: 0, delta: {}, finish_reason: 'stop' }])));
      return end(ex, `${DONE}: bye`);
    case 'cut':
      // The response ends cleanly after N content chunks: no finish reason, no usage, no [DONE] (an answer a proxy cut).
      if (!ex.stream) return deliver(normal);
      await streamOpening(ex, model, numberParam(scenario, 0, 2));
      return end(ex, undefined);
    case 'stall-mid':
      return stallMid(ex, model);
    case 'garbage-sse':
      return sendGarbage(ex, model);
    default:
      return sendJson(ex, 400, { error: { code: 400, message: `${model} is not a valid model ID` } });
  }
}

function textAnswer(model: string, provider: string, pieces: string[], usage: Usage = FAKE_USAGE): Answer {
  return {
    model,
    provider,
    message: { role: 'assistant', content: pieces.join('') },
    deltas: pieces.map((content) => ({ content })),
    finishReason: 'stop',
    usage,
  };
}

function toolCallAnswer(model: string): Answer {
  const { id, name, arguments: args } = FAKE_TOOL_CALL;
  const argumentPieces = ['{"city":', '"Paris",', '"unit":', '"celsius"}'];
  return {
    model,
    provider: PROVIDER,
    message: { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name, arguments: args } }] },
    deltas: [
      { tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }] },
      ...argumentPieces.map((piece) => ({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
    ],
    finishReason: 'tool_calls',
    usage: FAKE_USAGE,
  };
}

function reasoningAnswer(model: string): Answer {
  const detail = (text: string): Json => ({ type: 'reasoning.text', text, format: 'unknown', index: 0 });
  const answer = textAnswer(model, PROVIDER, ['The answer', ' is 42.'], FAKE_REASONING_USAGE);
  const thoughts = ['Let me', ' think', ' step by step.'].map((text) => ({ content: '', reasoning: text, reasoning_details: [detail(text)] }));
  return {
    ...answer,
    message: { ...answer.message, reasoning: FAKE_REASONING, reasoning_details: [detail(FAKE_REASONING)] },
    deltas: [...thoughts, ...answer.deltas],
  };
}

function completionOf(ex: Exchange, answer: Answer): Json {
  return {
    id: ex.generationId,
    provider: answer.provider,
    model: answer.model,
    object: 'chat.completion',
    created: ex.created,
    choices: [
      { index: 0, logprobs: null, finish_reason: answer.finishReason, native_finish_reason: answer.finishReason, message: answer.message },
    ],
    usage: answer.usage,
  };
}

function failedCompletion(ex: Exchange, model: string): Json {
  return { id: ex.generationId, object: 'chat.completion', created: ex.created, model, provider: PROVIDER, choices: [], error: ERROR_AFTER_WORK };
}

function chunkOf(ex: Exchange, source: { model: string; provider: string }, choices: Json[], extra: Json = {}): Json {
  return { id: ex.generationId, provider: source.provider, model: source.model, object: 'chat.completion.chunk', created: ex.created, choices, ...extra };
}

function choiceOf(delta: Json, finishReason: string | null = null): Json {
  return { index: 0, delta, finish_reason: finishReason, native_finish_reason: finishReason, logprobs: null };
}

async function answerChat(ex: Exchange, answer: Answer, pace: Pace): Promise<void> {
  await wait(ex, pace.delayMs);
  if (pace.heartbeats === undefined) return sendJson(ex, 200, completionOf(ex, answer));
  head(ex, 200, JSON_TYPE);
  await writeRepeatedly(ex, '\n', pace.heartbeats, HEARTBEAT_MS);
  const text = JSON.stringify(completionOf(ex, answer));
  if (pace.afterHeartbeats === 'drop') {
    await write(ex, text.slice(0, Math.floor(text.length / 2)));
    return destroyConnection(ex);
  }
  end(ex, pace.afterHeartbeats === 'garbage' ? '<html><body>502 Bad Gateway</body></html>' : text);
}

async function streamChat(ex: Exchange, answer: Answer, pace: Pace): Promise<void> {
  openSse(ex);
  if (pace.heartbeats === undefined) await writeRepeatedly(ex, COMMENT, 2, 0);
  else await writeRepeatedly(ex, COMMENT, pace.heartbeats, HEARTBEAT_MS);
  await write(ex, sse(chunkOf(ex, answer, [choiceOf({ role: 'assistant', content: '' })])));
  for (const delta of answer.deltas) {
    await wait(ex, pace.chunkMs);
    await write(ex, sse(chunkOf(ex, answer, [choiceOf(delta)])));
  }
  await wait(ex, pace.chunkMs);
  await write(ex, sse(chunkOf(ex, answer, [choiceOf({ role: 'assistant', content: '' }, answer.finishReason)])));
  await write(ex, sse(chunkOf(ex, answer, [], { usage: answer.usage })));
  end(ex, DONE);
}

/** Opens a normal stream: comments, the role chunk, then `contentCount` content chunks. */
async function streamOpening(ex: Exchange, model: string, contentCount: number, withHead = true): Promise<void> {
  const source = { model, provider: PROVIDER };
  if (withHead) openSse(ex);
  await writeRepeatedly(ex, COMMENT, 2, 0);
  await write(ex, sse(chunkOf(ex, source, [choiceOf({ role: 'assistant', content: '' })])));
  for (let index = 0; index < contentCount; index++) {
    const content = CONTENT_PIECES[index % CONTENT_PIECES.length];
    await write(ex, sse(chunkOf(ex, source, [choiceOf({ content })])));
  }
}

async function streamFailure(ex: Exchange, model: string, contentCount: number, error: Json, done: boolean): Promise<void> {
  await streamOpening(ex, model, contentCount);
  const choices = [{ index: 0, delta: { content: '' }, finish_reason: 'error' }];
  await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, choices, { error })));
  end(ex, done ? DONE : undefined);
}

async function streamThenDrop(ex: Exchange, model: string, contentCount: number): Promise<void> {
  await streamOpening(ex, model, contentCount);
  destroyConnection(ex);
}

async function streamWholeThenDrop(ex: Exchange, model: string): Promise<void> {
  await streamOpening(ex, model, CONTENT_PIECES.length);
  await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [{ index: 0, delta: {}, finish_reason: 'stop' }])));
  await write(ex, DONE);
  await wait(ex, 20);
  destroyConnection(ex);
}

async function answerWholeThenDrop(ex: Exchange, answer: Answer): Promise<void> {
  head(ex, 200, JSON_TYPE);
  await write(ex, JSON.stringify(completionOf(ex, answer)));
  await wait(ex, 20);
  destroyConnection(ex);
}

async function answerHalfThenDrop(ex: Exchange, answer: Answer): Promise<void> {
  const text = JSON.stringify(completionOf(ex, answer));
  head(ex, 200, JSON_TYPE);
  await write(ex, text.slice(0, Math.floor(text.length / 2)));
  destroyConnection(ex);
}

async function stallMid(ex: Exchange, model: string): Promise<void> {
  if (ex.stream) {
    openSse(ex);
    await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [choiceOf({ role: 'assistant', content: 'Hello' })])));
  } else {
    head(ex, 200, JSON_TYPE);
    await write(ex, '{"id":');
  }
  // Silent from here: only the client giving up ends this exchange.
}

async function sendGarbage(ex: Exchange, model: string): Promise<void> {
  if (!ex.stream) {
    head(ex, 200, JSON_TYPE);
    return end(ex, '{"id": "gen-x", "choices": [');
  }
  openSse(ex);
  await write(ex, sse(chunkOf(ex, { model, provider: PROVIDER }, [choiceOf({ role: 'assistant', content: 'Hello' })])));
  await write(ex, 'data: {not json\n\n');
  await write(ex, 'event: weird\n\n');
  await write(ex, Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x1b, 0x5b, 0x32, 0x4a, 0x0a, 0x0a]));
  end(ex);
}

// ---- POST /responses, POST /completions, POST /embeddings ----

async function handleResponses(ex: Exchange): Promise<void> {
  const model = ex.model ?? DEFAULT_MODEL;
  const itemId = `msg_${randomToken(24)}`;
  const part = (text: string): Json => ({ type: 'output_text', text, annotations: [] });
  const item = { type: 'message', id: itemId, status: 'completed', role: 'assistant', content: [part(FAKE_CONTENT)] };
  const usage = {
    input_tokens: 12,
    output_tokens: 7,
    total_tokens: 19,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
    cost: 0.00042,
  };
  const response = (status: string, output: Json[], usageSoFar: Json | null): Json => ({
    id: ex.generationId,
    object: 'response',
    created_at: ex.created,
    model,
    status,
    output,
    usage: usageSoFar,
  });
  const completed = response('completed', [item], usage);
  if (!ex.stream) return sendJson(ex, 200, completed);

  openSse(ex);
  let sequence = 0;
  const emit = (type: string, fields: Json): Promise<void> =>
    write(ex, `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`);
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  await emit('response.created', { response: response('in_progress', [], null) });
  await emit('response.in_progress', { response: response('in_progress', [], null) });
  await emit('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
  await emit('response.content_part.added', { ...at, part: part('') });
  for (const delta of CONTENT_PIECES) await emit('response.output_text.delta', { ...at, delta, logprobs: [] });
  await emit('response.output_text.done', { ...at, text: FAKE_CONTENT, logprobs: [] });
  await emit('response.content_part.done', { ...at, part: part(FAKE_CONTENT) });
  await emit('response.output_item.done', { output_index: 0, item });
  await emit('response.completed', { response: completed });
  end(ex, DONE);
}

async function handleLegacyCompletions(ex: Exchange): Promise<void> {
  const base = { id: ex.generationId, object: 'text_completion', created: ex.created, model: ex.model ?? DEFAULT_MODEL, provider: PROVIDER };
  const choice = (text: string, finishReason: string | null): Json => ({ text, index: 0, finish_reason: finishReason, logprobs: null });
  if (!ex.stream) return sendJson(ex, 200, { ...base, choices: [choice(FAKE_CONTENT, 'stop')], usage: FAKE_USAGE });
  openSse(ex);
  await writeRepeatedly(ex, COMMENT, 2, 0);
  for (const text of CONTENT_PIECES) await write(ex, sse({ ...base, choices: [choice(text, null)] }));
  await write(ex, sse({ ...base, choices: [choice('', 'stop')] }));
  await write(ex, sse({ ...base, choices: [], usage: FAKE_USAGE }));
  end(ex, DONE);
}

function handleEmbeddings(ex: Exchange): void {
  sendJson(ex, 200, {
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [0.0123, -0.0456, 0.0789, -0.1011, 0.1213, -0.1415, 0.1617, -0.1819] }],
    model: ex.model ?? 'openai/text-embedding-3-small',
    usage: { prompt_tokens: 4, total_tokens: 4, cost: 0.00001 },
  });
}

// ---- GET /models, /key, /generation ----

function sendGeneration(ex: Exchange, context: Context, id: string | null): void {
  if (id === null || id === '') return sendJson(ex, 400, { error: { code: 400, message: 'Missing generation id' } });
  const known = context.generations.get(id);
  sendJson(ex, 200, {
    data: {
      id,
      total_cost: 0.00042,
      created_at: new Date().toISOString(),
      model: known?.model ?? DEFAULT_MODEL,
      origin: '',
      usage: 0.00042,
      is_byok: false,
      upstream_inference_cost: 0.00042,
      streamed: known?.streamed ?? false,
      cancelled: false,
      provider_name: PROVIDER,
      latency: 120,
      generation_time: 100,
      finish_reason: 'stop',
      native_finish_reason: 'stop',
      tokens_prompt: 12,
      tokens_completion: 7,
      native_tokens_prompt: 12,
      native_tokens_completion: 7,
      native_tokens_reasoning: 0,
      native_tokens_cached: 2,
    },
  });
}

const FAKE_KEY = {
  label: 'sk-or-v1-fak...key',
  limit: null,
  limit_remaining: null,
  usage: 0.00042,
  is_free_tier: false,
  is_provisioning_key: false,
  rate_limit: { requests: 20, interval: '10s' },
};

function fakeModel(id: string, name: string, contextLength: number, prompt: string, completion: string, tokenizer: string): Json {
  return {
    id,
    canonical_slug: id,
    name,
    created: 1_721_260_800,
    description: `${name}, served by the fake OpenRouter.`,
    context_length: contextLength,
    architecture: { modality: 'text->text', input_modalities: ['text'], output_modalities: ['text'], tokenizer, instruct_type: null },
    pricing: { prompt, completion, request: '0', image: '0', web_search: '0', internal_reasoning: '0' },
    top_provider: { context_length: contextLength, max_completion_tokens: 16_384, is_moderated: false },
    per_request_limits: null,
    supported_parameters: ['max_tokens', 'temperature', 'top_p', 'stop', 'tools', 'tool_choice', 'response_format', 'structured_outputs'],
  };
}

const FAKE_MODELS = [
  fakeModel('openai/gpt-4o-mini', 'OpenAI: GPT-4o-mini', 128_000, '0.00000015', '0.0000006', 'GPT'),
  fakeModel('anthropic/claude-3.5-sonnet', 'Anthropic: Claude 3.5 Sonnet', 200_000, '0.000003', '0.000015', 'Claude'),
  fakeModel('meta-llama/llama-3.1-8b-instruct', 'Meta: Llama 3.1 8B Instruct', 131_072, '0.00000002', '0.00000005', 'Llama3'),
];

// ---- wire helpers ----

function head(ex: Exchange, status: number, headers: OutgoingHttpHeaders): void {
  ex.res.writeHead(status, { 'X-Generation-Id': ex.generationId, ...headers });
  ex.lastWriteAt = Date.now();
}

function sendJson(ex: Exchange, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  head(ex, status, { ...JSON_TYPE, 'Content-Length': Buffer.byteLength(text), ...headers });
  end(ex, text);
}

function openSse(ex: Exchange): void {
  head(ex, 200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
}

function sse(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/** Resolves once the bytes reach the socket, so a following destroy cannot swallow them. */
function write(ex: Exchange, data: string | Uint8Array): Promise<void> {
  ex.signal.throwIfAborted();
  ex.lastWriteAt = Date.now();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(ex.signal.reason);
    ex.signal.addEventListener('abort', onAbort, { once: true });
    ex.res.write(data, () => {
      ex.signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

async function writeRepeatedly(ex: Exchange, data: string, count: number, spacingMs: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    await write(ex, data);
    await wait(ex, spacingMs);
  }
}

function end(ex: Exchange, data?: string): void {
  ex.lastWriteAt = Date.now();
  if (data === undefined) ex.res.end();
  else ex.res.end(data);
}

function wait(ex: Exchange, ms: number): Promise<void> {
  return ms > 0 ? sleep(ms, undefined, { signal: ex.signal }) : Promise.resolve();
}

function destroyConnection(ex: Exchange): void {
  ex.closedByFake = true;
  ex.req.socket.destroy();
}

// ---- small pure helpers ----

function scenarioOf(model: string | undefined): Scenario | undefined {
  if (model === undefined || !model.startsWith('fake/')) return undefined;
  const [name = '', ...params] = model.slice('fake/'.length).split(':');
  return { name, params };
}

function numberParam(scenario: Scenario, index: number, fallback: number): number {
  const raw = scenario.params[index];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

function slices(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let start = 0; start < text.length; start += size) pieces.push(text.slice(start, start + size));
  return pieces;
}

function bigText(megabytes: number): string {
  const sentence = 'The quick brown fox jumps over the lazy dog. ';
  const length = Math.round(megabytes * 1024 * 1024);
  return sentence.repeat(Math.ceil(length / sentence.length)).slice(0, length);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomToken(length: number): string {
  let token = '';
  for (const byte of randomBytes(length)) token += ID_ALPHABET.charAt(byte % ID_ALPHABET.length);
  return token;
}
