// The stream readers assemble what the trace shows from many small fragments (a token or two each).
// Fragment counts here cross the TextBuilder's 32-piece blocks, so joins at and around the boundary are checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createChatStreamReader, readChatBody } from '../src/calls/chat-result.ts';
import { outputMessage } from '../src/traces/generation-fields.ts';
import { createResponsesStreamReader, readResponsesBody } from '../src/calls/responses-result.ts';
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

describe('chat answers, streamed or whole, trace the same', () => {
  /** The same answer as OpenRouter sends it whole, and as a stream of one-token chunks. */
  function both(choices: Array<{ content?: string | null; refusal?: string; tool?: { id: string; name: string; args: string }; finish: string }>, repeatToolName = false) {
    const whole = readChatBody({
      id: 'gen-1', model: 'm', choices: choices.map((choice, index) => ({
        index, finish_reason: choice.finish,
        message: {
          role: 'assistant', content: choice.content ?? null, ...(choice.refusal ? { refusal: choice.refusal } : {}),
          ...(choice.tool ? { tool_calls: [{ id: choice.tool.id, type: 'function', function: { name: choice.tool.name, arguments: choice.tool.args } }] } : {}),
        },
      })),
    });
    const reader = createChatStreamReader();
    choices.forEach((choice, index) => {
      reader.add(event({ id: 'gen-1', model: 'm', choices: [{ index, delta: { role: 'assistant', content: '' } }] }), 1);
      for (const piece of (choice.content ?? '').match(/.{1,3}/gs) ?? []) reader.add(event({ id: 'gen-1', choices: [{ index, delta: { content: piece } }] }), 2);
      for (const piece of (choice.refusal ?? '').match(/.{1,3}/gs) ?? []) reader.add(event({ id: 'gen-1', choices: [{ index, delta: { refusal: piece } }] }), 2);
      if (choice.tool) {
        const { id, name, args } = choice.tool;
        reader.add(event({ choices: [{ index, delta: { tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }] } }] }), 3);
        for (const piece of args.match(/.{1,2}/gs) ?? []) {
          reader.add(event({ choices: [{ index, delta: { tool_calls: [{ index: 0, function: { ...(repeatToolName ? { name } : {}), arguments: piece } }] } }] }), 3);
        }
      }
      reader.add(event({ choices: [{ index, delta: {}, finish_reason: choice.finish }] }), 4);
    });
    reader.add({ data: '[DONE]', json: undefined }, 5);
    return { whole: outputMessage(whole.output), streamed: outputMessage(reader.summary().output) };
  }

  it('a tool call whose name the provider repeats in every fragment keeps the name once', () => {
    const { whole, streamed } = both([{ content: null, tool: { id: 'call_1', name: 'get_weather', args: '{"city":"Paris"}' }, finish: 'tool_calls' }], true);
    assert.deepEqual(streamed, whole);
    assert.equal((streamed as { tool_calls: Array<{ function: { name: string } }> }).tool_calls[0]?.function.name, 'get_weather');
  });

  it('a refusal is kept, and shows as the same message', () => {
    const { whole, streamed } = both([{ content: null, refusal: 'I cannot help with that.', finish: 'stop' }]);
    assert.deepEqual(whole, { role: 'assistant', content: null, refusal: 'I cannot help with that.' });
    assert.deepEqual(streamed, whole);
  });

  it('an answer with no content at all still shows as an (empty) assistant message, not as no output', () => {
    const { whole, streamed } = both([{ content: null, finish: 'content_filter' }]);
    assert.deepEqual(whole, { role: 'assistant', content: null });
    assert.equal((streamed as { role: string }).role, 'assistant');
  });

  it('reasoning given only as reasoning_details (a summary) is kept, whole or streamed', () => {
    const details = [{ type: 'reasoning.summary', summary: 'Thought about it.' }, { type: 'reasoning.encrypted', data: 'opaque' }];
    const whole = readChatBody({ choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Yes', reasoning_details: details } }] });
    assert.equal(whole.output?.reasoning, 'Thought about it.');
    const reader = createChatStreamReader();
    reader.add(event({ choices: [{ index: 0, delta: { reasoning_details: [details[0]] } }] }), 1);
    reader.add(event({ choices: [{ index: 0, delta: { reasoning_details: [details[1]] } }] }), 2);
    reader.add(event({ choices: [{ index: 0, delta: { content: 'Yes' }, finish_reason: 'stop' }] }), 3);
    assert.equal(reader.summary().output?.reasoning, 'Thought about it.');
    // Both given (OpenRouter's usual stream): the reasoning text once, not twice.
    const both = createChatStreamReader();
    both.add(event({ choices: [{ index: 0, delta: { reasoning: 'Hm.', reasoning_details: [{ type: 'reasoning.text', text: 'Hm.' }] } }] }), 1);
    assert.equal(both.summary().output?.reasoning, 'Hm.');
  });

  it('several choices (n = 2) all reach the output, as the same list of messages', () => {
    const { whole, streamed } = both([{ content: 'First answer', finish: 'stop' }, { content: 'Second answer', finish: 'stop' }]);
    assert.deepEqual(whole, [{ role: 'assistant', content: 'First answer' }, { role: 'assistant', content: 'Second answer' }]);
    assert.deepEqual(streamed, whole);
  });
});

describe('responses stream reader', () => {
  it('shows the streamed text of a stream cut before its final event', () => {
    const reader = createResponsesStreamReader();
    const pieces = Array.from({ length: 70 }, (_, i) => `w${i} `);
    for (const delta of pieces) reader.add(event({ type: 'response.output_text.delta', delta }), 1);
    assert.equal(reader.summary().output?.content, pieces.join(''));
  });

  it('keeps the streamed text of a response that failed with an empty output, with its status', () => {
    const reader = createResponsesStreamReader();
    reader.add(event({ type: 'response.output_text.delta', delta: 'Part' }), 1);
    reader.add(event({ type: 'response.failed', response: { id: 'resp_1', status: 'failed', output: [], error: { code: 'server_error', message: 'boom' } } }), 2);
    const summary = reader.summary();
    assert.deepEqual(summary.output, { role: 'assistant', content: 'Part', finishReason: 'failed' });
    assert.match(summary.error ?? '', /boom/);
  });

  it('a response that failed before saying anything has no output, not an empty answer; a completed empty one keeps its empty message', () => {
    const failed = readResponsesBody({ id: 'resp_1', status: 'failed', output: [], error: { message: 'boom' } }).output;
    assert.deepEqual(failed, { role: 'assistant', finishReason: 'failed' });
    assert.equal(outputMessage(failed), undefined);
    const incomplete = readResponsesBody({ id: 'resp_1', status: 'incomplete', output: [{ type: 'message', content: [] }] }).output;
    assert.deepEqual(incomplete, { role: 'assistant', finishReason: 'incomplete' }, 'why it stopped is kept: all tokens spent on reasoning');
    assert.equal(outputMessage(incomplete), undefined);
    const completed = readResponsesBody({ id: 'resp_2', status: 'completed', output: [] }).output;
    assert.deepEqual(outputMessage(completed), { role: 'assistant', content: '' });
    const partial = readResponsesBody({ id: 'resp_3', status: 'incomplete', output: [{ type: 'message', content: [{ type: 'output_text', text: 'Half' }] }] }).output;
    assert.deepEqual(outputMessage(partial), { role: 'assistant', content: 'Half' });
  });
});
