// The in-process gateway wired as main.ts wires it (real journal and shipper, the production pino options with
// their secret redaction), with every log line kept in memory so tests can read what an operator would see.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import { createApp } from '../../src/app.ts';
import { loggerOptions } from '../../src/logger-options.ts';
import { configuredSecrets } from '../../src/redact.ts';
import { createOpenRouterClient, upstreamOptions } from '../../src/upstream/openrouter-client.ts';
import type { LlmCall } from '../../src/calls/llm-call.ts';
import { createTracePipeline, traceSettings } from '../../src/traces/create-trace-pipeline.ts';
import type { TracePipeline } from '../../src/traces/create-trace-pipeline.ts';

export interface LoggedGateway {
  url: string;
  config: Config;
  /** Every log line as written (one JSON document per line). */
  logLines: string[];
  calls: LlmCall[];
  traces: TracePipeline;
  close(): Promise<void>;
}

export async function startLoggedGateway(env: Record<string, string>): Promise<LoggedGateway> {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'gw-logged-'));
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'debug', DATA_DIR: dataDir, ...env });
  const logLines: string[] = [];
  const logger = pino(loggerOptions(config, configuredSecrets(config)), { write: (line: string) => { logLines.push(line); } });
  const traces = createTracePipeline({
    ...traceSettings(config, 'test', logger),
    exportTimeoutMs: 2000, shipper: { idleDelayMs: 50, notifyDelayMs: 5, backoff: { baseMs: 50, maxMs: 300 } },
  });
  const calls: LlmCall[] = [];
  const upstream = createOpenRouterClient(upstreamOptions(config));
  const recorder = { async record(call: LlmCall) { await traces.record(call); calls.push(call); } };
  const app = await createApp({ config, upstream, recorder, deliveryState: () => traces.state(), logger });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url, config, logLines, calls, traces,
    async close() {
      await app.close();
      await upstream.close();
      await traces.close(1000);
      if (!env.DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
