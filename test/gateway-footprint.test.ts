// What the gateway loads decides part of its memory: every module of src/ (both threads' code) is imported in a
// fresh process, which must load neither undici's index (all of undici) nor Node's own bundled undici.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Pool as UndiciPool } from 'undici';
import { Pool } from '../src/upstream/undici-pool.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
// main.ts starts a server and trace-worker.ts needs a parent thread: what they import is imported here.
const modules = readdirSync(`${root}src`, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts') && !['main.ts', 'traces/trace-worker.ts'].includes(file))
  .map((file) => `./src/${file}`);

describe('gateway footprint', () => {
  it('loads neither undici\'s index nor Node\'s bundled undici', () => {
    assert.ok(modules.length > 40, `${modules.length} modules`);
    const script = `
      for (const file of ${JSON.stringify(modules)}) await import(file);
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({
        undiciIndex: loaded.filter((file) => /[\\\\/]undici[\\\\/]index\\.js$/.test(file)),
        undiciModules: loaded.filter((file) => file.includes('node_modules/undici/')).length,
        bundledUndici: process.moduleLoadList.includes('NativeModule internal/deps/undici/undici'),
      }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { undiciIndex: string[]; undiciModules: number; bundledUndici: boolean };
    assert.ok(result.undiciModules > 0, 'the gateway does use undici');
    assert.deepEqual(result.undiciIndex, []);
    assert.equal(result.bundledUndici, false);
  });

  it('uses undici\'s own Pool, with its request API', () => {
    assert.equal(Pool, UndiciPool);
    const pool = new Pool('http://127.0.0.1:9');
    assert.equal(typeof pool.request, 'function');
    assert.equal(typeof pool.stream, 'function');
    void pool.close();
  });
});
