// The trace pipeline as main.ts uses it: local-only without keys, and a restart delivering what the
// previous run could not (wrong keys, refused rows, a Langfuse that was down at shutdown).
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LlmCall } from '../src/calls/llm-call.ts';
import { createTracePipeline } from '../src/traces/create-trace-pipeline.ts';
import type { TracePipeline, TracePipelineSettings } from '../src/traces/create-trace-pipeline.ts';
import type { Logger } from '../src/traces/logger.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { until } from './support/wait.ts';

const messages: string[] = [];
const note = (_object: Record<string, unknown>, message: string) => { messages.push(message); };
const logger: Logger = { info: note, warn: note, error: note, debug: note };

let counter = 0;
function call(overrides: Partial<LlmCall> = {}): LlmCall {
  counter += 1;
  return {
    id: `e${counter.toString(16).padStart(31, '0')}`,
    endpoint: 'chat.completions', name: 'chat.completions',
    startTime: Date.now() - 1000, endTime: Date.now(), stream: false,
    requestedModel: 'openai/gpt-4o-mini', modelParameters: {},
    input: [{ role: 'user', content: 'Hi' }], output: { content: 'Hello' },
    tags: [], metadata: {}, status: 200, outcome: 'ok', level: 'DEFAULT',
    ...overrides,
  };
}

function shipping(traces: TracePipeline) {
  const state = traces.state();
  assert.equal(state.mode, 'langfuse');
  return state as Extract<ReturnType<TracePipeline['state']>, { mode: 'langfuse' }>;
}

describe('trace pipeline', () => {
  let dataDir: string;
  let fake: FakeLangfuse;
  const open: TracePipeline[] = [];
  const pipeline = (overrides: Partial<TracePipelineSettings> = {}) => {
    const created = createTracePipeline({
      dataDir, retentionDays: 7, maxBytes: 50 * 1024 * 1024, serviceVersion: '0.1.0', environment: 'test', logger,
      shipper: { idleDelayMs: 50, notifyDelayMs: 5, backoff: { baseMs: 20, maxMs: 200 } },
      ...overrides,
    });
    open.push(created);
    return created;
  };
  const keys = (secretKey = fake.secretKey) => ({ host: fake.url, publicKey: fake.publicKey, secretKey });

  beforeEach(async () => {
    messages.length = 0;
    dataDir = mkdtempSync(join(tmpdir(), 'traces-pipeline-'));
    fake = await startFakeLangfuse({ publicKey: 'pk-lf-pipe', secretKey: 'sk-lf-pipe-secret' });
  });
  afterEach(async () => {
    for (const created of open.splice(0)) await created.close(100).catch(() => {});
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('without Langfuse keys keeps calls locally and ships nothing', async () => {
    const local = pipeline();
    const recorded = call();
    await local.record(recorded);
    assert.deepEqual(local.state(), { mode: 'local', stored: 1, dropped: 0, writeErrors: 0 });
    await local.settled();
    assert.deepEqual(local.state(), { mode: 'local', stored: 1, dropped: 0, writeErrors: 0 });
    assert.equal(local.journal.get(recorded.id)?.delivery, 'local');
    assert.equal(fake.requestCount, 0);
  });

  it('records and ships a call, and shows it on the delivery state', async () => {
    const traces = pipeline({ langfuse: keys() });
    const recorded = call();
    await traces.record(recorded);
    await fake.waitForTraces(1, 3000);
    await until(() => shipping(traces).backlog === 0, 2000, 'delivered');
    assert.equal(shipping(traces).delivered, 1);
    assert.equal(fake.trace(recorded.id)?.environment, 'test');
  });

  it('after a restart with fixed keys, delivers the backlog kept while the keys were wrong', async () => {
    const first = pipeline({ langfuse: keys('sk-lf-wrong') });
    const calls = [call(), call(), call()];
    await Promise.all(calls.map((c) => first.record(c)));
    await until(() => shipping(first).status === 'rejected', 3000, 'paused');
    assert.equal(shipping(first).backlog, 3);
    await first.close(200);
    open.splice(open.indexOf(first), 1);

    const second = pipeline({ langfuse: keys() });
    await fake.waitForTraces(3, 3000);
    await until(() => shipping(second).backlog === 0, 2000, 'empty backlog');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), calls.map((c) => c.id).sort());
  });

  it('retries rows Langfuse refused once it restarts', async () => {
    const first = pipeline({ langfuse: keys() });
    const poisoned = call({ level: 'LOUD' as LlmCall['level'] });
    await first.record(poisoned);
    await until(() => first.journal.get(poisoned.id)?.delivery === 'rejected', 3000, 'rejected');
    await first.close(200);
    open.splice(open.indexOf(first), 1);

    const second = pipeline({ langfuse: keys() });
    await until(() => messages.some((message) => /refused before the restart/.test(message)), 3000, 'the restart log line');
    // Still refused (the record itself is bad), but it was tried again.
    await until(() => second.journal.get(poisoned.id)?.delivery === 'rejected' && (second.journal.get(poisoned.id)?.attempts ?? 0) >= 2, 3000, 'retried');
  });

  it('close flushes what Langfuse accepts, and the next start sends what it could not', async () => {
    const first = pipeline({ langfuse: keys() });
    fake.setMode('stall');
    const calls = [call(), call()];
    await Promise.all(calls.map((c) => first.record(c)));
    const begin = performance.now();
    await first.close(200);
    open.splice(open.indexOf(first), 1);
    assert.ok(performance.now() - begin < 1000);
    fake.setMode('ok');
    pipeline({ langfuse: keys() });
    await fake.waitForTraces(2, 3000);
  });

  it('record() resolves only once the call is in the spool file, one line per call', async () => {
    const traces = pipeline();
    const spooled = () => readdirSync(join(dataDir, 'spool')).map((file) => readFileSync(join(dataDir, 'spool', file), 'utf8')).join('');
    const calls = Array.from({ length: 3 }, () => call());
    const seen: boolean[] = [];
    const before = spooled();
    await Promise.all(calls.map((c) => traces.record(c).then(() => { seen.push(spooled().includes(c.id)); })));
    assert.deepEqual(seen, [true, true, true]);
    for (const c of calls) assert.ok(!before.includes(c.id));
    assert.equal(spooled().split('\n').filter((line) => line.includes(calls[0]!.id) || line.includes(calls[2]!.id)).length, 2, 'one line per call');
  });

  it('writes the records of the calls that end in one turn of the event loop with one write, a lone call with its own', async (t) => {
    const traces = pipeline();
    const spoolWrites: string[] = [];
    const writeSync = fs.writeSync;
    t.mock.method(fs, 'writeSync', (...args: Parameters<typeof fs.writeSync>) => {
      if (typeof args[1] === 'string' && args[1].includes('"chat.completions"')) spoolWrites.push(args[1]);
      return (writeSync as (...rest: unknown[]) => number)(...args);
    });
    syncBuiltinESMExports(); // the spool's `import { writeSync }` now sees the spy
    try {
      const together = Array.from({ length: 20 }, () => call());
      await Promise.all(together.map((c) => traces.record(c)));
      const alone = call();
      await traces.record(alone);
      assert.equal(spoolWrites.length, 2, 'one write per turn');
      assert.deepEqual(spoolWrites[0]!.split('\n').slice(0, -1).map((line) => (JSON.parse(line) as LlmCall).id), together.map((c) => c.id));
      assert.deepEqual(spoolWrites[1]!.split('\n').slice(0, -1).map((line) => (JSON.parse(line) as LlmCall).id), [alone.id]);
    } finally {
      t.mock.restoreAll();
      syncBuiltinESMExports();
    }
    await traces.settled();
    assert.equal(traces.journal.list({ limit: 50 }).items.length, 21, 'every record reaches the journal once');
  });

  it('a batch cut short by a full disk while records overflow: its whole lines are not counted twice', async (t) => {
    const traces = pipeline({ maxInFlight: 2 });
    const writeSync = fs.writeSync;
    let cutNext = false;
    t.mock.method(fs, 'writeSync', (...args: Parameters<typeof fs.writeSync>) => {
      const text = args[1];
      if (cutNext && typeof text === 'string' && text.includes('"chat.completions"')) {
        cutNext = false;
        // A full disk: the first line and half the second reach the file.
        const firstEnd = text.indexOf('\n') + 1;
        return (writeSync as (...rest: unknown[]) => number)(args[0], text.slice(0, firstEnd + (text.indexOf('\n', firstEnd) - firstEnd) / 2));
      }
      return (writeSync as (...rest: unknown[]) => number)(...args);
    });
    syncBuiltinESMExports();
    const calls: LlmCall[] = [];
    try {
      const first = Array.from({ length: 5 }, () => call());
      await Promise.all(first.map((c) => traces.record(c))); // 3 of 5 overflow: they stay in the spool file
      assert.ok(messages.some((message) => /trace worker is behind/.test(message)));
      cutNext = true;
      const cut = Array.from({ length: 3 }, () => call());
      await Promise.all(cut.map((c) => traces.record(c))); // cut short: all three are posted
      assert.ok(messages.some((message) => /trace spool write failed/.test(message)));
      const next = call();
      await traces.record(next); // a new file: the torn one is sealed and its overflowed lines read back
      calls.push(...first, ...cut, next);
    } finally {
      t.mock.restoreAll();
      syncBuiltinESMExports();
    }
    await traces.settled();
    await until(() => calls.every((c) => traces.journal.get(c.id)), 5000, 'every record journaled');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the worker's state catches up
    assert.deepEqual(traces.state(), { mode: 'local', stored: calls.length, dropped: 0, writeErrors: 0 });
  });

  it('record() in the turn of close(), and after it, resolves, and the record is journaled at the next start', async () => {
    const first = pipeline();
    const before = call();
    const during = first.record(before);
    const closing = first.close(100);
    const after = call();
    const late = first.record(after);
    await Promise.race([Promise.all([during, late]), new Promise((_, reject) => setTimeout(() => reject(new Error('hang')), 2000))]);
    await closing;
    await first.record(call()); // long after close
    open.splice(open.indexOf(first), 1);
    const second = pipeline();
    await until(() => Boolean(second.journal.get(before.id) && second.journal.get(after.id)), 5000, 'both journaled at the next start');
  });

  it('keeps memory bounded when the worker lags: records wait in the spool file, none lost or doubled', async () => {
    const traces = pipeline({ langfuse: keys(), maxInFlight: 5 });
    // One synchronous burst: the worker cannot commit anything meanwhile, so all but the first few overflow.
    const calls = Array.from({ length: 300 }, () => call());
    await Promise.all(calls.map((c) => traces.record(c)));
    assert.ok(messages.some((message) => /trace worker is behind/.test(message)), 'the lag is logged');
    await traces.settled();
    for (const c of calls) assert.ok(traces.journal.get(c.id), `journal has ${c.id}`);
    await fake.waitForTraces(300, 5000);
    await until(() => shipping(traces).backlog === 0, 3000, 'delivered');
    assert.equal(new Set(fake.traces().map((trace) => trace.id)).size, 300);
    assert.equal(fake.spans().length, 300, 'each call shipped once');
    // Sealed spool files are gone once read back; only the file being written stays.
    await until(() => readdirSync(join(dataDir, 'spool')).length === 1, 2000, 'sealed spool files removed');
  });

  it('a close while records wait in the spool file still journals and ships them', async () => {
    const first = pipeline({ langfuse: keys(), maxInFlight: 3 });
    fake.setMode('503');
    const calls = Array.from({ length: 50 }, () => call());
    await Promise.all(calls.map((c) => first.record(c)));
    await first.close(100);
    open.splice(open.indexOf(first), 1);
    fake.setMode('ok');
    const second = pipeline({ langfuse: keys() });
    await fake.waitForTraces(50, 5000);
    for (const c of calls) assert.ok(second.journal.get(c.id), `journal has ${c.id}`);
    assert.equal(new Set(fake.traces().map((trace) => trace.id)).size, 50);
  });

  it('keeps a spool file whose records the journal could not store, and stores the others of its batch', async () => {
    const first = pipeline({ langfuse: keys() });
    // A record the journal refuses (no status: a NOT NULL column), as a full disk would refuse any.
    const refused = call({ status: undefined as unknown as number });
    const good = [call(), call()];
    await Promise.all([first.record(good[0]!), first.record(refused), first.record(good[1]!)]);
    await first.settled();
    await fake.waitForTraces(2, 5000);
    for (const c of good) assert.ok(first.journal.get(c.id), 'the batch-mates of the refused record are stored');
    await first.close(1000);
    open.splice(open.indexOf(first), 1);
    const spooled = readdirSync(join(dataDir, 'spool')).map((name) => readFileSync(join(dataDir, 'spool', name), 'utf8')).join('');
    assert.ok(spooled.includes(refused.id), 'the spool file with the record the journal could not store is kept for the next start');
    assert.ok(messages.some((message) => /spool file kept/.test(message)));
    // The next start reads it again: the stored ones are not sent twice.
    const second = pipeline({ langfuse: keys() });
    await second.settled();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(fake.traces().filter((trace) => good.some((c) => c.id === trace.id)).length, 2);
  });

  it('after a restart with the same process id (a container\'s), replays the previous run\'s spool file and removes it', async () => {
    const dir = join(dataDir, 'spool');
    mkdirSync(dir, { recursive: true });
    const earlier = call();
    const name = `${(Date.now() - 60_000).toString().padStart(15, '0')}-${process.pid}-1.jsonl`;
    writeFileSync(join(dir, name), `${JSON.stringify(earlier)}\n`);
    pipeline({ langfuse: keys() });
    await fake.waitForTraces(1, 5000);
    assert.ok(fake.traces().some((trace) => trace.id === earlier.id));
    await until(() => !readdirSync(dir).includes(name), 5000, 'the previous run\'s spool file to go');
  });

  it('survives a spool rotation that fails while the worker catches up (the process does not crash), and records on', async () => {
    const traces = pipeline({ maxInFlight: 2 });
    for (let index = 0; index < 4; index += 1) await traces.record(call());
    // The next spool file cannot be opened (here the directory is gone; on a real machine a full disk, EMFILE).
    rmSync(join(dataDir, 'spool'), { recursive: true, force: true });
    await until(() => messages.includes('trace spool rotation failed'), 5000, 'the failed rotation to be logged');
    mkdirSync(join(dataDir, 'spool'));
    await traces.record(call());
    assert.equal(readdirSync(join(dataDir, 'spool')).length, 1, 'the next record went to a new spool file');
  });

  it('holds trace work back while the request thread is busy, but only for a few seconds', async () => {
    const traces = pipeline();
    // The worker must be up: at its start it reads the spool back, which would journal the calls at once.
    await traces.record(call());
    await traces.settled();
    // Keep this thread busy (as a burst of requests would), still letting timers run between spins; yielding
    // with setImmediate never waits for I/O, so the loop stays busy even on a crowded machine.
    let spinning = true;
    const spinner = (async () => {
      while (spinning) {
        const end = performance.now() + 50;
        while (performance.now() < end) { /* busy */ }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const calls = Array.from({ length: 20 }, () => call());
      const started = performance.now();
      await Promise.all(calls.map((c) => traces.record(c)));
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(calls.filter((c) => traces.journal.get(c.id)).length, 0, 'nothing journaled while the thread is busy');
      await traces.settled();
      const waited = performance.now() - started;
      assert.ok(waited > 1000 && waited < 8000, `held for a bounded time (${Math.round(waited)} ms)`);
      for (const c of calls) assert.ok(traces.journal.get(c.id), `journal has ${c.id}`);
    } finally {
      spinning = false;
      await spinner;
    }
  });
});
