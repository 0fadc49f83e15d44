// Entry: loadConfig(env) -> trace pipeline -> createApp -> listen; SIGTERM/SIGINT -> drain, flush, close.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { ConfigError, loadConfig, processEnvironment } from './config.ts';
import type { Config } from './config.ts';
import { createApp } from './app.ts';
import { createOpenRouterClient, upstreamOptions } from './upstream/openrouter-client.ts';
import { createTracePipeline, traceSettings } from './traces/create-trace-pipeline.ts';
import { lockDataDir } from './traces/data-dir-lock.ts';
import { viewerRoutes } from './viewer/viewer-routes.ts';
import { startupReport } from './startup-report.ts';
import { loggerOptions } from './logger-options.ts';
import { configuredSecrets } from './redact.ts';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function main() {
  let config: Config;
  try {
    const env = processEnvironment();
    if (process.argv.includes('--pretty')) env.LOG_FORMAT ??= 'pretty';
    config = loadConfig(env, { isTerminal: process.stdout.isTTY });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`Configuration error: ${error.message}\n`);
    process.exit(1);
  }
  const logger = pino(loggerOptions(config, configuredSecrets(config)));
  // The journal and the spool live in DATA_DIR: without them no call could be traced, so the gateway does not start.
  function unusable(error: unknown): never {
    const { code, message } = error as { code?: string; message?: string };
    const reason = (message && code && !message.startsWith(code) ? `${code}: ${message}` : message ?? code ?? 'unknown error').replace(/\s+/g, ' ');
    process.stderr.write(`Configuration error: DATA_DIR=${JSON.stringify(config.dataDir)} cannot be used (${reason}): it must be a `
      + 'directory the gateway can create and write to.\n');
    process.exit(1);
  }
  let lock: ReturnType<typeof lockDataDir>;
  try {
    lock = lockDataDir(config.dataDir);
  } catch (error) {
    unusable(error);
  }
  if (!lock) {
    process.stderr.write(`DATA_DIR ${config.dataDir} is in use by another gateway process. Give each gateway its own DATA_DIR: `
      + 'two sharing one would take each other\'s trace spool.\n');
    process.exit(1);
  }
  let traces: ReturnType<typeof createTracePipeline>;
  try {
    traces = createTracePipeline(traceSettings(config, version, logger));
  } catch (error) {
    unusable(error);
  }

  const upstream = createOpenRouterClient(upstreamOptions(config));
  const app = await createApp({
    config, upstream, recorder: traces, deliveryState: () => traces.state(), logger, version,
    extraRoutes: viewerRoutes({ journal: traces.journal, deliveryState: () => traces.state() }),
  });

  const address = await app.listen({ port: config.port, host: config.host });
  for (const { level, line } of startupReport(config, address)) logger[level](line);
  if (config.apiKeyGenerated) {
    // The seed's behaviour: a random key, shown once on the console (never in the structured log).
    process.stderr.write(`\n  API_KEY is not set. This run's gateway key (it changes on every restart):\n\n    ${config.apiKeys[0]}\n\n  Set API_KEY in .env to keep a fixed key.\n\n`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, drainSeconds: config.shutdownDrainMs / 1000 }, 'shutting down: no new connections, letting running calls finish');
    let closeTimer: NodeJS.Timeout | undefined;
    const drainTimer = setTimeout(() => {
      const calls = app.endRunningCalls();
      logger.warn({ calls }, 'drain timeout reached: ending the running calls with a shutting_down error');
      // A moment for their error events and records to go out, then whatever is still open is closed.
      closeTimer = setTimeout(() => app.server.closeAllConnections(), 1000);
    }, config.shutdownDrainMs);
    await app.close();
    clearTimeout(drainTimer);
    clearTimeout(closeTimer);
    await upstream.close();
    await traces.close(config.traces.flushTimeoutMs);
    lock.release();
    logger.info('stopped');
    logger.flush?.();
    setImmediate(() => process.exit(0));
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

await main();
