// Self-test of the fake OpenRouter: the scenarios other tests lean on behave as the contract says.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAKE_CONTENT, FAKE_TOOL_CALL, FAKE_USAGE, startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';

interface Chunk {
  model?: string;
  usage?: unknown;
  choices: Array<{
    delta: { content?: string; tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> };
    finish_reason: string | null;
  }>;
}

describe('fake OpenRouter', () => {
  let fake: FakeOpenRouter;
  before(async () => {
    fake = await startFakeOpenRouter();
  });
  after(() => fake.close());

  const chat = (model: string, extra: Record<string, unknown> = {}, init: RequestInit = {}): Promise<Response> =>
    fetch(`${fake.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
      ...init,
    });

  /** The JSON payloads of the `data:` lines, and whether the stream ended with [DONE]. */
  const readEvents = (text: string): { chunks: Chunk[]; done: boolean; last: string } => {
    const payloads = text
      .split('\n\n')
      .filter((event) => event.startsWith('data: '))
      .map((event) => event.slice('data: '.length));
    const done = payloads.at(-1) === '[DONE]';
    const chunks = payloads.filter((payload) => payload !== '[DONE]').map((payload) => JSON.parse(payload) as Chunk);
    return { chunks, done, last: payloads.at(-1) ?? '' };
  };

  it('answers a plain model with a full chat.completion, usage and a generation id', async () => {
    const response = await chat('openai/gpt-4o-mini');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(response.headers.get('x-generation-id') ?? '', /^gen-\d+-[A-Za-z0-9]+$/);
    const body = (await response.json()) as Record<string, unknown> & { choices: Array<{ message: unknown; finish_reason: string }> };
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'openai/gpt-4o-mini');
    assert.equal(body.provider, 'FakeProvider');
    assert.equal(body.id, response.headers.get('x-generation-id'));
    assert.deepEqual(body.choices[0]?.message, { role: 'assistant', content: FAKE_CONTENT });
    assert.equal(body.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(body.usage, FAKE_USAGE);
    assert.equal(fake.requests.at(-1)?.path, '/api/v1/chat/completions');
  });

  it('streams comments, content, a finish chunk, then the usage chunk and [DONE]', async () => {
    const response = await chat('openai/gpt-4o-mini', { stream: true });
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await response.text();
    assert.ok(text.startsWith(': OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n'));
    const { chunks, done } = readEvents(text);
    assert.equal(done, true);
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk?.choices, []);
    assert.deepEqual(usageChunk?.usage, FAKE_USAGE);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    const content = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    assert.equal(content, FAKE_CONTENT);
    assert.equal(chunks.filter((chunk) => chunk.usage !== undefined).length, 1);
  });

  it('streams tool-call fragments whose arguments concatenate to valid JSON', async () => {
    const { chunks } = readEvents(await (await chat('fake/tool-call', { stream: true })).text());
    const fragments = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.ok(fragments.length >= 4);
    assert.equal(fragments[0]?.id, FAKE_TOOL_CALL.id);
    assert.equal(fragments[0]?.function?.name, 'get_weather');
    const args = fragments.map((fragment) => fragment.function?.arguments ?? '').join('');
    assert.deepEqual(JSON.parse(args), { city: 'Paris', unit: 'celsius' });
    assert.ok(chunks.some((chunk) => chunk.choices[0]?.finish_reason === 'tool_calls'));
  });

  it('fails fake/status:429 before the answer, with rate-limit headers', async () => {
    const response = await chat('fake/status:429', { stream: true });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '1');
    assert.equal(response.headers.get('x-ratelimit-limit'), '20');
    assert.equal(response.headers.get('x-ratelimit-remaining'), '0');
    assert.match(response.headers.get('x-ratelimit-reset') ?? '', /^\d{13}$/);
    assert.ok(response.headers.get('x-generation-id'));
    const body = (await response.json()) as { error: { code: number; message: string } };
    assert.equal(body.error.code, 429);
  });

  it('ends fake/drop abruptly after two content chunks, without recording an abort', async () => {
    fake.reset();
    const response = await chat('fake/drop:2', { stream: true });
    assert.equal(response.status, 200);
    await assert.rejects(response.text());
    assert.deepEqual(fake.aborts, []);
  });

  it('records a client abort of fake/stall-headers within 100 ms', async () => {
    fake.reset();
    const controller = new AbortController();
    const pending = chat('fake/stall-headers', {}, { signal: controller.signal });
    while (fake.requests.length === 0) await sleep(5);
    const abortedAt = Date.now();
    controller.abort();
    await assert.rejects(pending);
    const abort = await fake.waitForAbort(1000);
    assert.ok(abort.at - abortedAt < 100, `abort seen after ${abort.at - abortedAt} ms`);
    assert.equal(fake.aborts[0]?.model, 'fake/stall-headers');
  });

  it('answers an unknown path with an OpenRouter-shaped 404', async () => {
    const response = await fetch(`${fake.url}/nope`);
    assert.equal(response.status, 404);
    assert.ok(response.headers.get('x-generation-id'));
    assert.equal(((await response.json()) as { error: { code: number } }).error.code, 404);
  });

  it('requires the bearer key when started with one', async () => {
    const guarded = await startFakeOpenRouter({ apiKey: 'sk-test' });
    try {
      assert.equal((await fetch(`${guarded.url}/models`)).status, 401);
      const ok = await fetch(`${guarded.url}/models`, { headers: { authorization: 'Bearer sk-test' } });
      const models = (await ok.json()) as { data: Array<{ id: string }> };
      assert.equal(models.data.length, 3);
    } finally {
      await guarded.close();
    }
  });
});
