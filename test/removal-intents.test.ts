// RemovalIntents (src/xdb/removal-intents.ts): the account removals under
// way, on disk, for the next start to finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RemovalIntents, RemovalIntentsError, REMOVALS_FILE, REMOVALS_NEW, REMOVALS_UNREADABLE } from '../src/xdb/removal-intents.js';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { NS_AUTH } from '../src/xdb/xdb.js';
import { el } from '../src/xml/element.js';
import { withTempDir } from './helpers/temp-dir.js';

const withRoot = (fn: (root: string) => Promise<void>): Promise<void> => withTempDir('yak-intents-', fn);

test('noted removals are read back by the next start, and the file goes once none is left', () =>
  withRoot(async (root) => {
    const now = new RemovalIntents(root, true);
    await now.note('localhost', 'dj');
    await now.note('other.example', 'jos%C3%A9');
    await now.note('localhost', 'gone');
    await now.forget('localhost', 'gone');
    const next = new RemovalIntents(root, true);
    assert.deepEqual(await next.unfinished(), [
      { host: 'localhost', user: 'dj' },
      { host: 'other.example', user: 'jos%C3%A9' },
    ]);
    await next.forget('localhost', 'dj');
    await next.forget('other.example', 'jos%C3%A9');
    assert.deepEqual(await readdir(root), [], 'the file, or its temp file, was left');
    assert.deepEqual(await new RemovalIntents(root, true).unfinished(), []);
  }));

test('a removal noted by a process that never asked for the list keeps the ones listed before (jabberctl run on the spool)', () =>
  withRoot(async (root) => {
    await new RemovalIntents(root, false).note('localhost', 'cutshort');
    const offline = new RemovalIntents(root, false);
    await offline.note('localhost', 'carol');
    await offline.forget('localhost', 'carol');
    assert.deepEqual(await new RemovalIntents(root, false).unfinished(), [{ host: 'localhost', user: 'cutshort' }]);
  }));

test('writes asked for together end with the set as it was last', () =>
  withRoot(async (root) => {
    const intents = new RemovalIntents(root, false);
    await Promise.all([intents.note('localhost', 'a'), intents.note('localhost', 'b'), intents.forget('localhost', 'a'), intents.note('localhost', 'c')]);
    await intents.idle();
    assert.deepEqual(await new RemovalIntents(root, false).unfinished(), [
      { host: 'localhost', user: 'b' },
      { host: 'localhost', user: 'c' },
    ]);
  }));

test('a file that is not what Yak writes is moved aside with a message naming both, and removals go on', () =>
  withRoot(async (root) => {
    for (const text of ['', '{', '{"a":1}', '[["localhost"]]', '[["localhost", 7]]', '[["", "dj"]]', 'null']) {
      await writeFile(join(root, REMOVALS_FILE), text);
      await assert.rejects(
        new RemovalIntents(root, false).unfinished(),
        (err: Error) => err instanceof RemovalIntentsError && err.message.includes(REMOVALS_FILE) && err.message.includes(REMOVALS_UNREADABLE),
        text,
      );
      assert.match((await readdir(root)).join(' '), new RegExp(REMOVALS_UNREADABLE));
    }
    // Moved aside by a process that only changes the list (jabberctl on the spool): told (jabberctl says it on stderr), and never over one moved before.
    await writeFile(join(root, REMOVALS_FILE), '{');
    const said: string[] = [];
    const intents = new RemovalIntents(root, false, (err) => said.push(err.message));
    await intents.note('localhost', 'dj');
    assert.equal(said.length, 1);
    const aside = /moved to (\S+),/.exec(said[0]!)?.[1];
    assert.ok(aside, said[0]);
    assert.equal(await readFile(aside, 'utf8'), '{');
    assert.equal(await readFile(join(root, REMOVALS_UNREADABLE), 'utf8'), '', 'the one moved aside first was overwritten');
    assert.deepEqual(await new RemovalIntents(root, false).unfinished(), [{ host: 'localhost', user: 'dj' }]);
  }));

test('a list that cannot be read at all is an error each time it is asked for, never an empty list', () =>
  withRoot(async (root) => {
    await mkdir(join(root, REMOVALS_FILE));
    const intents = new RemovalIntents(root, false);
    await assert.rejects(intents.unfinished(), (err: Error) => !(err instanceof RemovalIntentsError));
    await assert.rejects(intents.note('localhost', 'dj'));
    await assert.rejects(intents.forget('localhost', 'dj'));
  }));

test('a write a crash cut short before its rename leaves the list as it was, and its temp file goes', () =>
  withRoot(async (root) => {
    await new RemovalIntents(root, false).note('localhost', 'dj');
    await writeFile(join(root, REMOVALS_NEW), '[["localhost","d');
    assert.deepEqual(await new RemovalIntents(root, false).unfinished(), [{ host: 'localhost', user: 'dj' }]);
    assert.deepEqual((await readdir(root)).sort(), [REMOVALS_FILE]);
  }));

test('an account created under a listed name strikes it off first: the next start must not remove the new account', () =>
  withRoot(async (root) => {
    await new RemovalIntents(root, false).note('localhost', 'alice');
    const store = new SpoolStore(root, { fsync: false });
    try {
      assert.equal(await store.create('localhost', 'alice', { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, 'new') }), true);
      assert.deepEqual(await new RemovalIntents(root, false).unfinished(), []);
    } finally {
      await store.close();
    }
  }));

test('peek() reads the list and changes nothing: a file not of Yak\'s writing stays where it is; once loaded, it is the list as it stands', () =>
  withRoot(async (root) => {
    assert.deepEqual(await new RemovalIntents(root, false).peek(), { listed: [] });
    await writeFile(join(root, REMOVALS_FILE), '[["localhost"]]');
    assert.deepEqual(await new RemovalIntents(root, false).peek(), { listed: [], invalid: 'not a list of account removals as Yak writes it' });
    assert.deepEqual(await readdir(root), [REMOVALS_FILE]);
    await writeFile(join(root, REMOVALS_FILE), '[["localhost","dj"]]');
    assert.deepEqual(await new RemovalIntents(root, false).peek(), { listed: [{ host: 'localhost', user: 'dj' }] });
    const running = new RemovalIntents(root, false);
    await running.note('localhost', 'bob');
    await running.forget('localhost', 'dj');
    assert.deepEqual(await running.peek(), { listed: [{ host: 'localhost', user: 'bob' }] });
    // The spool's path runs through a file: the read fails, and says so.
    const inFolder = new RemovalIntents(join(root, REMOVALS_FILE), false);
    await assert.rejects(inFolder.peek(), new RegExp(`^Error: ${join(root, REMOVALS_FILE, REMOVALS_FILE)}: cannot be read \\(ENOTDIR: `));
  }));

test('a write that fails (a full disk; here a folder in the way of the rename) rejects and leaves no temp file behind', () =>
  withRoot(async (root) => {
    const intents = new RemovalIntents(root, false);
    await intents.note('localhost', 'dj');
    await rm(join(root, REMOVALS_FILE));
    await mkdir(join(root, REMOVALS_FILE, 'in-the-way'), { recursive: true });
    await assert.rejects(intents.note('localhost', 'bob'));
    assert.deepEqual((await readdir(root)).sort(), [REMOVALS_FILE], 'the temp file was left in the spool');
  }));
