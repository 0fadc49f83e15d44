// @langchain/openai (what n8n uses) through the gateway: invoke, and stream with usage.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import type { AIMessageChunk } from '@langchain/core/messages';
import { startFakeOpenRouter, FAKE_CONTENT, FAKE_USAGE } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';

describe('LangChain ChatOpenAI through the gateway', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  let model: ChatOpenAI;

  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url });
    model = new ChatOpenAI({ model: 'openai/gpt-4o-mini', apiKey: gateway.key, configuration: { baseURL: gateway.url }, maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('invokes and gets the answer with token usage', async () => {
    const message = await model.invoke('Hi');
    assert.equal(message.content, FAKE_CONTENT);
    assert.equal(message.usage_metadata?.input_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(message.usage_metadata?.output_tokens, FAKE_USAGE.completion_tokens);
  });

  it('streams and reads usage from the final chunk', async () => {
    const streaming = new ChatOpenAI({ model: 'openai/gpt-4o-mini', apiKey: gateway.key, configuration: { baseURL: `${gateway.url}/v1` }, streamUsage: true, maxRetries: 0 });
    let whole: AIMessageChunk | undefined;
    let pieces = 0;
    for await (const chunk of await streaming.stream('Hi')) {
      whole = whole ? whole.concat(chunk) : chunk;
      pieces += 1;
    }
    assert.ok(pieces > 2, 'more than one chunk arrived');
    assert.equal(whole?.content, FAKE_CONTENT);
    assert.equal(whole?.usage_metadata?.total_tokens, FAKE_USAGE.total_tokens);
    const sent = upstream.requests.at(-1)?.body as { stream: boolean; stream_options: unknown };
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.stream_options, { include_usage: true });
  });

  it('carries a smuggled session id the way n8n sends it', async () => {
    const n8nLike = new ChatOpenAI({ model: 'openai/gpt-4o-mini', apiKey: 'junk-credential', configuration: { baseURL: `${gateway.url}/v1`, defaultHeaders: { 'x-api-key': gateway.key } }, maxRetries: 0, modelKwargs: { response_format: { type: 'session_42' } } });
    await n8nLike.invoke('Hi');
    assert.equal((upstream.requests.at(-1)?.body as { session_id: string }).session_id, 'session_42');
    assert.equal(gateway.calls.at(-1)?.sessionId, 'session_42');
  });
});
