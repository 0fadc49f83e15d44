// The stream readers assemble what the trace shows from many small fragments (a token or two each).
// Fragment counts here cross the TextBuilder's 32-piece blocks, so joins at and around the boundary are checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createChatStreamReader } from '../src/calls/chat-result.ts';
import { createResponsesStreamReader } from '../src/calls/responses-result.ts';
import { TextBuilder } from '../src/calls/text-builder.ts';

const event = (json: unknown) => ({ data: JSON.stringify(json), json });

describe('text builder', () => {
  it('gives back exactly what was added, for any number of pieces, and keeps adding after being read', () => {
    for (const count of [0, 1, 31, 32, 33, 64, 65, 1000]) {
      const builder = new TextBuilder();
      const pieces = Array.from({ length: count }, (_, i) => (i % 7 === 0 ? '' : `p${i}é `));
      for (const piece of pieces) builder.add(piece);
      assert.equal(builder.toString(), pieces.join(''), `${count} pieces`);
      assert.equal(builder.toString(), pieces.join(''), `${count} pieces, read twice`);
      assert.equal(builder.length, pieces.join('').length);
      builder.add('more');
      assert.equal(builder.toString(), `${pieces.join('')}more`);
    }
  });
});

describe('chat stream reader', () => {
  it('assembles content, reasoning and interleaved tool-call arguments from hundreds of fragments', () => {
    const reader = createChatStreamReader();
    const content: string[] = [];
    const reasoning: string[] = [];
    const args: [string[], string[]] = [[], []];
    reader.add(event({ id: 'gen-1', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] }), 1);
    for (let i = 0; i < 150; i += 1) {
      const piece = ` t${i}`;
      content.push(piece);
      const thought = i % 2 === 0 ? `r${i}` : '';
      if (thought) reasoning.push(thought);
      const tool = i % 2 === 0 ? 0 : 1;
      const fragment = `{"k${i}":${i}}`;
      args[tool].push(fragment);
      const toolCall = { index: tool, ...(i < 2 ? { id: `call_${tool}`, type: 'function', function: { name: `fn${tool}`, arguments: fragment } } : { function: { arguments: fragment } }) };
      reader.add(event({ id: 'gen-1', choices: [{ index: 0, delta: { content: piece, ...(thought ? { reasoning: thought } : {}), tool_calls: [toolCall] } }] }), 2 + i);
    }
    reader.add(event({ id: 'gen-1', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }), 200);
    const output = reader.summary().output;
    assert.equal(output?.content, content.join(''));
    assert.equal(output?.reasoning, reasoning.join(''));
    assert.equal(output?.finishReason, 'tool_calls');
    assert.deepEqual(output?.toolCalls, [
      { id: 'call_0', type: 'function', function: { name: 'fn0', arguments: args[0].join('') } },
      { id: 'call_1', type: 'function', function: { name: 'fn1', arguments: args[1].join('') } },
    ]);
  });

  it('keeps a tool call without an id without one, and an answer with no text as the empty string', () => {
    const reader = createChatStreamReader();
    reader.add(event({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }] } }] }), 1);
    assert.deepEqual(reader.summary().output?.toolCalls, [{ type: 'function', function: { name: 'f', arguments: '{}' } }]);
    assert.equal(reader.summary().output?.content, null);
    const empty = createChatStreamReader();
    empty.add(event({ choices: [{ index: 0, delta: { content: '' }, finish_reason: 'stop' }] }), 1);
    assert.equal(empty.summary().output?.content, '');
    assert.equal(empty.summary().output?.reasoning, undefined);
  });
});

describe('responses stream reader', () => {
  it('shows the streamed text of a stream cut before its final event', () => {
    const reader = createResponsesStreamReader();
    const pieces = Array.from({ length: 70 }, (_, i) => `w${i} `);
    for (const delta of pieces) reader.add(event({ type: 'response.output_text.delta', delta }), 1);
    assert.equal(reader.summary().output?.content, pieces.join(''));
  });
});
