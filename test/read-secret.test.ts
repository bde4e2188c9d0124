// The password prompt's line editing and the first-line reading of a
// password file or pipe (src/cli/read-secret.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FirstLine, firstLineOf, NotUtf8Error, TooLongError, typed } from '../src/cli/read-secret.js';

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

test('the first line is read no further than the longest password takes, whatever follows', () => {
  // Endless input without a line end: done after a few chunks, too long.
  const endless = new FirstLine(1023, 'f');
  let chunks = 0;
  while (!endless.add(Buffer.alloc(1000, 0x78))) assert.ok(++chunks < 10, 'still reading');
  assert.throws(() => endless.text(), (err: unknown) => err instanceof TooLongError && err.message === 'the password is longer than 1023 characters');
  // The longest there is, in its widest form: a BOM, 1023 three-byte characters, CRLF.
  const widest = new FirstLine(1023, 'f');
  assert.equal(widest.add(Buffer.from(`\uFEFF${'\u20ac'.repeat(1023)}\r`)), false);
  assert.equal(widest.add(Buffer.from('\nmore')), true);
  assert.equal(widest.text(), '\u20ac'.repeat(1023));
  // One character more, or one more pair of UTF-16 units, is refused.
  for (const line of ['\u20ac'.repeat(1024), `${'x'.repeat(1022)}\u{1F600}`]) {
    const over = new FirstLine(1023, 'f');
    over.add(Buffer.from(`${line}\n`));
    assert.throws(() => over.text(), TooLongError);
  }
  // What follows the line end is not kept, nor the line end itself.
  const short = new FirstLine(1023, 'f');
  assert.equal(short.add(Buffer.from('pw\r\n' + 'y'.repeat(100_000))), true);
  assert.equal(short.text(), 'pw');
});
