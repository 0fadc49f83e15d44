// Every upstream fault, streaming and not: the client gets a well-formed answer or one clean SSE error event,
// never a hang or half a JSON; the trace in Langfuse records the failure; the gateway keeps serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startFakeLangfuse } from './fakes/fake-langfuse.ts';
import type { FakeLangfuse, LangfuseTraceView } from './fakes/fake-langfuse.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { post } from './support/http.ts';
import type { RawResponse } from './support/http.ts';
import { readSse } from './support/sse-check.ts';
import { closedPort } from './support/wait.ts';

const crashes: unknown[] = [];
const onCrash = (error: unknown) => { crashes.push(error); };

interface Fault {
  name: string;
  model: string;
  /** Which gateway: the normal one, or the one whose upstream refuses connections. */
  refused?: boolean;
  /** Non-streaming: expected status and error code (code undefined: a success or an upstream body). */
  plain: { status: number; code?: string };
  /** Streaming: the status, and the code of the final error event (or of a JSON error before the stream). */
  streamed: { status: number; code?: string };
  /** The call is a failure the trace must show as ERROR. */
  failure: boolean;
}

const faults: Fault[] = [
  { name: 'connection refused', model: 'openai/gpt-4o-mini', refused: true, plain: { status: 502, code: 'upstream_unreachable' }, streamed: { status: 502, code: 'upstream_unreachable' }, failure: true },
  { name: 'reset before headers', model: 'fake/reset', plain: { status: 502, code: 'upstream_connection_lost' }, streamed: { status: 502, code: 'upstream_connection_lost' }, failure: true },
  { name: 'reset mid-answer', model: 'fake/drop:2', plain: { status: 502, code: 'upstream_connection_lost' }, streamed: { status: 200, code: 'upstream_connection_lost' }, failure: true },
  { name: 'stall before headers', model: 'fake/stall-headers', plain: { status: 504, code: 'upstream_timeout' }, streamed: { status: 504, code: 'upstream_timeout' }, failure: true },
  { name: 'stall between chunks', model: 'fake/stall-mid', plain: { status: 504, code: 'upstream_timeout' }, streamed: { status: 200, code: 'upstream_timeout' }, failure: true },
  { name: 'garbage SSE / invalid JSON', model: 'fake/garbage-sse', plain: { status: 502, code: 'upstream_invalid_response' }, streamed: { status: 200, code: 'upstream_invalid_response' }, failure: true },
  { name: 'an HTML 502 page', model: 'fake/html-502', plain: { status: 502, code: 'upstream_invalid_response' }, streamed: { status: 502, code: 'upstream_invalid_response' }, failure: true },
  { name: 'an upstream 500', model: 'fake/status:500', plain: { status: 500 }, streamed: { status: 500 }, failure: true },
  { name: 'an error chunk mid-stream', model: 'fake/mid-stream-error', plain: { status: 200 }, streamed: { status: 200 }, failure: true },
  { name: 'a 10 MB answer', model: 'fake/big:10', plain: { status: 200 }, streamed: { status: 200 }, failure: false },
  // The answer was whole (the stream's [DONE], a complete JSON body): a reset before the body's last chunk loses nothing.
  { name: 'a reset after the whole answer', model: 'fake/reset-after-end', plain: { status: 200 }, streamed: { status: 200 }, failure: false },
];

function assertOpenAIError(value: unknown, code: string, where: string) {
  const error = (value as { error?: { message?: unknown; type?: unknown; code?: unknown } }).error;
  assert.ok(error, `${where}: an error object`);
  assert.equal(error.code, code, where);
  assert.equal(typeof error.message, 'string', where);
  assert.equal(typeof error.type, 'string', where);
}

/** Checks the answer is well formed; returns nothing, throws with the case name otherwise. */
function checkAnswer(response: RawResponse, fault: Fault, stream: boolean) {
  const where = `${fault.name} (${stream ? 'stream' : 'plain'})`;
  const expected = stream ? fault.streamed : fault.plain;
  assert.equal(response.status, expected.status, `${where}: status`);
  const type = String(response.headers['content-type'] ?? '');
  if (type.startsWith('text/event-stream')) {
    assert.ok(stream, `${where}: SSE only when asked for`);
    const events = readSse(response.body);
    const payloads = events.filter((event) => event.data !== '[DONE]').map((event) => JSON.parse(event.data) as Record<string, unknown>);
    const ours = payloads.filter((payload) => typeof (payload.error as { type?: unknown } | undefined)?.type === 'string');
    if (expected.code) {
      assert.equal(ours.length, 1, `${where}: exactly one error event of the gateway`);
      assertOpenAIError(payloads.at(-1), expected.code, where);
    } else {
      assert.equal(ours.length, 0, `${where}: no error event of the gateway`);
    }
    if (!fault.failure) assert.equal(events.at(-1)?.data, '[DONE]', `${where}: ends with [DONE]`);
    return;
  }
  assert.match(type, /application\/json/, `${where}: content type`);
  const body: unknown = JSON.parse(response.body);
  if (expected.code) assertOpenAIError(body, expected.code, where);
}

describe('upstream faults', () => {
  let upstream: FakeOpenRouter;
  let langfuse: FakeLangfuse;
  let gateway: TestGateway;
  let refusedGateway: TestGateway;
  let auth: Record<string, string>;
  let serial = 0;
  const tracesByUser = new Map<string, string>();

  const langfuseEnv = () => ({ LANGFUSE_HOST: langfuse.url, LANGFUSE_PUBLIC_KEY: langfuse.publicKey, LANGFUSE_SECRET_KEY: langfuse.secretKey });

  /** A call tagged with a unique user id, so its trace can be found even when no header came back. */
  async function call(target: TestGateway, model: string, stream: boolean, options: { timeoutMs?: number } = {}) {
    const user = `case-${++serial}`;
    const response = await post(`${target.url}/v1/chat/completions`, { model, stream, messages: [{ role: 'user', content: 'Hi' }] },
      { ...auth, 'x-user-id': user }, { timeoutMs: options.timeoutMs ?? 10_000 });
    return { response, user };
  }

  async function traceOf(user: string): Promise<LangfuseTraceView> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const trace = langfuse.traces().find((candidate) => candidate.userId === user);
      if (trace) return trace;
      if (Date.now() > deadline) throw new Error(`no trace for ${user} in the fake Langfuse`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async function servesNormally() {
    const { response } = await call(gateway, 'openai/gpt-4o-mini', false, { timeoutMs: 5000 });
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).choices[0].message.content, 'Hello from fake OpenRouter');
  }

  before(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    upstream = await startFakeOpenRouter();
    langfuse = await startFakeLangfuse();
    const timeouts = { UPSTREAM_TIMEOUT_S: '0.5', STREAM_IDLE_TIMEOUT_S: '0.5' };
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, ...timeouts, ...langfuseEnv() }, { pipeline: true });
    refusedGateway = await startGateway({ OPENROUTER_BASE_URL: `http://127.0.0.1:${await closedPort()}/api/v1`, ...timeouts, ...langfuseEnv() }, { pipeline: true });
    auth = { authorization: `Bearer ${gateway.key}` };
  });
  after(async () => {
    await refusedGateway.close();
    await gateway.close();
    await langfuse.close();
    await upstream.close();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  for (const fault of faults) {
    for (const stream of [false, true]) {
      it(`${fault.name}, ${stream ? 'streaming' : 'not streaming'}: a clean answer, a trace that says so, and the next call works`, async () => {
        const started = performance.now();
        const { response, user } = await call(fault.refused ? refusedGateway : gateway, fault.model, stream);
        assert.ok(performance.now() - started < 5000, `answered in ${Math.round(performance.now() - started)} ms`);
        checkAnswer(response, fault, stream);
        const trace = await traceOf(user);
        assert.equal(trace.id, response.headers['x-trace-id'], 'the client was told the trace id');
        const generation = trace.observations[0];
        assert.ok(generation);
        if (fault.failure) {
          assert.equal(generation.level, 'ERROR', `${fault.name}: level`);
          assert.ok(generation.statusMessage && generation.statusMessage.length > 0, 'a status message says what went wrong');
        } else {
          assert.equal(generation.level, 'DEFAULT');
        }
        tracesByUser.set(user, trace.id);
        await servesNormally();
      });
    }
  }

  for (const stream of [false, true]) {
    it(`an answer slower than the client's patience (${stream ? 'streaming' : 'not streaming'}): upstream aborted, trace says the client left`, async () => {
      upstream.reset();
      const abort = upstream.waitForAbort(3000);
      const user = `case-${++serial}`;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 300);
      const started = performance.now();
      const outcome = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST', signal: controller.signal, headers: { ...auth, 'content-type': 'application/json', 'x-user-id': user },
        body: JSON.stringify({ model: 'fake/slow-stream:40:100', stream, messages: [{ role: 'user', content: 'Hi' }] }),
      }).then((response) => response.text()).then(() => 'answered', (error: unknown) => (error as Error).name);
      clearTimeout(timer);
      assert.equal(outcome, 'AbortError');
      const seen = await abort;
      assert.ok(seen.at - (performance.timeOrigin + started) < 1000, 'the upstream saw the abort soon after the client left');
      const generation = (await traceOf(user)).observations[0];
      assert.equal(generation?.level, 'WARNING');
      assert.match(String(generation?.statusMessage), /Client went away/);
      // Not an OpenRouter failure: the gateway itself cancelled the request when the client left.
      assert.doesNotMatch(String(generation?.statusMessage), /connection to OpenRouter was lost|Retry/);
      assert.equal(generation?.metadata.outcome ?? (generation?.metadata.attributes as Record<string, unknown> | undefined)?.['langfuse.observation.metadata.outcome'], 'client_aborted');
      await servesNormally();
    });
  }

  it('lets no rejection or exception escape, and traces every faulty call exactly once', () => {
    assert.deepEqual(crashes, []);
    assert.equal(langfuse.maxDeliveries(), 1);
  });
});
