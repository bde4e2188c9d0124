// The journal against a model, through files that cannot be written and
// crashes: random writes and deletions of a few files, files that refuse
// every write for a while, writes landing while a carried generation's
// fdatasync is held, carried generations that cannot be written (the
// write, fdatasync or rename of `.carry` fails), then a crash (what no
// fdatasync made durable is torn) and a replay. Every file must come back
// as last acknowledged. It found that a change written during a carry could
// come back older (fixed with UnwrittenFiles' `next`).
//
// node:fs is patched before journal.ts is loaded (file-writes.ts binds
// fdatasync when it is first evaluated), so its modules are imported below.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const SEEDS = Number(process.env.YAK_CARRY_SEEDS ?? 40);
const ROUNDS = 40;

const pathOf = (fd: number): string => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
};
const injected = (code: string, what: string): Error => Object.assign(new Error(`${code}: injected, ${what}`), { code });

/** Spool paths whose writes and unlinks fail, as for a file root owns. */
const stuck = new Set<string>();
/** path -> the content an fdatasync made durable. */
const durable = new Map<string, string>();
/** The next `.carry` fdatasync waits for `released`. */
let hold: { reached: () => void; released: Promise<void> } | undefined;
/** The next carried generation fails at this step. */
let failCarry: 'rename' | 'write' | 'sync' | undefined;

const realFdatasync = fs.fdatasync;
const realOpen = fs.openSync;
const realUnlink = fs.unlinkSync;
const realRename = fs.renameSync;
const realWrite = fs.writeSync;
fs.fdatasync = ((fd: number, cb: fs.NoParamCallback) => {
  const p = pathOf(fd);
  let snap: string | undefined;
  try {
    snap = fs.readFileSync(p, 'utf8');
  } catch {
    snap = undefined;
  }
  const done: fs.NoParamCallback = (err) => {
    if (!err && snap !== undefined) durable.set(p, snap);
    cb(err);
  };
  if (p.endsWith('.carry') && failCarry === 'sync') {
    failCarry = undefined;
    setImmediate(() => cb(injected('EIO', 'fdatasync')));
    return;
  }
  const held = p.endsWith('.carry') ? hold : undefined;
  if (held) {
    hold = undefined;
    held.reached();
    void held.released.then(() => realFdatasync(fd, done));
    return;
  }
  realFdatasync(fd, done);
}) as typeof fs.fdatasync;
fs.openSync = ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
  if (typeof p === 'string' && stuck.has(p) && typeof flags === 'number' && flags & fs.constants.O_CREAT) throw injected('EACCES', `open '${p}'`);
  return realOpen(p, flags ?? "r", mode);
}) as typeof fs.openSync;
fs.unlinkSync = ((p: fs.PathLike) => {
  if (typeof p === 'string' && stuck.has(p)) throw injected('EACCES', `unlink '${p}'`);
  return realUnlink(p);
}) as typeof fs.unlinkSync;
fs.renameSync = ((a: fs.PathLike, b: fs.PathLike) => {
  if (String(a).endsWith('.carry') && failCarry === 'rename') {
    failCarry = undefined;
    throw injected('EIO', 'rename');
  }
  return realRename(a, b);
}) as typeof fs.renameSync;
fs.writeSync = ((fd: number, ...rest: unknown[]) => {
  if (failCarry === 'write' && pathOf(fd).endsWith('.carry')) {
    failCarry = undefined;
    throw injected('ENOSPC', 'write');
  }
  return (realWrite as (fd: number, ...args: unknown[]) => number)(fd, ...rest);
}) as typeof fs.writeSync;
syncBuiltinESMExports();

const { Journal } = await import('../src/xdb/journal.js');
const { silentLogger } = await import('../src/log.js');

/** One seed's run; returns what came back wrong (empty: nothing). */
async function run(seed: number): Promise<string[]> {
  let rs = seed >>> 0 || 1;
  const rnd = (): number => {
    rs ^= rs << 13;
    rs >>>= 0;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    rs >>>= 0;
    return rs / 2 ** 32;
  };
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  stuck.clear();
  durable.clear();
  hold = undefined;
  failCarry = undefined;
  const root = await mkdtemp(join(tmpdir(), 'yak-carry-'));
  const dir = join(root, 'localhost');
  await mkdir(dir);
  const names = ['a.xml', 'b.xml', 'c.xml', 'd.xml', 'e.xml'];
  const target = (f: string) => ({ path: join(dir, f), dir, rel: `localhost/${f}` });
  /** path -> last acknowledged content (null: deleted). */
  const model = new Map<string, string | null>();
  let version = 0;
  const opts = { log: silentLogger, durable: true, checkpointMs: 3_600_000, syncFs: false as const };
  const j = new Journal(root, opts);
  await j.open();
  const someOps = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if (rnd() < 0.3) {
        const p = join(dir, pick(names));
        if (stuck.has(p)) stuck.delete(p);
        else stuck.add(p);
        continue;
      }
      const t = target(pick(names));
      const data = rnd() < 0.2 ? null : `<v>${t.rel}-${++version}</v>`;
      await j.write(t, data);
      model.set(t.path, data);
    }
  };
  let crashed = false;
  const leftBehind: string[] = [];
  for (let round = 0; round < ROUNDS && !crashed; round++) {
    await someOps(1 + Math.floor(rnd() * 4));
    if (rnd() < 0.15) failCarry = pick(['rename', 'write', 'sync'] as const);
    let held: { reached: Promise<void>; release: () => void } | undefined;
    if (rnd() < 0.6) {
      let reached!: () => void;
      let release!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      hold = { reached, released: new Promise<void>((r) => (release = r)) };
      held = { reached: reachedP, release };
    }
    const checkpoint = j.checkpoint().catch(() => undefined);
    if (held) {
      const which = await Promise.race([held.reached.then(() => 'held'), checkpoint.then(() => 'done')]);
      if (which === 'held') {
        await someOps(1 + Math.floor(rnd() * 4));
        // A crash while the carried generation is on its way to disk.
        if (rnd() < 0.1) crashed = true;
        else held.release();
      } else {
        hold = undefined;
      }
    }
    if (!crashed) {
      await checkpoint;
      // A carried generation that failed leaves no part of itself behind
      // (on a full disk it would hold space until the next start).
      const parts = (await readdir(root)).filter((f) => f.endsWith('.carry'));
      if (parts.length > 0) leftBehind.push(`seed ${seed}: ${parts.join(', ')} left after a checkpoint`);
    }
    failCarry = undefined;
  }
  // The crash: the journal does nothing more; what no fdatasync made durable is torn.
  await j.close().catch(() => undefined);
  hold = undefined;
  stuck.clear();
  for (const f of await readdir(dir)) {
    const p = join(dir, f);
    if (durable.get(p) !== fs.readFileSync(p, 'utf8')) fs.writeFileSync(p, 'torn');
  }
  const again = new Journal(root, opts);
  await again.open();
  const wrong: string[] = [...leftBehind];
  for (const f of names) {
    const p = join(dir, f);
    let now: string | null = null;
    try {
      now = fs.readFileSync(p, 'utf8');
    } catch {
      now = null;
    }
    const want = model.get(p) ?? null;
    if (now !== want) wrong.push(`seed ${seed}: ${f} came back as ${JSON.stringify(now)}, acknowledged ${JSON.stringify(want)}`);
  }
  await again.close();
  await rm(root, { recursive: true });
  return wrong;
}

test(`${SEEDS} random runs through stuck files, carries held and failing, and a crash: every file comes back as acknowledged`, async () => {
  const wrong: string[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) wrong.push(...(await run(seed)));
  assert.deepEqual(wrong, []);
});
