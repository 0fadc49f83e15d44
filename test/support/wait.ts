// Small waiting helpers shared by the tests: poll a condition, find a free loopback port.
import { createServer } from 'node:net';

/**
 * Resolves once `condition()` is true; rejects naming `what` after `timeoutMs`. Polls every 25 ms: the fakes run
 * in the test's own event loop, so a tighter loop over an expensive condition would starve them.
 */
export async function until(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A loopback port with nothing listening. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
