// Plain HTTP helpers for tests that look at bytes and timing, as curl would, without an SDK in between.
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export interface StreamEvent { at: number; text: string }

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Each chunk as it arrived, with its arrival time (ms, performance clock). */
  chunks: StreamEvent[];
  headersAt: number;
  endedAt: number;
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}, options: { abortAfterChunks?: number; timeoutMs?: number } = {}): Promise<RawResponse> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return send('POST', url, payload, { 'content-type': 'application/json', ...headers }, options);
}

export function get(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return send('GET', url, undefined, headers, {});
}

export function send(method: string, url: string, payload: string | Buffer | undefined, headers: Record<string, string>, options: { abortAfterChunks?: number; timeoutMs?: number }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const result: RawResponse = { status: res.statusCode ?? 0, headers: res.headers, body: '', chunks: [], headersAt: performance.now(), endedAt: 0 };
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        result.chunks.push({ at: performance.now(), text });
        result.body += text;
        if (options.abortAfterChunks !== undefined && result.chunks.length >= options.abortAfterChunks) {
          req.destroy();
          result.endedAt = performance.now();
          resolve(result);
        }
      });
      res.on('end', () => { result.endedAt = performance.now(); resolve(result); });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.timeoutMs) req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.end(payload);
  });
}

/** The `data:` payloads of an SSE body, in order (comments skipped). */
export function sseData(body: string): string[] {
  return body.split(/\r?\n\r?\n/).flatMap((block) => {
    const data = block.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart());
    return data.length > 0 ? [data.join('\n')] : [];
  });
}
