// RepeatedFailure (src/util/repeated-failure.ts): when a failure that goes
// on is said (the journal's appends, the deferred writes, on a full disk).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RepeatedFailure } from '../src/util/repeated-failure.js';

test('said when a spell starts, then once a minute with the count; working ends the spell, and the next failure starts another', () => {
  const realNow = performance.now.bind(performance);
  let shift = 0;
  performance.now = () => realNow() + shift;
  try {
    const f = new RepeatedFailure();
    assert.equal(f.worked(), 0, 'not failing: nothing to say');
    assert.equal(f.failed(), 'first');
    for (let i = 0; i < 20; i++) assert.equal(f.failed(), undefined);
    assert.equal(f.times, 21);
    shift = 59_000;
    assert.equal(f.failed(), undefined);
    shift = 60_500;
    assert.equal(f.failed(), 'again');
    assert.equal(f.times, 23);
    assert.equal(f.failed(), undefined, 'said again: the next minute starts now');
    assert.equal(f.worked(), 24);
    assert.equal(f.times, 0);
    assert.equal(f.failed(), 'first');
  } finally {
    performance.now = realNow;
  }
});
