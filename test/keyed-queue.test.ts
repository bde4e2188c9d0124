import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedQueue } from '../src/util/keyed-queue.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('one key runs its tasks in order, other keys alongside, a failure does not stop the queue', async () => {
  const q = new KeyedQueue();
  const seen: string[] = [];
  const task = (name: string, fail = false) => async (): Promise<string> => {
    seen.push(`${name} start`);
    await tick();
    seen.push(`${name} end`);
    if (fail) throw new Error(name);
    return name;
  };
  const a1 = q.run('a', task('a1', true));
  const a2 = q.run('a', task('a2'));
  const b1 = q.run('b', task('b1'));
  await assert.rejects(a1, /a1/);
  assert.equal(await a2, 'a2');
  assert.equal(await b1, 'b1');
  assert.ok(seen.indexOf('a1 end') < seen.indexOf('a2 start'), seen.join(', '));
  assert.ok(seen.indexOf('b1 start') < seen.indexOf('a1 end'), 'another key does not wait');
  await q.idle();
});

test('a key with nothing queued waits for `first`, and fails with it', async () => {
  const q = new KeyedQueue();
  let release!: () => void;
  const first = new Promise<void>((r) => (release = r));
  let ran = false;
  const done = q.run('k', async () => {
    ran = true;
  }, first);
  await tick();
  assert.equal(ran, false);
  release();
  await done;
  assert.equal(ran, true);
  await assert.rejects(q.run('j', async () => 1, Promise.reject(new Error('not ready'))), /not ready/);
});
