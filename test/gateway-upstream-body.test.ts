// The upstream client hands each body chunk straight to one reader (src/upstream/upstream-body.ts). These
// tests hold it to what a stream would have given: back-pressure reaches the upstream socket, nothing is read
// before a reader is attached, an end or failure that comes first is not lost, aborts arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOpenRouterClient } from '../src/upstream/openrouter-client.ts';
import type { UpstreamClient } from '../src/upstream/openrouter-client.ts';

async function serve(handler: (res: ServerResponse, path: string) => void): Promise<{ server: Server; client: UpstreamClient }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(res, req.url ?? '/'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = createOpenRouterClient({ baseUrl: `http://127.0.0.1:${port}/api/v1`, apiKey: 'k', headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  return { server, client };
}

async function stop(server: Server, client: UpstreamClient) {
  await client.close().catch(() => {});
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

test('a reader that returns false stops the upstream socket; resume() reads the rest, every byte in order', async () => {
  const total = 64 * 1024 * 1024;
  const piece = Buffer.alloc(64 * 1024, 'x');
  let written = 0;
  const { server, client } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const more = () => {
      while (written < total) {
        written += piece.length;
        if (!res.write(piece)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  try {
    const response = await client.request({ method: 'POST', path: '/chat/completions', body: '{}' });
    // Before a reader is attached nothing is consumed: the upstream is held back by the sockets alone.
    await sleep(300);
    const heldBeforeRead = written;
    let received = 0;
    let paused = true;
    const ended = new Promise<void>((resolve, reject) => response.body.read({
      data(chunk) {
        received += chunk.length;
        return !paused;
      },
      end: resolve,
      error: reject,
    }));
    await sleep(300);
    const heldWhilePaused = written;
    // Socket buffers on loopback hold a few MB at most: the 64 MB were not pulled into the gateway's memory.
    assert.ok(heldBeforeRead < total / 4, `upstream wrote ${heldBeforeRead} bytes before any read`);
    assert.ok(heldWhilePaused < total / 4, `upstream wrote ${heldWhilePaused} bytes while the reader was paused`);
    assert.ok(received > 0 && received < total / 4, `the paused reader got ${received} bytes`);
    paused = false;
    response.body.resume();
    await ended;
    assert.equal(received, total);
  } finally {
    await stop(server, client);
  }
});

test('bytes() gives the whole body; an end that came before the reader is delivered to it', async () => {
  const { server, client } = await serve((res) => res.end('{"ok":true}'));
  try {
    const response = await client.request({ method: 'GET', path: '/models' });
    assert.equal(response.statusCode, 200);
    assert.equal((await response.body.bytes()).toString(), '{"ok":true}');
    const again = await client.request({ method: 'GET', path: '/models' });
    await sleep(100);
    assert.equal((await again.body.bytes()).toString(), '{"ok":true}');
    await assert.rejects(async () => again.body.bytes(), /already read/);
  } finally {
    await stop(server, client);
  }
});

test('a body cut by the upstream fails the reader; an abort after the headers fails it too', async () => {
  const { server, client } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"a":1}\n\n');
    if (res.req.url?.includes('cut')) setTimeout(() => res.destroy(), 50);
  });
  try {
    const cut = await client.request({ method: 'POST', path: '/cut', body: '{}' });
    await sleep(200); // the failure happens before anyone reads: it must wait for the reader
    await assert.rejects(cut.body.bytes());

    const controller = new AbortController();
    const held = await client.request({ method: 'POST', path: '/held', body: '{}', signal: controller.signal });
    const chunks: string[] = [];
    const failed = new Promise<unknown>((resolve) => held.body.read({ data: (chunk) => chunks.push(chunk.toString()) > 0, end: () => resolve('ended'), error: resolve }));
    await sleep(50);
    controller.abort();
    const outcome = await failed;
    assert.notEqual(outcome, 'ended');
    assert.deepEqual(chunks, ['data: {"a":1}\n\n']);
  } finally {
    await stop(server, client);
  }
});

test('an abort before the answer rejects the request', async () => {
  const { server, client } = await serve(() => {});
  try {
    const controller = new AbortController();
    const pending = client.request({ method: 'POST', path: '/never', body: '{}', signal: controller.signal });
    await sleep(50);
    controller.abort();
    await assert.rejects(pending);
    const early = new AbortController();
    early.abort();
    await assert.rejects(client.request({ method: 'POST', path: '/never', body: '{}', signal: early.signal }));
  } finally {
    await stop(server, client);
  }
});
