// The viewer's JSON API and its static page, through inject(): auth, filters, paging, one call, errors, headers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type { LlmCall } from '../src/calls/llm-call.ts';
import { startViewerGateway } from './support/viewer-gateway.ts';
import type { ViewerGateway } from './support/viewer-gateway.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';

const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

let counter = 0;
function call(overrides: Partial<LlmCall> = {}): LlmCall {
  counter += 1;
  const startTime = Date.now() - 3_600_000 + counter * 1000;
  return {
    id: counter.toString(16).padStart(32, '0'),
    endpoint: 'chat.completions', name: 'chat.completions', startTime, endTime: startTime + 250, stream: false,
    requestedModel: 'openai/gpt-4o-mini', model: 'openai/gpt-4o-mini', provider: 'OpenAI', generationId: `gen-${counter}`,
    modelParameters: { temperature: 0 }, input: [{ role: 'user', content: `question ${counter}` }],
    output: { role: 'assistant', content: `answer ${counter}`, finishReason: 'stop' },
    usage: { input: 10, output: 5, total: 15 }, cost: 0.0001,
    tags: [], metadata: {}, status: 200, outcome: 'ok', level: 'DEFAULT',
    ...overrides,
  };
}

interface Page { items: Array<Record<string, unknown>>; nextBefore: number | null; delivery: { mode: string } }

describe('trace viewer API', () => {
  let gateway: ViewerGateway;
  const recorded: LlmCall[] = [];
  const headers = () => ({ 'x-api-key': gateway.key });
  const list = async (query = '') => {
    const response = await gateway.app.inject({ url: `/api/traces${query}`, headers: headers() });
    assert.equal(response.statusCode, 200, response.body);
    return response.json<Page>();
  };

  before(async () => {
    gateway = await startViewerGateway();
    recorded.push(
      call({ sessionId: 'alpha', userId: 'ana' }),
      call({ sessionId: 'alpha', userId: 'ben', requestedModel: 'openrouter/auto', model: 'anthropic/claude-3.5-haiku' }),
      call({ sessionId: 'beta', userId: 'ana', status: 429, outcome: 'upstream_error', level: 'ERROR', statusMessage: 'Upstream answered HTTP 429', output: undefined }),
      call({ sessionId: 'beta', stream: true, completionStartTime: undefined }),
      call({ status: 502, outcome: 'connection_lost', level: 'ERROR', statusMessage: 'lost' }),
    );
    await Promise.all(recorded.map((record) => gateway.traces.record(record)));
    await gateway.traces.settled();
  });
  after(() => gateway.close());

  it('refuses the API without the gateway key', async () => {
    for (const url of ['/api/traces', `/api/traces/${recorded[0]?.id}`]) {
      const response = await gateway.app.inject({ url });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.type, 'authentication_error');
    }
    const wrong = await gateway.app.inject({ url: '/api/traces', headers: { 'x-api-key': 'not-the-key' } });
    assert.equal(wrong.statusCode, 401);
  });

  it('accepts the key as a bearer token too', async () => {
    const response = await gateway.app.inject({ url: '/api/traces', headers: { authorization: `Bearer ${gateway.key}` } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['cache-control'], 'no-store');
  });

  it('lists calls newest first with their summary and the delivery state', async () => {
    const page = await list();
    assert.deepEqual(page.items.map((item) => item.id), recorded.map((record) => record.id).reverse());
    assert.equal(page.nextBefore, null);
    assert.equal(page.delivery.mode, 'local');
    const second = page.items.find((item) => item.id === recorded[1]?.id);
    assert.equal(second?.requestedModel, 'openrouter/auto');
    assert.equal(second?.model, 'anthropic/claude-3.5-haiku');
    assert.equal(second?.latencyMs, 250);
    assert.equal(second?.totalTokens, 15);
    assert.equal(second?.cost, 0.0001);
    assert.equal(second?.delivery, 'local');
  });

  it('filters by session, user, model and status', async () => {
    const ids = async (query: string) => (await list(query)).items.map((item) => item.id);
    const id = (index: number) => recorded[index]?.id;
    assert.deepEqual(await ids('?session=alpha'), [id(1), id(0)]);
    assert.deepEqual(await ids('?user=ana'), [id(2), id(0)]);
    assert.deepEqual(await ids('?model=openrouter%2Fauto'), [id(1)], 'matches the model requested');
    assert.deepEqual(await ids('?model=anthropic%2Fclaude-3.5-haiku'), [id(1)], 'matches the model used');
    assert.deepEqual(await ids('?status=error'), [id(4), id(2)]);
    assert.deepEqual(await ids('?status=ok'), [id(3), id(1), id(0)]);
    assert.deepEqual(await ids('?status=429'), [id(2)]);
    assert.deepEqual(await ids('?session=beta&status=ok'), [id(3)]);
    assert.deepEqual(await ids('?session=&user=&model=&status='), recorded.map((record) => record.id).reverse(), 'empty fields mean no filter');
  });

  it('pages with the nextBefore cursor, without gaps or repeats', async () => {
    const seen: unknown[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const page: Page = await list(`?limit=2${cursor ? `&before=${cursor}` : ''}`);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextBefore;
      pages += 1;
    } while (cursor !== null && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, recorded.map((record) => record.id).reverse());
  });

  it('caps the page size at 200', async () => {
    const extra = await startViewerGateway();
    try {
      await Promise.all(Array.from({ length: 205 }, () => extra.traces.record(call())));
      await extra.traces.settled();
      const response = await extra.app.inject({ url: '/api/traces?limit=5000', headers: { 'x-api-key': extra.key } });
      const page = response.json<Page>();
      assert.equal(page.items.length, 200);
      assert.equal(typeof page.nextBefore, 'number');
    } finally {
      await extra.close();
    }
  });

  it('returns one call: the whole record plus its delivery state', async () => {
    const record = recorded[1] as LlmCall;
    const response = await gateway.app.inject({ url: `/api/traces/${record.id}`, headers: headers() });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const { delivery, attempts, lastError, deliveredAt, ...rest } = response.json();
    assert.deepEqual(rest, JSON.parse(JSON.stringify(record)), 'the same record Langfuse gets');
    assert.equal(delivery, 'local');
    assert.equal(attempts, 0);
    assert.equal(lastError, undefined);
    assert.equal(deliveredAt, undefined);
  });

  it('answers an unknown call id with an OpenAI-shaped 404', async () => {
    const response = await gateway.app.inject({ url: `/api/traces/${'f'.repeat(32)}`, headers: headers() });
    assert.equal(response.statusCode, 404);
    assert.equal(response.json().error.type, 'not_found_error');
    assert.equal(response.json().error.code, 'not_found');
  });

  it('refuses a bad query with an OpenAI-shaped 400 that names the parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['?status=maybe', /"status"/],
      ['?limit=0', /"limit"/],
      ['?limit=many', /"limit"/],
      ['?before=-3', /"before"/],
      ['?before=1.5', /"before"/],
      ['?sesion=alpha', /Unknown query parameter "sesion"/],
      ['?session=a&session=b', /"session"/],
      [`?session=${'x'.repeat(300)}`, /"session"/],
    ];
    for (const [query, message] of cases) {
      const response = await gateway.app.inject({ url: `/api/traces${query}`, headers: headers() });
      assert.equal(response.statusCode, 400, query);
      const { error } = response.json();
      assert.equal(error.type, 'invalid_request_error', query);
      assert.match(error.message, message, query);
    }
  });

  it('serves the page at /ui and /ui/ without a key, with a strict content security policy', async () => {
    for (const url of ['/ui', '/ui/']) {
      const response = await gateway.app.inject({ url });
      assert.equal(response.statusCode, 200, url);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.equal(response.headers['content-security-policy'], csp);
      assert.equal(response.headers['cache-control'], 'no-cache');
      assert.match(response.body, /<script type="module" src="\/ui\/app\.js">/);
    }
  });

  it('serves the page\'s own scripts and styles, and nothing else', async () => {
    const script = await gateway.app.inject({ url: '/ui/app.js' });
    assert.equal(script.statusCode, 200);
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(script.headers['content-security-policy'], csp);
    const style = await gateway.app.inject({ url: '/ui/viewer.css' });
    assert.equal(style.headers['content-type'], 'text/css; charset=utf-8');
    const again = await gateway.app.inject({ url: '/ui/app.js', headers: { 'if-none-match': String(script.headers.etag) } });
    assert.equal(again.statusCode, 304);
    for (const url of ['/ui/missing.js', '/ui/%2e%2e%2fpackage.json', '/ui/viewer-assets.ts']) {
      const response = await gateway.app.inject({ url });
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json().error.code, 'not_found');
    }
  });

  it('needs nothing from outside the gateway to render the page', () => {
    const folder = new URL('../ui/', import.meta.url);
    for (const name of readdirSync(folder)) {
      const text = readFileSync(new URL(name, folder), 'utf8').replaceAll('http://www.w3.org/2000/svg', '');
      assert.doesNotMatch(text, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i, `${name} refers to another host`);
    }
  });
});

describe('trace viewer API with Langfuse configured', () => {
  it('shows each call\'s delivery to Langfuse', async () => {
    const langfuse = await startFakeLangfuse();
    const gateway = await startViewerGateway({ LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey });
    try {
      const record = call({ sessionId: 'shipped' });
      await gateway.traces.record(record);
      await gateway.traces.settled();
      await langfuse.waitForTraces(1, 5000);
      const headers = { 'x-api-key': gateway.key };
      const deadline = Date.now() + 5000;
      let detail = (await gateway.app.inject({ url: `/api/traces/${record.id}`, headers })).json();
      while (detail.delivery !== 'delivered' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        detail = (await gateway.app.inject({ url: `/api/traces/${record.id}`, headers })).json();
      }
      assert.equal(detail.delivery, 'delivered');
      assert.equal(typeof detail.deliveredAt, 'number');
      assert.equal(langfuse.trace(record.id)?.sessionId, 'shipped', 'Langfuse trace id = call id');
      const page = (await gateway.app.inject({ url: '/api/traces', headers })).json<Page & { delivery: { mode: string; backlog: number } }>();
      assert.equal(page.delivery.mode, 'langfuse');
      assert.equal(page.items[0]?.delivery, 'delivered');
    } finally {
      await gateway.close();
      await langfuse.close();
    }
  });
});
