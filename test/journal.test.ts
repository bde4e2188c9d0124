// The spool journal (src/xdb/journal.ts): group commit, checkpoints, and
// the replay that repairs what a crash left. Crash states are built by hand
// here, entry by entry; test/spool-crash.test.ts kills a real writer.
// First: it patches fdatasync before file-writes.ts (which journal.ts imports) binds it.
import { holdDatasync, recordSyncs, stopRecording } from './helpers/sync-spy.js';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../src/log.js';
import { Journal, type JournalOptions } from '../src/xdb/journal.js';
import { UnwrittenFilesError } from '../src/xdb/unwritten-files.js';
import { encodeEntry } from '../src/xdb/journal-entry.js';
import { CARRY_SUFFIX } from '../src/xdb/generation-file.js';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { backupSpool } from '../src/admin/spool-backup.js';
import { replayJournal } from '../src/xdb/journal-replay.js';
import { FileSetSync } from '../src/xdb/file-set-sync.js';
import { NS_AUTH, NS_LAST, SpoolClosedError } from '../src/xdb/xdb.js';
import { el } from '../src/xml/element.js';

const tempRoot = (): Promise<string> => mkdtemp(join(tmpdir(), 'yak-journal-'));
const journal = (root: string): Journal => new Journal(root, { log: silentLogger, durable: true });
const doc = (text: string): string => `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>${text}</password></xdb>`;
/** A temporary spool with its localhost folder, and a journal target for a file in it. */
async function hostSpool(): Promise<{ root: string; dir: string; target: (file: string) => { path: string; dir: string; rel: string } }> {
  const root = await tempRoot();
  const dir = join(root, 'localhost');
  await mkdir(dir);
  return { root, dir, target: (file) => ({ path: join(dir, file), dir, rel: `localhost/${file}` }) };
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

test('changes arriving together share one fdatasync; a checkpoint leaves only the files', async () => {
  const root = await tempRoot();
  const store = new SpoolStore(root);
  const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
  await Promise.all(users.map((u) => store.create('localhost', u, { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, u) })));
  assert.ok(store.journalCommits >= 1, 'the changes went through the journal');
  assert.ok(store.journalCommits < users.length / 2, `${store.journalCommits} journal commits for ${users.length} changes`);
  // Acknowledged means written, too: the files are there before any checkpoint.
  assert.equal(await readFile(join(root, 'localhost', 'u7.xml'), 'utf8'), doc('u7'));
  assert.ok((await listing(root)).includes('.yak-journal.1'));
  await store.flush();
  assert.deepEqual(await listing(root), ['localhost']);
  assert.equal((await listing(join(root, 'localhost'))).length, users.length);
  await rm(root, { recursive: true });
});

test('a change reaching an idle journal goes out at once; one arriving during an append waits a moment for company', async (t) => {
  const root = await tempRoot();
  const dir = join(root, 'localhost');
  await mkdir(dir);
  const j = journal(root);
  await j.open();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const target = (file: string) => ({ path: join(dir, file), dir, rel: `localhost/${file}` });
  const journaled = async (): Promise<string> => readFile(join(root, '.yak-journal.1'), 'utf8');

  // Idle: no timer stands between the change and the disk (the mocked clock never moves here).
  await j.write(target('a.xml'), doc('a1'));
  assert.equal(j.commits, 1);

  // a2 starts an append; b arrives while it is on its way and must wait for the gather timer.
  const a2 = j.write(target('a.xml'), doc('a2'));
  let bDone = false;
  const b = j.write(target('b.xml'), doc('b')).then(() => (bDone = true));
  await a2;
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  assert.equal(bDone, false);
  assert.equal(j.commits, 2);
  assert.ok(!(await journaled()).includes('localhost/b.xml'), 'b was appended before the gather timer fired');

  t.mock.timers.tick(3);
  await b;
  assert.equal(j.commits, 3);
  assert.ok((await journaled()).includes('localhost/b.xml'));
  assert.equal(await readFile(join(dir, 'b.xml'), 'utf8'), doc('b'));
  t.mock.timers.reset();
  await j.checkpoint();
  await j.close();
  await rm(root, { recursive: true });
});

test('a change is acknowledged only once fdatasync has its entry, in a generation whose name was synced into the folder first', async () => {
  const root = await realpath(await tempRoot());
  const dir = join(root, 'localhost');
  await mkdir(dir);
  const j = journal(root);
  await j.open();
  const gen = join(root, '.yak-journal.1');
  const file = join(dir, 'a.xml');
  const events = await recordSyncs();
  try {
    await j.write({ path: file, dir, rel: 'localhost/a.xml' }, doc('a'));
    const atAck = [...events];
    const named = atAck.indexOf(`dirsync ${root}`);
    const synced = atAck.indexOf(`datasync ${gen}`);
    assert.ok(named >= 0 && synced > named, `at the acknowledgement: ${JSON.stringify(atAck)}`);

    // The checkpoint (file by file here): the file and its folder on disk,
    // the generation's name removed, and that removal made durable before
    // a newer generation could go.
    events.length = 0;
    const cp = new Journal(root, { log: silentLogger, durable: true, syncFs: false });
    await cp.open();
    await cp.write({ path: file, dir, rel: 'localhost/a.xml' }, doc('b'));
    const cpGen = join(root, '.yak-journal.2');
    events.length = 0;
    await cp.checkpoint();
    const order = [`datasync ${file}`, `dirsync ${dir}`, `dirsync ${root}`, `unlink ${cpGen}`, `dirsync ${root}`];
    let at = -1;
    for (const e of order) {
      at = events.indexOf(e, at + 1);
      assert.ok(at >= 0, `${e} missing or out of order in ${JSON.stringify(events)}`);
    }
    await cp.close();
  } finally {
    stopRecording();
  }
  await j.checkpoint();
  await j.close();
  await rm(root, { recursive: true });
});

test('a file is rewritten in place, keeping its inode, and shrinks when its content does', async () => {
  const root = await tempRoot();
  const store = new SpoolStore(root);
  const file = join(root, 'localhost', 'dj.xml');
  await store.create('localhost', 'dj', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'x'.repeat(5000)) });
  const { ino } = await stat(file);
  await store.set('localhost', 'dj', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'short') });
  assert.equal((await stat(file)).ino, ino);
  assert.equal(await readFile(file, 'utf8'), doc('short'));
  await store.flush();
  await rm(root, { recursive: true });
});

test('replay: the latest content of each file wins, deletions are done, a torn tail is ignored', async () => {
  const root = await tempRoot();
  const host = join(root, 'localhost');
  await mkdir(host);
  // What a crash may leave: a torn rewrite, a file never created, a file whose deletion was journaled.
  await writeFile(join(host, 'a.xml'), "<xdb><password xmlns='jab");
  await writeFile(join(host, 'c.xml'), doc('c'));
  await writeFile(join(host, 'keep.xml'), doc('keep'));
  await writeFile(
    join(root, '.yak-journal.3'),
    Buffer.concat([encodeEntry('localhost/a.xml', doc('a1')), encodeEntry('localhost/b.xml', doc('b')), encodeEntry('localhost/c.xml', null)]),
  );
  const torn = encodeEntry('localhost/b.xml', doc('never acknowledged'));
  await writeFile(
    join(root, '.yak-journal.4'),
    Buffer.concat([encodeEntry('localhost/a.xml', doc('a2')), torn.subarray(0, torn.length - 9)]),
  );

  const j = journal(root);
  const report = await j.open();
  assert.equal(report.generations, 2);
  assert.equal(report.tornBytes, torn.length - 9);
  assert.deepEqual(report.files.sort(), ['a.xml', 'b.xml', 'c.xml'].map((f) => join(host, f)));
  assert.equal(await readFile(join(host, 'a.xml'), 'utf8'), doc('a2'));
  assert.equal(await readFile(join(host, 'b.xml'), 'utf8'), doc('b'));
  assert.equal(await readFile(join(host, 'keep.xml'), 'utf8'), doc('keep'));
  assert.deepEqual(await listing(host), ['a.xml', 'b.xml', 'keep.xml']);
  assert.deepEqual(await listing(root), ['localhost']);

  // New entries go to a generation after the replayed ones, never mixing with them.
  await j.write({ path: join(host, 'd.xml'), dir: host, rel: 'localhost/d.xml' }, doc('d'));
  assert.deepEqual(await listing(root), ['.yak-journal.5', 'localhost']);
  await j.checkpoint();
  assert.deepEqual(await listing(root), ['localhost']);
  await rm(root, { recursive: true });
});

test('replay makes its files durable like a checkpoint: one syncfs where the machine has it, else file by file', async () => {
  const linux = { platform: 'linux', release: '6.1.0' } as const;
  for (const [syncFs, expected] of [[linux, 'syncfs'], [false, 'fdatasync']] as const) {
    const root = await tempRoot();
    await mkdir(join(root, 'localhost'));
    await writeFile(join(root, 'localhost', 'a.xml'), "<xdb><password xmlns='jab");
    await writeFile(join(root, '.yak-journal.1'), Buffer.concat([encodeEntry('localhost/a.xml', doc('a')), encodeEntry('otherhost/b.xml', doc('b'))]));
    const j = new Journal(root, { log: silentLogger, durable: true, syncFs });
    const report = await j.open();
    assert.equal(j.checkpointSync, expected);
    assert.deepEqual(report.files, [join(root, 'localhost', 'a.xml'), join(root, 'otherhost', 'b.xml')]);
    assert.equal(await readFile(join(root, 'localhost', 'a.xml'), 'utf8'), doc('a'));
    assert.equal(await readFile(join(root, 'otherhost', 'b.xml'), 'utf8'), doc('b'));
    assert.deepEqual(await listing(root), ['localhost', 'otherhost']);
    await j.close();
    await rm(root, { recursive: true });
  }
});

test('replay stops at an entry without its closing newline: one cut just before it, or one followed by a stray byte', async () => {
  const root = await tempRoot();
  const first = encodeEntry('localhost/a.xml', doc('a'));
  const cut = encodeEntry('localhost/b.xml', doc('b'));
  await writeFile(join(root, '.yak-journal.1'), Buffer.concat([first, cut.subarray(0, cut.length - 1)]));
  const stray = Buffer.from(encodeEntry('localhost/c.xml', doc('c')));
  stray[stray.length - 1] = 0x58; // 'X' where the newline belongs
  const after = encodeEntry('localhost/d.xml', doc('d'));
  await writeFile(join(root, '.yak-journal.2'), Buffer.concat([stray, after]));
  const report = await journal(root).open();
  assert.equal(report.tornBytes, cut.length - 1 + stray.length + after.length);
  assert.deepEqual(await listing(join(root, 'localhost')), ['a.xml']);
  await rm(root, { recursive: true });
});

test('replay stops at an entry whose checksum fails', async () => {
  const root = await tempRoot();
  const first = encodeEntry('localhost/a.xml', doc('a'));
  const second = encodeEntry('localhost/b.xml', doc('b'));
  second[second.length - 12] ^= 0x01; // one bit flipped in the content
  const third = encodeEntry('localhost/c.xml', doc('c'));
  await writeFile(join(root, '.yak-journal.1'), Buffer.concat([first, second, third]));
  const report = await journal(root).open();
  assert.equal(report.tornBytes, second.length + third.length);
  assert.deepEqual(await listing(join(root, 'localhost')), ['a.xml']);
  await rm(root, { recursive: true });
});

test("replay writes a 1.4 file whose name holds a backslash: Yak writes such files in place, so its journal names them", async () => {
  const root = await tempRoot();
  await mkdir(join(root, 'localhost'));
  await writeFile(join(root, '.yak-journal.1'), encodeEntry('localhost/x\\y.xml', doc('acknowledged')));
  await journal(root).open();
  assert.equal(await readFile(join(root, 'localhost', 'x\\y.xml'), 'utf8'), doc('acknowledged'));
  await rm(root, { recursive: true });
});

test('a journal naming a path outside the spool is refused, and nothing is written', async () => {
  for (const rel of ['../escape.xml', 'localhost/../../escape.xml', 'a/b/c.xml', '/etc/passwd', 'localhost/.hidden.xml', 'localhost']) {
    const root = await tempRoot();
    await writeFile(join(root, '.yak-journal.1'), Buffer.concat([encodeEntry('localhost/ok.xml', doc('ok')), encodeEntry(rel, doc('evil'))]));
    await assert.rejects(journal(root).open(), /is not a spool file/, rel);
    assert.deepEqual(await listing(root), ['.yak-journal.1'], rel);
    // The store refuses to serve on top of it rather than ignore it.
    await assert.rejects(new SpoolStore(root).get('localhost', 'ok', NS_AUTH), /is not a spool file/);
    await rm(root, { recursive: true });
  }
});

test('a store on a spool a crash left replays before its first read', async () => {
  const root = await tempRoot();
  const last = el('query', { xmlns: NS_LAST, last: '42' });
  await writeFile(
    join(root, '.yak-journal.1'),
    encodeEntry('localhost/dj.xml', `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password>${last.toString().replace('<query', "<query xdbns='jabber:iq:last'")}</xdb>`),
  );
  const store = new SpoolStore(root);
  assert.equal((await store.get('localhost', 'dj', NS_LAST))?.attr('last'), '42');
  assert.deepEqual(await store.list('localhost'), ['dj']);
  assert.deepEqual(await listing(root), ['localhost']);
  await rm(root, { recursive: true });
});

/** One journaled change to localhost/<user>.xml, then a checkpoint; returns how it synced. */
async function writeAndCheckpoint(root: string, syncFs: JournalOptions['syncFs']): Promise<Journal['checkpointSync']> {
  const j = new Journal(root, { log: silentLogger, durable: true, syncFs });
  await j.open();
  const dir = join(root, 'localhost');
  await mkdir(dir, { recursive: true });
  await j.write({ path: join(dir, 'cp.xml'), dir, rel: 'localhost/cp.xml' }, doc('cp'));
  assert.ok((await listing(root)).includes('.yak-journal.1'));
  await j.checkpoint();
  await j.close();
  assert.deepEqual(await listing(root), ['localhost'], 'the checkpoint deleted the generation');
  assert.equal(await readFile(join(dir, 'cp.xml'), 'utf8'), doc('cp'));
  return j.checkpointSync;
}

test('a checkpoint makes its files durable with one syncfs where the machine has it, else file by file', async () => {
  const linux = { platform: 'linux', release: '6.1.0' } as const;
  const root = await tempRoot();
  assert.equal(await writeAndCheckpoint(join(root, 'a'), linux), 'syncfs');
  assert.equal(await writeAndCheckpoint(join(root, 'b'), false), 'fdatasync');
  assert.equal(await writeAndCheckpoint(join(root, 'c'), { ...linux, command: '/bin/false' }), 'fdatasync');
  // A sync that passed the probe but fails at the checkpoint: the files are synced one by one.
  const flaky = join(root, 'flaky-sync');
  await writeFile(flaky, '#!/bin/sh\n[ -e "$0.ran" ] && exit 1\ntouch "$0.ran"\n');
  await chmod(flaky, 0o755);
  assert.equal(await writeAndCheckpoint(join(root, 'd'), { ...linux, command: flaky }), 'fdatasync');
  await rm(root, { recursive: true });
});

test('a closed journal takes no more changes: its spool may belong to another server by now', async () => {
  const root = await tempRoot();
  const j = new Journal(root, { log: silentLogger, durable: true });
  await j.open();
  await j.close();
  const dir = join(root, 'localhost');
  await assert.rejects(j.write({ path: join(dir, 'late.xml'), dir, rel: 'localhost/late.xml' }, doc('late')), /journal is closed/);
  assert.deepEqual(await listing(root), []);
  await rm(root, { recursive: true });
});

test('a generation that reaches its size is checkpointed at once, without waiting for the timer', async () => {
  const root = await tempRoot();
  const dir = join(root, 'localhost');
  await mkdir(dir);
  // The timer would fire in an hour: only the size can start this checkpoint.
  const j = new Journal(root, { log: silentLogger, durable: true, maxBytes: 4096, checkpointMs: 3_600_000 });
  await j.open();
  const target = (file: string) => ({ path: join(dir, file), dir, rel: `localhost/${file}` });
  const big = doc('x'.repeat(1500));
  const journals = async (): Promise<string[]> => (await listing(root)).filter((f) => f.startsWith('.yak-journal.'));
  const settled = async (want: string[]): Promise<string[]> => {
    let seen: string[] = [];
    for (let i = 0; i < 200; i++) {
      seen = await journals();
      if (seen.join() === want.join()) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    return seen;
  };

  // Under the size, the generation stays.
  await j.write(target('a.xml'), big);
  await j.write(target('b.xml'), big);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await journals(), ['.yak-journal.1'], 'a generation under its size was checkpointed');
  // The third entry takes it past 4 KiB: retired and deleted, its files already written.
  await j.write(target('c.xml'), big);
  assert.deepEqual(await settled([]), [], 'the full generation stayed');
  for (const f of ['a.xml', 'b.xml', 'c.xml']) assert.equal(await readFile(join(dir, f), 'utf8'), big);
  // The next change starts the next generation.
  await j.write(target('d.xml'), doc('d'));
  assert.deepEqual(await journals(), ['.yak-journal.2']);
  await j.checkpoint();
  await j.close();
  await rm(root, { recursive: true });
});

test('a hold keeps every generation until released, one retired while an earlier one was being checkpointed too; changes go on meanwhile', async () => {
  const { root, target } = await hostSpool();
  // fdatasync file by file, so that a checkpoint can be caught half way (holdDatasync).
  const j = new Journal(root, { log: silentLogger, durable: true, syncFs: false, checkpointMs: 3_600_000 });
  await j.open();
  const journals = async (): Promise<string[]> => (await listing(root)).filter((f) => f.startsWith('.yak-journal.'));
  await j.write(target('a.xml'), doc('a'));
  // A checkpoint under way when the hold is taken: it finishes with its generation.
  const syncing = holdDatasync((p) => p.endsWith('/a.xml'));
  const first = j.checkpoint();
  await syncing.reached;
  await j.write(target('b.xml'), doc('b'));
  const release = j.holdGenerations();
  // Retired now, and next in line for the checkpoint already running.
  const second = j.checkpoint();
  await j.write(target('c.xml'), doc('c'));
  syncing.release();
  for (let i = 0; i < 2000 && (await journals()).includes('.yak-journal.1'); i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(await journals(), ['.yak-journal.2', '.yak-journal.3']);
  // Held: nothing more goes, however long.
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await journals(), ['.yak-journal.2', '.yak-journal.3']);
  assert.equal(await readFile(join(root, 'localhost', 'c.xml'), 'utf8'), doc('c'));
  release();
  release(); // a second call changes nothing
  await Promise.all([first, second, j.checkpoint()]);
  assert.deepEqual(await journals(), []);
  await j.close();
  await rm(root, { recursive: true });
});

test('a store closing cuts the holds on its journal: its last checkpoint does not wait for them, and no hold is taken after', { timeout: 10_000 }, async () => {
  const root = await tempRoot();
  const store = new SpoolStore(root);
  await store.create('localhost', 'u', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'u') });
  const hold = store.holdJournal();
  let cut = false;
  hold.signal.addEventListener('abort', () => (cut = true));
  await store.close();
  assert.equal(cut, true);
  assert.deepEqual(await listing(root), ['localhost']);
  assert.throws(() => store.holdJournal(), SpoolClosedError);
  hold.release(); // late, and harmless
  await rm(root, { recursive: true });
});

test('a backup copies a generation only up to its last acknowledged entry: a batch written but not synced (or refused) stays out', async () => {
  const root = await tempRoot();
  const store = new SpoolStore(root);
  await store.create('localhost', 'u', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'acknowledged') });
  // The next append's fdatasync is held: its batch is in the generation file, and nobody was told it is done.
  const syncing = holdDatasync((p) => p.includes('.yak-journal.'));
  const change = store.set('localhost', 'u', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'not yet acknowledged') });
  await syncing.reached;
  const dest = join(root, '..', `${root.split('/').pop()}-copy`);
  await backupSpool(root, dest, { hold: () => store.holdJournal() });
  syncing.release();
  await change;
  const copy = new SpoolStore(dest);
  assert.equal((await copy.get('localhost', 'u', NS_AUTH))?.text(), 'acknowledged');
  await copy.close();
  await store.close();
  await rm(dest, { recursive: true });
  await rm(root, { recursive: true });
});

test('a generation being replaced by the carried one is not offered cut to its old length: a backup takes it whole', async () => {
  const { root, dir, target } = await hostSpool();
  // A user file that is a link: never written through (O_NOFOLLOW), its change stays in the journal.
  await symlink('elsewhere.xml', join(dir, 'stuck.xml'));
  const j = new Journal(root, { log: silentLogger, durable: true, syncFs: false, checkpointMs: 3_600_000 });
  await j.open();
  await j.write(target('stuck.xml'), doc('stuck'));
  assert.deepEqual([...j.acknowledgedLengths().keys()], ['.yak-journal.1']);
  // The checkpoint carries it: the generation's file is replaced by one holding only that file.
  const carrying = holdDatasync((p) => p.endsWith(CARRY_SUFFIX));
  const checkpoint = j.checkpoint().catch((err: unknown) => err);
  await carrying.reached;
  assert.deepEqual([...j.acknowledgedLengths().keys()], []);
  carrying.release();
  assert.ok((await checkpoint) instanceof UnwrittenFilesError);
  await j.close();
  await rm(root, { recursive: true });
});

test('a replay paces itself where asked: before each entry taken and each file written', async () => {
  const { root, target } = await hostSpool();
  const gens = [
    [encodeEntry('localhost/a.xml', doc('a1')), encodeEntry('localhost/b.xml', doc('b1'))],
    [encodeEntry('localhost/a.xml', doc('a2')), encodeEntry('localhost/c.xml', doc('c1'))],
  ];
  for (const [i, entries] of gens.entries()) await writeFile(join(root, `.yak-journal.${i + 1}`), Buffer.concat(entries));
  let paced = 0;
  const { report } = await replayJournal(root, { log: silentLogger, durable: false, readOnly: false, fileSync: new FileSetSync(root, false, silentLogger), pace: async () => void paced++ });
  assert.deepEqual([report.generations, report.files.length, paced], [2, 3, 7]);
  assert.equal(await readFile(target('a.xml').path, 'utf8'), doc('a2'));
  await rm(root, { recursive: true });
});

test('files that cannot be written are carried in one generation; none comes back older after a crash, and the start never stops for them', async () => {
  const { root, dir, target } = await hostSpool();
  const journals = async (): Promise<string[]> => (await listing(root)).filter((f) => f.startsWith('.yak-journal.'));
  // x and y are folders where their files belong: every write to them fails.
  await mkdir(join(dir, 'x.xml'));
  await mkdir(join(dir, 'y.xml'));
  const j = journal(root);
  await j.open();
  await j.write(target('x.xml'), doc('x1'));
  await j.write(target('y.xml'), doc('y1'));
  await j.write(target('q.xml'), doc('q1'));
  await assert.rejects(j.checkpoint(), UnwrittenFilesError);
  assert.deepEqual(await journals(), ['.yak-journal.1']);

  // x can be written again; its next change is, while y still cannot.
  await rm(join(dir, 'x.xml'), { recursive: true });
  await j.write(target('x.xml'), doc('x2'));
  await j.write(target('q.xml'), doc('q2'));
  await assert.rejects(j.checkpoint(), (err) => err instanceof UnwrittenFilesError && err.files.length === 1 && err.files[0]!.path === join(dir, 'y.xml'));
  assert.deepEqual(await journals(), ['.yak-journal.2'], 'the carried generation moved on; the one before is gone');
  await j.close();

  // A crash now: the replay must leave x as x2 (the carried generation
  // named it with x1 before), q as q2, and y served from the journal.
  await writeFile(join(dir, 'x.xml'), 'torn');
  const again = journal(root);
  const report = await again.open();
  assert.equal(report.generations, 1);
  assert.equal(await readFile(join(dir, 'x.xml'), 'utf8'), doc('x2'));
  assert.equal(await readFile(join(dir, 'q.xml'), 'utf8'), doc('q2'));
  assert.equal(again.pending(join(dir, 'y.xml')), doc('y1'));
  assert.deepEqual(await journals(), ['.yak-journal.3'], 'y is carried into a generation after the replayed one');

  // Once y can be written, the next checkpoint writes it and the journal goes.
  await rm(join(dir, 'y.xml'), { recursive: true });
  await again.checkpoint();
  assert.equal(await readFile(join(dir, 'y.xml'), 'utf8'), doc('y1'));
  assert.equal(again.pending(join(dir, 'y.xml')), undefined);
  assert.deepEqual(await journals(), []);
  await again.close();
  await rm(root, { recursive: true });
});

test('a file the replay could not write is tried again by the checkpoints that follow, with no change to start them', async () => {
  const { root, dir } = await hostSpool();
  await mkdir(join(dir, 'y.xml'));
  await writeFile(join(root, '.yak-journal.1'), encodeEntry('localhost/y.xml', doc('y1')));
  const j = new Journal(root, { log: silentLogger, durable: true, checkpointMs: 20 });
  await j.open();
  assert.equal(j.pending(join(dir, 'y.xml')), doc('y1'));
  await rm(join(dir, 'y.xml'), { recursive: true });
  for (let i = 0; i < 250 && j.pending(join(dir, 'y.xml')) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await readFile(join(dir, 'y.xml'), 'utf8'), doc('y1'));
  await j.checkpoint();
  assert.deepEqual(await listing(root), ['localhost']);
  await j.close();
  await rm(root, { recursive: true });
});

test('a change written while the carried generation is on its way to disk is what the next carry says of that file', async () => {
  const { root, dir, target } = await hostSpool();
  await mkdir(join(dir, 'y.xml')); // stuck throughout
  await mkdir(join(dir, 'z.xml')); // stuck at first
  const j = journal(root);
  await j.open();
  await j.write(target('y.xml'), doc('y1'));
  await j.write(target('z.xml'), doc('z1'));
  // The carried generation's fdatasync waits while z is freed and written again.
  const held = holdDatasync((path) => path.endsWith('.carry'));
  const first = j.checkpoint().catch((err: unknown) => err);
  await held.reached;
  await rm(join(dir, 'z.xml'), { recursive: true });
  await j.write(target('z.xml'), doc('z2'));
  held.release();
  assert.ok((await first) instanceof UnwrittenFilesError);
  // y is still stuck: the next checkpoint carries again, into the generation that held z2.
  await assert.rejects(j.checkpoint(), UnwrittenFilesError);
  await j.close();
  // A crash: the replay must leave z as acknowledged.
  await writeFile(join(dir, 'z.xml'), 'torn');
  const again = journal(root);
  await again.open();
  assert.equal(await readFile(join(dir, 'z.xml'), 'utf8'), doc('z2'));
  assert.equal(again.pending(join(dir, 'y.xml')), doc('y1'));
  await again.close();
  await rm(root, { recursive: true });
});

test('a carried generation that cannot be written leaves the earlier one in place: nothing stuck is lost', async () => {
  const { root, dir, target } = await hostSpool();
  await mkdir(join(dir, 'y.xml'));
  const j = journal(root);
  await j.open();
  await j.write(target('y.xml'), doc('y1'));
  await assert.rejects(j.checkpoint(), UnwrittenFilesError);
  assert.deepEqual((await listing(root)).filter((f) => f.startsWith('.yak-journal')), ['.yak-journal.1']);
  // The next carry goes to generation 2, whose temp file a folder is in the way of.
  await j.write(target('q.xml'), doc('q1'));
  await mkdir(join(root, '.yak-journal.2.carry'));
  await assert.rejects(j.checkpoint(), (err: unknown) => !(err instanceof UnwrittenFilesError));
  await j.close();
  await rm(join(root, '.yak-journal.2.carry'), { recursive: true });
  // A crash now: y's change is still carried by generation 1.
  await assertStartKeeps(root, dir);
});

test('a replay whose carried generation cannot be written deletes nothing: the next start finds every change', async () => {
  const { root, dir } = await hostSpool();
  await mkdir(join(dir, 'y.xml'));
  await writeFile(join(root, '.yak-journal.1'), Buffer.concat([encodeEntry('localhost/y.xml', doc('y1')), encodeEntry('localhost/q.xml', doc('q1'))]));
  // Where the replay would write the generation carrying y.
  await mkdir(join(root, '.yak-journal.2'));
  await assert.rejects(journal(root).open());
  assert.ok((await listing(root)).includes('.yak-journal.1'), 'the replayed generation must stay');
  await rm(join(root, '.yak-journal.2'), { recursive: true });
  await assertStartKeeps(root, dir);
});

/** A start on the spool serves y1 for y.xml (still stuck) and has q.xml written as q1; the spool is removed after. */
async function assertStartKeeps(root: string, dir: string): Promise<void> {
  const again = journal(root);
  await again.open();
  assert.equal(again.pending(join(dir, 'y.xml')), doc('y1'));
  assert.equal(await readFile(join(dir, 'q.xml'), 'utf8'), doc('q1'));
  await again.close();
  await rm(root, { recursive: true });
}
