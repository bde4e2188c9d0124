// jabberctl as a child process: offline on a bare spool, and against a
// running server (through its control socket) while users log in.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeEntry } from '../src/xdb/journal-entry.js';
import { userFileName } from '../src/xdb/file-names.js';
import { SpoolFileError, type Xdb } from '../src/xdb/xdb.js';
import { AdminOps } from '../src/admin/admin-ops.js';
import { ControlSocket } from '../src/admin/control-socket.js';
import { silentLogger } from '../src/log.js';
import { holdCalls, latch, type HeldCalls } from './helpers/latch.js';
import { captureLog, logLine } from './helpers/log-capture.js';
import { Element } from '../src/xml/element.js';
import { lockSpool } from '../src/xdb/spool-lock.js';
import { authIq, BUNDLED_CONFIG, loginUser, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { startDaemon } from './helpers/daemon.js';

const JABBERCTL = fileURLToPath(new URL('../src/cli/jabberctl.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Root passes every permission check; without CAP_DAC_OVERRIDE it is held
 * to the file modes for writing like anyone else (CAP_DAC_READ_SEARCH still
 * lets it read everything, unless `noReadOverride`).
 */
function asReader(noReadOverride: boolean): string[] {
  if (process.getuid?.() !== 0) return [];
  return ['setpriv', '--bounding-set', noReadOverride ? '-dac_override,-dac_read_search' : '-dac_override', '--'];
}

/** Another user's uid and gid, no groups: the spool's owner bits do not apply to it (tests run as root). */
const OTHER_USER = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--'];

/**
 * `readOnly`: run as one who may not write what the modes forbid;
 * `modesOnly`: nor read (see asReader); `otherUser`: as uid 65534.
 */
function jabberctl(
  spool: string,
  args: string[],
  input?: string | Buffer,
  opts: { readOnly?: boolean; modesOnly?: boolean; otherUser?: boolean; config?: string } = {},
): Promise<Run> {
  const argv = [process.execPath, JABBERCTL, '-c', opts.config ?? BUNDLED_CONFIG, '-s', spool, ...args];
  if (opts.readOnly || opts.modesOnly) argv.unshift(...asReader(opts.modesOnly ?? false));
  if (opts.otherUser) argv.unshift(...OTHER_USER);
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // jabberctl stops reading at the end of the password's line, and may exit before all of it is written.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input ?? '');
  });
}

/**
 * jabberctl with `written` on standard input, a pipe kept open: a writer
 * that never closes it, as an endless one never would.
 */
function jabberctlOpenStdin(spool: string, args: string[], written: string | Buffer): Promise<Run> {
  const child = spawn(process.execPath, [JABBERCTL, '-c', BUNDLED_CONFIG, '-s', spool, ...args], { timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  child.stdin.write(written);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'yak-ctl-'));
}

/**
 * Every file under `root` (path -> inode, mtime, mode, content), `skip`
 * left out; with `dirs`, every folder too (inode, mtime, mode: a name
 * made or removed in it changes its mtime).
 */
async function snapshot(root: string, skip: (rel: string) => boolean = () => false, dirs = false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    if (dirs) {
      const st = await stat(path.join(root, rel));
      out.set(rel + '/', `${st.ino} ${st.mtimeMs} ${st.mode.toString(8)}`);
    }
    for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (skip(r)) continue;
      if (e.isDirectory()) {
        await walk(r);
      } else {
        const st = await stat(path.join(root, r));
        const content = e.isFile() ? await readFile(path.join(root, r), 'utf8') : '';
        out.set(r, `${st.ino} ${st.mtimeMs} ${st.mode.toString(8)} ${content}`);
      }
    }
  };
  await walk('');
  return out;
}

/**
 * A user file whose jabber:iq:last record has `attr` (`last='abc'`, or ''
 * for none), and what show says of its last logout.
 */
const LAST_RECORDS: [string, string][] = [
  ['', 'unknown time'],
  ["last='abc'", "unknown time, stored as 'abc'"],
  // Blank is no time either (Number('') is 0: not a logout in 1970).
  ["last=''", "unknown time, stored as ''"],
  ["last=' '", "unknown time, stored as ' '"],
  ["last='1e20'", "unknown time, stored as '1e20'"],
  ["last='99999999999999'", "unknown time, stored as '99999999999999'"],
  [`last='${'9'.repeat(60)}'`, `unknown time, stored as '${'9'.repeat(40)}...'`],
  // Cut between characters: 40 of them, never half an emoji.
  [`last='${'\u{1F600}'.repeat(45)}'`, `unknown time, stored as '${'\u{1F600}'.repeat(40)}...'`],
  // What the server answers as no time (mod_last reads digits only) is shown as none, never a date made of it.
  ["last='0x10'", "unknown time, stored as '0x10'"],
  ["last='1.5'", "unknown time, stored as '1.5'"],
  ["last='-5'", "unknown time, stored as '-5'"],
  ["last='1e9'", "unknown time, stored as '1e9'"],
  ["last='1000000000'", '2001-09-09T01:46:40.000Z'],
  ["last=' 1000000000 '", '2001-09-09T01:46:40.000Z'],
];

function lastRecordFile(attr: string): string {
  return (
    "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password>" +
    "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>Gone Away</name></query>" +
    `<query xmlns='jabber:iq:last' xdbns='jabber:iq:last' ${attr}>Gone</query></xdb>`
  );
}

/** show of each LAST_RECORDS user in `spool`: every field, the time said to be unknown where there is none. */
async function showsLastRecords(spool: string): Promise<void> {
  for (const [i, [attr, time]] of LAST_RECORDS.entries()) {
    const file = path.join(spool, 'localhost', `last${i}.xml`);
    await writeFile(file, lastRecordFile(attr));
    const r = await jabberctl(spool, ['show', `last${i}@localhost`]);
    await rm(file);
    assert.deepEqual([r.code, r.stderr], [0, ''], attr);
    assert.match(r.stdout, /^name: Gone Away$/m, attr);
    assert.match(r.stdout, /^plaintext password stored: yes$/m, attr);
    assert.match(r.stdout, new RegExp(`^last: ${time.replace(/[.()]/g, '\\$&')} \\(Gone\\)$`, 'm'), attr);
    assert.match(r.stdout, /^online: no$/m, attr);
  }
}

/**
 * `leaving` and `staying`, subscribed to each other, with `staying`'s
 * roster updates held: a deluser of `leaving` stops as it tells `staying`,
 * until the hold is released.
 */
async function heldRemovalPair(yak: TestYak): Promise<HeldCalls> {
  const xdb = yak.server.xdb as Xdb;
  const item = (jid: string): Element => new Element('query', { xmlns: 'jabber:iq:roster' }, [new Element('item', { jid, subscription: 'both' })]);
  await registerUser(yak, 'leaving', 'pw');
  await registerUser(yak, 'staying', 'pw');
  await xdb.set('localhost', 'leaving', { 'jabber:iq:roster': item('staying@localhost') });
  await xdb.set('localhost', 'staying', { 'jabber:iq:roster': item('leaving@localhost') });
  return holdCalls(xdb, 'update', (_host, user) => user === 'staying');
}

describe('jabberctl without a running server', () => {
  let dir: string;
  let spool: string;
  before(async () => {
    dir = await tempDir();
    spool = path.join(dir, 'spool');
    await writeFile(path.join(dir, 'pw'), 'spinach\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('adduser, list, show, passwd, deluser on the spool directly', async () => {
    // Refused whatever a spool would hold: none is made for them, and no note says one was.
    for (const [args, error] of [
      [['adduser', 'x@nothost'], "host 'nothost' is not served by this configuration"],
      [['adduser', 'not an address'], "'not an address' is not a USER@HOST address"],
      [['passwd', 'Joseph@localhost'], 'no such user: joseph@localhost'],
      [['deluser', 'joseph@localhost'], 'no such user: joseph@localhost'],
    ] as const) {
      const refused = await jabberctl(spool, [...args], 'pw\n');
      assert.deepEqual([refused.code, refused.stderr], [1, `jabberctl: ${error}\n`], args.join(' '));
      assert.equal(existsSync(spool), false, `${args.join(' ')} made the spool folder`);
    }
    // A mistyped address is said before any password is asked for (none given here).
    for (const cmd of ['adduser', 'passwd']) {
      const early = await jabberctl(spool, [cmd, 'not an address'], '');
      assert.deepEqual([early.code, early.stderr], [1, "jabberctl: 'not an address' is not a USER@HOST address\n"], cmd);
    }
    let r = await jabberctl(spool, ['adduser', 'Joseph@localhost', '--password-file', path.join(dir, 'pw')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'added joseph@localhost\n');
    // The spool was made by this change: said, with the full path, in case it is not the server's.
    assert.equal(r.stderr, `jabberctl: note: the spool folder ${spool} did not exist and was made: a server using another spool will not see this change\n`);
    r = await jabberctl(spool, ['adduser', 'joseph@localhost', '--password-file', path.join(dir, 'pw')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exists already/);
    r = await jabberctl(spool, ['adduser', 'dj@localhost'], 'secret\n');
    assert.equal(r.code, 0, r.stderr);
    r = await jabberctl(spool, ['list', 'localhost']);
    assert.equal(r.stdout, 'dj\njoseph\n');
    r = await jabberctl(spool, ['show', 'joseph@localhost']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^jid: joseph@localhost$/m);
    assert.match(r.stdout, /^plaintext password stored: yes$/m);
    assert.match(r.stdout, /^zero-knowledge: sequence 500$/m);
    assert.doesNotMatch(r.stdout, /spinach/);
    const file = await readFile(path.join(spool, 'localhost', 'joseph.xml'), 'utf8');
    assert.match(file, /<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>spinach<\/password>/);
    r = await jabberctl(spool, ['passwd', 'joseph@localhost'], 'turnip\n');
    assert.equal(r.stdout, 'password changed for joseph@localhost\n');
    assert.match(await readFile(path.join(spool, 'localhost', 'joseph.xml'), 'utf8'), />turnip</);
    r = await jabberctl(spool, ['deluser', 'joseph@localhost']);
    assert.equal(r.code, 0);
    r = await jabberctl(spool, ['list', 'localhost']);
    assert.equal(r.stdout, 'dj\n');
  });

  test('show names the hash a 1.4 mod_auth_crypt account logs in with, and a new password drops the line', async () => {
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    const checked = '(plain logins check it; a new password replaces it)';
    const unusable = '1.4 mod_auth_crypt hash: unusable (no password matches it; set a new one)';
    const cases: [user: string, hash: string, line: string, plaintext?: string][] = [
      ['cdes', 'abJnggxhB/yWI', `1.4 mod_auth_crypt hash: DES ${checked}`],
      ['csha', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', `1.4 mod_auth_crypt hash: SHA-1 ${checked}`],
      ['cbad', 'short', unusable],
      // Locked accounts: a salt crypt(3) refuses, so no password gives these.
      ['clocked', '*LK*abcdefghi', unusable],
      ['cbang', '!!abcdefghijk', unusable],
      ['cshabad', '{SHA}not-a-hash', unusable],
      // Both: mod_auth_plain checks the plaintext, never the hash.
      ['cboth', 'abJnggxhB/yWI', '1.4 mod_auth_crypt hash: DES (not used: the plaintext is checked; a new password removes it)', 'old-plain'],
    ];
    for (const [user, hash, line, plaintext] of cases) {
      const plain = plaintext === undefined ? '' : `<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>${plaintext}</password>`;
      await writeFile(path.join(spool, 'localhost', `${user}.xml`), `<xdb>${plain}<crypt xmlns='jabber:iq:auth:crypt' xdbns='jabber:iq:auth:crypt'>${hash}</crypt></xdb>\n`);
      let r = await jabberctl(spool, ['show', `${user}@localhost`]);
      assert.deepEqual([r.code, r.stderr], [0, ''], user);
      assert.match(r.stdout, new RegExp(`^plaintext password stored: ${plaintext === undefined ? 'no' : 'yes'}$`, 'm'), user);
      assert.ok(r.stdout.split('\n').includes(line), r.stdout);
      assert.doesNotMatch(r.stdout, new RegExp(hash.replace(/[{}/+=*!]/g, '\\$&')), 'the hash itself is not shown');
      r = await jabberctl(spool, ['passwd', `${user}@localhost`], 'fresh\n');
      assert.equal(r.code, 0, r.stderr);
      r = await jabberctl(spool, ['show', `${user}@localhost`]);
      assert.match(r.stdout, /^plaintext password stored: yes$/m, user);
      assert.doesNotMatch(r.stdout, /mod_auth_crypt/, user);
      await rm(path.join(spool, 'localhost', `${user}.xml`));
    }
  });

  test('-h HOST, as the server was started with, reaches that host; check covers a host folder the config does not serve', async () => {
    const chat = ['-h', 'chat.example.org'];
    let r = await jabberctl(spool, [...chat, 'adduser', 'hugh@chat.example.org'], 'secret\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await jabberctl(spool, [...chat, 'list', 'chat.example.org'])).stdout, 'hugh\n');
    r = await jabberctl(spool, ['list', 'chat.example.org']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /host 'chat\.example\.org' is not served by this configuration/);
    // A torn file there is found whether or not -h is given; without it, a note says whose folder it is.
    await writeFile(path.join(spool, 'chat.example.org', 'torn.xml'), '<xdb><torn');
    r = await jabberctl(spool, ['check']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^BAD .*chat\.example\.org\/torn\.xml: /m);
    assert.match(r.stderr, /note: chat\.example\.org\/ in the spool is no host of this configuration \(checked all the same/);
    r = await jabberctl(spool, [...chat, 'check']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^BAD .*torn\.xml/m);
    assert.match(r.stderr, /note: localhost\/ in the spool is no host/);
    await rm(path.join(spool, 'chat.example.org'), { recursive: true });
    // A config with no <jabberd:cmdline flag='h'>: -h changes nothing, and jabberctl says so, as jabberd does.
    const fixed = path.join(dir, 'fixed-host.xml');
    await writeFile(fixed, (await readFile(BUNDLED_CONFIG, 'utf8')).replace("<jabberd:cmdline flag='h'>localhost</jabberd:cmdline>", 'localhost'));
    r = await jabberctl(spool, ['-h', 'other.example', 'list', 'localhost'], undefined, { config: fixed });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^jabberctl: warning: -h other\.example: the config has no <jabberd:cmdline flag='h'>, so it changes nothing$/m);
  });

  test('a change on a spool folder that cannot be made says why, and not that it was made', async () => {
    // No folder can be made in /sys (EPERM, or EROFS), not even by root.
    const r = await jabberctl('/sys/yak-test-no-spool', ['adduser', 'bob@localhost'], 'secret\n');
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, /did not exist and was made/);
  });

  test('refusals: unknown user, unknown host, bad address, empty password, usage', async () => {
    assert.equal((await jabberctl(spool, ['show', 'nobody@localhost'])).code, 1);
    assert.equal((await jabberctl(spool, ['deluser', 'nobody@localhost'])).code, 1);
    assert.equal((await jabberctl(spool, ['list', 'elsewhere.org'])).code, 1);
    assert.equal((await jabberctl(spool, ['show', 'not an address'])).code, 1);
    // An address with a resource names a session, not an account: nothing is made for its user.
    const full = await jabberctl(spool, ['adduser', 'a@localhost/x'], 'pw\n');
    assert.deepEqual([full.code, full.stderr], [1, "jabberctl: 'a@localhost/x' is not a USER@HOST address\n"]);
    assert.equal((await jabberctl(spool, ['show', 'a@localhost'])).code, 1, 'a@localhost was created');
    const empty = await jabberctl(spool, ['adduser', 'x@localhost'], '\n');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /password must not be empty/);
    assert.equal((await jabberctl(spool, ['frobnicate'])).code, 2);
    assert.equal((await jabberctl(spool, [])).code, 2);
  });

  test('passwords that could not be stored are refused, and nothing is created', async () => {
    const cases: [string, Buffer, RegExp][] = [
      ['nul', Buffer.from('nul\0x\n'), /control character/],
      ['latin1', Buffer.from([0x70, 0xe9, 0x0a]), /is not UTF-8 text/],
      ['huge', Buffer.from('x'.repeat(2_000_000) + '\n'), /longer than 1023 characters/],
    ];
    for (const [user, bytes, why] of cases) {
      const file = path.join(dir, `pw-${user}`);
      await writeFile(file, bytes);
      const r = await jabberctl(spool, ['adduser', `${user}@localhost`, '--password-file', file]);
      assert.equal(r.code, 1, `${user}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal((await jabberctl(spool, ['show', `${user}@localhost`])).code, 1, `${user} was created`);
      // The same bytes through a pipe: the same refusal, never a U+FFFD stored instead.
      const piped = await jabberctl(spool, ['adduser', `${user}@localhost`], bytes);
      assert.equal(piped.code, 1, `${user} (piped): ${piped.stderr}`);
      assert.match(piped.stderr, user === 'latin1' ? /standard input is not UTF-8 text/ : why);
      assert.equal((await jabberctl(spool, ['show', `${user}@localhost`])).code, 1, `${user} was created from a pipe`);
    }
  });

  test('a password of 1023 characters, the most that is stored, is taken whole; one of 1024 is refused', async () => {
    const longest = 'p'.repeat(1023);
    const r = await jabberctl(spool, ['adduser', 'longpw@localhost'], `${longest}\n`);
    assert.deepEqual([r.code, r.stdout], [0, 'added longpw@localhost\n'], r.stderr);
    assert.match(await readFile(path.join(spool, 'localhost', 'longpw.xml'), 'utf8'), new RegExp(`>${longest}</password>`));
    const over = await jabberctl(spool, ['passwd', 'longpw@localhost'], `${longest}q\n`);
    assert.equal(over.code, 1, over.stderr);
    assert.match(over.stderr, /longer than 1023 characters/);
    assert.equal((await jabberctl(spool, ['deluser', 'longpw@localhost'])).code, 0);
  });

  test('a byte-order mark before the password is not part of it, nor a CRLF after it, from a file, a pipe or a redirect', async () => {
    const file = path.join(dir, 'pw-bom');
    await writeFile(file, '\uFEFFspinach\r\nsecond line\n');
    assert.equal((await jabberctl(spool, ['adduser', 'bomfile@localhost', '--password-file', file])).code, 0);
    assert.equal((await jabberctl(spool, ['adduser', 'bompipe@localhost'], '\uFEFFspinach\r\nsecond line\n')).code, 0);
    // `jabberctl adduser ... < file`: standard input is the file itself, not a pipe.
    const input = openSync(file, 'r');
    try {
      const r = spawnSync(process.execPath, [JABBERCTL, '-c', BUNDLED_CONFIG, '-s', spool, 'adduser', 'bomredirect@localhost'], { stdio: [input, 'pipe', 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      closeSync(input);
    }
    for (const user of ['bomfile', 'bompipe', 'bomredirect']) {
      const text = await readFile(path.join(spool, 'localhost', `${user}.xml`), 'utf8');
      assert.match(text, /<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>spinach<\/password>/, `${user}: ${text}`);
    }
  });

  test('standard input that cannot be read (`< /tmp`): said so, exit 2, nothing created', () => {
    const input = openSync(os.tmpdir(), 'r');
    try {
      const r = spawnSync(process.execPath, [JABBERCTL, '-c', BUNDLED_CONFIG, '-s', spool, 'adduser', 'fromdir@localhost'], { stdio: [input, 'pipe', 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^jabberctl: cannot read the password from standard input: EISDIR[^\n]*\n$/);
    } finally {
      closeSync(input);
    }
    assert.equal(existsSync(path.join(spool, 'localhost', 'fromdir.xml')), false);
  });

  test('a device as --password-file is refused (exit 2): it would never end; nothing created', async () => {
    for (const device of ['/dev/zero', '/dev/urandom']) {
      const r = await jabberctl(spool, ['adduser', 'device@localhost', '--password-file', device]);
      assert.deepEqual([r.code, r.stdout], [2, ''], r.stderr);
      assert.equal(r.stderr, `jabberctl: cannot read ${device}: a device, not a file\n`);
    }
    assert.equal(existsSync(path.join(spool, 'localhost', 'device.xml')), false);
  });

  test('a --password-file pipe is read to its first line end, its writer may keep it open', async () => {
    // A named pipe, as `--password-file <(pass show dj)` is an unnamed one.
    const fifo = path.join(dir, 'pw-fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const run = jabberctl(spool, ['adduser', 'fifo@localhost', '--password-file', fifo]);
    // Opening to write waits for jabberctl to open it to read.
    const writer = await open(fifo, 'w');
    try {
      await writer.write('spinach\n');
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'added fifo@localhost\n');
    } finally {
      await writer.close();
    }
    const text = await readFile(path.join(spool, 'localhost', 'fifo.xml'), 'utf8');
    assert.match(text, />spinach<\/password>/);
  });

  test('standard input without a line end in sight is read no further than a password goes: too long (exit 1), nothing created', async () => {
    // `jabberctl passwd ... < /dev/zero`: a device that never ends.
    const zero = openSync('/dev/zero', 'r');
    try {
      const r = spawnSync(process.execPath, [JABBERCTL, '-c', BUNDLED_CONFIG, '-s', spool, 'adduser', 'zero@localhost'], { stdio: [zero, 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr, 'jabberctl: the password is longer than 1023 characters\n');
    } finally {
      closeSync(zero);
    }
    // A pipe whose writer sends no line end and keeps it open.
    const r = await jabberctlOpenStdin(spool, ['adduser', 'endless@localhost'], 'x'.repeat(64 * 1024));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, 'jabberctl: the password is longer than 1023 characters\n');
    for (const user of ['zero', 'endless']) assert.equal(existsSync(path.join(spool, 'localhost', `${user}.xml`)), false, user);
  });

  test('a whole line on standard input from a writer that keeps the pipe open: done, and jabberctl exits without waiting for the writer', { timeout: 30_000 }, async () => {
    // A FIFO, as a shell's `|` makes (`(echo pw; sleep 60) | jabberctl ...`).
    const fifo = path.join(dir, 'stdin.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const child = spawn('sh', ['-c', `exec "$0" "$@" < '${fifo}'`, process.execPath, JABBERCTL, '-c', BUNDLED_CONFIG, '-s', spool, 'adduser', 'keptopen@localhost'], { timeout: 20_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = once(child, 'close');
    // Blocks until the child's shell opens the other end.
    const writer = openSync(fifo, 'w');
    try {
      writeSync(writer, 'pw\n');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, stderr);
      assert.equal(existsSync(path.join(spool, 'localhost', 'keptopen.xml')), true);
    } finally {
      closeSync(writer);
    }
  });

  test('show prints control characters in stored fields as escapes, never raw', async () => {
    const file = path.join(spool, 'localhost', 'term.xml');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(
      file,
      "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password>" +
        "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>a\u0085b\u009b31m</name><email>x\u202Emoc.elpmaxe@evil\u2028y</email></query></xdb>",
    );
    try {
      const r = await jabberctl(spool, ['show', 'term@localhost']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^name: a\\u\{85\}b\\u\{9b\}31m$/m);
      // Nor what reorders or breaks the line: a right-to-left override, a line separator.
      assert.match(r.stdout, /^email: x\\u\{202e\}moc\.elpmaxe@evil\\u\{2028\}y$/m);
      assert.ok(!/[\u0080-\u009f]/.test(r.stdout));
    } finally {
      await rm(file);
    }
  });

  test('show of a user whose last-logout record holds no usable time: every other field, and the time said to be unknown', async () => {
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    await showsLastRecords(spool);
  });

  test("show of a 0k chain whose sequence a login cannot use says so, with what the file holds, as mod_auth_0k reads it", async () => {
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    for (const [sequence, line] of [
      ['499', 'sequence 499'],
      [' 12 ', 'sequence 12'],
      ['abc', "unusable, sequence stored as 'abc'"],
      ['-5', "unusable, sequence stored as '-5'"],
      ['0x1F4', "unusable, sequence stored as '0x1F4'"],
      ['9007199254740993', "unusable, sequence stored as '9007199254740993'"],
    ]) {
      const file = path.join(spool, 'localhost', 'chain.xml');
      await writeFile(
        file,
        `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password><zerok xmlns='jabber:iq:auth:0k' xdbns='jabber:iq:auth:0k'><hash>${'a'.repeat(40)}</hash><token>3B13A4C8</token><sequence>${sequence}</sequence></zerok></xdb>`,
      );
      const r = await jabberctl(spool, ['show', 'chain@localhost']);
      await rm(file);
      assert.deepEqual([r.code, r.stderr], [0, ''], sequence);
      const suffix = line.startsWith('unusable') ? ' (0k logins are not offered until a plain login makes a new chain)' : '';
      assert.match(r.stdout, new RegExp(`^zero-knowledge: ${(line + suffix).replace(/[.()]/g, '\\$&')}$`, 'm'), sequence);
    }
  });

  test('refuses, changing nothing, while another process holds the spool (a server starting)', async () => {
    const lock = await lockSpool(spool);
    try {
      const r = await jabberctl(spool, ['adduser', 'held@localhost'], 'pw\n');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^jabberctl: another Yak \(a server, or jabberctl\) is using this spool$/m);
    } finally {
      await lock.release();
    }
    assert.equal((await jabberctl(spool, ['list', 'localhost'])).stdout.includes('held\n'), false);
  });

  test('check reports every unparsable spool file with its reason', async () => {
    let r = await jabberctl(spool, ['check']);
    assert.equal(r.code, 0, r.stdout);
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    await writeFile(path.join(spool, 'localhost', 'torn.xml'), "<xdb><query xmlns='jabber:iq:roster'");
    // Latin-1 bytes with no declaration saying so: the server would not read it (never as U+FFFD).
    await writeFile(path.join(spool, 'localhost', 'undeclared.xml'), Buffer.from("<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>caf\u00e9</password></xdb>", 'latin1'));
    // Read as 1.4 read them: a declared Latin-1 file, and a comment an admin wrote.
    await writeFile(path.join(spool, 'localhost', 'declared.xml'), Buffer.from("<?xml version='1.0' encoding='ISO-8859-1'?><xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>caf\u00e9</password></xdb>", 'latin1'));
    await writeFile(path.join(spool, 'localhost', 'noted.xml'), "<xdb><!-- moved from the old box --><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>");
    // A vCard stored before streams were checked for unbound prefixes; a declared one is fine.
    const card = (inner: string): string => `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password><vCard xmlns='vcard-temp' xdbns='vcard-temp'>${inner}</vCard></xdb>`;
    await writeFile(path.join(spool, 'localhost', 'prefixed.xml'), card('<FN>x</FN><x:y/>'));
    await writeFile(path.join(spool, 'localhost', 'bound.xml'), card("<x:y xmlns:x='urn:x'/>"));
    // Well-formed XML, but no user file: the server would not take it for one.
    await writeFile(path.join(spool, 'localhost', 'rootless.xml'), "<foo/>");
    r = await jabberctl(spool, ['check']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^BAD .*torn\.xml: /m);
    assert.match(r.stdout, /^BAD .*undeclared\.xml: not UTF-8 text/m);
    assert.match(r.stdout, /^BAD .*prefixed\.xml: holds XML that is not namespace-well-formed \(unbound namespace prefix 'x' in element name 'x:y'\)/m);
    assert.match(r.stdout, /^BAD .*rootless\.xml: root element is <foo>, not <xdb>$/m);
    assert.match(r.stdout, /files checked, 4 bad$/m);
    r = await jabberctl(spool, ['list', 'localhost']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^torn$/m, 'a user whose file does not parse still holds the name');
    for (const name of ['torn', 'undeclared', 'declared', 'noted', 'prefixed', 'bound', 'rootless']) await rm(path.join(spool, 'localhost', `${name}.xml`));
  });

  test('check names the removals left to finish and leaves the list as it is; a list not of Yak\'s writing is bad, left in place by check and set aside by --repair', async () => {
    const list = path.join(spool, '.yak-removals');
    const note = (jid: string): RegExp =>
      new RegExp(`^jabberctl: note: the removal of ${jid} has begun and is not over: it is under way, or a crash or a stop cut it short and the server's next start finishes it; until then its contacts may still list it$`, 'm');
    await mkdir(spool, { recursive: true });
    try {
      await writeFile(list, '[["localhost","alice"],["localhost","bob"]]\n');
      let r = await jabberctl(spool, ['check']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, note('alice@localhost'));
      assert.match(r.stderr, note('bob@localhost'));
      assert.match(r.stdout, / 0 bad$/m);
      assert.equal(await readFile(list, 'utf8'), '[["localhost","alice"],["localhost","bob"]]\n', 'check changed the list');
      await writeFile(list, '[["localhost","alice"],]');
      r = await jabberctl(spool, ['check']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^BAD \S+\/\.yak-removals: not a list of account removals as Yak writes it: the next start of the server moves it aside and finishes none of what it names$/m);
      assert.equal(await readFile(list, 'utf8'), '[["localhost","alice"],]', 'a check that only reads moved or changed the list');
      r = await jabberctl(spool, ['check', '--repair']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, /^jabberctl: note: \S+\/\.yak-removals: not a list of account removals as Yak writes it; moved to \S+\/\.yak-removals\.unreadable, and none of what it names is finished$/m);
      const aside = /^jabberctl: note: \S+\/\.yak-removals\.unreadable is a list of account removals that was not Yak's writing, set aside: none of the removals it names was finished \(remove those accounts again with deluser if need be, then delete the file\)$/m;
      assert.match(r.stderr, aside);
      assert.doesNotMatch(r.stderr, /the removal of/);
      // Said at every check until the operator deletes it; a second one set aside is said too.
      r = await jabberctl(spool, ['check']);
      assert.deepEqual([r.code, r.stderr.match(aside) !== null], [0, true], r.stderr);
      await writeFile(list, '{}');
      assert.equal((await jabberctl(spool, ['check', '--repair'])).code, 0);
      r = await jabberctl(spool, ['check']);
      assert.match(r.stderr, /^jabberctl: note: \S+\/\.yak-removals\.unreadable\.1 is a list of account removals that was not Yak's writing, set aside/m);
      assert.match(r.stderr, aside);
      // One the server may not read at all stops its start: never a clean bill of health.
      await mkdir(list);
      r = await jabberctl(spool, ['check']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^BAD \S+\/\.yak-removals: cannot be read \(EISDIR: /m);
    } finally {
      for (const f of await readdir(spool)) if (f.startsWith('.yak-removals')) await rm(path.join(spool, f), { recursive: true, force: true });
    }
    const r = await jabberctl(spool, ['check']);
    assert.deepEqual([r.code, r.stderr], [0, ''], 'a spool with no list says nothing of removals');
  });

  test("check notes files no login can reach, with the user their name is for; they are not bad", async () => {
    const dir = path.join(spool, 'localhost');
    await mkdir(dir, { recursive: true });
    const doc = "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>";
    // Copied in by hand under a name 1.4 never wrote (it lowercased names).
    await writeFile(path.join(dir, 'Sabine.xml'), doc);
    // Made by an earlier Yak for ᾳ, which is now prepared as αι.
    await writeFile(path.join(dir, '%E1%BE%B3.xml'), doc);
    // 1.4's file for josé beside Yak's own: the store reads Yak's.
    await writeFile(path.join(dir, 'jos\u00e9.xml'), doc);
    await writeFile(path.join(dir, 'jos%C3%A9.xml'), doc);
    // Made by an earlier Yak for a name with U+FFFD, which stringprep prohibits.
    await writeFile(path.join(dir, 'a%EF%BF%BDb.xml'), doc);
    // And for ab followed by the Hebrew letter shin: stringprep's bidi rule refuses it.
    await writeFile(path.join(dir, 'ab%D7%A9.xml'), doc);
    // Hashed long names: the user's own (reached), a copy under another
    // hash, and one recording a user whose file it is not.
    const long = userFileName('k'.repeat(300));
    const otherHash = long.replace(/~[0-9a-f]{64}/, `~${'0'.repeat(64)}`);
    const misrecorded = userFileName('j'.repeat(300));
    const recording = (user: string): string => doc.replace('<xdb>', `<xdb user='${user}'>`);
    await writeFile(path.join(dir, long), recording('k'.repeat(300)));
    await writeFile(path.join(dir, otherHash), recording('k'.repeat(300)));
    await writeFile(path.join(dir, misrecorded), recording('zzz'));
    try {
      const r = await jabberctl(spool, ['check']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /files checked, 0 bad, 7 no user's$/m);
      for (const f of [otherHash, misrecorded]) assert.ok(r.stderr.includes(`/${f} is no user's file (its name is no username)`), f);
      assert.ok(!r.stderr.includes(long), "the long name's own file is reached");
      assert.match(r.stderr, /^jabberctl: note: \S+\/a%EF%BF%BDb\.xml is no user's file/m);
      assert.match(r.stderr, /^jabberctl: note: \S+\/ab%D7%A9\.xml is no user's file/m);
      assert.match(r.stderr, /^jabberctl: note: \S+\/Sabine\.xml is no user's file \(its name is for the user 'sabine', whose file is sabine\.xml\); nobody can log in to it$/m);
      assert.match(r.stderr, /^jabberctl: note: \S+\/%E1%BE%B3\.xml is no user's file \(its name is for the user 'αι', whose file is %CE%B1%CE%B9\.xml\)/m);
      assert.match(r.stderr, /^jabberctl: note: \S+\/jos\u00e9\.xml is no user's file \(its name is for the user 'jos\u00e9', whose file is jos%C3%A9\.xml\)/m);
      assert.doesNotMatch(r.stderr, /jos%C3%A9\.xml is no user's/, "Yak's own file is reached");
    } finally {
      for (const f of ['Sabine.xml', '%E1%BE%B3.xml', 'jos\u00e9.xml', 'jos%C3%A9.xml', 'a%EF%BF%BDb.xml', 'ab%D7%A9.xml', long, otherHash, misrecorded]) await rm(path.join(dir, f));
    }
  });

  test('check reports a host folder it cannot list, never a clean spool', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'yak-ctl-'));
    try {
      await writeFile(path.join(other, 'localhost'), 'a file where the host folder belongs');
      const r = await jabberctl(other, ['check']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^BAD .*localhost: cannot list the folder: ENOTDIR/m);
      assert.match(r.stdout, /0 files checked, 1 bad$/m);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test('deluser of a user whose file does not parse: refused, naming --force; with it that one file goes, nothing else', async () => {
    const own = path.join(dir, 'force-spool');
    for (const u of ['keep', 'other']) assert.equal((await jabberctl(own, ['adduser', `${u}@localhost`], 'pw\n')).code, 0);
    const host = path.join(own, 'localhost');
    await writeFile(path.join(host, 'broken.xml'), "<xdb><query xmlns='jabber:iq:roster'");
    await writeFile(path.join(host, 'alien.xml'), '<config/>');
    await writeFile(path.join(host, 'notes.txt'), 'the admin keeps notes here\n');
    // The lock file is opened for each change; what matters is everything else.
    const others = (rel: string): boolean => rel === '.yak-lock' || rel === path.join('localhost', 'broken.xml');
    const before = await snapshot(own, others);

    let r = await jabberctl(own, ['deluser', 'broken@localhost']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^jabberctl: spool file \S*broken\.xml cannot be parsed: .*; deluser --force removes it unread\n$/);
    assert.equal(await readFile(path.join(host, 'broken.xml'), 'utf8'), "<xdb><query xmlns='jabber:iq:roster'");

    r = await jabberctl(own, ['deluser', '--force', 'broken@localhost']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'removed broken@localhost\n');
    assert.match(r.stderr, /^jabberctl: warning: spool file \S*broken\.xml cannot be parsed: .*; removed unread, so the contacts in its roster were not told\n$/);
    // A file with another root element is no <xdb> either: the same way out.
    r = await jabberctl(own, ['deluser', 'alien@localhost']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /root element is <config>, not <xdb>; deluser --force removes it unread/);
    r = await jabberctl(own, ['deluser', 'alien@localhost', '--force']);
    assert.equal(r.code, 0, r.stderr);

    const after = await snapshot(own, others);
    before.delete(path.join('localhost', 'alien.xml'));
    assert.deepEqual(after, before, 'only the unparsable files may change');
    assert.equal((await jabberctl(own, ['list', 'localhost'])).stdout, 'keep\nother\n');
    // --force changes nothing for a user whose file parses, nor for one that is not there.
    assert.equal((await jabberctl(own, ['deluser', '--force', 'nobody@localhost'])).code, 1);
    assert.equal((await jabberctl(own, ['deluser', '--force', 'other@localhost'])).code, 0);
    assert.equal((await jabberctl(own, ['list', 'localhost'])).stdout, 'keep\n');
  });

  test("deluser of a user whose contact's file does not parse or cannot be read: refused before anything changes, naming the contact and the way out", async () => {
    const own = path.join(dir, 'contact-spool');
    const host = path.join(own, 'localhost');
    await mkdir(host, { recursive: true });
    const item = (jid: string, sub: string): string => `<item jid='${jid}' subscription='${sub}'/>`;
    const account = (items: string): string =>
      `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password><query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'>${items}</query></xdb>`;
    // A readable contact listed first: it is not told either.
    const alice = account(item('carol@localhost', 'both') + item('bob@localhost', 'both') + item('dan@localhost', 'to'));
    const carol = account(item('alice@localhost', 'both'));
    await writeFile(path.join(host, 'alice.xml'), alice);
    await writeFile(path.join(host, 'carol.xml'), carol);
    await writeFile(path.join(host, 'bob.xml'), '<xdb><password');

    let r = await jabberctl(own, ['deluser', 'alice@localhost']);
    assert.equal(r.code, 1);
    const bob = path.join(host, 'bob.xml');
    assert.ok(
      r.stderr.startsWith(`jabberctl: alice@localhost was not removed (nothing was changed): its contact bob@localhost cannot be read: spool file ${bob} cannot be parsed: `),
      r.stderr,
    );
    assert.ok(r.stderr.endsWith('; repair that file, or remove bob@localhost with deluser --force, then remove alice@localhost again\n'), r.stderr);
    for (const [name, text] of [['alice', alice], ['carol', carol], ['bob', '<xdb><password']]) {
      assert.equal(await readFile(path.join(host, `${name}.xml`), 'utf8'), text, name);
    }
    // The way out the message gives; then a contact's file that cannot be read at all.
    assert.equal((await jabberctl(own, ['deluser', '--force', 'bob@localhost'])).code, 0);
    await mkdir(path.join(host, 'dan.xml'));
    r = await jabberctl(own, ['deluser', 'alice@localhost']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'jabberctl: alice@localhost was not removed (nothing was changed): its contact dan@localhost cannot be read: EISDIR: illegal operation on a directory, read; ' +
        'make the spool file of dan@localhost readable, then remove alice@localhost again\n',
    );
    assert.equal(await readFile(path.join(host, 'carol.xml'), 'utf8'), carol);
    await rm(path.join(host, 'dan.xml'), { recursive: true });
    r = await jabberctl(own, ['deluser', 'alice@localhost']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'removed alice@localhost\n', '']);
    assert.equal((await jabberctl(own, ['list', 'localhost'])).stdout, 'carol\n');
    assert.match(await readFile(path.join(host, 'carol.xml'), 'utf8'), /<item jid='alice@localhost' subscription='none'\/>/);
  });

  test("deluser of a user who has both Yak's file and 1.4's removes both: the account cannot come back", async () => {
    const own = path.join(dir, 'both-spool');
    assert.equal((await jabberctl(own, ['adduser', 'zoë@localhost'], 'new\n')).code, 0);
    assert.equal((await jabberctl(own, ['adduser', 'keep@localhost'], 'pw\n')).code, 0);
    const host = path.join(own, 'localhost');
    // The file 1.4 left under the name itself, beside the one Yak made.
    await writeFile(path.join(host, 'zoë.xml'), await readFile(path.join(host, 'zo%C3%AB.xml')));
    let r = await jabberctl(own, ['deluser', 'zoë@localhost']);
    assert.deepEqual([r.code, r.stdout], [0, 'removed zoë@localhost\n'], r.stderr);
    assert.deepEqual((await readdir(host)).sort(), ['keep.xml']);
    r = await jabberctl(own, ['list', 'localhost']);
    assert.equal(r.stdout, 'keep\n');
    // With Yak's file broken, --force takes the 1.4 one along too.
    assert.equal((await jabberctl(own, ['adduser', 'zoë@localhost'], 'new\n')).code, 0);
    await writeFile(path.join(host, 'zoë.xml'), await readFile(path.join(host, 'zo%C3%AB.xml')));
    await writeFile(path.join(host, 'zo%C3%AB.xml'), '<xdb><password');
    r = await jabberctl(own, ['deluser', '--force', 'zoë@localhost']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(host)).sort(), ['keep.xml']);
  });

  test('a server that closes the control connection without answering: said, exit 1, never taken for done', async () => {
    const own = path.join(dir, 'lost-answer-spool');
    assert.equal((await jabberctl(own, ['adduser', 'dj@localhost'], 'pw\n')).code, 0);
    // What a server killed right after taking the request looks like.
    const socket = path.join(own, '.jabberctl.sock');
    const server = net.createServer((c) => c.once('data', () => c.destroy()));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      for (const args of [['passwd', 'dj@localhost'], ['deluser', 'dj@localhost'], ['list', 'localhost']]) {
        const r = await jabberctl(own, args, 'new\n');
        assert.deepEqual([r.code, r.stdout], [1, ''], args[0]);
        assert.match(r.stderr, /^jabberctl: the server closed the control connection without answering \(it stopped or crashed\): a change asked for may or may not have been made/, args[0]);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a server that closes each control connection as it takes it (out of file descriptors): said in one line, exit 1, never a bare errno', async () => {
    const own = path.join(dir, 'refusing-spool');
    assert.equal((await jabberctl(own, ['adduser', 'dj@localhost'], 'pw\n')).code, 0);
    const socket = path.join(own, '.jabberctl.sock');
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      // Whether the request was written before the close (a reset: it was never read) or after (EPIPE) is the kernel's to say: the same either way.
      for (let i = 0; i < 8; i++) {
        const r = await jabberctl(own, ['list', 'localhost']);
        assert.deepEqual([r.code, r.stdout], [1, '']);
        assert.match(
          r.stderr,
          /^jabberctl: the server closed the control connection on \S+ before taking the request, so nothing was carried out: it may be out of file descriptors \(its log says\); try again\n$/,
        );
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("check through a server started before removals were reported (an upgrade not yet restarted): its report as it is, no error", async () => {
    const own = path.join(dir, 'older-server-spool');
    await mkdir(own, { recursive: true });
    const socket = path.join(own, '.jabberctl.sock');
    // Of the first check's: files and bad alone (unserved, unreachable, hidden and the removals came later).
    const older = { files: 3, bad: [] };
    const server = net.createServer((c) => c.once('data', () => c.end(JSON.stringify({ ok: true, result: older }) + '\n')));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const r = await jabberctl(own, ['check']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, '3 files checked, 0 bad\n', '']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a server that takes the request and never answers (stopped, hung) is waited for only --timeout: said, exit 1', async () => {
    const own = path.join(dir, 'no-answer-spool');
    assert.equal((await jabberctl(own, ['adduser', 'dj@localhost'], 'pw\n')).code, 0);
    // What a server stopped with SIGSTOP looks like: the connection is taken, nothing comes back.
    const socket = path.join(own, '.jabberctl.sock');
    const held = new Set<net.Socket>();
    const server = net.createServer((c) => held.add(c));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const read = await jabberctl(own, ['--timeout', '0.5', 'list', 'localhost']);
      assert.deepEqual([read.code, read.stdout], [1, '']);
      assert.equal(read.stderr, `jabberctl: no answer from the server on ${socket} within 0.5 s (is it stopped, or hung?)\n`);
      const change = await jabberctl(own, ['passwd', 'dj@localhost', '--timeout', '0.5'], 'new\n');
      assert.deepEqual([change.code, change.stdout], [1, '']);
      assert.match(change.stderr, /^jabberctl: no answer from the server on \S+ within 0\.5 s \(is it stopped, or hung\?\): a change asked for may or may not have been made; look with show or list once it answers\n$/);
      // A --timeout that is no positive number of seconds is a usage error.
      // 2147484 is one past setTimeout's limit: it would fire at once.
      for (const bad of ['0', '-1', 'soon', '3000000', '2147484', '0x10', '+5', '1e-300', 'Infinity', '0.0005']) {
        const r = await jabberctl(own, ['--timeout', bad, 'list', 'localhost']);
        assert.deepEqual([r.code, r.stderr], [2, `jabberctl: --timeout must be a number of seconds (such as 30 or 0.5), at least 0.001 and at most 2147483, not "${bad}"\n`], bad);
      }
    } finally {
      for (const c of held) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a socket that answers something other than Yak: one line, exit 1, no stack trace', async () => {
    const own = path.join(dir, 'garbled-spool');
    assert.equal((await jabberctl(own, ['adduser', 'dj@localhost'], 'pw\n')).code, 0);
    const socket = path.join(own, '.jabberctl.sock');
    const server = net.createServer((c) => c.once('data', () => c.end('HTTP/1.0 400 Bad Request\n')));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const r = await jabberctl(own, ['show', 'dj@localhost']);
      assert.deepEqual([r.code, r.stdout], [1, '']);
      assert.match(r.stderr, /^jabberctl: the control socket \S+\.jabberctl\.sock answered something that is not Yak's: is another program listening there\?[^\n]*\n$/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('-s naming a file, or a path through one: one clear line, exit 2, the file left alone', async () => {
    const file = path.join(dir, 'not-a-spool');
    await writeFile(file, 'a file where the spool belongs\n');
    for (const args of [['list', 'localhost'], ['show', 'dj@localhost'], ['check'], ['deluser', 'dj@localhost'], ['adduser', 'x@localhost']]) {
      let r = await jabberctl(file, args, 'pw\n');
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr, `jabberctl: <spool>${file}</spool>: not a folder (a file is in its place)\n`);
      r = await jabberctl(path.join(file, 'spool'), args, 'pw\n');
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr, `jabberctl: <spool>${path.join(file, 'spool')}</spool>: ${file} is a file, not a folder\n`);
    }
    assert.equal(await readFile(file, 'utf8'), 'a file where the spool belongs\n');
    // A link whose target is gone is named as such, not met as a bare ENOENT from mkdir.
    const link = path.join(dir, 'dangling-spool');
    await symlink(path.join(dir, 'gone'), link);
    for (const args of [['list', 'localhost'], ['adduser', 'x@localhost']]) {
      const r = await jabberctl(link, args, 'pw\n');
      assert.deepEqual([r.code, r.stderr], [2, `jabberctl: <spool>${link}</spool>: a symbolic link to ${path.join(dir, 'gone')}, which does not exist\n`]);
    }
    assert.equal(existsSync(path.join(dir, 'gone')), false);
  });

  test('a config nested thousands of elements deep: the config error, exit 2 (it was a stack overflow, exit 1)', async () => {
    const config = path.join(dir, 'deep.xml');
    await writeFile(config, (await readFile(BUNDLED_CONFIG, 'utf8')).replace('<browse/>', '<x>'.repeat(5000) + '</x>'.repeat(5000)));
    const r = await jabberctl(path.join(dir, 'deep-spool'), ['list', 'localhost'], '', { config });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^jabberctl: ${config}:\\d+:\\d+: <x> \\(inside <jabber><service><jsm>\\.\\.\\.\\) is nested more than 100 elements deep\n$`));
  });

  test('-c naming a folder: a clear message, exit 2', async () => {
    const r = await new Promise<Run>((resolve) => {
      execFile(process.execPath, [JABBERCTL, '-c', dir, 'list', 'localhost'], (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `jabberctl: config file ${dir}: a folder, not a file\n`);
  });

  test('after a crash check --repair replays the journal first: the torn file is whole again and the journal gone', async () => {
    const file = path.join(spool, 'localhost', 'dj.xml');
    const whole = await readFile(file, 'utf8');
    // What a kill during an in-place rewrite leaves: the change in the journal, the file cut short.
    await writeFile(path.join(spool, '.yak-journal.7'), encodeEntry('localhost/dj.xml', whole));
    await writeFile(file, whole.slice(0, 40));
    const r = await jabberctl(spool, ['check', '--repair']);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(await readFile(file, 'utf8'), whole);
    assert.deepEqual((await readdir(spool)).filter((f) => f.startsWith('.yak-journal')), []);
  });
});

/** chmod a-w on everything under `root` (back with `u+w`). */
async function setWritable(root: string, writable: boolean): Promise<void> {
  const st = await stat(root);
  const mode = writable ? st.mode | 0o200 : st.mode & ~0o222;
  if (st.isDirectory()) {
    for (const name of await readdir(root)) await setWritable(path.join(root, name), writable);
  }
  await chmod(root, mode & 0o7777);
}

describe('jabberctl on a spool it may only read', () => {
  let dir: string;
  let spool: string;
  const host = (): string => path.join(spool, 'localhost');
  before(async () => {
    dir = await tempDir();
    spool = path.join(dir, 'spool');
    for (const u of ['dj', 'bob']) assert.equal((await jabberctl(spool, ['adduser', `${u}@localhost`], 'pw\n')).code, 0);
    await setWritable(spool, false);
  });
  after(async () => {
    await setWritable(dir, true);
    await rm(dir, { recursive: true, force: true });
  });

  test('list, show and check work, and nothing is written, made or locked for writing', async () => {
    const before = await snapshot(spool, () => false, true);
    // The proof that this spool is read-only to it: a change is refused, saying why.
    let r = await jabberctl(spool, ['adduser', 'x@localhost'], 'pw\n', { readOnly: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^jabberctl: <spool>\S+<\/spool>: adduser needs write access to the spool \(EACCES: /);
    r = await jabberctl(spool, ['list', 'localhost'], '', { readOnly: true });
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'bob\ndj\n', '']);
    r = await jabberctl(spool, ['show', 'dj@localhost'], '', { readOnly: true });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^jid: dj@localhost$/m);
    r = await jabberctl(spool, ['check'], '', { readOnly: true });
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '2 files checked, 0 bad\n', '']);
    assert.deepEqual(await snapshot(spool, () => false, true), before);
  });

  test("over a crash's journal: shown as its replay will leave the spool, said on stderr, nothing replayed", async () => {
    const dj = await readFile(path.join(host(), 'dj.xml'), 'utf8');
    await setWritable(spool, true);
    // dj's rewrite torn by the kill, carol made and bob removed only in the journal.
    await writeFile(
      path.join(spool, '.yak-journal.7'),
      Buffer.concat([
        encodeEntry('localhost/dj.xml', dj),
        encodeEntry('localhost/carol.xml', dj.replace(/<query xmlns='jabber:iq:last'[^]*?<\/query>/, '')),
        encodeEntry('localhost/bob.xml', null),
      ]),
    );
    await writeFile(path.join(host(), 'dj.xml'), dj.slice(0, 40));
    await setWritable(spool, false);
    const before = await snapshot(spool, () => false, true);
    const note = 'jabberctl: note: the spool journal holds changes to 3 files not yet written to them';

    let r = await jabberctl(spool, ['list', 'localhost'], '', { readOnly: true });
    assert.deepEqual([r.code, r.stdout], [0, 'carol\ndj\n']);
    assert.ok(r.stderr.startsWith(note), r.stderr);
    r = await jabberctl(spool, ['show', 'carol@localhost'], '', { readOnly: true });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^jid: carol@localhost$/m);
    r = await jabberctl(spool, ['show', 'bob@localhost'], '', { readOnly: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^jabberctl: no such user: bob@localhost$/m);
    // dj.xml is torn on disk, whole in the journal: not bad.
    r = await jabberctl(spool, ['check'], '', { readOnly: true });
    assert.deepEqual([r.code, r.stdout], [0, '2 files checked, 0 bad\n']);
    assert.ok(r.stderr.startsWith(note), r.stderr);
    r = await jabberctl(spool, ['check', '--repair'], '', { readOnly: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /check --repair needs write access/);
    assert.deepEqual(await snapshot(spool, () => false, true), before);

    // Whoever may write repairs it, and then there is nothing to say.
    await setWritable(spool, true);
    r = await jabberctl(spool, ['check', '--repair']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '2 files checked, 0 bad\n', '']);
    assert.equal(await readFile(path.join(host(), 'dj.xml'), 'utf8'), dj);
    assert.deepEqual((await readdir(host())).sort(), ['carol.xml', 'dj.xml']);
    assert.deepEqual((await readdir(spool)).filter((f) => f.startsWith('.yak-journal')), []);
    await setWritable(spool, false);
    r = await jabberctl(spool, ['list', 'localhost'], '', { readOnly: true });
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'carol\ndj\n', '']);
  });

  test('a journal it cannot read: refused, never the files as they are', async () => {
    await setWritable(spool, true);
    const journal = path.join(spool, '.yak-journal.9');
    await writeFile(journal, encodeEntry('localhost/dj.xml', null));
    await chmod(journal, 0o000);
    await setWritable(spool, false);
    try {
      const r = await jabberctl(spool, ['list', 'localhost'], '', { modesOnly: true });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^jabberctl: cannot read the spool journal \S+\.yak-journal\.9, which holds changes not yet in their files: EACCES/);
      assert.equal(r.stdout, '');
    } finally {
      await setWritable(spool, true);
      await rm(journal);
      await setWritable(spool, false);
    }
  });

  test("a server socket it may not use: reads go on without it, changes say why they cannot", async () => {
    await setWritable(spool, true);
    // What a server running as another user looks like to this one: a socket it may not write to.
    const socket = path.join(spool, '.jabberctl.sock');
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      await chmod(socket, 0o400);
      await setWritable(spool, false);
      let r = await jabberctl(spool, ['list', 'localhost'], '', { readOnly: true });
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'carol\ndj\n', '']);
      r = await jabberctl(spool, ['passwd', 'dj@localhost'], 'new\n', { readOnly: true });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `jabberctl: cannot use the server's control socket ${socket}: permission denied (run jabberctl as the user the server runs as)\n`);
    } finally {
      await setWritable(spool, true);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socket, { force: true });
      await setWritable(spool, false);
    }
  });

  test('a spool that does not exist: reads say so and make nothing', async () => {
    const missing = path.join(dir, 'no-spool');
    for (const args of [['list', 'localhost'], ['check']]) {
      const r = await jabberctl(missing, args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, `jabberctl: note: <spool>${missing}</spool> does not exist yet: nothing is stored there\n`);
    }
    assert.equal(existsSync(missing), false);
  });
});

describe('jabberctl while the server runs', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
  });
  after(() => yak.stop());

  test('a user added by jabberctl can log in at once; passwd takes effect on the next login', async () => {
    let r = await jabberctl(yak.spool, ['adduser', 'carol@localhost'], 'first\n');
    assert.equal(r.code, 0, r.stderr);
    (await loginUser(yak, 'carol', 'first')).socket.destroy();
    r = await jabberctl(yak.spool, ['passwd', 'carol@localhost'], 'second\n');
    assert.equal(r.code, 0, r.stderr);
    const c = await yak.connect();
    const old = await c.request(authIq('carol', 'x', { password: 'first' }));
    assert.equal(old.attrs.type, 'error');
    const ok = await c.request(authIq('carol', 'x', { password: 'second' }));
    assert.equal(ok.attrs.type, 'result');
    r = await jabberctl(yak.spool, ['show', 'carol@localhost']);
    assert.match(r.stdout, /^online: x$/m);
  });

  test("through the server, the server's hosts count: adduser and passwd for a host only it serves (started with another -h, or before the config changed)", async () => {
    const other = await startYak({ tweak: (c) => (c.hosts = ['localhost', 'chat.example.test']) });
    try {
      let r = await jabberctl(other.spool, ['adduser', 'hugo@chat.example.test'], 'first\n');
      assert.deepEqual([r.code, r.stdout], [0, 'added hugo@chat.example.test\n'], r.stderr);
      r = await jabberctl(other.spool, ['passwd', 'hugo@chat.example.test'], 'second\n');
      assert.deepEqual([r.code, r.stdout], [0, 'password changed for hugo@chat.example.test\n'], r.stderr);
    } finally {
      await other.stop();
    }
  });

  test('show through the server of a last-logout record with no usable time: the same as without a server', async () => {
    await showsLastRecords(yak.spool);
  });

  test('a user file that does not parse: the same message as without a server, not an internal error', async () => {
    await writeFile(path.join(yak.spool, 'localhost', 'mangled.xml'), "<xdb><query xmlns='jabber:iq:roster'");
    try {
      const r = await jabberctl(yak.spool, ['show', 'mangled@localhost']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^jabberctl: spool file \S*mangled\.xml cannot be parsed: /);
    } finally {
      await rm(path.join(yak.spool, 'localhost', 'mangled.xml'));
    }
  });

  test('deluser --force removes a user whose file does not parse through the server too, and the server serves on', async () => {
    const file = path.join(yak.spool, 'localhost', 'wrecked.xml');
    await writeFile(file, '<xdb><password');
    let r = await jabberctl(yak.spool, ['deluser', 'wrecked@localhost']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^jabberctl: spool file \S*wrecked\.xml cannot be parsed: .*; deluser --force removes it unread\n$/);
    r = await jabberctl(yak.spool, ['deluser', '--force', 'wrecked@localhost']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'removed wrecked@localhost\n');
    assert.match(r.stderr, /^jabberctl: warning: /);
    assert.equal((await readdir(path.join(yak.spool, 'localhost'))).includes('wrecked.xml'), false);
    // The name is free again.
    await registerUser(yak, 'wrecked', 'pw');
    (await loginUser(yak, 'wrecked', 'pw')).socket.destroy();
  });

  test('deluser --force ends the sessions of a user online when the file stopped parsing', async () => {
    await registerUser(yak, 'shattered', 'pw');
    const session = await loginUser(yak, 'shattered', 'pw');
    // The server found the file unparsable. (Made so at the store's edge: a
    // file spoiled on disk would be served from the cache filled at login.)
    const xdb = yak.server.xdb as Xdb;
    const exists = xdb.exists.bind(xdb);
    xdb.exists = async (host, user) => {
      if (user === 'shattered') throw new SpoolFileError(path.join(yak.spool, host, `${user}.xml`), 'cannot be parsed: test');
      return exists(host, user);
    };
    try {
      const r = await jabberctl(yak.spool, ['deluser', '--force', 'shattered@localhost']);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      xdb.exists = exists;
    }
    const closed = await Promise.race([session.whenClosed().then(() => true), new Promise((r) => setTimeout(r, 5000, false))]);
    assert.equal(closed, true, 'the session was left open');
    assert.deepEqual(yak.server.jsm.sessions.of('shattered@localhost'), []);
    assert.equal((await readdir(path.join(yak.spool, 'localhost'))).includes('shattered.xml'), false);
  });

  test('passwd racing deluser: refused as no such user, and the account does not come back', async () => {
    await registerUser(yak, 'passgone', 'pw');
    const xdb = yak.server.xdb as Xdb;
    const exists = xdb.exists.bind(xdb);
    // passwd's look at the user answers, then waits until deluser is done.
    const { promise: lookedAt, open: looked } = latch();
    const { promise: deleted, open: release } = latch();
    let first = true;
    xdb.exists = async (host, user) => {
      const there = await exists(host, user);
      if (user === 'passgone' && first) {
        first = false;
        looked();
        await deleted;
      }
      return there;
    };
    const ops = new AdminOps(yak.server.jsm);
    try {
      const passwd = ops.passwd('passgone@localhost', 'newpass');
      await lookedAt;
      await ops.deluser('passgone@localhost');
      release();
      await assert.rejects(passwd, /no such user: passgone@localhost/);
    } finally {
      xdb.exists = exists;
    }
    assert.equal((await readdir(path.join(yak.spool, 'localhost'))).includes('passgone.xml'), false);
    assert.equal((await yak.connect().then((c) => c.request(authIq('passgone', 'x', { password: 'newpass' })))).attrs.type, 'error');
  });

  test('a reader who may not use its socket is refused while the server holds the spool, never shown the files behind it', async () => {
    const socket = path.join(yak.spool, '.jabberctl.sock');
    const lock = path.join(yak.spool, '.yak-lock');
    // What a server running as another user looks like: its socket and, at worst, its lock file not ours.
    await chmod(socket, 0o400);
    try {
      let r = await jabberctl(yak.spool, ['list', 'localhost'], '', { modesOnly: true });
      assert.deepEqual([r.code, r.stdout], [1, '']);
      assert.equal(r.stderr, 'jabberctl: a server is using this spool, and its control socket is not yours to use: run jabberctl as the user the server runs as\n');
      await chmod(lock, 0o000);
      r = await jabberctl(yak.spool, ['show', 'dj@localhost'], '', { modesOnly: true });
      assert.deepEqual([r.code, r.stdout], [1, '']);
      assert.equal(
        r.stderr,
        'jabberctl: cannot tell whether a server is using this spool: its control socket and .yak-lock are not yours to use; run jabberctl as the user the server runs as\n',
      );
    } finally {
      await chmod(socket, 0o600);
      await chmod(lock, 0o600);
    }
  });

  test('a reader who may not even enter the spool folder is refused the same way, not given a bare errno', async () => {
    // The spool is the server user's, 0700: another user sees neither the
    // socket nor the lock file. Once, that was taken for "no server" and
    // the read went on until scandir failed with EACCES.
    await chmod(yak.spool, 0o700);
    for (const args of [['list', 'localhost'], ['show', 'dj@localhost'], ['check']]) {
      const r = await jabberctl(yak.spool, args, '', { otherUser: true });
      assert.deepEqual([r.code, r.stdout], [1, ''], args.join(' '));
      assert.equal(
        r.stderr,
        'jabberctl: cannot tell whether a server is using this spool: its control socket and .yak-lock are not yours to use; run jabberctl as the user the server runs as\n',
      );
    }
    // A change says what it lacks, as before.
    const r = await jabberctl(yak.spool, ['adduser', 'x@localhost'], 'pw\n', { otherUser: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^jabberctl: <spool>\S+<\/spool>: adduser needs write access to the spool \(EACCES: /);
  });

  test("a crash's journal naming a file that cannot be written: the server starts, serves the change, and check names the file", async () => {
    const spool = await tempDir();
    try {
      const host = path.join(spool, 'localhost');
      await mkdir(host);
      // A folder where dj's file belongs (as root, a file root owns or a
      // symbolic link would be one the server may not write either).
      await mkdir(path.join(host, 'dj.xml'));
      const file = "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>";
      await writeFile(path.join(spool, '.yak-journal.4'), encodeEntry('localhost/dj.xml', file));
      const own = await startYak({ spool });
      try {
        (await loginUser(own, 'dj', 'pw')).socket.destroy();
        const r = await jabberctl(spool, ['check']);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /^BAD \S+\/localhost\/dj\.xml: cannot be written \(EISDIR: .*\); its latest changes are only in the spool journal until it can$/m);
      } finally {
        await own.stop().catch(() => undefined);
      }
      assert.ok((await readdir(spool)).some((f) => f.startsWith('.yak-journal.')), 'the journal keeps the change');
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('run on the spool, a change that finds a removals list not of Yak\'s writing says so, moving it aside', async () => {
    const spool = await tempDir();
    try {
      assert.equal((await jabberctl(spool, ['adduser', 'carol@localhost'], 'pw\n')).code, 0);
      await writeFile(path.join(spool, '.yak-removals'), '[["localhost","alice"],]');
      const r = await jabberctl(spool, ['deluser', 'carol@localhost']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^jabberctl: note: \S+\/\.yak-removals: not a list of account removals as Yak writes it; moved to \S+\/\.yak-removals\.unreadable, and none of what it names is finished$/m);
      assert.equal(await readFile(path.join(spool, '.yak-removals.unreadable'), 'utf8'), '[["localhost","alice"],]');
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a stop does not wait for a control connection left open', async () => {
    const own = await startYak();
    const idle = net.connect(path.join(own.spool, '.jabberctl.sock'));
    await once(idle, 'connect');
    let timer: NodeJS.Timeout | undefined;
    try {
      const stopped = await Promise.race([own.stop().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
      assert.equal(stopped, true, 'the stop waited for an idle control connection');
    } finally {
      clearTimeout(timer);
      idle.destroy();
    }
  });

  test('a stop waits for the request running (a deluser telling contacts) and answers it; a request read after the stop began is refused, not carried out', async () => {
    const own = await startYak();
    const hold = await heldRemovalPair(own);
    const other = net.connect(path.join(own.spool, '.jabberctl.sock'));
    try {
      await once(other, 'connect');
      const removal = jabberctl(own.spool, ['deluser', 'leaving@localhost']);
      await hold.reached;
      const stopped = own.server.stop();
      let replies = '';
      other.setEncoding('utf8').on('data', (d: string) => (replies += d));
      other.write(JSON.stringify({ cmd: 'adduser', args: ['late@localhost', 'pw'] }) + '\n');
      await new Promise((r) => setTimeout(r, 100));
      hold.release();
      const r = await removal;
      assert.equal(r.code, 0, r.stderr);
      await stopped;
      assert.deepEqual(JSON.parse(replies.trim()), { ok: false, error: 'the server is stopping: request not carried out' });
      const spool = await readdir(path.join(own.spool, 'localhost'));
      assert.deepEqual(spool.sort(), ['staying.xml'], 'the removal or the late request was not carried out as answered');
      assert.match(await readFile(path.join(own.spool, 'localhost', 'staying.xml'), 'utf8'), /<item jid='leaving@localhost' subscription='none'\/>/);
      assert.deepEqual((await readdir(own.spool)).filter((f) => f.startsWith('.yak-journal')), [], 'a journal was left');
    } finally {
      hold.release();
      hold.restore();
      other.destroy();
      await own.stop();
    }
  });

  test('a stop held past its bound by a jabberctl request, not by stanzas, says so in its warning, with what it waits for', async () => {
    const captured = captureLog();
    const own = await startYak({ log: captured.log });
    const hold = await heldRemovalPair(own);
    try {
      const removal = jabberctl(own.spool, ['deluser', 'leaving@localhost']);
      await hold.reached;
      const stopped = own.server.stop(50);
      const line = await logLine(captured, (l) => l.level === 40 && typeof l.msg === 'string' && l.msg.startsWith('stop: '));
      assert.deepEqual([line.msg, line.streams, line.requests, line.removals], ['stop: jabberctl requests or account removals still running past the bound; they get as long again', 0, 1, 1]);
      // Held past the second bound too: the stop goes on without it (how the
      // removal then ends, finished or cut short by the closed spool, is
      // the stop tests' to say, not this one's).
      await stopped;
      hold.release();
      await removal;
    } finally {
      hold.release();
      hold.restore();
      await own.stop();
    }
  });

  test('check through the server names a removal under way, and no longer once it is over', async () => {
    const own = await startYak();
    const hold = await heldRemovalPair(own);
    try {
      const removal = jabberctl(own.spool, ['deluser', 'leaving@localhost']);
      await hold.reached;
      let r = await jabberctl(own.spool, ['check']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, /^jabberctl: note: the removal of leaving@localhost has begun and is not over: it is under way, /m);
      hold.release();
      assert.equal((await removal).code, 0);
      r = await jabberctl(own.spool, ['check']);
      assert.deepEqual([r.code, r.stderr], [0, '']);
    } finally {
      hold.release();
      hold.restore();
      await own.stop();
    }
  });

  test('the control socket answers requests of the wrong shape as malformed, and the server serves on', async () => {
    const ask = (line: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const sock = net.connect(path.join(yak.spool, '.jabberctl.sock'));
        let text = '';
        sock.setEncoding('utf8').on('data', (d: string) => (text += d));
        sock.on('end', () => resolve(text.trim()));
        sock.on('error', reject);
        sock.end(line + '\n');
      });
    for (const line of ['null', '42', '"show"', '{}', '{"cmd":"list","args":{}}', '{"cmd":"list","args":[123]}', '{"cmd":7}']) {
      assert.deepEqual(JSON.parse(await ask(line)), { ok: false, error: 'malformed request' }, line);
    }
    assert.equal((await jabberctl(yak.spool, ['list', 'localhost'])).code, 0, 'the server is gone');
  });

  test('deluser ends the user’s session and frees the name', async () => {
    await registerUser(yak, 'dave', 'pw');
    const session = await loginUser(yak, 'dave', 'pw');
    const r = await jabberctl(yak.spool, ['deluser', 'dave@localhost']);
    assert.equal(r.code, 0, r.stderr);
    await session.whenClosed();
    assert.equal((await jabberctl(yak.spool, ['list', 'localhost'])).stdout.includes('dave\n'), false);
    await registerUser(yak, 'dave', 'again');
  });

  test('changes made while users keep logging in are never lost', async () => {
    await registerUser(yak, 'erin', 'pw');
    let stop = false;
    const logins = (async () => {
      let n = 0;
      while (!stop) {
        const c = await yak.connect();
        const reply = await c.request(authIq('erin', `r${n++}`, { password: 'pw' }));
        assert.equal(reply.attrs.type, 'result');
        c.socket.destroy();
      }
      return n;
    })();
    for (let i = 0; i < 5; i++) {
      const r = await jabberctl(yak.spool, ['adduser', `bulk${i}@localhost`], `pw${i}\n`);
      assert.equal(r.code, 0, r.stderr);
    }
    stop = true;
    assert.ok((await logins) > 0);
    const list = (await jabberctl(yak.spool, ['list', 'localhost'])).stdout.split('\n');
    for (let i = 0; i < 5; i++) assert.ok(list.includes(`bulk${i}`), `bulk${i} missing`);
    for (let i = 0; i < 5; i++) (await loginUser(yak, `bulk${i}`, `pw${i}`)).socket.destroy();
    assert.equal((await jabberctl(yak.spool, ['check'])).code, 0);
  });
});

describe('a spool path too long for a Unix socket address', { timeout: 25_000 }, () => {
  test('the server makes its control socket in the spool, nowhere else, and jabberctl reaches it', async () => {
    const base = await mkdtemp(path.join(os.tmpdir(), 'yak-deep-'));
    const parent = path.join(base, 'x'.repeat(60));
    const spool = path.join(parent, 'y'.repeat(60), 'spool');
    assert.ok(Buffer.byteLength(path.join(spool, '.jabberctl.sock')) > 107);
    const daemon = await startDaemon({ spool });
    try {
      // The daemon holds the spool's lock: only through its socket can this succeed.
      const r = await jabberctl(spool, ['adduser', 'deep@localhost'], 'pw\n');
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await jabberctl(spool, ['list', 'localhost'])).stdout, 'deep\n');
      assert.ok((await readdir(spool)).includes('.jabberctl.sock'));
      // No socket under a name cut short in a folder above the spool.
      assert.deepEqual(await readdir(parent), ['y'.repeat(60)]);
      assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
    } finally {
      await daemon.dispose();
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe('the control socket is made where only its owner can reach it', () => {
  test('bound in a folder of its own and moved into place: 0600 under any umask, nothing left beside it, a stale socket replaced', async () => {
    const spool = await tempDir();
    const file = path.join(spool, '.jabberctl.sock');
    // What a crash may leave: something under the socket's name nobody answers on, and the binding folder.
    await writeFile(file, '');
    await mkdir(path.join(spool, '.jabberctl.new'));
    const umask = process.umask(0);
    let control: ControlSocket | undefined;
    // Where the socket is bound, and who may enter there, at the moment of the bind.
    const binds: { dir: string; mode: number }[] = [];
    const listen = net.Server.prototype.listen;
    net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
      if (typeof args[0] === 'string') binds.push({ dir: path.dirname(args[0]), mode: statSync(path.dirname(args[0])).mode & 0o777 });
      return (listen as (...a: unknown[]) => net.Server).apply(this, args);
    } as typeof listen;
    try {
      const yak = await startYak({ spool: path.join(spool, 'unused') });
      try {
        control = await ControlSocket.open(spool, new AdminOps(yak.server.jsm), silentLogger);
      } finally {
        await yak.stop();
      }
    } finally {
      process.umask(umask);
      net.Server.prototype.listen = listen;
    }
    try {
      // Bound in a folder only the owner may enter, never in the spool itself.
      // (The test server's own socket, in spool/unused, is left out.)
      const bound = binds.filter((b) => b.dir === spool || path.dirname(b.dir) === spool);
      assert.deepEqual(bound, [{ dir: path.join(spool, '.jabberctl.new'), mode: 0o700 }]);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.ok((await stat(file)).isSocket());
      assert.deepEqual((await readdir(spool)).sort(), ['.jabberctl.sock', 'unused']);
    } finally {
      await control?.close();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a folder in the way is named as such, not taken for a server using the spool', async () => {
    const spool = await tempDir();
    try {
      await mkdir(path.join(spool, '.jabberctl.sock'));
      const yak = await startYak({ spool: path.join(spool, 'unused') });
      try {
        await assert.rejects(ControlSocket.open(spool, new AdminOps(yak.server.jsm), silentLogger), /a folder is in the way of the control socket/);
      } finally {
        await yak.stop();
      }
      assert.deepEqual((await readdir(spool)).sort(), ['.jabberctl.sock', 'unused']);
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  });
});


describe('the control socket under a client that does not play along', () => {
  /** Stands in for AdminOps: counts the lists asked for, each answered after `delayMs` with `names`. */
  function countingOps(names: string[], delayMs = 0): { ops: AdminOps; lists: () => number } {
    let lists = 0;
    const ops = {
      spoolReady: async () => undefined,
      list: async () => {
        lists++;
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        return names;
      },
    } as unknown as AdminOps;
    return { ops, lists: () => lists };
  }

  /** Resolves once `count()` has not changed for 300 ms. */
  async function settled(count: () => number): Promise<number> {
    for (;;) {
      const before = count();
      await new Promise((r) => setTimeout(r, 300));
      if (count() === before) return before;
    }
  }

  const LIST = JSON.stringify({ cmd: 'list', args: ['localhost'] }) + '\n';

  test('requests sent without reading the replies wait in the client; none is carried out after the connection or the server is gone', { timeout: 30_000 }, async () => {
    const spool = await tempDir();
    // Replies of about 120 KB: a client that does not read fills the socket after a few.
    const { ops, lists } = countingOps(Array.from({ length: 10_000 }, (_, i) => `user${i}`));
    const control = await ControlSocket.open(spool, ops, silentLogger);
    try {
      const client = net.connect(path.join(spool, '.jabberctl.sock'));
      await once(client, 'connect');
      client.pause();
      client.write(LIST.repeat(5_000));
      const inHand = await settled(lists);
      assert.ok(inHand >= 1 && inHand < 100, `${inHand} of 5,000 requests carried out for a client that reads no reply`);
      client.destroy();
      await control.close();
      assert.ok((await settled(lists)) - inHand <= 1, 'requests went on after the connection and the server were gone');
    } finally {
      await control.close();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a request that takes longer than the idle limit is answered; the silence counts only once it is', { timeout: 30_000 }, async () => {
    const spool = await tempDir();
    const { ops } = countingOps(['slow'], 600);
    const control = await ControlSocket.open(spool, ops, silentLogger, 200);
    try {
      const client = net.connect(path.join(spool, '.jabberctl.sock'));
      client.setEncoding('utf8');
      let got = '';
      client.on('data', (d: string) => (got += d));
      const closed = once(client, 'close');
      client.write(LIST);
      await closed;
      // Answered, then closed for the client's own silence.
      assert.equal(got, JSON.stringify({ ok: true, result: ['slow'] }) + '\n');
    } finally {
      await control.close();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a stop that waits for a request running sends its whole reply before it closes the connection, however long (a list)', { timeout: 30_000 }, async () => {
    const spool = await tempDir();
    const names = Array.from({ length: 100_000 }, (_, i) => `user${i}`);
    const { ops, lists } = countingOps(names, 300);
    const control = await ControlSocket.open(spool, ops, silentLogger);
    try {
      const client = net.connect(path.join(spool, '.jabberctl.sock'));
      let got = '';
      client.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(client, 'connect');
      const closed = once(client, 'close');
      client.write(LIST);
      while (lists() === 0) await new Promise((r) => setTimeout(r, 10));
      // As server.stop() does: wait for the running request, then close.
      await control.drain();
      await control.close();
      await closed;
      assert.equal((JSON.parse(got) as { ok: boolean; result: string[] }).result.length, names.length);
    } finally {
      await control.close();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a client that does not read its replies is closed after the idle time, not held open with its requests', { timeout: 30_000 }, async () => {
    const spool = await tempDir();
    const { ops, lists } = countingOps(Array.from({ length: 10_000 }, (_, i) => `user${i}`));
    const control = await ControlSocket.open(spool, ops, silentLogger, 300);
    try {
      const client = net.connect(path.join(spool, '.jabberctl.sock'));
      client.on('error', () => undefined);
      await once(client, 'connect');
      client.pause();
      client.write(LIST.repeat(20));
      const closed = once(client, 'close');
      await new Promise((r) => setTimeout(r, 3000));
      // Reading now takes what the server wrote before it gave up: not all 20.
      let got = '';
      client.setEncoding('utf8').on('data', (d: string) => (got += d));
      client.resume();
      await closed;
      const replies = got.split('\n').filter((l) => l !== '').length;
      assert.ok(replies < 20, `${replies} replies, ${lists()} requests run: the connection was held open`);
    } finally {
      await control.close();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a client that ends its side after its request (nc -N) still gets the reply', { timeout: 30_000 }, async () => {
    const spool = await tempDir();
    const { ops, lists } = countingOps(['a', 'b'], 50);
    const control = await ControlSocket.open(spool, ops, silentLogger);
    try {
      const client = net.connect({ path: path.join(spool, '.jabberctl.sock'), allowHalfOpen: true });
      client.setEncoding('utf8');
      let got = '';
      client.on('data', (d: string) => (got += d));
      const closed = once(client, 'close');
      client.end(LIST + LIST);
      await closed;
      assert.equal(got, (JSON.stringify({ ok: true, result: ['a', 'b'] }) + '\n').repeat(2));
      assert.equal(lists(), 2);
    } finally {
      await control.close();
      await rm(spool, { recursive: true, force: true });
    }
  });
});
