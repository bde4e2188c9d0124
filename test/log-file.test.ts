// LogFile (src/log-file.ts) on a disk that fills up and frees again: what
// waits is written whole once there is room, and a line written then is
// not counted as dropped. A small tmpfs of our own (CI runs as root).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LogFile } from '../src/log-file.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'yak-logfile-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
});
after(() => {
  try {
    execFileSync('umount', [dir]);
  } catch {
    execFileSync('umount', ['-l', dir]);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Fills the tmpfs but for `leave` bytes; returns the filler's path. */
function fill(name: string, leave: number): string {
  const filler = join(dir, name);
  const { bavail, bsize } = statfsSync(dir);
  try {
    writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - leave)));
  } catch {
    // Full before the end: full is what was asked.
  }
  return filler;
}

/** The write system calls this process has made so far (Linux's /proc/self/io). */
function writeCalls(): number {
  return Number(/^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

/** Runs `fn` with what it writes to stderr kept, not shown. */
function quietStderr(fn: () => void): string {
  const said: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => said.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return said.join('');
}

test('a batch the disk cut short inside a character is written whole once there is room', () => {
  const path = join(dir, 'split.log');
  const log = new LogFile(path);
  // One page left: the batch's 4,098 bytes stop after the first byte of é.
  const filler = fill('filler-split', 4096);
  const said = quietStderr(() => log.write(`${'a'.repeat(4095)}\u00e9\n`));
  assert.match(said, /ENOSPC/);
  rmSync(filler);
  quietStderr(() => log.flush());
  assert.equal(readFileSync(path).subarray(-4).toString('hex'), '61c3a90a');
  assert.equal(readFileSync(path, 'utf8'), `${'a'.repeat(4095)}\u00e9\n`);
});

test('past the 1 MiB backlog lines are dropped and counted; a line written once there is room again is not', () => {
  const path = join(dir, 'backlog.log');
  const log = new LogFile(path);
  const filler = fill('filler-backlog', 0);
  const batch = `${'b'.repeat(4095)}\n`;
  // 260 batches: the last four are past the bound.
  const writesBefore = writeCalls();
  const said = quietStderr(() => {
    for (let i = 0; i < 260; i++) log.write(batch);
  });
  assert.match(said, /ENOSPC/);
  // One failed write per line on a full disk, not two (a few to spare for the runtime's own).
  assert.ok(writeCalls() - writesBefore < 260 + 20, `${writeCalls() - writesBefore} write calls`);
  rmSync(filler);
  const line = 'the first line after the disk freed\n';
  const recovered = quietStderr(() => log.write(line));
  assert.match(recovered, /written again; 16384 characters of lines were dropped meanwhile/);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.endsWith(line), 'the line written once there was room is missing');
  assert.equal(text.length, 256 * batch.length + line.length);
});
