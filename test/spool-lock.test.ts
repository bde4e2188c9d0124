// The spool lock (src/xdb/spool-lock.ts): one process at a time on a
// spool, and nothing stale when a holder dies.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCK_ID_FILE, lockSpool, SpoolBusyError } from '../src/xdb/spool-lock.js';

const LOCK_MODULE = fileURLToPath(new URL('../src/xdb/spool-lock.js', import.meta.url));
const tempRoot = (): Promise<string> => mkdtemp(join(tmpdir(), 'yak-lock-'));

test('a second holder is refused until the first lets go; other spools are not affected', async () => {
  const root = await tempRoot();
  const [a, b] = [join(root, 'a'), join(root, 'b')];
  const first = await lockSpool(a);
  await assert.rejects(lockSpool(a), SpoolBusyError);
  const other = await lockSpool(b);
  await first.release();
  const again = await lockSpool(a);
  await again.release();
  await other.release();
  // The id is kept for the next holder, readable by the spool's owner only.
  assert.match(await readFile(join(a, LOCK_ID_FILE), 'utf8'), /^[0-9a-f]{32}\n$/);
  assert.equal((await stat(join(a, LOCK_ID_FILE))).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(a), [LOCK_ID_FILE]);
  await rm(root, { recursive: true });
});

test('two takers racing on a fresh spool: exactly one gets it', async () => {
  const root = await tempRoot();
  const results = await Promise.allSettled([lockSpool(root), lockSpool(root), lockSpool(root)]);
  const held = results.filter((r) => r.status === 'fulfilled');
  assert.equal(held.length, 1, JSON.stringify(results.map((r) => r.status)));
  for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof SpoolBusyError, String(r.reason));
  await (held[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockSpool>>>).value.release();
  // No temp file of the losers is left behind.
  assert.deepEqual(await readdir(root), [LOCK_ID_FILE]);
  await rm(root, { recursive: true });
});

test('a holder killed with SIGKILL leaves nothing stale: the next taker gets the lock at once', async () => {
  const root = await tempRoot();
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `const { lockSpool } = await import(${JSON.stringify(LOCK_MODULE)}); await lockSpool(${JSON.stringify(root)}); console.log('locked'); setInterval(() => {}, 1000);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => (d.toString().includes('locked') ? resolve() : undefined));
      child.once('exit', (code) => reject(new Error(`the holder exited first (${code})`)));
    });
    await assert.rejects(lockSpool(root), SpoolBusyError);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  const lock = await lockSpool(root);
  await lock.release();
  await rm(root, { recursive: true });
});

test('an id file that is not one is reported, not replaced', async () => {
  const root = await tempRoot();
  await writeFile(join(root, LOCK_ID_FILE), 'garbage\n');
  await assert.rejects(lockSpool(root), /\.yak-lock-id does not hold a lock id/);
  assert.equal(await readFile(join(root, LOCK_ID_FILE), 'utf8'), 'garbage\n');
  await rm(root, { recursive: true });
});
