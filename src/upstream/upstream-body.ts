// An upstream response body as undici's parser hands it over: each chunk goes straight to one reader, in the
// parser's own call, with no stream in between. undici's `request()` wraps the body in a Readable, which per
// chunk costs a push, a buffer list, two nextTicks and an emit before the gateway sees the bytes; with 1,000
// concurrent streams (10,000 chunks a second) that was a measurable share of the request thread
// (bench/RESULTS.md). Back-pressure is undici's own: a reader that returns false pauses the parser.
import type { Dispatcher } from 'undici';

export interface BodyReader {
  /** One chunk of the body. Return false to pause until `resume()`. */
  data(chunk: Buffer): boolean;
  end(): void;
  error(cause: unknown): void;
}

type Controller = Dispatcher.DispatchController;

export class UpstreamBody {
  #controller: Controller;
  #reader?: BodyReader;
  /** How the body ended before anyone read it: true (complete) or the failure. */
  #settled?: { failure?: unknown };

  constructor(controller: Controller) {
    this.#controller = controller;
    // Nothing is read until a reader is attached: the parser waits, the socket's buffer is the only buffer.
    controller.pause();
  }

  /** Starts the flow into `reader`. Once per body. */
  read(reader: BodyReader): void {
    if (this.#reader) throw new Error('upstream body already read');
    this.#reader = reader;
    if (this.#settled) {
      if (this.#settled.failure === undefined) reader.end();
      else reader.error(this.#settled.failure);
      return;
    }
    this.#controller.resume();
  }

  /** Continues after a reader's `data` returned false. */
  resume(): void {
    this.#controller.resume();
  }

  /** The whole body. */
  bytes(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      this.read({
        data: (chunk) => chunks.push(chunk) > 0,
        end: () => resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks)),
        error: reject,
      });
    });
  }

  /** Called by the dispatch handler. */
  push(chunk: Buffer): void {
    if (this.#reader && this.#reader.data(chunk) === false) this.#controller.pause();
  }

  end(): void {
    if (this.#reader) this.#reader.end();
    else this.#settled = {};
  }

  fail(cause: unknown): void {
    if (this.#reader) this.#reader.error(cause);
    else this.#settled = { failure: cause };
  }
}
