// Lets through only SSE events a client can read: the OpenAI SDK JSON-parses every event that has data or a
// name and throws on anything else (../../shared/contracts/clients.md, "SSE parsing"). Events are forwarded
// byte for byte once their blank line has arrived; an unreadable one is dropped and counted.

const field = /^(?:data|event|id|retry)(?::|$)/;

/** One event a client can read, with its data already parsed (`json` is undefined for `[DONE]`). */
export interface ReadableEvent {
  name?: string;
  data: string;
  json: unknown;
}

/**
 * Reads one event (its lines, with the blank line that ends it): undefined when a client's SSE parser would
 * choke on it; `null` for an event with nothing to read (comments, ids); otherwise the event, parsed once
 * here so the trace never parses it again.
 */
export function readEvent(block: string): ReadableEvent | null | undefined {
  // The usual event, one `data: {...}` line: read without splitting.
  if (block.startsWith('data: ') && block.indexOf('\n') === block.length - 2 && block.endsWith('\n\n')) return readPayload(block.slice(6, -2));
  const data: string[] = [];
  let name: string | undefined;
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith(':')) continue;
    if (!field.test(line)) return undefined;
    if (line.startsWith('data')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    else if (line.startsWith('event')) name = line.slice(line[6] === ' ' ? 7 : 6);
  }
  if (data.length === 0) return name === undefined ? null : undefined;
  return readPayload(data.join('\n'), name);
}

function readPayload(data: string, name?: string): ReadableEvent | undefined {
  if (data === '[DONE]') return { name, data, json: undefined };
  try {
    return { name, data, json: JSON.parse(data) };
  } catch {
    return undefined;
  }
}

/** True when the event is safe for a client's SSE parser. */
export function isReadableEvent(block: string): boolean {
  return readEvent(block) !== undefined;
}

const blankLine = Buffer.from('\n\n');
const blankLineCrlf = Buffer.from('\n\r\n');

/** Index just past the next blank line (`\n\n` or `\n\r\n`) at or after `from`, or -1. */
function nextEventEnd(buffer: Buffer, from: number): number {
  const plain = buffer.indexOf(blankLine, from);
  const crlf = buffer.indexOf(blankLineCrlf, from);
  if (crlf === -1 || (plain !== -1 && plain < crlf)) return plain === -1 ? -1 : plain + 2;
  return crlf + 3;
}

/** An event this large without its blank line is not SSE: it is dropped rather than held in memory. */
const maxEventBytes = 16 * 1024 * 1024;

/** Index just past the last blank line in `buffer`, or -1. */
function lastEventEnd(buffer: Buffer): number {
  const plain = buffer.lastIndexOf(blankLine);
  const crlf = buffer.lastIndexOf(blankLineCrlf);
  return Math.max(plain === -1 ? -1 : plain + 2, crlf === -1 ? -1 : crlf + 3);
}

/**
 * The usual chunk, whole events and no carriage returns, read as one string: one UTF-8 decode instead of
 * one per event, the same blocks as the byte path (split after each blank line). Undefined when the chunk
 * is not that simple or holds an event a client could not read: the byte path then decides.
 */
function readWholeChunk(chunk: Buffer): ReadableEvent[] | undefined {
  const text = chunk.toString('utf8');
  if (text.includes('\r')) return undefined;
  const events: ReadableEvent[] = [];
  for (let start = 0; start < text.length;) {
    const end = text.indexOf('\n\n', start) + 2;
    if (end === 1) return undefined;
    const event = readEvent(text.slice(start, end));
    if (event === undefined) return undefined;
    if (event) events.push(event);
    start = end;
  }
  return events;
}

/** `onEvent` receives each readable event with data, parsed, in order. */
export function createSseGuard(onEvent: (event: ReadableEvent) => void = () => {}) {
  // An unfinished event, kept as the chunks that brought it, so a long one is joined once, not once per chunk.
  // One array for the guard's life, emptied in place: a fresh one per chunk would be promoted with the
  // long-lived guard and keep dead chunks alive until a full GC (see stream-tap.ts).
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let dropped = 0;

  const keepReadable = (buffer: Buffer, end: number): Buffer => {
    const kept: Buffer[] = [];
    let start = 0;
    let allKept = true;
    while (start < end) {
      const next = nextEventEnd(buffer, start);
      if (next === -1 || next > end) break; // what is left is the second half of a CRLF blank line
      const block = buffer.subarray(start, next);
      const event = readEvent(block.toString('utf8'));
      if (event === undefined) { dropped += 1; allKept = false; }
      else {
        kept.push(block);
        if (event) onEvent(event);
      }
      start = next;
    }
    return allKept ? buffer.subarray(0, end) : Buffer.concat(kept);
  };

  return {
    /** Takes an upstream chunk; returns the complete, readable events it finished (maybe empty). */
    push(chunk: Buffer): Buffer {
      if (pending.length === 0 && chunk.at(-1) === 0x0a && chunk.at(-2) === 0x0a) {
        const events = readWholeChunk(chunk);
        if (events) {
          for (const event of events) onEvent(event);
          return chunk;
        }
      }
      // A blank line may straddle the previous chunk and this one: look at the last two bytes before it too.
      const last = pending.at(-1);
      const before = !last ? undefined : last.length >= 2 ? last.subarray(last.length - 2) : Buffer.concat(pending.slice(-2)).subarray(-2);
      const window = before ? Buffer.concat([before, chunk]) : chunk;
      // Usually a chunk is whole events: it ends with its blank line, and nothing waits before it.
      const endInWindow = !before && chunk.at(-1) === 0x0a && chunk.at(-2) === 0x0a ? chunk.length : lastEventEnd(window);
      if (endInWindow === -1) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes > maxEventBytes) {
          pending.length = 0;
          pendingBytes = 0;
          dropped += 1;
        }
        return Buffer.alloc(0);
      }
      const buffer = pending.length > 0 ? Buffer.concat([...pending, chunk]) : chunk;
      const end = endInWindow + pendingBytes - (before?.length ?? 0);
      const rest = buffer.subarray(end);
      pending.length = 0;
      if (rest.length > 0) pending.push(rest);
      pendingBytes = rest.length;
      return keepReadable(buffer, end);
    },
    /** The stream ended: an unfinished last event is forwarded (with its blank line) only if readable. */
    end(): Buffer {
      const rest = Buffer.concat(pending);
      pending.length = 0;
      pendingBytes = 0;
      const text = rest.toString('utf8');
      if (text.trim() === '') return Buffer.alloc(0);
      const event = readEvent(text);
      if (event !== undefined) {
        if (event) onEvent(event);
        return Buffer.concat([rest, Buffer.from(rest.at(-1) === 0x0a ? '\n' : '\n\n')]);
      }
      dropped += 1;
      return Buffer.alloc(0);
    },
    /** Events dropped so far. */
    get dropped() { return dropped; },
  };
}
