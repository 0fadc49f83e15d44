// Secrets: across a representative mix of calls (answers, streams, upstream errors, timeouts, failed auth, Langfuse
// refusing), no configured secret shows up in a log line, a response, a trace, the journal or the child process's
// output; the OpenRouter key travels only in the one header OpenRouter needs; the client's Authorization never goes upstream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse } from './fakes/fake-langfuse.ts';
import { startLoggedGateway } from './support/logged-gateway.ts';
import type { LoggedGateway } from './support/logged-gateway.ts';
import { startGatewayProcess } from './support/gateway-process.ts';
import { send } from './support/http.ts';
import type { RawResponse } from './support/http.ts';

const secrets = {
  gateway: 'gw-SECRET-gateway-key-7f3a9c1e',
  gatewayOld: 'gw-SECRET-rotated-key-0b6d2f44',
  openrouter: 'sk-or-v1-SECRET-upstream-4b8e2d9a',
  langfusePublic: 'pk-lf-SECRET-public-91ac3e70',
  langfuseSecret: 'sk-lf-SECRET-secret-5d2e8b13',
};
const basic = Buffer.from(`${secrets.langfusePublic}:${secrets.langfuseSecret}`).toString('base64');
/** What must appear nowhere we look (the OpenRouter key is allowed in exactly one header, checked apart). */
const forbidden = [...Object.values(secrets), basic];

function findSecrets(text: string): string[] {
  return forbidden.filter((secret) => text.includes(secret) || text.includes(secret.slice(0, 20)));
}

/** Requests that exercise every path a secret could leak through. */
const mix: Array<{ what: string; method: string; path: string; body?: unknown; headers: Record<string, string> }> = [];
const chat = (model: string, stream = false) => ({ model, stream, messages: [{ role: 'user', content: 'Hi' }] });
const withKey = { authorization: `Bearer ${secrets.gateway}` };
for (const [model, stream] of [
  ['openai/gpt-4o-mini', false], ['openai/gpt-4o-mini', true], ['fake/tool-call', true], ['fake/status:400', false], ['fake/status:401', false],
  ['fake/status:429', false], ['fake/status:500', true], ['fake/status:502', false], ['fake/status:503', false], ['fake/reset', false],
  ['fake/stall-headers', true], ['fake/html-502', false], ['fake/drop:2', true], ['fake/mid-stream-error', true], ['fake/garbage-sse', true],
  // An upstream error that quotes our request's headers (a debugging proxy at OPENROUTER_BASE_URL), so our key.
  ['fake/echo-error', false], ['fake/echo-error', true],
  // A 200 answer that quotes the request's headers; and a stream whose error event quotes them (a key split by the
  // upstream across several events is not caught: SECURITY.md).
  ['fake/echo', false], ['fake/echo-error-event', true],
] as const) {
  mix.push({ what: `${model} ${stream ? 'stream' : ''}`, method: 'POST', path: '/v1/chat/completions', body: chat(model, stream), headers: withKey });
}
mix.push(
  { what: 'rotated key as x-api-key, junk bearer', method: 'POST', path: '/chat/completions', body: chat('openai/gpt-4o-mini'), headers: { 'x-api-key': secrets.gatewayOld, authorization: 'Bearer junk' } },
  { what: 'responses API', method: 'POST', path: '/v1/responses', body: { model: 'openai/gpt-4o-mini', input: 'Hi' }, headers: withKey },
  { what: 'embeddings', method: 'POST', path: '/v1/embeddings', body: { model: 'openai/text-embedding-3-small', input: 'Hi' }, headers: withKey },
  { what: 'models', method: 'GET', path: '/v1/models', headers: withKey },
  { what: 'health', method: 'GET', path: '/health', headers: withKey },
  { what: 'root', method: 'GET', path: '/', headers: {} },
  { what: 'no key', method: 'POST', path: '/v1/chat/completions', body: chat('openai/gpt-4o-mini'), headers: {} },
  { what: 'near-miss key', method: 'POST', path: '/v1/chat/completions', body: chat('openai/gpt-4o-mini'), headers: { authorization: `Bearer ${secrets.gateway}x` } },
  { what: 'OpenRouter key offered as gateway key', method: 'POST', path: '/v1/chat/completions', body: chat('openai/gpt-4o-mini'), headers: { authorization: `Bearer ${secrets.openrouter}` } },
  { what: 'body mentioning no secret, bad JSON', method: 'POST', path: '/v1/chat/completions', body: '{"model": ', headers: withKey },
  { what: 'unknown path', method: 'POST', path: '/v1/nope', body: {}, headers: withKey },
);

async function runMix(url: string): Promise<RawResponse[]> {
  const answers: RawResponse[] = [];
  for (const entry of mix) {
    const payload = entry.body === undefined ? undefined : typeof entry.body === 'string' ? entry.body : JSON.stringify(entry.body);
    const headers = payload === undefined ? entry.headers : { 'content-type': 'application/json', ...entry.headers };
    answers.push(await send(entry.method, `${url}${entry.path}`, payload, headers, { timeoutMs: 10_000 }));
  }
  return answers;
}

function assertNoSecret(text: string, where: string) {
  assert.deepEqual(findSecrets(text), [], `${where} contains a secret`);
}

function assertUpstreamClean(upstream: FakeOpenRouter) {
  assert.ok(upstream.requests.length > 10);
  for (const request of upstream.requests) {
    const { authorization, ...others } = request.headers;
    assert.equal(authorization, `Bearer ${secrets.openrouter}`, 'only our OpenRouter key goes upstream, never the client\'s Authorization');
    assertNoSecret(JSON.stringify(others), `headers sent upstream (${request.path})`);
    assertNoSecret(request.rawBody, `body sent upstream (${request.path})`);
    assert.ok(!JSON.stringify(request.headers).includes(secrets.gateway), 'the gateway key never goes upstream');
  }
}

describe('secrets never leak', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;

  const env = () => ({
    API_KEY: `${secrets.gateway},${secrets.gatewayOld}`, OPENROUTER_API_KEY: secrets.openrouter, OPENROUTER_BASE_URL: upstream.url,
    LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: secrets.langfusePublic, LANGFUSE_SECRET_KEY: secrets.langfuseSecret,
    UPSTREAM_TIMEOUT_S: '0.3', STREAM_IDLE_TIMEOUT_S: '0.3', AUTH_FAILURE_LIMIT: '2', AUTH_FAILURE_WINDOW_S: '60',
  });

  before(async () => {
    upstream = await startFakeOpenRouter({ apiKey: secrets.openrouter });
    langfuse = await startFakeLangfuse({ publicKey: secrets.langfusePublic, secretKey: secrets.langfuseSecret });
  });
  after(async () => {
    await langfuse.close();
    await upstream.close();
  });

  describe('in process', () => {
    let gateway: LoggedGateway;
    let dataDir: string;
    let answers: RawResponse[] = [];

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'gw-secrets-'));
      gateway = await startLoggedGateway({ ...env(), DATA_DIR: dataDir });
      answers = await runMix(gateway.url);
      await langfuse.waitForTraces(10, 10_000);
      // Langfuse starts refusing our keys: the shipper logs the refusal; the log must not quote the keys.
      langfuse.setMode('401');
      answers.push(...await runMix(gateway.url));
      const deadline = Date.now() + 10_000;
      while (!gateway.logLines.some((line) => line.includes('Langfuse refused the keys')) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      langfuse.setMode('ok');
      await gateway.close();
    });
    after(() => rmSync(dataDir, { recursive: true, force: true }));

    it('got the answers the mix asks for (so the check below saw real traffic)', () => {
      const statuses = answers.map((answer) => answer.status);
      for (const status of [200, 400, 401, 404, 429, 500, 502, 503, 504]) assert.ok(statuses.includes(status), `a ${status} in ${statuses.join(',')}`);
      assert.ok(gateway.logLines.some((line) => line.includes('Langfuse refused the keys')), 'the Langfuse refusal was logged');
      assert.ok(gateway.logLines.length > 50, `${gateway.logLines.length} log lines`);
    });

    it('shows no secret in any response body or header', () => {
      for (const [index, answer] of answers.entries()) {
        assertNoSecret(`${JSON.stringify(answer.headers)}\n${answer.body}`, `answer ${index} (${mix[index % mix.length]?.what})`);
      }
    });

    it('writes no secret to any log line, at debug level', () => {
      for (const line of gateway.logLines) assertNoSecret(line, `log line ${line.slice(0, 120)}`);
    });

    it('sends no secret in any span, and only the Basic header carries the Langfuse keys', () => {
      const spans = langfuse.spans();
      assert.ok(spans.length >= 10);
      assertNoSecret(JSON.stringify(spans), 'spans received by Langfuse');
      for (const request of langfuse.acceptedRequests) {
        const { authorization, ...others } = request.headers;
        assert.equal(authorization, `Basic ${basic}`);
        assertNoSecret(JSON.stringify(others), 'headers of a Langfuse request');
      }
    });

    it('sends our OpenRouter key only as OpenRouter\'s Authorization, and never the client\'s', () => {
      assertUpstreamClean(upstream);
    });

    it('stores no secret in the journal files', () => {
      for (const file of readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())) {
        const bytes = readFileSync(join(file.parentPath, file.name)).toString('latin1');
        assertNoSecret(bytes, `journal file ${file.name}`);
      }
    });
  });

  it('prints no secret on stdout or stderr when run as `node src/main.ts`', async () => {
    upstream.reset();
    langfuse.reset();
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-secrets-process-'));
    const child = await startGatewayProcess({ ...env(), DATA_DIR: dataDir, LOG_LEVEL: 'debug' });
    try {
      const answers = await runMix(child.url);
      await langfuse.waitForTraces(10, 10_000);
      langfuse.setMode('401');
      await runMix(child.url);
      const deadline = Date.now() + 10_000;
      while (!child.output().includes('Langfuse refused the keys') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(child.output().includes('Langfuse refused the keys'));
      assert.equal(await child.stop('SIGTERM'), 0);
      for (const answer of answers) assertNoSecret(`${JSON.stringify(answer.headers)}\n${answer.body}`, 'an answer of the child process');
      assertNoSecret(child.output(), 'the output of node src/main.ts');
      assertUpstreamClean(upstream);
    } finally {
      langfuse.setMode('ok');
      await child.stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('redaction', () => {
  it('replaces a secret in JSON text and keeps the JSON valid, and leaves text alone when a value is too short to be a key', async () => {
    const { jsonSecrets, redactBytes, redactJson } = await import('../src/redact.ts');
    const secrets = jsonSecrets(['sk-or-"quoted"-key', 'k']);
    assert.equal(redactJson(JSON.stringify({ m: 'say sk-or-"quoted"-key' }), secrets), '{"m":"say [redacted]"}');
    const untouched = Buffer.from('{"kind":"ok","k":"kk"}');
    assert.equal(redactBytes(untouched, secrets), untouched, 'the same buffer when nothing is replaced');
    // A key ending in a backslash: its raw form would match half of an escape and break the record.
    const backslash = jsonSecrets(['Tr0ub4dor&3\\']);
    const record = JSON.stringify({ input: 'my key is Tr0ub4dor&3\\ ok', path: 'C:\\dir\\' });
    assert.deepEqual(JSON.parse(redactJson(record, backslash)), { input: 'my key is [redacted] ok', path: 'C:\\dir\\' });
    // A key of digits that also appears as a number: the JSON stays valid, the string is still redacted.
    const digits = jsonSecrets(['20250101']);
    const usage = JSON.stringify({ usage: { input: 20250101 }, message: 'key 20250101' });
    assert.deepEqual(JSON.parse(redactJson(usage, digits)), { usage: { input: 20250101 }, message: 'key [redacted]' });
    assert.equal(redactJson(`${usage}\n`, digits).endsWith('}\n'), true, 'a log line keeps its newline');
    assert.deepEqual(JSON.parse(redactJson(JSON.stringify({ n: 1202501010, metadata: { 20250101: 'v' } }), digits)),
      { n: 1202501010, metadata: { '[redacted]': 'v' } }, 'a key is redacted in property names too');
  });
});
