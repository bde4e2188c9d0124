// eachLimited (src/util/each-limited.ts): bounded lanes over many items.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eachLimited } from '../src/util/each-limited.js';

/** A call that ends when the test says so. */
function gate(): { promise: Promise<void>; open: () => void; fail: (err: Error) => void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('eachLimited runs every item, never more than `width` at once, taking them in order', async () => {
  const started: number[] = [];
  let running = 0;
  let most = 0;
  await eachLimited([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3, async (n) => {
    started.push(n);
    most = Math.max(most, ++running);
    for (let i = 0; i < n % 3; i++) await turn();
    running--;
  });
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(most, 3);
});

test('eachLimited: after a failure no item is started, and the failure is thrown only once the running calls are over', async () => {
  const gates = new Map<number, ReturnType<typeof gate>>();
  const started: number[] = [];
  const over: number[] = [];
  const run = eachLimited([0, 1, 2, 3, 4], 2, async (n) => {
    started.push(n);
    const g = gate();
    gates.set(n, g);
    await g.promise.finally(() => over.push(n));
  });
  let settled = false;
  const outcome = run.then(
    () => 'resolved',
    (err: Error) => err.message,
  ).finally(() => (settled = true));
  await turn();
  assert.deepEqual(started, [0, 1]);
  gates.get(0)!.fail(new Error('disk full'));
  await turn();
  // Item 1 still runs: the caller must not hear of the failure yet, and nothing new starts.
  assert.deepEqual(started, [0, 1]);
  assert.equal(settled, false, 'the failure was thrown while a call still ran');
  gates.get(1)!.open();
  assert.equal(await outcome, 'disk full');
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual(over, [0, 1]);
});

test('eachLimited: the first failure is the one thrown', async () => {
  const gates = [gate(), gate()];
  const run = assert.rejects(eachLimited([0, 1], 2, (n) => gates[n]!.promise), /second lane first/);
  await turn();
  gates[1]!.fail(new Error('second lane first'));
  await turn();
  gates[0]!.fail(new Error('first lane later'));
  await run;
});
