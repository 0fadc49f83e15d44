// The body of a streamed answer, written to the client's socket with as little work per chunk as node:http allows.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Writes the body of a chunked HTTP/1.1 response. The first chunk goes through `res.write` (with the headers);
 * after it, each chunk goes to the socket as one frame built here (size line, bytes, CRLF) in one `socket.write`.
 * node:http's `res.write` makes four socket writes of it, corks the socket and schedules the uncork on
 * `process.nextTick`: with 1,000 streams that is a large share of the request thread's time per chunk
 * (bench/RESULTS.md, session 12). A response without chunked encoding (an HTTP/1.0 client) or not on its socket
 * yet (a pipelined request waiting its turn) always goes through `res.write`. `res.end()` still ends the body:
 * node:http appends the terminating frame to what is on the socket.
 */
export function chunkWriter(res: ServerResponse, onDrain: () => void): { write(chunk: Buffer): boolean; stop(): void } {
  /** The socket a `res.write` went to directly: headers are out there and node:http holds nothing back. */
  let direct: Socket | undefined;
  return {
    write(chunk) {
      const socket = res.socket;
      if (direct === undefined || socket !== direct || !socket.writable || res.writableEnded) {
        const flowing = res.write(chunk);
        if (direct === undefined && chunk.length > 0 && socket !== null && res.chunkedEncoding) {
          direct = socket;
          // Back-pressure on direct writes shows on the socket, not on `res` (which saw no write of them).
          socket.on('drain', onDrain);
        }
        return flowing;
      }
      if (chunk.length === 0) return true;
      const size = chunk.length.toString(16);
      const frame = Buffer.allocUnsafe(size.length + chunk.length + 4);
      frame.write(size, 0, 'latin1');
      frame[size.length] = 0x0d;
      frame[size.length + 1] = 0x0a;
      chunk.copy(frame, size.length + 2);
      frame[frame.length - 2] = 0x0d;
      frame[frame.length - 1] = 0x0a;
      return socket.write(frame);
    },
    stop() {
      direct?.off('drain', onDrain);
    },
  };
}
