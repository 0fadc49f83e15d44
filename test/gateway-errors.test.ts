// Errors: upstream ones pass through unchanged; the gateway's own are OpenAI-shaped with the right status.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { post } from './support/http.ts';
import { closedPort, until } from './support/wait.ts';
import { chatCallBytes, rawHttpRequest, rawRequest } from './support/raw-http.ts';

const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'Hi' }], ...extra });

function assertOpenAIError(body: string, code: string) {
  const parsed = JSON.parse(body);
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.equal(parsed.error.code, code);
  assert.equal(typeof parsed.error.message, 'string');
  assert.equal(typeof parsed.error.type, 'string');
}

describe('errors', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  let auth: Record<string, string>;

  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, UPSTREAM_TIMEOUT_S: '0.5', BODY_LIMIT_MB: '1' });
    auth = { authorization: `Bearer ${gateway.key}` };
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  for (const status of [400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 524, 529]) {
    it(`passes an upstream ${status} through with its body unchanged`, async () => {
      upstream.reset();
      const response = await post(`${gateway.url}/chat/completions`, chat(`fake/status:${status}`), auth);
      assert.equal(response.status, status);
      const body = JSON.parse(response.body);
      assert.equal(body.error.code, status);
      assert.ok(response.headers['x-generation-id'], 'upstream headers pass through');
      if (status === 429) {
        assert.equal(response.headers['retry-after'], '1');
        assert.equal(response.headers['x-ratelimit-limit'], '20');
        assert.equal(response.headers['x-ratelimit-remaining'], '0');
      }
      if (status === 503) assert.equal(response.headers['retry-after'], '2');
    });
  }

  it('traces an upstream error with its generation id (the X-Generation-Id header) and what its metadata says, not the flagged prompt', async () => {
    for (const [status, expected] of [[502, /502: .*"provider_name":".*"raw":"upstream connection reset"/], [403, /403: .*"reasons":\["violence"\]/]] as const) {
      const response = await post(`${gateway.url}/chat/completions`, chat(`fake/status:${status}`), auth);
      assert.equal(response.status, status);
      const generationId = String(response.headers['x-generation-id']);
      assert.match(generationId, /^gen-/);
      await until(() => gateway.calls.some((call) => call.id === response.headers['x-trace-id']));
      const recorded = gateway.calls.find((call) => call.id === response.headers['x-trace-id']);
      assert.equal(recorded?.generationId, generationId);
      assert.match(recorded?.statusMessage ?? '', expected);
      assert.doesNotMatch(recorded?.statusMessage ?? '', /flagged_input|the moderator flagged/);
    }
  });

  it('passes the availability error body (no code) through', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/availability'), auth);
    assert.equal(response.status, 503);
    assert.equal(JSON.parse(response.body).error.availability.code, 'no_endpoints');
  });

  it('passes a 200 body that carries an error through intact', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/error-200'), auth);
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).error.code, 502);
    const call = gateway.calls.at(-1);
    assert.equal(call?.outcome, 'upstream_error');
    assert.equal(call?.level, 'ERROR');
  });

  it('keeps the leading newline heartbeats of a non-streaming body', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/heartbeat:3'), auth);
    assert.equal(response.status, 200);
    assert.match(String(response.headers['content-type']), /application\/json/);
    assert.ok(response.body.startsWith('\n\n\n{'), JSON.stringify(response.body.slice(0, 10)));
    assert.equal(JSON.parse(response.body).choices[0].message.content, 'Hello from fake OpenRouter');
  });

  it('sends each heartbeat as it comes, not with the body', async () => {
    // The fake sends three newlines 50 ms apart, then the body: buffered, they would arrive with it.
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/heartbeat:3'), auth);
    assert.equal(response.status, 200);
    assert.equal(response.chunks[0]?.text, '\n');
    const bodyAt = response.chunks.find((chunk) => chunk.text.includes('{'))?.at ?? Number.NaN;
    assert.ok(bodyAt - response.chunks[0]!.at >= 80, `first heartbeat ${(bodyAt - response.chunks[0]!.at).toFixed(0)} ms before the body`);
    assert.equal(response.headers['content-length'], undefined);
    assert.ok(response.headers['x-generation-id'], 'upstream headers go with the first heartbeat');
    assert.ok(response.headers['x-trace-id'], 'our own headers too');
    // The record is journaled before the body's last bytes go out.
    const call = gateway.calls.find((c) => c.id === response.headers['x-trace-id']);
    assert.equal(call?.outcome, 'ok');
    assert.equal(call?.output?.content, 'Hello from fake OpenRouter');
  });

  it('ends with an OpenAI-shaped error body when the body is cut after heartbeats went out', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/heartbeat:2:drop'), auth);
    assert.equal(response.status, 200, 'the status went out with the first heartbeat');
    assert.match(response.body, /^\n\n\{/);
    assertOpenAIError(response.body, 'upstream_connection_lost');
    // The record is journaled before the body's last bytes go out.
    const call = gateway.calls.find((c) => c.id === response.headers['x-trace-id']);
    assert.equal(call?.outcome, 'connection_lost');
    assert.equal(call?.level, 'ERROR');
  });

  it('ends with an OpenAI-shaped error body when an unreadable body follows heartbeats', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/heartbeat:1:garbage'), auth);
    assert.equal(response.status, 200);
    assertOpenAIError(response.body, 'upstream_invalid_response');
    // The record is journaled before the body's last bytes go out.
    const call = gateway.calls.find((c) => c.id === response.headers['x-trace-id']);
    assert.equal(call?.outcome, 'upstream_error');
  });

  it('records a call refused for want of an OpenRouter key as not_configured', async () => {
    const unconfigured = await startGateway({ OPENROUTER_BASE_URL: upstream.url, OPENROUTER_API_KEY: '' });
    try {
      const response = await post(`${unconfigured.url}/chat/completions`, chat('openai/gpt-4o-mini'), { authorization: `Bearer ${unconfigured.key}` });
      assert.equal(response.status, 503);
      const call = unconfigured.calls.at(-1);
      assert.equal(call?.outcome, 'not_configured');
      assert.equal(call?.level, 'ERROR');
    } finally {
      await unconfigured.close();
    }
  });

  it('answers 504 when the upstream sends no headers in time', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/stall-headers'), auth);
    assert.equal(response.status, 504);
    assertOpenAIError(response.body, 'upstream_timeout');
  });

  it('answers 502 when the upstream resets the connection before answering', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/reset'), auth);
    assert.equal(response.status, 502);
    assertOpenAIError(response.body, 'upstream_connection_lost');
  });

  it('answers 502 (not half a JSON) when a non-streaming body is cut', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/drop'), auth);
    assert.equal(response.status, 502);
    assertOpenAIError(response.body, 'upstream_connection_lost');
  });

  it('answers 400 for malformed JSON', async () => {
    const response = await post(`${gateway.url}/chat/completions`, '{"model": "x", ', auth);
    assert.equal(response.status, 400);
    assertOpenAIError(response.body, 'invalid_json');
  });

  it('answers 400 for a body that is not a JSON object', async () => {
    const response = await post(`${gateway.url}/chat/completions`, '[1,2]', auth);
    assert.equal(response.status, 400);
    assertOpenAIError(response.body, 'invalid_request');
  });

  it('answers 413 for a body over the limit', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('m', { padding: 'x'.repeat(1_100_000) }), auth);
    assert.equal(response.status, 413);
    assertOpenAIError(response.body, 'request_too_large');
  });

  it('answers an OpenAI-shaped 404 for unknown paths', async () => {
    const response = await post(`${gateway.url}/v1/nope`, {}, auth);
    assert.equal(response.status, 404);
    assertOpenAIError(response.body, 'not_found');
  });

  it('answers OpenAI-shaped errors for requests Fastify or Node would have refused with their own bodies', async () => {
    const key: [string, string] = ['authorization', `Bearer ${gateway.key}`];
    const badUrl = await rawRequest(gateway.url, rawHttpRequest('GET', '/v1/chat%ZZ/completions', [key]));
    assert.equal(badUrl.status, 400);
    assertOpenAIError(badUrl.body, 'invalid_url');
    // No Host header: Node's own answer is a 400 with no body.
    const noHost = await rawRequest(gateway.url, Buffer.from(`GET /health HTTP/1.1\r\nauthorization: Bearer ${gateway.key}\r\nconnection: close\r\n\r\n`));
    assert.equal(noHost.status, 400);
    assertOpenAIError(noHost.body, 'malformed_request');
    // HTTP/1.0 has no Host requirement.
    const http10 = await rawRequest(gateway.url, Buffer.from(`GET /health HTTP/1.0\r\nauthorization: Bearer ${gateway.key}\r\n\r\n`));
    assert.equal(http10.status, 200);
    // OPTIONS that is not a full CORS preflight: @fastify/cors answered a text/plain 400.
    for (const headers of [[key], [['access-control-request-method', 'GET']]] as Array<Array<[string, string]>>) {
      const options = await rawRequest(gateway.url, rawHttpRequest('OPTIONS', '/v1/models', headers));
      assert.ok(options.status < 300 || /application\/json/.test(options.head), `${options.status} ${options.head}`);
    }
  });

  it('answers 415 for a compressed request body, without its bytes in the message', async () => {
    const { gzipSync } = await import('node:zlib');
    const body = gzipSync(JSON.stringify(chat('openai/gpt-4o-mini')));
    for (const encoding of ['gzip', 'br', 'deflate']) {
      const answer = await rawRequest(gateway.url, rawHttpRequest('POST', '/v1/chat/completions', [
        ['authorization', `Bearer ${gateway.key}`], ['content-type', 'application/json'], ['content-encoding', encoding]], body));
      assert.equal(answer.status, 415, encoding);
      assertOpenAIError(answer.body, 'unsupported_content_encoding');
      assert.match(JSON.parse(answer.body).error.message, new RegExp(`"${encoding}"`));
    }
    const identity = await rawRequest(gateway.url, rawHttpRequest('POST', '/v1/chat/completions', [
      ['authorization', `Bearer ${gateway.key}`], ['content-type', 'application/json'], ['content-encoding', 'identity']], JSON.stringify(chat('openai/gpt-4o-mini'))));
    assert.equal(identity.status, 200);
  });

  it('answers 502 when the upstream is unreachable', async () => {
    const port = await closedPort();
    const offline = await startGateway({ OPENROUTER_BASE_URL: `http://127.0.0.1:${port}/api/v1` });
    try {
      const response = await post(`${offline.url}/chat/completions`, chat('m'), { authorization: `Bearer ${offline.key}` });
      assert.equal(response.status, 502);
      assertOpenAIError(response.body, 'upstream_unreachable');
      assert.match(JSON.parse(response.body).error.message, /OPENROUTER_BASE_URL/);
    } finally {
      await offline.close();
    }
  });

  it('answers 503 saying how to fix it when no OpenRouter key is configured', async () => {
    const keyless = await startGateway({ OPENROUTER_BASE_URL: upstream.url, OPENROUTER_API_KEY: '' });
    try {
      const response = await post(`${keyless.url}/v1/chat/completions`, chat('m'), { 'x-api-key': keyless.key });
      assert.equal(response.status, 503);
      assertOpenAIError(response.body, 'upstream_not_configured');
      assert.match(JSON.parse(response.body).error.message, /OPENROUTER_API_KEY/);
    } finally {
      await keyless.close();
    }
  });

  it('turns an unreadable upstream error into an OpenAI-shaped one with the same status and the back-off headers (retry-after, x-ratelimit-*)', async () => {
    const response = await post(`${gateway.url}/v1/chat/completions`, chat('fake/html-429'), auth);
    assert.equal(response.status, 429);
    assertOpenAIError(response.body, 'upstream_invalid_response');
    assert.equal(response.headers['retry-after'], '7');
    assert.equal(response.headers['x-ratelimit-limit'], '20');
    assert.equal(response.headers['x-ratelimit-remaining'], '0');
    assert.equal(response.headers['x-ratelimit-reset'], '1764201600000');
  });

  /** A gateway draining while a paced stream runs on a raw kept-alive connection. */
  async function drainDuringStream() {
    const draining = await startGateway({ OPENROUTER_BASE_URL: upstream.url });
    const { hostname, port } = new URL(draining.url);
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    const text = () => Buffer.concat(received).toString('utf8');
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => {});
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())));
    // A paced stream keeps this connection busy, so the drain does not close it as idle at once.
    socket.write(chatCallBytes(draining.key, chat('fake/pause:100', { stream: true })));
    try {
      await until(() => text().includes('data: '), 5000, 'the stream to start');
    } catch (error) {
      socket.destroy();
      await draining.close();
      throw error;
    }
    const closing = draining.close();
    return { key: draining.key, socket, text, closed, closing };
  }

  it('closes a kept-alive connection as soon as its running stream ends during the drain, so the shutdown does not wait for it', async () => {
    const { text, closed, closing } = await drainDuringStream();
    try {
      await until(() => text().includes('data: [DONE]'), 5000, 'the stream to end');
      const endedAt = performance.now();
      const closedAt = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 3000))]);
      assert.ok(closedAt - endedAt < 500, `the connection closed ${Math.round(closedAt - endedAt)} ms after its stream ended (NaN: still open after 3 s)`);
    } finally {
      await closing;
    }
  });

  it('answers a request that arrives on an open connection during the drain with an OpenAI-shaped 503, then closes it', async () => {
    const { key, socket, text, closed, closing } = await drainDuringStream();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.write(chatCallBytes(key, chat('openai/gpt-4o-mini')));
      await closed;
      await closing;
      const all = text();
      assert.match(all, /data: \[DONE\]/, 'the running stream finished');
      const late = all.slice(all.indexOf('HTTP/1.1 503'));
      assert.match(late, /^HTTP\/1\.1 503/, 'the request that came during the drain got a 503');
      assert.match(late, /\r\nconnection: close\r\n/i);
      assertOpenAIError(late.slice(late.indexOf('\r\n\r\n') + 4), 'shutting_down');
    } finally {
      await closing;
    }
  });
});
