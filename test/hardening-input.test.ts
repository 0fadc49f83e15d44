// Bad input, generated: whatever a client sends (bodies, raw bytes, header values, paths), the gateway answers
// below 500 unless the upstream said otherwise, stays up, and session, user, tag and name values reach the log
// and the trace cleaned: no control or invisible format characters, no CR/LF, bounded length.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cleanLabel, cleanTags } from '../src/calls/clean-label.ts';
import { headerText } from '../src/calls/call-identity.ts';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { startLoggedGateway } from './support/logged-gateway.ts';
import type { LoggedGateway } from './support/logged-gateway.ts';
import { send } from './support/http.ts';
import { rawHttpRequest, rawRequest } from './support/raw-http.ts';
import { until } from './support/wait.ts';

const KEY = 'gw-input-key-0123456789';
const seed = 6_2026;
/** Session and user ids keep 200 code points (256 for a session smuggled in response_format), names 100, tags 64 x 20. */
const limits = { session: 256, user: 200, name: 100, tag: 64, tags: 20 };
const unsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\uFFFD]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

const crashes: unknown[] = [];
const onCrash = (error: unknown) => { crashes.push(error); };

// Characters that break headers, logs and terminals, mixed with ordinary and exotic text.
const nastyChar = fc.oneof(
  fc.constantFrom('\r', '\n', '\r\n', '\t', '\0', '\u0007', '\u001b[2J', '\u007f', '\u0085', '\u009b', '\u200b', '\u200e', '\u202e', '\u2028',
    '\u2029', '\u2066', '\ufeff', '\ufffd', '\ud800', '\udfff', '\ud83d', '\u0301', 'ß', 'İ', '👩‍👩‍👧', '🏳️‍🌈', '𝕏', ',', ' ', '%0d%0a', '"', '\\'),
  fc.string({ unit: 'binary', maxLength: 3 }),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
);
const nastyString = fc.oneof(
  { weight: 5, arbitrary: fc.array(nastyChar, { maxLength: 40 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.tuple(nastyChar, fc.integer({ min: 300, max: 20_000 })).map(([part, times]) => part.repeat(times)) },
);
const oddValue = fc.oneof(nastyString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }));

function assertClean(value: string | undefined, max: number, what: string) {
  if (value === undefined) return;
  assert.ok(!unsafe.test(value), `${what} has an unsafe character: ${JSON.stringify(value.slice(0, 80))}`);
  assert.ok(Array.from(value).length <= max, `${what} is ${Array.from(value).length} code points long (max ${max})`);
  assert.equal(value, value.trim(), `${what} is trimmed`);
}

describe('bad input', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;
  let gateway: LoggedGateway;

  before(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    upstream = await startFakeOpenRouter();
    langfuse = await startFakeLangfuse();
    gateway = await startLoggedGateway({
      API_KEY: KEY, OPENROUTER_API_KEY: 'sk-or-input-0123456789', OPENROUTER_BASE_URL: upstream.url, BODY_LIMIT_MB: '0.25', MAX_HEADER_KB: '64',
      LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey,
      UPSTREAM_TIMEOUT_S: '5', AUTH_FAILURE_LIMIT: '100000',
    });
  });
  after(async () => {
    await gateway.close();
    await langfuse.close();
    await upstream.close();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  /** The record of the call the answer belongs to, if the gateway made one. */
  const callOf = (traceId: unknown) => gateway.calls.find((call) => call.id === traceId);

  function assertCallClean(traceId: unknown) {
    const call = callOf(traceId);
    if (!call) return;
    assertClean(call.sessionId, limits.session, 'session');
    assertClean(call.userId, limits.user, 'user');
    assertClean(call.name, limits.name, 'name');
    assert.ok(call.tags.length <= limits.tags, `${call.tags.length} tags`);
    for (const tag of call.tags) assertClean(tag, limits.tag, 'tag');
  }

  it('cleans any label: no unsafe character, bounded, trimmed, stable, fast even when huge', () => {
    fc.assert(fc.property(oddValue, fc.integer({ min: 1, max: 300 }), (value, max) => {
      const cleaned = cleanLabel(value, max);
      assertClean(cleaned, max, 'label');
      assert.equal(cleanLabel(cleaned, max), cleaned, 'cleaning twice changes nothing');
    }), { seed, numRuns: 2000 });
    fc.assert(fc.property(fc.array(oddValue, { maxLength: 50 }), (values) => {
      const tags = cleanTags(values);
      assert.ok(tags.length <= limits.tags);
      for (const tag of tags) assertClean(tag, limits.tag, 'tag');
    }), { seed, numRuns: 500 });
    const started = performance.now();
    assertClean(cleanLabel('\u202e\r\n'.repeat(3_000_000)), 200, 'huge');
    assert.ok(performance.now() - started < 100, 'a 9 MB value is cleaned in bounded time');
  });

  it('never answers 5xx to any JSON body (wrong types, odd fields, smuggled sessions), and records clean labels', async () => {
    const model = fc.oneof(fc.constantFrom('openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet'), oddValue)
      .filter((value) => typeof value !== 'string' || !value.startsWith('fake/'));
    const body = fc.record({
      model, messages: fc.oneof(fc.constant([{ role: 'user', content: 'Hi' }]), oddValue), stream: fc.oneof(fc.boolean(), oddValue),
      response_format: fc.oneof(fc.record({ type: oddValue }), oddValue), metadata: fc.oneof(fc.record({ session_id: oddValue }), oddValue),
      session_id: oddValue, user: oddValue, text: fc.record({ format: fc.record({ type: oddValue }) }), extra: fc.dictionary(fc.string(), oddValue, { maxKeys: 4 }),
    }, { requiredKeys: [] });
    const bodyOrAnything = fc.oneof({ weight: 4, arbitrary: body }, { weight: 1, arbitrary: fc.jsonValue() });
    const path = fc.constantFrom('/chat/completions', '/v1/chat/completions', '/api/v1/responses', '/v1/completions', '/embeddings');
    await fc.assert(fc.asyncProperty(bodyOrAnything, path, async (json, target) => {
      const response = await send('POST', `${gateway.url}${target}`, JSON.stringify(json) ?? 'null',
        { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, { timeoutMs: 10_000 });
      assert.ok(response.status < 500, `status ${response.status}: ${response.body.slice(0, 200)}`);
      assertCallClean(response.headers['x-trace-id']);
    }), { seed, numRuns: 250 });
  });

  it('never answers 5xx to raw bytes of any content type', async () => {
    const contentType = fc.oneof(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
      'application/json; charset=latin1', ';;;', 'application/json; charset="', '*/*', ''), fc.string({ unit: 'grapheme-ascii', maxLength: 40 }));
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.string({ unit: 'binary', maxLength: 500 }).map((text) => Buffer.from(text)),
      fc.constant(Buffer.alloc(300_000, 0x7b)));
    await fc.assert(fc.asyncProperty(bytes, contentType, async (payload, type) => {
      const headers: Array<[string, string]> = [['authorization', `Bearer ${KEY}`]];
      if (type !== '') headers.push(['content-type', type]);
      const answer = await rawRequest(gateway.url, rawHttpRequest('POST', '/v1/chat/completions', headers, Buffer.from(payload)));
      assert.ok(answer.status >= 200 && answer.status < 500, `status ${answer.status}: ${answer.head.split('\r\n')[0]} ${answer.body.slice(0, 200)}`);
    }), { seed, numRuns: 150 });
  });

  it('never answers 5xx to any header bytes, and cleans session, user, tags and name from headers', async () => {
    const headerBytes = fc.oneof(
      nastyString.map((text) => Buffer.from(text, 'utf8')),
      nastyString.map((text) => Buffer.from(text, 'latin1')),
      fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array)),
    );
    const name = fc.constantFrom('x-session-id', 'x-user-id', 'x-trace-tags', 'x-trace-name', 'user-agent');
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(name, headerBytes), { minLength: 1, maxLength: 5 }), async (headers) => {
      const answer = await rawRequest(gateway.url, rawHttpRequest('POST', '/v1/chat/completions',
        [['authorization', `Bearer ${KEY}`], ['content-type', 'application/json'], ...headers], '{"model":"openai/gpt-4o-mini","messages":[]}'));
      // 400 is Node refusing bytes HTTP forbids (bare CR, NUL...), 431 headers over MAX_HEADER_KB; anything else must work.
      assert.ok([200, 400, 431].includes(answer.status), `status ${answer.status}: ${answer.body.slice(0, 200)}`);
      if (answer.status === 400) assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'malformed_request');
      assertCallClean(/\r\nx-trace-id: ([0-9a-f]{32})/i.exec(answer.head)?.[1]);
    }), { seed, numRuns: 250 });
  });

  it('reads UTF-8 in session, user, tags, name and user agent as the client wrote it, and forwards the session bytes unchanged', async () => {
    const utf8 = (text: string) => Buffer.from(text, 'utf8');
    const answer = await rawRequest(gateway.url, rawHttpRequest('POST', '/v1/chat/completions', [
      ['authorization', `Bearer ${KEY}`], ['content-type', 'application/json'],
      ['x-session-id', utf8('séance-€-日本')], ['x-user-id', utf8('José')], ['x-trace-tags', utf8('café,naïve')],
      ['x-trace-name', utf8('Résumé ✓')], ['user-agent', utf8('Agent/1 (Ünïcode)')],
    ], '{"model":"openai/gpt-4o-mini","messages":[]}'));
    assert.equal(answer.status, 200, answer.body);
    const id = /\r\nx-trace-id: ([0-9a-f]{32})/i.exec(answer.head)?.[1];
    await until(() => callOf(id) !== undefined);
    const call = callOf(id);
    assert.equal(call?.sessionId, 'séance-€-日本');
    assert.equal(call?.userId, 'José');
    assert.equal(call?.name, 'Résumé ✓');
    assert.deepEqual(call?.tags.slice(0, 2), ['café', 'naïve']);
    assert.equal(call?.metadata.client, 'Agent/1 (Ünïcode)');
    const forwarded = upstream.requests.at(-1)?.headers['x-session-id'];
    assert.deepEqual(Buffer.from(String(forwarded), 'latin1'), utf8('séance-€-日本'), 'OpenRouter gets the bytes the client sent');
    // Bytes that are not UTF-8 are read as Latin-1, as Node reads them; valid UTF-8 is UTF-8, U+FFFD included.
    assert.equal(headerText(Buffer.from('größe', 'latin1').toString('latin1')), 'größe');
    assert.equal(headerText(Buffer.from('a\uFFFDé', 'utf8').toString('latin1')), 'a\uFFFDé');
    assert.equal(headerText('plain'), 'plain');
    // A Latin-1 session id goes to OpenRouter as the bytes the client sent, not re-encoded.
    const latin1 = await rawRequest(gateway.url, rawHttpRequest('POST', '/v1/chat/completions', [
      ['authorization', `Bearer ${KEY}`], ['content-type', 'application/json'], ['x-session-id', Buffer.from('séance', 'latin1')],
    ], '{"model":"openai/gpt-4o-mini","messages":[]}'));
    assert.equal(latin1.status, 200);
    assert.deepEqual(Buffer.from(String(upstream.requests.at(-1)?.headers['x-session-id']), 'latin1'), Buffer.from('séance', 'latin1'));
  });

  it('never answers 5xx to odd methods and paths', async () => {
    const segment = fc.oneof(fc.constantFrom('v1', 'api', 'chat', 'completions', 'models', 'health', '..', '.', '%', '%zz', '%00', '%2e%2e', '%ff', '~', ''),
      fc.string({ unit: 'grapheme-ascii', maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 }).map((text) => encodeURIComponent(text)));
    const target = fc.tuple(fc.array(segment, { maxLength: 6 }), fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 20 })))
      .map(([parts, query]) => `/${parts.join('/')}${query === null ? '' : `?${query}`}`.replace(/[\s#]/g, ''));
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
    await fc.assert(fc.asyncProperty(method, target, fc.boolean(), async (verb, path, withKey) => {
      const headers: Array<[string, string]> = withKey ? [['x-api-key', KEY], ['content-type', 'application/json']] : [];
      const answer = await rawRequest(gateway.url, rawHttpRequest(verb, path, headers, verb === 'GET' || verb === 'HEAD' ? '' : '{}'));
      assert.ok(answer.status >= 200 && answer.status < 500, `${verb} ${path}: status ${answer.status} ${answer.body.slice(0, 200)}`);
    }), { seed, numRuns: 250 });
  });

  it('kept every log line one clean JSON line, every trace label clean, and never crashed', async () => {
    assert.ok(gateway.logLines.length > 500, `${gateway.logLines.length} log lines`);
    for (const chunk of gateway.logLines) {
      for (const line of chunk.split('\n').filter(Boolean)) {
        assert.ok(!line.includes('\r'), 'no raw CR in a log line');
        const entry = JSON.parse(line) as { session?: string };
        assertClean(entry.session, limits.session, 'logged session');
      }
    }
    // The worker holds records while the request thread is busy and the shipper gathers up to a second: wait for
    // delivery rather than a fixed time (a loaded CI machine took longer than 500 ms).
    await until(() => langfuse.traces().length > 200, 15_000, 'over 200 traces at the fake Langfuse').catch(() => {});
    const traces = langfuse.traces();
    assert.ok(traces.length > 200, `${traces.length} traces reached the fake Langfuse`);
    for (const trace of traces) {
      assertClean(trace.sessionId, limits.session, 'trace session');
      assertClean(trace.userId, limits.user, 'trace user');
      assertClean(trace.name, limits.name, 'trace name');
      for (const tag of trace.tags) assertClean(tag, limits.tag, 'trace tag');
    }
    assert.deepEqual(crashes, []);
    const health = await send('GET', `${gateway.url}/health`, undefined, { 'x-api-key': KEY }, { timeoutMs: 5000 });
    assert.equal(health.status, 200);
  });
});
