// The background shipper: sends the journal's undelivered calls to Langfuse, one request at a time,
// retrying transient failures forever with capped, jittered backoff, off the request path.
import type { Journal, JournalStats, PendingRow } from './journal.ts';
import type { LangfuseExporter } from './langfuse-exporter.ts';
import type { SpanOptions } from './langfuse-spans.ts';
import type { Logger } from './logger.ts';
import { createBatchDelivery } from './deliver-batch.ts';
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
  /**
   * Rows whose outcome (delivered, or refused by Langfuse) the journal could not record yet (a full disk): recorded
   * later, never sent again meanwhile.
   */
  const unmarked = new Map<number, { kind: 'delivered' } | { kind: 'rejected'; reason: string }>();

  const deliverBatch = createBatchDelivery({
    ...options,
    onUnmarked(seqs, outcome, error) {
      if (unmarked.size === 0) logger.error({ err: error, rows: seqs.length }, 'trace records delivered to Langfuse (or refused by it) but not marked so in the journal (a full disk?): marked once it can write, not sent again');
      for (const seq of seqs) unmarked.set(seq, outcome);
    },
    onRejected(result, rows) {
      runtime.lastError = { message: result.reason, at: now() };
      const kind = `${result.status} ${result.reason.slice(0, 60).replace(/\d+/g, '#')}`;
      if (loggedKinds.has(kind)) return;
      loggedKinds.add(kind);
      logger.error({ status: result.status, reason: result.reason, rows },
        'Langfuse refused trace records: they are kept, counted on /health and retried after a restart');
    },
  });

  // A batch that fails in a way one record can cause (a time-out, a 500/502/504) is tried again in halves, down to
  // one row, so one large or troublesome record cannot hold back the others (a 12 MB image over a slow uplink, a
  // record Langfuse answers 500 to). A row that fails so alone is left out of the next batch; if it fails alone
  // again after others got through, it is set aside and tried alone later (after a minute, doubling up to 30 while
  // it keeps failing), outside the batches and their backoff: never dropped.
  const parkMs = options.parkMs ?? 60_000;
  const maxParkMs = 30 * 60_000;
  let limitRows = batchSize;
  let limitBytes = maxBatchBytes;
  /** Rows that failed alone, with the time they first did. */
  const suspects = new Map<number, number>();
  const parked = new Map<number, { row: PendingRow; until: number; wait: number }>();
  /** The row that just failed alone: the next batch leaves it out. */
  let skipOnce: number | undefined;
  /**
   * Langfuse failed in a way no record causes (a 503, a 429, no connection) since the last delivery: the next
   * delivery is its recovery. Not set by a time-out or a 500, which a single troublesome record also gives.
   */
  let outage = false;

  const nextBatch = (): PendingRow[] => {
    const setAside = new Set([...parked.keys(), ...unmarked.keys()]);
    const rows = journal.pending(limitRows, limitBytes, skipOnce === undefined ? setAside : new Set([...setAside, skipOnce]));
    // Nothing else to send: the row left out goes again.
    if (rows.length > 0 || skipOnce === undefined) return rows;
    skipOnce = undefined;
    return journal.pending(limitRows, limitBytes, setAside);
  };
  /** How long until the next set-aside row is due, at most the idle poll. */
  const nextProbeIn = () => Math.min(idleDelayMs, ...[...parked.values()].map((entry) => Math.max(0, entry.until - now())));

  function park(row: PendingRow, reason: string) {
    const wait = Math.min(maxParkMs, (parked.get(row.seq)?.wait ?? parkMs / 2) * 2);
    parked.set(row.seq, { row, until: now() + wait, wait });
    suspects.delete(row.seq);
    logger.warn({ reason, retryInSeconds: wait / 1000 }, 'a trace record fails on its own while others are delivered: set aside, tried again alone later');
  }

  /** Adjusts the batch size to the outcome; a row that keeps failing alone while others get through is set aside. */
  function adapt(rows: PendingRow[], outcome: BatchOutcome) {
    skipOnce = undefined;
    if (outcome.kind === 'ok') {
      for (const row of rows) suspects.delete(row.seq);
      limitRows = Math.min(batchSize, limitRows * 2);
      limitBytes = Math.min(maxBatchBytes, limitBytes * 2);
      return;
    }
    if (outcome.kind !== 'retry' || !outcome.suspect) return;
    if (rows.length > 1) {
      limitRows = Math.ceil(rows.length / 2);
      limitBytes = Math.max(1, Math.floor(rows.reduce((sum, row) => sum + row.bytes, 0) / 2));
      return;
    }
    const row = rows[0] as PendingRow;
    const firstFailedAt = suspects.get(row.seq);
    if (firstFailedAt !== undefined && (runtime.lastDeliveredAt ?? -Infinity) > firstFailedAt) park(row, outcome.reason);
    else {
      if (firstFailedAt === undefined) suspects.set(row.seq, now());
      skipOnce = row.seq;
    }
  }

  /** A set-aside row whose time has come, tried alone: if it fails so again it waits longer; the rest is unaffected. */
  async function probe(seq: number, row: PendingRow): Promise<number> {
    const outcome = await deliverBatch([row], abort.signal);
    if (outcome.kind === 'retry' && outcome.suspect) {
      park(row, outcome.reason);
      return 0;
    }
    if (outcome.kind !== 'retry') parked.delete(seq);
    return settle(outcome);
  }

  async function deliverNext(rows: PendingRow[]): Promise<number> {
    const outcome = await deliverBatch(rows, abort.signal);
    const wait = settle(outcome);
    adapt(rows, outcome);
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
      if (!runtime.paused) {
        logger.error({ status: outcome.status, reason: outcome.reason, retryInSeconds: unauthorizedRetryMs / 1000 },
          'Langfuse refused the keys: check LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY; the backlog is kept, tried again every few minutes and sent after a restart');
      }
      runtime.paused = true;
      runtime.lastError = { message: outcome.reason, at: now() };
      return unauthorizedRetryMs;
    }
    // Every row of a sizeable batch refused one by one: the problem is not in the rows, and
    // bisecting the rest of the backlog would only hammer Langfuse with doomed requests.
    if (outcome.delivered === 0 && outcome.rejected >= systemicRejection) {
      runtime.paused = true;
      logger.error({ rows: outcome.rejected, reason: runtime.lastError?.message },
        'Langfuse refuses every trace record: shipping paused until a restart, the backlog is kept');
      return Infinity;
    }
    if (runtime.failures > 0) logger.info({ failures: runtime.failures }, 'Langfuse delivery recovered');
    // A pause for every row refused sends nothing more, so a delivery while paused is a refused-keys probe getting through.
    if (runtime.paused) logger.info({ delivered: outcome.delivered }, 'Langfuse accepted the keys again: shipping resumed');
    // Langfuse is back: a set-aside row may have failed because of the outage rather than itself, so each gets its
    // next try now instead of at the end of its wait (if it fails alone again, its wait doubles as before).
    if (outage || runtime.paused) for (const entry of parked.values()) entry.until = Math.min(entry.until, now());
    outage = false;
    runtime.failures = 0;
    runtime.paused = false;
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

  /** Records the outcomes the journal could not record before; false while it still cannot. */
  function markUnmarked(): boolean {
    if (unmarked.size === 0) return true;
    try {
      const delivered = [...unmarked].filter(([, outcome]) => outcome.kind === 'delivered').map(([seq]) => seq);
      if (delivered.length > 0) journal.markDelivered(delivered);
      for (const seq of delivered) unmarked.delete(seq);
      for (const [seq, outcome] of unmarked) {
        if (outcome.kind === 'rejected') journal.markRejected([seq], outcome.reason);
        unmarked.delete(seq);
      }
      logger.info({}, 'trace records delivered (or refused) earlier are now marked so in the journal');
      return true;
    } catch {
      return false;
    }
  }

  /** One step: send the oldest batch; returns how long to wait before the next step. */
  async function step(): Promise<number> {
    markUnmarked();
    for (const [seq, entry] of parked) if (entry.until <= now()) return probe(seq, entry.row);
    const rows = nextBatch();
    if (rows.length === 0) return nextProbeIn();
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
        markUnmarked();
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
      markUnmarked();
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
