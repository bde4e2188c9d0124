// heapShare (src/util/heap-share.ts): a fixed bound, or a share of the heap when less.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heapLimit, heapShare } from '../src/util/heap-share.js';

test('the bound as given on a large heap, the share of a small one, whole bytes', () => {
  const MiB = 1024 * 1024;
  assert.equal(heapShare(384 * MiB, 1 / 8, 4144 * MiB), 384 * MiB);
  assert.equal(heapShare(384 * MiB, 1 / 8, 112 * MiB), 14 * MiB);
  assert.equal(heapShare(100, 1 / 3, 1000), 100);
  assert.equal(heapShare(1000, 1 / 3, 1000), 333);
  // This process's own heap when none is given.
  assert.equal(heapShare(Number.MAX_SAFE_INTEGER, 1), heapLimit());
});
