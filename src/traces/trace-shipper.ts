// The background shipper: sends the journal's undelivered calls to Langfuse, one request at a time,
// retrying transient failures forever with capped, jittered backoff, off the request path.
import type { Journal, JournalStats, PendingRow } from './journal.ts';
import type { LangfuseExporter } from './langfuse-exporter.ts';
import type { SpanOptions } from './langfuse-spans.ts';
import type { Logger } from './logger.ts';
import { createBatchDelivery } from './deliver-batch.ts';
import { createTroublesomeRows } from './troublesome-rows.ts';
import { createUnmarkedOutcomes } from './unmarked-outcomes.ts';
import type { BatchOutcome } from './deliver-batch.ts';
import { backoffDelay } from './backoff-delay.ts';
import type { BackoffSettings } from './backoff-delay.ts';
import { shipperState } from './shipper-state.ts';
import type { ShipperRuntime, ShipperState } from './shipper-state.ts';

export type { ShipperState, ShipperStatus } from './shipper-state.ts';

export interface TraceShipperOptions {
  journal: Pick<Journal, 'pending' | 'markDelivered' | 'markFailed' | 'markRejected' | 'stats'>;
  exporter: Pick<LangfuseExporter, 'send'>;
  logger: Logger;
  spanOptions: SpanOptions;
  batchSize?: number;
  maxBatchBytes?: number;
  /** How often to look at the journal when nothing notified us. */
  idleDelayMs?: number;
  /** How long `notify()` waits, so calls finishing together share a request. */
  notifyDelayMs?: number;
  /** After Langfuse refused the keys, how long until the oldest batch is tried again (keys fixed on its side). */
  unauthorizedRetryMs?: number;
  /** After Langfuse refused every record of a batch, how long until one newer record is tried alone. */
  refusedRetryMs?: number;
  /** How long a row that keeps failing alone (while others are delivered) is set aside at first; doubles up to 30 min. */
  parkMs?: number;
  backoff?: Partial<BackoffSettings>;
  random?: () => number;
  now?: () => number;
}

export interface TraceShipper {
  start(): void;
  notify(): void;
  /** Sends what it can before the time is up, then stops; what is left ships after the next start. */
  flush(timeoutMs: number): Promise<{ remaining?: number }>;
  stop(): Promise<void>;
  state(): ShipperState;
}

export function createTraceShipper(options: TraceShipperOptions): TraceShipper {
  const { journal, logger } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  // Up to a second of calls per request: Langfuse ingests asynchronously anyway, and fewer, larger batches
  // cost the worker less per call (one request, one gzip, one UPDATE per batch).
  const batchSize = options.batchSize ?? 500;
  const maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
  const idleDelayMs = options.idleDelayMs ?? 5000;
  const notifyDelayMs = options.notifyDelayMs ?? 1000;
  const unauthorizedRetryMs = options.unauthorizedRetryMs ?? 5 * 60_000;
  const refusedRetryMs = options.refusedRetryMs ?? 30_000;
  const backoff = { baseMs: 500, maxMs: 60_000, maxRetryAfterMs: 300_000, ...options.backoff };
  const systemicRejection = 4;

  let stopped = true;
  const runtime: ShipperRuntime = { paused: false, failures: 0, delivered: 0, retries: 0 };
  let running: Promise<number> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let abort = new AbortController();
  const loggedKinds = new Set<string>();
  const unmarked = createUnmarkedOutcomes(journal, logger);

  const deliverBatch = createBatchDelivery({
    ...options,
    onUnmarked: unmarked.remember,
    onRejected(result, rows) {
      runtime.lastError = { message: result.reason, at: now() };
      const kind = `${result.status} ${result.reason.slice(0, 60).replace(/\d+/g, '#')}`;
      if (loggedKinds.has(kind)) return;
      loggedKinds.add(kind);
      logger.error({ status: result.status, reason: result.reason, rows },
        'Langfuse refused trace records: they are kept, counted on /health and retried after a restart');
    },
  });

  const troublesome = createTroublesomeRows({ batchSize, maxBatchBytes, parkMs: options.parkMs, lastDeliveredAt: () => runtime.lastDeliveredAt, now, logger });
  /**
   * Langfuse failed in a way no record causes (a 503, a 429, no connection) since the last delivery: the next
   * delivery is its recovery. Not set by a time-out or a 500, which a single troublesome record also gives.
   */
  let outage = false;
  /**
   * Paused because Langfuse refused every record it was sent: until it takes one, one record at a time is tried (the
   * oldest still pending: the refused ones are marked so), never a batch that it would take hundreds of requests to split.
   */
  let refusing = false;
  const oneRow: typeof journal.pending = (_limit, maxBytes, skip) => journal.pending(1, maxBytes, skip);

  const nextBatch = (): PendingRow[] => troublesome.nextBatch(refusing ? oneRow : journal.pending, unmarked.seqs());

  /** A set-aside row whose time has come, tried alone: if it fails so again it waits longer; the rest is unaffected. */
  async function probe(row: PendingRow): Promise<number> {
    const outcome = await deliverBatch([row], abort.signal);
    return troublesome.probed(row, outcome) ? 0 : settle(outcome);
  }

  async function deliverNext(rows: PendingRow[]): Promise<number> {
    const outcome = await deliverBatch(rows, abort.signal);
    const wait = settle(outcome);
    troublesome.adapt(rows, outcome);
    return wait;
  }

  function failed(reason: string, retryAfterMs?: number): number {
    runtime.failures += 1;
    runtime.retries += 1;
    runtime.lastError = { message: reason, at: now() };
    if (runtime.failures === 1 || runtime.failures % 20 === 0) logger.warn({ reason, failures: runtime.failures }, 'Langfuse delivery failed; retrying');
    return backoffDelay(runtime.failures, backoff, random, retryAfterMs);
  }

  function settle(outcome: BatchOutcome): number {
    runtime.delivered += outcome.delivered;
    if (outcome.delivered > 0) runtime.lastDeliveredAt = now();
    if (outcome.kind === 'retry') {
      if (!outcome.suspect) outage = true;
      return failed(outcome.reason, outcome.retryAfterMs);
    }
    if (outcome.kind === 'unauthorized') {
      // Paused, not stopped: one batch every few minutes finds out when the keys work again (a key re-enabled
      // or a project restored on Langfuse's side); a restart with fixed keys sends the backlog at once.
      // (Paused for refused records, it had not heard of the keys yet: now it has.)
      if (!runtime.paused || refusing) {
        refusing = false;
        logger.error({ status: outcome.status, reason: outcome.reason, retryInSeconds: unauthorizedRetryMs / 1000 },
          'Langfuse refused the keys: check LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY; the backlog is kept, tried again every few minutes and sent after a restart');
      }
      runtime.paused = true;
      runtime.lastError = { message: outcome.reason, at: now() };
      return unauthorizedRetryMs;
    }
    // Every row of a sizeable batch refused one by one: the problem may not be in the rows, and bisecting the rest
    // of the backlog would only hammer Langfuse with doomed requests. But it may be (a few records it refuses, alone
    // in a batch): one newer record at a time finds out, and shipping resumes as soon as one is taken.
    if (outcome.delivered === 0 && (outcome.rejected >= systemicRejection || (refusing && outcome.rejected > 0))) {
      if (!refusing) {
        logger.error({ rows: outcome.rejected, reason: runtime.lastError?.message, retryInSeconds: refusedRetryMs / 1000 },
          'Langfuse refused every trace record it was sent: shipping paused, one record tried alone every so often; the refused ones are kept and retried after a restart');
      }
      runtime.paused = true;
      refusing = true;
      return refusedRetryMs;
    }
    if (runtime.failures > 0) logger.info({ failures: runtime.failures }, 'Langfuse delivery recovered');
    if (runtime.paused) {
      logger.info({ delivered: outcome.delivered }, refusing ? 'Langfuse takes trace records again: shipping resumed' : 'Langfuse accepted the keys again: shipping resumed');
    }
    if (outage || runtime.paused) troublesome.outageOver();
    outage = false;
    runtime.failures = 0;
    runtime.paused = false;
    refusing = false;
    return 0;
  }

  // /health and shutdown must answer even if the journal cannot be read.
  function safeStats(): JournalStats | undefined {
    try {
      return journal.stats();
    } catch (error) {
      runtime.lastError = { message: `journal unreadable: ${String(error)}`, at: now() };
      return undefined;
    }
  }

  /** One step: send the oldest batch; returns how long to wait before the next step. */
  async function step(): Promise<number> {
    unmarked.markAll();
    const due = troublesome.due();
    if (due) return probe(due);
    const rows = nextBatch();
    if (rows.length === 0) return troublesome.nextDueIn(idleDelayMs);
    return deliverNext(rows);
  }

  function cancelTimer() {
    clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  }

  function schedule(delayMs: number) {
    if (stopped || !Number.isFinite(delayMs)) return;
    const at = now() + delayMs;
    if (timer && timerAt <= at) return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      void cycle();
    }, delayMs);
    timer.unref();
  }

  async function guardedStep(): Promise<number> {
    try {
      return await step();
    } catch (error) {
      logger.error({ err: error }, 'trace shipper step failed');
      return failed(`shipper error: ${String(error)}`);
    }
  }

  async function cycle(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    again = false;
    running = guardedStep();
    const next = await running;
    running = undefined;
    // A notify() that arrived during the step must not wait for the idle poll.
    schedule(again && runtime.failures === 0 && !runtime.paused ? Math.min(next, notifyDelayMs) : next);
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      abort = new AbortController();
      schedule(0);
    },
    notify() {
      if (runtime.failures === 0 && !runtime.paused) schedule(notifyDelayMs);
    },
    async flush(timeoutMs) {
      const deadline = now() + timeoutMs;
      cancelTimer();
      const wasStopped = stopped;
      stopped = true;
      // At the deadline, the request in flight is abandoned; its rows stay pending.
      const deadlineTimer = setTimeout(() => abort.abort(), timeoutMs);
      deadlineTimer.unref();
      try {
        if (running) await running;
        unmarked.markAll();
        while (!wasStopped && !runtime.paused && now() < deadline && !abort.signal.aborted) {
          const rows = nextBatch();
          if (rows.length === 0) break;
          const wait = await deliverNext(rows);
          if (runtime.paused) break;
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(0, deadline - now()))));
        }
      } catch (error) {
        logger.error({ err: error }, 'trace shipper flush failed');
      } finally {
        clearTimeout(deadlineTimer);
        abort.abort();
      }
      unmarked.markAll();
      const stats = safeStats();
      return { remaining: stats ? stats.backlog - stats.rejected : undefined };
    },
    async stop() {
      stopped = true;
      cancelTimer();
      abort.abort();
      if (running) await running;
    },
    state() {
      const stats = safeStats() ?? { total: 0, backlog: 0, rejected: 0, dropped: 0, writeErrors: 0, commits: 0 };
      return shipperState(stats, runtime, now());
    },
  };
}
