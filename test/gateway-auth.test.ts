// Auth: the key in x-api-key or as a Bearer token; everything but / and CORS preflights needs it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { get, post, send } from './support/http.ts';

describe('gateway key', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  const chat = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };

  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, AUTH_FAILURE_LIMIT: '1000' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('accepts the key as x-api-key (the seed)', async () => {
    assert.equal((await post(`${gateway.url}/chat/completions`, chat, { 'x-api-key': gateway.key })).status, 200);
  });

  it('accepts the key as Authorization: Bearer (n8n with no custom header)', async () => {
    assert.equal((await post(`${gateway.url}/v1/chat/completions`, chat, { authorization: `Bearer ${gateway.key}` })).status, 200);
  });

  it('accepts a valid x-api-key even when the bearer is junk (n8n sends both)', async () => {
    const response = await post(`${gateway.url}/v1/chat/completions`, chat, { 'x-api-key': gateway.key, authorization: 'Bearer any-value' });
    assert.equal(response.status, 200);
    assert.equal(upstream.requests.at(-1)?.headers.authorization, 'Bearer sk-or-v1-test-upstream-key-abcdef');
  });

  it('refuses a missing or wrong key with an OpenAI-shaped 401 on every protected path', async () => {
    for (const path of ['/chat/completions', '/v1/models', '/api/v1/embeddings', '/health', '/v1/nope']) {
      const response = await send('POST', `${gateway.url}${path}`, '{}', { 'content-type': 'application/json' }, {});
      assert.equal(response.status, 401, path);
      const body = JSON.parse(response.body);
      assert.equal(body.error.type, 'authentication_error');
      assert.equal(body.error.code, 'invalid_api_key');
    }
    assert.equal((await get(`${gateway.url}/models`, { authorization: 'Bearer wrong' })).status, 401);
  });

  it('serves / without a key, and says nothing secret there', async () => {
    for (const path of ['/', '/v1', '/api/v1/']) {
      const response = await get(`${gateway.url}${path}`);
      assert.equal(response.status, 200, path);
      const info = JSON.parse(response.body);
      assert.equal(info.integrations.openrouter, true);
      assert.ok(!response.body.includes(gateway.key));
      assert.ok(!response.body.includes('sk-or-v1'));
    }
  });

  it('answers CORS preflights without a key and exposes x-trace-id', async () => {
    const response = await send('OPTIONS', `${gateway.url}/v1/chat/completions`, undefined, {
      origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type',
    }, {});
    assert.equal(response.status, 204);
    assert.equal(response.headers['access-control-allow-origin'], '*');
    const real = await post(`${gateway.url}/v1/chat/completions`, chat, { 'x-api-key': gateway.key, origin: 'https://app.example' });
    assert.match(String(real.headers['access-control-expose-headers']), /x-trace-id/);
  });

  it('slows down repeated failures from one address with 429 and retry-after, without slowing valid clients', async () => {
    const strict = await startGateway({ OPENROUTER_BASE_URL: upstream.url, AUTH_FAILURE_LIMIT: '5', AUTH_FAILURE_WINDOW_S: '60' });
    try {
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 8; i++) {
        // x-forwarded-for is not trusted: a client cannot dodge the limit by inventing addresses.
        const response = await post(`${strict.url}/chat/completions`, chat, { 'x-api-key': 'guess', 'x-forwarded-for': `203.0.113.${i}` });
        statuses.push(response.status);
        retryAfter ??= response.headers['retry-after'] as string | undefined;
      }
      assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
      assert.ok(statuses.slice(5).every((status) => status === 429), String(statuses));
      assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60);
      assert.equal((await post(`${strict.url}/chat/completions`, chat, { 'x-api-key': strict.key })).status, 200);
    } finally {
      await strict.close();
    }
  });
});
