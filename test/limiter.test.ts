// Limiter (src/util/limiter.ts): at most N tasks at a time, in the order they came.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Limiter } from '../src/util/limiter.js';
import { latch, type Latch } from './helpers/latch.js';

test('at most max run at once; the others start in the order they came, as places free up, also after a failure', async () => {
  const limiter = new Limiter(2);
  const gates: Latch[] = Array.from({ length: 5 }, () => latch());
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const runs = gates.map((gate, i) =>
    limiter.run(async () => {
      started.push(i);
      most = Math.max(most, ++running);
      await gate.promise;
      running--;
      if (i === 1) throw new Error('task 1 failed');
      return i;
    }),
  );
  const all = Promise.allSettled(runs);
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  await settle();
  assert.deepEqual(started, [0, 1]);
  gates[1]!.open();
  await settle();
  assert.deepEqual(started, [0, 1, 2], 'a failed task did not give up its place');
  for (const g of gates) g.open();
  const results = await all;
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(most, 2);
  // Free again: the next runs at once.
  assert.equal(await limiter.run(async () => 'again'), 'again');
});
