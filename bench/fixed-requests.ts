// A client that sends exactly N requests over C keep-alive connections and keeps every `x-trace-id`
// it gets back, so the long run can check trace by trace that each answered call reached Langfuse.
import { Pool } from 'undici';

export interface FixedRequestsResult {
  ok: number;
  failed: number;
  firstFailure?: string;
  durationS: number;
  traceIds: string[];
}

export async function sendFixedRequests(options: { origin: string; apiKey: string; body: string; connections: number; count: number }): Promise<FixedRequestsResult> {
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` };
  const traceIds: string[] = [];
  let next = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const started = performance.now();

  async function worker(): Promise<void> {
    while (next < options.count) {
      next += 1;
      try {
        const response = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers, body: options.body });
        await response.body.dump();
        const traceId = response.headers['x-trace-id'];
        if (response.statusCode === 200 && typeof traceId === 'string') traceIds.push(traceId);
        else {
          failed += 1;
          firstFailure ??= `status ${response.statusCode}${typeof traceId === 'string' ? '' : ', no x-trace-id'}`;
        }
      } catch (error) {
        failed += 1;
        firstFailure ??= error instanceof Error ? error.message : String(error);
      }
    }
  }

  await Promise.all(Array.from({ length: options.connections }, worker));
  const durationS = (performance.now() - started) / 1000;
  await pool.close();
  return { ok: traceIds.length, failed, firstFailure, durationS, traceIds };
}
