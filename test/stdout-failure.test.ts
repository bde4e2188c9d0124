// The command-line tools when their standard output fails (stdout-failure.ts):
// closed by its reader, the work goes on and the exit status is the work's;
// any other failure is said once and ends in a failure status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_CONFIG, startYak } from './helpers/yak.js';

const cli = (name: string): string => fileURLToPath(new URL(`../src/cli/${name}.js`, import.meta.url));

interface Run {
  code: number | null;
  stderr: string;
}

/** Runs a tool whose standard output is a pipe nobody reads: closed before the tool has written a thing. */
function withStdoutClosed(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

/** Runs a tool whose standard output is /dev/full: every write fails with ENOSPC. */
function withStdoutFull(args: string[]): Promise<Run> {
  const full = openSync('/dev/full', 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', full, 'pipe'], timeout: 20_000 });
  closeSync(full);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

test('output closed by its reader: no stack trace, and the exit status is the work’s', { timeout: 60_000 }, async () => {
  const yak = await startYak();
  const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-stdout-'));
  try {
    // reguser's 1 would say the registration was refused; it was made.
    const reg = await withStdoutClosed([cli('reguser'), `127.0.0.1:${yak.port}`, '--domain', yak.host, 'username=piped', 'password=pw']);
    assert.deepEqual(reg, { code: 0, stderr: '' });
    assert.equal(await yak.server.xdb.exists(yak.host, 'piped'), true);
    for (const args of [
      [cli('jabber-0k'), '-p', 'secret', '-t', 'ABCDE', '-s', '400'],
      [cli('jabberd'), '-c', BUNDLED_CONFIG, '--check'],
      [cli('jabberd'), '--help'],
    ]) {
      assert.deepEqual(await withStdoutClosed(args), { code: 0, stderr: '' }, args.join(' '));
    }
    const list = await withStdoutClosed([cli('jabberctl'), '-c', BUNDLED_CONFIG, '-s', spool, 'list', 'localhost']);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stderr, /\n\s+at /);
  } finally {
    await yak.stop();
    await rm(spool, { recursive: true, force: true });
  }
});

test('output that cannot be written (a full disk): said once, and a failure status', { timeout: 60_000 }, async () => {
  assert.deepEqual(await withStdoutFull([cli('jabber-0k'), '-p', 'secret', '-t', 'ABCDE', '-s', '400']), {
    code: 2,
    stderr: 'jabber-0k: cannot write to standard output: ENOSPC: no space left on device, write\n',
  });
  assert.deepEqual(await withStdoutFull([cli('jabberd'), '-c', BUNDLED_CONFIG, '--check']), {
    code: 1,
    stderr: 'jabberd: cannot write to standard output: ENOSPC: no space left on device, write\n',
  });
  // What commander prints itself: it used to exit at once, before the failure was heard.
  for (const tool of ['jabberd', 'jabberctl']) {
    for (const args of [['--version'], ['--help'], ...(tool === 'jabberctl' ? [['help', 'list']] : [])]) {
      assert.deepEqual(await withStdoutFull([cli(tool), ...args]), {
        code: 1,
        stderr: `${tool}: cannot write to standard output: ENOSPC: no space left on device, write\n`,
      }, `${tool} ${args.join(' ')}`);
    }
  }
});
