// The journal's delivery bookkeeping: which rows still have to reach Langfuse, and what happened
// to each attempt (the issue: a row is marked delivered only on a 2xx answer).
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import type { LlmCall } from '../calls/llm-call.ts';

export interface PendingRow {
  seq: number;
  /** The record (read back from the journal, or kept as it came when no span was written for it). */
  call?: LlmCall;
  /** The span already written from the record when it was journaled (rows of this process), as UTF-8 bytes:
   *  the call object itself need not stay in memory until delivery. */
  span?: Buffer;
  /** Size of the stored JSON record, for sizing batches. */
  bytes: number;
}

export function createJournalDelivery(db: DatabaseSync, now: () => number, cacheSize: number, cacheBytes = 32 * 1024 * 1024) {
  // Index-only: the (delivery, started_at) index holds the seq.
  const selectPending = db.prepare(`SELECT seq FROM calls WHERE delivery = 'pending' ORDER BY started_at LIMIT ?`);
  const selectRecord = db.prepare('SELECT record FROM records WHERE seq = ?');
  // Rows committed by this process and not yet delivered: in the steady state the shipper sends them
  // straight from here, without reading the record back and parsing it again.
  // Bounded in rows and in bytes: while Langfuse is down the backlog grows, and large calls must not pile up here.
  const recent = new Map<number, PendingRow>();
  let recentBytes = 0;
  const forget = (seq: number) => {
    const row = recent.get(seq);
    if (!row) return;
    recent.delete(seq);
    recentBytes -= row.bytes;
  };
  // Each count is an index range (no COUNT over the whole table: the journal keeps its total itself), so the
  // state the worker reports often stays cheap with a large journal.
  const counts = db.prepare(`SELECT
    (SELECT COUNT(*) FROM calls WHERE delivery = 'pending') AS pending,
    (SELECT COUNT(*) FROM calls WHERE delivery = 'rejected') AS rejected,
    (SELECT MIN(started_at) FROM calls WHERE delivery = 'pending') AS oldest_pending,
    (SELECT MIN(started_at) FROM calls WHERE delivery = 'rejected') AS oldest_rejected,
    (SELECT value FROM meta WHERE key = 'dropped') AS dropped`);

  // One statement per batch: the seqs travel as a JSON array.
  function forSeqs(sql: string) {
    const statement = db.prepare(sql);
    return (seqs: number[], ...params: SQLInputValue[]) => {
      if (seqs.length > 0) statement.run(...params, JSON.stringify(seqs));
    };
  }
  // Every attempt counts, the one that delivered too (as a rejected row's last one does).
  const delivered = forSeqs(`UPDATE calls SET delivery = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = NULL
    WHERE seq IN (SELECT value FROM json_each(?)) AND delivery = 'pending'`);
  const failed = forSeqs('UPDATE calls SET attempts = attempts + 1, last_error = ? WHERE seq IN (SELECT value FROM json_each(?))');
  const rejected = forSeqs(`UPDATE calls SET delivery = 'rejected', attempts = attempts + 1, last_error = ?
    WHERE seq IN (SELECT value FROM json_each(?)) AND delivery = 'pending'`);

  return {
    /** The oldest rows waiting for delivery. */
    remember(rows: PendingRow[]) {
      for (const row of rows) {
        forget(row.seq);
        if (recent.size >= cacheSize || recentBytes + row.bytes > cacheBytes) continue;
        recent.set(row.seq, row);
        recentBytes += row.bytes;
      }
    },
    /**
     * The oldest rows waiting for delivery: at most `limit`, and no more than `maxBytes` of records (at least one
     * row), so that a backlog of large records is read and parsed one batch at a time, not 500 at every step.
     * Rows in `skip` (set aside by the shipper) are passed over.
     */
    pending(limit: number, maxBytes = Infinity, skip: ReadonlySet<number> = new Set()): PendingRow[] {
      const result: PendingRow[] = [];
      let bytes = 0;
      for (const { seq } of selectPending.all(limit + skip.size) as { seq: number }[]) {
        if (skip.has(seq)) continue;
        if (result.length === limit) break;
        const cached = recent.get(seq);
        if (cached) {
          if (result.length > 0 && bytes + cached.bytes > maxBytes) break;
          bytes += cached.bytes;
          result.push(cached);
          continue;
        }
        const record = (selectRecord.get(seq) as { record: string } | undefined)?.record ?? '';
        if (result.length > 0 && bytes + record.length > maxBytes) break;
        bytes += record.length;
        try {
          result.push({ seq, call: JSON.parse(record) as LlmCall, bytes: record.length });
        } catch {
          rejected([seq], 'the stored record is not valid JSON');
        }
      }
      return result;
    },
    markDelivered(seqs: number[]) {
      delivered(seqs, now());
      for (const seq of seqs) forget(seq);
    },
    markFailed: (seqs: number[], error: string) => failed(seqs, error.slice(0, 1000)),
    markRejected(seqs: number[], error: string) {
      rejected(seqs, error.slice(0, 1000));
      for (const seq of seqs) forget(seq);
    },
    /** Start-up: rejected rows become pending again, so fixed keys or a fixed server deliver them. */
    resetRejected: () => Number(db.prepare(`UPDATE calls SET delivery = 'pending' WHERE delivery = 'rejected'`).run().changes),
    counts() {
      const row = counts.get() as Record<'pending' | 'rejected', number>
        & Record<'oldest_pending' | 'oldest_rejected' | 'dropped', number | null>;
      const oldest = [row.oldest_pending, row.oldest_rejected].filter((at) => at !== null);
      return {
        backlog: row.pending + row.rejected,
        rejected: row.rejected,
        ...(oldest.length === 0 ? {} : { oldestUndeliveredAt: Math.min(...oldest) }),
        dropped: row.dropped ?? 0,
      };
    },
  };
}
