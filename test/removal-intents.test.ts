// RemovalIntents (src/xdb/removal-intents.ts): the account removals under
// way, on disk, for the next start to finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemovalIntents, RemovalIntentsError, REMOVALS_FILE } from '../src/xdb/removal-intents.js';

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'yak-intents-'));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('noted removals are read back by the next start, and the file goes once none is left', () =>
  withRoot(async (root) => {
    const now = new RemovalIntents(root, true);
    await now.note('localhost', 'dj');
    await now.note('other.example', 'jos%C3%A9');
    await now.note('localhost', 'gone');
    await now.forget('localhost', 'gone');
    const next = new RemovalIntents(root, true);
    assert.deepEqual(await next.load(), [
      { host: 'localhost', user: 'dj' },
      { host: 'other.example', user: 'jos%C3%A9' },
    ]);
    await next.forget('localhost', 'dj');
    await next.forget('other.example', 'jos%C3%A9');
    assert.deepEqual(await readdir(root), [], 'the file, or its temp file, was left');
    assert.deepEqual(await new RemovalIntents(root, true).load(), []);
  }));

test('writes asked for together end with the set as it was last', () =>
  withRoot(async (root) => {
    const intents = new RemovalIntents(root, false);
    await Promise.all([intents.note('localhost', 'a'), intents.note('localhost', 'b'), intents.forget('localhost', 'a'), intents.note('localhost', 'c')]);
    await intents.idle();
    assert.deepEqual(await new RemovalIntents(root, false).load(), [
      { host: 'localhost', user: 'b' },
      { host: 'localhost', user: 'c' },
    ]);
  }));

test('a file that is not what Yak writes is refused with its name, never half read', () =>
  withRoot(async (root) => {
    for (const text of ['', '{', '{"a":1}', '[["localhost"]]', '[["localhost", 7]]', '[["", "dj"]]', 'null']) {
      await writeFile(join(root, REMOVALS_FILE), text);
      await assert.rejects(new RemovalIntents(root, false).load(), (err: Error) => err instanceof RemovalIntentsError && err.message.includes(REMOVALS_FILE), text);
    }
  }));
