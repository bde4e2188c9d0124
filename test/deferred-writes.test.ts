// DeferredWrites (src/xdb/deferred-writes.ts): held changes written in
// rounds; what it says when rounds fail (a full disk) and when they work again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeferredWrites } from '../src/xdb/deferred-writes.js';
import type { Journal } from '../src/xdb/journal.js';
import { DeferredChangesLostError } from '../src/xdb/xdb.js';
import type { UserDoc } from '../src/xdb/user-doc.js';
import type { UserFile } from '../src/xdb/user-files.js';
import { captureLog } from './helpers/log-capture.js';

test('failing rounds are said once, then once a minute with how many rounds; a round that works again says so; what failed is kept and written then; a new spell is said in full', async () => {
  const captured = captureLog();
  let full = true;
  const written: string[] = [];
  const deferred = new DeferredWrites(
    captured.log,
    { closed: false } as Journal,
    (_f, fn) => fn(),
    async (f) => {
      if (full) throw new Error('ENOSPC: no space left on device, write');
      written.push(f.path);
    },
  );
  for (let i = 0; i < 40; i++) deferred.hold({ path: `/spool/localhost/u${i}.xml` } as UserFile, {} as UserDoc);
  const realNow = performance.now.bind(performance);
  let shift = 0;
  performance.now = () => realNow() + shift;
  const errors = (): Record<string, unknown>[] => captured.lines.filter((l) => l.level === 50);
  try {
    for (let round = 0; round < 15; round++) await deferred.writeAll();
    assert.equal(errors().length, 1, 'a line per round, or per file');
    assert.deepEqual([errors()[0]!.msg, errors()[0]!.files], ['deferred spool writes (such as logout times) failed; retried every 2 s, said again once a minute while they fail', 40]);
    shift = 61_000;
    await deferred.writeAll();
    await deferred.writeAll();
    assert.equal(errors().length, 2);
    assert.deepEqual([errors()[1]!.msg, errors()[1]!.files, errors()[1]!.rounds], ['deferred spool writes still failing', 40, 16]);
    full = false;
    await deferred.writeAll();
    assert.equal(written.length, 40, 'what failed was not kept for the next round');
    assert.ok(captured.lines.some((l) => l.level === 30 && l.msg === 'deferred spool writes written again' && l.rounds === 17));
    // A new spell, within the minute: said in full again.
    full = true;
    deferred.hold({ path: '/spool/localhost/u0.xml' } as UserFile, {} as UserDoc);
    await deferred.writeAll();
    assert.equal(errors().length, 3);
    assert.equal(errors()[2]!.msg, 'deferred spool writes (such as logout times) failed; retried every 2 s, said again once a minute while they fail');
  } finally {
    performance.now = realNow;
    deferred.stop();
  }
});

test('a failed round arms the next by itself: once the disk takes writes again they are written within the 2 s, with no other change to start it', async () => {
  let full = true;
  const written: string[] = [];
  const deferred = new DeferredWrites(
    captureLog().log,
    { closed: false } as Journal,
    (_f, fn) => fn(),
    async (f) => {
      if (full) throw new Error('ENOSPC: no space left on device, write');
      written.push(f.path);
    },
  );
  try {
    deferred.hold({ path: '/spool/localhost/u.xml' } as UserFile, {} as UserDoc);
    await deferred.writeAll();
    assert.deepEqual(written, []);
    full = false;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.deepEqual(written, ['/spool/localhost/u.xml'], 'no retry was armed');
  } finally {
    deferred.stop();
  }
});

test('a refused write that a durable write took along since counts as no failure at the stop, held again or not; and no "written again" for a round with nothing to write', async () => {
  const captured = captureLog();
  const deferred = new DeferredWrites(
    captured.log,
    { closed: false } as Journal,
    (_f, fn) => fn(),
    async () => {
      throw new Error('ENOSPC: no space left on device, write');
    },
  );
  const f = { path: '/spool/localhost/u.xml' } as UserFile;
  deferred.hold(f, {} as UserDoc);
  await deferred.writeAll();
  // A durable change of the user took the held one along (SpoolStore.commit does this).
  deferred.delete(f.path);
  await deferred.writeAll();
  assert.ok(!captured.lines.some((l) => l.msg === 'deferred spool writes written again'), 'a round that wrote nothing said it wrote');
  // Held again after the last write: late, not refused.
  deferred.hold(f, {} as UserDoc);
  assert.equal(deferred.stop(), 0);
  assert.ok(captured.lines.some((l) => l.level === 40 && String(l.msg).includes("came after the stop's last write")));
});

test('the lost-changes error says how many users, singular or plural, and the unwritten files when there are some', () => {
  assert.equal(new DeferredChangesLostError(1).message, 'the deferred changes (logout times, renewed 0k chains) of 1 user could not be written before the stop and are lost');
  const both = new DeferredChangesLostError(3, new Error('ENOSPC: no space left on device, write'));
  assert.equal(
    both.message,
    'the deferred changes (logout times, renewed 0k chains) of 3 users could not be written before the stop and are lost; spool files not all written either (ENOSPC: no space left on device, write): the journal keeps those changes and the next start replays them',
  );
  assert.equal((both.cause as Error).message, 'ENOSPC: no space left on device, write');
});
