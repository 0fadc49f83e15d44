// The trace viewer in a real headless Chromium: sign in, see the calls made through the gateway, open one,
// filter by session, refuse a wrong key. The page may load nothing from outside the machine.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startViewerGateway } from './support/viewer-gateway.ts';
import type { ViewerGateway } from './support/viewer-gateway.ts';

const outputDir = new URL('../test-output/', import.meta.url);
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
  },
};

describe('trace viewer in a browser', () => {
  let upstream: FakeOpenRouter;
  let gateway: ViewerGateway;
  let browser: Browser;
  let page: Page;
  const external: string[] = [];
  const requested: string[] = [];
  const problems: string[] = [];
  const ids: Record<string, string> = {};

  async function callGateway(name: string, body: Record<string, unknown>, headers: Record<string, string>) {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.key}`, ...headers },
      body: JSON.stringify(body),
    });
    await response.text();
    ids[name] = response.headers.get('x-trace-id') ?? '';
  }

  before(async () => {
    mkdirSync(outputDir, { recursive: true });
    upstream = await startFakeOpenRouter();
    gateway = await startViewerGateway({ OPENROUTER_BASE_URL: upstream.url }, { listen: true });
    const ask = (content: string) => [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }];
    await callGateway('plain', { model: 'openai/gpt-4o-mini', messages: ask('Say hello') }, { 'x-session-id': 'research-1', 'x-user-id': 'ana' });
    await callGateway('streamed', { model: 'fake/reasoning', stream: true, messages: ask('What is six times seven?') }, { 'x-session-id': 'research-1', 'x-user-id': 'ana' });
    await callGateway('tool', { model: 'fake/tool-call', messages: ask('Weather in Paris?'), tools: [weatherTool] }, { 'x-session-id': 'support-7', 'x-user-id': 'ben' });
    await callGateway('limited', { model: 'fake/status:429', messages: ask('Again') }, { 'x-session-id': 'support-7', 'x-user-id': 'ben' });
    await callGateway('other', { model: 'anthropic/claude-3.5-haiku', stream: true, messages: ask('Summarise this') }, { 'x-user-id': 'cy', 'x-trace-tags': 'batch' });
    // The client may have its last byte a moment before the record is committed.
    for (let waited = 0; gateway.traces.journal.list({ limit: 10 }).items.length < 5; waited += 10) {
      if (waited > 5000) throw new Error('the calls did not reach the journal');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const hidden = { ...gateway.traces.journal.get(ids.plain ?? '')?.call, id: 'c'.repeat(32), input: undefined, output: { role: 'assistant', finishReason: 'stop' } };
    await gateway.traces.record(hidden as Parameters<ViewerGateway['traces']['record']>[0]);
    ids.hidden = hidden.id;

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (loopback.has(url.hostname)) return route.continue();
      external.push(url.href);
      return route.abort();
    });
    page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // The refused sign-in is an expected 401; anything else (a CSP violation, a script error) is a bug.
      if (message.type() === 'error' && !/status of 401/.test(message.text())) problems.push(message.text());
    });
  });

  after(async () => {
    await browser?.close();
    await gateway?.close();
    await upstream?.close();
  });

  const rows = () => page.locator('#calls tbody tr');
  // Polled from here: waitForFunction with a string would need 'unsafe-eval', which the page's CSP forbids.
  async function rowCountIs(count: number) {
    const deadline = Date.now() + 5000;
    while (await rows().count() !== count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} rows, got ${await rows().count()}`);
      await page.waitForTimeout(20);
    }
  }
  const rowIds = () => rows().evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-id')));

  it('refuses a wrong key and stays on the sign-in form', async () => {
    await page.goto(`${gateway.url}/ui`);
    await page.fill('#key-input', 'definitely-not-the-key');
    await page.click('#sign-in-form button[type=submit]');
    await page.locator('#sign-in-error').waitFor();
    assert.match(await page.locator('#sign-in-error').innerText(), /wrong key/i);
    assert.equal(await page.locator('#list-view').isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');
  });

  it('signs in and lists the calls made through the gateway', async () => {
    await page.fill('#key-input', gateway.key);
    await page.click('#sign-in-form button[type=submit]');
    await rows().nth(5).waitFor();
    assert.deepEqual(await rowIds(), [ids.hidden, ids.other, ids.limited, ids.tool, ids.streamed, ids.plain]);
    const limited = page.locator(`#calls tr[data-id="${ids.limited}"]`);
    assert.match(await limited.innerText(), /429/);
    const streamed = await page.locator(`#calls tr[data-id="${ids.streamed}"]`).innerText();
    assert.match(streamed, /research-1/);
    assert.match(streamed, /12 → 7/);
    assert.match(streamed, /\$0\.00042/);
    assert.match(await page.locator('#delivery').innerText(), /local only/i);
    assert.equal(await page.locator('#chart svg').count(), 2, 'latency and cost charts');
    assert.ok(!page.url().includes(gateway.key), 'the key is not in the address');
    await page.screenshot({ path: new URL('viewer-list.png', outputDir).pathname, fullPage: true });
  });

  it('opens a call and shows its output, reasoning and usage', async () => {
    await page.locator(`#calls tr[data-id="${ids.streamed}"] td`).nth(2).click();
    await page.locator('#detail-view .fact-grid').waitFor();
    const text = await page.locator('#detail-view').innerText();
    assert.match(text, /What is six times seven\?/, 'input messages');
    assert.match(text, /The answer is 42\./, 'output');
    assert.match(text, /Let me think step by step\./, 'reasoning');
    assert.match(text, /Input tokens\s+12/);
    assert.match(text, /Output tokens\s+7/);
    assert.match(text, /Reasoning\s+5/);
    assert.match(text, /\$0\.00042/);
    assert.match(text, /Time to first token\s+\d/);
    assert.match(text, new RegExp(`Langfuse trace id\\s+${ids.streamed}`));
    assert.match(text, /Generation id\s+gen-/);
    assert.match(text, /local/);
    assert.equal(new URL(page.url()).hash, `#/call/${ids.streamed}`);
  });

  it('shows a tool call with its arguments and the tools offered', async () => {
    await page.goto(`${gateway.url}/ui#/call/${ids.tool}`);
    await page.locator('#detail-view .tool-call').waitFor();
    const toolCall = await page.locator('#detail-view .tool-call').innerText();
    assert.match(toolCall, /get_weather/);
    assert.match(toolCall, /"city": "Paris"/, 'arguments as pretty JSON');
    assert.match(await page.locator('#detail-view').innerText(), /Tools offered \(1\)/);
    await page.screenshot({ path: new URL('viewer-detail.png', outputDir).pathname, fullPage: true });
  });

  it('says so when the content was not captured', async () => {
    await page.goto(`${gateway.url}/ui#/call/${ids.hidden}`);
    await page.locator('#detail-view .not-captured').first().waitFor();
    assert.equal(await page.locator('#detail-view .not-captured').count(), 2);
  });

  it('shows the start of a very long prompt with a button for the rest, and writes the raw record only when opened', async () => {
    const base = gateway.traces.journal.get(ids.plain ?? '')?.call;
    const long = `${'lorem ipsum '.repeat(25_000)}END-OF-PROMPT`;
    const record = { ...base, id: 'd'.repeat(32), sessionId: undefined, userId: undefined, input: [{ role: 'user', content: long }] };
    await gateway.traces.record(record as Parameters<ViewerGateway['traces']['record']>[0]);
    await gateway.traces.settled();
    await page.goto(`${gateway.url}/ui#/call/${record.id}`);
    const more = page.locator('#detail-view button.show-all');
    await more.waitFor();
    assert.match(await more.innerText(), /Show all 300,013 characters/);
    const detail = page.locator('#detail-view');
    assert.doesNotMatch(await detail.innerText(), /END-OF-PROMPT/, 'only the first 100,000 characters at first');
    assert.equal(await page.locator('#detail-view details.raw pre').innerText(), '', 'the raw record is not written until opened');
    await more.click();
    assert.match(await detail.innerText(), /END-OF-PROMPT/);
    await page.locator('#detail-view details.raw summary').click();
    // Written on the toggle event, which comes a moment after the click.
    await page.locator('#detail-view details.raw pre', { hasText: '"role": "user"' }).waitFor();
  });

  it('filters the list by session', async () => {
    await page.click('#detail-view a.back');
    await rows().first().waitFor();
    await page.fill('#filters input[name=session]', 'support-7');
    await page.press('#filters input[name=session]', 'Enter');
    await rowCountIs(2);
    assert.deepEqual(await rowIds(), [ids.limited, ids.tool]);
    assert.match(new URL(page.url()).hash, /session=support-7/);
    await page.selectOption('#filters select[name=status]', 'error');
    await rowCountIs(1);
    assert.deepEqual(await rowIds(), [ids.limited]);
  });

  it('clears the old results under the error of a bad filter, and says so for a mangled call address', async () => {
    await page.goto(`${gateway.url}/ui#/?user=ana`);
    await rowCountIs(3);
    const known = problems.length;
    await page.goto(`${gateway.url}/ui#/?status=abc`);
    await page.locator('#list-error:not([hidden])').waitFor();
    // The browser logs the API's 400: expected here, and only that.
    assert.deepEqual(problems.splice(known).filter((problem) => !/status of 400/.test(problem)), []);
    assert.match(await page.locator('#list-error').innerText(), /status/);
    await rowCountIs(0);
    assert.equal(await page.locator('#chart *').count(), 0, 'no chart of the previous results');
    // A call still loading when the address turns mangled must not replace the message.
    await page.route(`**/api/traces/${ids.plain}`, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      await route.continue();
    });
    await page.goto(`${gateway.url}/ui#/call/${ids.plain}`);
    await page.goto(`${gateway.url}/ui#/call/%E0%A4%A`);
    await page.locator('#detail-view', { hasText: 'does not name a call' }).waitFor();
    await page.waitForTimeout(900);
    assert.match(await page.locator('#detail-view').innerText(), /does not name a call/);
    await page.unroute(`**/api/traces/${ids.plain}`);
  });

  it('keeps the keyboard focus on its row when auto-refresh redraws the list, and leaves the chart out of the tab order', async () => {
    await page.goto(`${gateway.url}/ui#/`);
    await rows().first().waitFor();
    const before = await rows().count();
    const focusedId = await rows().nth(1).getAttribute('data-id');
    await page.focus(`#calls tr[data-id="${focusedId}"] a`);
    await callGateway('late', { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'One more' }] }, {});
    for (const deadline = Date.now() + 8000; await rows().count() === before;) {
      if (Date.now() > deadline) throw new Error('auto-refresh did not show the new call');
      await page.waitForTimeout(50);
    }
    assert.equal(await page.locator('#calls tbody tr:has(a:focus)').getAttribute('data-id', { timeout: 1000 }), focusedId);
    const bars = page.locator('#chart a');
    assert.ok(await bars.count() > 0);
    assert.equal(await page.locator('#chart a[tabindex="-1"]').count(), await bars.count());
  });

  it('warns in the top bar when Langfuse refused some calls, instead of "up to date"', async () => {
    // The page's own module, as the top bar uses it, with the state /health would give.
    const shown: Array<{ text: string | null; className: string }> = await page.evaluate(async (url) => {
      const { deliverySummary } = await import(url);
      return deliverySummary({ mode: 'langfuse', status: 'partly_refused', rejected: 4, backlog: 4, delivered: 10, lastError: 'HTTP 400: bad span' })
        .map((node: { textContent: string | null; className: string }) => ({ text: node.textContent, className: node.className }));
    }, '/ui/badges.js');
    assert.match(shown[0]?.text ?? '', /refused 4 calls/);
    assert.match(shown[0]?.className ?? '', /\bwarn\b/);
    assert.doesNotMatch(shown.map((part) => part.text).join(' '), /up to date/);
  });

  it('goes back to sign-in when the stored key stops working', async () => {
    await page.evaluate(() => sessionStorage.setItem('llm-gateway.viewer.key', 'a-key-that-was-rotated'));
    await page.reload();
    await page.locator('#sign-in-error').waitFor();
    assert.match(await page.locator('#sign-in-error').innerText(), /wrong key/i);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('llm-gateway.viewer.key')), null);
  });

  it('loaded nothing from outside the machine and never put the key in a URL', () => {
    assert.deepEqual(external, []);
    assert.ok(requested.length > 0);
    assert.deepEqual(requested.filter((url) => url.includes(gateway.key)), []);
    assert.deepEqual(problems, []);
  });
});
