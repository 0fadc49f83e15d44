// The LLM routes take the body as raw bytes (so it can be forwarded untouched) and parse it here once.
import { errors } from '../errors.ts';

export function readJsonBody(body: unknown): { raw: Buffer; json: Record<string, unknown> } {
  const raw = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  if (raw.length === 0) throw errors.invalidBody('The request body is empty. Send a JSON object such as {"model": "...", "messages": [...]}.');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw errors.invalidJson(error instanceof Error ? error.message.slice(0, 200) : 'parse error');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw errors.invalidBody('The request body must be a JSON object such as {"model": "...", "messages": [...]}.');
  }
  return { raw, json: json as Record<string, unknown> };
}
