// The slow-stream client: opens N concurrent streams of `bench/slow` (a chunk every 100 ms for 10 s)
// and measures, for every chunk, receive time minus the `sent_at` the fake upstream stamped on it.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
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
  /** p99 chunk delay of each second of the round (by receive time from the first connect): the ramp apart from the steady state. */
  delayP99BySecondMs: number[];
}

const sentAt = /"sent_at":([0-9.]+)/g;
const nowMs = () => performance.timeOrigin + performance.now();

export async function runSlowStreams(options: { port: number; apiKey: string; body: string; streams: number; rampMs: number; timeoutMs: number }): Promise<SlowStreamResult> {
  const delays: number[] = [];
  const delaysBySecond: number[][] = [];
  const firstChunks: number[] = [];
  const durations: number[] = [];
  let completed = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const live = new Set<Socket>();
  const roundStart = nowMs();
  // One request, sent as is on its own connection (`connection: close`: the end of the body is the end of
  // the connection). A raw socket rather than node:http's client, so the load generator takes as little of
  // the shared CPU as it can: 10,000 chunks a second go through it.
  const requestBytes = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:${options.port}\r\n`
    + `content-type: application/json\r\nauthorization: Bearer ${options.apiKey}\r\nconnection: close\r\n`
    + `content-length: ${Buffer.byteLength(options.body)}\r\n\r\n${options.body}`);

  const fail = (why: string) => {
    failed += 1;
    firstFailure ??= why;
  };

  function one(): Promise<void> {
    return new Promise((resolve) => {
      const started = performance.now();
      // Bytes not yet scanned: the head until its blank line, then the body after its last complete event.
      // Chunked framing sits between events, so scanning whole events for `sent_at` never splits a number.
      let tail = '';
      let inBody = false;
      let firstByte = false;
      let chunks = 0;
      let sawDone = false;
      let settled = false;
      const settle = (why?: string) => {
        if (settled) return;
        settled = true;
        live.delete(socket);
        socket.destroy();
        if (why) fail(why);
        else {
          completed += 1;
          durations.push(performance.now() - started);
        }
        resolve();
      };
      const socket = connect({ host: '127.0.0.1', port: options.port, noDelay: true }, () => socket.write(requestBytes));
      live.add(socket);
      socket.on('data', (bytes: Buffer) => {
        const received = nowMs();
        tail += bytes.toString('latin1');
        if (!inBody) {
          const headEnd = tail.indexOf('\r\n\r\n');
          if (headEnd === -1) return;
          const status = tail.slice(9, 12);
          if (status !== '200') {
            settle(`status ${status}`);
            return;
          }
          inBody = true;
          tail = tail.slice(headEnd + 4);
          if (tail.length === 0) return;
        }
        if (!firstByte && tail.length > 0) {
          firstByte = true;
          firstChunks.push(performance.now() - started);
        }
        const end = tail.lastIndexOf('\n\n');
        if (end === -1) return;
        const complete = tail.slice(0, end);
        tail = tail.slice(end + 2);
        for (const match of complete.matchAll(sentAt)) {
          const delay = received - Number(match[1]);
          delays.push(delay);
          (delaysBySecond[Math.floor((received - roundStart) / 1000)] ??= []).push(delay);
          chunks += 1;
        }
        if (complete.includes('data: [DONE]')) sawDone = true;
      });
      socket.on('end', () => settle(sawDone && chunks === SLOW_CHUNKS ? undefined : `ended after ${chunks} chunks${sawDone ? '' : ' without [DONE]'}`));
      socket.on('error', (error) => settle(`connection error: ${error.message}`));
      socket.on('close', () => settle(`closed after ${chunks} chunks`));
    });
  }
  const deadline = setTimeout(() => { for (const socket of live) socket.destroy(new Error('benchmark deadline')); }, options.timeoutMs);
  const running: Promise<void>[] = [];
  // Connects are spread over rampMs, ten at a time, so a full listen backlog is never what is measured.
  const pauseMs = options.rampMs / Math.ceil(options.streams / 10);
  for (let i = 0; i < options.streams; i += 1) {
    running.push(one());
    if (i % 10 === 9 && pauseMs > 0) await sleep(pauseMs);
  }
  await Promise.all(running);
  clearTimeout(deadline);

  delays.sort((a, b) => a - b);
  firstChunks.sort((a, b) => a - b);
  durations.sort((a, b) => a - b);
  return {
    streams: options.streams, completed, onTime: durations.filter((ms) => ms <= SLOW_CHUNKS * SLOW_CHUNK_INTERVAL_MS + 2000).length, failed, firstFailure, chunks: delays.length,
    delayP50Ms: percentile(delays, 50), delayP99Ms: percentile(delays, 99), delayMaxMs: delays.at(-1) ?? Number.NaN,
    firstChunkP99Ms: percentile(firstChunks, 99), durationP99Ms: percentile(durations, 99),
    delayP99BySecondMs: Array.from(delaysBySecond, (second = []) => percentile(second.sort((a, b) => a - b), 99)),
  };
}

/** Ordinary streamed calls, `concurrency` at a time, each read to its end: warms a freshly started proxy's JIT. */
export async function warmUpStreams(options: { port: number; apiKey: string; body: string; requests: number; concurrency: number }): Promise<void> {
  let sent = 0;
  const worker = async () => {
    while (sent < options.requests) {
      sent += 1;
      const response = await fetch(`http://127.0.0.1:${options.port}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` }, body: options.body,
      });
      if (!response.ok) throw new Error(`warm-up call answered ${response.status}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
}
