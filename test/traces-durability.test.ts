// Nothing lost, nothing slowed: Langfuse down, stalling, or the gateway killed mid-load.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { startGateway } from './support/gateway.ts';
import { startGatewayProcess } from './support/gateway-process.ts';
import { post } from './support/http.ts';
import { until } from './support/wait.ts';

const KEY = 'gw-durability-key-123456';
const body = (i: number, stream = i % 2 === 0) => ({ model: 'openai/gpt-4o-mini', stream, messages: [{ role: 'user', content: `call ${i}` }] });

/** Runs `total` calls, `concurrency` at a time; returns the trace ids of the calls that completed. */
async function load(url: string, total: number, concurrency: number, stopWhen?: () => boolean): Promise<{ completed: string[]; failed: number }> {
  const completed: string[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < total && !stopWhen?.()) {
      const i = next++;
      try {
        const response = await post(`${url}/v1/chat/completions`, body(i), { authorization: `Bearer ${KEY}` }, { timeoutMs: 10_000 });
        const complete = response.status === 200 && (i % 2 === 1 || response.body.includes('[DONE]'));
        if (complete) completed.push(String(response.headers['x-trace-id']));
        else failed += 1;
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { completed, failed };
}

describe('trace delivery under failure', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;
  let dataDir: string;
  const env = () => ({
    API_KEY: KEY, OPENROUTER_API_KEY: 'sk-or-durability', OPENROUTER_BASE_URL: upstream.url, DATA_DIR: dataDir,
    LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey,
  });

  before(async () => {
    upstream = await startFakeOpenRouter();
    langfuse = await startFakeLangfuse();
  });
  after(async () => {
    await langfuse.close();
    await upstream.close();
  });

  it('delivers every call, none twice, after Langfuse was down during 200 calls', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gw-down-'));
    langfuse.reset();
    const gateway = await startGateway(env(), { pipeline: true });
    try {
      await langfuse.stop();
      const { completed, failed } = await load(gateway.url, 200, 10);
      assert.equal(failed, 0);
      assert.equal(completed.length, 200);
      assert.equal(langfuse.traces().length, 0);
      assert.ok((gateway.traces?.state() as { backlog: number }).backlog >= 200);
      await langfuse.restart();
      await until(() => langfuse.traces().length >= 200, 20_000, '200 traces');
      assert.deepEqual(new Set(langfuse.traces().map((trace) => trace.id)), new Set(completed));
      assert.equal(langfuse.maxDeliveries(), 1, 'no trace was sent twice');
    } finally {
      await gateway.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('answers at normal speed while Langfuse stalls for 10 s, then delivers everything', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gw-stall-'));
    langfuse.reset();
    const gateway = await startGateway(env(), { pipeline: true });
    try {
      const timed = async () => {
        const started = performance.now();
        const response = await post(`${gateway.url}/v1/chat/completions`, body(1), { authorization: `Bearer ${KEY}` });
        assert.equal(response.status, 200);
        return performance.now() - started;
      };
      const normal: number[] = [];
      for (let i = 0; i < 20; i++) normal.push(await timed());
      await until(() => langfuse.traces().length >= 20, 5000, 'the first traces');
      langfuse.setMode('stall');
      const stalledAt = Date.now();
      const during: number[] = [];
      while (Date.now() - stalledAt < 10_000) during.push(await timed());
      langfuse.setMode('ok');
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      assert.ok(Math.max(...during) < 1000, `slowest call during the stall took ${Math.round(Math.max(...during))} ms`);
      assert.ok(median(during) < median(normal) * 3 + 5, `median ${median(during).toFixed(2)} ms during the stall vs ${median(normal).toFixed(2)} ms before`);
      await until(() => new Set(langfuse.spans().map((span) => span.traceId)).size >= 20 + during.length, 30_000, 'every trace after the stall');
    } finally {
      await gateway.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('delivers every completed call after the gateway is killed with SIGKILL mid-load and restarted', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gw-kill-'));
    langfuse.reset();
    langfuse.setMode('503');
    const first = await startGatewayProcess(env());
    let killed = false;
    const running = load(first.url, 5000, 16, () => killed);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    first.child.kill('SIGKILL');
    killed = true;
    const { completed } = await running;
    assert.equal(await first.exited, 'SIGKILL');
    assert.ok(completed.length > 50, `only ${completed.length} calls completed before the kill`);
    langfuse.setMode('ok');
    const t0 = Date.now();
    const second = await startGatewayProcess(env());
    console.log('restart took', Date.now() - t0, 'completed', completed.length);
    try {
      // spans() is the fake's raw store: cheap to read on every poll, unlike the mapped trace views.
      await until(() => { const have = new Set(langfuse.spans().map((span) => span.traceId)); return completed.every((id) => have.has(id)); }, 30_000, `${completed.length} traces`);
      console.log('delivered after', Date.now() - t0);
    } finally {
      assert.equal(await second.stop('SIGTERM'), 0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
