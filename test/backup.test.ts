// jabberctl backup (admin/spool-backup.ts): a copy of the spool as it stood
// at one moment, made by the running server or, without one, by jabberctl
// on the spool itself; a server started on the copy has every account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs, { existsSync, readdirSync, truncateSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseXml } from '../src/xml/parse.js';
import { AdminOps } from '../src/admin/admin-ops.js';
import { backupSpool } from '../src/admin/spool-backup.js';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { NS_AUTH, NS_VCARD } from '../src/xdb/xdb.js';
import { UNFINISHED_BACKUP } from '../src/xdb/unfinished-backup.js';
import { el } from '../src/xml/element.js';
import { BUNDLED_CONFIG, loginUser, registerUser, startYak } from './helpers/yak.js';
import { noKarma } from './helpers/session.js';
import { captureLog, logLine } from './helpers/log-capture.js';
import { withTempDir } from './helpers/temp-dir.js';

const JABBERCTL = fileURLToPath(new URL('../src/cli/jabberctl.js', import.meta.url));

function jabberctl(spool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [JABBERCTL, '-c', BUNDLED_CONFIG, '-s', spool, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Every .xml file under `dir`, parsed: throws on one that is torn. */
async function parseAll(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.xml')) continue;
    const file = path.join(e.parentPath, e.name);
    parseXml(await readFile(file, 'utf8'), { fileName: file });
    n++;
  }
  return n;
}

/** `count` accounts written straight into `spool` (made): enough files for a copy to take a while. */
async function fillSpool(spool: string, count: number): Promise<void> {
  await mkdir(path.join(spool, 'localhost'), { recursive: true, mode: 0o700 });
  for (let i = 0; i < count; i += 250) {
    const batch = Array.from({ length: Math.min(250, count - i) }, (_, j) =>
      writeFile(path.join(spool, 'localhost', `filler${i + j}.xml`), `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>`, { mode: 0o600 }),
    );
    await Promise.all(batch);
  }
}

/** The journal generations in a folder (a finished backup has none: they were replayed into its files). */
async function journalsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('.yak-journal'));
}

function rosterSet(jid: string, name: string): string {
  return `<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${jid}' name='${name}'/></query></iq>`;
}

test('backup through a running server: a copy without the lock or socket, on which a server serves every account', { timeout: 90_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-backup-'));
  const yak = await startYak();
  try {
    await registerUser(yak, 'alice', 'pw-a');
    await registerUser(yak, 'bob', 'pw-b');
    const alice = await loginUser(yak, 'alice', 'pw-a');
    await alice.request(parseXml(rosterSet('bob@localhost', 'Bobby')));
    await alice.close();
    const dest = path.join(dir, 'copy');
    const r = await jabberctl(yak.spool, ['backup', dest]);
    assert.deepEqual([r.code, r.stderr], [0, ''], r.stderr);
    assert.match(r.stdout, new RegExp(`^backed up \\d+ files \\(\\d+ bytes\\) to ${dest.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n$`));
    const names = await readdir(dest);
    for (const own of ['.yak-lock', '.jabberctl.sock']) assert.ok(!names.includes(own), `${own} copied: ${names.join(' ')}`);
    // A second backup into the same, now full, folder is refused.
    const again = await jabberctl(yak.spool, ['backup', dest]);
    assert.deepEqual([again.code, again.stderr], [1, `jabberctl: the backup folder ${dest} is not empty\n`]);
    // Nor inside the spool.
    const inside = await jabberctl(yak.spool, ['backup', path.join(yak.spool, 'b')]);
    assert.equal(inside.code, 1);
    assert.match(inside.stderr, /is inside the spool/);
    assert.equal(existsSync(path.join(yak.spool, 'b')), false);

    const check = await jabberctl(dest, ['check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const restored = await startYak({ spool: dest });
    try {
      const a = await loginUser(restored, 'alice', 'pw-a');
      const roster = await a.request(parseXml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"));
      assert.equal(roster.getChild('query')?.getChild('item')?.attrs.name, 'Bobby');
      await a.close();
      (await loginUser(restored, 'bob', 'pw-b')).socket.destroy();
    } finally {
      await restored.stop();
    }
  } finally {
    await yak.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('backups taken while a large file is rewritten over and over: every copy holds whole files', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-backup-'));
  // Changes as fast as the server takes them: karma would hold the writer back.
  const yak = await startYak({ tweak: noKarma });
  try {
    await registerUser(yak, 'busy', 'pw');
    // A roster of 2,000 items (stored directly: sent, karma would take its time): a file of
    // some 100 KB, rewritten whole by each change.
    const items = Array.from({ length: 2000 }, (_, i) => `<item jid='c${i}@localhost' name='contact number ${i}' subscription='none'/>`).join('');
    await yak.server.xdb.set(yak.host, 'busy', { 'jabber:iq:roster': parseXml(`<query xmlns='jabber:iq:roster'>${items}</query>`) });
    const busy = await loginUser(yak, 'busy', 'pw');
    let writing = true;
    let changes = 0;
    const writer = (async () => {
      // Growing and shrinking by turns: a copy caught between a rewrite's write and its truncate would not parse.
      while (writing) {
        const name = changes % 2 === 0 ? 'x'.repeat(400) : 'y';
        await busy.request(parseXml(rosterSet('c0@localhost', name)));
        changes++;
      }
    })();
    for (let i = 0; i < 8; i++) {
      const dest = path.join(dir, `copy${i}`);
      const r = await jabberctl(yak.spool, ['backup', dest]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await parseAll(dest)) >= 1);
      assert.deepEqual(await journalsIn(dest), []);
    }
    writing = false;
    await writer;
    assert.ok(changes > 8, `only ${changes} changes were made during the backups`);
    await busy.close();
  } finally {
    await yak.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a backup of a serving spool takes in a change a client made, and had acknowledged, while it copied', { timeout: 120_000 }, () =>
  withTempDir('yak-backup-live-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 4000);
    const yak = await startYak({ spool, tweak: noKarma });
    try {
      await registerUser(yak, 'alice', 'pw-a');
      const alice = await loginUser(yak, 'alice', 'pw-a');
      const dest = path.join(dir, 'copy');
      const backup = new AdminOps(yak.server.jsm).backup(dest);
      // Asked once the backup has begun: a copy made in one synchronous pass was over before this was read.
      await alice.request(parseXml(rosterSet('bob@localhost', 'asked during the backup')));
      const report = await backup;
      assert.ok(report.files >= 4001, `${report.files} files copied`);
      assert.deepEqual(await journalsIn(dest), []);
      await alice.close();
      const restored = await startYak({ spool: dest });
      try {
        const a = await loginUser(restored, 'alice', 'pw-a');
        const roster = await a.request(parseXml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"));
        assert.equal(roster.getChild('query')?.getChild('item')?.attrs.name, 'asked during the backup');
        await a.close();
      } finally {
        await restored.stop();
      }
    } finally {
      await yak.stop();
    }
  }));

test('a file changed after it was copied, its journal checkpointed since, comes out of the backup as changed: the journal is kept until the copy has it', { timeout: 120_000 }, () =>
  withTempDir('yak-backup-hold-', async (dir) => {
    const root = path.join(dir, 'spool');
    await fillSpool(root, 4000);
    // Checkpoints as often as they can run: any generation not held goes at once.
    const store = new SpoolStore(root, { checkpointMs: 1 });
    await store.create('localhost', 'aaa', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'pw'), [NS_VCARD]: el('vCard', { xmlns: NS_VCARD }, 'before') });
    await store.flush();
    const dest = path.join(dir, 'copy');
    const backup = backupSpool(root, dest, { hold: () => store.holdJournal() });
    // aaa.xml sorts first: wait until the copy has it, then change it.
    const copied = path.join(dest, 'localhost', 'aaa.xml');
    while (!existsSync(copied)) await new Promise((r) => setImmediate(r));
    await store.set('localhost', 'aaa', { [NS_VCARD]: el('vCard', { xmlns: NS_VCARD }, 'after') });
    // Time for checkpoints to run (and, were the journal not held, to delete the change's generation).
    await new Promise((r) => setTimeout(r, 50));
    await backup;
    assert.deepEqual(await journalsIn(dest), []);
    const copy = new SpoolStore(dest);
    assert.equal((await copy.get('localhost', 'aaa', NS_VCARD))?.text(), 'after');
    await copy.close();
    await store.close();
    // The held generations went at the next checkpoint.
    assert.deepEqual(await journalsIn(root), []);
  }));

test('a folder a backup is filling is refused to another, and so is one inside it or holding it', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-twice-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 500);
    const yak = await startYak({ spool });
    try {
      const ops = new AdminOps(yak.server.jsm);
      const dest = path.join(dir, 'copy');
      const first = ops.backup(dest);
      for (const other of [dest, path.join(dest, 'inner'), dir]) {
        await assert.rejects(ops.backup(other), { message: `a backup into ${dest} is under way` });
      }
      assert.ok((await first).files >= 500);
      assert.equal(await parseAll(dest), 500);
      // Once it is over, the folder is only one that is not empty.
      await assert.rejects(ops.backup(dest), /is not empty/);
    } finally {
      await yak.stop();
    }
  }));

/** Runs `fn` with fs[name], as every ES module imports it, replaced by `replacement` (given the real one). */
async function withFsReplaced<K extends 'writeFileSync' | 'mkdirSync'>(
  name: K,
  replacement: (real: (typeof fs)[K]) => (typeof fs)[K],
  fn: () => Promise<void>,
): Promise<void> {
  const real = fs[name];
  fs[name] = replacement(real);
  syncBuiltinESMExports();
  try {
    await fn();
  } finally {
    fs[name] = real;
    syncBuiltinESMExports();
  }
}

test('another process claiming the folder first: the backup leaves, removing nothing of the other copy', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-claimed-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 3);
    const dest = path.join(dir, 'copy');
    await mkdir(dest);
    const mark = path.join(dest, UNFINISHED_BACKUP);
    const other = path.join(dest, 'localhost', 'other.xml');
    // The other process (another jabberctl) makes its mark in the moment
    // between this one finding the folder empty and making its own.
    const claimedFirst = (real: typeof fs.writeFileSync): typeof fs.writeFileSync => (file, data, opts) => {
      if (file === mark) {
        real(mark, 'the other backup\n');
        fs.mkdirSync(path.dirname(other));
        real(other, '<xdb/>');
      }
      real(file, data, opts);
    };
    await withFsReplaced('writeFileSync', claimedFirst, () =>
      assert.rejects(backupSpool(spool, dest), {
        message: `the backup folder ${dest} is not empty: it holds ${UNFINISHED_BACKUP} (a backup under way into it, or one never finished)`,
      }),
    );
    assert.equal(await readFile(mark, 'utf8'), 'the other backup\n');
    assert.equal(await readFile(other, 'utf8'), '<xdb/>');
  }));

test("a folder inside another backup's unfinished copy (another process filling it) is refused, and nothing is made in it", { timeout: 60_000 }, () =>
  withTempDir('yak-backup-nested-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 3);
    const outer = path.join(dir, 'copy');
    await mkdir(outer);
    await writeFile(path.join(outer, UNFINISHED_BACKUP), 'the other backup\n');
    const inner = path.join(outer, 'localhost');
    await assert.rejects(backupSpool(spool, inner), {
      message: `the backup folder ${inner} is inside ${outer}, a backup copy that is not finished (it holds ${UNFINISHED_BACKUP})`,
    });
    assert.deepEqual(await readdir(outer), [UNFINISHED_BACKUP]);
    // Deeper too, through a folder that is not there yet.
    await assert.rejects(backupSpool(spool, path.join(outer, 'a', 'b')), /a backup copy that is not finished/);
  }));

test('another process making the missing folder at the same moment: it is taken as found, empty, and the backup goes on', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-made-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 3);
    const dest = path.join(dir, 'copy');
    const madeFirst = (real: typeof fs.mkdirSync): typeof fs.mkdirSync =>
      ((p: fs.PathLike, opts?: fs.MakeDirectoryOptions) => {
        if (p === dest && !existsSync(dest)) real(dest);
        return real(p, opts);
      }) as typeof fs.mkdirSync;
    await withFsReplaced('mkdirSync', madeFirst, async () => {
      assert.equal((await backupSpool(spool, dest)).files, 3);
    });
    assert.equal(await parseAll(dest), 3);
  }));

test('files put in the folder as this backup marks it (another process): refused, only its own mark taken away', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-filled-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 3);
    const dest = path.join(dir, 'copy');
    await mkdir(dest);
    const other = path.join(dest, 'other.xml');
    const fillsAfter = (real: typeof fs.writeFileSync): typeof fs.writeFileSync => (file, data, opts) => {
      real(file, data, opts);
      if (file === path.join(dest, UNFINISHED_BACKUP)) real(other, '<xdb/>');
    };
    await withFsReplaced('writeFileSync', fillsAfter, () => assert.rejects(backupSpool(spool, dest), { message: `the backup folder ${dest} is not empty` }));
    assert.deepEqual(await readdir(dest), ['other.xml']);
  }));

test('a backup folder it cannot write its mark in: refused, and the folder it made is taken away', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-unwritable-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 3);
    const dest = path.join(dir, 'copy');
    const readOnly = (real: typeof fs.writeFileSync): typeof fs.writeFileSync => (file, data, opts) => {
      if (file === path.join(dest, UNFINISHED_BACKUP)) throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
      real(file, data, opts);
    };
    await withFsReplaced('writeFileSync', readOnly, () =>
      assert.rejects(backupSpool(spool, dest), { message: `cannot write in the backup folder ${dest}: EROFS: read-only file system` }),
    );
    assert.equal(existsSync(dest), false);
  }));

test('a large file cut short while it is copied: the backup ends, the copy holding what it read (fs.copyFile looped for ever)', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-shrink-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    const big = path.join(spool, 'localhost', 'big.xml');
    for (let round = 0; round < 3; round++) {
      await writeFile(big, Buffer.alloc(32 << 20, 0x20));
      const dest = path.join(dir, `copy${round}`);
      const copied = path.join(dest, 'localhost', 'big.xml');
      let copying = true;
      // Once its copy has begun, the file is cut short (as a rewrite in place that shrinks it would).
      const cutting = (async () => {
        while (copying && !existsSync(copied)) await new Promise((r) => setImmediate(r));
        truncateSync(big, 1024);
      })();
      const report = await backupSpool(spool, dest).finally(() => (copying = false));
      await cutting;
      assert.equal(report.files, 1);
      assert.ok(report.bytes < 32 << 20, 'the file was cut short only after its copy ended');
      assert.equal((await lstat(copied)).size, report.bytes);
    }
  }));

test('a file the spool cannot write (a link in its way) does not stop a backup: its change stays in the copy\'s journal, as in the spool\'s, and the report names it', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-stuck-', async (dir) => {
    const root = path.join(dir, 'spool');
    const first = new SpoolStore(root);
    await first.create('localhost', 'real', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'pw') });
    await first.close();
    await symlink('real.xml', path.join(root, 'localhost', 'alias.xml'));
    const store = new SpoolStore(root);
    await store.set('localhost', 'alias', { [NS_VCARD]: el('vCard', { xmlns: NS_VCARD }, 'kept in the journal') });
    assert.equal(store.unwritable().length, 1);
    const dest = path.join(dir, 'copy');
    const report = await backupSpool(root, dest, { hold: () => store.holdJournal() });
    assert.equal(report.skipped.length, 1);
    assert.match(report.skipped[0]!, /^localhost\/alias\.xml \(its latest content cannot be written in the copy either, .*ELOOP.*: it is kept in the copy's journal, as the spool's keeps it\)$/);
    assert.equal((await journalsIn(dest)).length, 1);
    const copy = new SpoolStore(dest);
    assert.equal((await copy.get('localhost', 'alias', NS_VCARD))?.text(), 'kept in the journal');
    await copy.close().catch(() => undefined);
    await store.close().catch(() => undefined);
  }));

test('the spool\'s generations are let go once the copy has them, before they are written into it; the hold is released at the end', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-free-', async (dir) => {
    const root = path.join(dir, 'spool');
    await fillSpool(root, 50);
    const store = new SpoolStore(root);
    await store.set('localhost', 'filler1', { [NS_VCARD]: el('vCard', { xmlns: NS_VCARD }, 'journaled') });
    const events: string[] = [];
    const dest = path.join(dir, 'copy');
    const copiedJournal = (): boolean => readdirSync(dest).some((n) => n.startsWith('.yak-journal.'));
    await backupSpool(root, dest, {
      hold: () => {
        const h = store.holdJournal();
        return {
          ...h,
          acknowledged: () => (events.push('journal copied'), h.acknowledged()),
          freeJournal: () => (events.push(`journal let go, ${copiedJournal() ? 'not yet' : 'already'} written into the copy`), h.freeJournal()),
          release: () => (events.push('released'), h.release()),
        };
      },
    });
    assert.deepEqual(events, ['journal copied', 'journal let go, not yet written into the copy', 'released']);
    await store.close();
  }));

test('a backup disk that fills while the journal is written into the copy fails the backup, and the copy is removed', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-replay-full-', async (dir) => {
    const spool = path.join(dir, 'spool');
    const disk = path.join(dir, 'disk');
    await fillSpool(spool, 2000);
    await mkdir(disk);
    const here = (file: string): string => JSON.stringify(fileURLToPath(new URL(file, import.meta.url)));
    // In a mount namespace of its own with a small tmpfs for the copy (as the half-way test above):
    // aaa.xml is copied small, then changed (its new content only in the journal), then the disk is
    // filled up to a little more than the journal needs, so that writing the change into the copy fails.
    const script = `
      const { backupSpool } = await import(${here('../src/admin/spool-backup.js')});
      const { SpoolStore } = await import(${here('../src/xdb/spool-store.js')});
      const { el } = await import(${here('../src/xml/element.js')});
      const { existsSync, readdirSync, statfsSync, writeFileSync } = await import('node:fs');
      const [spool, disk] = process.argv.slice(1);
      const store = new SpoolStore(spool);
      await store.create('localhost', 'aaa', { 'jabber:iq:auth': el('password', { xmlns: 'jabber:iq:auth' }, 'pw') });
      await store.flush();
      const dest = disk + '/copy';
      const backup = backupSpool(spool, dest, { hold: () => {
        const h = store.holdJournal();
        return { ...h, acknowledged: () => {
          const { bavail, bsize } = statfsSync(disk);
          writeFileSync(disk + '/filler', Buffer.alloc(Math.max(0, bavail * bsize - (400 << 10))));
          return h.acknowledged();
        } };
      } });
      while (!existsSync(dest + '/localhost/aaa.xml')) await new Promise((r) => setImmediate(r));
      await store.set('localhost', 'aaa', { 'vcard-temp': el('vCard', { xmlns: 'vcard-temp' }, 'x'.repeat(300 << 10)) });
      const out = await backup.then(() => 'copied', (err) => err.message);
      console.log(JSON.stringify([out, readdirSync(disk).join(',')]));
      await store.close();`;
    const run = spawnSync(
      'unshare',
      ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=24m tmpfs "$2" && exec "$3" --input-type=module -e "$4" "$1" "$2"', 'sh', spool, disk, process.execPath, script],
      { encoding: 'utf8', timeout: 40_000 },
    );
    assert.equal(run.status, 0, `unshare (util-linux) must run it: ${run.error?.message ?? run.stderr}`);
    const [out, left] = JSON.parse(run.stdout.trim()) as [string, string];
    // Said by the write into aaa.xml, or by the journal the replay would carry it in: the disk is full either way.
    assert.match(out, /ENOSPC: no space left on device/);
    assert.equal(left, 'filler');
  }));

test('a stop gives up a backup still copying past its bound: its jabberctl is told, and the part copied is marked, so that nothing uses it as a spool', { timeout: 120_000 }, () =>
  withTempDir('yak-backup-stop-', async (dir) => {
    const spool = path.join(dir, 'spool');
    // A copy of 10,000 files outlasts the stop's first bound; the reply to a backup given up needs only the second.
    await fillSpool(spool, 10_000);
    const captured = captureLog();
    const yak = await startYak({ spool, log: captured.log });
    const dest = path.join(dir, 'copy');
    const request = jabberctl(spool, ['backup', dest]);
    try {
      while (!existsSync(path.join(dest, 'localhost'))) await new Promise((r) => setTimeout(r, 1));
      await yak.server.stop(100);
    } finally {
      await yak.stop();
    }
    const r = await request;
    const told = `the server is stopping: the backup was given up; ${dest} holds the part copied, marked unfinished (no server or jabberctl uses it): remove it`;
    assert.deepEqual([r.code, r.stderr], [1, `jabberctl: ${told}\n`]);
    assert.equal((await logLine(captured, (l) => l.msg === 'spool backup failed')).reason, told);
    assert.ok(existsSync(path.join(dest, UNFINISHED_BACKUP)));
    const refusal = `${dest} is a backup copy that was never finished (it holds ${UNFINISHED_BACKUP}): files and changes are missing from it; remove it, and use another backup`;
    await assert.rejects(startYak({ spool: dest }), { message: `<spool>${dest}</spool>: ${refusal}` });
    for (const args of [['check'], ['backup', path.join(dir, 'copy2')]]) {
      const r2 = await jabberctl(dest, args);
      assert.deepEqual([r2.code, r2.stderr], [1, `jabberctl: ${refusal}\n`], args[0]);
    }
    assert.equal(existsSync(path.join(dir, 'copy2')), false);
    // Refused before anything was made in it.
    assert.ok(!(await readdir(dest)).some((n) => n === '.yak-lock' || n === '.jabberctl.sock'));
  }));

test('a backup marks its copy unfinished before the first file, and unmarks it at the end (a crash meanwhile leaves it marked)', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-mark-', async (dir) => {
    const spool = path.join(dir, 'spool');
    await fillSpool(spool, 300);
    const store = new SpoolStore(spool);
    const dest = path.join(dir, 'copy');
    const seen: boolean[] = [];
    const backup = backupSpool(spool, dest, {
      hold: () => {
        // Taken once the mark is made: the copy's first file comes after it.
        seen.push(existsSync(path.join(dest, UNFINISHED_BACKUP)), existsSync(path.join(dest, 'localhost')));
        return store.holdJournal();
      },
    });
    await backup;
    assert.deepEqual(seen, [true, false]);
    assert.equal(existsSync(path.join(dest, UNFINISHED_BACKUP)), false);
    await store.close();
  }));

test('backup without a server: jabberctl copies the spool itself; refusals name the folder', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-', async (dir) => {
    const spool = path.join(dir, 'spool');
    const pw = path.join(dir, 'pw');
    await writeFile(pw, 'secret\n');
    assert.equal((await jabberctl(spool, ['adduser', 'carol@localhost', '--password-file', pw])).code, 0);
    const missing = await jabberctl(path.join(dir, 'nospool'), ['backup', path.join(dir, 'x')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist: nothing to back up/);
    assert.equal(existsSync(path.join(dir, 'nospool')), false);
    await writeFile(path.join(dir, 'afile'), '');
    const onFile = await jabberctl(spool, ['backup', path.join(dir, 'afile')]);
    assert.deepEqual([onFile.code, onFile.stderr], [1, `jabberctl: ${path.join(dir, 'afile')} is not a folder\n`]);
    // An empty folder is taken, and kept if the copy fails (here: it cannot, so it is filled).
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    const r = await jabberctl(spool, ['backup', empty]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readdir(path.join(empty, 'localhost'))).includes('carol.xml'));
    const restored = await startYak({ spool: empty });
    try {
      (await loginUser(restored, 'carol', 'secret')).socket.destroy();
    } finally {
      await restored.stop();
    }
  }));

test('a copy that fails half way (the backup disk full) leaves nothing to be taken for a backup', { timeout: 30_000 }, () =>
  withTempDir('yak-backup-full-', async (dir) => {
    const spool = path.join(dir, 'spool');
    const disk = path.join(dir, 'disk');
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    await mkdir(disk);
    // 320 KiB of files for a 64 KiB disk: several are copied before one fails.
    for (let i = 0; i < 32; i++) await writeFile(path.join(spool, 'localhost', `u${i}.xml`), `<xdb>${'x'.repeat(10_000)}</xdb>\n`);
    const module = fileURLToPath(new URL('../src/admin/spool-backup.js', import.meta.url));
    // In a user and mount namespace of its own (util-linux's unshare), where
    // a small tmpfs can be mounted: into a folder it makes, then into an
    // empty one it is given, which stays (empty).
    const script = `
      const { backupSpool } = await import(${JSON.stringify(module)});
      const { mkdirSync, readdirSync, existsSync } = await import('node:fs');
      const [spool, disk] = process.argv.slice(1);
      const out = [];
      for (const [dest, given] of [[disk + '/new', false], [disk + '/given', true]]) {
        if (given) mkdirSync(dest);
        try { await backupSpool(spool, dest); out.push('copied'); } catch (err) { out.push(err.code); }
        out.push(existsSync(dest) ? 'left:' + readdirSync(dest, { recursive: true }).length : 'removed');
      }
      out.push('disk:' + readdirSync(disk).join(','));
      console.log(out.join(' '));`;
    const run = spawnSync(
      'unshare',
      ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$2" && exec "$3" --input-type=module -e "$4" "$1" "$2"', 'sh', spool, disk, process.execPath, script],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(run.status, 0, `unshare (util-linux) must run it: ${run.error?.message ?? run.stderr}`);
    assert.equal(run.stdout.trim(), 'ENOSPC removed ENOSPC left:0 disk:given');
  }));

test('AdminOps.backup refuses a relative folder (a server resolves nothing against the caller\'s)', async () => {
  const yak = await startYak();
  try {
    await assert.rejects(new AdminOps(yak.server.jsm).backup('relative/copy'), /must be an absolute path/);
  } finally {
    await yak.stop();
  }
});

test('links: a backup folder reached through one into the spool is refused; a host folder on another disk is copied; a link to an empty folder is taken', { timeout: 60_000 }, () =>
  withTempDir('yak-backup-', async (dir) => {
    // The spool's host folder is a link to another place (another disk, say), and the spool is reached through a link too.
    const real = path.join(dir, 'real');
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(path.join(elsewhere, 'localhost'), { recursive: true });
    await mkdir(real);
    await symlink(path.join(elsewhere, 'localhost'), path.join(real, 'localhost'));
    const spool = path.join(dir, 'spoollink');
    await symlink(real, spool);
    const pw = path.join(dir, 'pw');
    await writeFile(pw, 'secret\n');
    assert.equal((await jabberctl(spool, ['adduser', 'dora@localhost', '--password-file', pw])).code, 0);
    // A link to a folder that leads into the spool, and a path into the spool through the spool's link.
    await symlink(real, path.join(dir, 'backups'));
    for (const into of [path.join(dir, 'backups', 'copy'), path.join(real, 'copy')]) {
      const r = await jabberctl(spool, ['backup', into]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /is inside the spool/);
    }
    assert.deepEqual((await readdir(real)).sort(), ['.yak-lock', 'localhost']);
    // A link to an empty folder is as good as the folder.
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    await symlink(empty, path.join(dir, 'emptylink'));
    const r = await jabberctl(spool, ['backup', path.join(dir, 'emptylink')]);
    assert.deepEqual([r.code, r.stderr], [0, ''], r.stderr);
    assert.ok((await readdir(path.join(empty, 'localhost'))).includes('dora.xml'), 'the linked host folder was copied');
    const restored = await startYak({ spool: empty });
    try {
      (await loginUser(restored, 'dora', 'secret')).socket.destroy();
    } finally {
      await restored.stop();
    }
  }));

test('links inside the spool are made again in the copy, leading to the same places there; a failed backup is logged', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-backup-'));
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, spool: path.join(dir, 'spool') });
  try {
    // h0..h4, each holding a file and links to the four others: followed, that was 325 files, and
    // extra/h1 itself was left out as copied already (under extra/h0/to1).
    const extra = path.join(yak.spool, 'extra');
    for (let i = 0; i < 5; i++) {
      await mkdir(path.join(extra, `h${i}`), { recursive: true });
      await writeFile(path.join(extra, `h${i}`, 'u.xml'), '<xdb/>');
    }
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) if (i !== j) await symlink(`../h${j}`, path.join(extra, `h${i}`, `to${j}`));
    await symlink('..', path.join(extra, 'h0', 'up'));
    // A folder outside the spool, reached two ways and linking to itself: copied once, the rest made links.
    const out = path.join(dir, 'out');
    await mkdir(out);
    await writeFile(path.join(out, 'u.xml'), '<xdb/>');
    await symlink('.', path.join(out, 'self'));
    await symlink(out, path.join(extra, 'o1'));
    await symlink(out, path.join(extra, 'o2'));
    // A link out to a folder that holds the spool (and the backup folder): the spool in it is not copied a second time.
    await symlink(dir, path.join(extra, 'parent'));
    const ops = new AdminOps(yak.server.jsm);
    const report = await ops.backup(path.join(dir, 'copy'));
    // (Not readdir's recursive walk: it follows the links, round and round.)
    for (let i = 0; i < 5; i++) {
      const folder = path.join(dir, 'copy', 'extra', `h${i}`);
      assert.ok((await lstat(folder)).isDirectory(), folder);
      assert.ok((await lstat(path.join(folder, 'u.xml'))).isFile(), folder);
    }
    assert.deepEqual(report.skipped, ['extra/parent/copy (the backup folder itself, or inside it)']);
    assert.equal(await readlink(path.join(dir, 'copy', 'extra', 'h0', 'to1')), '../h1');
    assert.equal(await readlink(path.join(dir, 'copy', 'extra', 'h0', 'up')), '..');
    assert.ok((await lstat(path.join(dir, 'copy', 'extra', 'o1', 'u.xml'))).isFile());
    assert.equal(await readlink(path.join(dir, 'copy', 'extra', 'o2')), 'o1');
    assert.equal(await readlink(path.join(dir, 'copy', 'extra', 'o1', 'self')), '.');
    assert.equal(await readlink(path.join(dir, 'copy', 'extra', 'parent', 'spool')), '../..');
    assert.equal(await readlink(path.join(dir, 'copy', 'extra', 'parent', 'out')), '../o1');
    await assert.rejects(ops.backup(path.join(dir, 'copy')), /is not empty/);
    const line = await logLine(captured, (l) => l.msg === 'spool backup failed');
    assert.equal(line.dest, path.join(dir, 'copy'));
    assert.match(String(line.reason), /is not empty/);
  } finally {
    await yak.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
