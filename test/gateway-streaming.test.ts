// SSE goes through chunk by chunk, never buffered; failures end the stream cleanly; a client that leaves
// stops the upstream at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenRouter } from './fakes/fake-openrouter.ts';
import type { FakeOpenRouter } from './fakes/fake-openrouter.ts';
import { startGateway } from './support/gateway.ts';
import type { TestGateway } from './support/gateway.ts';
import { post, sseData } from './support/http.ts';
import { chatCallBytes } from './support/raw-http.ts';
import { until } from './support/wait.ts';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

describe('streaming through the gateway', () => {
  let upstream: FakeOpenRouter;
  let gateway: TestGateway;
  let auth: Record<string, string>;
  const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, stream: true, messages: [{ role: 'user', content: 'Hi' }], ...extra });

  before(async () => {
    upstream = await startFakeOpenRouter();
    gateway = await startGateway({ OPENROUTER_BASE_URL: upstream.url, STREAM_IDLE_TIMEOUT_S: '1' });
    auth = { authorization: `Bearer ${gateway.key}` };
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('forwards a stream chunk before the upstream ends', async () => {
    const response = await post(`${gateway.url}/v1/chat/completions`, chat('fake/pause:300'), auth);
    assert.equal(response.status, 200);
    assert.match(String(response.headers['content-type']), /text\/event-stream/);
    const firstContent = response.chunks.find((chunk) => chunk.text.includes('"content":"Hello"'));
    assert.ok(firstContent, 'the first content chunk arrived');
    // The upstream pauses 300 ms before every later chunk: the first one must arrive well before the end.
    assert.ok(response.endedAt - firstContent.at > 600, `first chunk came ${Math.round(response.endedAt - firstContent.at)} ms before the end`);
    assert.ok(response.chunks.length >= 5, 'several separate chunks reached the client');
  });

  it('ends the client\'s stream at [DONE] although the upstream keeps its answer open, and traces it as complete', async () => {
    // The upstream holds the answer open for 3 s after [DONE]; the idle time-out here is 1 s.
    const started = performance.now();
    const response = await post(`${gateway.url}/v1/chat/completions`, chat('fake/done-open'), auth);
    const took = response.endedAt - started;
    assert.equal(response.status, 200);
    assert.equal(sseData(response.body).at(-1), '[DONE]');
    assert.ok(took < 700, `the client waited ${Math.round(took)} ms for the end`);
    await until(() => gateway.calls.some((call) => call.id === response.headers['x-trace-id']));
    const recorded = gateway.calls.find((call) => call.id === response.headers['x-trace-id']);
    assert.equal(recorded?.outcome, 'ok');
    assert.equal(recorded?.level, 'DEFAULT');
  });

  it('keeps comment lines as comments, the usage chunk and [DONE]', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('openai/gpt-4o-mini'), auth);
    assert.match(response.body, /^: OPENROUTER PROCESSING\n\n/m);
    const data = sseData(response.body);
    assert.equal(data.at(-1), '[DONE]');
    const usageChunk = JSON.parse(data.at(-2) ?? '{}');
    assert.deepEqual(usageChunk.choices, []);
    assert.equal(usageChunk.usage.total_tokens, 19);
    for (const payload of data.slice(0, -1)) JSON.parse(payload);
  });

  it('forwards a mid-stream error chunk unchanged', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/mid-stream-error'), auth);
    assert.equal(response.status, 200);
    const errorChunk = sseData(response.body).map((data) => JSON.parse(data)).find((chunk) => chunk.error);
    assert.deepEqual(errorChunk.error, { code: 502, message: 'Provider disconnected' });
    assert.equal(errorChunk.choices[0].finish_reason, 'error');
    const recorded = (await gateway.waitForCalls(3)).at(-1);
    assert.equal(recorded?.outcome, 'stream_error');
  });

  it('records a streamed call that got a plain JSON error as an upstream error, not a stream error', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/status:429'), auth);
    assert.equal(response.status, 429);
    const recorded = gateway.calls.find((call) => call.id === response.headers['x-trace-id']);
    assert.equal(recorded?.outcome, 'upstream_error');
    assert.doesNotMatch(recorded?.statusMessage ?? '', /in the stream/);
  });

  it('ends the stream with one OpenAI-shaped error event when the upstream connection drops', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/drop:2'), auth, { timeoutMs: 5000 });
    const events = sseData(response.body);
    const last = JSON.parse(events.at(-1) ?? '{}');
    assert.equal(last.error.code, 'upstream_connection_lost');
    assert.equal(typeof last.error.message, 'string');
    assert.equal(last.error.type, 'upstream_error');
    assert.equal(events.filter((data) => data.includes('"error"')).length, 1);
  });

  it('takes a stream that ends without [DONE] or an error event as failed: an error event for the client, ERROR in the trace', async () => {
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/cut:2'), auth, { timeoutMs: 5000 });
    const events = sseData(response.body);
    assert.equal(JSON.parse(events.at(-1) ?? '{}').error.code, 'upstream_incomplete_stream');
    assert.ok(!events.includes('[DONE]'));
    await until(() => gateway.calls.some((call) => call.id === response.headers['x-trace-id']));
    const recorded = gateway.calls.find((call) => call.id === response.headers['x-trace-id']);
    assert.equal(recorded?.level, 'ERROR');
    assert.equal(recorded?.outcome, 'upstream_error');
    assert.match(recorded?.statusMessage ?? '', /before its last event/);
    assert.ok((recorded?.output?.content ?? '').length > 0, 'the partial answer is kept');
  });

  it('ends a stream that goes silent with a timeout error event instead of hanging', async () => {
    const started = performance.now();
    const response = await post(`${gateway.url}/chat/completions`, chat('fake/stall-mid'), auth, { timeoutMs: 10_000 });
    const last = JSON.parse(sseData(response.body).at(-1) ?? '{}');
    assert.equal(last.error.code, 'upstream_timeout');
    assert.ok(performance.now() - started < 5000);
  });

  it('aborts the upstream within 100 ms when the client goes away', async () => {
    upstream.reset();
    const abort = upstream.waitForAbort(3000);
    await post(`${gateway.url}/chat/completions`, chat('fake/slow-stream:50:100'), auth, { abortAfterChunks: 2 });
    const leftAt = Date.now(); // the fake stamps aborts with Date.now()
    const seen = await abort;
    assert.ok(seen.at - leftAt < 100, `upstream saw the abort ${seen.at - leftAt} ms after the client left`);
  });

  it('aborts the upstream when the client leaves before any answer', async () => {
    upstream.reset();
    const abort = upstream.waitForAbort(3000);
    const controller = new AbortController();
    const pending = fetch(`${gateway.url}/chat/completions`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(chat('fake/stall-headers')), signal: controller.signal,
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const leftAt = Date.now();
    controller.abort();
    await pending;
    const seen = await abort;
    assert.ok(seen.at - leftAt < 100, `upstream saw the abort ${seen.at - leftAt} ms later`);
  });

  it('frames every chunk exactly on the wire, twice on one kept-alive connection, and sends HTTP/1.0 clients an unframed body', async () => {
    const { hostname, port } = new URL(gateway.url);
    const requestBytes = (version: '1.1' | '1.0') => chatCallBytes(gateway.key, chat('fake/pause:30'), version);
    // Reads one response from the socket: its head, then a strictly parsed chunked body (size line, bytes, CRLF,
    // until the zero-size chunk), or for HTTP/1.0 everything until the connection closes.
    const readResponse = (socket: Socket, chunked: boolean) => new Promise<{ head: string; frames: string[]; body: string }>((resolve, reject) => {
      let bytes = Buffer.alloc(0);
      const frames: string[] = [];
      let head: string | undefined;
      const done = (result: { head: string; frames: string[]; body: string }) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        resolve(result);
      };
      const onData = (data: Buffer) => {
        bytes = Buffer.concat([bytes, data]);
        if (head === undefined) {
          const end = bytes.indexOf('\r\n\r\n');
          if (end === -1) return;
          head = bytes.subarray(0, end).toString('latin1');
          bytes = bytes.subarray(end + 4);
        }
        while (chunked) {
          const lineEnd = bytes.indexOf('\r\n');
          if (lineEnd === -1) return;
          const sizeLine = bytes.subarray(0, lineEnd).toString('latin1');
          if (!/^[0-9a-f]+$/.test(sizeLine)) { reject(new Error(`not a chunk size line: ${JSON.stringify(sizeLine)}`)); return; }
          const size = Number.parseInt(sizeLine, 16);
          if (bytes.length < lineEnd + 2 + size + 2) return;
          if (bytes.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString('latin1') !== '\r\n') { reject(new Error('a chunk does not end with CRLF')); return; }
          if (size === 0) { done({ head, frames, body: frames.join('') }); return; }
          frames.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size).toString('utf8'));
          bytes = bytes.subarray(lineEnd + 4 + size);
        }
      };
      const onEnd = () => (chunked ? reject(new Error('the connection ended inside a chunked body')) : done({ head: head ?? '', frames, body: bytes.toString('utf8') }));
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', reject);
    });
    const expectWholeStream = (sse: string) => {
      const data = sseData(sse);
      assert.equal(data.at(-1), '[DONE]');
      assert.ok(data.some((payload) => payload.includes('"content":"Hello"')), 'the content came through');
      assert.ok(sse.endsWith('data: [DONE]\n\n'), 'the body ends with its [DONE] event');
      // Nothing but events: no framing bytes inside the body.
      for (const block of sse.slice(0, -2).split('\n\n')) assert.match(block, /^(?:data: |:)[^\r]*$/, `an SSE event: ${JSON.stringify(block.slice(0, 40))}`);
    };

    const socket = connect({ host: hostname, port: Number(port) });
    try {
      for (const round of [1, 2]) {
        socket.write(requestBytes('1.1'));
        const response = await readResponse(socket, true);
        assert.match(response.head, /^HTTP\/1\.1 200/, `round ${round}`);
        assert.match(response.head, /transfer-encoding: chunked/i);
        // The fake pauses 30 ms between events: they arrive as separate chunks, each a whole event.
        assert.ok(response.frames.length >= 5, `round ${round}: ${response.frames.length} chunks`);
        for (const frame of response.frames) assert.ok(frame.endsWith('\n\n'), `a chunk holds whole events: ${JSON.stringify(frame.slice(-40))}`);
        expectWholeStream(response.body);
      }
    } finally {
      socket.destroy();
    }

    const old = connect({ host: hostname, port: Number(port) });
    try {
      old.write(requestBytes('1.0'));
      const response = await readResponse(old, false);
      assert.match(response.head, /^HTTP\/1\.1 200/);
      assert.doesNotMatch(response.head, /transfer-encoding/i);
      expectWholeStream(response.body);
    } finally {
      old.destroy();
    }
  });

  it('holds back and resumes a pipelined stream (the second request on a connection, answered after the first)', async () => {
    const { hostname, port } = new URL(gateway.url);
    const call = (model: string) => chatCallBytes(gateway.key, chat(model));
    const socket = connect({ host: hostname, port: Number(port) });
    try {
      // Both requests at once: the second answer waits for the first, then runs into a client that stops reading.
      socket.write(call('fake/pause:20') + call('fake/big:16'));
      let received = 0;
      let text = '';
      let dones = 0;
      const finished = new Promise<void>((resolve, reject) => {
        socket.on('data', (data: Buffer) => {
          received += data.length;
          text = (text + data.toString('latin1')).slice(-64 * 1024);
          dones += text.split('data: [DONE]').length - 1;
          if (text.includes('data: [DONE]')) text = text.slice(text.lastIndexOf('data: [DONE]') + 12);
          if (dones === 2) resolve();
        });
        socket.on('error', reject);
        socket.on('close', () => reject(new Error(`closed after ${received} bytes, ${dones} streams done`)));
      });
      await until(() => received > 1024 * 1024, 5000);
      socket.pause();
      await sleep(500);
      socket.resume();
      await Promise.race([finished, sleep(10_000).then(() => { throw new Error(`stalled after ${received} bytes, ${dones} streams done`); })]);
      assert.ok(received > 16 * 1024 * 1024, `the client got ${received} bytes`);
    } finally {
      socket.destroy();
    }
  });

  it('sends the status and headers within moments when the upstream sends its headers and then nothing for a while', async () => {
    // The upstream answers 200 at once, then thinks for 800 ms without a byte.
    const started = performance.now();
    const response = await post(`${gateway.url}/v1/chat/completions`, chat('fake/quiet:800'), auth);
    assert.equal(response.status, 200);
    const headersAfter = response.headersAt - started;
    assert.ok(headersAfter < 400, `the client got the headers ${Math.round(headersAfter)} ms after asking`);
    assert.ok(response.endedAt - started >= 800, 'the answer itself came after the pause');
    assert.equal(sseData(response.body).at(-1), '[DONE]');
  });

  it('writes [DONE] only after the call is recorded, also when the upstream sends more bytes after it', async () => {
    const recorded: { id: string; at: number }[] = [];
    const slow = await startGateway({ OPENROUTER_BASE_URL: upstream.url }, {
      recorder: {
        async record(call) {
          await sleep(300);
          recorded.push({ id: call.id, at: performance.now() });
        },
      },
    });
    try {
      const response = await post(`${slow.url}/v1/chat/completions`, chat('fake/done-tail'), { authorization: `Bearer ${slow.key}` });
      const done = response.chunks.find((chunk) => chunk.text.includes('[DONE]'));
      assert.ok(done, 'the client got [DONE]');
      const [record] = recorded;
      assert.ok(record, 'the call was recorded');
      assert.equal(record.id, response.headers['x-trace-id']);
      assert.ok(done.at >= record.at, `[DONE] reached the client ${Math.round(record.at - done.at)} ms before the call was recorded`);
    } finally {
      await slow.close();
    }
  });

  it('never writes an error answer into a running stream when a malformed request follows on its connection', async () => {
    const { hostname, port } = new URL(gateway.url);
    const socket = connect({ host: hostname, port: Number(port) });
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.on('close', resolve));
    try {
      socket.write(chatCallBytes(gateway.key, chat('fake/pause:30')));
      await until(() => Buffer.concat(received).includes('data: '), 5000, 'the stream to start');
      socket.write('NOT HTTP AT ALL\r\n\r\n');
      await Promise.race([closed, sleep(5000)]);
      const text = Buffer.concat(received).toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200/);
      assert.equal(text.indexOf('HTTP/1.1', 1), -1, `a second answer inside the stream's body: ${JSON.stringify(text.slice(text.indexOf('HTTP/1.1', 1), text.indexOf('HTTP/1.1', 1) + 40))}`);
    } finally {
      socket.destroy();
    }
  });

  it('holds the upstream back while the client does not read, then delivers every byte', async () => {
    upstream.reset();
    const megabytes = 64;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' } }, resolve);
      req.on('error', reject);
      req.end(JSON.stringify(chat(`fake/big:${megabytes}`)));
    });
    try {
      assert.equal(response.statusCode, 200);
      response.pause();
      // The client reads nothing for a second: the gateway must stop reading the upstream, not buffer the answer.
      await sleep(1000);
      const answer = upstream.requests.at(-1);
      assert.ok(answer, 'the upstream got the call');
      const sentWhilePaused = answer.bytesSent();
      assert.ok(sentWhilePaused < (megabytes / 2) * 1024 * 1024, `the upstream sent ${(sentWhilePaused / 1048576).toFixed(1)} MB of ${megabytes} while the client read nothing`);
    } catch (error) {
      response.destroy(); // an unread answer would hold the gateway's shutdown in after()
      throw error;
    }
    let received = 0;
    let tail = '';
    for await (const chunk of response) {
      received += (chunk as Buffer).length;
      tail = (tail + (chunk as Buffer).toString('latin1')).slice(-64);
    }
    assert.ok(received > megabytes * 1024 * 1024, `the client got ${received} bytes`);
    assert.match(tail, /data: \[DONE\]\n\n$/);
  });
});

