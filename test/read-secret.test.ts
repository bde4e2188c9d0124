// The password prompt's line editing and the first-line reading of a
// password file or pipe (src/cli/read-secret.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstLineOf, NotUtf8Error, typed } from '../src/cli/read-secret.js';

test('typing: Enter, ^D and ^C end the line; Backspace and DEL remove one whole character', () => {
  assert.deepEqual(typed('', 'abc\r'), { secret: 'abc', end: 'enter' });
  assert.deepEqual(typed('', 'abc\n'), { secret: 'abc', end: 'enter' });
  assert.deepEqual(typed('ab', '\u0004'), { secret: 'ab', end: 'enter' });
  assert.deepEqual(typed('ab', 'c\u0003d'), { secret: 'abc', end: 'interrupt' });
  assert.deepEqual(typed('', 'abc\u007f\bd'), { secret: 'ad' });
  // An emoji is two UTF-16 units: one Backspace takes both, never half.
  assert.deepEqual(typed('', 'a\u{1F600}\u007f'), { secret: 'a' });
  assert.deepEqual(typed('', '\u007f\u007fx'), { secret: 'x' });
});

test('first line of a file or pipe: UTF-8 only, a byte-order mark dropped, CRLF or LF', () => {
  assert.equal(firstLineOf(Buffer.from('\uFEFFsecret\r\nmore\n'), 'f'), 'secret');
  assert.equal(firstLineOf(Buffer.from('s\u00e9cret'), 'f'), 's\u00e9cret');
  assert.equal(firstLineOf(Buffer.from(''), 'f'), '');
  assert.throws(() => firstLineOf(Buffer.from([0xff, 0x73]), 'standard input'), (err: unknown) => {
    assert.ok(err instanceof NotUtf8Error);
    assert.equal(err.message, 'standard input is not UTF-8 text');
    return true;
  });
});
