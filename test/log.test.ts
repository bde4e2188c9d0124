// The log file (src/log.ts): it names users and their addresses, so the
// folders Yak makes for it and the file itself are not open to everyone.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger } from '../src/log.js';

const mode = (path: string): number => statSync(path).mode & 0o777;

let dir: string;
let umask: number;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'yak-log-'));
  // The umask everyone has by default, under which pino's own mkdir and
  // open made 0755 folders and 0644 files; set here so the test means the
  // same wherever it runs (with 027 or 077 the old modes would pass too).
  umask = process.umask(0o022);
});
after(() => {
  process.umask(umask);
  rmSync(dir, { recursive: true, force: true });
});

test('the folders Yak makes for the log file are 0750, a new file 0640; at a reopen after logrotate too', () => {
  const file = join(dir, 'var', 'log', 'yak', 'yak.log');
  const { log, reopen } = createLogger({ file });
  log.info('first line');
  log.flush();
  for (const folder of ['var', 'var/log', 'var/log/yak']) assert.equal(mode(join(dir, folder)).toString(8), '750', folder);
  assert.equal(mode(file).toString(8), '640');

  // logrotate moved the file, or the whole folder, away: what the reopen makes is as closed.
  renameSync(join(dir, 'var', 'log', 'yak'), join(dir, 'var', 'log', 'yak.1'));
  reopen();
  log.info('after the rotation');
  log.flush();
  assert.equal(mode(join(dir, 'var', 'log', 'yak')).toString(8), '750');
  assert.equal(mode(file).toString(8), '640');
});

test("an existing folder and file keep the admin's modes", () => {
  const folder = join(dir, 'shared');
  mkdirSync(folder, { mode: 0o755 });
  chmodSync(folder, 0o755);
  const file = join(folder, 'yak.log');
  const first = createLogger({ file });
  first.log.info('x');
  first.log.flush();
  chmodSync(file, 0o644);
  const second = createLogger({ file });
  second.log.info('y');
  second.log.flush();
  assert.equal(mode(folder).toString(8), '755');
  assert.equal(mode(file).toString(8), '644');
});
