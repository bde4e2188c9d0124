// bench/fs-floor.ts: naming the file system the spools go to, journal or
// not (what a new file costs on ext4 depends on it).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeFileSystem } from '../bench/fs-floor.js';

test('describeFileSystem names the mount a folder is on, and says whether ext4 has a journal', () => {
  assert.equal(describeFileSystem('/proc/self'), 'proc');
  const dir = mkdtempSync(join(tmpdir(), 'yak-fs-'));
  const fs = describeFileSystem(dir);
  rmSync(dir, { recursive: true });
  assert.ok(fs && fs.length > 0, 'the temp folder is on some file system');
  if (fs.startsWith('ext')) assert.match(fs, /^ext[34] with(out)? a journal$/);
  assert.equal(describeFileSystem(join(dir, 'gone')), undefined);
});
