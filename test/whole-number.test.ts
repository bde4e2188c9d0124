import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storedCount, wholeNumber } from '../src/util/whole-number.js';

test('whole numbers, signed or not, white space around ignored; anything else undefined', () => {
  assert.equal(wholeNumber('5'), 5);
  assert.equal(wholeNumber(' -12 '), -12);
  assert.equal(wholeNumber('+7'), 7);
  assert.equal(wholeNumber('007'), 7);
  assert.equal(wholeNumber('9'.repeat(400)), Infinity);
  for (const bad of [undefined, '', ' ', 'high', '1.5', '0x10', '1e3', '- 1', '1 2', '٣']) assert.equal(wholeNumber(bad), undefined, String(bad));
});

test('counts kept in a spool file: digits only, white space around ignored, exact; anything else undefined', () => {
  assert.equal(storedCount('1000000000'), 1_000_000_000);
  assert.equal(storedCount(' 12 '), 12);
  assert.equal(storedCount('0'), 0);
  assert.equal(storedCount(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  for (const bad of [undefined, '', ' ', '-5', '+5', '1.5', '0x10', '1e9', 'abc', '9007199254740993', '9'.repeat(400), '٣']) {
    assert.equal(storedCount(bad), undefined, String(bad));
  }
});
