// Sends bytes no HTTP client library would (CR/LF or control bytes in a header, odd request targets)
// over a plain socket, and reads the answer back: status, headers and the de-chunked body.
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Sends `bytes` as they are and resolves when the server closes (send `connection: close`). */
export function rawRequest(url: string, bytes: Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete answer within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A server that answers and closes before reading everything may reset the connection: the answer still counts.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = (split === -1 ? all : all.subarray(0, split)).toString('latin1');
      const rawBody = split === -1 ? Buffer.alloc(0) : all.subarray(split + 4);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const body = /\r\ntransfer-encoding: *chunked/i.test(head) ? dechunk(rawBody) : rawBody;
      resolve({ status, head, body: body.toString('utf8') });
    });
    socket.write(bytes);
  });
}

/** A request whose header lines are given as bytes (name and value are not checked or encoded). */
export function rawHttpRequest(method: string, target: string | Buffer, headers: Array<[string, Buffer | string]>, body: string | Buffer = ''): Buffer {
  const lines = [
    Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
    Buffer.from(` HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`, 'latin1'),
  ];
  for (const [name, value] of headers) lines.push(Buffer.from(`${name}: `, 'latin1'), Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'), Buffer.from('\r\n'));
  lines.push(Buffer.from('\r\n'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'));
  return Buffer.concat(lines);
}

/** A chat call as raw bytes on a kept-alive connection (`version` 1.0 for an old client), for tests that pipeline or watch the wire. */
export function chatCallBytes(key: string, body: unknown, version: '1.1' | '1.0' = '1.1'): string {
  const json = JSON.stringify(body);
  return `POST /v1/chat/completions HTTP/${version}\r\nhost: gateway\r\nauthorization: Bearer ${key}\r\n`
    + `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
}
