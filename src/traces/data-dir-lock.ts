// One gateway per DATA_DIR: a second one would replay and remove the first one's live spool file (its crash copy
// of every call) and journal into the same file. The lock is SQLite's own (a POSIX advisory lock on
// DATA_DIR/gateway.lock), held for the life of the process: the kernel drops it when the process ends in any way,
// SIGKILL included, so a stale lock never blocks a restart.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface DataDirLock {
  release(): void;
}

const busy = new Set([5, 6]); // SQLITE_BUSY, SQLITE_LOCKED

/**
 * Takes the data directory's lock, or returns undefined when another process holds it. Where the file system cannot
 * lock at all, it goes on without (the journal then says whether the directory is usable).
 */
export function lockDataDir(dataDir: string): DataDirLock | undefined {
  mkdirSync(dataDir, { recursive: true });
  const db = new DatabaseSync(join(dataDir, 'gateway.lock'), { timeout: 0 });
  try {
    db.exec('PRAGMA journal_mode = MEMORY'); // the lock is the point: no journal file beside it
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    const code = (error as { errcode?: number }).errcode ?? 0;
    return busy.has(code & 0xff) ? undefined : { release() {} };
  }
  return {
    release() {
      if (!db.isOpen) return;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
