// Keeps the journal bounded: delivered and local rows go after the retention period, and when the
// file is over its size budget the oldest delivered/local rows go first, undelivered ones only last
// (counted and logged: the "if it ever has to drop undelivered rows, it counts and logs them").
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from './logger.ts';

export interface JournalPrunerOptions {
  retentionDays: number;
  maxBytes: number;
  logger: Logger;
  now: () => number;
}

export interface PruneResult {
  expired: number;
  evicted: number;
  droppedUndelivered: number;
}

const dayMs = 86_400_000;
// Prune a little below the limit so a busy journal does not prune on every tick.
const lowWater = 0.9;

export function createJournalPruner(db: DatabaseSync, options: JournalPrunerOptions) {
  const expire = db.prepare(`DELETE FROM calls WHERE delivery IN ('delivered', 'local') AND started_at < ?`);
  const evictSettled = db.prepare(`DELETE FROM calls WHERE seq IN (SELECT seq FROM calls
    WHERE delivery IN ('delivered', 'local') ORDER BY seq LIMIT ?)`);
  const evictUndelivered = db.prepare(`DELETE FROM calls WHERE seq IN (SELECT seq FROM calls
    WHERE delivery IN ('pending', 'rejected') ORDER BY started_at LIMIT ?)`);
  const countRows = db.prepare('SELECT COUNT(*) AS n FROM calls');
  const addDropped = db.prepare(`INSERT INTO meta (key, value) VALUES ('dropped', ?)
    ON CONFLICT (key) DO UPDATE SET value = value + excluded.value`);

  /** Bytes in use: pages minus the free list (freed pages are reused before the file grows). */
  function usedBytes(): number {
    const pragma = (name: string) => Number(Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0] ?? 0);
    return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
  }

  /** Deletes with `statement` in slices sized from the average row, until under the target. */
  function shrink(statement: ReturnType<DatabaseSync['prepare']>, target: number): number {
    let removed = 0;
    for (let used = usedBytes(); used > target; used = usedBytes()) {
      const rows = Number(countRows.get()?.n ?? 0);
      if (rows === 0) break;
      const perRow = Math.max(1, used / rows);
      const slice = Math.max(1, Math.ceil((used - target) / perRow));
      const changes = Number(statement.run(slice).changes);
      if (changes === 0) break;
      removed += changes;
    }
    return removed;
  }

  return function prune(): PruneResult {
    const cutoff = options.now() - options.retentionDays * dayMs;
    const expired = Number(expire.run(cutoff).changes);
    let evicted = 0;
    let droppedUndelivered = 0;
    if (usedBytes() > options.maxBytes) {
      const target = options.maxBytes * lowWater;
      evicted = shrink(evictSettled, target);
      droppedUndelivered = shrink(evictUndelivered, target);
      if (droppedUndelivered > 0) {
        addDropped.run(droppedUndelivered);
        options.logger.error(
          { dropped: droppedUndelivered, maxBytes: options.maxBytes },
          'trace journal is full: dropped the oldest undelivered calls (raise TRACE_JOURNAL_MAX_MB or fix delivery)',
        );
      }
    }
    if (expired + evicted + droppedUndelivered > 0) db.exec('PRAGMA incremental_vacuum');
    return { expired, evicted, droppedUndelivered };
  };
}
