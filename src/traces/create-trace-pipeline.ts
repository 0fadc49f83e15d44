// The trace pipeline as the gateway sees it: `record(call)` appends the record to the spool (a
// synchronous write, so it survives a crash; one for all the calls that end in the same turn of the
// event loop) and hands it to the trace worker, which owns the journal and the shipper on another
// thread. The request thread keeps only a read connection for the viewer.
import { Worker } from 'node:worker_threads';
import type { LlmCall } from '../calls/llm-call.ts';
import type { Config } from '../config.ts';
import { configuredSecrets, jsonSecrets, redactJson } from '../redact.ts';
import type { Logger } from './logger.ts';
import { openJournalReader } from './journal-reader.ts';
import type { JournalReader } from './journal-reader.ts';
import { createSpool } from './trace-spool.ts';
import type { SpoolError } from './trace-spool.ts';
import type { DeliveryState, TraceBackendSettings } from './trace-backend.ts';
import type { ToMain, ToWorker, WorkerSettings } from './trace-messages.ts';

export type { DeliveryState } from './trace-backend.ts';
export type TracePipelineSettings = Omit<TraceBackendSettings, 'now'> & {
  /**
   * Records handed to the worker and not yet committed, above which new ones stay in the spool file only
   * (the worker reads them back once the file is sealed), so a worker that lags keeps memory bounded.
   */
  maxInFlight?: number;
  /** Nice value of the trace worker's thread (Linux); see trace-worker.ts. */
  workerNiceness?: number;
  /** How long records gather before they are posted to the worker together. */
  postDelayMs?: number;
  /** Never written to a record: replaced wherever they occur (an upstream error quoting our request, a prompt). */
  secrets?: string[];
};

export interface TracePipeline {
  /** Read access to the journal (the viewer). */
  journal: JournalReader;
  /**
   * Makes the call durable (spool) before it resolves, and queues it for the journal and Langfuse. The records
   * of one turn of the event loop are written together, right after it (`setImmediate`).
   */
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
  return {
    dataDir: config.dataDir, retentionDays, maxBytes: maxJournalBytes, langfuse: config.langfuse, environment, release, serviceVersion, logger,
    secrets: configuredSecrets(config, { generated: true }),
  };
}

/** The trace worker's V8 semi-space (its young generation is three of these). */
const workerSemiSpaceMb = 8;
const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './trace-worker.ts' : './trace-worker.js', import.meta.url);

export function createTracePipeline(settings: TracePipelineSettings): TracePipeline {
  const { logger, maxInFlight = 10_000, workerNiceness = 19, postDelayMs = 50, secrets = [], ...rest } = settings;
  const secretsInJson = jsonSecrets(secrets);
  const journal = openJournalReader(settings.dataDir);
  const spoolSince = Date.now();
  const spool = createSpool(settings.dataDir);
  let outbox: string[] = [];
  let posted = 0;
  /** Records not yet in the spool: the calls that ended in this turn of the event loop. */
  let unwritten: string[] = [];
  /** Resolves once `unwritten` is in the spool (set while there are any). */
  let written: Promise<void> | undefined;
  let resolveWritten: (() => void) | undefined;
  /** Set while the worker lags: the first line of the current spool file that was not posted. */
  let overflowFrom: number | undefined;
  let overflowTimer: NodeJS.Timeout | undefined;
  // How busy the request thread is, for the worker to hold its work back while requests need the CPU.
  const requestLoad = new SharedArrayBuffer(4);
  const load = new Int32Array(requestLoad);
  let sampledAt = performance.eventLoopUtilization();
  const loadTimer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    Atomics.store(load, 0, Math.round(performance.eventLoopUtilization(now, sampledAt).utilization * 1000));
    sampledAt = now;
  }, 100).unref();
  let latest: Extract<ToMain, { type: 'state' }> | undefined;
  let settledWaiters: Array<{ until: number; resolve: () => void }> = [];
  let closing: Promise<void> | undefined;
  let closedResolve: (() => void) | undefined;
  let worker = startWorker();

  function startWorker(): Worker {
    const data: WorkerSettings = { ...rest, spoolSince, niceness: workerNiceness, requestLoad };
    // The worker's young generation holds its batches (up to 500 records and their spans) so they die young:
    // with a 2 MB semi-space the 200,000-call bench run's RSS grew 12.7 % after warm-up (batch objects were
    // promoted), with 8 MB 5.8 %. npm start's --max-semi-space-size=8 gives it the same 8 MB: that flag is
    // process-wide and overrides resourceLimits, which apply when no flag is given.
    const started = new Worker(workerUrl, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 3 * workerSemiSpaceMb } });
    started.on('message', (message: ToMain) => onMessage(message));
    started.on('error', (error) => logger.error({ err: error }, 'trace worker failed'));
    started.on('exit', (code) => {
      if (closing) return;
      // The records it had not committed are in the spool: a new worker reads them back.
      logger.error({ code }, 'trace worker stopped unexpectedly: starting a new one');
      // The new worker reads every spool file back (the current one included): count from zero again.
      posted = 0;
      latest = undefined;
      overflowFrom = undefined;
      for (const waiter of settledWaiters) waiter.resolve();
      settledWaiters = [];
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
  /** Records handed over (posted, or left in the spool for the worker) and not yet committed. */
  const inFlight = () => posted - (latest?.committed ?? 0);
  // Records travel in batches, one message every `postDelayMs` at most: each is already safe in the spool, and
  // a worker woken 20 times a second instead of once per call costs less and disturbs the requests less.
  function flushOutbox() {
    const lines = outbox;
    outbox = [];
    if (lines.length > 0) post({ type: 'records', lines });
  }

  /** Hands a sealed spool file to the worker, with the lines it must read back if they were not posted. */
  function sealed(file: string) {
    flushOutbox();
    post(overflowFrom === undefined ? { type: 'sealed', file } : { type: 'sealed', file, replayFrom: overflowFrom });
    overflowFrom = undefined;
  }

  /** A spool failure that sealed a file first: that file is handed over all the same (with the lines to read back). */
  function sealedDespite(error: unknown) {
    const rotated = (error as SpoolError).sealed;
    if (rotated) sealed(rotated);
  }

  /** While overflowing: once the worker has caught up, seal the file so it reads the rest back now. */
  function watchOverflow() {
    overflowTimer ??= setInterval(() => {
      if (overflowFrom === undefined) {
        clearInterval(overflowTimer);
        overflowTimer = undefined;
      } else if (inFlight() - (spool.lines - overflowFrom) < maxInFlight / 2) {
        try {
          sealed(spool.rotate());
        } catch (error) {
          // The next file could not be opened (the next record tries again).
          logger.error({ err: error }, 'trace spool rotation failed');
          sealedDespite(error);
        }
      }
    }, 250).unref();
  }

  /**
   * Writes the records of this turn to the spool with one write (under load, many calls end in one turn: one
   * system call instead of one each), posts them, then lets their calls answer.
   */
  function writeUnwritten() {
    const jsons = unwritten;
    const resolve = resolveWritten;
    unwritten = [];
    written = undefined;
    resolveWritten = undefined;
    if (jsons.length === 0) return;
    try {
      let stored = false;
      try {
        const rotated = spool.write(jsons);
        stored = true;
        if (rotated) sealed(rotated);
      } catch (error) {
        logger.error({ err: error, records: jsons.length }, 'trace spool write failed: the records go to the journal without a crash copy');
        sealedDespite(error);
      }
      const firstLine = spool.lines - jsons.length;
      for (const [index, json] of jsons.entries()) {
        posted += 1;
        if (stored && overflowFrom === undefined && inFlight() > maxInFlight) {
          overflowFrom = firstLine + index;
          logger.warn({ inFlight: maxInFlight }, 'trace worker is behind: records wait in the spool file until it catches up');
          watchOverflow();
        }
        if (stored && overflowFrom !== undefined) continue;
        if (outbox.length === 0) setTimeout(flushOutbox, postDelayMs).unref();
        outbox.push(json);
      }
    } finally {
      // Whatever happened, the calls answer: a trace problem never holds a client.
      resolve?.();
    }
  }

  return {
    journal,
    record(call) {
      unwritten.push(redactJson(JSON.stringify(call), secretsInJson));
      written ??= new Promise((resolve) => {
        resolveWritten = resolve;
        setImmediate(writeUnwritten);
      });
      return written;
    },
    settled() {
      const until = posted + unwritten.length;
      if ((latest?.committed ?? 0) >= until) return Promise.resolve();
      return new Promise((resolve) => settledWaiters.push({ until, resolve }));
    },
    state() {
      const backlogInFlight = inFlight() + unwritten.length;
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
        writeUnwritten();
        flushOutbox();
        if (overflowTimer) clearInterval(overflowTimer);
        clearInterval(loadTimer);
        const last = spool.close();
        const closed = new Promise<void>((resolve) => { closedResolve = resolve; });
        post({ type: 'close', flushTimeoutMs, sealed: last, ...(overflowFrom === undefined ? {} : { replayFrom: overflowFrom }) });
        const limit = new Promise<void>((resolve) => setTimeout(resolve, flushTimeoutMs + 5000).unref());
        await Promise.race([closed, limit]);
        await worker.terminate();
        journal.close();
      })();
      return closing;
    },
  };
}
