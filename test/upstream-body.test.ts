// The upstream answer as the gateway reads it (src/upstream/upstream-body.ts): a reader that throws fails its
// call instead of hanging it, and an answer nobody reads yet holds the upstream back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from '../src/upstream/undici-pool.ts';
import { dispatchRequest } from '../src/upstream/upstream-body.ts';
import type { BodyReader } from '../src/upstream/upstream-body.ts';

const megabyte = Buffer.alloc(1024 * 1024, 'x');

describe('upstream body', () => {
  let server: Server;
  let pool: InstanceType<typeof Pool>;
  let origin: string;
  const answers: ServerResponse[] = [];
  /** Bytes each answer has handed to its socket, by path. */
  const sent = new Map<string, () => number>();

  before(async () => {
    server = createServer((req, res) => {
      answers.push(res);
      const before = req.socket.bytesWritten;
      sent.set(req.url ?? '', () => req.socket.bytesWritten - before);
      if (req.url === '/small') {
        res.end('one two three');
        return;
      }
      // /big: 64 MB, written as fast as the socket takes it.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let left = 64;
      const more = () => {
        while (left > 0) {
          left -= 1;
          if (left === 0) res.end(megabyte);
          else if (!res.write(megabyte)) return void res.once('drain', more);
        }
      };
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pool = new Pool(origin, { connections: 4 });
  });
  after(async () => {
    await pool.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const call = (path: string) => dispatchRequest(pool, { origin, path, method: 'GET' });

  it('gives a reader whose end throws that error instead of leaving it waiting', async () => {
    const response = await call('/small');
    const outcome = await new Promise<string>((resolve) => {
      const reader: BodyReader = {
        data() {},
        end() { throw new Error('end failed'); },
        error(cause) { resolve(`error: ${cause.message}`); },
      };
      response.body.read(reader);
      setTimeout(() => resolve('no end and no error'), 2000).unref();
    });
    assert.equal(outcome, 'error: end failed');
  });

  it('aborts the upstream when a reader throws on a chunk, and tells the reader once', async () => {
    const response = await call('/big');
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      response.body.read({
        data() {
          seen.push('data');
          throw new Error('data failed');
        },
        end() { seen.push('end'); },
        error(cause) {
          seen.push(`error: ${cause.message}`);
          resolve();
        },
      });
    });
    await sleep(200);
    assert.deepEqual(seen, ['data', 'error: data failed']);
    assert.ok(answers.at(-1)?.destroyed || answers.at(-1)?.socket === null, 'the upstream answer was cut off');
    assert.ok((sent.get('/big')?.() ?? 0) < 48 * megabyte.length, 'the upstream did not send the whole answer');
  });

  it('holds the upstream back while nobody reads the answer, then hands over every byte', async () => {
    const response = await call('/big');
    await sleep(500);
    const sentUnread = sent.get('/big')?.() ?? 0;
    assert.ok(sentUnread < 32 * megabyte.length, `${(sentUnread / megabyte.length).toFixed(1)} MB of 64 sent before anyone read`);
    const bytes = await response.body.bytes();
    assert.equal(bytes.length, 64 * megabyte.length);
    // After its end a body no longer touches the connection it came on (it may carry another call by now).
    response.body.pause();
    response.body.resume();
    const next = await call('/small');
    assert.equal((await next.body.bytes()).toString(), 'one two three');
  });
});
