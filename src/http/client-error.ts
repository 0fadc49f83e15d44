// Errors Node's HTTP parser raises before any route runs (a request head over MAX_HEADER_KB, a malformed
// request, a client too slow to send its request): answered OpenAI-shaped like every error of ours, then closed.
// Replaces Fastify's default, whose body clients show as "(no body)" (../../shared/contracts/clients.md, "Errors").
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { errors } from '../errors.ts';

// Through require, not `import { STATUS_CODES } from 'node:http'`: an ES import of node:http builds its whole
// namespace, whose WebSocket getters load Node's bundled undici (745 kB of source, about 4 MB of RSS).
const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export function createClientErrorHandler(maxHeaderBytes: number) {
  return function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
    // The connection is already gone: nobody to answer (https://nodejs.org/api/http.html#event-clienterror).
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const failure = error.code === 'HPE_HEADER_OVERFLOW' ? errors.headersTooLarge(maxHeaderBytes)
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? errors.requestTimeout()
        : errors.malformedRequest();
    const body = JSON.stringify(failure.toJSON());
    // A request pipelined behind one whose answer has begun (a stream): an answer written now would land inside
    // that one's body, so the connection is only closed, as Node's own handler does. `_httpMessage` is the
    // response the socket carries (Node's own check reads it too); `headersSent`: its head is built.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (socket.writable && !answering?.headersSent) {
      socket.write(`HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? ''}\r\nContent-Type: application/json\r\n`
        + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy(error);
  };
}
