// The spool: on the request thread, each call record is appended to a plain file before the client
// gets its last bytes (the records of the calls that end in one turn of the event loop go in one
// write). That write is what makes a completed call survive a SIGKILL (it is in the OS page cache
// when writeSync returns); the trace worker then moves records into the SQLite journal and deletes
// each spool file once all its records are committed.
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** A failed write or rotation; `sealed`: the file it sealed first, which must still be handed over. */
export type SpoolError = Error & { sealed?: string };

export interface Spool {
  /** The file being written now. */
  readonly file: string;
  /** Lines written to the current file so far. */
  readonly lines: number;
  /**
   * Appends records (one JSON line each) with one write, all to the same file. Returns the file it sealed, if
   * this write started a new one.
   */
  write(jsons: readonly string[]): string | undefined;
  /** Seals the current file and starts a new one; returns the sealed file. */
  rotate(): string;
  /** Closes the current file; returns it (sealed). */
  close(): string;
}

const maxFileBytes = 16 * 1024 * 1024;
const maxFileAgeMs = 10_000;

export function spoolDirectory(dataDir: string): string {
  return join(dataDir, 'spool');
}

export function createSpool(dataDir: string): Spool {
  const dir = spoolDirectory(dataDir);
  mkdirSync(dir, { recursive: true });
  let counter = 0;
  let file = '';
  let fd = -1;
  let bytes = 0;
  let lines = 0;
  let openedAt = 0;
  let torn = false;

  const open = () => {
    counter += 1;
    // Sortable and unique per process, so files from a previous run are never reopened.
    file = join(dir, `${Date.now().toString().padStart(15, '0')}-${process.pid}-${counter}.jsonl`);
    fd = -1; // if the open fails, no write may go to a descriptor number the process has since reused
    fd = openSync(file, 'a');
    torn = false;
    bytes = 0;
    lines = 0;
    openedAt = Date.now();
  };
  open();

  return {
    get file() { return file; },
    get lines() { return lines; },
    write(jsons) {
      let sealed: string | undefined;
      try {
        if (fd === -1) open(); // the last open failed (a full disk, too many files): try again
        else if (torn || bytes > maxFileBytes || (bytes > 0 && Date.now() - openedAt > maxFileAgeMs)) sealed = this.rotate();
        const text = `${jsons.join('\n')}\n`;
        const written = writeSync(fd, text);
        // A short write (a full disk) is cut back off the file: the batch's records go to the worker as messages, and
        // whole lines of it left in the file would be read back a second time. Should that fail, the torn last line
        // is skipped by readers; either way the next record goes to a new file rather than after it.
        if (written !== Buffer.byteLength(text)) {
          torn = true;
          try {
            ftruncateSync(fd, bytes);
          } catch {
            // left torn: the rotation still keeps later records away from it
          }
          throw new Error(`spool write cut short: ${written} of ${Buffer.byteLength(text)} bytes written`);
        }
        bytes += written;
        lines += jsons.length;
        return sealed;
      } catch (error) {
        // The file sealed before the failure still has to be handed over: it travels with the error.
        const sealedBefore = sealed ?? (error as SpoolError).sealed;
        throw Object.assign(error as Error, sealedBefore === undefined ? {} : { sealed: sealedBefore });
      }
    },
    rotate() {
      const sealed = file;
      const closing = fd;
      fd = -1; // a failed close still releases the descriptor (Linux): it must not be written to again
      try {
        if (closing !== -1) closeSync(closing);
        open();
      } catch (error) {
        throw Object.assign(error as Error, { sealed });
      }
      return sealed;
    },
    close() {
      if (fd !== -1) closeSync(fd);
      fd = -1;
      return file;
    },
  };
}

/** The complete lines of one spool file (a torn last line is skipped); none if it is gone. */
export function readSpoolLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line whose write was cut short
  return lines;
}

/** Every spool file in the directory, oldest first, with its complete lines (a torn last line is skipped). */
export function readSpool(dataDir: string): Array<{ file: string; lines: string[] }> {
  const dir = spoolDirectory(dataDir);
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const file = join(dir, name);
    return { file, lines: readSpoolLines(file) };
  });
}

export function removeSpoolFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone: nothing to do.
  }
}
