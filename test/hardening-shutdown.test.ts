// Shutdown under load: SIGTERM with 100 streams in flight. Each stream finishes with [DONE] within the drain time,
// new connections are turned away, the process exits 0, and every trace is in Langfuse, or, when Langfuse is down,
// in the journal, from where the next start delivers it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { startGatewayProcess } from './support/gateway-process.ts';
import type { GatewayProcess } from './support/gateway-process.ts';
import { post } from './support/http.ts';
import type { RawResponse } from './support/http.ts';
import { readSse } from './support/sse-check.ts';

const KEY = 'gw-shutdown-key-0123456789';
const STREAMS = 100;
const DRAIN_S = 10;
interface StreamOutcome { response?: RawResponse; error?: Error; endedAt: number }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('shutdown under load', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;

  before(async () => {
    upstream = await startFakeOpenRouter();
    langfuse = await startFakeLangfuse();
  });
  after(async () => {
    await langfuse.close();
    await upstream.close();
  });

  const env = (dataDir: string) => ({
    API_KEY: KEY, OPENROUTER_API_KEY: 'sk-or-shutdown', OPENROUTER_BASE_URL: upstream.url, DATA_DIR: dataDir,
    LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey,
    SHUTDOWN_DRAIN_S: String(DRAIN_S), TRACE_FLUSH_TIMEOUT_S: '5',
  });

  /** Opens 100 streams of ~3 s, sends SIGTERM once they are all under way; returns what the clients and the process saw. */
  async function terminateUnderLoad(gateway: GatewayProcess) {
    const started = Array.from({ length: STREAMS }, () => post(`${gateway.url}/v1/chat/completions`,
      { model: 'fake/slow-stream:30:100', stream: true, messages: [{ role: 'user', content: 'Hi' }] },
      { authorization: `Bearer ${KEY}` }, { timeoutMs: (DRAIN_S + 5) * 1000 })
      .then((response): StreamOutcome => ({ response, endedAt: performance.now() }), (error: Error): StreamOutcome => ({ error, endedAt: performance.now() })));
    // Until every stream has reached the upstream (the fake counts requests as they arrive).
    const deadline = Date.now() + 10_000;
    while (upstream.requests.length < STREAMS && Date.now() < deadline) await sleep(20);
    assert.equal(upstream.requests.length, STREAMS, 'all streams under way before SIGTERM');
    await sleep(500);
    const termAt = performance.now();
    gateway.child.kill('SIGTERM');
    await sleep(300);
    // A new client during the drain: the listening socket is closed, so the connection is refused (or, on a
    // connection that was already open, 503).
    const late = await post(`${gateway.url}/v1/chat/completions`, { model: 'openai/gpt-4o-mini', messages: [] },
      { authorization: `Bearer ${KEY}` }, { timeoutMs: 3000 }).then((response) => String(response.status), (error: NodeJS.ErrnoException) => error.code ?? error.message);
    const results = await Promise.all(started);
    const code = await gateway.exited;
    const exitedAfterMs = performance.now() - termAt;
    return { results, late, code, exitedAfterMs, termAt };
  }

  function assertAllFinished(results: StreamOutcome[], termAt: number) {
    const slowest = Math.max(...results.map((result) => result.endedAt - termAt));
    for (const [index, result] of results.entries()) {
      assert.ok(result.response, `stream ${index}: ${result.error?.message}`);
      assert.equal(result.response.status, 200);
      const events = readSse(result.response.body);
      assert.equal(events.at(-1)?.data, '[DONE]', `stream ${index} ended with [DONE]`);
      assert.equal(events.filter((event) => event.data.includes('"error"')).length, 0, `stream ${index} had no error event`);
    }
    assert.ok(slowest < DRAIN_S * 1000, `the last stream ended ${Math.round(slowest)} ms after SIGTERM (drain ${DRAIN_S} s)`);
    return Math.round(slowest);
  }

  it('lets 100 streams finish, refuses new clients, exits 0 and has delivered every trace', { timeout: 60_000 }, async () => {
    upstream.reset();
    langfuse.reset();
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-shutdown-'));
    const gateway = await startGatewayProcess(env(dataDir));
    try {
      const { results, late, code, exitedAfterMs, termAt } = await terminateUnderLoad(gateway);
      const slowest = assertAllFinished(results, termAt);
      assert.ok(late === 'ECONNREFUSED' || late === '503', `a new client during the drain got ${late}`);
      assert.equal(code, 0, gateway.output().slice(-2000));
      const ids = results.map((result) => String(result.response?.headers['x-trace-id']));
      const traces = new Map(langfuse.traces().map((trace) => [trace.id, trace]));
      assert.deepEqual(ids.filter((id) => !traces.has(id)), [], 'every trace was delivered before the process exited');
      for (const id of ids) assert.equal(traces.get(id)?.observations[0]?.level, 'DEFAULT');
      console.log(JSON.stringify({ variant: 'Langfuse up', lastStreamEndedMs: slowest, exitedAfterMs: Math.round(exitedAfterMs), late }));
    } finally {
      await gateway.stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('with Langfuse down, keeps every trace in the journal and delivers them all after the next start', { timeout: 90_000 }, async () => {
    upstream.reset();
    langfuse.reset();
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-shutdown-down-'));
    await langfuse.stop();
    const first = await startGatewayProcess(env(dataDir));
    let second: GatewayProcess | undefined;
    try {
      const { results, code, exitedAfterMs, termAt } = await terminateUnderLoad(first);
      const slowest = assertAllFinished(results, termAt);
      assert.equal(code, 0, first.output().slice(-2000));
      assert.match(first.output(), /trace records left in the journal/);
      await langfuse.restart();
      const restartedAt = performance.now();
      second = await startGatewayProcess(env(dataDir));
      const startedAfterMs = Math.round(performance.now() - restartedAt);
      const ids = results.map((result) => String(result.response?.headers['x-trace-id']));
      const delivered = () => new Set(langfuse.spans().map((span) => span.traceId));
      const deadline = Date.now() + 30_000;
      while (ids.some((id) => !delivered().has(id)) && Date.now() < deadline) await sleep(100);
      const deliveredAfterRestartMs = Math.round(performance.now() - restartedAt);
      assert.deepEqual(ids.filter((id) => !delivered().has(id)), [], 'every trace arrived after the restart');
      assert.equal(langfuse.maxDeliveries(), 1);
      console.log(JSON.stringify({ variant: 'Langfuse down', lastStreamEndedMs: slowest, exitedAfterMs: Math.round(exitedAfterMs),
        startedAfterMs, deliveredAfterRestartMs }));
      assert.equal(await second.stop('SIGTERM'), 0);
    } finally {
      await langfuse.restart();
      await first.stop('SIGKILL');
      await second?.stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ends the calls the drain could not wait for with a shutting_down error, traced as outcome shutdown', { timeout: 30_000 }, async () => {
    upstream.reset();
    langfuse.reset();
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-shutdown-cut-'));
    const gateway = await startGatewayProcess({ ...env(dataDir), SHUTDOWN_DRAIN_S: '1' });
    try {
      // Answers of 5 s, against a 1 s drain: one streamed, one not.
      const call = (stream: boolean) => post(`${gateway.url}/v1/chat/completions`,
        { model: 'fake/slow-stream:50:100', stream, messages: [{ role: 'user', content: 'Hi' }] }, { authorization: `Bearer ${KEY}` }, { timeoutMs: 10_000 });
      const streamed = call(true);
      const plain = call(false);
      const deadline = Date.now() + 5000;
      while (upstream.requests.length < 2 && Date.now() < deadline) await sleep(20);
      await sleep(300);
      gateway.child.kill('SIGTERM');
      const [stream, whole] = await Promise.all([streamed, plain]);
      assert.equal(await gateway.exited, 0, gateway.output().slice(-2000));

      assert.equal(stream.status, 200);
      const events = readSse(stream.body);
      assert.notEqual(events.at(-1)?.data, '[DONE]');
      assert.equal(JSON.parse(events.at(-1)?.data ?? '{}').error?.code, 'shutting_down', 'the stream ends with one error event');
      assert.equal(whole.status, 503);
      assert.equal(JSON.parse(whole.body).error.code, 'shutting_down');

      const traces = new Map(langfuse.traces().map((trace) => [trace.id, trace]));
      for (const response of [stream, whole]) {
        const generation = traces.get(String(response.headers['x-trace-id']))?.observations[0];
        assert.equal(generation?.level, 'ERROR', 'the gateway cut it, not the client');
        assert.equal(generation?.metadata.outcome, 'shutdown');
      }
    } finally {
      await gateway.stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
