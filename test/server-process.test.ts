// The gateway as users start it: `node src/main.ts` and the built `node dist/main.js`, with and without keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGatewayProcess } from './support/gateway-process.ts';
import { get, post } from './support/http.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

describe('the gateway process', () => {
  it('starts with no keys at all, says what is missing and how to fix it, and answers 503', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-nokeys-'));
    const gateway = await startGatewayProcess({ DATA_DIR: dataDir });
    try {
      const output = gateway.output();
      assert.match(output, /OpenRouter: NOT configured\. Set OPENROUTER_API_KEY/);
      assert.match(output, /Langfuse: not configured/);
      assert.match(output, /trace viewer: http:\/\/127\.0\.0\.1:\d+\/ui/);
      const key = /This run's gateway key[^\n]*\n\n\s+(\S+)/.exec(output)?.[1];
      assert.ok(key, 'the generated key is printed');
      assert.equal(output.split(key).length - 1, 1, 'the generated key is printed exactly once');
      const info = JSON.parse((await get(`${gateway.url}/`)).body);
      assert.deepEqual(info.integrations, { openrouter: false, langfuse: false });
      const response = await post(`${gateway.url}/v1/chat/completions`, { model: 'm', messages: [] }, { authorization: `Bearer ${key}` });
      assert.equal(response.status, 503);
      assert.match(JSON.parse(response.body).error.message, /OPENROUTER_API_KEY/);
      const health = JSON.parse((await get(`${gateway.url}/health`, { 'x-api-key': key })).body);
      assert.equal(health.upstream.configured, false);
      assert.equal(health.traces.mode, 'local');
    } finally {
      assert.equal(await gateway.stop('SIGTERM'), 0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says what is missing at LOG_LEVEL=warn too', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-nokeys-warn-'));
    const gateway = await startGatewayProcess({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', LANGFUSE_PUBLIC_KEY: 'pk-lf-only' }, { ready: /Langfuse: NOT configured[^\n]*\n/ });
    try {
      const output = gateway.output();
      assert.match(output, /OpenRouter: NOT configured\. Set OPENROUTER_API_KEY/);
      assert.match(output, /Langfuse: NOT configured: LANGFUSE_SECRET_KEY is missing/);
      assert.doesNotMatch(output, /gateway listening on/, 'the rest stays at info');
    } finally {
      assert.equal(await gateway.stop('SIGTERM'), 0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('stops at start-up with one line naming a bad variable', () => {
    const result = spawnSync(process.execPath, [`${root}src/main.ts`], { env: { PATH: process.env.PATH, PORT: 'not-a-port' }, encoding: 'utf8', timeout: 15_000 });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /PORT/);
  });

  it('stops at start-up with one line naming DATA_DIR when it cannot be a directory', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-datadir-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'afile'), 'not a directory');
    const result = spawnSync(process.execPath, [`${root}src/main.ts`], { env: { PATH: process.env.PATH, DATA_DIR: join(dir, 'afile', 'data') }, encoding: 'utf8', timeout: 15_000 });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /DATA_DIR=.*afile.*cannot be used \(ENOTDIR: not a directory/);
  });

  it('refuses a second gateway on the same DATA_DIR while the first runs, and starts once it is gone (even SIGKILLed)', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-lock-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = { DATA_DIR: dataDir, API_KEY: 'lock-key-123456' };
    const first = await startGatewayProcess(env);
    t.after(() => first.stop('SIGKILL'));
    const second = spawnSync(process.execPath, [`${root}src/main.ts`], { env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ...env }, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
    assert.equal(second.status, 1);
    assert.match(second.stderr, /DATA_DIR .* is in use by another gateway process/);
    assert.equal((await get(`${first.url}/health`, { 'x-api-key': env.API_KEY })).status, 200, 'the first one runs on');
    assert.equal(await first.stop('SIGKILL'), 'SIGKILL');
    const third = await startGatewayProcess(env);
    assert.equal(await third.stop('SIGTERM'), 0);
  });

  it('stops on a SIGTERM sent to `npm start` (what docker stop, systemd or kill send): the gateway drains and exits with it', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-npm-'));
    const gateway = await startGatewayProcess({ DATA_DIR: dataDir, API_KEY: 'npm-key-123456' }, { npmStart: true, timeoutMs: 30_000 });
    t.after(() => {
      // Whatever is left of the process group (a gateway that outlived npm), so nothing holds the port or DATA_DIR.
      try { process.kill(-gateway.child.pid!, 'SIGKILL'); } catch { /* all gone */ }
      rmSync(dataDir, { recursive: true, force: true });
    });
    assert.equal((await get(`${gateway.url}/health`, { 'x-api-key': 'npm-key-123456' })).status, 200);
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    assert.match(gateway.output(), /shutting down/, 'the gateway itself got the signal');
    let refused = false;
    for (const deadline = Date.now() + 5000; Date.now() < deadline && !refused;) {
      refused = await get(`${gateway.url}/health`).then(() => false, () => true);
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(refused, 'no gateway answers after npm start has ended');
  });

  it('runs from the built output with a single node command', async (t) => {
    if (!existsSync(join(root, 'dist/main.js'))) {
      const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { encoding: 'utf8' });
      assert.equal(build.status, 0, build.stdout + build.stderr);
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-dist-'));
    const gateway = await startGatewayProcess({ DATA_DIR: dataDir, API_KEY: 'dist-key-123456' }, { entry: 'dist/main.js' });
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    assert.equal((await get(`${gateway.url}/health`, { 'x-api-key': 'dist-key-123456' })).status, 200);
    assert.equal((await get(`${gateway.url}/ui`)).status, 200);
    assert.equal(await gateway.stop('SIGINT'), 0);
  });
});
