// Self-test of the fake Langfuse OTLP endpoint: it must refuse what Langfuse refuses and map like Langfuse maps.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const ROOT_ID = 'b7ad6b7169203331';
const CHILD_ID = '00f067aa0ba902b7';
const START = 1_764_202_550_000_000_000n;

type Attribute = { key: string; value: Record<string, unknown> };
const text = (key: string, value: string): Attribute => ({ key, value: { stringValue: value } });

function span(overrides: Record<string, unknown> = {}, attributes: Attribute[] = []): Record<string, unknown> {
  return {
    traceId: TRACE_ID, spanId: ROOT_ID, name: 'chat.completions', kind: 1,
    startTimeUnixNano: String(START), endTimeUnixNano: String(START + 1_500_000_000n),
    attributes, events: [], status: { code: 0 }, links: [], flags: 257, ...overrides,
  };
}

/** The shape the JS SDK 5.11.1 emitted (contract, "Example" section). */
function generationAttributes(): Attribute[] {
  return [
    text('langfuse.environment', 'Langfuse-Staging'),
    text('langfuse.release', '1.2.3'),
    text('user.id', 'user-42'),
    text('session.id', 'session-7'),
    text('langfuse.trace.name', 'chat'),
    { key: 'langfuse.trace.tags', value: { arrayValue: { values: [{ stringValue: 'gateway' }, { stringValue: 'openrouter' }] } } },
    text('langfuse.trace.metadata.route', '/v1/chat/completions'),
    text('langfuse.observation.type', 'generation'),
    text('langfuse.observation.input', JSON.stringify([{ role: 'user', content: 'hi' }])),
    text('langfuse.observation.model.name', 'openai/gpt-4o-mini'),
    text('langfuse.observation.model.parameters', JSON.stringify({ temperature: 0.2, stop: ['x'] })),
    text('langfuse.observation.level', 'DEFAULT'),
    text('langfuse.observation.output', JSON.stringify({ role: 'assistant', content: 'hello' })),
    text('langfuse.observation.usage_details', '{"input":5,"output":2,"total":7}'),
    text('langfuse.observation.cost_details', '{"total":0.0001}'),
    text('langfuse.observation.completion_start_time', '"2026-11-27T00:15:50.775Z"'),
    { key: 'langfuse.internal.is_app_root', value: { boolValue: true } },
  ];
}

function envelope(spans: Array<Record<string, unknown>>): Record<string, unknown> {
  return {
    resourceSpans: [{
      resource: { attributes: [text('service.name', 'llm-trace-gateway'), text('telemetry.sdk.language', 'nodejs')] },
      scopeSpans: [{ scope: { name: 'langfuse-sdk', version: '5.11.1' }, spans }],
    }],
  };
}

describe('fake Langfuse OTLP endpoint', () => {
  let fake: FakeLangfuse;
  let auth: string;
  const post = (body: unknown, headers: Record<string, string> = {}, path = '/api/public/otel/v1/traces'): Promise<Response> =>
    fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    });
  const messageOf = async (response: Response): Promise<string> => ((await response.json()) as { message: string }).message;

  before(async () => {
    fake = await startFakeLangfuse({ publicKey: 'pk-lf-test', secretKey: 'sk-lf-test' });
    auth = `Basic ${Buffer.from('pk-lf-test:sk-lf-test').toString('base64')}`;
  });
  beforeEach(() => fake.reset());
  after(() => fake.close());

  it('accepts the SDK-shaped payload and maps it to a Langfuse trace', async () => {
    const response = await post(envelope([span({}, generationAttributes())]), { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});

    const [trace] = await fake.waitForTraces(1, 1000);
    assert.ok(trace);
    assert.equal(trace.id, TRACE_ID);
    assert.equal(trace.name, 'chat');
    assert.equal(trace.userId, 'user-42');
    assert.equal(trace.sessionId, 'session-7');
    assert.deepEqual(trace.tags, ['gateway', 'openrouter']);
    assert.equal(trace.release, '1.2.3');
    assert.equal(trace.environment, 'staging');
    assert.equal(trace.metadata.route, '/v1/chat/completions');
    assert.deepEqual(trace.input, [{ role: 'user', content: 'hi' }]);
    assert.deepEqual(trace.output, { role: 'assistant', content: 'hello' });

    const [observation] = trace.observations;
    assert.ok(observation);
    assert.equal(observation.id, ROOT_ID);
    assert.equal(observation.parentObservationId, undefined);
    assert.equal(observation.type, 'generation');
    assert.equal(observation.name, 'chat.completions');
    assert.equal(observation.model, 'openai/gpt-4o-mini');
    assert.deepEqual(observation.modelParameters, { temperature: 0.2, stop: '["x"]' });
    assert.deepEqual(observation.usageDetails, { input: 5, output: 2, total: 7 });
    assert.deepEqual(observation.costDetails, { total: 0.0001 });
    assert.equal(observation.completionStartTime, '2026-11-27T00:15:50.775Z');
    assert.equal(observation.level, 'DEFAULT');
    assert.equal(observation.startTime, '2025-11-27T00:15:50.000Z');
    assert.equal(observation.endTime, '2025-11-27T00:15:51.500Z');
    assert.equal(observation.environment, 'staging');
    assert.equal(observation.deliveries, 1);
    assert.deepEqual(observation.metadata.resourceAttributes, { 'service.name': 'llm-trace-gateway', 'telemetry.sdk.language': 'nodejs' });
    assert.equal(fake.maxDeliveries(), 1);
  });

  it('maps a child span, OpenAI-shaped usage and an error status', async () => {
    const child = span({ spanId: CHILD_ID, parentSpanId: ROOT_ID, name: 'upstream', status: { code: 2, message: 'boom' } }, [
      text('langfuse.observation.model.name', 'm'),
      text('langfuse.observation.usage_details', JSON.stringify({ prompt_tokens: 10, completion_tokens: 4, total_tokens: 14, prompt_tokens_details: { cached_tokens: 3 } })),
    ]);
    assert.equal((await post(envelope([span(), child]))).status, 200);
    const trace = fake.trace(TRACE_ID);
    const observation = trace?.observations.find((entry) => entry.id === CHILD_ID);
    assert.equal(trace?.name, 'chat.completions');
    assert.equal(trace?.environment, 'default');
    assert.equal(observation?.type, 'generation');
    assert.equal(observation?.parentObservationId, ROOT_ID);
    assert.equal(observation?.level, 'ERROR');
    assert.equal(observation?.statusMessage, 'boom');
    assert.deepEqual(observation?.usageDetails, { input: 7, output: 4, total: 14, input_cached_tokens: 3 });
  });

  it('accepts a gzip body', async () => {
    const response = await post(gzipSync(JSON.stringify(envelope([span()]))), { 'content-encoding': 'gzip' });
    assert.equal(response.status, 200);
    assert.equal(fake.spans().length, 1);
  });

  it('refuses wrong credentials and bearer auth with 401', async () => {
    const wrong = await post(envelope([span()]), { authorization: `Basic ${Buffer.from('pk-lf-test:nope').toString('base64')}` });
    assert.equal(wrong.status, 401);
    assert.match(await messageOf(wrong), /credentials/i);
    assert.equal((await post(envelope([span()]), { authorization: 'Bearer sk-lf-test' })).status, 401);
    assert.equal(fake.spans().length, 0);
    assert.equal(fake.statusCounts[401], 2);
  });

  it('refuses protobuf, unknown paths and newer ingestion versions', async () => {
    const protobuf = await post('x', { 'content-type': 'application/x-protobuf' });
    assert.equal(protobuf.status, 415);
    assert.match(await messageOf(protobuf), /protobuf/);
    assert.equal((await post(envelope([span()]), {}, '/api/public/ingestion')).status, 404);
    assert.equal((await post(envelope([span()]), { 'x-langfuse-ingestion-version': '5' })).status, 400);
    assert.equal((await post(envelope([span()]), { 'x-langfuse-ingestion-version': '4' })).status, 200);
  });

  it('refuses a malformed traceId with 400 naming the span', async () => {
    const response = await post(envelope([span({ traceId: 'ABC' })]));
    assert.equal(response.status, 400);
    assert.match(await messageOf(response), /chat\.completions.*traceId/);
    assert.equal(fake.rejections.at(-1)?.status, 400);
  });

  it('refuses usage_details with a negative count with 400 naming the attribute', async () => {
    const response = await post(envelope([span({}, [text('langfuse.observation.usage_details', '{"input":-1}')])]));
    assert.equal(response.status, 400);
    assert.match(await messageOf(response), /langfuse\.observation\.usage_details/);
    assert.equal(fake.spans().length, 0);
  });

  it('refuses untyped or out-of-range attribute values', async () => {
    const cases: Attribute[] = [
      { key: 'user.id', value: { intValue: 42 } },
      text('langfuse.observation.level', 'INFO'),
      text('langfuse.observation.input', 'not json'),
      text('langfuse.observation.completion_start_time', 'yesterday'),
      { key: 'x', value: { kvlistValue: { values: [] } } },
    ];
    for (const attribute of cases) {
      assert.equal((await post(envelope([span({}, [attribute])]))).status, 400, attribute.key);
    }
  });

  it('updates a resent span instead of duplicating it', async () => {
    await post(envelope([span()]));
    await post(envelope([span({ name: 'renamed' })]));
    assert.equal(fake.traces().length, 1);
    assert.equal(fake.spans().length, 1);
    assert.equal(fake.spans()[0]?.name, 'renamed');
    assert.equal(fake.trace(TRACE_ID)?.observations[0]?.deliveries, 2);
    assert.equal(fake.maxDeliveries(), 2);
  });

  it('answers 503 and 429 in those modes', async () => {
    fake.setMode('503');
    assert.equal((await post(envelope([span()]))).status, 503);
    fake.setMode('429');
    const limited = await post(envelope([span()]));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(fake.spans().length, 0);
  });

  it('holds requests while stalled and answers them when the mode changes', async () => {
    fake.setMode('stall');
    const pending = post(envelope([span()]));
    while (fake.requestCount === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(fake.spans().length, 0);
    fake.setMode('ok');
    assert.equal((await pending).status, 200);
    assert.equal(fake.spans().length, 1);
  });

  it('drops the connection in reset mode', async () => {
    fake.setMode('reset');
    await assert.rejects(post(envelope([span()])));
  });

  it('refuses connections after stop and accepts them after restart', async () => {
    await fake.stop();
    await assert.rejects(post(envelope([span()])));
    await fake.restart();
    assert.equal((await post(envelope([span()]))).status, 200);
  });
});
