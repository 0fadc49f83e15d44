// Forwards an SSE body to the client event by event, as it arrives, and reads each event for the trace.
// Only events a client can parse go through (sse-guard.ts), and each is parsed exactly once, there.
// The chunk that carries `data: [DONE]` is held back: it is written only after the call is journaled,
// so a client that saw the end of its stream can count on the trace (issue 3, SIGKILL scenario).
import type { ServerResponse } from 'node:http';
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

function endsWithDone(chunk: Buffer): boolean {
  return chunk.length >= 8 && chunk.includes(doneMarker, Math.max(0, chunk.length - 12));
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Forwards `body` to `res`; every readable event goes to `reader`, stamped with its chunk's arrival time. */
export async function tapStream(body: AsyncIterable<Buffer>, res: ServerResponse, now: () => number, reader: StreamReader): Promise<TapResult> {
  const result: TapResult = { unreadable: 0 };
  let arrivedAt = 0;
  const guard = createSseGuard((event) => reader.add(event, arrivedAt));
  const forward = async (events: Buffer) => {
    if (events.length === 0) return;
    if (result.held) {
      res.write(result.held);
      result.held = undefined;
    }
    if (endsWithDone(events)) {
      result.held = events;
      return;
    }
    if (!res.write(events) && !res.destroyed) await drained(res);
  };
  try {
    for await (const chunk of body) {
      arrivedAt = now();
      await forward(guard.push(chunk));
      if (res.destroyed) break;
    }
    if (!res.destroyed) {
      arrivedAt = now();
      await forward(guard.end());
    }
  } catch (error) {
    result.failure = error;
  }
  result.unreadable = guard.dropped;
  return result;
}
