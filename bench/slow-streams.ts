// The slow-stream client: opens N concurrent streams of `bench/slow` (a chunk every 100 ms for 10 s)
// and measures, for every chunk, receive time minus the `sent_at` the fake upstream stamped on it.
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { SLOW_CHUNK_INTERVAL_MS, SLOW_CHUNKS } from './fake-upstream.ts';
import { percentile } from './stats.ts';

export interface SlowStreamResult {
  streams: number;
  completed: number;
  /** Completed within the nominal 10 s plus 2 s: streams that really ran side by side, not queued. */
  onTime: number;
  failed: number;
  firstFailure?: string;
  chunks: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** Request sent to first byte of the body: shows streams queued behind a connection limit. */
  firstChunkP99Ms: number;
  /** Whole-stream time, nominally 10 s. */
  durationP99Ms: number;
}

const sentAt = /"sent_at":([0-9.]+)/g;
const nowMs = () => performance.timeOrigin + performance.now();

export async function runSlowStreams(options: { port: number; apiKey: string; body: string; streams: number; rampMs: number; timeoutMs: number }): Promise<SlowStreamResult> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const delays: number[] = [];
  const firstChunks: number[] = [];
  const durations: number[] = [];
  let completed = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const live = new Set<ReturnType<typeof request>>();

  const fail = (why: string) => {
    failed += 1;
    firstFailure ??= why;
  };

  function one(): Promise<void> {
    return new Promise((resolve) => {
      const started = performance.now();
      let tail = '';
      let chunks = 0;
      let sawDone = false;
      let settled = false;
      const settle = (why?: string) => {
        if (settled) return;
        settled = true;
        live.delete(req);
        if (why) fail(why);
        else {
          completed += 1;
          durations.push(performance.now() - started);
        }
        resolve();
      };
      const req = request({
        agent, host: '127.0.0.1', port: options.port, method: 'POST', path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}`, 'content-length': Buffer.byteLength(options.body) },
      }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          settle(`status ${res.statusCode}`);
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          const received = nowMs();
          if (chunks === 0 && tail === '') firstChunks.push(performance.now() - started);
          tail += text;
          const end = tail.lastIndexOf('\n\n');
          if (end === -1) return;
          const complete = tail.slice(0, end);
          tail = tail.slice(end + 2);
          for (const match of complete.matchAll(sentAt)) {
            delays.push(received - Number(match[1]));
            chunks += 1;
          }
          if (complete.includes('[DONE]')) sawDone = true;
        });
        res.on('end', () => settle(sawDone && chunks === SLOW_CHUNKS ? undefined : `ended after ${chunks} chunks${sawDone ? '' : ' without [DONE]'}`));
        res.on('error', (error) => settle(`response error: ${error.message}`));
        res.on('close', () => settle(`closed after ${chunks} chunks`));
      });
      req.on('error', (error) => settle(`request error: ${error.message}`));
      live.add(req);
      req.end(options.body);
    });
  }

  const deadline = setTimeout(() => { for (const req of live) req.destroy(new Error('benchmark deadline')); }, options.timeoutMs);
  const running: Promise<void>[] = [];
  // Connects are spread over rampMs, ten at a time, so a full listen backlog is never what is measured.
  const pauseMs = options.rampMs / Math.ceil(options.streams / 10);
  for (let i = 0; i < options.streams; i += 1) {
    running.push(one());
    if (i % 10 === 9 && pauseMs > 0) await sleep(pauseMs);
  }
  await Promise.all(running);
  clearTimeout(deadline);
  agent.destroy();

  delays.sort((a, b) => a - b);
  firstChunks.sort((a, b) => a - b);
  durations.sort((a, b) => a - b);
  return {
    streams: options.streams, completed, onTime: durations.filter((ms) => ms <= SLOW_CHUNKS * SLOW_CHUNK_INTERVAL_MS + 2000).length, failed, firstFailure, chunks: delays.length,
    delayP50Ms: percentile(delays, 50), delayP99Ms: percentile(delays, 99), delayMaxMs: delays.at(-1) ?? Number.NaN,
    firstChunkP99Ms: percentile(firstChunks, 99), durationP99Ms: percentile(durations, 99),
  };
}
