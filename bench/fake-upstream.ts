// A fast OpenRouter stand-in for the benchmarks: pre-serialised answers, no JSON parsing on the hot path.
// Runs in its own process (forked by run.ts) so it never shares an event loop with what is measured.
// `"stream":true` in the body picks the 20-chunk SSE answer; `"model":"bench/slow"` the slow stream
// (a chunk every 100 ms for 10 s, each carrying `sent_at`, its send time in epoch ms, for delay maths).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const SLOW_MODEL = 'bench/slow';
export const SLOW_CHUNK_INTERVAL_MS = 100;
export const SLOW_CHUNKS = 100;

const model = 'openai/gpt-4o-mini';
const created = 1_764_000_000;
const usage = {
  prompt_tokens: 42, completion_tokens: 60, total_tokens: 102,
  prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 },
  cost: 0.0000423, is_byok: false, cost_details: { upstream_inference_cost: null, upstream_inference_prompt_cost: 0.0000063, upstream_inference_completions_cost: 0.000036 },
};
const words = 'Benchmarks measure what a proxy adds: parsing, copying, tracing and the journal write, per call, under load, on loopback.'.split(' ');
const content = words.join(' ');

/** A realistic chat.completion answer (~900 bytes), serialised once. */
const completion = Buffer.from(JSON.stringify({
  id: 'gen-1764000000-benchBenchBenchBenchB', provider: 'OpenAI', model, object: 'chat.completion', created,
  choices: [{ logprobs: null, finish_reason: 'stop', native_finish_reason: 'stop', index: 0,
    message: { role: 'assistant', content, refusal: null, reasoning: null } }],
  system_fingerprint: 'fp_bench', usage,
}));

const chunkBase = { id: 'gen-1764000000-benchStreamStreamStrea', provider: 'OpenAI', model, object: 'chat.completion.chunk', created };
const event = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ ...chunkBase, choices: [{ index: 0, delta, finish_reason: null, native_finish_reason: null, logprobs: null }], ...extra })}\n\n`;

/** 20 chunks: role, 17 content pieces, finish, usage; then `[DONE]`. */
const streamChunks: Buffer[] = [
  event({ role: 'assistant', content: '' }),
  ...Array.from({ length: 17 }, (_, i) => event({ content: (i === 0 ? '' : ' ') + (words[i] ?? 'x') })),
  `data: ${JSON.stringify({ ...chunkBase, choices: [{ index: 0, delta: { content: '' }, finish_reason: 'stop', native_finish_reason: 'stop', logprobs: null }] })}\n\n`,
  `data: ${JSON.stringify({ ...chunkBase, choices: [], usage })}\n\n`,
].map((text) => Buffer.from(text));
const done = Buffer.from('data: [DONE]\n\n');

const jsonHeaders = { 'content-type': 'application/json', 'content-length': String(completion.length) };
const sseHeaders = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

// A slow-stream chunk is this template with its number and send time spliced in: no JSON.stringify per chunk,
// so the fake upstream spends as little of the shared CPU as it can (the same bytes `event()` would give).
const [slowChunkHead, slowChunkMiddle, slowChunkTail] = event({ content: ' w#N#' }, { sent_at: '#T#' }).replace('"#T#"', '#T#').split(/#N#|#T#/) as [string, string, string];

function slowStream(res: ServerResponse): void {
  res.writeHead(200, sseHeaders);
  res.write(streamChunks[0]);
  const start = performance.now();
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  // Each chunk is due at start + k*interval, so timer lateness does not accumulate.
  const tick = () => {
    if (res.destroyed) return;
    sent += 1;
    res.write(`${slowChunkHead}${sent}${slowChunkMiddle}${performance.timeOrigin + performance.now()}${slowChunkTail}`);
    if (sent >= SLOW_CHUNKS) {
      res.end(done);
      return;
    }
    timer = setTimeout(tick, Math.max(0, start + (sent + 1) * SLOW_CHUNK_INTERVAL_MS - performance.now()));
  };
  timer = setTimeout(tick, SLOW_CHUNK_INTERVAL_MS);
  res.on('close', () => clearTimeout(timer));
}

function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
    return;
  }
  if (body.includes(`"${SLOW_MODEL}"`)) {
    slowStream(res);
    return;
  }
  if (!/"stream"\s*:\s*true/.test(body)) {
    res.writeHead(200, jsonHeaders).end(completion);
    return;
  }
  res.writeHead(200, sseHeaders);
  for (const chunk of streamChunks) res.write(chunk);
  res.end(done);
}

export function startFakeUpstream(port = 0): Promise<number> {
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => answer(req, res, body));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

if (import.meta.main) {
  const port = await startFakeUpstream(Number(process.env.PORT ?? 0));
  process.send?.({ type: 'ready', port });
  process.stdout.write(`fake upstream on http://127.0.0.1:${port}/api/v1\n`);
  process.on('disconnect', () => process.exit(0));
  // An orderly exit on SIGTERM, so `--cpu-prof` can write its profile.
  process.on('SIGTERM', () => process.exit(0));
}
