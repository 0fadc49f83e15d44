// The Langfuse exporter: request headers, gzip for large bodies, and how each answer is classified.
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LANGFUSE_SDK_VERSION } from '@langfuse/core';
import type { LlmCall } from '../src/calls/llm-call.ts';
import { createLangfuseExporter, parseRetryAfter } from '../src/traces/langfuse-exporter.ts';
import type { LangfuseExporter } from '../src/traces/langfuse-exporter.ts';
import { toOtlpRequest } from '../src/traces/langfuse-spans.ts';
import type { Logger } from '../src/traces/logger.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {} };
const spanOptions = { serviceName: 'llm-trace-gateway', serviceVersion: '0.1.0' };

function call(index: number, content = 'Hi'): LlmCall {
  return {
    id: (index + 1).toString(16).padStart(32, 'a'),
    endpoint: 'chat.completions', name: 'chat.completions',
    startTime: Date.now() - 1000, endTime: Date.now(), stream: false,
    requestedModel: 'openai/gpt-4o-mini', modelParameters: {},
    input: [{ role: 'user', content }], output: { content: 'Hello' },
    tags: [], metadata: {}, status: 200, outcome: 'ok', level: 'DEFAULT',
  };
}

describe('langfuse exporter', () => {
  let fake: FakeLangfuse;
  let exporter: LangfuseExporter;
  const exporters: LangfuseExporter[] = [];
  const make = (overrides: { publicKey?: string; secretKey?: string; timeoutMs?: number; host?: string } = {}) => {
    const created = createLangfuseExporter({
      host: fake.url, publicKey: fake.publicKey, secretKey: fake.secretKey, timeoutMs: 2000, ...overrides,
    });
    exporters.push(created);
    return created;
  };

  before(async () => {
    fake = await startFakeLangfuse({ publicKey: 'pk-lf-test', secretKey: 'sk-lf-test-secret-value' });
    exporter = make();
  });
  beforeEach(() => fake.reset());
  after(async () => {
    await Promise.all(exporters.map((created) => created.close()));
    await fake.close();
  });

  it('posts OTLP/JSON with Basic auth and the SDK headers, uncompressed when small', async () => {
    assert.deepEqual(await exporter.send(toOtlpRequest([call(1)], spanOptions)), { kind: 'ok' });
    const headers = fake.acceptedRequests[0]?.headers;
    assert.equal(headers?.authorization, `Basic ${Buffer.from('pk-lf-test:sk-lf-test-secret-value').toString('base64')}`);
    assert.equal(headers?.['content-type'], 'application/json');
    assert.equal(headers?.['x-langfuse-sdk-name'], 'javascript');
    assert.equal(headers?.['x-langfuse-sdk-version'], LANGFUSE_SDK_VERSION);
    assert.equal(headers?.['x-langfuse-ingestion-version'], '4');
    assert.equal(headers?.['content-encoding'], undefined);
    assert.equal(fake.traces().length, 1);
  });

  it('gzips a large body', async () => {
    const calls = Array.from({ length: 30 }, (_, i) => call(i, 'x'.repeat(5000)));
    assert.deepEqual(await exporter.send(JSON.stringify(toOtlpRequest(calls, spanOptions))), { kind: 'ok' });
    assert.equal(fake.acceptedRequests[0]?.headers['content-encoding'], 'gzip');
    assert.equal(fake.traces().length, 30);
  });

  it('asks for a retry on 503, on 429 (with its Retry-After) and on a reset connection', async () => {
    const body = toOtlpRequest([call(1)], spanOptions);
    fake.setMode('503');
    const unavailable = await exporter.send(body);
    assert.equal(unavailable.kind, 'retry');
    assert.match(unavailable.kind === 'retry' ? unavailable.reason : '', /HTTP 503/);
    fake.setMode('429');
    // Not a failure one record could cause: the shipper neither splits the batch nor sets a record aside.
    assert.deepEqual({ ...(await exporter.send(body)), reason: undefined }, { kind: 'retry', reason: undefined, retryAfterMs: 1000, suspect: false });
    assert.equal(unavailable.kind === 'retry' && unavailable.suspect, false);
    fake.setMode('reset');
    const reset = await exporter.send(body);
    assert.equal(reset.kind, 'retry');
    assert.equal(reset.kind === 'retry' && reset.suspect, false);
    // A 500 can be a record's doing.
    fake.setMode('poison500');
    const poisoned = await exporter.send(toOtlpRequest([call(1, 'poison-record')], spanOptions));
    assert.equal(poisoned.kind === 'retry' && poisoned.suspect, true);
    fake.setMode('ok');
    assert.equal((await exporter.send(body)).kind, 'ok');
  });

  it('gives up on a stalled request after its time-out, or at once when aborted', async () => {
    const quick = make({ timeoutMs: 200 });
    fake.setMode('stall');
    let started = performance.now();
    const stalled = await quick.send(toOtlpRequest([call(1)], spanOptions));
    assert.equal(stalled.kind, 'retry');
    assert.match(stalled.kind === 'retry' ? stalled.reason : '', /^TimeoutError: timed out after 200 ms/);
    assert.equal(stalled.kind === 'retry' && stalled.suspect, true, 'a time-out can be a large record\'s doing');
    assert.ok(performance.now() - started < 1500);
    const controller = new AbortController();
    started = performance.now();
    setTimeout(() => controller.abort(), 50);
    assert.equal((await exporter.send(toOtlpRequest([call(2)], spanOptions), { signal: controller.signal })).kind, 'retry');
    assert.ok(performance.now() - started < 1000);
    fake.setMode('ok');
  });

  it('reports wrong keys and refused payloads as rejected, without the keys in the reason', async () => {
    const wrong = make({ publicKey: 'pk-lf-wrong', secretKey: 'sk-lf-wrong-secret' });
    const refused = await wrong.send(toOtlpRequest([call(1)], spanOptions));
    assert.equal(refused.kind, 'rejected');
    assert.equal(refused.kind === 'rejected' && refused.status, 401);
    assert.doesNotMatch(JSON.stringify(refused), /sk-lf-wrong-secret|pk-lf-wrong/);
    const invalid = await exporter.send('{"resourceSpans": "nope"}');
    assert.equal(invalid.kind === 'rejected' && invalid.status, 400);
  });

  it('keeps the keys and their Basic credentials out of an answer that quotes the request, wherever it is cut', async () => {
    const publicKey = 'pk-lf-PUBSECRET-1122aa';
    const secretKey = 'sk-lf-SECSECRET-3344aa';
    for (const padding of [0, 250, 270, 285]) {
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(400, { 'content-type': 'text/plain' })
          .end(`${'x'.repeat(padding)} invalid secret key ${secretKey} for ${publicKey}; got authorization: ${req.headers.authorization}`));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const echoing = createLangfuseExporter({ host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, publicKey, secretKey, timeoutMs: 2000 });
      try {
        const result = await echoing.send(toOtlpRequest([call(1)], spanOptions));
        assert.equal(result.kind, 'rejected');
        const reason = result.kind === 'rejected' ? result.reason : '';
        assert.match(reason, /^HTTP 400: x*/);
        for (const secret of [secretKey, publicKey, Buffer.from(`${publicKey}:${secretKey}`).toString('base64')]) {
          for (let length = 8; length <= secret.length; length += 1) assert.ok(!reason.includes(secret.slice(0, length)), `${padding}: ${reason}`);
        }
      } finally {
        await echoing.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it('asks for a retry when Langfuse cannot be reached', async () => {
    await fake.stop();
    try {
      const result = await make().send(toOtlpRequest([call(1)], spanOptions));
      assert.equal(result.kind, 'retry');
    } finally {
      await fake.restart();
    }
  });

  it('reads what a 2xx says: stored, stored in part (the batch is split), or not an answer from Langfuse (retried)', async () => {
    const cases: Array<[status: number, type: string, answer: string, kind: string]> = [
      [200, 'application/json', '{}', 'ok'],
      [200, 'application/json', '', 'ok'],
      [204, 'application/json', '', 'ok'],
      [200, 'application/json', '{"partialSuccess":{}}', 'ok'],
      [200, 'application/json', '{"partialSuccess":{"rejectedSpans":"0"}}', 'ok'],
      [200, 'application/json', '{"partialSuccess":{"rejectedSpans":2,"errorMessage":"bad span"}}', 'rejected'],
      [200, 'application/json', '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad span"}}', 'rejected'],
      [207, 'application/json', '{"successes":[],"errors":[{"id":"1","status":400}]}', 'rejected'],
      [207, 'application/json', '{"successes":[{"id":"1","status":201}],"errors":[]}', 'ok'],
      [200, 'application/json', '{"id":"4821","name":"otel-ingestion","data":{"fileKey":"x"}}', 'ok'],
      [200, 'application/json', '{"message":"OK"}', 'ok'],
      [200, 'application/json', '{"errors":[{"id":"1","status":400}]}', 'rejected'],
      [200, 'application/json', '{"error":"Internal Server Error"}', 'retry'],
      [200, 'text/html', '<!doctype html><title>Sign in</title>', 'retry'],
      [200, 'application/json', '"stored"', 'retry'],
    ];
    for (const [status, type, answer, kind] of cases) {
      const server = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(status, { 'content-type': type }).end(answer)); });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const exporter = createLangfuseExporter({ host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, publicKey: 'pk', secretKey: 'sk', timeoutMs: 2000 });
      try {
        const result = await exporter.send(toOtlpRequest([call(1)], spanOptions));
        assert.equal(result.kind, kind, `${status} ${answer}`);
        if (result.kind === 'retry' && type === 'text/html') assert.match(result.reason, /LANGFUSE_HOST/);
      } finally {
        await exporter.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it('gives a body over 1 MB more time, so a slow uplink still gets one large record through', async () => {
    // About 1 MB/s: a 64 kB read every 50 ms.
    const server = createServer((req, res) => {
      req.on('data', () => { req.pause(); setTimeout(() => req.resume(), 50); });
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const slow = createLangfuseExporter({ host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, publicKey: 'pk', secretKey: 'sk', timeoutMs: 300 });
    try {
      // Random text gzips to about 1.5 MB: five times what 300 ms carry at this rate.
      const large = JSON.stringify({ resourceSpans: [], padding: randomBytes(1_500_000).toString('base64') });
      assert.deepEqual(await slow.send(large), { kind: 'ok' });
      // A small body keeps the plain time-out.
      fake.setMode('stall');
      const started = performance.now();
      const result = await make({ timeoutMs: 300 }).send(toOtlpRequest([call(1)], spanOptions));
      assert.match(result.kind === 'retry' ? result.reason : '', /timed out after 300 ms/);
      assert.ok(performance.now() - started < 2000);
    } finally {
      await slow.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter('Fri, 27 Nov 2026 01:00:10 GMT', Date.parse('2026-11-27T01:00:00Z')), 10_000);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});
