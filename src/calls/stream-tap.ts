// Forwards an SSE body to the client event by event, as it arrives, and keeps a stamped copy for the trace.
// Only events a client can parse go through (sse-guard.ts); the copy keeps the upstream's bytes as they came.
// The chunk that carries `data: [DONE]` is held back: it is written only after the call is journaled,
// so a client that saw the end of its stream can count on the trace (issue 3, SIGKILL scenario).
import type { ServerResponse } from 'node:http';
import type { CapturedChunk } from './sse-events.ts';
import { createSseGuard } from './sse-guard.ts';

export interface TapResult {
  chunks: CapturedChunk[];
  /** The final `[DONE]` chunk, not yet written. */
  held?: Buffer;
  /** Set when the upstream body failed (timeout, reset, abort). */
  failure?: unknown;
  /** Bytes captured; capture stops past the limit (the client still gets everything). */
  capturedBytes: number;
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

export async function tapStream(body: AsyncIterable<Buffer>, res: ServerResponse, now: () => number, captureLimit: number): Promise<TapResult> {
  const result: TapResult = { chunks: [], capturedBytes: 0, unreadable: 0 };
  const guard = createSseGuard();
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
      if (result.capturedBytes < captureLimit) {
        result.chunks.push({ at: now(), data: chunk });
        result.capturedBytes += chunk.length;
      }
      await forward(guard.push(chunk));
      if (res.destroyed) break;
    }
    if (!res.destroyed) await forward(guard.end());
  } catch (error) {
    result.failure = error;
  }
  result.unreadable = guard.dropped;
  return result;
}
