// Reads the gateway's trace backlog from GET /health and waits for the shipper to empty it.
import { setTimeout as sleep } from 'node:timers/promises';

interface Health { traces?: { backlog?: number; delivered?: number; rejected?: number; writeErrors?: number; lastError?: string } }

export async function traceState(port: number, apiKey: string): Promise<NonNullable<Health['traces']>> {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { headers: { authorization: `Bearer ${apiKey}` } });
  if (!response.ok) throw new Error(`/health answered ${response.status}`);
  return ((await response.json()) as Health).traces ?? {};
}

/** Polls until the backlog is 0 or the time is up; returns the last backlog seen and the time waited. */
export async function waitForDrain(port: number, apiKey: string, timeoutMs: number): Promise<{ backlog: number; waitedMs: number }> {
  const started = performance.now();
  for (;;) {
    const backlog = (await traceState(port, apiKey)).backlog ?? 0;
    const waitedMs = performance.now() - started;
    if (backlog === 0 || waitedMs >= timeoutMs) return { backlog, waitedMs };
    await sleep(backlog > 1000 ? 250 : 50);
  }
}
