// Abuse bounds: header size (MAX_HEADER_KB), body size (BODY_LIMIT_MB), call duration (MAX_STREAM_S) and the
// failed-authentication throttle; each answers a clean error and the gateway keeps serving everyone else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { post } from './support/http.ts';
import { readSse } from './support/sse-check.ts';

const chat = (model: string, stream = false) => ({ model, stream, messages: [{ role: 'user', content: 'Hi' }] });

function assertOpenAIError(body: string, code: string) {
  const parsed = JSON.parse(body) as { error: { code: unknown; message: unknown; type: unknown } };
  assert.equal(parsed.error.code, code);
  assert.equal(typeof parsed.error.message, 'string');
  assert.equal(typeof parsed.error.type, 'string');
}

/** Uploads the body in pieces with no content-length (chunked), as a client streaming a big request would. */
function postChunked(url: string, headers: Record<string, string>, pieces: number, pieceBytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => { body += text; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The gateway may answer 413 and close before the upload ends: that is the point, not an error.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    req.write('{"model":"openai/gpt-4o-mini","pad":"');
    for (let i = 0; i < pieces; i++) req.write('x'.repeat(pieceBytes));
    req.end('"}');
  });
}

describe('limits', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  let auth: Record<string, string>;

  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, MAX_HEADER_KB: '4', BODY_LIMIT_MB: '0.05', MAX_STREAM_S: '1' });
    auth = { authorization: `Bearer ${gateway.key}` };
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  const servesNormally = async () => {
    assert.equal((await post(`${gateway.url}/v1/chat/completions`, chat('openai/gpt-4o-mini'), auth, { timeoutMs: 5000 })).status, 200);
  };

  it('answers an OpenAI-shaped 431 to headers over MAX_HEADER_KB, then keeps serving', async () => {
    const small = await post(`${gateway.url}/v1/chat/completions`, chat('openai/gpt-4o-mini'), { ...auth, 'x-pad': 'a'.repeat(2000) });
    assert.equal(small.status, 200);
    const big = await post(`${gateway.url}/v1/chat/completions`, chat('openai/gpt-4o-mini'), { ...auth, 'x-pad': 'a'.repeat(6000) }, { timeoutMs: 5000 });
    assert.equal(big.status, 431);
    assertOpenAIError(big.body, 'headers_too_large');
    assert.match(big.body, /MAX_HEADER_KB/);
    await servesNormally();
  });

  it('accepts headers up to 32 KB by default, above Node\'s own 16 KB', async () => {
    const roomy = await startGateway({ OPENROUTER_BASE_URL: upstream.url });
    try {
      const headers = { authorization: `Bearer ${roomy.key}` };
      assert.equal(roomy.config.maxHeaderBytes, 32 * 1024);
      assert.equal((await post(`${roomy.url}/chat/completions`, chat('openai/gpt-4o-mini'), { ...headers, 'x-pad': 'a'.repeat(24_000) })).status, 200);
      assert.equal((await post(`${roomy.url}/chat/completions`, chat('openai/gpt-4o-mini'), { ...headers, 'x-pad': 'a'.repeat(40_000) })).status, 431);
    } finally {
      await roomy.close();
    }
  });

  it('answers 413 to a body over BODY_LIMIT_MB, announced or streamed, then keeps serving', async () => {
    const announced = await post(`${gateway.url}/v1/chat/completions`, { ...chat('openai/gpt-4o-mini'), pad: 'x'.repeat(60_000) }, auth);
    assert.equal(announced.status, 413);
    assertOpenAIError(announced.body, 'request_too_large');
    const streamed = await postChunked(`${gateway.url}/v1/chat/completions`, auth, 200, 1024);
    assert.equal(streamed.status, 413);
    assertOpenAIError(streamed.body, 'request_too_large');
    await servesNormally();
  });

  it('ends a stream that outlives MAX_STREAM_S with one error event, and stops the upstream', async () => {
    upstream.reset();
    const abort = upstream.waitForAbort(5000);
    const started = performance.now();
    const response = await post(`${gateway.url}/v1/chat/completions`, chat('fake/slow-stream:40:100', true), auth, { timeoutMs: 10_000 });
    const took = performance.now() - started;
    assert.equal(response.status, 200);
    assert.ok(took >= 950 && took < 2500, `the stream lasted ${Math.round(took)} ms (limit 1 s, upstream wanted 4 s)`);
    const events = readSse(response.body);
    assert.ok(events.length > 3, 'the client got the chunks sent within the limit');
    const last = JSON.parse(events.at(-1)?.data ?? '{}') as { error?: unknown };
    assertOpenAIError(JSON.stringify(last), 'stream_too_long');
    await abort;
    const call = gateway.calls.at(-1);
    assert.equal(call?.outcome, 'timeout');
    assert.match(String(call?.statusMessage), /MAX_STREAM_S/);
  });

  it('bounds a non-streaming call by MAX_STREAM_S too', async () => {
    const response = await post(`${gateway.url}/v1/chat/completions`, chat('fake/pause:3000'), auth, { timeoutMs: 10_000 });
    assert.equal(response.status, 504);
    assertOpenAIError(response.body, 'stream_too_long');
    await servesNormally();
  });

  it('throttles repeated failed authentication with 429 and retry-after, while valid clients keep their speed', async () => {
    const strict = await startGateway({ OPENROUTER_BASE_URL: upstream.url, AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_S: '1' });
    try {
      const valid = { authorization: `Bearer ${strict.key}` };
      const timed = async () => {
        const started = performance.now();
        assert.equal((await post(`${strict.url}/v1/chat/completions`, chat('openai/gpt-4o-mini'), valid)).status, 200);
        return performance.now() - started;
      };
      const baseline: number[] = [];
      for (let i = 0; i < 10; i++) baseline.push(await timed());
      const attack = Promise.all(Array.from({ length: 60 }, (_, i) => post(`${strict.url}/v1/chat/completions`, chat('m'), { authorization: `Bearer guess-${i}` })));
      const during: number[] = [];
      for (let i = 0; i < 10; i++) during.push(await timed());
      const refused = await attack;
      const statuses = refused.map((response) => response.status);
      assert.equal(statuses.filter((status) => status === 401).length, 3, String(statuses));
      assert.equal(statuses.filter((status) => status === 429).length, 57);
      for (const response of refused.filter((entry) => entry.status === 429)) {
        assertOpenAIError(response.body, 'too_many_auth_failures');
        assert.ok(Number(response.headers['retry-after']) >= 1, 'retry-after in seconds');
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
      assert.ok(median(during) < median(baseline) * 4 + 20, `valid calls: median ${median(during).toFixed(1)} ms during, ${median(baseline).toFixed(1)} ms before`);
      // The window ends: the address may try again (and is told 401, not 429).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assert.equal((await post(`${strict.url}/v1/chat/completions`, chat('m'), { authorization: 'Bearer guess' })).status, 401);
    } finally {
      await strict.close();
    }
  });
});
