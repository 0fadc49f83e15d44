// The spool file, when the file system fails it: a rotation whose new file cannot be opened, a write that fails.
// The file sealed before a failure must still be handed over, and no line may go to a descriptor number the
// process has since given to another file (a client socket, the journal).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSpool, readSpool, readSpoolLines, spoolDirectory } from '../src/traces/trace-spool.ts';
import type { SpoolError } from '../src/traces/trace-spool.ts';

describe('trace spool', () => {
  it('hands over the file it sealed when the next one cannot be opened, and never writes to a stale descriptor', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spool-'));
    try {
      const spool = createSpool(dataDir);
      spool.write(['{"a":1}']);
      const first = spool.file;
      // The directory goes away: the rotation closes the file, then cannot open the next one.
      rmSync(spoolDirectory(dataDir), { recursive: true, force: true });
      assert.throws(() => spool.rotate(), (error: SpoolError) => error.sealed === first);
      // Another file now gets the descriptor number the spool had.
      const otherPath = join(dataDir, 'other');
      const other = openSync(otherPath, 'w');
      try {
        assert.throws(() => spool.write(['{"b":2}']));
        assert.equal(readFileSync(otherPath, 'utf8'), '', 'nothing written to the reused descriptor');
        // Once the directory is back, writing goes on in a new file.
        mkdirSync(spoolDirectory(dataDir));
        assert.equal(spool.write(['{"c":3}']), undefined);
        assert.deepEqual(readSpoolLines(spool.file), ['{"c":3}']);
        assert.deepEqual(readSpool(dataDir).flatMap((file) => file.lines), ['{"c":3}']);
        assert.equal(readFileSync(otherPath, 'utf8'), '');
      } finally {
        closeSync(other);
      }
      spool.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
