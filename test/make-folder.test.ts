// makeFolder: mkdir { recursive: true } with the real reason when a folder
// cannot be made. Node's recursive mkdir calls every such failure ENOENT,
// so a spool on a read-only file system was refused as "no such file or
// directory" for a folder that was there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeFolder, makeFolderSync } from '../src/util/make-folder.js';

test('makes the missing folders and names the first it made; undefined when all were there', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-make-folder-'));
  try {
    assert.equal(await makeFolder(path.join(dir, 'a', 'b'), 0o700), path.join(dir, 'a'));
    assert.equal(await makeFolder(path.join(dir, 'a', 'b'), 0o700), undefined);
    assert.equal(makeFolderSync(path.join(dir, 'c', 'd'), 0o700), path.join(dir, 'c'));
    assert.equal(((await stat(path.join(dir, 'c', 'd'))).mode & 0o777).toString(8), '700');
    // A link whose target is missing: below it nothing can be made, and the error says so as Node
    // does (ENOENT, or ENOTDIR from the asynchronous mkdir), not EEXIST for the link asked again.
    await symlink(path.join(dir, 'nowhere', 'logs'), path.join(dir, 'dangling'));
    for (const make of [() => makeFolder(path.join(dir, 'dangling', 'sub'), 0o700), async () => makeFolderSync(path.join(dir, 'dangling', 'sub'), 0o700)]) {
      await assert.rejects(make, (err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'ENOTDIR');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("on a read-only file system: EROFS, where Node's recursive mkdir says ENOENT", { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-make-folder-ro-'));
  try {
    const module = fileURLToPath(new URL('../src/util/make-folder.js', import.meta.url));
    // Run in a user and mount namespace of its own (util-linux's unshare, as
    // the bitlbee test uses), where a read-only tmpfs can be mounted on `dir`.
    const script = `
      const { makeFolder, makeFolderSync } = await import(${JSON.stringify(module)});
      const { mkdirSync } = await import('node:fs');
      const target = process.argv[1] + '/a/b';
      const codes = [];
      for (const make of [(d) => makeFolder(d, 0o700), (d) => makeFolderSync(d, 0o700), (d) => mkdirSync(d, { recursive: true })]) {
        try { await make(target); codes.push('made'); } catch (err) { codes.push(err.code); }
      }
      console.log(codes.join(' '));`;
    const run = spawnSync(
      'unshare',
      ['-rm', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" --input-type=module -e "$3" "$1"', 'sh', dir, process.execPath, script],
      { encoding: 'utf8', timeout: 15_000 },
    );
    assert.equal(run.status, 0, `unshare (util-linux) must run it: ${run.error?.message ?? run.stderr}`);
    assert.equal(run.stdout.trim(), 'EROFS EROFS ENOENT');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
