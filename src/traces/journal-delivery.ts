// The journal's delivery bookkeeping: which rows still have to reach Langfuse, and what happened
// to each attempt (the issue: a row is marked delivered only on a 2xx answer).
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import type { LlmCall } from '../calls/llm-call.ts';

export interface PendingRow {
  seq: number;
  call: LlmCall;
  /** Size of the stored JSON record, for sizing batches. */
  bytes: number;
}

export function createJournalDelivery(db: DatabaseSync, now: () => number) {
  const selectPending = db.prepare(`SELECT calls.seq, records.record FROM calls JOIN records ON records.seq = calls.seq
    WHERE calls.delivery = 'pending' ORDER BY calls.started_at LIMIT ?`);
  // Each count is an index range, so /health stays cheap with a large journal.
  const counts = db.prepare(`SELECT (SELECT COUNT(*) FROM calls) AS total,
    (SELECT COUNT(*) FROM calls WHERE delivery = 'pending') AS pending,
    (SELECT COUNT(*) FROM calls WHERE delivery = 'rejected') AS rejected,
    (SELECT MIN(started_at) FROM calls WHERE delivery = 'pending') AS oldest_pending,
    (SELECT MIN(started_at) FROM calls WHERE delivery = 'rejected') AS oldest_rejected,
    (SELECT value FROM meta WHERE key = 'dropped') AS dropped`);

  function inTransaction(sql: string) {
    const statement = db.prepare(sql);
    return (seqs: number[], ...params: SQLInputValue[]) => {
      if (seqs.length === 0) return;
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const seq of seqs) statement.run(...params, seq);
        db.exec('COMMIT');
      } catch (error) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw error;
      }
    };
  }
  const delivered = inTransaction(`UPDATE calls SET delivery = 'delivered', delivered_at = ?, last_error = NULL
    WHERE seq = ? AND delivery = 'pending'`);
  const failed = inTransaction('UPDATE calls SET attempts = attempts + 1, last_error = ? WHERE seq = ?');
  const rejected = inTransaction(`UPDATE calls SET delivery = 'rejected', attempts = attempts + 1, last_error = ?
    WHERE seq = ? AND delivery = 'pending'`);

  return {
    /** The oldest rows waiting for delivery. */
    pending(limit: number): PendingRow[] {
      const result: PendingRow[] = [];
      for (const { seq, record } of selectPending.all(limit) as { seq: number; record: string }[]) {
        try {
          result.push({ seq, call: JSON.parse(record) as LlmCall, bytes: record.length });
        } catch {
          rejected([seq], 'the stored record is not valid JSON');
        }
      }
      return result;
    },
    markDelivered: (seqs: number[]) => delivered(seqs, now()),
    markFailed: (seqs: number[], error: string) => failed(seqs, error.slice(0, 1000)),
    markRejected: (seqs: number[], error: string) => rejected(seqs, error.slice(0, 1000)),
    /** Start-up: rejected rows become pending again, so fixed keys or a fixed server deliver them. */
    resetRejected: () => Number(db.prepare(`UPDATE calls SET delivery = 'pending' WHERE delivery = 'rejected'`).run().changes),
    counts() {
      const row = counts.get() as Record<'total' | 'pending' | 'rejected', number>
        & Record<'oldest_pending' | 'oldest_rejected' | 'dropped', number | null>;
      const oldest = [row.oldest_pending, row.oldest_rejected].filter((at) => at !== null);
      return {
        total: row.total,
        backlog: row.pending + row.rejected,
        rejected: row.rejected,
        ...(oldest.length === 0 ? {} : { oldestUndeliveredAt: Math.min(...oldest) }),
        dropped: row.dropped ?? 0,
      };
    },
  };
}
