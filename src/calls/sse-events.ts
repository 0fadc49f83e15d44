// Splits captured SSE bytes into events, each stamped with the arrival time of the chunk that completed it.
// Follows the WHATWG event-stream rules the OpenAI SDK uses: `:` comments skipped, multi-line `data:` joined.
// Runs after the stream has been forwarded, never on the chunk path.

export interface CapturedChunk {
  at: number;
  data: Buffer;
}

export interface SseEvent {
  at: number;
  event?: string;
  data: string;
}

export function parseSseEvents(chunks: readonly CapturedChunk[]): SseEvent[] {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let pending = '';
  let data: string[] = [];
  let eventName: string | undefined;

  const dispatch = (at: number) => {
    if (data.length > 0) events.push({ at, event: eventName, data: data.join('\n') });
    data = [];
    eventName = undefined;
  };

  const consume = (text: string, at: number, final: boolean) => {
    pending += text;
    let start = 0;
    for (;;) {
      const newline = pending.indexOf('\n', start);
      if (newline === -1) break;
      let line = pending.slice(start, newline);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      start = newline + 1;
      if (line === '') dispatch(at);
      else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
      else if (line.startsWith('event:')) eventName = line.slice(6).trim();
    }
    pending = pending.slice(start);
    if (final) {
      if (pending.startsWith('data:')) data.push(pending.slice(pending[5] === ' ' ? 6 : 5));
      dispatch(at);
    }
  };

  for (const chunk of chunks) consume(decoder.decode(chunk.data, { stream: true }), chunk.at, false);
  consume(decoder.decode(), chunks.at(-1)?.at ?? 0, true);
  return events;
}
