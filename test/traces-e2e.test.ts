// What each proxied call becomes in Langfuse: the exact fields, for every kind of call and every outcome.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenRouter, FAKE_CONTENT, FAKE_REASONING, FAKE_REASONING_CONTENT, FAKE_TOOL_CALL } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse, LangfuseTraceView } from './fakes/fake-langfuse.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { post } from './support/http.ts';

describe('Langfuse traces of proxied calls', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;
  let gateway: TestGateway;
  let auth: Record<string, string>;
  let client: OpenAI;

  before(async () => {
    upstream = await startFakeOpenRouter();
    langfuse = await startFakeLangfuse();
    gateway = await startGateway({
      OPENROUTER_BASE_URL: upstream.url, LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey,
      LANGFUSE_SECRET_KEY: langfuse.secretKey, LANGFUSE_ENVIRONMENT: 'staging', LANGFUSE_RELEASE: 'v1.2.3', TRACE_TAGS: 'gateway,test',
    }, { pipeline: true });
    auth = { authorization: `Bearer ${gateway.key}` };
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: gateway.key, maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await langfuse.close();
    await upstream.close();
  });

  /** Posts a call and returns its Langfuse trace (by the x-trace-id the response carries). */
  async function traced(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ trace: LangfuseTraceView; traceId: string; status: number; body: string }> {
    const response = await post(`${gateway.url}/v1/chat/completions`, body, { ...auth, ...headers });
    const traceId = String(response.headers['x-trace-id']);
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const trace = await waitForTrace(traceId);
    return { trace, traceId, status: response.status, body: response.body };
  }
  async function waitForTrace(traceId: string): Promise<LangfuseTraceView> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const trace = langfuse.trace(traceId);
      if (trace) return trace;
      if (Date.now() > deadline) throw new Error(`trace ${traceId} never arrived; rejections: ${JSON.stringify(langfuse.rejections.slice(-2))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const generation = (trace: LangfuseTraceView) => {
    assert.equal(trace.observations.length, 1);
    const observation = trace.observations[0]!;
    assert.equal(observation.type, 'generation');
    return observation;
  };

  it('records a non-streaming call with model, parameters, input, output, usage, cost and timing', async () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }];
    const before = Date.now();
    const { trace } = await traced({ model: 'openai/gpt-4o-mini', messages, temperature: 0.2, max_tokens: 50, top_p: 0.9 });
    const g = generation(trace);
    assert.equal(trace.name, 'chat.completions');
    assert.equal(trace.environment, 'staging');
    assert.equal(trace.release, 'v1.2.3');
    assert.deepEqual(trace.tags.sort(), ['gateway', 'test']);
    assert.equal(g.model, 'openai/gpt-4o-mini');
    assert.deepEqual(g.modelParameters, { temperature: 0.2, max_tokens: 50, top_p: 0.9 });
    assert.deepEqual(g.input, messages);
    assert.deepEqual(g.output, { role: 'assistant', content: FAKE_CONTENT });
    assert.deepEqual(g.usageDetails, { input: 10, input_cached_tokens: 2, output: 7, output_reasoning_tokens: 0, total: 19 });
    assert.deepEqual(g.costDetails, { total: 0.00042 });
    assert.equal(g.level, 'DEFAULT');
    assert.equal(g.metadata.provider, 'FakeProvider');
    assert.match(String(g.metadata.generation_id), /^gen-/);
    assert.equal(g.metadata.requested_model, 'openai/gpt-4o-mini');
    const start = Date.parse(g.startTime);
    assert.ok(start >= before - 5 && Date.parse(g.endTime) >= start);
  });

  it('records a stream with its completion start time (time to first token)', async () => {
    const { trace } = await traced({ model: 'fake/pause:50', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const g = generation(trace);
    assert.deepEqual(g.output, { role: 'assistant', content: FAKE_CONTENT });
    assert.ok(g.completionStartTime, 'completion start time is set');
    const first = Date.parse(g.completionStartTime);
    assert.ok(first > Date.parse(g.startTime) && first < Date.parse(g.endTime));
    assert.ok(Date.parse(g.endTime) - first >= 200, 'first token came well before the end of a paced stream');
    assert.equal(g.usageDetails?.total, 19);
  });

  it('records a streamed tool call assembled from its fragments, with the tools in the input', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const { trace } = await traced({ model: 'fake/tool-call', stream: true, messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: 'auto' });
    const g = generation(trace);
    const output = g.output as { tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> };
    assert.equal(output.tool_calls[0]?.id, FAKE_TOOL_CALL.id);
    assert.equal(output.tool_calls[0]?.function.name, FAKE_TOOL_CALL.name);
    assert.equal(output.tool_calls[0]?.function.arguments, FAKE_TOOL_CALL.arguments);
    assert.deepEqual(g.input, { messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: 'auto' });
    assert.equal(g.modelParameters, undefined, 'tools and tool_choice are in the input, not the parameters');
    assert.equal(g.metadata.finish_reason, 'tool_calls');
  });

  it('records the client\'s metadata on the trace (filterable there) and on the generation', async () => {
    const metadata = { workflow: 'invoice-triage', run: 7, dry_run: false, step: { name: 'classify' }, 'bad\u0000key': 'x\r\ny' };
    const { trace } = await traced({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], metadata }, { 'user-agent': 'n8n/1.110' });
    assert.equal(trace.metadata.workflow, 'invoice-triage');
    assert.equal(trace.metadata.run, 7);
    assert.equal(trace.metadata.dry_run, false);
    assert.deepEqual(trace.metadata.step, { name: 'classify' });
    assert.equal(trace.metadata['bad key'], 'x y', 'keys and values are cleaned like every client label');
    assert.equal(trace.metadata.client, 'n8n/1.110');
    assert.equal(generation(trace).metadata.workflow, 'invoice-triage');
  });

  it('keeps `client` for the user agent and the gateway\'s keys for its own values: a client\'s metadata never takes their place, in Langfuse or the viewer', async () => {
    const metadata = { client: 'my-client-label', generation_id: 'evil', outcome: 'evil', workflow: 'w' };
    const messages = [{ role: 'user', content: 'Hi' }];
    const withAgent = (await traced({ model: 'openai/gpt-4o-mini', messages, metadata }, { 'user-agent': 'n8n/1.110' })).trace;
    assert.equal(withAgent.metadata.client, 'n8n/1.110');
    assert.equal(generation(withAgent).metadata.client, 'n8n/1.110');
    const withoutAgent = (await traced({ model: 'openai/gpt-4o-mini', messages, metadata })).trace;
    assert.equal(withoutAgent.metadata.client, undefined);
    assert.equal(generation(withoutAgent).metadata.client, undefined);
    assert.equal(withoutAgent.metadata.workflow, 'w');
    for (const trace of [withAgent, withoutAgent]) {
      // The journal's record is what the viewer's /api/traces/:id shows.
      const viewed = gateway.traces?.journal.get(trace.id)?.call;
      assert.deepEqual(viewed?.metadata, trace === withAgent ? { workflow: 'w', client: 'n8n/1.110' } : { workflow: 'w' });
      assert.match(String(trace.metadata.generation_id), /^gen-\d+-/, 'the upstream\'s generation id, not the client\'s');
    }
  });

  it('records reasoning text and reasoning tokens', async () => {
    for (const stream of [false, true]) {
      const { trace } = await traced({ model: 'fake/reasoning', stream, messages: [{ role: 'user', content: '6*7?' }], reasoning: { effort: 'high' } });
      const g = generation(trace);
      assert.deepEqual(g.output, { role: 'assistant', content: FAKE_REASONING_CONTENT, reasoning: FAKE_REASONING });
      assert.equal(g.usageDetails?.output_reasoning_tokens, 5);
      assert.equal(g.usageDetails?.output, 2);
      assert.deepEqual(g.modelParameters?.reasoning, '{"effort":"high"}');
    }
  });

  it('records the model actually used after a fallback, and the requested one', async () => {
    const { trace } = await traced({ model: 'fake/fallback', messages: [{ role: 'user', content: 'Hi' }] });
    const g = generation(trace);
    assert.equal(g.model, 'fake/fallback-used');
    assert.equal(g.metadata.requested_model, 'fake/fallback');
    assert.equal(g.metadata.provider, 'FallbackProvider');
  });

  it('records an upstream 429 as an ERROR with a status message, and the response still carries x-trace-id', async () => {
    const { trace, status } = await traced({ model: 'fake/status:429', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(status, 429);
    const g = generation(trace);
    assert.equal(g.level, 'ERROR');
    assert.match(g.statusMessage ?? '', /429/);
  });

  it('records a mid-stream error chunk as an ERROR with the partial output', async () => {
    const { trace } = await traced({ model: 'fake/mid-stream-error', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const g = generation(trace);
    assert.equal(g.level, 'ERROR');
    assert.match(g.statusMessage ?? '', /Provider disconnected/);
    assert.ok(((g.output as { content: string }).content).length > 0);
  });

  it('records upstream time-outs and lost connections as ERRORs', async () => {
    const dropped = await traced({ model: 'fake/drop:2', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(generation(dropped.trace).level, 'ERROR');
    assert.match(generation(dropped.trace).statusMessage ?? '', /connection to OpenRouter was lost/);
    assert.ok((generation(dropped.trace).output as { content: string }).content.length > 0, 'partial output kept');
    const reset = await traced({ model: 'fake/reset', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(reset.status, 502);
    assert.equal(generation(reset.trace).level, 'ERROR');
  });

  it('records a client that went away with the partial output and a status message saying so', async () => {
    const response = await post(`${gateway.url}/v1/chat/completions`, { model: 'fake/slow-stream:40:50', stream: true, messages: [{ role: 'user', content: 'Hi' }] }, auth, { abortAfterChunks: 4 });
    const trace = await waitForTrace(String(response.headers['x-trace-id']));
    const g = generation(trace);
    assert.match(g.statusMessage ?? '', /Client went away/);
    assert.equal(g.level, 'WARNING');
    assert.ok(((g.output as { content: string }).content).length > 0);
  });

  it('takes the session from response_format.type, then session_id, then x-session-id (OpenRouter\'s order), then metadata.session_id', async () => {
    const base = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };
    const cases: Array<[Record<string, unknown>, Record<string, string>, string]> = [
      [{ ...base, response_format: { type: 'session_123' }, session_id: 'body' }, { 'x-session-id': 'header' }, 'session_123'],
      [{ ...base, session_id: 'body', metadata: { session_id: 'meta' } }, { 'x-session-id': 'header' }, 'body'],
      [{ ...base, metadata: { session_id: 'meta' } }, { 'x-session-id': 'header' }, 'header'],
      [{ ...base, session_id: 'body', metadata: { session_id: 'meta' } }, {}, 'body'],
      [{ ...base, metadata: { session_id: 'meta' } }, {}, 'meta'],
      [{ ...base, session_id: 's'.repeat(256) }, {}, 's'.repeat(256)],
    ];
    for (const [body, headers, expected] of cases) {
      const { trace } = await traced(body, headers);
      assert.equal(trace.sessionId, expected);
    }
    // The header reaches OpenRouter too, which reads it when the body has no session_id.
    upstream.reset();
    await traced(base, { 'x-session-id': 'from-header' });
    assert.equal(upstream.requests.at(-1)?.headers['x-session-id'], 'from-header');
    const jsonMode = await traced({ ...base, response_format: { type: 'json_object' } }, { 'x-session-id': 'h' });
    assert.equal(jsonMode.trace.sessionId, 'h');
    assert.deepEqual(generation(jsonMode.trace).modelParameters?.response_format, '{"type":"json_object"}');
  });

  it('takes the user from x-user-id, else body user; tags, name and odd values are cleaned', async () => {
    const base = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], user: 'body-user' };
    assert.equal((await traced(base, { 'x-user-id': 'header-user' })).trace.userId, 'header-user');
    assert.equal((await traced(base)).trace.userId, 'body-user');
    const { trace } = await traced({ ...base, user: `evil\u0000user\u202e${'x'.repeat(500)}` }, { 'x-trace-tags': 'alpha, beta', 'x-trace-name': 'summarise-ticket' });
    assert.equal(trace.name, 'summarise-ticket');
    assert.deepEqual(trace.tags.sort(), ['alpha', 'beta', 'gateway', 'test']);
    assert.ok(trace.userId && trace.userId.length <= 200 && !/[\u0000-\u001f\u202e]/.test(trace.userId));
    // A client's 20 tags fill the cap, but not at the expense of TRACE_TAGS.
    const crowded = await traced(base, { 'x-trace-tags': Array.from({ length: 20 }, (_, i) => `t${i}`).join(',') });
    assert.equal(crowded.trace.tags.length, 20);
    assert.ok(crowded.trace.tags.includes('gateway') && crowded.trace.tags.includes('test'), crowded.trace.tags.join(','));
  });

  it('records the Responses API and embeddings', async () => {
    const responses = await post(`${gateway.url}/v1/responses`, { model: 'openai/gpt-4o-mini', input: [{ type: 'message', role: 'user', content: 'Hi' }] }, auth);
    const trace = await waitForTrace(String(responses.headers['x-trace-id']));
    assert.equal(trace.name, 'responses');
    assert.equal((generation(trace).output as { content: string }).content, FAKE_CONTENT);
    assert.equal(generation(trace).usageDetails?.total, 19);
    const embeddings = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'hello' }).withResponse();
    const embeddingTrace = await waitForTrace(String(embeddings.response.headers.get('x-trace-id')));
    assert.equal(embeddingTrace.observations[0]?.type, 'embedding');
    assert.equal(embeddingTrace.observations[0]?.usageDetails?.input, 4);
  });

  it('shows the delivery state on /health', async () => {
    const health = await (await fetch(`${gateway.url}/health`, { headers: auth })).json() as { traces: Record<string, unknown> };
    assert.equal(health.traces.mode, 'langfuse');
    assert.equal(typeof health.traces.backlog, 'number');
    assert.ok('oldestUndeliveredAgeSeconds' in health.traces);
  });
});

describe('trace privacy and sampling settings', () => {
  it('keeps message content out of traces with TRACE_CONTENT=false, and traces nothing at TRACE_SAMPLE_RATE=0', async () => {
    const upstream = await startFakeOpenRouter();
    const langfuse = await startFakeLangfuse();
    const lf = { LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey };
    const privateGateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, TRACE_CONTENT: 'false', ...lf }, { pipeline: true });
    const unsampled = await startGateway({ OPENROUTER_BASE_URL: upstream.url, TRACE_SAMPLE_RATE: '0', ...lf }, { pipeline: true });
    try {
      const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'my secret question' }], temperature: 0.1,
        prediction: { type: 'content', content: 'my secret draft' },
        tools: [{ type: 'function', function: { name: 'lookup', description: 'my secret tool description', parameters: { type: 'object' } } }] };
      const response = await post(`${privateGateway.url}/v1/chat/completions`, body, { 'x-api-key': privateGateway.key });
      const [trace] = await langfuse.waitForTraces(1, 5000);
      assert.equal(trace?.id, response.headers['x-trace-id']);
      const g = trace!.observations[0]!;
      assert.equal(g.input, undefined);
      assert.equal(g.output, undefined, 'no output rather than an empty-looking answer');
      assert.equal(g.metadata.finish_reason, 'stop');
      assert.ok(!JSON.stringify(trace).includes('my secret question'));
      assert.ok(!JSON.stringify(trace).includes('my secret draft'), 'a predicted output is content too');
      assert.ok(!JSON.stringify(trace).includes('my secret tool'), 'tool definitions are part of the prompt: content too');
      assert.ok(!JSON.stringify(trace).includes('Hello from fake OpenRouter'));
      assert.equal(g.usageDetails?.total, 19);
      assert.deepEqual(g.costDetails, { total: 0.00042 });
      assert.deepEqual(g.modelParameters, { temperature: 0.1 });
      await post(`${privateGateway.url}/v1/completions`, { model: 'openai/gpt-4o-mini', prompt: 'my secret prefix', suffix: 'my secret suffix' }, { 'x-api-key': privateGateway.key });
      const completion = (await langfuse.waitForTraces(2, 5000))[1];
      assert.ok(!JSON.stringify(completion).includes('my secret'), 'a completion\'s suffix is content too');
      // An upstream error's metadata stays, but not the provider's raw error text, which may quote the request.
      await post(`${privateGateway.url}/v1/chat/completions`, { ...body, model: 'fake/status:502' }, { 'x-api-key': privateGateway.key });
      const failed = (await langfuse.waitForTraces(3, 5000))[2]!.observations[0]!;
      assert.match(failed.statusMessage ?? '', /"provider_name"/);
      assert.doesNotMatch(failed.statusMessage ?? '', /upstream connection reset|"raw"/);

      const plain = await post(`${unsampled.url}/v1/chat/completions`, body, { 'x-api-key': unsampled.key });
      assert.equal(plain.status, 200);
      assert.equal(plain.headers['x-trace-id'], undefined);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(langfuse.traces().length, 3, 'the unsampled call was not traced');
    } finally {
      await privateGateway.close();
      await unsampled.close();
      await langfuse.close();
      await upstream.close();
    }
  });
});
