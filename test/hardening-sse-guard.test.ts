// The SSE guard: readable events pass byte for byte whatever the chunking; unreadable ones never reach a client.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createSseGuard, isReadableEvent } from '../src/calls/sse-guard.ts';
import { readSse } from './support/sse-check.ts';

const settings = { seed: 20261127, numRuns: 300 };

const jsonEvent = fc.jsonValue({ maxDepth: 3 }).map((value) => `data: ${JSON.stringify(value)}\n\n`);
const comment = fc.constantFrom(': OPENROUTER PROCESSING\n\n', ':\n\n');
const named = fc.tuple(fc.constantFrom('response.created', 'response.output_text.delta'), fc.jsonValue({ maxDepth: 2 }))
  .map(([name, value]) => `event: ${name}\ndata: ${JSON.stringify(value)}\r\n\r\n`);
const readable = fc.oneof(jsonEvent, comment, named);
const unreadable = fc.oneof(
  fc.constantFrom('data: {not json\n\n', 'event: weird\n\n', 'data:\n\n', '\u0000\u00ff\u001b[2J\n\n', 'hello\n\n', 'data: [DONE\n\n'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((text) => !/\n/.test(text)).map((text) => `data: {${text}\n\n`),
);

/** Cuts bytes at the given fractions, as a network might. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => Math.floor(cut * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

function run(chunks: Buffer[]): { out: Buffer; dropped: number } {
  const guard = createSseGuard();
  const out = Buffer.concat([...chunks.map((chunk) => guard.push(chunk)), guard.end()]);
  return { out, dropped: guard.dropped };
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('SSE guard', () => {
  it('passes a readable stream through byte for byte, however it is cut', () => {
    // A lone newline (OpenRouter's heartbeat before a body) joins the next event; it must pass too.
    fc.assert(fc.property(fc.array(fc.oneof(readable, fc.constant('\n')), { maxLength: 20 }), cuts, (events, at) => {
      const bytes = Buffer.from(`${events.join('')}data: [DONE]\n\n`);
      const { out, dropped } = run(chunked(bytes, at));
      assert.equal(dropped, 0);
      assert.equal(out.toString('utf8'), bytes.toString('utf8'));
    }), settings);
  });

  it('drops exactly the unreadable events and keeps the rest in order', () => {
    const item = fc.oneof(readable.map((text) => ({ text, ok: true })), unreadable.map((text) => ({ text, ok: false })));
    fc.assert(fc.property(fc.array(item, { maxLength: 20 }), cuts, (items, at) => {
      const bytes = Buffer.from(items.map((entry) => entry.text).join(''));
      const { out, dropped } = run(chunked(bytes, at));
      assert.equal(dropped, items.filter((entry) => !entry.ok).length);
      assert.equal(out.toString('utf8'), items.filter((entry) => entry.ok).map((entry) => entry.text).join(''));
      readSse(out.toString('utf8'));
    }), settings);
  });

  it('hands the trace the same parsed events whether a chunk holds whole events or is cut anywhere', () => {
    const item = fc.oneof(readable, unreadable, fc.constant('\n'));
    fc.assert(fc.property(fc.array(item, { maxLength: 20 }), cuts, (items, at) => {
      const bytes = Buffer.from(items.join(''));
      const seen = (chunks: Buffer[]) => {
        const events: unknown[] = [];
        const guard = createSseGuard((event) => events.push(event));
        for (const chunk of chunks) guard.push(chunk);
        guard.end();
        return events;
      };
      // Byte by byte never takes the whole-chunk path; one chunk of whole events always tries it.
      const oneByteAtATime = seen([...bytes].map((byte) => Buffer.from([byte])));
      assert.deepEqual(seen([bytes]), oneByteAtATime);
      assert.deepEqual(seen(chunked(bytes, at)), oneByteAtATime);
    }), settings);
  });

  it('never lets through anything a strict SSE reader refuses, whatever the bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), cuts, (bytes, at) => {
      const { out } = run(chunked(Buffer.from(bytes), at));
      readSse(out.toString('utf8'));
    }), settings);
  });

  it('forwards each event as soon as its blank line arrives, even one byte at a time', () => {
    const bytes = Buffer.from('data: {"a":1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n');
    const guard = createSseGuard();
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const events = guard.push(bytes.subarray(i, i + 1)).toString();
      if (events) out.push(events);
    }
    assert.deepEqual(out, ['data: {"a":1}\r\n\r\n', ': keep-alive\n\n', 'data: [DONE]\n\n']);
  });

  it('joins a long event once, not once per chunk', () => {
    const guard = createSseGuard();
    const piece = Buffer.alloc(64 * 1024, 0x61);
    const started = performance.now();
    assert.equal(guard.push(Buffer.from('data: "')).length, 0);
    for (let i = 0; i < 160; i++) assert.equal(guard.push(piece).length, 0);
    assert.equal(guard.push(Buffer.from('"\n\n')).length, 10 * 1024 * 1024 + 10);
    assert.ok(performance.now() - started < 500, `${Math.round(performance.now() - started)} ms for a 10 MB event in 64 KB chunks`);
  });

  it('completes a readable last event that lacks its blank line, and drops an unreadable one', () => {
    assert.equal(run([Buffer.from('data: {"a":1}\n\ndata: [DONE]')]).out.toString(), 'data: {"a":1}\n\ndata: [DONE]\n\n');
    assert.equal(run([Buffer.from('data: {"a":1}\n\ndata: {"a":')]).out.toString(), 'data: {"a":1}\n\n');
    assert.equal(isReadableEvent('id: 7\nretry: 100\n\n'), true);
    assert.equal(isReadableEvent('event: only-a-name\n\n'), false);
  });
});
