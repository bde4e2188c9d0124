// The pidfile's release (src/util/pidfile.ts): gone is fine, anything else is said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { releasePidfile } from '../src/util/pidfile.js';
import { captureLog } from './helpers/log-capture.js';

test('release removes only its own pidfile, says nothing when it is gone, and logs one it cannot remove', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-pid-'));
  try {
    const { log, lines } = captureLog('warn');
    const own = path.join(dir, 'own.pid');
    await writeFile(own, `${process.pid}\n`);
    await releasePidfile(own, log);
    assert.equal(existsSync(own), false);
    const other = path.join(dir, 'other.pid');
    await writeFile(other, '1\n');
    await releasePidfile(other, log);
    assert.equal(await readFile(other, 'utf8'), '1\n', "another process's pidfile stays");
    await releasePidfile(path.join(dir, 'gone.pid'), log);
    assert.equal(lines.length, 0);
    // A folder where the pidfile belongs: it cannot be read, and the next start will trip on it.
    const blocked = path.join(dir, 'blocked.pid');
    await mkdir(blocked);
    await releasePidfile(blocked, log);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.pidfile, blocked);
    assert.match(String(lines[0]!.err), /a folder, not a file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
