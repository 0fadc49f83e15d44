// Forwards an SSE body to the client event by event, as it arrives, and reads each event for the trace.
// Only events a client can parse go through (sse-guard.ts), and each is parsed exactly once, there.
// The chunk that carries `data: [DONE]` is held back: it is written only after the call is journaled,
// so a client that saw the end of its stream can count on the trace (issue 3, SIGKILL scenario).
import type { ServerResponse } from 'node:http';
import type { UpstreamBody } from '../upstream/upstream-body.ts';
import { chunkWriter } from './chunk-writer.ts';
import { createSseGuard } from './sse-guard.ts';
import type { StreamReader } from './response-summary.ts';

export interface TapResult {
  /** The final `[DONE]` chunk, not yet written. */
  held?: Buffer;
  /** Set when the upstream body failed (timeout, reset, abort). */
  failure?: unknown;
  /** Upstream events a client could not have parsed, not forwarded. */
  unreadable: number;
}

const doneMarker = Buffer.from('[DONE]');

/** `[DONE]` within the last 12 bytes. Most chunks have no `]` there at all: that is checked byte by byte first. */
function endsWithDone(chunk: Buffer): boolean {
  if (chunk.length < 8) return false;
  const from = Math.max(0, chunk.length - 12);
  for (let i = from; i < chunk.length; i += 1) {
    if (chunk[i] === 0x5d) return chunk.includes(doneMarker, from);
  }
  return false;
}

/**
 * Forwards `body` to `res`; every readable event goes to `reader`, stamped with its chunk's arrival time.
 * Chunks come straight from undici's parser (upstream-body.ts), with pause/resume on back-pressure: per chunk
 * this costs far less than a Readable, let alone an async iterator plus an awaited write (measured with 1,000
 * concurrent streams, bench/slow-streams.ts).
 * `scrub` sees the whole events about to be written (so a key inside one is never split between two writes).
 */
export function tapStream(body: UpstreamBody, res: ServerResponse, now: () => number, reader: StreamReader, scrub: (events: Buffer) => Buffer = (events) => events): Promise<TapResult> {
  return new Promise((resolve) => {
    const result: TapResult = { unreadable: 0 };
    let arrivedAt = 0;
    let finished = false;
    /** The upstream body has ended (its `end` is being handled). */
    let ended = false;
    const guard = createSseGuard((event) => reader.add(event, arrivedAt));
    const resume = () => body.resume();
    const writer = chunkWriter(res, resume);

    const forward = (readable: Buffer) => {
      if (readable.length === 0 || res.destroyed) return;
      const events = scrub(readable);
      if (result.held) {
        // Bytes after [DONE] (an upstream's trailing comment, in the answer's last read): they wait with it, so
        // [DONE] still goes out only once the call is recorded.
        result.held = Buffer.concat([result.held, events]);
        return;
      }
      if (endsWithDone(events)) {
        result.held = events;
        // The answer is complete: an upstream that keeps it open (no last HTTP chunk yet) must not hold the client.
        if (!ended) {
          body.release();
          finish();
        }
        return;
      }
      if (!writer.write(events)) body.pause();
    };
    const finish = (failure?: unknown) => {
      if (finished) return;
      finished = true;
      res.off('drain', resume);
      res.off('close', resume);
      writer.stop();
      if (failure !== undefined) result.failure = failure;
      result.unreadable = guard.dropped;
      resolve(result);
    };

    // Chunks that arrive in one go (undici emits one per HTTP chunk, often twenty in the same read) are
    // checked and written together at the end of that turn: one decode and one write instead of twenty.
    // Nothing waits for data that has not arrived.
    // No new array per turn: this closure lives as long as the stream (long enough to be promoted), and a
    // fresh array left in it between chunks would be promoted too, then keep each dead chunk, and the socket
    // buffer under it, alive until the next full GC (1,000 slow streams: peak RSS 259 → 206 MB, bench/RESULTS.md).
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    const flushBatch = () => {
      if (first === undefined) return;
      const chunk = more ? Buffer.concat(more) : first;
      first = undefined;
      more = undefined;
      forward(guard.push(chunk));
    };

    res.on('drain', resume);
    res.on('close', resume);
    body.read({
      data(chunk) {
        if (first === undefined) {
          first = chunk;
          arrivedAt = now();
          queueMicrotask(flushBatch);
        } else (more ??= [first]).push(chunk);
      },
      end() {
        ended = true;
        flushBatch();
        arrivedAt = now();
        forward(guard.end());
        finish();
      },
      error(error) {
        flushBatch();
        finish(error);
      },
    });
  });
}
