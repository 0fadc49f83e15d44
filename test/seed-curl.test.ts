// The seed README's two curl examples, sent as written with plain HTTP (x-api-key, no /v1, session smuggling).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenRouter, FAKE_CONTENT } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { send, sseData } from './support/http.ts';

describe('the seed curl examples', () => {
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

  it('answers the non-streaming request', async () => {
    const body = `{
    "model": "openai/gpt-3.5-turbo",
    "messages": [
      {"role": "user", "content": "Hello, world!"}
    ],
    "response_format": {"type": "session_123"}
  }`;
    const response = await send('POST', `${gateway.url}/chat/completions`, body, { 'Content-Type': 'application/json', 'x-api-key': gateway.key }, {});
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).choices[0].message.content, FAKE_CONTENT);
    assert.equal(gateway.calls.at(-1)?.sessionId, 'session_123');
  });

  it('answers the streaming request', async () => {
    const body = `{
    "model": "openai/gpt-3.5-turbo",
    "messages": [
      {"role": "user", "content": "Hello, world!"}
    ],
    "stream": true,
    "response_format": {"type": "session_123"}
  }`;
    const response = await send('POST', `${gateway.url}/chat/completions`, body, { 'Content-Type': 'application/json', 'x-api-key': gateway.key }, {});
    assert.equal(response.status, 200);
    const text = sseData(response.body).filter((data) => data !== '[DONE]').map((data) => JSON.parse(data).choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(text, FAKE_CONTENT);
    assert.equal((upstream.requests.at(-1)?.body as { session_id: string }).session_id, 'session_123');
  });

  it('accepts a JSON body sent without a content type (curl -d without -H)', async () => {
    const response = await send('POST', `${gateway.url}/chat/completions`, '{"model":"m/x","messages":[]}', { 'content-type': 'application/x-www-form-urlencoded', 'x-api-key': gateway.key }, {});
    assert.equal(response.status, 200);
  });
});
