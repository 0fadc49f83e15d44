// What `npm start` gives the gateway (package.json scripts.start), so the benchmark runs the gateway the way
// users do: `[NAME=value ...] [exec] node <these flags> dist/main.js` (`npm run bench` builds dist/ first).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StartScript {
  /** Environment assignments before `node` (e.g. GLIBC_TUNABLES). */
  env: Record<string, string>;
  /** Node and V8 flags between `node` and the entry file. */
  nodeFlags: string[];
}

export function startScript(repo: string): StartScript {
  const scripts = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  const words = (scripts.start ?? '').trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
    const [name, ...value] = (words.shift() ?? '').split('=');
    env[name ?? ''] = value.join('=');
  }
  // `exec`: the shell npm runs the script in becomes node, so a signal to npm's child reaches the gateway.
  if (words[0] === 'exec') words.shift();
  if (words[0] !== 'node') return { env, nodeFlags: [] };
  return { env, nodeFlags: words.slice(1).filter((word) => word.startsWith('--')) };
}
