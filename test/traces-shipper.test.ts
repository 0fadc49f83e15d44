// The background shipper against the fake Langfuse: exact fields arrive, failures are retried or
// kept, nothing is lost or duplicated, and a slow Langfuse never slows recording.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LlmCall } from '../src/calls/llm-call.ts';
import { createJournal } from '../src/traces/journal.ts';
import type { Journal } from '../src/traces/journal.ts';
import { createLangfuseExporter } from '../src/traces/langfuse-exporter.ts';
import type { LangfuseExporter } from '../src/traces/langfuse-exporter.ts';
import type { Logger } from '../src/traces/logger.ts';
import { createTraceShipper } from '../src/traces/trace-shipper.ts';
import type { TraceShipper } from '../src/traces/trace-shipper.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { until } from './support/wait.ts';

interface LogEntry { level: string; object: Record<string, unknown>; message: string }
const entries: LogEntry[] = [];
const at = (level: string) => (object: Record<string, unknown>, message: string) => { entries.push({ level, object, message }); };
const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };

let counter = 0;
function call(overrides: Partial<LlmCall> = {}): LlmCall {
  counter += 1;
  const start = Date.now() - 2000;
  return {
    id: counter.toString(16).padStart(32, 'c'),
    endpoint: 'chat.completions', name: 'chat.completions',
    startTime: start, endTime: start + 1500.25, stream: false,
    requestedModel: 'openai/gpt-4o-mini', model: 'openai/gpt-4o-mini', provider: 'OpenAI', generationId: `gen-${counter}`,
    modelParameters: { temperature: 0.5 }, input: [{ role: 'user', content: `question ${counter}` }],
    output: { content: `answer ${counter}` }, usage: { input: 10, output: 4, total: 14 }, cost: 0.0002,
    tags: [], metadata: {}, status: 200, outcome: 'ok', level: 'DEFAULT',
    ...overrides,
  };
}

describe('trace shipper', () => {
  let dataDir: string;
  let fake: FakeLangfuse;
  let journal: Journal;
  let exporter: LangfuseExporter;
  let shipper: TraceShipper;
  const started: Array<{ exporter: LangfuseExporter; shipper: TraceShipper }> = [];

  function startShipper(options: { timeoutMs?: number; secretKey?: string; batchSize?: number; unauthorizedRetryMs?: number; refusedRetryMs?: number; parkMs?: number } = {}) {
    exporter = createLangfuseExporter({
      host: fake.url, publicKey: fake.publicKey, secretKey: options.secretKey ?? fake.secretKey, timeoutMs: options.timeoutMs ?? 2000,
    });
    shipper = createTraceShipper({
      journal, exporter, logger,
      spanOptions: { serviceName: 'llm-trace-gateway', serviceVersion: '0.1.0', environment: 'test', release: 'r42' },
      batchSize: options.batchSize ?? 200, idleDelayMs: 50, notifyDelayMs: 5, backoff: { baseMs: 20, maxMs: 200 },
      ...(options.unauthorizedRetryMs === undefined ? {} : { unauthorizedRetryMs: options.unauthorizedRetryMs }),
      ...(options.parkMs === undefined ? {} : { parkMs: options.parkMs }),
      ...(options.refusedRetryMs === undefined ? {} : { refusedRetryMs: options.refusedRetryMs }),
    });
    started.push({ exporter, shipper });
    shipper.start();
  }
  async function record(c: LlmCall) {
    await journal.append(c);
    shipper.notify();
  }

  beforeEach(async () => {
    entries.length = 0;
    dataDir = mkdtempSync(join(tmpdir(), 'traces-shipper-'));
    fake = await startFakeLangfuse({ publicKey: 'pk-lf-ship', secretKey: 'sk-lf-ship-secret' });
    journal = createJournal({ dataDir, retentionDays: 30, maxBytes: 100 * 1024 * 1024, shipping: true, logger });
  });
  afterEach(async () => {
    for (const entry of started.splice(0)) {
      await entry.shipper.stop();
      await entry.exporter.close();
    }
    journal.close();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers each call as a Langfuse trace with the mapped fields', async () => {
    startShipper();
    const streamed = call({
      stream: true, completionStartTime: Date.now() - 1800, sessionId: 'sess-1', userId: 'user-1', tags: ['prod', 'beta'],
      model: 'openai/gpt-4o-mini-2024-07-18', usage: { input: 100, cachedInput: 60, output: 40, reasoning: 10, total: 140 }, cost: 0.0031,
      output: { content: 'Sure.', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
    });
    const failed = call({ status: 502, outcome: 'upstream_error', level: 'ERROR', statusMessage: 'Upstream 502: provider down', output: undefined, usage: undefined, cost: undefined });
    await Promise.all([record(streamed), record(failed)]);
    await fake.waitForTraces(2);

    const trace = fake.trace(streamed.id);
    assert.ok(trace);
    assert.deepEqual([trace.name, trace.userId, trace.sessionId, trace.tags, trace.release, trace.environment],
      ['chat.completions', 'user-1', 'sess-1', ['prod', 'beta'], 'r42', 'test']);
    assert.equal(trace.metadata.generation_id, streamed.generationId);
    assert.equal(trace.metadata.requested_model, 'openai/gpt-4o-mini');
    assert.equal(trace.observations.length, 1);
    const generation = trace.observations[0]!;
    assert.equal(generation.type, 'generation');
    assert.equal(generation.model, 'openai/gpt-4o-mini-2024-07-18');
    assert.deepEqual(generation.modelParameters, { temperature: 0.5 });
    assert.deepEqual(generation.input, streamed.input);
    assert.deepEqual(generation.output, {
      role: 'assistant', content: 'Sure.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }],
    });
    assert.deepEqual(generation.usageDetails, { input: 40, input_cached_tokens: 60, output: 30, output_reasoning_tokens: 10, total: 140 });
    assert.deepEqual(generation.costDetails, { total: 0.0031 });
    assert.equal(generation.completionStartTime, new Date(streamed.completionStartTime!).toISOString());
    assert.equal(generation.startTime, new Date(streamed.startTime).toISOString());
    assert.equal(generation.level, 'DEFAULT');
    assert.equal(generation.metadata.provider, 'OpenAI');
    assert.equal(generation.metadata.stream, true);

    const error = fake.trace(failed.id)?.observations[0];
    assert.equal(error?.level, 'ERROR');
    assert.equal(error?.statusMessage, 'Upstream 502: provider down');
    assert.equal(error?.metadata.http_status, 502);

    await until(() => shipper.state().status === 'idle', 2000, 'idle');
    const state = shipper.state();
    assert.equal(state.delivered, 2);
    assert.equal(state.backlog, 0);
    assert.ok(state.lastDeliveredAt);
    assert.equal(journal.get(streamed.id)?.delivery, 'delivered');
  });

  it('keeps retrying through a Langfuse outage and then delivers every call, none missing, none twice', async () => {
    fake.setMode('503');
    startShipper({ batchSize: 7 });
    const calls = Array.from({ length: 30 }, () => call());
    await Promise.all(calls.map(record));
    await until(() => (fake.statusCounts[503] ?? 0) >= 4, 5000, 'several 503 answers');
    const during = shipper.state();
    assert.equal(during.status, 'retrying');
    assert.equal(during.backlog, 30);
    assert.match(during.lastError ?? '', /503/);
    fake.setMode('ok');
    await fake.waitForTraces(30, 5000);
    await until(() => shipper.state().backlog === 0, 2000, 'empty backlog');
    const traces = fake.traces();
    assert.deepEqual(traces.map((trace) => trace.id).sort(), calls.map((c) => c.id).sort());
    assert.ok(traces.every((trace) => trace.observations.length === 1));
    assert.equal(fake.maxDeliveries(), 1);
    assert.ok(shipper.state().retries >= 4);
    assert.equal(shipper.state().status, 'idle');
  });

  it('waits as long as Retry-After asks after a 429', async () => {
    fake.setMode('429');
    startShipper();
    await record(call());
    await until(() => fake.requestCount >= 1, 2000, 'the first request');
    const firstAt = performance.now();
    fake.setMode('ok');
    await fake.waitForTraces(1, 4000);
    assert.ok(performance.now() - firstAt >= 900, 'honoured Retry-After: 1');
    assert.equal(fake.requestCount, 2);
  });

  it('pauses on refused keys, keeps the rows, and logs it once', async () => {
    startShipper({ secretKey: 'sk-lf-wrong-secret' });
    await record(call());
    await until(() => shipper.state().status === 'rejected', 3000, 'paused');
    await record(call());
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(fake.requestCount, 1);
    const state = shipper.state();
    assert.equal(state.backlog, 2);
    assert.match(state.lastError ?? '', /401/);
    const loud = entries.filter((entry) => /refused the keys/.test(entry.message));
    assert.equal(loud.length, 1);
    assert.doesNotMatch(JSON.stringify(entries), /sk-lf-wrong-secret/);
  });

  it('tries refused keys again after a while, and ships the backlog once Langfuse accepts them', async () => {
    fake.setMode('401');
    startShipper({ unauthorizedRetryMs: 300 });
    await record(call());
    await until(() => shipper.state().status === 'rejected', 3000, 'paused');
    await record(call());
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fake.requestCount, 1, 'new calls do not wake a paused shipper');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(fake.requestCount, 2, 'one probe after the retry delay, not a hammering');
    fake.setMode('ok');
    await fake.waitForTraces(2, 3000);
    await until(() => shipper.state().status !== 'rejected', 2000, 'resumed');
    assert.equal(shipper.state().backlog, 0);
    assert.equal(entries.filter((entry) => /refused the keys/.test(entry.message)).length, 1, 'the refusal is logged once');
    assert.equal(entries.filter((entry) => /accepted the keys again/.test(entry.message)).length, 1);
  });

  it('bisects a refused batch: only the poisoned row is rejected, the others are delivered', async () => {
    startShipper();
    // A corrupted record: Langfuse (like the fake) refuses the whole batch over its level.
    const poisoned = call({ level: 'LOUD' as LlmCall['level'] });
    const calls = [call(), call(), poisoned, call(), call(), call()];
    await Promise.all(calls.map(record));
    await until(() => journal.stats().backlog - journal.stats().rejected === 0, 5000, 'batch settled');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), calls.filter((c) => c !== poisoned).map((c) => c.id).sort());
    assert.equal(journal.get(poisoned.id)?.delivery, 'rejected');
    assert.match(journal.get(poisoned.id)?.lastError ?? '', /HTTP 400/);
    const state = shipper.state();
    assert.equal(state.rejected, 1);
    assert.equal(state.delivered, 5);
    assert.equal(state.status, 'partly_refused', 'not "idle": a refused row waits for a restart');
    assert.ok(fake.rejections.every((rejection) => rejection.status === 400));
    // Another record refused for the same reason is kept too, without another log line.
    await record(call({ level: 'LOUD' as LlmCall['level'] }));
    await until(() => journal.stats().rejected === 2, 3000, 'second rejection');
    assert.equal(entries.filter((entry) => /refused trace records/.test(entry.message)).length, 1);
  });

  it('a 200 that stores a batch only in part: split until the refused row is found, the rest delivered, none lost', async () => {
    fake.setMode('partial');
    startShipper();
    const poisoned = call({ level: 'LOUD' as LlmCall['level'] });
    const calls = [call(), call(), call(), poisoned, call(), call(), call()];
    await Promise.all(calls.map(record));
    await until(() => journal.stats().backlog - journal.stats().rejected === 0, 5000, 'batch settled');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), calls.filter((c) => c !== poisoned).map((c) => c.id).sort());
    assert.equal(journal.get(poisoned.id)?.delivery, 'rejected');
    assert.match(journal.get(poisoned.id)?.lastError ?? '', /rejectedSpans/);
    assert.equal(shipper.state().delivered, 6);
    assert.equal(shipper.state().rejected, 1);
  });

  it('a 200 that is not an answer from Langfuse (a login page): nothing counts as delivered, shipped once Langfuse answers', async () => {
    fake.setMode('html200');
    startShipper();
    const calls = [call(), call(), call()];
    await Promise.all(calls.map(record));
    await until(() => shipper.state().status === 'retrying', 3000, 'retrying');
    assert.equal(shipper.state().delivered, 0);
    assert.equal(shipper.state().backlog, 3);
    assert.match(shipper.state().lastError ?? '', /LANGFUSE_HOST/);
    fake.setMode('ok');
    await until(() => shipper.state().backlog === 0, 5000, 'delivered');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), calls.map((c) => c.id).sort());
  });

  it('one record Langfuse keeps failing on (a 5xx, a time-out) does not hold back the others: set aside, then delivered', async () => {
    fake.setMode('poison500');
    startShipper({ batchSize: 8, parkMs: 400 });
    const poisoned = call({ input: [{ role: 'user', content: 'poison-record' }] });
    // The troublesome record is the oldest: every batch starts with it.
    await record(poisoned);
    const others = Array.from({ length: 12 }, () => call());
    await Promise.all(others.map(record));
    await until(() => fake.traces().length === others.length, 8000, 'the others delivered');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), others.map((c) => c.id).sort());
    assert.equal(journal.get(poisoned.id)?.delivery, 'pending', 'kept, not dropped or rejected');
    assert.equal(entries.filter((entry) => /set aside/.test(entry.message)).length >= 1, true);
    // Later records go out while it is set aside.
    const later = call();
    await record(later);
    await until(() => fake.trace(later.id) !== undefined, 5000, 'a later record delivered');
    // Once Langfuse takes it, it is delivered at its next try.
    // Set aside, it is tried alone, not at the head of every batch (which would fail them all, and back off).
    const failedRequests = fake.statusCounts[500] ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.ok((fake.statusCounts[500] ?? 0) - failedRequests <= 3, `${(fake.statusCounts[500] ?? 0) - failedRequests} failed requests in a second while it was set aside`);
    fake.setMode('ok');
    await until(() => journal.get(poisoned.id)?.delivery === 'delivered', 8000, 'the set-aside record delivered');
    assert.equal(fake.maxDeliveries(), 1);
  });

  it('two records Langfuse keeps failing on, at the head of the queue, do not take turns holding back the others', async () => {
    fake.setMode('poison500');
    startShipper({ batchSize: 8, parkMs: 60_000 });
    const poisoned = [call({ input: [{ role: 'user', content: 'poison-record one' }] }), call({ input: [{ role: 'user', content: 'poison-record two' }] })];
    for (const c of poisoned) await record(c);
    const others = Array.from({ length: 8 }, () => call());
    await Promise.all(others.map(record));
    await until(() => fake.traces().length === others.length, 8000, 'the others delivered');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), others.map((c) => c.id).sort());
    await until(() => entries.filter((entry) => /set aside/.test(entry.message)).length === 2, 5000, 'both set aside');
    for (const c of poisoned) assert.equal(journal.get(c.id)?.delivery, 'pending', 'kept, not dropped or rejected');
  });

  /** A record Langfuse answers 500 to, the oldest, with `count` others after it: set aside for a minute. */
  async function setAsideForAMinute(count: number): Promise<LlmCall> {
    fake.setMode('poison500');
    startShipper({ batchSize: 8, parkMs: 60_000 });
    const poisoned = call({ input: [{ role: 'user', content: 'poison-record' }] });
    const others = Array.from({ length: count }, () => call());
    await record(poisoned);
    await Promise.all(others.map(record));
    await until(() => entries.some((entry) => /set aside/.test(entry.message)), 8000, 'set aside for a minute');
    await until(() => fake.traces().length === others.length, 8000, 'the others delivered');
    return poisoned;
  }

  it('a set-aside record gets its next try as soon as Langfuse recovers from an outage, not at the end of its wait', async () => {
    const poisoned = await setAsideForAMinute(4);
    // An outage: a batch fails, then Langfuse is back and takes everything, the set-aside record too.
    fake.setMode('503');
    const during = call();
    await record(during);
    await until(() => (fake.statusCounts[503] ?? 0) >= 1, 5000, 'a failed batch');
    fake.setMode('ok');
    const back = performance.now();
    await until(() => journal.get(poisoned.id)?.delivery === 'delivered', 8000, 'the set-aside record delivered after the recovery');
    assert.ok(performance.now() - back < 8000);
    assert.equal(fake.trace(during.id) !== undefined, true);
    assert.equal(fake.maxDeliveries(), 1);
  });

  it('a set-aside record waits out its time while others are delivered: the failure it caused is no outage', async () => {
    const poisoned = await setAsideForAMinute(1);
    const failedRequests = fake.statusCounts[500] ?? 0;
    for (let i = 0; i < 5; i += 1) {
      const next = call();
      await record(next);
      await until(() => fake.trace(next.id) !== undefined, 5000, 'a later record delivered');
    }
    assert.equal((fake.statusCounts[500] ?? 0) - failedRequests, 0, 'not tried again after each delivery');
    assert.equal(entries.filter((entry) => /set aside/.test(entry.message)).length, 1);
    assert.equal(journal.get(poisoned.id)?.delivery, 'pending');
  });

  /**
   * Three calls delivered while the journal cannot mark them delivered (a full disk, as SQLite answers then);
   * `room()` gives the space back.
   */
  async function deliveredOnAFullDisk(): Promise<{ calls: LlmCall[]; room: () => void }> {
    let full = true;
    const markDelivered = journal.markDelivered.bind(journal);
    journal = { ...journal, markDelivered: (seqs) => { if (full) throw new Error('database or disk is full'); markDelivered(seqs); } };
    startShipper({ batchSize: 8 });
    const calls = Array.from({ length: 3 }, () => call());
    await Promise.all(calls.map(record));
    await until(() => fake.traces().length === calls.length, 5000, 'delivered');
    return { calls, room: () => { full = false; } };
  }

  it('a batch Langfuse took that the journal cannot mark delivered (a full disk) is not sent again, and is marked later', async () => {
    const { calls, room } = await deliveredOnAFullDisk();
    // Steps go on (the idle poll, new records): none sends those rows again, and Langfuse is not taken for down.
    const later = call();
    await record(later);
    await until(() => fake.trace(later.id) !== undefined, 5000, 'a later record delivered');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(fake.maxDeliveries(), 1, 'each trace sent once');
    assert.equal(shipper.state().status === 'retrying', false);
    assert.ok(entries.some((entry) => /not marked so in the journal/.test(entry.message)));
    room();
    await until(() => [...calls, later].every((c) => journal.get(c.id)?.delivery === 'delivered'), 5000, 'marked delivered once the journal can write');
    assert.equal(fake.maxDeliveries(), 1);
  });

  it('flush() at shutdown marks the rows delivered earlier once the journal can write again', async () => {
    const { calls, room } = await deliveredOnAFullDisk();
    // Space comes back, then the gateway shuts down before the next step.
    room();
    const { remaining } = await shipper.flush(1000);
    assert.equal(remaining, 0, 'nothing left to send after the next start');
    for (const c of calls) assert.equal(journal.get(c.id)?.delivery, 'delivered', 'else sent again after the restart');
  });

  it('on a full disk (every mark fails) one row Langfuse refuses does not hold back the rows after it, nor count as a Langfuse failure', async () => {
    const full = () => { throw new Error('database or disk is full'); };
    journal = { ...journal, markDelivered: full, markRejected: full, markFailed: full };
    startShipper({ batchSize: 8 });
    const poisoned = call({ level: 'LOUD' as LlmCall['level'] });
    const calls = [call(), call(), poisoned, call(), call(), call()];
    for (const c of calls) await record(c);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), calls.filter((c) => c !== poisoned).map((c) => c.id).sort());
    assert.notEqual(shipper.state().status, 'retrying');
  });

  it('does not split batches over a 429 (Langfuse limits the rate, no record is at fault)', async () => {
    fake.setMode('429');
    startShipper({ batchSize: 8 });
    const calls = Array.from({ length: 8 }, () => call());
    await Promise.all(calls.map(record));
    await until(() => (fake.statusCounts[429] ?? 0) >= 1, 3000, 'a 429');
    fake.setMode('ok');
    await until(() => shipper.state().backlog === 0, 5000, 'delivered');
    assert.deepEqual(fake.acceptedRequests.map((request) => request.spanCount), [8]);
  });

  it('pauses instead of bisecting the whole backlog when Langfuse refuses every record', async () => {
    startShipper({ batchSize: 8 });
    const bad = Array.from({ length: 20 }, () => call({ level: 'LOUD' as LlmCall['level'] }));
    await Promise.all(bad.map(record));
    await until(() => shipper.state().status === 'rejected', 3000, 'paused');
    const requests = fake.requestCount;
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(fake.requestCount, requests);
    assert.equal(journal.stats().rejected, 8);
    assert.equal(journal.stats().backlog, 20, 'nothing is lost: the rest stays pending for the next start');
    assert.equal(entries.filter((entry) => /refused every trace record/.test(entry.message)).length, 1);
  });

  it('after pausing on a batch of refused records, tries one newer record alone and resumes when Langfuse takes it', async () => {
    startShipper({ batchSize: 8, refusedRetryMs: 200 });
    // Four records Langfuse refuses, arriving together (one client repeating a request): a batch of them alone.
    const bad = Array.from({ length: 4 }, () => call({ level: 'LOUD' as LlmCall['level'] }));
    await Promise.all(bad.map(record));
    await until(() => shipper.state().status === 'rejected', 3000, 'paused');
    const good = Array.from({ length: 5 }, () => call());
    await Promise.all(good.map(record));
    await until(() => fake.traces().length === good.length, 5000, 'the records after them delivered');
    assert.deepEqual(fake.traces().map((trace) => trace.id).sort(), good.map((c) => c.id).sort());
    assert.equal(shipper.state().status, 'partly_refused');
    assert.equal(journal.stats().rejected, 4);
    assert.equal(entries.filter((entry) => /refused every trace record/.test(entry.message)).length, 1);
    assert.equal(entries.filter((entry) => /takes trace records again/.test(entry.message)).length, 1);
  });

  it('logs refused keys that come while paused for refused records, and their recovery as such', async () => {
    startShipper({ batchSize: 8, refusedRetryMs: 100, unauthorizedRetryMs: 200 });
    await Promise.all(Array.from({ length: 4 }, () => record(call({ level: 'LOUD' as LlmCall['level'] }))));
    await until(() => shipper.state().status === 'rejected', 3000, 'paused for refused records');
    fake.setMode('401');
    const good = call();
    await record(good);
    await until(() => entries.some((entry) => /refused the keys/.test(entry.message)), 3000, 'the keys error logged');
    fake.setMode('ok');
    await until(() => fake.trace(good.id) !== undefined, 5000, 'delivered once the keys work');
    assert.equal(entries.filter((entry) => /accepted the keys again/.test(entry.message)).length, 1);
  });

  it('times out a stalled Langfuse and retries, while recording stays fast', async () => {
    fake.setMode('stall');
    startShipper({ timeoutMs: 250, batchSize: 10 });
    let slowest = 0;
    for (let i = 0; i < 40; i += 1) {
      const begin = performance.now();
      await record(call());
      slowest = Math.max(slowest, performance.now() - begin);
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 30));
    }
    assert.ok(slowest < 100, `record() took ${slowest.toFixed(1)} ms while Langfuse stalled`);
    await until(() => shipper.state().retries >= 2, 5000, 'two timed-out attempts');
    assert.match(shipper.state().lastError ?? '', /timed out/);
    fake.setMode('ok');
    await fake.waitForTraces(40, 8000);
    await until(() => shipper.state().backlog === 0, 2000, 'empty backlog');
  });

  it('flush returns within its time-out while Langfuse stalls, leaving the rows for the next start', async () => {
    fake.setMode('stall');
    startShipper({ timeoutMs: 10_000 });
    await Promise.all([call(), call(), call()].map(record));
    await until(() => fake.requestCount >= 1, 2000, 'a request in flight');
    const begin = performance.now();
    const { remaining } = await shipper.flush(300);
    const took = performance.now() - begin;
    assert.ok(took < 800, `flush took ${took.toFixed(0)} ms`);
    assert.equal(remaining, 3);
    assert.equal(journal.stats().backlog, 3);
  });

  it('flush sends the backlog at once, without waiting out a backoff', async () => {
    fake.setMode('503');
    exporter = createLangfuseExporter({ host: fake.url, publicKey: fake.publicKey, secretKey: fake.secretKey, timeoutMs: 2000 });
    shipper = createTraceShipper({
      journal, exporter, logger, spanOptions: { serviceName: 's', serviceVersion: '1' },
      idleDelayMs: 50, notifyDelayMs: 5, backoff: { baseMs: 60_000, maxMs: 60_000 }, random: () => 1,
    });
    started.push({ exporter, shipper });
    shipper.start();
    await Promise.all([call(), call()].map(record));
    await until(() => shipper.state().status === 'retrying', 2000, 'backoff');
    fake.setMode('ok');
    const { remaining } = await shipper.flush(2000);
    assert.equal(remaining, 0);
    assert.equal(fake.traces().length, 2);
  });
});
