// The durable journal: group commit, durability across reopen, delivery bookkeeping, pruning, viewer queries.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { LlmCall } from '../src/calls/llm-call.ts';
import { createJournal } from '../src/traces/journal.ts';
import { createKeptSpoolFiles } from '../src/traces/kept-spool-files.ts';
import { readSpoolLines } from '../src/traces/trace-spool.ts';
import { shipperState } from '../src/traces/shipper-state.ts';
import { openJournalDatabase } from '../src/traces/journal-database.ts';
import type { Journal, JournalOptions } from '../src/traces/journal.ts';
import type { Logger } from '../src/traces/logger.ts';
import { until } from './support/wait.ts';
import { createTraceBackend } from '../src/traces/trace-backend.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';

interface LogEntry { level: string; object: Record<string, unknown>; message: string }

function recordingLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const at = (level: string) => (object: Record<string, unknown>, message: string) => { entries.push({ level, object, message }); };
  return { entries, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

let counter = 0;
const epoch = Date.now() - 60_000;
function call(overrides: Partial<LlmCall> = {}): LlmCall {
  counter += 1;
  return {
    id: counter.toString(16).padStart(32, '0'),
    endpoint: 'chat.completions',
    name: 'chat.completions',
    startTime: epoch + counter,
    endTime: epoch + 500 + counter,
    stream: false,
    requestedModel: 'openai/gpt-4o-mini',
    model: 'openai/gpt-4o-mini',
    modelParameters: {},
    input: [{ role: 'user', content: 'Hi' }],
    output: { content: 'Hello' },
    usage: { input: 3, output: 2, total: 5 },
    cost: 0.0001,
    tags: [],
    metadata: {},
    status: 200,
    outcome: 'ok',
    level: 'DEFAULT',
    ...overrides,
  };
}

/** Journals spool lines the trace worker's way (each if absent); true when every one is in the journal. */
function spoolLineAppender(j: Journal) {
  return async (lines: string[]) => (await Promise.all(lines.map((line) => j.append(JSON.parse(line) as LlmCall, { json: line, ifAbsent: true })))).every(Boolean);
}

/** The journal's own opener, for tests that wrap it. */
function openForTest(dir: string): DatabaseSync {
  return openJournalDatabase(dir);
}

describe('journal', () => {
  let dataDir: string;
  let journal: Journal | undefined;
  const logger = recordingLogger();
  const open = (options: Partial<JournalOptions> = {}) => {
    journal = createJournal({ dataDir, retentionDays: 30, maxBytes: 100 * 1024 * 1024, shipping: true, logger, ...options });
    return journal;
  };
  const countRows = () => {
    const reader = new DatabaseSync(join(dataDir, 'journal.sqlite'), { readOnly: true });
    try {
      return Number((reader.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n);
    } finally {
      reader.close();
    }
  };

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'traces-journal-'));
    logger.entries.length = 0;
  });
  afterEach(() => {
    journal?.close();
    journal = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('commits the appends of one tick in one transaction, and resolves only after COMMIT', async () => {
    const j = open();
    const before = j.stats().commits;
    const calls = Array.from({ length: 100 }, () => call());
    const appended = calls.map((c) => j.append(c));
    assert.equal(countRows(), 0, 'nothing is written synchronously');
    // Another connection sees every row as soon as the first promise resolves.
    const visibleAtFirstResolve = await appended[0]!.then(() => countRows());
    assert.equal(visibleAtFirstResolve, 100);
    await Promise.all(appended);
    assert.equal(j.stats().commits - before, 1);
    assert.equal(j.stats().total, 100);
    assert.deepEqual(j.get(calls[42]!.id)?.call, calls[42]);
  });

  it('reads a backlog of large records about maxBytes at a time, at least one row', async () => {
    const big = () => call({ input: [{ role: 'user', content: 'x'.repeat(100_000) }] });
    const first = open();
    await Promise.all([big(), big(), big(), big()].map((c) => first.append(c)));
    first.close();
    // After a restart nothing is cached: each row is read and parsed, so only what one batch can carry is.
    const second = open();
    assert.equal(second.pending(500, 250_000).length, 2);
    assert.equal(second.pending(500, 1).length, 1);
    assert.equal(second.pending(500).length, 4);
  });

  it('keeps written spans in memory for the shipper within a byte budget (32 MB), reading the rest back', async () => {
    const journal = open();
    const span = Buffer.alloc(5 * 1024 * 1024, 'y');
    await Promise.all(Array.from({ length: 8 }, () => journal.append(call(), { span })));
    const rows = journal.pending(500);
    assert.equal(rows.length, 8);
    assert.equal(rows.filter((row) => row.span !== undefined).length, 6, '6 x 5 MB fit in 32 MB');
    assert.ok(rows.slice(6).every((row) => row.call !== undefined && row.span === undefined));
    // Delivered rows leave the budget to the next ones.
    journal.markDelivered(rows.slice(0, 6).map((row) => row.seq));
    await journal.append(call(), { span });
    assert.equal(journal.pending(500).filter((row) => row.span !== undefined).length, 1);
  });

  it('keeps every committed call across close and reopen', async () => {
    const calls = [call(), call({ stream: true, completionStartTime: epoch + 100.5 }), call()];
    const first = open();
    await Promise.all(calls.map((c) => first.append(c)));
    first.close();
    const second = open();
    assert.deepEqual(second.pending(10).map((row) => row.call), calls);
    assert.equal(second.stats().backlog, 3);
  });

  it('never rejects an append: a bad record or a closed journal is logged and counted', async () => {
    const j = open();
    const good = call();
    const bad = call({ metadata: { big: 1n as unknown as number } });
    await Promise.all([j.append(good), j.append(bad)]);
    assert.equal(j.stats().writeErrors, 1);
    assert.equal(j.get(good.id)?.delivery, 'pending');
    j.close();
    await j.append(call());
    assert.ok(logger.entries.some((entry) => entry.level === 'error' && /write failed/.test(entry.message)));
  });

  /** Caps the database at its current size: SQLite then answers as on a full disk (SQLITE_FULL). */
  const fill = (db: DatabaseSync) => db.exec(`PRAGMA max_page_count = ${Number((db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count)}`);
  const makeRoom = (db: DatabaseSync) => db.exec('PRAGMA max_page_count = 1073741823');
  const big = { role: 'user', content: 'x'.repeat(20_000) };
  /** A journal (its own opener) whose database the test caps as full once its first record is in. */
  const openFull = async (options: Partial<JournalOptions> = {}) => {
    let opened: DatabaseSync | undefined;
    const j = open({ rewriteDelayMs: 20, ...options, openDatabase: (dir) => (opened = openForTest(dir)) });
    assert.equal(await j.append(call()), true);
    const db = opened as DatabaseSync;
    fill(db);
    return { j, db };
  };

  /**
   * A trace backend (journal, shipper, a fake Langfuse) whose journal the test caps as full once its first record is in,
   * with three more records it holds in memory.
   */
  async function backendHoldingThree(rewriteDelayMs: number) {
    const langfuse = await startFakeLangfuse({ publicKey: 'pk-lf-held', secretKey: 'sk-lf-held-secret' });
    let opened: DatabaseSync | undefined;
    const backend = createTraceBackend({
      dataDir, retentionDays: 30, maxBytes: 100 * 1024 * 1024, serviceVersion: 't', logger,
      langfuse: { host: langfuse.url, publicKey: langfuse.publicKey, secretKey: langfuse.secretKey },
      shipper: { idleDelayMs: 50, notifyDelayMs: 5 },
      journal: { openDatabase: (dir) => (opened = openForTest(dir)), rewriteDelayMs },
    });
    const first = call();
    assert.equal(await backend.record(first), true);
    const db = opened as DatabaseSync;
    fill(db);
    const held = Array.from({ length: 3 }, () => call({ input: [big] }));
    assert.deepEqual(await Promise.all(held.map((c) => backend.record(c))), [false, false, false]);
    return { langfuse, backend, db, first, held };
  }

  it('at shutdown, sends the records a full disk kept in memory to Langfuse directly, in the flush time left: none lost', async () => {
    const { langfuse, backend, first, held } = await backendHoldingThree(20);
    try {
      await backend.close(3000);
      const ids = (await langfuse.waitForTraces(4, 3000)).map((trace) => trace.id);
      for (const c of [first, ...held]) assert.ok(ids.includes(c.id), `${c.id} delivered`);
      assert.ok(logger.entries.some((entry) => /sent to Langfuse directly at shutdown/.test(entry.message)));
      assert.ok(!logger.entries.some((entry) => /journal closed while it could not write|not stored/.test(`${entry.message} ${String((entry.object.err as Error | undefined)?.message)}`)), 'none counted lost');
    } finally {
      await langfuse.close();
    }
  });

  it('at shutdown, stores the held records in the journal first when the disk has room again (the viewer keeps them)', async () => {
    // Far from its next try on its own: only the one at shutdown can store them.
    const { langfuse, backend, db, held } = await backendHoldingThree(60_000);
    try {
      makeRoom(db);
      await backend.close(2000);
      const reopened = open();
      for (const c of held) assert.ok(reopened.get(c.id), `${c.id} in the journal`);
    } finally {
      await langfuse.close();
    }
  });

  it('keeps records it cannot write (a full disk) in memory and writes them once it can: nothing lost, no restart', async () => {
    const { j, db } = await openFull();
    const calls = Array.from({ length: 5 }, () => call({ input: [big] }));
    // Not stored now: the appends say so at once (the caller keeps its spool file), nothing waits on them.
    assert.deepEqual(await Promise.all(calls.map((c) => j.append(c))), [false, false, false, false, false]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(j.get(calls[0]?.id ?? ''), undefined, 'not in the journal while it is full');
    assert.equal(j.stats().backlog, 6, 'counted as undelivered meanwhile');
    assert.equal(j.stats().writeErrors, 0, 'nothing lost (yet)');
    assert.ok(logger.entries.some((entry) => /kept in memory/.test(entry.message)));
    // /health says why nothing ships, though Langfuse itself is fine.
    const health = shipperState(j.stats(), { paused: false, failures: 0, delivered: 0, retries: 0, lastError: { message: 'older', at: 0 } }, Date.now());
    assert.match(health.lastError ?? '', /^journal write failed: .*full/);
    // Space comes back: a later try writes them all.
    makeRoom(db);
    await until(() => calls.every((c) => j.get(c.id)?.delivery === 'pending'), 3000, 'the kept records to be stored');
    assert.equal(j.stats().backlog, 6);
    assert.equal(j.stats().writeErrors, 0);
  });

  it('a spool file kept because the journal was full is read again once it can write: its records need no restart', async () => {
    // One record fits in memory while the journal is full; the other two are only in their spool file.
    const { j, db } = await openFull({ maxRewrite: 1 });
    const calls = [call({ input: [big] }), call({ input: [big] }), call({ input: [big] })];
    const file = join(dataDir, 'kept.jsonl');
    writeFileSync(file, `${calls.map((c) => JSON.stringify(c)).join('\n')}\n`);
    const append = spoolLineAppender(j);
    assert.equal(await append(readSpoolLines(file)), false);
    assert.equal(j.writable(), false);
    const kept = createKeptSpoolFiles({ append, writable: () => j.writable(), logger, everyMs: 20 });
    kept.keep(file);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.ok(existsSync(file), 'kept while the journal is full');
    // Space comes back: the record held in memory goes in, then the file is read again and goes.
    makeRoom(db);
    await until(() => !existsSync(file), 3000, 'the kept file read again and removed');
    for (const c of calls) assert.equal(j.get(c.id)?.delivery, 'pending', `${c.id} journaled, to be delivered`);
    assert.equal(kept.size, 0);
    assert.equal(j.writable(), true);
    kept.stop();
  });

  it('a kept file holding a record the journal refuses is read again once, then left for the next start, not at every tick', async () => {
    const j = open();
    const good = Array.from({ length: 50 }, () => call());
    const refused = { ...call(), name: undefined }; // not bindable: refused (not a storage error)
    const file = join(dataDir, 'kept.jsonl');
    writeFileSync(file, `${[...good, refused].map((c) => JSON.stringify(c)).join('\n')}\n`);
    const append = spoolLineAppender(j);
    assert.equal(await append(readSpoolLines(file)), false);
    assert.equal(j.stats().writeErrors, 1);
    const kept = createKeptSpoolFiles({ append, writable: () => j.writable(), logger, everyMs: 20 });
    kept.keep(file);
    // Ordinary traffic goes on: each commit makes the journal writable() again.
    const traffic = setInterval(() => { void j.append(call()); }, 15);
    await new Promise((resolve) => setTimeout(resolve, 500));
    clearInterval(traffic);
    kept.stop();
    // Counted when first refused and at the one read again; then the file waits for the next start.
    assert.equal(j.stats().writeErrors, 2, `one refused record counted ${j.stats().writeErrors} times (commits: ${j.stats().commits})`);
    assert.equal(kept.size, 0, 'no longer read again');
    assert.ok(existsSync(file), 'kept on disk for the next start');
    for (const c of good) assert.ok(j.get(c.id), 'the rest of the file is journaled');
  });

  it('keeps at most maxRewrite records in memory: past that, a record that cannot be written is lost, and counted', async () => {
    const { j, db } = await openFull({ maxRewrite: 2 });
    const calls = [call({ input: [big] }), call({ input: [big] }), call({ input: [big] })];
    await Promise.all(calls.map((c) => j.append(c)));
    assert.equal(j.stats().writeErrors, 1);
    makeRoom(db);
    await until(() => j.get(calls[1]?.id ?? '') !== undefined, 3000, 'the kept ones to be stored');
    assert.ok(j.get(calls[0]?.id ?? ''));
    assert.equal(j.get(calls[2]?.id ?? ''), undefined);
  });

  it('at close, writes the records kept in memory if it can, and counts the ones it cannot', async () => {
    const { j: first, db: firstDb } = await openFull({ rewriteDelayMs: 60_000 });
    const saved = [call({ input: [big] }), call({ input: [big] })];
    await Promise.all(saved.map((c) => first.append(c)));
    makeRoom(firstDb); // the next try is a minute away: close makes it
    first.close();
    let db: DatabaseSync | undefined;
    const second = open({ rewriteDelayMs: 60_000, openDatabase: (dir) => (db = openForTest(dir)) });
    for (const c of saved) assert.ok(second.get(c.id), 'written at close');
    fill(db as DatabaseSync);
    await second.append(call({ input: [big] }));
    assert.equal(second.stats().writeErrors, 0);
    second.close();
    // Still full at close: lost with the process, and said so (its spool file, when written, is read again).
    assert.ok(logger.entries.some((entry) => entry.level === 'error' && /closed while it could not write/.test(String((entry.object.err as Error | undefined)?.message))));
  });

  it('tracks delivery: pending oldest first, delivered, failed attempts, rejected, and reset after a restart', async () => {
    const j = open();
    const calls = Array.from({ length: 5 }, () => call());
    for (const c of calls) await j.append(c);
    const rows = j.pending(3);
    assert.deepEqual(rows.map((row) => row.call!.id), calls.slice(0, 3).map((c) => c.id));
    assert.ok(rows.every((row) => row.bytes > 0));
    const [a, b, c] = rows.map((row) => row.seq) as [number, number, number];
    j.markFailed([a, b], 'HTTP 503');
    j.markDelivered([a]);
    j.markRejected([b], 'HTTP 400: bad span');
    assert.deepEqual(j.pending(10).map((row) => row.seq)[0], c);
    assert.equal(j.get(calls[0]!.id)?.delivery, 'delivered');
    assert.ok(j.get(calls[0]!.id)?.deliveredAt);
    assert.equal(j.get(calls[0]!.id)?.attempts, 2, 'the failed attempt and the one that delivered');
    assert.deepEqual({ ...j.get(calls[1]!.id), call: undefined }, { call: undefined, delivery: 'rejected', attempts: 2, lastError: 'HTTP 400: bad span', deliveredAt: undefined });
    const stats = j.stats();
    assert.deepEqual([stats.total, stats.backlog, stats.rejected], [5, 4, 1]);
    assert.equal(stats.oldestUndeliveredAt, calls[1]!.startTime);
    assert.equal(j.resetRejected(), 1);
    assert.equal(j.get(calls[1]!.id)?.delivery, 'pending');
  });

  it('stores rows as local when shipping is off', async () => {
    const j = open({ shipping: false });
    await j.append(call());
    assert.deepEqual(j.pending(10), []);
    assert.equal(j.stats().backlog, 0);
    assert.equal(j.list({ limit: 10 }).items[0]?.delivery, 'local');
  });

  it('prunes delivered and local rows past retention, never undelivered ones', async () => {
    let now = Date.now();
    const j = open({ now: () => now, retentionDays: 1 });
    const old = [call(), call(), call()];
    for (const c of old) await j.append(c);
    const [delivered] = j.pending(1);
    j.markDelivered([delivered!.seq]);
    now += 2 * 86_400_000;
    const fresh = call({ startTime: now - 1000, endTime: now });
    await j.append(fresh);
    j.markDelivered([j.pending(10).at(-1)!.seq]);
    assert.equal(j.prune().expired, 1);
    assert.deepEqual(j.list({ limit: 10 }).items.map((item) => item.id), [fresh.id, old[2]!.id, old[1]!.id]);
  });

  it('over the size limit, drops delivered rows first, then the oldest undelivered, counting them', async () => {
    const padding = 'x'.repeat(4000);
    const j = open({ maxBytes: 400 * 1024 });
    const calls = Array.from({ length: 150 }, () => call({ input: [{ role: 'user', content: padding }] }));
    await Promise.all(calls.map((c) => j.append(c)));
    // The newest 40 are delivered: they go before any undelivered row does.
    j.markDelivered(j.pending(1000).slice(-40).map((row) => row.seq));
    const result = j.prune();
    assert.equal(result.evicted, 40);
    assert.ok(result.droppedUndelivered > 0);
    const stats = j.stats();
    assert.equal(stats.dropped, result.droppedUndelivered);
    assert.equal(stats.total, 110 - result.droppedUndelivered);
    // The survivors are the newest undelivered calls.
    assert.deepEqual(j.pending(1000).map((row) => row.call!.id), calls.slice(result.droppedUndelivered, 110).map((c) => c.id));
    assert.ok(logger.entries.some((entry) => entry.level === 'error' && entry.object.dropped === result.droppedUndelivered));
    j.close();
    assert.equal(open({ maxBytes: 400 * 1024 }).stats().dropped, result.droppedUndelivered, 'the dropped count survives a restart');
  });

  it('does not touch undelivered rows when dropping delivered ones is enough', async () => {
    const padding = 'x'.repeat(4000);
    const j = open({ maxBytes: 400 * 1024 });
    await Promise.all(Array.from({ length: 150 }, () => j.append(call({ input: [{ role: 'user', content: padding }] }))));
    j.markDelivered(j.pending(1000).slice(0, 100).map((row) => row.seq));
    const result = j.prune();
    assert.equal(result.droppedUndelivered, 0);
    assert.ok(result.evicted > 0 && result.evicted <= 100);
    assert.equal(j.stats().backlog, 50);
    assert.equal(j.stats().dropped, 0);
  });

  it('lists newest first with filters and pages, and gets one call with its delivery state', async () => {
    const j = open();
    const calls = [
      call({ sessionId: 's1', userId: 'u1' }),
      call({ sessionId: 's1', model: 'anthropic/claude', status: 502, outcome: 'upstream_error', level: 'ERROR' }),
      call({ sessionId: 's2', userId: 'u1', completionStartTime: undefined }),
      call({ sessionId: 's1', userId: 'u2', stream: true }),
    ];
    for (const c of calls) await j.append(c);
    const ids = (items: { id: string }[]) => items.map((item) => item.id);
    assert.deepEqual(ids(j.list({ limit: 10 }).items), calls.map((c) => c.id).reverse());
    assert.deepEqual(ids(j.list({ session: 's1', limit: 10 }).items), [calls[3]!.id, calls[1]!.id, calls[0]!.id]);
    assert.deepEqual(ids(j.list({ user: 'u1', limit: 10 }).items), [calls[2]!.id, calls[0]!.id]);
    assert.deepEqual(ids(j.list({ model: 'anthropic/claude', limit: 10 }).items), [calls[1]!.id]);
    assert.deepEqual(ids(j.list({ status: 'error', limit: 10 }).items), [calls[1]!.id]);
    assert.deepEqual(ids(j.list({ status: 502, limit: 10 }).items), [calls[1]!.id]);
    assert.equal(j.list({ status: 'ok', limit: 10 }).items.length, 3);
    const page1 = j.list({ limit: 3 });
    assert.equal(page1.items.length, 3);
    assert.ok(page1.nextBefore !== undefined);
    const page2 = j.list({ limit: 3, before: page1.nextBefore });
    assert.deepEqual(ids(page2.items), [calls[0]!.id]);
    assert.equal(page2.nextBefore, undefined);
    const summary = page1.items[0]!;
    assert.equal(summary.latencyMs, 500);
    assert.equal(summary.totalTokens, 5);
    assert.equal(summary.delivery, 'pending');
    assert.equal(j.get('ffffffffffffffffffffffffffffffff'), undefined);
  });
});
