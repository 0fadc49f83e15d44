// Reads an SSE body as strictly as the OpenAI SDK does (../../../shared/contracts/clients.md, "SSE parsing"):
// every event with data or a name must carry JSON or [DONE], and no line may be anything but an SSE field.
import assert from 'node:assert/strict';

export interface CheckedEvent { event?: string; data: string }

export function readSse(body: string): CheckedEvent[] {
  const events: CheckedEvent[] = [];
  const blocks = body.split(/\r?\n\r?\n/);
  // The part after the last blank line is an unfinished event, which the SDK drops: it must be empty.
  assert.equal(blocks.at(-1)?.trim(), '', `the stream ends with a blank line (tail ${JSON.stringify(blocks.at(-1)?.slice(0, 80))})`);
  for (const block of blocks.slice(0, -1)) {
    const data: string[] = [];
    let event: string | undefined;
    for (const line of block.split(/\r?\n/)) {
      if (line === '' || line.startsWith(':')) continue;
      if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
      else if (line.startsWith('event:')) event = line.slice(6).trim();
      else assert.ok(line.startsWith('id:') || line.startsWith('retry:'), `not an SSE line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (data.length === 0 && event === undefined) continue;
    const payload = data.join('\n');
    if (payload !== '[DONE]') assert.doesNotThrow(() => JSON.parse(payload), `data is not JSON: ${JSON.stringify(payload.slice(0, 80))}`);
    events.push({ event, data: payload });
  }
  const done = events.findIndex((event) => event.data === '[DONE]');
  assert.ok(done === -1 || done === events.length - 1, 'nothing follows [DONE]');
  return events;
}
