// An upstream answer read straight from undici's dispatch callbacks: each chunk the HTTP parser gives is handed
// to one reader as it comes, with no Readable stream in between. undici's `request()` wraps the body in a
// Readable, which per chunk costs a push, a buffered read and two `process.nextTick`s; with 1,000 streams that
// was about a tenth of the request thread (bench/RESULTS.md, session 9).
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';

/** What reads an answer. A callback that throws fails the body: the request is aborted and `error` gets the throw. */
export interface BodyReader {
  data(chunk: Buffer): void;
  /** The body is complete. */
  end(): void;
  /** The body failed (timeout, reset, abort): no more data or end comes. */
  error(cause: Error): void;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

/** Bytes kept for a reader that has not started, above which the upstream is held back until it does. */
const earlyLimit = 64 * 1024;

export class UpstreamBody {
  #reader: BodyReader | undefined;
  /** What arrived before `read` was called (the parser can give headers and body in the same turn). */
  #early: Buffer[] = [];
  #earlyBytes = 0;
  /** The upstream is paused because `#early` is full. */
  #heldForReader = false;
  /** The body is over: ended, failed, or given up by its reader. */
  #done = false;
  #failure: Error | undefined;
  /** The reader has had its `end` or `error`. */
  #told = false;
  #controller: Dispatcher.DispatchController;

  constructor(controller: Dispatcher.DispatchController) {
    this.#controller = controller;
  }

  /** Hands every chunk to `reader`, those that came already first. Once per body. */
  read(reader: BodyReader): void {
    if (this.#reader) throw new Error('upstream body already read');
    this.#reader = reader;
    const early = this.#early;
    this.#early = [];
    this.#earlyBytes = 0;
    for (const chunk of early) if (!this.#told) this.#deliver(chunk);
    if (this.#done) this.#tell();
    else if (this.#heldForReader) {
      this.#heldForReader = false;
      this.#controller.resume();
    }
  }

  /** The body, whole, once it has ended. */
  bytes(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      this.read({ data: (chunk) => chunks.push(chunk), end: () => resolve(Buffer.concat(chunks)), error: reject });
    });
  }

  /** Stops reading from the upstream socket until `resume` (back-pressure from a slow client). */
  pause(): void {
    if (!this.#done) this.#controller.pause();
  }

  /** Once the body is over this does nothing: the connection may already carry another call. */
  resume(): void {
    if (!this.#done && !this.#heldForReader) this.#controller.resume();
  }

  /**
   * The reader has all it needs (a stream's `[DONE]`): it is told nothing more. The rest of the answer is read and
   * dropped, so an upstream that keeps the answer open after its end holds no client, and the connection can still
   * carry another call once the answer ends.
   */
  release(): void {
    this.#told = true;
    this.resume();
  }

  /** @internal From the dispatch handler. */
  push(chunk: Buffer): void {
    if (this.#done) return;
    if (this.#reader) {
      if (!this.#told) this.#deliver(chunk);
      return;
    }
    this.#early.push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes > earlyLimit && !this.#heldForReader) {
      this.#heldForReader = true;
      this.#controller.pause();
    }
  }

  /** @internal From the dispatch handler. */
  finish(failure?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#failure = failure;
    if (this.#reader) this.#tell();
  }

  /** A reader that throws has failed: the upstream is aborted and the reader gets the error, never a hang. */
  #deliver(chunk: Buffer): void {
    try {
      this.#reader!.data(chunk);
    } catch (error) {
      this.#giveUp(error as Error);
    }
  }

  #tell(): void {
    if (this.#told) return;
    this.#told = true;
    if (this.#failure) {
      this.#reader!.error(this.#failure);
      return;
    }
    try {
      this.#reader!.end();
    } catch (error) {
      this.#failure = error as Error;
      this.#reader!.error(error as Error);
    }
  }

  #giveUp(error: Error): void {
    const running = !this.#done;
    this.#done = true;
    this.#failure = error;
    if (running) this.#controller.abort(error);
    this.#tell();
  }
}

/**
 * Sends one request through `dispatcher`; resolves with the status, headers and a body to read once the
 * headers have come, rejects if the request fails before. `signal` aborts it at any point.
 */
export function dispatchRequest(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal?: AbortSignal): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let body: UpstreamBody | undefined;
    const onAbort = () => controller?.abort(signal?.reason);
    const settle = (failure?: Error) => {
      signal?.removeEventListener('abort', onAbort);
      if (body) body.finish(failure);
      else reject(failure ?? new Error('upstream answered without headers'));
    };
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    dispatcher.dispatch(options, {
      onRequestStart(start) {
        controller = start;
        if (signal?.aborted) start.abort(signal.reason);
      },
      onResponseStart(start, statusCode, headers) {
        // 1xx answers (100 Continue, 103 Early Hints) are not the answer.
        if (statusCode < 200) return;
        body = new UpstreamBody(start);
        resolve({ statusCode, headers: headers as IncomingHttpHeaders, body });
      },
      onResponseData(_controller, chunk) {
        body?.push(chunk);
      },
      onResponseEnd() {
        settle();
      },
      onResponseError(_controller, error) {
        settle(error);
      },
    });
  });
}
