// Rows that one at a time can fail a batch (a 12 MB image over a slow uplink, a record Langfuse answers 500 to),
// kept from holding back the others. A batch that fails in a way one record can cause (a time-out, a 500/502/504)
// is tried again in halves, down to one row; a row that fails so alone is left out of the next batches until others
// get through (several such rows are all left out: two of them must not take turns at the head of the queue); if it
// fails alone again after others got through, it is set aside and tried alone later (after a minute, doubling up to
// 30 while it keeps failing), outside the batches and their backoff: never dropped.
import type { BatchOutcome } from './deliver-batch.ts';
import type { PendingRow } from './journal.ts';
import type { Logger } from './logger.ts';

export interface TroublesomeRowsOptions {
  batchSize: number;
  maxBatchBytes: number;
  /** How long a row is set aside at first; doubles up to 30 min. */
  parkMs?: number;
  /** When the shipper last got rows delivered. */
  lastDeliveredAt: () => number | undefined;
  now: () => number;
  logger: Logger;
}

const maxParkMs = 30 * 60_000;

export function createTroublesomeRows(options: TroublesomeRowsOptions) {
  const { batchSize, maxBatchBytes, lastDeliveredAt, now, logger } = options;
  const parkMs = options.parkMs ?? 60_000;
  let limitRows = batchSize;
  let limitBytes = maxBatchBytes;
  /** Rows that failed alone, with the time they first did. */
  const suspects = new Map<number, number>();
  const parked = new Map<number, { row: PendingRow; until: number; wait: number }>();
  /** Rows that failed alone since rows last got through: the next batches leave them out. */
  const skipped = new Set<number>();

  function park(row: PendingRow, reason: string) {
    const wait = Math.min(maxParkMs, (parked.get(row.seq)?.wait ?? parkMs / 2) * 2);
    parked.set(row.seq, { row, until: now() + wait, wait });
    suspects.delete(row.seq);
    logger.warn({ reason, retryInSeconds: wait / 1000 }, 'a trace record fails on its own while others are delivered: set aside, tried again alone later');
  }

  return {
    /** The next batch from `pending`, within the current limits, without the rows set aside nor `alsoSkip`. */
    nextBatch(pending: (limit: number, maxBytes: number, skip: ReadonlySet<number>) => PendingRow[], alsoSkip: Iterable<number>): PendingRow[] {
      const setAside = new Set([...parked.keys(), ...alsoSkip]);
      const rows = pending(limitRows, limitBytes, skipped.size === 0 ? setAside : new Set([...setAside, ...skipped]));
      // Nothing else to send: the rows left out go again.
      if (rows.length > 0 || skipped.size === 0) return rows;
      skipped.clear();
      return pending(limitRows, limitBytes, setAside);
    },

    /** Adjusts the batch size to the outcome; a row that keeps failing alone while others get through is set aside. */
    adapt(rows: PendingRow[], outcome: BatchOutcome): void {
      if (outcome.kind === 'ok') {
        // Others got through: the rows left out are tried again (and set aside if they fail alone once more).
        skipped.clear();
        for (const row of rows) suspects.delete(row.seq);
        limitRows = Math.min(batchSize, limitRows * 2);
        limitBytes = Math.min(maxBatchBytes, limitBytes * 2);
        return;
      }
      if (outcome.kind === 'retry' && !outcome.suspect) skipped.clear(); // an outage: no row is at fault
      if (outcome.kind !== 'retry' || !outcome.suspect) return;
      if (rows.length > 1) {
        limitRows = Math.ceil(rows.length / 2);
        limitBytes = Math.max(1, Math.floor(rows.reduce((sum, row) => sum + row.bytes, 0) / 2));
        return;
      }
      const row = rows[0] as PendingRow;
      const firstFailedAt = suspects.get(row.seq);
      if (firstFailedAt !== undefined && (lastDeliveredAt() ?? -Infinity) > firstFailedAt) park(row, outcome.reason);
      else {
        if (firstFailedAt === undefined) suspects.set(row.seq, now());
        skipped.add(row.seq);
      }
    },

    /** A set-aside row whose time has come, to be tried alone. */
    due(): PendingRow | undefined {
      for (const entry of parked.values()) if (entry.until <= now()) return entry.row;
      return undefined;
    },

    /** The outcome of trying a set-aside row alone: true when it failed so again and waits longer. */
    probed(row: PendingRow, outcome: BatchOutcome): boolean {
      if (outcome.kind === 'retry' && outcome.suspect) {
        park(row, outcome.reason);
        return true;
      }
      if (outcome.kind !== 'retry') parked.delete(row.seq);
      return false;
    },

    /** How long until the next set-aside row is due, at most `idleMs`. */
    nextDueIn(idleMs: number): number {
      return Math.min(idleMs, ...[...parked.values()].map((entry) => Math.max(0, entry.until - now())));
    },

    /**
     * Langfuse is back from an outage: a set-aside row may have failed because of it rather than itself, so each gets
     * its next try now instead of at the end of its wait (if it fails alone again, its wait doubles as before).
     */
    outageOver(): void {
      for (const entry of parked.values()) entry.until = Math.min(entry.until, now());
    },
  };
}
