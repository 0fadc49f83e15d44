// The trace pipeline as the gateway sees it: `record(call)` appends the record to the spool (one
// synchronous write, so it survives a crash) and hands it to the trace worker, which owns the journal
// and the shipper on another thread. The request thread keeps only a read connection for the viewer.
import { Worker } from 'node:worker_threads';
import type { LlmCall } from '../calls/llm-call.ts';
import type { Config } from '../config.ts';
import type { Logger } from './logger.ts';
import { openJournalReader } from './journal-reader.ts';
import type { JournalReader } from './journal-reader.ts';
import { createSpool } from './trace-spool.ts';
import type { DeliveryState, TraceBackendSettings } from './trace-backend.ts';
import type { ToMain, ToWorker, WorkerSettings } from './trace-messages.ts';

export type { DeliveryState } from './trace-backend.ts';
export type TracePipelineSettings = Omit<TraceBackendSettings, 'now'>;

export interface TracePipeline {
  /** Read access to the journal (the viewer). */
  journal: JournalReader;
  /** Makes the call durable (spool) before it resolves, and queues it for the journal and Langfuse. */
  record(call: LlmCall): Promise<void>;
  /** Resolves once every call recorded so far is committed to the journal. */
  settled(): Promise<void>;
  state(): DeliveryState;
  /** Flushes to Langfuse for at most `flushTimeoutMs`, then closes; the rest ships after the next start. */
  close(flushTimeoutMs: number): Promise<void>;
}

/** The pipeline's settings as the configuration sets them. */
export function traceSettings(config: Config, serviceVersion: string, logger: Logger): TracePipelineSettings {
  const { retentionDays, maxJournalBytes, environment, release } = config.traces;
  return { dataDir: config.dataDir, retentionDays, maxBytes: maxJournalBytes, langfuse: config.langfuse, environment, release, serviceVersion, logger };
}

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './trace-worker.ts' : './trace-worker.js', import.meta.url);

export function createTracePipeline(settings: TracePipelineSettings): TracePipeline {
  const { logger, ...rest } = settings;
  const journal = openJournalReader(settings.dataDir);
  const spool = createSpool(settings.dataDir);
  let outbox: string[] = [];
  let posted = 0;
  let latest: Extract<ToMain, { type: 'state' }> | undefined;
  let settledWaiters: Array<{ until: number; resolve: () => void }> = [];
  let closing: Promise<void> | undefined;
  let closedResolve: (() => void) | undefined;
  let worker = startWorker();

  function startWorker(): Worker {
    const data: WorkerSettings = { ...rest, currentSpoolFile: spool.file };
    // A small young generation: the worker's work is small, and every MB reserved here is RSS.
    const started = new Worker(workerUrl, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    started.on('message', (message: ToMain) => onMessage(message));
    started.on('error', (error) => logger.error({ err: error }, 'trace worker failed'));
    started.on('exit', (code) => {
      if (closing) return;
      // The records it had not committed are in the spool: a new worker reads them back.
      logger.error({ code }, 'trace worker stopped unexpectedly: starting a new one');
      worker = startWorker();
    });
    started.unref();
    return started;
  }

  function onMessage(message: ToMain) {
    if (message.type === 'state') {
      latest = message;
      settledWaiters = settledWaiters.filter((waiter) => (waiter.until <= message.committed ? (waiter.resolve(), false) : true));
    } else if (message.type === 'log') {
      logger[message.level](message.object, message.message);
    } else if (message.type === 'closed') {
      closedResolve?.();
    }
  }

  const post = (message: ToWorker) => worker.postMessage(message);
  // Records of one event-loop turn travel together: one message, not one per call.
  function flushOutbox() {
    const lines = outbox;
    outbox = [];
    if (lines.length > 0) post({ type: 'records', lines });
  }

  return {
    journal,
    async record(call) {
      const json = JSON.stringify(call);
      let sealed: string | undefined;
      try {
        sealed = spool.write(json);
      } catch (error) {
        logger.error({ err: error }, 'trace spool write failed: the record goes to the journal without a crash copy');
      }
      if (outbox.length === 0) setImmediate(flushOutbox);
      outbox.push(json);
      posted += 1;
      if (sealed) {
        flushOutbox();
        post({ type: 'sealed', file: sealed });
      }
    },
    settled() {
      const until = posted;
      if ((latest?.committed ?? 0) >= until) return Promise.resolve();
      return new Promise((resolve) => settledWaiters.push({ until, resolve }));
    },
    state() {
      const backlogInFlight = posted - (latest?.committed ?? 0);
      const state = latest?.state ?? (settings.langfuse
        ? { mode: 'langfuse', backlog: 0, oldestUndeliveredAgeSeconds: 0, delivered: 0, retries: 0, rejected: 0, dropped: 0, writeErrors: 0, status: 'idle' }
        : { mode: 'local', stored: 0, dropped: 0, writeErrors: 0 });
      if (state.mode === 'local') return { ...state, stored: state.stored + backlogInFlight };
      const age = state.backlog > 0 && latest ? state.oldestUndeliveredAgeSeconds + Math.round((Date.now() - latest.at) / 1000) : 0;
      return { ...state, backlog: state.backlog + backlogInFlight, oldestUndeliveredAgeSeconds: age };
    },
    close(flushTimeoutMs) {
      closing ??= (async () => {
        // The worker is unref'd so that it never holds the process open; while it flushes, it must, or a
        // shutdown whose server is already closed would exit before the worker's answer (and its delivery).
        worker.ref();
        flushOutbox();
        const sealed = spool.close();
        const closed = new Promise<void>((resolve) => { closedResolve = resolve; });
        post({ type: 'close', flushTimeoutMs, sealed });
        const limit = new Promise<void>((resolve) => setTimeout(resolve, flushTimeoutMs + 5000).unref());
        await Promise.race([closed, limit]);
        await worker.terminate();
        journal.close();
      })();
      return closing;
    },
  };
}
