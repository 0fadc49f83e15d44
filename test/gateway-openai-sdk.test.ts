// The gateway as the OpenAI SDK sees it: non-streaming, streaming, a streamed tool call, and its error classes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenRouter, FAKE_CONTENT, FAKE_TOOL_CALL, FAKE_USAGE } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway, OPENROUTER_KEY } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';

describe('the OpenAI SDK through the gateway', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    upstream = await startFakeOpenRouter({ apiKey: OPENROUTER_KEY });
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, HTTP_REFERER: 'https://example.test', X_TITLE: 'Gateway Tests' });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: gateway.key, maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('answers a non-streaming chat completion with the upstream body', async () => {
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(completion.choices[0]?.message.content, FAKE_CONTENT);
    assert.equal(completion.usage?.total_tokens, FAKE_USAGE.total_tokens);
    assert.equal((completion.usage as unknown as { cost: number }).cost, FAKE_USAGE.cost);
  });

  it('reads a non-streaming answer that OpenRouter preceded with heartbeats (sent ahead, chunked)', async () => {
    const completion = await client.chat.completions.create({ model: 'fake/heartbeat:2', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(completion.choices[0]?.message.content, FAKE_CONTENT);
    assert.equal(completion.usage?.total_tokens, FAKE_USAGE.total_tokens);
  });

  it('sends its own OpenRouter key and attribution headers upstream, never the client key', async () => {
    upstream.reset();
    await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers.authorization, `Bearer ${OPENROUTER_KEY}`);
    assert.equal(seen?.headers['http-referer'], 'https://example.test');
    assert.equal(seen?.headers['x-title'], 'Gateway Tests');
    assert.equal(seen?.headers['x-openrouter-title'], 'Gateway Tests');
    assert.ok(!JSON.stringify(seen?.headers).includes(gateway.key));
  });

  it('streams a chat completion and keeps the final usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, FAKE_CONTENT);
    assert.equal(usage?.prompt_tokens, FAKE_USAGE.prompt_tokens);
  });

  it('streams a tool call whose fragments the SDK assembles', async () => {
    const runner = client.chat.completions.stream({
      model: 'fake/tool-call',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    assert.ok(call && call.type === 'function');
    assert.equal(call.id, FAKE_TOOL_CALL.id);
    assert.equal(call.function.name, FAKE_TOOL_CALL.name);
    assert.deepEqual(JSON.parse(call.function.arguments), JSON.parse(FAKE_TOOL_CALL.arguments));
  });

  it('raises AuthenticationError for a wrong gateway key', async () => {
    const stranger = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(stranger.chat.completions.create({ model: 'm', messages: [] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.AuthenticationError);
      assert.match(error.message, /gateway key/);
      return true;
    });
  });

  it('raises RateLimitError for an upstream 429 and passes its headers through', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'fake/status:429', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal(error.headers?.get('retry-after'), '1');
      assert.equal(error.headers?.get('x-ratelimit-remaining'), '0');
      return true;
    });
  });

  it('raises InternalServerError for an upstream 500 with the upstream message', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'fake/status:500', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.InternalServerError);
      assert.equal(error.status, 500);
      return true;
    });
  });

  it('lists models for the SDK', async () => {
    const page = await client.models.list();
    assert.ok(page.data.length > 0);
    assert.ok(page.data.every((model) => typeof model.id === 'string'));
  });
});
