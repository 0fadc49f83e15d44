// The request bodies the benchmark sends: a typical small chat call, streamed or not, and the slow stream.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SLOW_MODEL } from './fake-upstream.ts';

const chat = {
  model: 'openai/gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a concise assistant. Answer in one short paragraph and cite no sources.' },
    { role: 'user', content: 'In two sentences: what does an LLM gateway add on top of calling the provider directly, and what does it cost?' },
  ],
  temperature: 0.2,
  max_tokens: 200,
  user: 'bench-user',
};

export const requestBodies = {
  plain: JSON.stringify(chat),
  stream: JSON.stringify({ ...chat, stream: true }),
  slow: JSON.stringify({ ...chat, model: SLOW_MODEL, stream: true }),
};
export type BodyName = keyof typeof requestBodies;

/** Writes each body to `<dir>/<name>.json` for wrk, which reads them from disk. */
export function writeBodyFiles(dir: string): Record<BodyName, string> {
  const files = {} as Record<BodyName, string>;
  for (const [name, body] of Object.entries(requestBodies) as Array<[BodyName, string]>) {
    files[name] = join(dir, `${name}.json`);
    writeFileSync(files[name], body);
  }
  return files;
}
