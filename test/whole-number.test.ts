import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wholeNumber } from '../src/util/whole-number.js';

test('whole numbers, signed or not, white space around ignored; anything else undefined', () => {
  assert.equal(wholeNumber('5'), 5);
  assert.equal(wholeNumber(' -12 '), -12);
  assert.equal(wholeNumber('+7'), 7);
  assert.equal(wholeNumber('007'), 7);
  assert.equal(wholeNumber('9'.repeat(400)), Infinity);
  for (const bad of [undefined, '', ' ', 'high', '1.5', '0x10', '1e3', '- 1', '1 2', '٣']) assert.equal(wholeNumber(bad), undefined, String(bad));
});
