// Records the journal cannot take for now (a full disk, a read-only or locked file: the spool, on the same disk,
// may not have them either) are kept in memory and written once it can, so space coming back is enough, no
// restart. Their appends resolve false at once, as before (the worker keeps the spool file, which the next start
// reads again; a record written meanwhile is not stored twice), so nothing waits on them, not even a shutdown.
// Bounded in records and bytes; past that, or at close, a record that still cannot be written is lost (counted
// in writeErrors). A record refused for a reason of its own (a constraint) is not stored and not tried again.
import type { Logger } from './logger.ts';

/** SQLite's answer when the journal cannot write at all (busy, locked, read-only, I/O error, full, cannot open). */
export function isStorageError(error: unknown): boolean {
  const code = Number((error as { errcode?: unknown } | undefined)?.errcode) & 0xff;
  return [5, 6, 8, 10, 13, 14].includes(code);
}

/** A record waiting for the journal, as the journal queues it. */
export interface HeldRecord {
  row: { record: string; columns: unknown[] };
  span?: Buffer;
  resolve(stored: boolean): void;
}

export interface RewriteOptions<T extends HeldRecord> {
  /** Commits the records in one transaction; the error if it failed and was rolled back, else undefined. */
  commit(records: T[]): unknown;
  /** Records that will never be stored: the journal counts and logs them. */
  lost(count: number, error: unknown, id?: string): void;
  logger: Logger;
  /** First wait before another try; it doubles up to 30 s while nothing goes in. */
  firstDelayMs: number;
  maxRecords: number;
}

const maxBytes = 64 * 1024 * 1024;
const bytesOf = (held: HeldRecord) => held.row.record.length + (held.span?.length ?? 0);

export function createRewrites<T extends HeldRecord>(options: RewriteOptions<T>) {
  const { commit, lost, logger, firstDelayMs } = options;
  let waiting: T[] = [];
  let waitingBytes = 0;
  let delayMs = firstDelayMs;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  function schedule(inMs = delayMs) {
    if (waiting.length === 0 || closed) return;
    if (timer !== undefined) {
      if (inMs >= delayMs) return;
      clearTimeout(timer);
    }
    timer = setTimeout(rewrite, inMs);
    timer.unref();
  }

  /**
   * Another try, oldest first, in transactions of at most 200 records and 4 MB (so a large one does not keep small
   * ones out); after a transaction fails, record by record, until three in a row fail for lack of room: the rest
   * wait for the next try.
   */
  function rewrite() {
    timer = undefined;
    if (waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    waitingBytes = 0;
    const keep: T[] = [];
    let stored = 0;
    let refused = 0;
    let refusal: unknown;
    let storageError: unknown;
    let fullInARow = 0;
    for (let start = 0; start < batch.length;) {
      if (fullInARow >= 3) {
        keep.push(...batch.slice(start));
        break;
      }
      let end = start;
      let bytes = 0;
      while (end < batch.length && end - start < 200 && (end === start || bytes + (batch[end] as T).row.record.length <= 4 * 1024 * 1024)) {
        bytes += (batch[end] as T).row.record.length;
        end += 1;
      }
      const chunk = batch.slice(start, end);
      start = end;
      if (commit(chunk) === undefined) {
        stored += chunk.length;
        fullInARow = 0;
        continue;
      }
      for (const record of chunk) {
        if (fullInARow >= 3) {
          keep.push(record);
          continue;
        }
        const error = commit([record]);
        if (error === undefined) {
          stored += 1;
          fullInARow = 0;
        } else if (isStorageError(error)) {
          storageError = error;
          fullInARow += 1;
          keep.push(record);
        } else {
          refusal ??= error;
          refused += 1;
        }
      }
    }
    if (refused > 0) lost(refused, refusal);
    if (stored > 0) logger.info({ calls: stored, waiting: keep.length }, 'trace journal writable again: records kept in memory are stored');
    delayMs = stored > 0 ? firstDelayMs : Math.min(30_000, delayMs * 2);
    if (keep.length > 0) {
      waiting = keep.concat(waiting);
      waitingBytes = waiting.reduce((sum, record) => sum + bytesOf(record), 0);
      if (storageError !== undefined && stored === 0) logger.debug({ err: storageError, calls: keep.length }, 'trace journal still cannot write');
    }
    schedule();
  }

  return {
    /** Records waiting. */
    get size() { return waiting.length; },

    /** Keeps records the journal could not write (their appends are told `false` now) for later tries. */
    keep(failed: T[], error: unknown) {
      let dropped = 0;
      const startedWaiting = waiting.length === 0;
      for (const record of failed) {
        record.resolve(false);
        const bytes = bytesOf(record);
        if (waiting.length >= options.maxRecords || waitingBytes + bytes > maxBytes) {
          dropped += 1;
          continue;
        }
        waiting.push(record);
        waitingBytes += bytes;
      }
      if (dropped > 0) lost(dropped, error, failed[0]?.row.columns[0] as string);
      // Logged when records start waiting, not at every failed write while they do.
      if (startedWaiting && waiting.length > 0) {
        logger.error({ err: error, calls: waiting.length }, 'trace journal write failed: the records are kept in memory and written once the journal can take them (a full disk?)');
      }
      schedule();
    },

    /** The journal took records again: the ones waiting go now, not at their next try. */
    soon() {
      if (waiting.length === 0) return;
      delayMs = firstDelayMs;
      schedule(0);
    },

    /** Another try now (at shutdown, before what is still waiting goes elsewhere). */
    tryNow() {
      if (waiting.length === 0 || closed) return;
      clearTimeout(timer);
      rewrite();
    },

    /** The spans of the records waiting (those that have one): a shutdown may send them to Langfuse directly. */
    waitingSpans(): Buffer[] {
      return waiting.flatMap((record) => (record.span ? [record.span] : []));
    },

    /** Records Langfuse took directly (their spans): not waiting any more, not counted lost at close. */
    forgetSent(sent: ReadonlySet<Buffer>) {
      if (sent.size === 0) return;
      waiting = waiting.filter((record) => !(record.span && sent.has(record.span)));
      waitingBytes = waiting.reduce((sum, record) => sum + bytesOf(record), 0);
    },

    /** A last try; what still cannot be written is lost with the process, unless its spool file was written. */
    close() {
      clearTimeout(timer);
      timer = undefined;
      closed = true;
      rewrite();
      clearTimeout(timer);
      timer = undefined;
      if (waiting.length > 0) lost(waiting.length, new Error('journal closed while it could not write'));
      waiting = [];
      waitingBytes = 0;
    },
  };
}
