// Call ids: valid trace ids, unique, and ordered by time (the journal's index relies on the order).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newCallId } from '../src/calls/call-id.ts';

describe('newCallId', () => {
  it('gives 32 lowercase hex digits, never all zero, unique over many calls', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20_000; i += 1) {
      const id = newCallId();
      assert.match(id, /^[0-9a-f]{32}$/);
      assert.notEqual(id, '0'.repeat(32));
      ids.add(id);
    }
    assert.equal(ids.size, 20_000);
  });

  it('starts with the time, so later ids sort after earlier ones', () => {
    const at = 1_764_200_150_000;
    assert.equal(newCallId(at).slice(0, 12), at.toString(16).padStart(12, '0'));
    assert.ok(newCallId(at) < newCallId(at + 1));
    assert.ok(newCallId(at + 0.9).slice(0, 12) === newCallId(at).slice(0, 12));
  });
});
