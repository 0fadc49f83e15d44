// Every endpoint of the seed, under /, /v1 and /api/v1, forwarded as OpenRouter answers it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenRouter, FAKE_CONTENT } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { get, post, sseData } from './support/http.ts';

describe('endpoints', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  let auth: Record<string, string>;

  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url });
    auth = { 'x-api-key': gateway.key };
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  for (const prefix of ['', '/v1', '/api/v1']) {
    it(`serves models, chat, responses, completions, embeddings and health under "${prefix || '/'}"`, async () => {
      const models = await get(`${gateway.url}${prefix}/models`, auth);
      assert.equal(models.status, 200);
      const list = JSON.parse(models.body);
      assert.ok(Array.isArray(list.data) && list.data.every((model: { id: unknown }) => typeof model.id === 'string'));
      const chat = await post(`${gateway.url}${prefix}/chat/completions`, { model: 'm/x', messages: [{ role: 'user', content: 'Hi' }] }, auth);
      assert.equal(JSON.parse(chat.body).choices[0].message.content, FAKE_CONTENT);
      const responses = await post(`${gateway.url}${prefix}/responses`, { model: 'm/x', input: [{ type: 'message', role: 'user', content: 'Hi' }], stream: false, text: {} }, auth);
      assert.deepEqual(JSON.parse(responses.body).output[0].content[0].annotations, []);
      const completions = await post(`${gateway.url}${prefix}/completions`, { model: 'm/x', prompt: 'Say hi' }, auth);
      assert.equal(JSON.parse(completions.body).object, 'text_completion');
      const embeddings = await post(`${gateway.url}${prefix}/embeddings`, { model: 'm/e', input: 'hello' }, auth);
      assert.equal(JSON.parse(embeddings.body).data[0].embedding.length, 8);
      const health = await get(`${gateway.url}${prefix}/health`, auth);
      assert.equal(JSON.parse(health.body).status, 'ok');
      assert.equal(JSON.parse(health.body).upstream.configured, true);
    });
  }

  it('passes /models through unchanged', async () => {
    const direct = await fetch(`${upstream.url}/models`);
    const viaGateway = await get(`${gateway.url}/v1/models`, auth);
    assert.deepEqual(JSON.parse(viaGateway.body), await direct.json());
  });

  it('passes the model list\'s query on to OpenRouter, but not a parameter carrying our key', async () => {
    await get(`${gateway.url}/v1/models?supported_parameters=tools&category=programming`, auth);
    assert.equal(upstream.requests.at(-1)?.path, '/api/v1/models?supported_parameters=tools&category=programming');
    const answer = await get(`${gateway.url}/v1/models?api_key=${encodeURIComponent(gateway.key)}&category=programming`, auth);
    assert.equal(answer.status, 200);
    assert.equal(upstream.requests.at(-1)?.path, '/api/v1/models?category=programming');
    await get(`${gateway.url}/v1/models?key=Bearer%20${encodeURIComponent(gateway.key)}`, auth);
    assert.equal(upstream.requests.at(-1)?.path, '/api/v1/models');
  });

  it('turns an HTML error page from the model list into an OpenAI-shaped error with the same status', async () => {
    const response = await get(`${gateway.url}/v1/models?scenario=html-502`, auth);
    assert.equal(response.status, 502);
    const body = JSON.parse(response.body);
    assert.equal(body.error.code, 'upstream_invalid_response');
    assert.match(body.error.message, /502 Bad Gateway/);
    const rateLimited = await get(`${gateway.url}/v1/models?scenario=html-429`, auth);
    assert.equal(rateLimited.status, 429);
    assert.equal(rateLimited.headers['x-ratelimit-remaining'], '0');
    const upstreamJsonError = await get(`${gateway.url}/v1/models?scenario=status:503`, auth);
    assert.equal(upstreamJsonError.status, 503, 'a JSON error still passes through unchanged');
  });

  it('routes a path with doubled or trailing slashes (a base URL that ends in "/"), still behind the key', async () => {
    const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };
    for (const path of ['/v1//chat/completions', '//v1/chat/completions', '/v1/chat/completions/']) {
      const response = await post(`${gateway.url}${path}`, body, auth);
      assert.equal(response.status, 200, path);
      assert.equal(JSON.parse(response.body).object, 'chat.completion', path);
    }
    assert.equal((await post(`${gateway.url}/v1//chat/completions`, body, {})).status, 401);
  });

  it('streams /responses and /completions when asked', async () => {
    const responses = await post(`${gateway.url}/v1/responses`, { model: 'm/x', input: 'Hi', stream: true }, auth);
    assert.match(String(responses.headers['content-type']), /event-stream/);
    assert.ok(responses.body.includes('response.completed'));
    const completions = await post(`${gateway.url}/v1/completions`, { model: 'm/x', prompt: 'Hi', stream: true }, auth);
    assert.equal(sseData(completions.body).at(-1), '[DONE]');
  });

  it('decides streaming from body.stream, not from Accept (n8n sends Accept: application/json)', async () => {
    const response = await post(`${gateway.url}/v1/chat/completions`, { model: 'm/x', stream: true, messages: [] }, { ...auth, accept: 'application/json' });
    assert.match(String(response.headers['content-type']), /event-stream/);
  });

  it('forwards the client body bytes untouched when nothing needs changing', async () => {
    upstream.reset();
    const raw = '{"model":"m/x",  "messages":[{"role":"user","content":"Hi"}], "provider":{"order":["a"]}, "temperature":0.5}';
    await post(`${gateway.url}/v1/chat/completions`, raw, auth);
    assert.equal(upstream.requests.at(-1)?.rawBody, raw);
  });
});

describe('session id smuggled in response_format.type', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });
  const sent = () => upstream.requests.at(-1)?.body as Record<string, unknown>;

  it('removes response_format and sends the id upstream as session_id', async () => {
    await post(`${gateway.url}/chat/completions`, { model: 'm/x', messages: [], response_format: { type: 'session_123' } }, { 'x-api-key': gateway.key });
    assert.equal(sent().response_format, undefined);
    assert.equal(sent().session_id, 'session_123');
    assert.equal(gateway.calls.at(-1)?.sessionId, 'session_123');
  });

  it('sends the smuggled id upstream in place of a body session_id, so OpenRouter and Langfuse see one session', async () => {
    await post(`${gateway.url}/chat/completions`, { model: 'm/x', messages: [], response_format: { type: 'abc' }, session_id: 'mine' }, { 'x-api-key': gateway.key });
    assert.equal(sent().session_id, 'abc');
    assert.equal(sent().response_format, undefined);
    assert.equal(gateway.calls.at(-1)?.sessionId, 'abc');
  });

  it('removes an empty smuggled id (an n8n expression with no value) without making it a session', async () => {
    for (const type of ['', '   ']) {
      await post(`${gateway.url}/chat/completions`, { model: 'm/x', messages: [], response_format: { type } }, { 'x-api-key': gateway.key });
      assert.equal(sent().response_format, undefined, JSON.stringify(type));
      assert.equal(sent().session_id, undefined);
      assert.equal(gateway.calls.at(-1)?.sessionId, undefined);
      await post(`${gateway.url}/responses`, { model: 'm/x', input: 'Hi', text: { format: { type } } }, { 'x-api-key': gateway.key });
      assert.equal(sent().text, undefined, JSON.stringify(type));
      assert.equal(sent().session_id, undefined);
    }
  });

  for (const type of ['text', 'json_object', 'json_schema', 'grammar', 'python']) {
    it(`forwards the real type "${type}" untouched`, async () => {
      const format = type === 'json_schema' ? { type, json_schema: { name: 'x', schema: {} } } : { type };
      await post(`${gateway.url}/chat/completions`, { model: 'm/x', messages: [], response_format: format }, { 'x-api-key': gateway.key });
      assert.deepEqual(sent().response_format, format);
      assert.equal(sent().session_id, undefined);
    });
  }

  it('changes nothing else in the body it re-serialises: numbers keep the digits the client wrote', async () => {
    const raw = '{"model":"m/x","messages":[],"seed":12345678901234567890,"temperature":1.0,"top_p":0.10,"logit_bias":{"50256":-1e2},"response_format":{"type":"sess-big"}}';
    await post(`${gateway.url}/chat/completions`, raw, { 'x-api-key': gateway.key });
    assert.equal(upstream.requests.at(-1)?.rawBody, '{"model":"m/x","messages":[],"seed":12345678901234567890,"temperature":1.0,"top_p":0.10,"logit_bias":{"50256":-1e2},"session_id":"sess-big"}');
    assert.equal(gateway.calls.at(-1)?.sessionId, 'sess-big');
  });

  it('finds the smuggled id in text.format.type on /responses (n8n)', async () => {
    await post(`${gateway.url}/responses`, { model: 'm/x', input: 'Hi', text: { format: { type: 'session_9' }, verbosity: 'low' } }, { 'x-api-key': gateway.key });
    assert.deepEqual(sent().text, { verbosity: 'low' });
    assert.equal(sent().session_id, 'session_9');
  });
});
