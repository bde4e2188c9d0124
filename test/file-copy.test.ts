// A backup's copy of one file (src/admin/file-copy.ts) has the mode it is
// given, whatever the umask would leave of it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { copyLarge, copyNow } from '../src/admin/file-copy.js';

test('a copy, small or large, has the mode it was given under a umask that would take some of it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yak-file-copy-'));
  const umask = process.umask(0o077);
  try {
    const source = join(dir, 'user.xml');
    writeFileSync(source, '<xdb/>');
    assert.equal(copyNow(source, join(dir, 'small'), 0o640), 6);
    assert.equal(await copyLarge(source, join(dir, 'large'), 0o640, () => {}), 6);
    for (const copy of ['small', 'large']) assert.equal(statSync(join(dir, copy)).mode & 0o777, 0o640, copy);
  } finally {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  }
});
