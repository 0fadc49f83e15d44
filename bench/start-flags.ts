// The Node flags `npm start` gives the gateway (package.json scripts.start), so the benchmark runs the
// gateway the way users do: `node <these flags> dist/main.js` (`npm run bench` builds dist/ first).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function startScriptNodeFlags(repo: string): string[] {
  const scripts = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  const words = (scripts.start ?? '').trim().split(/\s+/);
  if (words[0] !== 'node') return [];
  return words.slice(1).filter((word) => word.startsWith('--'));
}
