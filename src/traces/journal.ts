// The durable journal of call records (node:sqlite, WAL): the gateway appends each call as its
// response completes, the shipper reads the undelivered ones, the viewer lists them.
import type { DatabaseSync } from 'node:sqlite';
import type { LlmCall } from '../calls/llm-call.ts';
import { callRow, insertCallIfAbsentSql, openJournalDatabase, upsertCallSql, upsertRecordSql } from './journal-database.ts';
import type { Delivery } from './journal-database.ts';
import { createJournalDelivery } from './journal-delivery.ts';
import type { PendingRow } from './journal-delivery.ts';
import { createJournalPruner } from './journal-pruner.ts';
import type { PruneResult } from './journal-pruner.ts';
import { createRewrites, isStorageError } from './journal-rewrites.ts';
import { createJournalViews } from './journal-views.ts';
import type { CallDetail, CallSummary, ListQuery } from './journal-views.ts';
import type { Logger } from './logger.ts';

export type { Delivery } from './journal-database.ts';
export type { CallDetail, CallSummary, ListQuery } from './journal-views.ts';
export type { PruneResult } from './journal-pruner.ts';
export type { PendingRow } from './journal-delivery.ts';

export interface JournalOptions {
  dataDir: string;
  retentionDays: number;
  maxBytes: number;
  /** False when Langfuse is not configured: new rows are stored as 'local' and never shipped. */
  shipping: boolean;
  logger: Logger;
  now?: () => number;
  pruneIntervalMs?: number;
  /**
   * How long appends gather before one transaction commits them. 0 (default): the same event-loop turn.
   * The trace worker waits longer: the spool already made each call durable, so bigger transactions cost nothing.
   */
  commitDelayMs?: number;
  /** First wait before records that could not be written (a full disk) are tried again; it doubles up to 30 s. */
  rewriteDelayMs?: number;
  /** Most records kept in memory for another try; beyond, a record that cannot be written is not stored. */
  maxRewrite?: number;
  /** Opens the database (tests wrap it, e.g. to make it full). */
  openDatabase?: (dataDir: string) => DatabaseSync;
}

export interface JournalStats {
  total: number;
  /** Undelivered rows: pending plus rejected (rejected ones are retried after a restart). */
  backlog: number;
  rejected: number;
  oldestUndeliveredAt?: number;
  /** Undelivered rows ever dropped to keep the journal under its size limit. */
  dropped: number;
  /** Records that could not be written (this process). */
  writeErrors: number;
  /** Group-commit transactions (this process). */
  commits: number;
  /** The last write the journal could not make (a full disk), whether or not its records were kept for later. */
  lastWriteError?: { message: string; at: number };
}

export interface AppendOptions {
  /** The record already serialised (the spool line), so it is not serialised twice. */
  json?: string;
  /** Replaying the spool after a restart: a call the journal already has is left as it is. */
  ifAbsent?: boolean;
  /** The call's span, already written (UTF-8 bytes): kept for the shipper instead of the call object. */
  span?: Buffer;
}

export interface Journal {
  /** Resolves once the call is committed (true; also when it was there already) or not stored (false, logged): never rejects. */
  append(call: LlmCall, options?: AppendOptions): Promise<boolean>;
  /** The oldest undelivered rows: at most `limit`, and about `maxBytes` of records (at least one), none of `skip`. */
  pending(limit: number, maxBytes?: number, skip?: ReadonlySet<number>): PendingRow[];
  /** The last write went through and no record waits in memory for room: the journal takes records now. */
  writable(): boolean;
  markDelivered(seqs: number[]): void;
  markFailed(seqs: number[], error: string): void;
  markRejected(seqs: number[], error: string): void;
  /** Start-up: rejected rows become pending again, so fixed keys or a fixed server deliver them. */
  resetRejected(): number;
  stats(): JournalStats;
  list(query: ListQuery): { items: CallSummary[]; nextBefore?: number };
  get(id: string): CallDetail | undefined;
  /** One call for the viewer's API as JSON bytes: the stored record and its delivery state. */
  getJson(id: string): Buffer | undefined;
  prune(): PruneResult;
  /** One more try, now, to store the records it could not store yet (a full disk) and keeps in memory. */
  retryHeld(): void;
  /** Spans of the records it could not store yet, kept in memory. */
  heldSpans(): Buffer[];
  /** Held records Langfuse took directly (at shutdown): no longer held, not counted as lost. */
  forgetHeld(sent: ReadonlySet<Buffer>): void;
  close(): void;
}

/** Rows the shipper can take from memory instead of reading and parsing them back. */
const recentCacheSize = 5_000;

interface Waiting {
  /** The call's row, made when it is appended: the call object is not kept until the commit (batches would
   *  then outlive a scavenge and be promoted). */
  row: ReturnType<typeof callRow>;
  ifAbsent: boolean;
  span?: Buffer;
  /** Only when no span was written: the shipper then maps the call itself. */
  call?: LlmCall;
  resolve: (stored: boolean) => void;
}

export function createJournal(options: JournalOptions): Journal {
  const now = options.now ?? Date.now;
  const { logger } = options;
  const db = (options.openDatabase ?? openJournalDatabase)(options.dataDir);
  const upsertCall = db.prepare(upsertCallSql);
  const insertCallIfAbsent = db.prepare(insertCallIfAbsentSql);
  const upsertRecord = db.prepare(upsertRecordSql);
  const delivery = createJournalDelivery(db, now, options.shipping ? recentCacheSize : 0);
  const views = createJournalViews(db);
  const pruner = createJournalPruner(db, { ...options, now });
  const newRowDelivery: Delivery = options.shipping ? 'pending' : 'local';

  let queue: Waiting[] = [];
  let closed = false;
  let writeErrors = 0;
  let commits = 0;
  let lastCommitFailed = false;
  let lastWriteError: JournalStats['lastWriteError'];
  // Counted once here, then kept up to date: a COUNT(*) over a large journal costs milliseconds.
  let total = Number((db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n);

  function writeFailed(count: number, error: unknown, id?: string) {
    writeErrors += count;
    logger.error({ err: error, calls: count, id }, 'trace journal write failed: call record(s) not stored (those a spool file holds are read again at the next start; a record whose spool write failed too is lost)');
  }

  const rewrites = createRewrites<Waiting>({
    commit: commitRows,
    lost: writeFailed,
    logger,
    firstDelayMs: options.rewriteDelayMs ?? 1000,
    maxRecords: options.maxRewrite ?? 20_000,
  });

  /** Writes a batch in one transaction; if that fails for a reason of the journal's, all wait; else one by one. */
  function store(batch: Waiting[]) {
    const error = commitRows(batch);
    if (error === undefined) {
      for (const waiting of batch) waiting.resolve(true);
      rewrites.soon();
      return;
    }
    if (isStorageError(error)) {
      rewrites.keep(batch, error);
      return;
    }
    const waitAgain: Waiting[] = [];
    const refused: Waiting[] = [];
    for (const waiting of batch) {
      const rowError = batch.length === 1 ? error : commitRows([waiting]);
      if (rowError === undefined) waiting.resolve(true);
      else if (isStorageError(rowError)) waitAgain.push(waiting);
      else refused.push(waiting);
    }
    // One line for the batch: a line per call could flood the log.
    if (refused.length > 0) writeFailed(refused.length, error, refused[0]?.row.columns[0] as string);
    for (const waiting of refused) waiting.resolve(false);
    rewrites.keep(waitAgain, error);
  }

  // Group commit: every append of one event-loop turn shares one transaction, so the cost of a
  // COMMIT is paid once per turn, not once per call.
  function commitQueue() {
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    if (closed) {
      writeFailed(batch.length, new Error('journal is closed'));
      for (const waiting of batch) waiting.resolve(false);
      return;
    }
    // One transaction for the batch; if a record refuses it, one per call, so that it does not take the others with it.
    store(batch);
  }

  /** Commits the rows in one transaction; the error if it failed and was rolled back, else undefined. */
  function commitRows(rows: Waiting[]): unknown {
    const committed: PendingRow[] = [];
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const { row: { columns, record }, ifAbsent, call, span } of rows) {
          const inserted = (ifAbsent ? insertCallIfAbsent : upsertCall).get(...columns) as { seq: number } | undefined;
          if (!inserted) continue;
          upsertRecord.run(inserted.seq, record);
          committed.push(span === undefined ? { seq: inserted.seq, call, bytes: record.length } : { seq: inserted.seq, span, bytes: span.length });
        }
        db.exec('COMMIT');
        commits += 1;
        lastCommitFailed = false;
        delivery.remember(committed);
        total += committed.length;
        return undefined;
      } catch (error) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw error;
      }
    } catch (error) {
      // A record refused for a reason of its own (a constraint) says nothing about the journal taking others.
      lastCommitFailed = isStorageError(error);
      lastWriteError = { message: `journal write failed: ${error instanceof Error ? error.message : String(error)}`, at: now() };
      return error ?? new Error('journal commit failed');
    }
  }

  const prune = () => {
    const result = pruner();
    total -= result.expired + result.evicted + result.droppedUndelivered;
    return result;
  };
  function pruneQuietly() {
    try {
      prune();
    } catch (error) {
      logger.error({ err: error }, 'trace journal pruning failed');
    }
  }
  pruneQuietly();
  const pruneTimer = setInterval(pruneQuietly, options.pruneIntervalMs ?? 60_000);
  pruneTimer.unref();

  return {
    writable: () => !closed && !lastCommitFailed && rewrites.size === 0,
    append(call, appendOptions) {
      let row: ReturnType<typeof callRow>;
      try {
        row = callRow(call, newRowDelivery, appendOptions?.json);
      } catch (error) {
        writeFailed(1, error, call.id);
        return Promise.resolve(false);
      }
      return new Promise<boolean>((resolve) => {
        if (queue.length === 0) {
          if (options.commitDelayMs) setTimeout(commitQueue, options.commitDelayMs);
          else setImmediate(commitQueue);
        }
        const span = appendOptions?.span;
        queue.push({ row, ifAbsent: appendOptions?.ifAbsent === true, span, ...(span === undefined ? { call } : {}), resolve });
      });
    },
    ...delivery,
    stats: () => {
      const counts = delivery.counts();
      // Records waiting in memory for the journal are undelivered too.
      return { ...counts, backlog: counts.backlog + rewrites.size, total, writeErrors, commits, ...(lastWriteError ? { lastWriteError } : {}) };
    },
    list: views.list,
    get: views.get,
    getJson: views.getJson,
    prune,
    retryHeld: () => rewrites.tryNow(),
    heldSpans: () => rewrites.waitingSpans(),
    forgetHeld: (sent) => rewrites.forgetSent(sent),
    close() {
      if (closed) return;
      if (queue.length > 0) commitQueue();
      rewrites.close();
      closed = true;
      clearInterval(pruneTimer);
      db.close();
    },
  };
}
