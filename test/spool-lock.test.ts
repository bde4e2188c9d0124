// The spool lock (src/xdb/spool-lock.ts): one process at a time on a
// spool, and nothing stale when a holder dies.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE, lockSpool, lockSpoolShared, SpoolBusyError, type SpoolLock } from '../src/xdb/spool-lock.js';

const LOCK_MODULE = fileURLToPath(new URL('../src/xdb/spool-lock.js', import.meta.url));
const tempRoot = (): Promise<string> => mkdtemp(join(tmpdir(), 'yak-lock-'));

/** Pids of the processes whose command line and parent pid pass `match` (from /proc). */
function processes(match: (cmd: string, ppid: number) => boolean): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
      if (match(cmd, ppid)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('a second holder is refused until the first lets go; other spools are not affected', async () => {
  const root = await tempRoot();
  const [a, b] = [join(root, 'a'), join(root, 'b')];
  const first = await lockSpool(a);
  assert.equal(first.held, true);
  await assert.rejects(lockSpool(a), SpoolBusyError);
  const other = await lockSpool(b);
  await first.release();
  const again = await lockSpool(a);
  await again.release();
  await other.release();
  // The lock file stays, empty and the owner's only: it is locked, never read.
  assert.equal(await readFile(join(a, LOCK_FILE), 'utf8'), '');
  assert.equal((await stat(join(a, LOCK_FILE))).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(a), [LOCK_FILE]);
  await rm(root, { recursive: true });
});

test('shared (readers): held beside each other, refused while a writer holds the spool, and never creating anything', async () => {
  const root = await tempRoot();
  const spool = join(root, 'spool');
  // No spool, or no lock file in it: nothing to lock, and nothing made.
  let reader = await lockSpoolShared(spool);
  assert.deepEqual([reader.held, reader.why], [false, `no ${LOCK_FILE} in the spool`]);
  assert.deepEqual(await readdir(root), []);
  await mkdir(spool);
  reader = await lockSpoolShared(spool);
  assert.equal(reader.held, false);
  assert.deepEqual(await readdir(spool), []);

  const writer = await lockSpool(spool);
  await assert.rejects(lockSpoolShared(spool), SpoolBusyError);
  await writer.release();
  const [r1, r2] = [await lockSpoolShared(spool), await lockSpoolShared(spool)];
  assert.deepEqual([r1.held, r2.held], [true, true]);
  await assert.rejects(lockSpool(spool), SpoolBusyError);
  await r1.release();
  await r2.release();
  await (await lockSpool(spool)).release();
  await rm(root, { recursive: true });
});

test('shared: a lock file that goes just before flock runs is not made again (flock is given a descriptor, not the path)', async () => {
  const root = await tempRoot();
  const spool = join(root, 'spool');
  await mkdir(spool);
  await (await lockSpool(spool)).release();
  // A flock that finds the file gone, as a reader racing its removal would.
  const bin = join(root, 'bin');
  await mkdir(bin);
  const realFlock = execFileSync('/bin/sh', ['-c', 'command -v flock'], { encoding: 'utf8' }).trim();
  await writeFile(join(bin, 'flock'), `#!/bin/sh\nrm -f '${join(spool, LOCK_FILE)}'\nexec '${realFlock}' "$@"\n`, { mode: 0o755 });
  const path = process.env.PATH;
  try {
    process.env.PATH = `${bin}:${path}`;
    const reader = await lockSpoolShared(spool);
    assert.equal(reader.held, true);
    await reader.release();
  } finally {
    process.env.PATH = path;
  }
  assert.deepEqual(await readdir(spool), []);
  await rm(root, { recursive: true });
});

test('a lock whose helper is killed says it is lost, and release() still returns', async () => {
  const root = await tempRoot();
  const lock = await lockSpool(root);
  let lost = false;
  void lock.lost.then(() => (lost = true));
  const [flock, ...others] = processes((cmd) => cmd.startsWith('flock ') && cmd.includes(root));
  assert.equal(others.length, 0, `one flock helper for ${root}`);
  // Its cat holds the lock with it; once cat is gone, flock ends too.
  const [cat] = processes((_cmd, ppid) => ppid === flock);
  process.kill(cat!, 'SIGKILL');
  // The helper does not keep a process alive: a timer does, meanwhile.
  await Promise.race([lock.lost, sleep(5000)]);
  assert.equal(lost, true);
  await lock.release();
  const next = await lockSpool(root);
  await next.release();
  await rm(root, { recursive: true });
});

test('takers racing on a fresh spool: exactly one gets it', async () => {
  const root = await tempRoot();
  const results = await Promise.allSettled([lockSpool(root), lockSpool(root), lockSpool(root)]);
  const held = results.filter((r): r is PromiseFulfilledResult<SpoolLock> => r.status === 'fulfilled');
  assert.equal(held.length, 1, JSON.stringify(results.map((r) => r.status)));
  for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof SpoolBusyError, String(r.reason));
  await held[0]!.value.release();
  await rm(root, { recursive: true });
});

test('the lock outlives a SIGTERM to the whole group while its holder shuts down, not the holder itself', async () => {
  const root = await tempRoot();
  // The holder stands for a server: SIGTERM starts its shutdown; a service
  // manager or a terminal sends it to every process of the group.
  const script = `const { lockSpool } = await import(${JSON.stringify(LOCK_MODULE)}); await lockSpool(${JSON.stringify(root)}); process.on('SIGTERM', () => console.log('stopping')); console.log('locked'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const said = (word: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => (d.toString().includes(word) ? resolve() : undefined));
      child.once('exit', (code) => reject(new Error(`the holder exited before saying ${word} (${code})`)));
    });
  try {
    await said('locked');
    await assert.rejects(lockSpool(root), SpoolBusyError);
    const stopping = said('stopping');
    process.kill(-child.pid!, 'SIGTERM');
    await stopping;
    await sleep(100);
    await assert.rejects(lockSpool(root), SpoolBusyError, 'the helper must hold on while its holder is still running');
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  // Killed outright: the helper sees its pipe close and lets go a moment
  // later, within the second a taker waits. Never a leftover to remove.
  const lock = await lockSpool(root);
  assert.equal(lock.held, true);
  await lock.release();
  await rm(root, { recursive: true });
});

test('where flock cannot lock (missing, or a file system without locks) nothing is locked, and why is said', async () => {
  const root = await tempRoot();
  const bin = join(root, 'bin');
  await mkdir(bin);
  const path = process.env.PATH;
  try {
    process.env.PATH = bin; // no flock in there
    const missing = await lockSpool(join(root, 'a'));
    assert.equal(missing.held, false);
    assert.equal(missing.why, 'no flock(1) here');
    await missing.release();
    // What flock says on an NFS mount without a lock daemon.
    await writeFile(join(bin, 'flock'), '#!/bin/sh\necho "flock: $6: No locks available" >&2\nexit 1\n', { mode: 0o755 });
    const unlockable = await lockSpool(join(root, 'b'));
    assert.equal(unlockable.held, false);
    assert.match(unlockable.why ?? '', /^flock failed: flock: .*\.yak-lock: No locks available$/);
  } finally {
    process.env.PATH = path;
  }
  await rm(root, { recursive: true });
});
