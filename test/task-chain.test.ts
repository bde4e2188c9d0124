// TaskChain (src/c2s/task-chain.ts): a stream's tasks run one at a time in
// the order they came; a stop past its bound (dropWaiting) drops those
// still waiting, except a kept one (a session's end), which runs whenever
// it was queued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TaskChain } from '../src/c2s/task-chain.js';
import type { Connection } from '../src/net/connection.js';
import { latch } from './helpers/latch.js';

/** A chain on a connection that always has room (or, `backedUp`, whose room comes back at once each time it is awaited). */
class Chain extends TaskChain {
  constructor(backedUp = false) {
    super({ backedUp, whenWritable: async () => true, setBacklogged: () => undefined } as unknown as Connection);
  }
  protected chargeBudget(): void {}
  protected taskFailed(err: unknown): void {
    throw err;
  }
  add(task: () => Promise<void>, kept = false): void {
    this.enqueue(task, 0, kept);
  }
}

test('dropWaiting drops the tasks waiting, not the one running, a kept one, or one queued after it', async () => {
  const chain = new Chain();
  const ran: string[] = [];
  const gate = latch();
  chain.add(async () => {
    await gate.promise;
    ran.push('running');
  });
  chain.add(async () => void ran.push('waiting'));
  chain.add(async () => void ran.push('kept (a session end)'), true);
  chain.add(async () => void ran.push('waiting too'));
  chain.dropWaiting();
  chain.add(async () => void ran.push('queued after'));
  gate.open();
  await chain.settled();
  assert.deepEqual(ran, ['running', 'kept (a session end)', 'queued after']);
  assert.equal(chain.busy, false);
});

// Bounded: a settled() that awaited the chain in a loop spun for ever here.
test('settled() resolves once every task is done, one enqueued from inside a running task included', { timeout: 5_000 }, async () => {
  const chain = new Chain();
  const ran: string[] = [];
  const gate = latch();
  chain.add(() => {
    // Enqueued in the first task's synchronous part (as a stream closed by a
    // task queues its session's end): not on the chain that task is on.
    chain.add(async () => {
      await gate.promise;
      ran.push('inner');
    });
    ran.push('outer');
    return Promise.resolve();
  });
  const settled = chain.settled().then(() => ran.push('settled'));
  setTimeout(gate.open, 10);
  await settled;
  assert.deepEqual(ran, ['outer', 'inner', 'settled']);
});

test('a task enqueued from inside the first task of an idle chain starts only after that task ends', { timeout: 5_000 }, async () => {
  const chain = new Chain();
  const ran: string[] = [];
  const gate = latch();
  chain.add(async () => {
    // Queued in this task's synchronous part, as a stream closed by a
    // stanza queues its session's end: it must not start before this ends.
    chain.add(async () => void ran.push('inner'), true);
    ran.push('outer starts');
    await gate.promise;
    ran.push('outer ends');
  });
  setTimeout(gate.open, 10);
  await chain.settled();
  assert.deepEqual(ran, ['outer starts', 'outer ends', 'inner']);
});

test('the waits for room of a live chain cost nothing once over: no bookkeeping stays until the stream closes', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const chain = new Chain(true);
  const heapAfter = async (waits: number): Promise<number> => {
    for (let i = 0; i < waits; i++) chain.add(async () => undefined);
    await chain.settled();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    return process.memoryUsage().heapUsed;
  };
  // A first round warms up (code compiled, the test runner's own reports).
  const before = await heapAfter(20_000);
  // About 550 bytes each were kept (a race against a promise that stayed
  // pending for the stream's life): 22 MB here.
  await heapAfter(20_000);
  const grown = (await heapAfter(20_000)) - before;
  assert.ok(grown < 4_000_000, `40,000 waits for room left ${grown} bytes on the live chain`);
});
