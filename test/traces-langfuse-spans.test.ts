// Record -> OTLP/JSON mapping, checked attribute by attribute against the contract
// (../shared/contracts/langfuse-otel-attributes.md) and against the fake Langfuse's payload checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { LANGFUSE_SDK_VERSION } from '@langfuse/core';
import type { LlmCall } from '../src/calls/llm-call.ts';
import { otlpEnvelopeBytes, otlpSpanJson, toOtlpRequest, toOtlpSpan } from '../src/traces/langfuse-spans.ts';
import type { OtlpSpan } from '../src/traces/langfuse-spans.ts';
import type { OtlpAnyValue } from '../src/traces/otlp-values.ts';
import { unixNanos } from '../src/traces/otlp-values.ts';
import { parseTraceExport } from './fakes/fake-langfuse.ts';

const options = { serviceName: 'llm-trace-gateway', serviceVersion: '0.1.0', environment: 'staging', release: 'v1.2.3' };

function call(overrides: Partial<LlmCall> = {}): LlmCall {
  return {
    id: '0123456789abcdef0123456789abcdef',
    endpoint: 'chat.completions',
    name: 'chat.completions',
    startTime: 1764200150000.25,
    endTime: 1764200151500.5,
    stream: false,
    requestedModel: 'openai/gpt-4o-mini',
    model: 'openai/gpt-4o-mini-2024-07-18',
    provider: 'OpenAI',
    generationId: 'gen-123',
    modelParameters: { temperature: 0.2, max_tokens: 100 },
    input: [{ role: 'user', content: 'Hi' }],
    output: { role: 'assistant', content: 'Hello!', finishReason: 'stop' },
    usage: { input: 10, output: 5, total: 15 },
    cost: 0.00012,
    tags: [],
    metadata: {},
    status: 200,
    outcome: 'ok',
    level: 'DEFAULT',
    ...overrides,
  };
}

function plain(value: OtlpAnyValue): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return value.intValue;
  if ('doubleValue' in value) return value.doubleValue;
  return value.arrayValue.values.map(plain);
}

function attributes(span: OtlpSpan): Record<string, unknown> {
  return Object.fromEntries(span.attributes.map(({ key, value }) => [key, plain(value)]));
}

const json = (value: unknown) => JSON.parse(String(value)) as unknown;

/** A chat call offering tools: the tools and tool_choice are in the input with the messages, not in the parameters. */
function assertToolsInInput(values: Record<string, unknown>): void {
  assert.deepEqual(json(values['langfuse.observation.input']), {
    messages: [{ role: 'user', content: 'Hi' }],
    tools: [{ type: 'function', function: { name: 'get_weather' } }],
    tool_choice: 'auto',
  });
  assert.deepEqual(json(values['langfuse.observation.model.parameters']), { temperature: 0 });
}

describe('toOtlpSpan', () => {
  it('derives the trace id from the call id and a stable span id, so a resend upserts', () => {
    const span = toOtlpSpan(call(), options);
    assert.equal(span.traceId, '0123456789abcdef0123456789abcdef');
    const expected = createHash('sha256').update('0123456789abcdef0123456789abcdef:generation').digest('hex').slice(0, 16);
    assert.equal(span.spanId, expected);
    assert.deepEqual(toOtlpSpan(call(), options), span);
    assert.equal(toOtlpSpan(call({ id: 'not-hex' }), options).traceId.length, 32);
  });

  it('writes times as exact decimal nanoseconds, keeping sub-millisecond precision', () => {
    assert.equal(unixNanos(1764200150000.25), '1764200150000250000');
    assert.equal(unixNanos(1764200150775), '1764200150775000000');
    assert.equal(unixNanos(1764200150775.9996), '1764200150776000000');
    assert.equal(unixNanos(1764200150775.0421), '1764200150775042000');
    assert.equal(unixNanos(0.5), '500000');
    assert.equal(unixNanos(0), '0');
    assert.equal(unixNanos(-1.5), '-1500000');
    const span = toOtlpSpan(call(), options);
    assert.equal(span.startTimeUnixNano, '1764200150000250000');
    assert.equal(span.endTimeUnixNano, '1764200151500500000');
    assert.equal(span.kind, 1);
    assert.equal(span.flags, 257);
    assert.deepEqual([span.events, span.links], [[], []]);
  });

  const cases: Array<{ name: string; call: Partial<LlmCall>; expect: Record<string, unknown>; absent?: string[]; check?: (span: OtlpSpan) => void }> = [
    {
      name: 'a plain chat call',
      call: {},
      expect: {
        'langfuse.trace.name': 'chat.completions',
        'langfuse.observation.type': 'generation',
        'langfuse.observation.model.name': 'openai/gpt-4o-mini-2024-07-18',
        'langfuse.environment': 'staging',
        'langfuse.release': 'v1.2.3',
        'langfuse.observation.level': 'DEFAULT',
        'langfuse.observation.metadata.requested_model': 'openai/gpt-4o-mini',
        'langfuse.observation.metadata.provider': 'OpenAI',
        'langfuse.observation.metadata.generation_id': 'gen-123',
        'langfuse.observation.metadata.endpoint': 'chat.completions',
        'langfuse.observation.metadata.http_status': 200,
        'langfuse.observation.metadata.outcome': 'ok',
        'langfuse.observation.metadata.stream': false,
        'langfuse.observation.metadata.finish_reason': 'stop',
        'langfuse.trace.metadata.generation_id': 'gen-123',
        'langfuse.trace.metadata.requested_model': 'openai/gpt-4o-mini',
        'langfuse.trace.metadata.endpoint': 'chat.completions',
        'langfuse.internal.is_app_root': true,
      },
      absent: ['langfuse.trace.tags', 'langfuse.user.id', 'user.id', 'langfuse.session.id', 'session.id',
        'langfuse.observation.completion_start_time', 'langfuse.observation.status_message'],
      check(span) {
        const values = attributes(span);
        assert.deepEqual(json(values['langfuse.observation.model.parameters']), { temperature: 0.2, max_tokens: 100 });
        assert.deepEqual(json(values['langfuse.observation.input']), [{ role: 'user', content: 'Hi' }]);
        assert.deepEqual(json(values['langfuse.observation.output']), { role: 'assistant', content: 'Hello!' });
        assert.deepEqual(json(values['langfuse.observation.usage_details']), { input: 10, output: 5, total: 15 });
        assert.deepEqual(json(values['langfuse.observation.cost_details']), { total: 0.00012 });
        assert.deepEqual(span.status, { code: 0 });
      },
    },
    {
      name: 'session, user, tags and caller metadata',
      call: { sessionId: 's-1', userId: 'u-1', tags: ['a', 'b'], metadata: { user_agent: 'curl/8', retries: 2, outcome: 'spoofed' } },
      expect: {
        'langfuse.session.id': 's-1', 'session.id': 's-1', 'langfuse.user.id': 'u-1', 'user.id': 'u-1',
        'langfuse.trace.tags': ['a', 'b'],
        'langfuse.observation.metadata.user_agent': 'curl/8',
        'langfuse.observation.metadata.retries': 2,
        'langfuse.trace.metadata.retries': 2,
        // Our own keys win over the caller's, on the generation and on the trace.
        'langfuse.observation.metadata.outcome': 'ok',
      },
      absent: ['langfuse.trace.metadata.outcome'],
    },
    {
      name: "caller metadata named like the gateway's own keys, on the trace too",
      call: { metadata: { provider: 'spoofed', http_status: 999, stream: 'x', finish_reason: 'x', endpoint: 'x', generation_id: 'x', requested_model: 'x', workflow: 'w' } },
      expect: {
        'langfuse.observation.metadata.provider': 'OpenAI', 'langfuse.observation.metadata.http_status': 200,
        'langfuse.trace.metadata.endpoint': 'chat.completions', 'langfuse.trace.metadata.generation_id': 'gen-123',
        'langfuse.trace.metadata.requested_model': 'openai/gpt-4o-mini', 'langfuse.trace.metadata.workflow': 'w',
      },
      absent: ['langfuse.trace.metadata.provider', 'langfuse.trace.metadata.http_status', 'langfuse.trace.metadata.stream',
        'langfuse.trace.metadata.finish_reason', 'langfuse.trace.metadata.outcome'],
    },
    {
      name: 'cached, cache-write and reasoning tokens as disjoint Langfuse buckets',
      call: { usage: { input: 1000, cachedInput: 800, cacheWrite: 50, output: 300, reasoning: 200, total: 1300 } },
      expect: {},
      check(span) {
        assert.deepEqual(json(attributes(span)['langfuse.observation.usage_details']), {
          input: 150, input_cached_tokens: 800, input_cache_write_tokens: 50, output: 100, output_reasoning_tokens: 200, total: 1300,
        });
      },
    },
    {
      name: 'a stream with time to first token',
      call: { stream: true, completionStartTime: 1764200150775.5 },
      expect: { 'langfuse.observation.completion_start_time': '"2025-11-26T23:35:50.775Z"', 'langfuse.observation.metadata.stream': true },
    },
    {
      name: 'an upstream error',
      call: { status: 502, outcome: 'upstream_error', level: 'ERROR', statusMessage: 'Upstream 502: bad gateway', output: undefined, usage: undefined, cost: undefined, model: undefined },
      expect: {
        'langfuse.observation.level': 'ERROR',
        'langfuse.observation.status_message': 'Upstream 502: bad gateway',
        'langfuse.observation.model.name': 'openai/gpt-4o-mini',
        'langfuse.observation.metadata.http_status': 502,
      },
      absent: ['langfuse.observation.output', 'langfuse.observation.usage_details', 'langfuse.observation.cost_details'],
      check: (span) => assert.deepEqual(span.status, { code: 2, message: 'Upstream 502: bad gateway' }),
    },
    {
      name: 'a client that went away: partial output, default level, a status message',
      call: { outcome: 'client_aborted', statusMessage: 'client disconnected before the answer ended', output: { content: 'Hel' } },
      expect: { 'langfuse.observation.status_message': 'client disconnected before the answer ended', 'langfuse.observation.metadata.outcome': 'client_aborted' },
      check(span) {
        assert.deepEqual(json(attributes(span)['langfuse.observation.output']), { role: 'assistant', content: 'Hel' });
        assert.deepEqual(span.status, { code: 0 });
      },
    },
    {
      name: 'tool calls and reasoning in the output, tools in the input',
      call: {
        modelParameters: { temperature: 0, tools: [{ type: 'function', function: { name: 'get_weather' } }], tool_choice: 'auto' },
        output: { content: null, reasoning: 'Need the weather.', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      },
      expect: {},
      check(span) {
        const values = attributes(span);
        assert.deepEqual(json(values['langfuse.observation.output']), {
          role: 'assistant', content: null, reasoning: 'Need the weather.',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        });
        assertToolsInInput(values);
      },
    },
    {
      name: 'tools offered, input as buildCall records it ({messages, tools}): tool_choice joins the input, both leave the parameters',
      call: {
        input: { messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'function', function: { name: 'get_weather' } }] },
        modelParameters: { temperature: 0, tools: [{ type: 'function', function: { name: 'get_weather' } }], tool_choice: 'auto' },
      },
      expect: {},
      check: (span) => assertToolsInInput(attributes(span)),
    },
    {
      name: 'a Responses call offering tools: the tools and tool_choice are in the input once, not in the parameters too',
      call: {
        endpoint: 'responses',
        input: { instructions: 'Be brief.', input: 'Hi', tools: [{ type: 'function', name: 'get_weather' }] },
        modelParameters: { temperature: 0, tools: [{ type: 'function', name: 'get_weather' }], tool_choice: 'auto' },
      },
      expect: {},
      check(span) {
        const values = attributes(span);
        assert.deepEqual(json(values['langfuse.observation.input']), {
          instructions: 'Be brief.', input: 'Hi', tools: [{ type: 'function', name: 'get_weather' }], tool_choice: 'auto',
        });
        assert.deepEqual(json(values['langfuse.observation.model.parameters']), { temperature: 0 });
      },
    },
    {
      name: 'the release and environment the call was made under win over the shipping process\'s (a backlog shipped after an upgrade)',
      call: { release: 'v1.0.0', environment: 'blue' },
      expect: { 'langfuse.release': 'v1.0.0', 'langfuse.environment': 'blue' },
    },
    {
      name: 'the call metadata (the client\'s, its user agent) on the trace as well as the generation',
      call: { metadata: { workflow: 'invoice-triage', run: 7, dry_run: false, client: 'n8n/1.110', endpoint: 'client-says', outcome: 'client-says' } },
      expect: {
        'langfuse.trace.metadata.workflow': 'invoice-triage', 'langfuse.trace.metadata.run': 7, 'langfuse.trace.metadata.dry_run': false,
        'langfuse.trace.metadata.client': 'n8n/1.110', 'langfuse.observation.metadata.workflow': 'invoice-triage',
        'langfuse.trace.metadata.endpoint': 'chat.completions', 'langfuse.observation.metadata.outcome': 'ok',
      },
      check(span) {
        const keys = span.attributes.map(({ key }) => key);
        assert.equal(keys.length, new Set(keys).size, 'no attribute twice, whatever keys the client used');
      },
    },
    {
      name: 'a client key never fills a gateway key the call has no value for, on the generation as on the trace',
      call: { generationId: undefined, provider: undefined, output: { content: 'x' }, metadata: { generation_id: 'client-gen', provider: 'client-provider', finish_reason: 'client-stop', workflow: 'w' } },
      expect: { 'langfuse.observation.metadata.workflow': 'w', 'langfuse.trace.metadata.workflow': 'w' },
      absent: ['langfuse.observation.metadata.generation_id', 'langfuse.trace.metadata.generation_id',
        'langfuse.observation.metadata.provider', 'langfuse.observation.metadata.finish_reason'],
    },
    {
      name: 'an embeddings call with a raw output and no parameters',
      call: { endpoint: 'embeddings', name: 'embed-docs', modelParameters: {}, input: ['a', 'b'], output: { raw: { count: 2, dimensions: 1536 } }, usage: { input: 4, total: 4 } },
      expect: { 'langfuse.observation.type': 'embedding', 'langfuse.trace.name': 'embed-docs' },
      absent: ['langfuse.observation.model.parameters'],
      check(span) {
        assert.equal(span.name, 'embed-docs');
        const values = attributes(span);
        assert.deepEqual(json(values['langfuse.observation.output']), { count: 2, dimensions: 1536 });
        assert.deepEqual(json(values['langfuse.observation.usage_details']), { input: 4, total: 4 });
      },
    },
    {
      name: 'content capture off: no input and no output',
      call: { input: undefined, output: undefined },
      expect: {},
      absent: ['langfuse.observation.input', 'langfuse.observation.output'],
    },
  ];

  for (const testCase of cases) {
    it(`maps ${testCase.name}`, () => {
      const span = toOtlpSpan(call(testCase.call), options);
      const values = attributes(span);
      for (const [key, value] of Object.entries(testCase.expect)) assert.deepEqual(values[key], value, key);
      for (const key of testCase.absent ?? []) assert.equal(key in values, false, `${key} should be absent`);
      assert.equal(new Set(span.attributes.map((attribute) => attribute.key)).size, span.attributes.length, 'no duplicate keys');
      testCase.check?.(span);
      // The fake Langfuse checks types the way the server does.
      assert.equal(parseTraceExport(toOtlpRequest([call(testCase.call)], options)).length, 1);
      // The shipper's direct writer gives exactly the serialised object, key for key.
      assert.equal(otlpSpanJson(call(testCase.call), options), JSON.stringify(span));
    });
  }

  it('writes the same JSON directly for odd values (errors, quotes, metadata keys, numbers, tags)', () => {
    const odd = call({
      level: 'ERROR', outcome: 'upstream_error', status: 502, statusMessage: 'bad "gateway"\n\u2028',
      tags: ['a', 'b "c"'], metadata: { 'key "q"': 'v', n: 1.5, big: 2 ** 60, ok: true },
      name: 'name with "quotes"', completionStartTime: 1764200150100.5, cost: 0, userId: 'ü', sessionId: 's\u0000',
      input: { nested: ['x', 1, null, { y: '\ud83d\ude00' }] },
    });
    const errorWithoutMessage = call({ level: 'ERROR', statusMessage: undefined });
    for (const each of [odd, errorWithoutMessage, call({ id: 'not-hex' }), call({ startTime: 0.5, endTime: 0.25 })]) {
      assert.equal(otlpSpanJson(each, options), JSON.stringify(toOtlpSpan(each, options)));
    }
    const calls = [call(), odd];
    const bytes = (spans: LlmCall[]) => otlpEnvelopeBytes(spans.map((each) => Buffer.from(otlpSpanJson(each, options))), options).toString('utf8');
    assert.equal(bytes(calls), JSON.stringify(toOtlpRequest(calls, options)));
    assert.equal(bytes([odd]), JSON.stringify(toOtlpRequest([odd], options)));
    assert.equal(bytes([]), JSON.stringify(toOtlpRequest([], options)));
  });
});

describe('toOtlpRequest', () => {
  it('wraps spans in one resource and the langfuse-sdk scope', () => {
    const body = toOtlpRequest([call(), call({ id: 'fedcba9876543210fedcba9876543210' })], options);
    const resourceSpan = body.resourceSpans[0];
    assert.ok(resourceSpan);
    assert.deepEqual(resourceSpan.resource.attributes, [
      { key: 'service.name', value: { stringValue: 'llm-trace-gateway' } },
      { key: 'service.version', value: { stringValue: '0.1.0' } },
      { key: 'telemetry.sdk.language', value: { stringValue: 'nodejs' } },
    ]);
    assert.deepEqual(resourceSpan.scopeSpans[0]?.scope, { name: 'langfuse-sdk', version: LANGFUSE_SDK_VERSION });
    assert.equal(resourceSpan.scopeSpans[0]?.spans.length, 2);
  });

  it('leaves environment and release out when they are not set', () => {
    const values = attributes(toOtlpSpan(call(), { serviceName: 's', serviceVersion: '1' }));
    assert.equal('langfuse.environment' in values, false);
    assert.equal('langfuse.release' in values, false);
  });
});
