// Spool files kept because the journal could not store all their records (a full disk, past what it holds in
// memory): read again as soon as the journal can write, so their records need no restart to reach it and
// Langfuse (those already stored are skipped). A file goes once every record of it is in the journal.
import type { Logger } from './logger.ts';
import { readSpoolLines, removeSpoolFile } from './trace-spool.ts';

export interface KeptSpoolFilesOptions {
  /** Journals spool lines; true when every one is in the journal (already there counts). */
  append(lines: string[]): Promise<boolean>;
  /** The journal's last write went through and it holds nothing back: worth another read. */
  writable(): boolean;
  logger: Logger;
  /** How often a kept file is looked at again. */
  everyMs?: number;
}

export function createKeptSpoolFiles(options: KeptSpoolFilesOptions) {
  const { append, writable, logger, everyMs = 5000 } = options;
  const kept = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let reading: Promise<void> | undefined;

  async function readAgain(): Promise<void> {
    for (const file of [...kept]) {
      if (!writable()) return;
      if (!(await append(readSpoolLines(file)))) {
        if (!writable()) return; // no room again: the next try
        // The journal writes, yet not every record of the file: those it refuses for reasons of their own (counted
        // and logged as they were). Reading the file again would only refuse them again; the next start does.
        kept.delete(file);
        logger.warn({ file }, 'kept spool file read again: some of its records the journal refuses; the file stays for the next start');
        continue;
      }
      removeSpoolFile(file);
      kept.delete(file);
      logger.info({ file }, 'kept spool file read again: its trace records are in the journal');
    }
    if (kept.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  /** One more read of the kept files, if the journal can write (one read at a time). */
  function retry(): Promise<void> {
    if (kept.size === 0 || !writable()) return Promise.resolve();
    reading ??= readAgain().finally(() => { reading = undefined; });
    return reading;
  }

  return {
    /** Files kept now. */
    get size() { return kept.size; },
    keep(file: string): void {
      kept.add(file);
      timer ??= setInterval(() => { void retry(); }, everyMs);
      timer.unref();
    },
    retry,
    stop(): void {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
