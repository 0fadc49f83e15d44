// Starts the gateway in-process on a loopback port against the fakes, as the tests need it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import { createApp } from '../../src/app.ts';
import { createOpenRouterClient, upstreamOptions } from '../../src/upstream/openrouter-client.ts';
import type { LlmCall } from '../../src/calls/llm-call.ts';
import type { CallRecorder } from '../../src/routes/llm-endpoints.ts';
import { createTracePipeline, traceSettings } from '../../src/traces/create-trace-pipeline.ts';
import type { TracePipeline } from '../../src/traces/create-trace-pipeline.ts';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

export const GATEWAY_KEY = 'gw-test-key-0123456789';
export const OPENROUTER_KEY = 'sk-or-v1-test-upstream-key-abcdef';

export interface TestGateway {
  url: string;
  key: string;
  config: Config;
  /** Every call record, in the order the calls ended (memory recorder). */
  calls: LlmCall[];
  /** The real journal and shipper, when started with `{ pipeline: true }`. */
  traces?: TracePipeline;
  waitForCalls(count: number, timeoutMs?: number): Promise<LlmCall[]>;
  close(): Promise<void>;
}

export async function startGateway(env: Record<string, string | undefined>, options: { recorder?: CallRecorder; pipeline?: boolean } = {}): Promise<TestGateway> {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'gw-test-'));
  const config = loadConfig({ API_KEY: GATEWAY_KEY, OPENROUTER_API_KEY: OPENROUTER_KEY, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ...env });
  const calls: LlmCall[] = [];
  const waiters: Array<() => void> = [];
  const traces = options.pipeline ? createTracePipeline({
    ...traceSettings(config, 'test', quiet),
    shipper: { idleDelayMs: 50, notifyDelayMs: 5, backoff: { baseMs: 50, maxMs: 500 } },
  }) : undefined;
  const recorder: CallRecorder = options.recorder ?? {
    async record(call) {
      if (traces) await traces.record(call);
      calls.push(call);
      for (const wake of waiters.splice(0)) wake();
    },
  };
  const upstream = createOpenRouterClient(upstreamOptions(config));
  const app = await createApp({ config, upstream, recorder, deliveryState: () => traces?.state() ?? { mode: 'memory' }, logger: false });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: address,
    key: GATEWAY_KEY,
    config,
    calls,
    traces,
    async waitForCalls(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (calls.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} call records, got ${calls.length}`);
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 50); });
      }
      return calls;
    },
    async close() {
      await app.close();
      await upstream.close();
      await traces?.close(1000);
      if (!env.DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
