// jabber-0k as a child process (book example 7-4, SPEC section 5), and its
// output used for a real 0k login.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import os from 'node:os';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { authOffer } from '../src/client/auth.js';
import { authIq, registerUser, startYak } from './helpers/yak.js';
import { runTool, type ToolRun } from './helpers/run-tool.js';

const ZEROK = fileURLToPath(new URL('../src/cli/jabber-0k.js', import.meta.url));

function jabber0k(args: string[], input?: string | Buffer): Promise<ToolRun> {
  return runTool(ZEROK, args, { input });
}

describe('jabber-0k', () => {
  test('the book vector: -p secret -t ABCDE -s 400', async () => {
    const r = await jabber0k(['-p', 'secret', '-t', 'ABCDE', '-s', '400']);
    assert.equal(r.stdout, '01945b9b2c3207c4cce5dc99e50605779f570077\n');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
  });

  /**
   * `jabber-0k -p - -t ABCDE -s 400` on a terminal (script(1) gives it one),
   * `typed` once the prompt shows: its exit status and what the screen showed.
   */
  async function typedAtPrompt(typed: string | Buffer): Promise<{ code: number | null; screen: string }> {
    const quoted = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
    const command = [process.execPath, ZEROK, '-p', '-', '-t', 'ABCDE', '-s', '400'].map(quoted).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let screen = '';
    child.stdout.setEncoding('utf8');
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no prompt on the terminal: ${JSON.stringify(screen)}`)), 10_000);
        child.stdout.on('data', (d: string) => {
          screen += d;
          if (screen.includes('Password: ')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      child.stdin.write(typed);
      return { code: await closed, screen };
    } finally {
      child.kill();
    }
  }

  test('-p - on a terminal asks at a prompt that does not echo what is typed', async () => {
    // Typed once the prompt shows: echo is off by then, so the screen must not show it.
    const { code, screen } = await typedAtPrompt('secret\r');
    assert.equal(code, 0, screen);
    assert.match(screen, /01945b9b2c3207c4cce5dc99e50605779f570077/);
    assert.doesNotMatch(screen, /secret/, 'the password was shown on the terminal');
  });

  test('a password that is not UTF-8, typed on a Latin-1 terminal or given to -p, is refused, never hashed as U+FFFD', async () => {
    const { code, screen } = await typedAtPrompt(Buffer.from('p\xe4ss\r', 'latin1'));
    assert.equal(code, 2, screen);
    assert.match(screen, /jabber-0k: the password typed is not UTF-8 text/);
    const r = await jabber0k(['-p', 'p\uFFFDss', '-t', 'ABCDE', '-s', '400']);
    assert.deepEqual([r.code, r.stdout], [2, '']);
    assert.match(r.stderr, /the password is not UTF-8 text/);
  });

  test('long options, and the password from standard input with -p -', async () => {
    const r = await jabber0k(['--password', '-', '--token', 'ABCDE', '--sequence', '400'], 'secret\n');
    assert.equal(r.stdout, '01945b9b2c3207c4cce5dc99e50605779f570077\n');
    assert.equal(r.code, 0);
  });

  test('-p - reads UTF-8 only, without a byte-order mark, and never an empty password', async () => {
    const book = '01945b9b2c3207c4cce5dc99e50605779f570077\n';
    assert.equal((await jabber0k(['-p', '-', '-t', 'ABCDE', '-s', '400'], '\uFEFFsecret\r\n')).stdout, book);
    const latin1 = await jabber0k(['-p', '-', '-t', 'ABCDE', '-s', '400'], Buffer.from([0xff, 0x73, 0x0a]));
    assert.equal(latin1.code, 2);
    assert.equal(latin1.stdout, '');
    assert.match(latin1.stderr, /^jabber-0k: standard input is not UTF-8 text$/m);
    for (const [args, input] of [[['-p', '-'], ''], [['-p', ''], undefined]] as const) {
      const empty = await jabber0k([...args, '-t', 'ABCDE', '-s', '400'], input);
      assert.equal(empty.code, 2);
      assert.match(empty.stderr, /^jabber-0k: the password must not be empty$/m);
    }
  });

  test('-p - with standard input that cannot be read: one line and exit 2, no stack trace', () => {
    // `jabber-0k -p - ... < /tmp`: reading a directory fails with EISDIR.
    const dir = openSync(os.tmpdir(), 'r');
    try {
      const r = spawnSync(process.execPath, [ZEROK, '-p', '-', '-t', 'ABCDE', '-s', '400'], { stdio: [dir, 'pipe', 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^jabber-0k: cannot read the password from standard input: EISDIR[^\n]*\n$/);
    } finally {
      closeSync(dir);
    }
  });

  test('-p - reads no further than a password goes: standard input without a line end is refused, exit 2', () => {
    // `jabber-0k -p - ... < /dev/zero`: it never ends.
    const zero = openSync('/dev/zero', 'r');
    try {
      const r = spawnSync(process.execPath, [ZEROK, '-p', '-', '-t', 'ABCDE', '-s', '400'], { stdio: [zero, 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'jabber-0k: the password is longer than 262144 characters\n');
    } finally {
      closeSync(zero);
    }
  });

  test('a missing option is a usage error (exit 2)', async () => {
    const r = await jabber0k(['-p', 'secret', '-t', 'ABCDE']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--sequence/);
  });

  test('a sequence that is not a whole number is a usage error, a negative one included', async () => {
    for (const sequence of ['4x', '-5']) {
      const r = await jabber0k(['-p', 'secret', '-t', 'ABCDE', '-s', sequence]);
      assert.equal(r.code, 2, sequence);
      assert.equal(r.stdout, '', sequence);
      assert.match(r.stderr, /sequence must be a whole number/, sequence);
    }
  });

  test('spaces around the token, as copied from a log or a spool file, are not part of it', async () => {
    const r = await jabber0k(['-p', 'secret', '-t', ' ABCDE ', '-s', '400']);
    assert.equal(r.stdout, '01945b9b2c3207c4cce5dc99e50605779f570077\n');
    assert.equal(r.code, 0);
  });

  test('its hash logs in to a real server', async () => {
    const yak = await startYak();
    try {
      await registerUser(yak, 'zk', 'secret');
      const c = await yak.connect();
      const offer = await authOffer(c, 'zk');
      const r = await jabber0k(['-p', 'secret', '-t', offer.token!, '-s', String(offer.sequence)]);
      assert.equal(r.code, 0);
      const reply = await c.request(authIq('zk', 'Work', { hash: r.stdout.trim() }));
      assert.equal(reply.attrs.type, 'result');
      await c.close();
    } finally {
      await yak.stop();
    }
  });
});
