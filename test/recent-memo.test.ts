import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentMemo } from '../src/util/recent-memo.js';

test('RecentMemo holds at most its limit and drops what was used least lately first', () => {
  const memo = new RecentMemo<string, number>(10);
  for (let i = 0; i < 5; i++) memo.set(`a${i}`, i);
  // Five more fill a second generation; a0 is still there (old generation).
  for (let i = 0; i < 5; i++) memo.set(`b${i}`, i);
  assert.equal(memo.size, 10);
  assert.equal(memo.get('a0'), 0); // used: moves to the young generation
  for (let i = 0; i < 8; i++) memo.set(`c${i}`, i);
  assert.ok(memo.size <= 10, `size ${memo.size}`);
  assert.equal(memo.get('a0'), 0, 'kept: it was used');
  assert.equal(memo.get('a1'), undefined, 'dropped: never used since it was set');
  assert.equal(memo.get('c7'), 7);
});

test('RecentMemo: a set replaces the value in either generation, and delete removes it from both', () => {
  const memo = new RecentMemo<string, string>(4);
  memo.set('k', 'first');
  memo.set('x', 'x');
  memo.set('y', 'y'); // k and x are the old generation now
  memo.set('k', 'second');
  assert.equal(memo.get('k'), 'second');
  memo.set('z', 'z');
  memo.set('w', 'w'); // the generation holding k turns old, and the one with the earlier copy goes
  assert.equal(memo.get('k'), 'second');
  memo.delete('k');
  assert.equal(memo.get('k'), undefined);
  // A key only the old generation holds is deleted there too.
  memo.set('z', 'z2');
  memo.set('v', 'v');
  memo.set('u', 'u'); // z2 and v turn old
  memo.delete('v');
  assert.equal(memo.get('v'), undefined);
  memo.clear();
  assert.equal(memo.size, 0);
  assert.equal(memo.get('y'), undefined);
});

test('RecentMemo with a limit of 1 still holds the last entry', () => {
  const memo = new RecentMemo<number, number>(1);
  memo.set(1, 1);
  memo.set(2, 2);
  assert.equal(memo.get(2), 2);
  assert.ok(memo.size <= 2);
});
