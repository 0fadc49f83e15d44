// Starts the gateway in-process with the real trace journal and the viewer, as main.ts wires them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { createApp } from '../../src/app.ts';
import { createOpenRouterClient, upstreamOptions } from '../../src/upstream/openrouter-client.ts';
import { createTracePipeline, traceSettings } from '../../src/traces/create-trace-pipeline.ts';
import type { TracePipeline } from '../../src/traces/create-trace-pipeline.ts';
import { viewerRoutes } from '../../src/viewer/viewer-routes.ts';

export const VIEWER_KEY = 'gw-viewer-test-key-0123456789';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

export interface ViewerGateway {
  app: Awaited<ReturnType<typeof createApp>>;
  traces: TracePipeline;
  key: string;
  /** Set when started with `listen: true`. */
  url: string;
  close(): Promise<void>;
}

export async function startViewerGateway(env: Record<string, string> = {}, options: { listen?: boolean } = {}): Promise<ViewerGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-viewer-'));
  const config = loadConfig({
    API_KEY: VIEWER_KEY, OPENROUTER_API_KEY: 'sk-or-v1-viewer-test', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir,
    AUTH_FAILURE_LIMIT: '1000', ...env,
  });
  const traces = createTracePipeline({
    ...traceSettings(config, 'test', quiet), shipper: { idleDelayMs: 50, notifyDelayMs: 5, backoff: { baseMs: 50, maxMs: 500 } },
  });
  const upstream = createOpenRouterClient(upstreamOptions(config));
  const deliveryState = () => traces.state();
  const app = await createApp({
    config, upstream, recorder: traces, deliveryState, logger: false,
    extraRoutes: viewerRoutes({ journal: traces.journal, deliveryState }),
  });
  const url = options.listen ? await app.listen({ port: 0, host: '127.0.0.1' }) : '';
  return {
    app, traces, key: VIEWER_KEY, url,
    async close() {
      await app.close();
      await upstream.close();
      await traces.close(1000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
