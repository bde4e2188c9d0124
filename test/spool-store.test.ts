import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeEntry } from '../src/xdb/journal-entry.js';
import { UnwrittenFilesError } from '../src/xdb/unwritten-files.js';
import { userFileName } from '../src/xdb/file-names.js';
import { SpoolStore, type SpoolStoreOptions } from '../src/xdb/spool-store.js';
import { cleanTempFiles } from '../src/xdb/temp-files.js';
import { DEFAULT_MAX_FILE_BYTES, DeferredChangesLostError, NS_AUTH, NS_AUTH_0K, NS_LAST, NS_OFFLINE, NS_REGISTER, NS_ROSTER, NoSuchUserError, SpoolClosedError, UserFileFullError } from '../src/xdb/xdb.js';
import { el, Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { zerokHash } from '../src/util/hash.js';
import { captureLog } from './helpers/log-capture.js';

/** A write whether or not the user has an account: for tests of files that have none. */
const RAW = { existing: false } as const;
import type { Logger } from '../src/log.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/spool14/localhost/dj.xml', import.meta.url));

interface ScratchSpool {
  root: string;
  /** A store on root, closed after the test. */
  open(opts?: SpoolStoreOptions): SpoolStore;
}

/**
 * A temporary spool folder for one test, removed after it whether it
 * passed or not. The stores open() makes are closed first: one left open
 * could recreate the folder with its deferred write (2 s later) after the
 * removal.
 */
async function scratch(t: TestContext): Promise<ScratchSpool> {
  const root = await mkdtemp(join(tmpdir(), 'yak-spool-'));
  const stores: SpoolStore[] = [];
  t.after(async () => {
    // A store the test closed, or one made to fail, may reject here.
    for (const store of stores) await store.close().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });
  const open = (opts?: SpoolStoreOptions): SpoolStore => {
    const store = new SpoolStore(root, opts);
    stores.push(store);
    return store;
  };
  return { root, open };
}

const pw = (s: string): Element => el('password', { xmlns: NS_AUTH }, s);

/** Structural form: attribute order and whitespace-only text do not matter. */
function canon(e: Element): unknown {
  return {
    name: e.name,
    attrs: Object.fromEntries(Object.entries(e.attrs).sort(([a], [b]) => (a < b ? -1 : 1))),
    children: e.children.filter((c) => typeof c !== 'string' || c.trim() !== '').map((c) => (typeof c === 'string' ? c : canon(c))),
  };
}

test('set, get, update, exists, list and remove', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  assert.equal(await store.exists('localhost', 'dj'), false);
  assert.equal(await store.get('localhost', 'dj', NS_AUTH), undefined);
  assert.deepEqual(await store.list('localhost'), []);

  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret'), [NS_REGISTER]: el('query', { xmlns: NS_REGISTER }, el('name', {}, 'DJ')) });
  assert.equal(await store.exists('localhost', 'dj'), true);
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.toString(), "<password xmlns='jabber:iq:auth'>secret</password>");
  const file = join(root, 'localhost', 'dj.xml');
  assert.equal(
    await readFile(file, 'utf8'),
    "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>secret</password>" +
      "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>DJ</name></query></xdb>",
  );
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(root, 'localhost'))).mode & 0o777, 0o700);

  // Replacing keeps the record's place; null deletes; a missing ns is a no-op.
  await store.set('localhost', 'dj', { [NS_AUTH]: pw('other'), [NS_LAST]: null, [NS_REGISTER]: null });
  assert.equal(await readFile(file, 'utf8'), "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>other</password></xdb>");

  const updated = await store.update('localhost', 'dj', NS_OFFLINE, (cur) => {
    assert.equal(cur, undefined);
    return el('foo', { xmlns: NS_OFFLINE }, el('message', { to: 'dj@localhost' }, el('body', {}, 'hi')));
  });
  assert.equal(updated?.toString(), "<foo xmlns='jabber:x:offline'><message to='dj@localhost'><body>hi</body></message></foo>");
  const appended = await store.update('localhost', 'dj', NS_OFFLINE, (cur) => {
    cur!.children.push(el('message', {}, 'two'));
    return cur!;
  });
  assert.equal(appended?.elements.length, 2);
  assert.equal(await store.update('localhost', 'dj', NS_OFFLINE, () => null), undefined);
  assert.equal(await store.get('localhost', 'dj', NS_OFFLINE), undefined);

  const all = await store.getAll('localhost', 'dj');
  assert.deepEqual([...all.keys()], [NS_AUTH]);

  await store.create('localhost', 'leslie', { [NS_AUTH]: pw('x') });
  await store.create('otherhost', 'joe', { [NS_AUTH]: pw('x') });
  assert.deepEqual(await store.list('localhost'), ['dj', 'leslie']);
  assert.deepEqual(await store.list('otherhost'), ['joe']);
  assert.deepEqual(await store.list('nohost'), []);

  await store.remove('localhost', 'dj');
  await store.remove('localhost', 'dj'); // removing nothing is fine
  assert.equal(await store.exists('localhost', 'dj'), false);
  assert.deepEqual(await store.getAll('localhost', 'dj'), new Map());
  assert.deepEqual(await readdir(join(root, 'localhost')), ['leslie.xml']);
  // The name is free again at once.
  assert.equal(await store.create('localhost', 'dj', { [NS_AUTH]: pw('new') }), true);

  // A fresh store (no cache) sees the same data.
  const again = open();
  assert.equal((await again.get('localhost', 'dj', NS_AUTH))?.text(), 'new');
});

test('update leaves the file alone when fn returns undefined or throws', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  assert.equal(await store.update('localhost', 'ghost', NS_LAST, () => undefined, RAW), undefined);
  assert.equal(await store.update('localhost', 'ghost', NS_LAST, () => null, RAW), undefined);
  await store.set('localhost', 'ghost', { [NS_LAST]: null }, RAW);
  await assert.rejects(readdir(join(root, 'localhost')), { code: 'ENOENT' }); // no empty files made

  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
  const kept = await store.update('localhost', 'dj', NS_AUTH, (cur) => {
    cur!.children = ['mutated'];
    return undefined;
  });
  assert.equal(kept?.text(), 'secret');
  await assert.rejects(
    store.update('localhost', 'dj', NS_AUTH, () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'secret');
});

test('records are stripped of xdbns and never alias the cache', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  const rec = el('query', { xmlns: NS_ROSTER, xdbns: NS_ROSTER }, el('item', { jid: 'a@b' }));
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('s'), [NS_ROSTER]: rec });
  rec.children.push(el('item', { jid: 'c@d' }));
  rec.attrs.extra = '1';

  const got = (await store.get('localhost', 'dj', NS_ROSTER))!;
  assert.equal(got.toString(), "<query xmlns='jabber:iq:roster'><item jid='a@b'/></query>");
  got.children.push(el('item', { jid: 'e@f' }));
  (got.children[0] as Element).attrs.jid = 'changed';
  assert.equal((await store.get('localhost', 'dj', NS_ROSTER))!.toString(), "<query xmlns='jabber:iq:roster'><item jid='a@b'/></query>");

  const all = await store.getAll('localhost', 'dj');
  all.get(NS_AUTH)!.children = ['x'];
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))!.text(), 's');

  // What update's fn returns is copied too.
  let kept: Element | undefined;
  await store.update('localhost', 'dj', NS_LAST, () => (kept = el('query', { xmlns: NS_LAST, last: '1' })));
  kept!.attrs.last = '2';
  assert.equal((await store.get('localhost', 'dj', NS_LAST))!.attr('last'), '1');
  const onDisk = await readFile(join(root, 'localhost', 'dj.xml'), 'utf8');
  assert.ok(onDisk.includes("<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='a@b'/></query>"), onDisk);
});

test('reads a jabberd 1.4 spool file unchanged', async (t) => {
  const before = await readFile(FIXTURE, 'utf8');
  const { root, open } = await scratch(t);
  await mkdir(join(root, 'localhost'));
  await copyFile(FIXTURE, join(root, 'localhost', 'dj.xml'));
  const store = open();

  assert.equal(await store.exists('localhost', 'dj'), true);
  assert.deepEqual(await store.list('localhost'), ['dj']);
  const all = await store.getAll('localhost', 'dj');
  assert.deepEqual([...all.keys()].sort(), [NS_AUTH, NS_AUTH_0K, NS_LAST, NS_REGISTER, NS_ROSTER, 'jabber:iq:filter'].sort());
  for (const rec of all.values()) assert.equal(rec.attr('xdbns'), undefined);

  assert.deepEqual(canon(all.get(NS_AUTH)!), canon(pw('secret')));
  const zerok = all.get(NS_AUTH_0K)!;
  assert.equal(zerok.name, 'zerok');
  assert.equal(zerok.getChildText('hash'), zerokHash('secret', '3C5A1B2F', 498));
  assert.equal(zerok.getChildText('token'), '3C5A1B2F');
  assert.equal(zerok.getChildText('sequence'), '498');
  const reg = all.get(NS_REGISTER)!;
  assert.equal(reg.getChildText('name'), 'DJ Adams');
  assert.equal(reg.getChildText('email'), 'dj@yak');
  assert.match(reg.getChild('x', 'jabber:x:delay')!.attr('stamp')!, /^\d{8}T\d\d:\d\d:\d\d$/);
  const items = all.get(NS_ROSTER)!.getChildren('item');
  assert.equal(items.length, 1);
  assert.equal(items[0]!.attr('jid'), 'sabine@localhost');
  assert.equal(items[0]!.attr('subscription'), 'both');
  assert.equal(all.get(NS_LAST)!.text(), 'Logged out');

  // Rewriting keeps every record (structurally) and a fresh store reads it back.
  await store.set('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }, 'Logged out') });
  const rewritten = await readFile(join(root, 'localhost', 'dj.xml'), 'utf8');
  assert.ok(rewritten.startsWith("<xdb><query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'>"), rewritten);
  const reread = await open().getAll('localhost', 'dj');
  for (const ns of [NS_AUTH, NS_AUTH_0K, NS_REGISTER, NS_ROSTER]) assert.deepEqual(canon(reread.get(ns)!), canon(all.get(ns)!));
  assert.equal(reread.get(NS_LAST)!.attr('last'), '1');
  assert.equal(await readFile(FIXTURE, 'utf8'), before);
});

test("a 1.4 file under the user's own name is read, written and listed in place; Yak's own file wins when both exist", async (t) => {
  const { root, open } = await scratch(t);
  const folder = join(root, 'localhost');
  await mkdir(folder);
  await writeFile(join(folder, 'jos\u00e9.xml'), "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>old</password></xdb>");
  await writeFile(join(folder, 'joe%21x.xml'), "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>yak</password></xdb>");
  await writeFile(join(folder, 'joe!x.xml'), "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>1.4</password></xdb>");
  const store = open();
  assert.equal((await store.get('localhost', 'jos\u00e9', NS_AUTH))?.text(), 'old');
  await store.set('localhost', 'jos\u00e9', { [NS_AUTH]: pw('new') });
  assert.match(await readFile(join(folder, 'jos\u00e9.xml'), 'utf8'), />new</);
  assert.equal((await store.get('localhost', 'joe!x', NS_AUTH))?.text(), 'yak');
  assert.equal(await store.create('localhost', 'jos\u00e9', { [NS_AUTH]: pw('x') }), false);
  assert.deepEqual(await store.list('localhost'), ['joe!x', 'jos\u00e9']);
  assert.deepEqual((await readdir(folder)).filter((f) => f.endsWith('.xml')).sort(), ['joe!x.xml', 'joe%21x.xml', 'jos\u00e9.xml']);
  // Removing a user who has both files removes both: the 1.4 one left behind would bring the account back.
  await store.remove('localhost', 'joe!x');
  assert.equal(await store.exists('localhost', 'joe!x'), false);
  await store.flush();
  assert.deepEqual((await readdir(folder)).filter((f) => f.endsWith('.xml')).sort(), ['jos\u00e9.xml']);
  assert.equal(await open().exists('localhost', 'joe!x'), false);
});

test('list() names only files a user could have: not those that decode to a name nodeprep would change or refuse', async (t) => {
  const { root, open } = await scratch(t);
  const folder = join(root, 'localhost');
  await mkdir(folder);
  const doc = "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>";
  for (const f of ['dj', 'jos%C3%A9', 'x%41', 'x%2F', 'x%20y', 'x%40y', 'x%1B%5B31mred']) await writeFile(join(folder, `${f}.xml`), doc);
  // A long name's file names its owner inside: one copied under another user's file name belongs to neither.
  const [long, other] = ['l'.repeat(300), 'm'.repeat(300)];
  await writeFile(join(folder, userFileName(long)), `<xdb user='${other}'><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>`);
  assert.deepEqual(await open().list('localhost'), ['dj', 'jos\u00e9']);
});

test('tab, line feed and carriage return come back as they were stored, in attributes and in text', async (t) => {
  const { root, open } = await scratch(t);
  const odd = 'a\nb\tc\rd\r\ne';
  const record = el('query', { xmlns: NS_ROSTER }, el('item', { jid: 'x@y', name: odd }, el('group', {}, odd)));
  await open().create('localhost', 'dj', { [NS_AUTH]: pw(odd), [NS_ROSTER]: record });
  // Written as character references where a parser would not give them back...
  const text = await readFile(join(root, 'localhost', 'dj.xml'), 'utf8');
  assert.match(text, /name='a&#10;b&#9;c&#13;d&#13;&#10;e'/);
  assert.match(text, /<group>a\nb\tc&#13;d&#13;\ne<\/group>/);
  // ...so that a fresh store (no cache) reads the very same values.
  const again = open();
  assert.equal((await again.get('localhost', 'dj', NS_AUTH))?.text(), odd);
  const item = (await again.get('localhost', 'dj', NS_ROSTER))!.getChild('item')!;
  assert.equal(item.attrs.name, odd);
  assert.equal(item.getChildText('group'), odd);
});

test('accepts declarations, whitespace, double quotes and files without xdbns', async (t) => {
  const { root, open } = await scratch(t);
  await mkdir(join(root, 'localhost'));
  await writeFile(
    join(root, 'localhost', 'dj.xml'),
    '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<xdb>\n  <password xmlns="jabber:iq:auth">secret</password>\n' +
      "  <vCard xdbns='vcard-temp' xmlns='vcard-temp'>\n    <FN>DJ</FN>\n  </vCard>\n  <orphan>kept</orphan>\n</xdb>\n",
  );
  const store = open();
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'secret');
  assert.equal((await store.get('localhost', 'dj', 'vcard-temp'))?.getChildText('FN'), 'DJ');
  await store.set('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '5' }) });
  const text = await readFile(join(root, 'localhost', 'dj.xml'), 'utf8');
  assert.ok(text.startsWith("<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>secret</password>"), text);
  assert.ok(text.includes('<orphan>kept</orphan>'), 'children without a namespace are written back');
});

test('a record whose namespace came before is kept unread, and written back as it was', async (t) => {
  const { root, open } = await scratch(t);
  await mkdir(join(root, 'localhost'));
  const first = "<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='a@localhost' subscription='both'/></query>";
  const second = "<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='b@localhost' subscription='to'/></query>";
  await writeFile(join(root, 'localhost', 'dj.xml'), `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password>${first}${second}</xdb>`);
  const { log, lines } = captureLog('warn');
  const store = open({ log });
  assert.equal((await store.get('localhost', 'dj', NS_ROSTER))?.getChild('item')?.attrs.jid, 'a@localhost');
  assert.ok(lines.some((l) => l.ns === NS_ROSTER && /duplicate namespace/.test(String(l.msg))), 'the duplicate is logged');
  await store.set('localhost', 'dj', { [NS_ROSTER]: el('query', { xmlns: NS_ROSTER }, el('item', { jid: 'c@localhost', subscription: 'none' })) });
  const text = await readFile(join(root, 'localhost', 'dj.xml'), 'utf8');
  assert.ok(text.includes(second), `the second record must be written back as it was: ${text}`);
  assert.ok(!text.includes('a@localhost'), `the first record is the one replaced: ${text}`);
  // A fresh store serves the record written, not the one kept.
  assert.equal((await open().get('localhost', 'dj', NS_ROSTER))?.getChild('item')?.attrs.jid, 'c@localhost');
});

test('flush() writes a setSoon() made just before it, also for a user whose file was not read yet', async (t) => {
  const { root, open } = await scratch(t);
  const first = open();
  await first.create('localhost', 'dj', { [NS_AUTH]: pw('x') });
  await first.close();
  const store = open(); // nothing cached: the setSoon waits for the file to be read
  const soon = store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '12345' }, 'bye') });
  await store.flush();
  assert.match(await readFile(join(root, 'localhost', 'dj.xml'), 'utf8'), /last='12345'/);
  await soon;
});

test('20 concurrent creates of one name: exactly one wins', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.create('localhost', 'leslie', { [NS_AUTH]: pw(`p${i}`) })),
  );
  assert.equal(results.filter(Boolean).length, 1);
  const winner = results.indexOf(true);
  assert.equal((await open().get('localhost', 'leslie', NS_AUTH))?.text(), `p${winner}`);
  // Different users in parallel all succeed.
  const many = await Promise.all(Array.from({ length: 30 }, (_, i) => store.create('localhost', `u${i}`, { [NS_AUTH]: pw('x') })));
  assert.ok(many.every(Boolean));
  assert.equal((await store.list('localhost')).length, 31);
  assert.deepEqual((await readdir(join(root, 'localhost'))).filter((f) => f.endsWith('.tmp')), []);
});

test('a read answered from memory keeps its place among the writes: it sees those asked for before it, never one after', async (t) => {
  const { open } = await scratch(t);
  const store = open();
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('one') });
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'one'); // in memory now
  const write = store.set('localhost', 'dj', { [NS_AUTH]: pw('two') });
  const after = store.get('localhost', 'dj', NS_AUTH);
  const some = store.getSome('localhost', 'dj', [NS_AUTH]);
  assert.equal((await after)?.text(), 'two');
  assert.equal((await some).get(NS_AUTH)?.text(), 'two');
  await write;
  const before = store.get('localhost', 'dj', NS_AUTH);
  const next = store.set('localhost', 'dj', { [NS_AUTH]: pw('three') });
  assert.equal((await before)?.text(), 'two');
  await next;
  // What a read hands out from memory is a copy.
  const copy = (await store.get('localhost', 'dj', NS_AUTH))!;
  copy.children = ['changed'];
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'three');
});

test('a change to records equal to the stored ones writes nothing, unless a deferred change waits to be made durable', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  const card = (): Element => el('vCard', { xmlns: 'vcard-temp' }, el('FN', {}, 'DJ'), el('NICKNAME', {}, 'dj'));
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('x'), 'vcard-temp': card() });
  const commits = store.journalCommits;
  assert.ok(commits >= 1);
  // The same vCard published again (clients do at each login), by set() and by update().
  await store.set('localhost', 'dj', { 'vcard-temp': card() });
  await store.set('localhost', 'dj', () => ({ 'vcard-temp': card() }));
  assert.equal((await store.update('localhost', 'dj', 'vcard-temp', () => card()))?.toString(), card().toString());
  assert.equal(store.journalCommits, commits, 'an equal record was written again');
  // Any difference is a change: a text, an attribute, their order, a child more.
  await store.set('localhost', 'dj', { 'vcard-temp': el('vCard', { xmlns: 'vcard-temp' }, el('FN', {}, 'DJ'), el('NICKNAME', {}, 'DJ')) });
  assert.equal(store.journalCommits, commits + 1);
  await store.set('localhost', 'dj', { 'vcard-temp': card() });
  assert.equal(store.journalCommits, commits + 2);
  // With a logout time waiting in memory, an equal change still makes the file durable, deferred change included.
  await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '5' }) });
  await store.set('localhost', 'dj', { 'vcard-temp': card() });
  assert.equal(store.journalCommits, commits + 3);
  assert.match(await readFile(join(root, 'localhost', 'dj.xml'), 'utf8'), /last='5'/);
});

test('create starts a clean file and always writes the existence flag', async (t) => {
  const { open } = await scratch(t);
  const store = open();
  await store.set('localhost', 'old', { [NS_ROSTER]: el('query', { xmlns: NS_ROSTER }) }, RAW);
  assert.equal(await store.exists('localhost', 'old'), false);
  assert.equal(await store.create('localhost', 'old', { [NS_REGISTER]: el('query', { xmlns: NS_REGISTER }) }), true);
  assert.deepEqual([...(await store.getAll('localhost', 'old')).keys()], [NS_REGISTER, NS_AUTH]);
  assert.equal(await store.exists('localhost', 'old'), true);
  assert.equal(await store.create('localhost', 'old', { [NS_AUTH]: pw('x') }), false);
});

test('cache: no disk reads for cached users, LRU bound, missing users invalidated', async (t) => {
  const { root, open } = await scratch(t);
  const store = open({ cacheUsers: 2 });
  assert.equal(await store.exists('localhost', 'a'), false); // cached as "no user"
  await store.create('localhost', 'a', { [NS_AUTH]: pw('a') });
  assert.equal(await store.exists('localhost', 'a'), true);
  // Deleting the file behind the store's back: the cached copy is served.
  await unlink(join(root, 'localhost', 'a.xml'));
  assert.equal((await store.get('localhost', 'a', NS_AUTH))?.text(), 'a');
  // Two more users push 'a' out of the cache; now the disk says it is gone.
  await store.create('localhost', 'b', { [NS_AUTH]: pw('b') });
  await store.create('localhost', 'c', { [NS_AUTH]: pw('c') });
  assert.equal(await store.get('localhost', 'a', NS_AUTH), undefined);

  await store.flush(); // a second store on the spool must not find a live journal
  const uncached = open({ cacheUsers: 0 });
  await unlink(join(root, 'localhost', 'b.xml'));
  assert.equal(await uncached.exists('localhost', 'b'), false);
});

test('accounts(): the names that are accounts, sorted; a file that does not parse counts; files read for it are not kept in the cache', async (t) => {
  const { root, open } = await scratch(t);
  const writer = open();
  for (const u of ['c', 'a', 'b', 'd']) await writer.create('localhost', u, { [NS_AUTH]: pw(u) });
  await writer.flush();
  // A file without the auth record is no account; one that does not parse still holds its name.
  await writeFile(join(root, 'localhost', 'nopass.xml'), "<xdb><query xmlns='jabber:iq:last' xdbns='jabber:iq:last' last='1'/></xdb>\n");
  await writeFile(join(root, 'localhost', 'broken.xml'), '<xdb><password');
  const store = open({ cacheUsers: 2 });
  assert.equal((await store.get('localhost', 'a', NS_AUTH))?.text(), 'a');
  assert.deepEqual(await store.accounts('localhost'), ['a', 'b', 'broken', 'c', 'd']);
  // 'a' is still served from memory: the listing's reads pushed nothing out...
  await unlink(join(root, 'localhost', 'a.xml'));
  assert.equal((await store.get('localhost', 'a', NS_AUTH))?.text(), 'a');
  // ...and kept nothing of their own: the disk is asked again.
  await unlink(join(root, 'localhost', 'b.xml'));
  assert.equal(await store.exists('localhost', 'b'), false);
});

test('cache: bounded by the total weight of the files it holds; a file over the per-file limit is never cached, and its changes are never lost', async (t) => {
  const { root, open } = await scratch(t);
  const store = open({ cacheWeight: 3200, cacheFileWeight: 1700, fsync: false });
  const file = (u: string): string => join(root, 'localhost', u + '.xml');
  const pad = (n: number): Element => el('query', { xmlns: NS_REGISTER }, 'x'.repeat(n));
  // Three files of about 460 bytes and 7 nodes, weighing about 1,500 each: the budget holds two.
  for (const u of ['a', 'b', 'c']) await store.create('localhost', u, { [NS_AUTH]: pw(u), [NS_REGISTER]: pad(300) });
  for (const u of ['a', 'b', 'c']) await unlink(file(u));
  assert.equal(await store.exists('localhost', 'a'), false, 'the oldest file was evicted for the byte budget');
  assert.equal(await store.exists('localhost', 'b'), true);
  assert.equal(await store.exists('localhost', 'c'), true);

  // A file over cacheFileWeight is read from disk every time, and its
  // older (smaller) cached version is dropped, not served.
  await store.create('localhost', 'big', { [NS_AUTH]: pw('big') });
  await store.set('localhost', 'big', { [NS_REGISTER]: pad(600) });
  assert.equal((await store.get('localhost', 'big', NS_REGISTER))?.text().length, 600);
  await writeFile(file('big'), '<xdb/>');
  assert.equal(await store.exists('localhost', 'big'), false);

  // A deferred change to a large file stays in memory until it is written.
  await store.set('localhost', 'big', { [NS_AUTH]: pw('big'), [NS_REGISTER]: pad(600) }, RAW);
  await store.setSoon('localhost', 'big', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '5' }) });
  for (const u of ['d', 'e', 'f']) await store.create('localhost', u, { [NS_AUTH]: pw(u), [NS_REGISTER]: pad(300) });
  assert.equal((await store.get('localhost', 'big', NS_LAST))?.attrs.last, '5');
  await store.flush();
  assert.match(await readFile(file('big'), 'utf8'), /last='5'/);
});

test('a heavy file that left the cache still answers reads of its light records from memory; a heavy record, and every change, read the file', async (t) => {
  const { root, open } = await scratch(t);
  // Never kept whole: over the per-file limit.
  const store = open({ cacheWeight: 16 << 20, cacheFileWeight: 1 << 20, fsync: false });
  const file = join(root, 'localhost', 'dense.xml');
  const card = (fn: string): Element => el('vCard', { xmlns: 'vcard-temp' }, el('FN', {}, fn));
  // 20,000 elements of private storage: about 3 MB parsed.
  const heavy = el('query', { xmlns: 'x:dense' }, ...Array.from({ length: 20_000 }, () => el('a')));
  await store.create('localhost', 'dense', { [NS_AUTH]: pw('dense'), 'vcard-temp': card('one'), 'x:dense': heavy });
  const whole = await readFile(file, 'utf8');
  // What a read of the whole file would now find: not a spool file.
  await writeFile(file, 'not a spool file');
  assert.equal((await store.get('localhost', 'dense', 'vcard-temp'))?.getChildText('FN'), 'one');
  assert.equal(await store.exists('localhost', 'dense'), true);
  assert.equal(await store.get('localhost', 'dense', NS_LAST), undefined, 'a record the file does not hold');
  await assert.rejects(store.get('localhost', 'dense', 'x:dense'), /cannot be parsed/);
  // A change reads the whole file, and what is kept follows it.
  await writeFile(file, whole);
  await store.set('localhost', 'dense', { 'vcard-temp': card('two') });
  const changed = await readFile(file, 'utf8');
  await writeFile(file, 'not a spool file');
  assert.equal((await store.get('localhost', 'dense', 'vcard-temp'))?.getChildText('FN'), 'two');
  // Removed: nothing of it answers from memory.
  await writeFile(file, changed);
  await store.remove('localhost', 'dense');
  assert.equal(await store.exists('localhost', 'dense'), false, 'a removed account still answered from memory');
});

test('cache: weighs a file by what it takes parsed, so a few densely packed files push out others', async (t) => {
  const { root, open } = await scratch(t);
  const store = open({ cacheWeight: 20_000, cacheFileWeight: 10_000, fsync: false });
  const file = (u: string): string => join(root, 'localhost', u + '.xml');
  // About 350 bytes of file, but 56 nodes: a weight of about 8,800 each.
  const dense = (n: number): Element => el('query', { xmlns: 'x:dense' }, ...Array.from({ length: n }, () => el('a')));
  const plainUsers = ['p1', 'p2', 'p3'];
  for (const u of plainUsers) await store.create('localhost', u, { [NS_AUTH]: pw(u) });
  for (const u of ['d1', 'd2', 'd3']) await store.create('localhost', u, { [NS_AUTH]: pw(u), 'x:dense': dense(50) });
  let bytes = 0;
  for (const u of [...plainUsers, 'd1', 'd2', 'd3']) {
    bytes += (await stat(file(u))).size;
    await unlink(file(u));
  }
  assert.ok(bytes < 2_000, `all six files take ${bytes} bytes, a tenth of the budget`);
  // Only what a cached copy can answer: the three plain users and the
  // first dense one made room for the third.
  for (const u of [...plainUsers, 'd1']) assert.equal(await store.exists('localhost', u), false, `${u} was not evicted`);
  for (const u of ['d2', 'd3']) assert.equal((await store.get('localhost', u, 'x:dense'))?.elements.length, 50, `${u} was evicted`);

  // A file of 600 bytes that weighs 15,000 is over the per-file limit:
  // never cached, read from disk each time. Weighed the same when it is
  // read from disk (parsed) as when it was written (built from records).
  await store.create('localhost', 'd4', { [NS_AUTH]: pw('d4'), 'x:dense': dense(100) });
  assert.ok((await stat(file('d4'))).size < 1000);
  await writeFile(file('d4'), '<xdb/>');
  assert.equal(await store.exists('localhost', 'd4'), false, 'the dense file was cached');
  await store.set('localhost', 'd4', { [NS_AUTH]: pw('d4'), 'x:dense': dense(100) }, RAW);
  await store.flush();
  assert.equal((await store.get('localhost', 'd4', 'x:dense'))?.elements.length, 100);
  await writeFile(file('d4'), '<xdb/>');
  assert.equal(await store.exists('localhost', 'd4'), false, 'the dense file read from disk was cached');
});

test('cache: by default a large file is kept too, so a big roster is not parsed again at each access', async (t) => {
  const { root, open } = await scratch(t);
  const store = open({ fsync: false });
  const items = Array.from({ length: 4000 }, (_, i) => el('item', { jid: `contact${i}@example.com`, name: `Contact number ${i}`, subscription: 'both' }));
  await store.create('localhost', 'many', { [NS_AUTH]: pw('many') });
  await store.set('localhost', 'many', { [NS_ROSTER]: el('query', { xmlns: NS_ROSTER }, ...items) });
  await store.flush();
  const file = join(root, 'localhost', 'many.xml');
  assert.ok((await stat(file)).size > 256 * 1024, 'the file is larger than the old per-file limit');
  // Gone from disk behind the store's back: only a cached copy can answer.
  await unlink(file);
  assert.equal((await store.get('localhost', 'many', NS_ROSTER))?.getChildren('item').length, 4000);
});

test('peek: looks at the stored record itself, in turn after the writes queued before it', async (t) => {
  const { open } = await scratch(t);
  const store = open({ fsync: false });
  await store.create('localhost', 'pk', { [NS_AUTH]: pw('pk'), [NS_ROSTER]: el('query', { xmlns: NS_ROSTER }, el('item', { jid: 'a@b' })) });
  const jids = (r: Element | undefined): string[] => (r?.getChildren('item') ?? []).map((i) => i.attrs.jid!);
  const written = store.set('localhost', 'pk', { [NS_ROSTER]: el('query', { xmlns: NS_ROSTER }, el('item', { jid: 'c@d' })) });
  assert.deepEqual(await store.peek('localhost', 'pk', NS_ROSTER, jids), ['c@d']);
  await written;
  // No copy: get() hands out a new element each time, peek() the same one.
  const first = await store.peek('localhost', 'pk', NS_ROSTER, (r) => r);
  assert.equal(await store.peek('localhost', 'pk', NS_ROSTER, (r) => r), first);
  assert.notEqual(await store.get('localhost', 'pk', NS_ROSTER), first);
  assert.equal(await store.peek('localhost', 'pk', 'jabber:iq:none', (r) => r), undefined);
  assert.equal(await store.peek('localhost', 'nobody', NS_ROSTER, (r) => r), undefined);
});

test('a change the journal cannot take rejects and keeps the old state', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('old') });
  await store.flush();
  // Something that is not a file where the next journal generation goes.
  await mkdir(join(root, '.yak-journal.2'));
  await assert.rejects(store.set('localhost', 'dj', { [NS_AUTH]: pw('new') }), { code: 'EEXIST' });
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'old');
  assert.match(await readFile(join(root, 'localhost', 'dj.xml'), 'utf8'), />old</);
  // The next change goes to a fresh generation; the stranger is left alone.
  await store.update('localhost', 'dj', NS_AUTH, () => pw('new'));
  await store.flush();
  assert.deepEqual((await readdir(root)).sort(), ['.yak-journal.2', 'localhost']);
  assert.equal((await open().get('localhost', 'dj', NS_AUTH))?.text(), 'new');
});

test('a record holding a character XML 1.0 does not allow is refused; the file stays as it was and parses', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('old') });
  for (const bad of ['a\u0001b', 'nul\0', 'lone \ud800 half', '\uffff']) {
    await assert.rejects(store.set('localhost', 'dj', { [NS_AUTH]: pw(bad) }), /a character XML 1.0 does not allow/);
  }
  await store.flush();
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'old');
  const text = await readFile(join(root, 'localhost', 'dj.xml'), 'utf8');
  assert.equal(parseXml(text).getChildText('password'), 'old');
});

test('a file that cannot be written: the journal keeps the change until it can', async (t) => {
  const { root, open } = await scratch(t);
  const store = open({ cacheUsers: 1 });
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('old') });
  const file = join(root, 'localhost', 'dj.xml');
  await unlink(file);
  await mkdir(file);
  // Durable in the journal, so acknowledged; reads see it although the file
  // is stuck, even once another user has pushed dj out of the cache.
  await store.set('localhost', 'dj', { [NS_AUTH]: pw('new') });
  await store.create('localhost', 'other', { [NS_AUTH]: pw('other') });
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'new');
  await assert.rejects(store.flush(), unwritten(file, 'EISDIR'));
  const journals = async (): Promise<string[]> => (await readdir(root)).filter((f) => f.startsWith('.yak-journal'));
  assert.deepEqual(await journals(), ['.yak-journal.1'], 'the journal must stay while a file is not written');
  // Other users' changes go on; checkpoints still drop their generations,
  // keeping one that carries dj's change, so the journal does not grow.
  for (let i = 0; i < 3; i++) {
    await store.set('localhost', 'other', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: String(i) }) });
    await assert.rejects(store.flush(), unwritten(file, 'EISDIR'));
  }
  assert.equal((await journals()).length, 1, `one generation carries the change: ${await journals()}`);
  // A restart replays it without stopping (the file is still in the way) and serves it.
  await store.close().catch(() => undefined);
  const again = open({ cacheUsers: 1 });
  assert.equal((await again.get('localhost', 'dj', NS_AUTH))?.text(), 'new');
  assert.equal((await again.get('localhost', 'other', NS_LAST))?.attrs.last, '2');
  // Once the way is clear, the checkpoint writes the file and drops the journal.
  await rm(file, { recursive: true });
  await again.flush();
  assert.match(await readFile(file, 'utf8'), />new</);
  assert.deepEqual(await readdir(root), ['localhost']);
});

/** An UnwrittenFilesError naming `file`, with the system's error code in its reason. */
function unwritten(file: string, code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof UnwrittenFilesError, String(err));
    assert.deepEqual(err.files.map((f) => f.path), [file]);
    assert.match(err.files[0]!.why, new RegExp(code));
    return true;
  };
}

test('a user file that is a symbolic link is never written through', async (t) => {
  const { root, open } = await scratch(t);
  // Somewhere else entirely, which happens to parse as a user file.
  const outside = join(root, 'outside.xml');
  const theirs = "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>theirs</password></xdb>";
  await writeFile(outside, theirs);
  await mkdir(join(root, 'localhost'));
  const file = join(root, 'localhost', 'evil.xml');
  await symlink(outside, file);
  const store = open();
  await store.set('localhost', 'evil', { [NS_AUTH]: pw('new') });
  await assert.rejects(store.flush(), unwritten(file, 'ELOOP'));
  assert.equal(await readFile(outside, 'utf8'), theirs);
  assert.ok((await readdir(root)).includes('.yak-journal.1'), 'the journal keeps the change');
});

test('a file nested thousands deep (made by hand) is a file that does not parse, not a crash', async (t) => {
  const { root, open } = await scratch(t);
  await mkdir(join(root, 'localhost'));
  const file = join(root, 'localhost', 'deep.xml');
  const deep = `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password><query xmlns='jabber:iq:private' xdbns='jabber:iq:private'>${'<a>'.repeat(20_000)}${'</a>'.repeat(20_000)}</query></xdb>`;
  await writeFile(file, deep);
  const store = open();
  await assert.rejects(store.getAll('localhost', 'deep'), (err) => err instanceof Error && err.message.includes(file) && /nested more than 1100/.test(err.message));
  assert.equal(await readFile(file, 'utf8'), deep);
});

test('an unparsable spool file rejects with its name and is never overwritten', async (t) => {
  const { root, open } = await scratch(t);
  await mkdir(join(root, 'localhost'));
  const file = join(root, 'localhost', 'broken.xml');
  const garbage = "<xdb><password xmlns='jabber:iq:auth'>sec";
  await writeFile(file, garbage);
  await writeFile(join(root, 'localhost', 'wrong.xml'), '<notxdb/>');
  const store = open();
  const named = (e: unknown): boolean => e instanceof Error && e.message.includes(file);
  await assert.rejects(store.get('localhost', 'broken', NS_AUTH), named);
  await assert.rejects(store.getAll('localhost', 'broken'), named);
  await assert.rejects(store.exists('localhost', 'broken'), named);
  await assert.rejects(store.set('localhost', 'broken', { [NS_AUTH]: pw('x') }), named);
  await assert.rejects(store.update('localhost', 'broken', NS_AUTH, () => pw('x')), named);
  await assert.rejects(store.create('localhost', 'broken', { [NS_AUTH]: pw('x') }), named);
  await assert.rejects(store.exists('localhost', 'wrong'), /wrong\.xml/);
  assert.equal(await readFile(file, 'utf8'), garbage);
});

test("readOnly: reads see a crash's journal as replayed, nothing is written, every change is refused", async (t) => {
  const { root, open } = await scratch(t);
  const writer = open();
  await writer.create('localhost', 'dj', { [NS_AUTH]: pw('a') });
  await writer.create('localhost', 'old', { [NS_AUTH]: pw('b') });
  await writer.close();
  const file = join(root, 'localhost', 'dj.xml');
  const before = await readFile(file, 'utf8');
  const changed = before.replace('>a<', '>c<');
  // dj changed, new made and old removed, so far only in the journal.
  await writeFile(
    join(root, '.yak-journal.4'),
    Buffer.concat([encodeEntry('localhost/dj.xml', changed), encodeEntry('localhost/new.xml', changed), encodeEntry('localhost/old.xml', null)]),
  );
  const listing = async (): Promise<string[]> => [...(await readdir(root)), ...(await readdir(join(root, 'localhost')))].sort();
  const files = await listing();

  const store = open({ readOnly: true });
  const replay = await store.open();
  assert.deepEqual([replay.generations, replay.files.length], [1, 3]);
  assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'c');
  assert.equal(await store.exists('localhost', 'new'), true);
  assert.equal(await store.exists('localhost', 'old'), false);
  assert.deepEqual(await store.list('localhost'), ['dj', 'new']);
  assert.deepEqual([...store.unreplayed().keys()].sort(), ['dj.xml', 'new.xml', 'old.xml'].map((f) => join(root, 'localhost', f)));
  const refused = /the spool is open read-only/;
  await assert.rejects(store.set('localhost', 'dj', { [NS_AUTH]: pw('d') }), refused);
  await assert.rejects(store.update('localhost', 'dj', NS_AUTH, () => pw('d')), refused);
  await assert.rejects(store.create('localhost', 'fresh', { [NS_AUTH]: pw('d') }), refused);
  await assert.rejects(store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST }) }), refused);
  await assert.rejects(store.remove('localhost', 'dj'), refused);
  await store.close();
  assert.equal(await readFile(file, 'utf8'), before);
  assert.deepEqual(await listing(), files);
});

test('flush waits for pending writes', async (t) => {
  const { root, open } = await scratch(t);
  const store = open({ fsync: false });
  const pending = Array.from({ length: 10 }, (_, i) => store.set('localhost', `u${i % 3}`, { [NS_LAST]: el('query', { xmlns: NS_LAST, last: `${i}` }) }, RAW));
  await store.flush();
  for (let u = 0; u < 3; u++) {
    const last = Math.max(...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((i) => i % 3 === u));
    const doc = parseXml(await readFile(join(root, 'localhost', `u${u}.xml`), 'utf8'));
    assert.equal(doc.elements[0]!.attr('last'), `${last}`);
  }
  await Promise.all(pending);
});

test('list() never misses a long-name user whose file is being rewritten', async (t) => {
  // A long name's owner is read from inside its file. A rewrite that
  // shrinks the file writes the new bytes, then truncates: a read from the
  // thread pool landing in between got junk after </xdb> and skipped the user.
  const { open } = await scratch(t);
  const store = open({ fsync: false });
  const user = 'l'.repeat(300);
  assert.equal(await store.create('localhost', user, { [NS_AUTH]: pw('x') }), true);
  const status = (n: number): Record<string, Element> => ({ [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }, 's'.repeat(n)) });
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      await store.set('localhost', user, status(i % 2 === 0 ? 3000 : 10));
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  try {
    for (let k = 0; k < 300; k++) assert.deepEqual(await store.list('localhost'), [user], `listing ${k}`);
  } finally {
    stop = true;
    await writer;
  }
  await store.close();
});

test('unusual and very long usernames stay inside the host folder', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  const names = ['..', '.', '%', 'é', 'a'.repeat(1023), '日'.repeat(341)];
  for (const n of names) assert.equal(await store.create('localhost', n, { [NS_AUTH]: pw(n.slice(0, 3)) }), true);
  assert.deepEqual(await store.list('localhost'), [...names].sort());
  await store.flush();
  assert.deepEqual(await readdir(root), ['localhost']);
  const fresh = open();
  for (const n of names) assert.equal((await fresh.get('localhost', n, NS_AUTH))?.text(), n.slice(0, 3));
  assert.equal(await fresh.create('localhost', 'a'.repeat(1023), { [NS_AUTH]: pw('x') }), false);
  await assert.rejects(store.get('localhost', '', NS_AUTH));
});

test('cleanTempFiles removes crash leftovers only', async (t) => {
  const { root, open } = await scratch(t);
  assert.deepEqual(await cleanTempFiles(join(root, 'missing')), []);
  const store = open();
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('x') });
  const leftover = join(root, 'localhost', '.dj.xml.4242.7.tmp');
  const other = join(root, 'other.host', '.leslie.xml.1.1.tmp');
  await writeFile(leftover, '<xdb><password');
  await mkdir(join(root, 'other.host'));
  await writeFile(other, '');
  await writeFile(join(root, 'localhost', 'notes.txt'), 'keep');
  const removed = await cleanTempFiles(root);
  assert.deepEqual(removed.sort(), [leftover, other].sort());
  assert.deepEqual((await readdir(join(root, 'localhost'))).sort(), ['dj.xml', 'notes.txt']);
  assert.deepEqual(await store.list('localhost'), ['dj']);
});

test('setSoon: visible at once, on disk after flush, folded into the next durable write, never for a missing user', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  const file = join(root, 'localhost', 'dj.xml');
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
  const last = (t: string): Element => el('query', { xmlns: NS_LAST, last: t }, 'Logged out');
  await store.setSoon('localhost', 'dj', { [NS_LAST]: last('100') });
  assert.equal((await store.get('localhost', 'dj', NS_LAST))?.attrs.last, '100');
  assert.doesNotMatch(await readFile(file, 'utf8'), /jabber:iq:last/, 'not written yet');
  await store.flush();
  assert.match(await readFile(file, 'utf8'), /last='100'/);

  await store.setSoon('localhost', 'dj', { [NS_LAST]: last('200') });
  await store.set('localhost', 'dj', { [NS_AUTH]: pw('changed') });
  const text = await readFile(file, 'utf8');
  assert.match(text, /last='200'/, 'a durable write takes the deferred change along');
  assert.match(text, />changed</);

  await store.setSoon('localhost', 'ghost', { [NS_LAST]: last('300') });
  await store.flush();
  await assert.rejects(stat(join(root, 'localhost', 'ghost.xml')), /ENOENT/);

  await store.setSoon('localhost', 'dj', { [NS_LAST]: last('400') });
  await store.remove('localhost', 'dj');
  await store.flush();
  await assert.rejects(stat(file), /ENOENT/, 'a removed user is not brought back');
});

test('set/update: never a file for a missing user unless asked; set from the current records; setSoon unless changed', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  const ghost = join(root, 'localhost', 'ghost.xml');
  // By default, and with existing: true.
  for (const opts of [undefined, { existing: true }]) {
    await assert.rejects(store.set('localhost', 'ghost', { [NS_LAST]: el('query', { xmlns: NS_LAST }) }, opts), NoSuchUserError);
    await assert.rejects(store.set('localhost', 'ghost', () => ({ [NS_LAST]: el('query', { xmlns: NS_LAST }) }), opts), NoSuchUserError);
    await assert.rejects(store.update('localhost', 'ghost', NS_OFFLINE, () => el('foo', { xmlns: NS_OFFLINE }), opts), NoSuchUserError);
    // Not even a write that would change nothing (the caller learns there is no such user).
    await assert.rejects(store.update('localhost', 'ghost', NS_OFFLINE, () => undefined, opts), NoSuchUserError);
  }
  // Nor is an account made by a set() of its auth record: only create() makes one.
  await assert.rejects(store.set('localhost', 'ghost', { [NS_AUTH]: pw('x') }), NoSuchUserError);
  await assert.rejects(stat(ghost), /ENOENT/);
  assert.equal(await store.exists('localhost', 'ghost'), false);
  // existing: false writes anyway (tools and tests laying out spool files).
  await store.set('localhost', 'ghost', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '7' }) }, { existing: false });
  await store.flush();
  assert.match(await readFile(ghost, 'utf8'), /last='7'/);
  assert.equal(await store.exists('localhost', 'ghost'), false);
  await assert.rejects(store.update('localhost', 'ghost', NS_LAST, () => null), NoSuchUserError, 'a file without an account is no account');

  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret'), [NS_REGISTER]: el('query', { xmlns: NS_REGISTER }, el('name', {}, 'DJ')) });
  // The function sees the records as they are under the lock, and its copies only.
  await store.set('localhost', 'dj', (current) => {
    const reg = current(NS_REGISTER)!;
    reg.children.push(el('email', {}, 'dj@x'));
    return { [NS_REGISTER]: reg };
  }, { existing: true });
  const reg = (await store.get('localhost', 'dj', NS_REGISTER))!;
  assert.equal(reg.getChildText('name'), 'DJ');
  assert.equal(reg.getChildText('email'), 'dj@x');

  // setSoon with the records as read: dropped once one of them changed.
  const read = await store.getSome('localhost', 'dj', [NS_AUTH]);
  await store.set('localhost', 'dj', { [NS_AUTH]: pw('changed') });
  await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }) }, new Map([[NS_AUTH, read.get(NS_AUTH)]]));
  assert.equal(await store.get('localhost', 'dj', NS_LAST), undefined);
  const now = await store.getSome('localhost', 'dj', [NS_AUTH]);
  await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '2' }) }, new Map([[NS_AUTH, now.get(NS_AUTH)]]));
  assert.equal((await store.get('localhost', 'dj', NS_LAST))?.attrs.last, '2');
});

test('a stop that cannot write deferred changes says they are lost, and the close fails: it is no clean one', async (t) => {
  const { root, open } = await scratch(t);
  const { log, lines } = captureLog();
  const store = open({ log });
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
  await store.flush(); // the first generation is gone; the next one cannot be made:
  await mkdir(join(root, '.yak-journal.2'));
  await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }, 'Logged out') });
  await assert.rejects(store.close(), (err: Error) => err instanceof DeferredChangesLostError && err.users === 1);
  const lost = lines.find((l) => l.level === 50 && String(l.msg).includes('could not be written before the stop'));
  assert.ok(lost, JSON.stringify(lines));
  assert.equal(lost.users, 1);
});

test('a logout record held after the stop\'s last write (a session ending past its bounds) is lost with a warning, but the close is clean: no disk refused it', async (t) => {
  const { open } = await scratch(t);
  const { log, lines } = captureLog();
  const store = open({ log });
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
  const flush = store.flush.bind(store);
  store.flush = async () => {
    await flush();
    await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }, 'Logged out') });
  };
  await store.close();
  const late = lines.find((l) => String(l.msg).includes("came after the stop's last write"));
  assert.deepEqual([late?.level, late?.users], [40, 1], JSON.stringify(lines));
  assert.ok(!lines.some((l) => l.level === 50), 'logged as a failure');
});

test('a closed store arms no write timer for a late setSoon (a failed stop would retry it every 2 s)', async (t) => {
  const { open } = await scratch(t);
  const store = open();
  await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
  await store.close();
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  // A session ending after the stop: its logout record stays in memory.
  await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }, 'Logged out') });
  assert.equal(timers(), before, 'a write timer was armed on a closed store');
});

describe('the size cap on one user file', () => {
  const CAP = 4096;
  const blob = (chars: number): Element => el('blob', { xmlns: 'x:blob' }, 'b'.repeat(chars));
  const box = (n: number, chars: number): Element =>
    el('foo', { xmlns: NS_OFFLINE }, ...Array.from({ length: n }, (_, i) => el('message', { id: `m${i}` }, 'm'.repeat(chars))));

  /** A store capped at CAP holding the user dj, and dj's file. */
  async function cappedDj({ root, open }: ScratchSpool, log: Logger): Promise<{ store: SpoolStore; file: string }> {
    const store = open({ maxFileBytes: CAP, log });
    await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
    return { store, file: join(root, 'localhost', 'dj.xml') };
  }

  test('is 1 MiB by default', () => {
    assert.equal(DEFAULT_MAX_FILE_BYTES, 1024 * 1024);
  });

  test('a change beyond it is refused: nothing written, nothing cached, nothing journaled', async (t) => {
    const { root, open } = await scratch(t);
    const { log, lines } = captureLog();
    const { store, file } = await cappedDj({ root, open }, log);
    await store.set('localhost', 'dj', { 'x:blob': blob(2000) });
    await store.flush();
    const before = await readFile(file, 'utf8');

    await assert.rejects(store.set('localhost', 'dj', { 'x:other': blob(3000) }), (err: unknown) => {
      assert.ok(err instanceof UserFileFullError);
      assert.equal(err.user, 'dj');
      assert.equal(err.max, CAP);
      assert.ok(err.bytes > CAP, String(err.bytes));
      assert.match(err.message, /over the cap of 4096 bytes/);
      return true;
    });
    await assert.rejects(store.update('localhost', 'dj', NS_OFFLINE, () => box(1, 5000)), UserFileFullError);
    await assert.rejects(store.create('localhost', 'big', { 'x:blob': blob(5000) }), UserFileFullError);
    // Nothing changed, in memory or on disk, and the journal holds nothing.
    assert.equal(await store.get('localhost', 'dj', 'x:other'), undefined);
    assert.equal(await store.get('localhost', 'dj', NS_OFFLINE), undefined);
    assert.equal(await store.exists('localhost', 'big'), false);
    assert.equal(await readFile(file, 'utf8'), before);
    await assert.rejects(stat(join(root, 'localhost', 'big.xml')), /ENOENT/);
    assert.deepEqual(await readdir(root), ['localhost'], 'no journal generation for a refused change');
    assert.equal((await open().get('localhost', 'dj', 'x:other')), undefined);
    // One warning per file, not one per refusal (an attacker sends many).
    assert.equal(lines.filter((l) => String(l.msg).includes('exceed its size cap')).length, 2);

    // Up to the cap is fine.
    await store.set('localhost', 'dj', { 'x:other': blob(1000) });
    await store.flush();
    assert.ok((await stat(file)).size <= CAP);
    await store.close();
  });

  test('a file already over the cap (1.4, or a lowered cap) can be changed without growing, made smaller, and removed', async (t) => {
    const { root, open } = await scratch(t);
    const file = join(root, 'localhost', 'dj.xml');
    const fill = async (): Promise<number> => {
      const uncapped = open({ maxFileBytes: 0 });
      await uncapped.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
      await uncapped.update('localhost', 'dj', NS_OFFLINE, () => box(10, 1000));
      await uncapped.close();
      return (await stat(file)).size;
    };
    const size = await fill();
    assert.ok(size > CAP, String(size));

    const store = open({ maxFileBytes: CAP });
    // Growing it further is refused...
    await assert.rejects(store.set('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }) }), UserFileFullError);
    assert.equal((await stat(file)).size, size);
    // ...a change of the same size is not (a password of the same length)...
    await store.set('localhost', 'dj', { [NS_AUTH]: pw('secreT') });
    // ...and neither is one that shrinks it, though it stays over the cap.
    await store.update('localhost', 'dj', NS_OFFLINE, (cur) => {
      cur!.children.splice(0, 2);
      return cur!;
    });
    await store.flush();
    const smaller = (await stat(file)).size;
    assert.ok(smaller < size && smaller > CAP, `${smaller}`);
    assert.equal((await store.get('localhost', 'dj', NS_AUTH))?.text(), 'secreT');
    // Taking the messages (a login) empties it; then it may grow again, up to the cap.
    await store.update('localhost', 'dj', NS_OFFLINE, () => null);
    await store.set('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }) });
    await store.close();

    // An over-cap file can always be removed (unregistration, jabberctl deluser).
    await fill();
    const capped = open({ maxFileBytes: CAP });
    assert.equal(await capped.exists('localhost', 'dj'), true);
    await capped.remove('localhost', 'dj');
    await capped.flush();
    await assert.rejects(stat(file), /ENOENT/);
    assert.equal(await capped.exists('localhost', 'dj'), false);
    await capped.close();
  });

  test('caps the weight parsed too: a change that makes the file too dense is refused like one too large, one that does not grow it is not', async (t) => {
    const { root, open } = await scratch(t);
    const { log, lines } = captureLog();
    const { store, file } = await cappedDj({ root, open }, log);
    // CAP 4096 bytes allows a weight of 16 * 4096 = 65,536: 500 `<a/>` are
    // 2,000 bytes, within the byte cap, but weigh 75,000.
    const dense = (n: number): Element => el('q', { xmlns: 'x:dense' }, ...Array.from({ length: n }, () => el('a')));
    await store.set('localhost', 'dj', { 'x:dense': dense(300) });
    await store.flush();
    const before = await readFile(file, 'utf8');
    await assert.rejects(store.set('localhost', 'dj', { 'x:dense': dense(500) }), (err: unknown) => {
      assert.ok(err instanceof UserFileFullError);
      assert.equal(err.user, 'dj');
      assert.equal(err.max, CAP);
      assert.ok(err.bytes < CAP, String(err.bytes));
      assert.ok(err.weight !== undefined && err.weight > 16 * CAP, String(err.weight));
      assert.match(err.message, /too dense/);
      return true;
    });
    await assert.rejects(store.update('localhost', 'dj', 'x:more', () => dense(200)), UserFileFullError);
    await assert.rejects(store.create('localhost', 'new', { 'x:dense': dense(500) }), UserFileFullError);
    // Nothing changed, in memory or on disk, and the journal holds nothing.
    assert.equal((await store.get('localhost', 'dj', 'x:dense'))?.elements.length, 300);
    assert.equal(await store.get('localhost', 'dj', 'x:more'), undefined);
    assert.equal(await store.exists('localhost', 'new'), false);
    assert.equal(await readFile(file, 'utf8'), before);
    await assert.rejects(stat(join(root, 'localhost', 'new.xml')), /ENOENT/);
    assert.deepEqual(await readdir(root), ['localhost'], 'no journal generation for a refused change');
    // A deferred change that would make it too dense is dropped.
    await store.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }, ...dense(200).children) });
    assert.equal(await store.get('localhost', 'dj', NS_LAST), undefined);
    // The same warnings as for the size: once per file for the refusals.
    const warned = lines.filter((l) => String(l.msg).includes('exceed its size cap'));
    assert.equal(warned.length, 3, JSON.stringify(warned));
    assert.equal(warned.filter((l) => String(l.msg).includes('too many elements')).length, 3);
    await store.close();

    // A file already too dense (no cap when it was written)...
    const uncapped = open({ maxFileBytes: 0 });
    await uncapped.set('localhost', 'dj', { 'x:dense': dense(900), [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }) });
    await uncapped.close();
    const size = (await stat(file)).size;
    assert.ok(size < CAP, String(size));
    const capped = open({ maxFileBytes: CAP });
    // ...is not grown further, even by one element...
    await assert.rejects(capped.set('localhost', 'dj', { 'x:dense': dense(901) }), UserFileFullError);
    // ...but a change that does not grow it passes (a password of the same
    // length), and so does one that shrinks it although it stays too dense.
    await capped.set('localhost', 'dj', { [NS_AUTH]: pw('secreT') });
    await capped.update('localhost', 'dj', 'x:dense', (cur) => {
      cur!.children.splice(0, 100);
      return cur!;
    });
    // A new logout time over the old one is kept, one with a status text
    // (more nodes) is dropped.
    await capped.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '2' }) });
    await capped.setSoon('localhost', 'dj', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '3' }, 'Away') });
    await capped.flush();
    const now = parseXml(await readFile(file, 'utf8'));
    assert.equal(now.getChild('q', 'x:dense')?.elements.length, 800);
    assert.equal(now.getChildText('password', NS_AUTH), 'secreT');
    assert.equal(now.getChild('query', NS_LAST)?.attrs.last, '2');
    await capped.close();
  });

  test('<maxfilesize>0 caps neither size nor weight', async (t) => {
    const { open } = await scratch(t);
    const store = open({ maxFileBytes: 0 });
    await store.create('localhost', 'dj', { [NS_AUTH]: pw('secret') });
    await store.set('localhost', 'dj', { 'x:dense': el('q', { xmlns: 'x:dense' }, ...Array.from({ length: 20_000 }, () => el('a'))) });
    assert.equal((await store.get('localhost', 'dj', 'x:dense'))?.elements.length, 20_000);
  });

  test('setSoon counts a replaced record exactly, also one it measured itself: a file may reach the cap, not pass it', async (t) => {
    const { root, open } = await scratch(t);
    const { store, file } = await cappedDj({ root, open }, captureLog().log);
    const last = (status: string): Element => el('query', { xmlns: NS_LAST, last: '100' }, status);
    await store.setSoon('localhost', 'dj', { [NS_LAST]: last('a') });
    await store.flush();
    const room = CAP - (await stat(file)).size;
    const status = async (): Promise<string | undefined> => (await store.get('localhost', 'dj', NS_LAST))?.text();
    // Replaces the record read from the file, then twice one setSoon made.
    await store.setSoon('localhost', 'dj', { [NS_LAST]: last('b'.repeat(1 + room)) });
    assert.equal((await status())?.length, 1 + room, 'exactly at the cap: kept');
    await store.setSoon('localhost', 'dj', { [NS_LAST]: last('c'.repeat(1 + room)) });
    assert.equal((await status())?.[0], 'c', 'the same size again: kept');
    await store.setSoon('localhost', 'dj', { [NS_LAST]: last('d'.repeat(2 + room)) });
    assert.equal((await status())?.[0], 'c', 'one byte over the cap: dropped');
    await store.flush();
    assert.equal((await stat(file)).size, CAP);
  });

  test('setSoon never fails later for the cap: a change that would grow the file beyond it is dropped with a warning', async (t) => {
    const { root, open } = await scratch(t);
    const { log, lines } = captureLog();
    const { store, file } = await cappedDj({ root, open }, log);
    const last = (t: string, status: string): Element => el('query', { xmlns: NS_LAST, last: t }, status);
    // A logout status is the user's own text: it may be large.
    await store.setSoon('localhost', 'dj', { [NS_LAST]: last('100', 's'.repeat(5000)) });
    assert.equal(await store.get('localhost', 'dj', NS_LAST), undefined, 'the dropped change is not visible either');
    assert.ok(lines.some((l) => l.level === 40 && String(l.msg).includes('deferred spool change dropped')), JSON.stringify(lines));
    await store.setSoon('localhost', 'dj', { [NS_LAST]: last('200', 'Logged out') });
    await store.flush();
    assert.match(await readFile(file, 'utf8'), /last='200'/);
    assert.ok(!lines.some((l) => l.level === 50), 'no failed write: ' + JSON.stringify(lines));
    await store.close();

    // A file over the cap still gets a new logout time over its old one (no growth)...
    const big = open({ maxFileBytes: 0 });
    await big.update('localhost', 'dj', NS_OFFLINE, () => box(5, 1000));
    await big.close();
    const capped = open({ maxFileBytes: CAP, log });
    await capped.setSoon('localhost', 'dj', { [NS_LAST]: last('300', 'Logged out') });
    await capped.flush();
    assert.match(await readFile(file, 'utf8'), /last='300'/);
    // ...and the next durable write that does not grow it takes the deferred change along.
    await capped.setSoon('localhost', 'dj', { [NS_LAST]: last('400', 'Logged out') });
    await capped.update('localhost', 'dj', NS_OFFLINE, (cur) => {
      cur!.children.splice(0, 1);
      return cur!;
    });
    assert.match(await readFile(file, 'utf8'), /last='400'/);
    await capped.close();
    assert.ok(!lines.some((l) => l.level === 50), 'no failed write: ' + JSON.stringify(lines));
  });
});

test('a change asked for once close() has begun is refused: none slips in after the last checkpoint to leave a journal behind', async (t) => {
  const { root, open } = await scratch(t);
  const store = open();
  await store.create('localhost', 'late', { [NS_AUTH]: pw('pw') });
  // Asked for before the close: carried out and written out.
  const before = store.set('localhost', 'late', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '1' }) });
  const closing = store.close();
  const refused = (name: string, p: Promise<unknown>): Promise<void> => assert.rejects(p, SpoolClosedError, name);
  await refused('set', store.set('localhost', 'late', { [NS_LAST]: el('query', { xmlns: NS_LAST, last: '2' }) }));
  await refused('update', store.update('localhost', 'late', NS_LAST, () => el('query', { xmlns: NS_LAST, last: '3' })));
  await refused('create', store.create('localhost', 'later', { [NS_AUTH]: pw('pw') }));
  await refused('remove', store.remove('localhost', 'late'));
  await before;
  await closing;
  assert.deepEqual((await readdir(root)).filter((f) => f.startsWith('.yak-journal')), []);
  assert.match(await readFile(join(root, 'localhost', userFileName('late')), 'utf8'), /last='1'/);
});

test('many users read at once (everyone logging in again after a restart) hold a few descriptors, not one each', async (t) => {
  const { root, open } = await scratch(t);
  const users = Array.from({ length: 400 }, (_, i) => `fd${i}`);
  await mkdir(join(root, 'localhost'));
  // Large enough that each read takes a few trips to the thread pool.
  const pad = `<query xmlns='jabber:iq:private' xdbns='jabber:iq:private'><x xmlns='urn:pad'>${'p'.repeat(200_000)}</x></query>`;
  for (const u of users) await writeFile(join(root, 'localhost', userFileName(u)), `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password>${pad}</xdb>`);
  const store = open({ fsync: false });
  await store.open();
  const descriptors = (): number => readdirSync('/proc/self/fd').length;
  const before = descriptors();
  let most = before;
  let reading = true;
  const watch = (): void => {
    most = Math.max(most, descriptors());
    if (reading) setImmediate(watch);
  };
  watch();
  const passwords = await Promise.all(users.map((u) => store.get('localhost', u, NS_AUTH)));
  reading = false;
  assert.deepEqual(new Set(passwords.map((p) => p?.text())), new Set(['pw']));
  assert.ok(most - before <= 32, `${most - before} descriptors held at once by the reads`);
});
