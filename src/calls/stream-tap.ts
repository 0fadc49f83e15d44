// Forwards an SSE body to the client event by event, as it arrives, and reads each event for the trace.
// Only events a client can parse go through (sse-guard.ts), and each is parsed exactly once, there.
// The chunk that carries `data: [DONE]` is held back: it is written only after the call is journaled,
// so a client that saw the end of its stream can count on the trace (issue 3, SIGKILL scenario).
import type { ServerResponse } from 'node:http';
import { createSseGuard } from './sse-guard.ts';
import type { StreamReader } from './response-summary.ts';
import type { UpstreamBody } from '../upstream/upstream-body.ts';

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
 * Each chunk is checked and written in the parser's own call (upstream-body.ts): no stream, no microtask.
 * Chunks that arrive in one read (undici hands over one per HTTP chunk, often twenty at once) still leave in
 * one system call: node:http corks the socket on a response's first write of a tick and uncorks on the next.
 */
export function tapStream(body: UpstreamBody, res: ServerResponse, now: () => number, reader: StreamReader): Promise<TapResult> {
  return new Promise((resolve) => {
    const result: TapResult = { unreadable: 0 };
    let arrivedAt = 0;
    let finished = false;
    const guard = createSseGuard((event) => reader.add(event, arrivedAt));

    /** False when the client's socket is full: the body waits for 'drain'. */
    const forward = (events: Buffer): boolean => {
      if (events.length === 0 || res.destroyed) return true;
      if (result.held) {
        res.write(result.held);
        result.held = undefined;
      }
      if (endsWithDone(events)) {
        result.held = events;
        return true;
      }
      return res.write(events);
    };
    const resume = () => body.resume();
    const finish = (failure?: unknown) => {
      if (finished) return;
      finished = true;
      res.off('drain', resume);
      res.off('close', resume);
      if (failure !== undefined) result.failure = failure;
      result.unreadable = guard.dropped;
      resolve(result);
    };

    res.on('drain', resume);
    res.on('close', resume);
    body.read({
      data(chunk) {
        arrivedAt = now();
        return forward(guard.push(chunk));
      },
      end() {
        arrivedAt = now();
        forward(guard.end());
        finish();
      },
      error: (cause) => finish(cause ?? new Error('upstream body failed')),
    });
  });
}
