// The log file (src/log.ts): it names users and their addresses, so the
// folders Yak makes for it and the file itself are not open to everyone.
// And stderr, when nobody reads it: what waits for it is bounded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

const STDERR_CHILD = fileURLToPath(new URL('./helpers/stderr-logger.js', import.meta.url));

test('lines for a stderr nobody reads wait up to 1 MiB, the rest is dropped, and a warning counts it once stderr is read again', { timeout: 60_000 }, async () => {
  // 200,000 lines of about 130 bytes: 26 MB, all of it held before.
  const child = spawn(process.execPath, ['--expose-gc', STDERR_CHILD, '200000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.pause();
  try {
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const heap = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: string) => {
        stdout += d;
        const m = /^heap (\d+)$/m.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`the child ended (${code}) before it wrote its lines: ${stdout}`)));
    });
    assert.ok(heap < 12_000_000, `the logger holds the unread lines: heap ${heap} bytes`);
    let stderr = '';
    // Paused by hand, a stream stays paused when a listener comes.
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d)).resume();
    child.stdin.write('go\n');
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0);
    const lines = stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { msg: string; characters?: number });
    const warning = lines.find((l) => l.msg === 'log lines dropped: stderr was not read');
    assert.ok(warning && warning.characters! > 20_000_000, `no count of the lines dropped: ${JSON.stringify(warning)}`);
    assert.equal(lines.at(-1)?.msg, 'after the reader came back');
    assert.equal(lines.filter((l) => l.msg === 'log lines dropped: stderr was not read').length, 1, 'warned more than once');
    // What waited (about 1 MiB) went out first, whole lines only.
    assert.ok(lines.filter((l) => l.msg === 'connection closed').length > 5_000);
  } finally {
    child.kill();
  }
});

test('a stopped server whose stderr nobody reads still exits, the lines still waiting lost', { timeout: 30_000 }, async () => {
  // Before, sonic-boom retried the refused writes for ever, its timer keeping the process alive.
  const child = spawn(process.execPath, ['--expose-gc', STDERR_CHILD, '20000', 'stop'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pause();
  try {
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0);
  } finally {
    child.kill();
  }
});
