// reguser as a child process against a real server (SPEC section 9, book
// example 7-5). The book's host is `yak`; the tool connects to 127.0.0.1 and
// names `yak` in the stream header with --domain, which leaves every output
// line of the book unchanged.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IqError } from '../src/client/iq.js';
import { login } from '../src/client/auth.js';
import { parseXml } from '../src/xml/parse.js';
import { parseTarget } from '../src/cli/target.js';
import { makeTestKey } from './helpers/tls-key.js';
import { registerUser, startYak, type TestYak } from './helpers/yak.js';
import { holdCalls } from './helpers/latch.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { runTool, type ToolRun } from './helpers/run-tool.js';
import { eachLimited } from '../src/util/each-limited.js';

const REGUSER = fileURLToPath(new URL('../src/cli/reguser.js', import.meta.url));

function reguser(args: string[], timeout = 60_000): Promise<ToolRun> {
  return runTool(REGUSER, args, { timeout });
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Whether a connection to `host`:`port` is refused (nothing listens there). */
function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Whether `user` can log in on `yak` with `password`. */
async function canLogIn(yak: TestYak, user: string, password: string): Promise<boolean> {
  const c = await yak.connect();
  try {
    await login(c, { username: user, password, resource: 'Check' });
    return true;
  } catch (err) {
    if (err instanceof IqError && err.code === 401) return false;
    throw err;
  } finally {
    await c.close();
  }
}

/** A TCP forwarder in front of the server that counts client connections. */
async function forwarder(port: number): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    count++;
    const upstream = net.connect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// A self-signed P-256 key and certificate (CN=yak) for the server's TLS listener.
const TEST_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsm3vw0wfIkqn7rDE
dwWD/VBa+0QoKuvEzxy03fslPsChRANCAARdhJ6qGl3YkRItHInFjdUIGIS2pSYq
yEHMDkkWjAr6vkum4IOyefCx0KWdYYL+MRsY9ml4AHg7lHY9m0sRrvO4
-----END PRIVATE KEY-----
-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUZ3Gg8h/lsVxtCceHNqG8p58xjaQwCgYIKoZIzj0EAwIw
DjEMMAoGA1UEAwwDeWFrMCAXDTI2MTEyODE3MTQ1NloYDzIxMjYxMTA0MTcxNDU2
WjAOMQwwCgYDVQQDDAN5YWswWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARdhJ6q
Gl3YkRItHInFjdUIGIS2pSYqyEHMDkkWjAr6vkum4IOyefCx0KWdYYL+MRsY9ml4
AHg7lHY9m0sRrvO4o1MwUTAdBgNVHQ4EFgQUOSM6uYarCS3IuvG1Cqv1TDk8DWsw
HwYDVR0jBBgwFoAUOSM6uYarCS3IuvG1Cqv1TDk8DWswDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiEA6c+4Rn33Gh61VU9OSM4XmohPhkBItaWT3pvE
1Ws5zY4CICZZjdEh2QO59uoGDA7hVBystxByvbPmQ2XUfhgnVvzV
-----END CERTIFICATE-----
`;

// Karma (when the server enforces it) would throttle a 1,000-user batch on one
// connection to the classic 1.4 rate; these tests are about the tool.
const yakHost = (c: { hosts: string[]; c2s: { karma: unknown } }): void => {
  c.hosts = ['yak'];
  c.c2s.karma = undefined;
};

describe('reguser, the book transcript (example 7-5)', () => {
  let yak: TestYak;
  let server: string;
  let pemDir: string;
  before(async () => {
    pemDir = await mkdtemp(path.join(os.tmpdir(), 'reguser-tls-'));
    const pem = path.join(pemDir, 'yak.pem');
    await writeFile(pem, TEST_PEM);
    yak = await startYak({
      tweak: (c) => {
        yakHost(c);
        c.c2s.ssl = [{ port: 0, address: '127.0.0.1' }];
        c.tlsKeys = new Map([['127.0.0.1', pem]]);
      },
    });
    server = `127.0.0.1:${yak.port}`;
    // dj is already registered in the book's story.
    await registerUser(yak, 'dj', 'secret', { name: 'DJ Adams', email: 'dj@yak' });
  });
  after(async () => {
    await yak.stop();
    await rm(pemDir, { recursive: true, force: true });
  });

  test('reguser yak:5222 lists the fields', async () => {
    const r = await reguser([server, '--domain', 'yak']);
    assert.equal(r.stdout, '[Enquiry] Fields: username password email name\n');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
  });

  test('reguser yak username=joseph ... registers joseph', async () => {
    const r = await reguser([
      '--domain',
      'yak',
      server,
      'username=joseph',
      'password=spinach',
      'name=Joseph Adams',
      'email=joseph@yak',
    ]);
    assert.equal(r.stdout, '[Attempt] (joseph) Successful registration\n');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(await canLogIn(yak, 'joseph', 'spinach'), true);
    const record = parseXml(await readFile(path.join(yak.spool, 'yak', 'joseph.xml'), 'utf8'));
    const query = record.getChild('query', 'jabber:iq:register')!;
    assert.equal(query.getChildText('name'), 'Joseph Adams');
    assert.equal(query.getChildText('email'), 'joseph@yak');
  });

  test('reguser yak username=dj ... is refused with 409', async () => {
    const r = await reguser([server, '--domain', 'yak', 'username=dj', 'password=secret', 'name=DJ Adams', 'email=dj@yak']);
    assert.equal(r.stdout, '[Attempt] (dj) Error: 409 (Username Not Available)\n');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 1);
  });

  test('values keep spaces and = signs', async () => {
    const r = await reguser([server, '--domain', 'yak', 'username=eq', 'password=a=b c', 'name=x=y']);
    assert.equal(r.stdout, '[Attempt] (eq) Successful registration\n');
    assert.equal(r.code, 0);
    assert.equal(await canLogIn(yak, 'eq', 'a=b c'), true);
  });

  test('a missing username is a usage error, and nothing is sent', async () => {
    const r = await reguser([server, '--domain', 'yak', 'password=x', 'name=nobody']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /username missing/);
  });

  test('a word without = is a usage error', async () => {
    const r = await reguser([server, '--domain', 'yak', 'username=w', 'password']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no '=' in "password"/);
    assert.equal(await canLogIn(yak, 'w', ''), false);
  });

  test('a control character in a value is a usage error, and nothing is sent', async () => {
    const r = await reguser([server, '--domain', 'yak', 'username=ctl', 'password=x\u0001y']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /password holds a character XML does not allow/);
  });

  test('an unknown Jabber host is reported with the stream error', async () => {
    const r = await reguser([server, '--domain', 'elsewhere.example']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^reguser: Jabber server at 127\.0\.0\.1:\d+ ended the stream: Unknown Host \(host-unknown\)\n$/);
  });

  test('--tls connects to the TLS listener (port 5223 style)', async () => {
    const tlsPort = yak.server.tlsPorts[0]!;
    const r = await reguser(['--tls', `127.0.0.1:${tlsPort}`, '--domain', 'yak', 'username=secure', 'password=tls']);
    assert.equal(r.stdout, '[Attempt] (secure) Successful registration\n');
    assert.equal(r.code, 0);
    assert.equal(await canLogIn(yak, 'secure', 'tls'), true);
  });

  test('--tls --ca checks the certificate and the name: trusted, it registers; otherwise it says why and stops', async () => {
    const tlsPort = yak.server.tlsPorts[0]!;
    const ca = path.join(pemDir, 'yak.pem'); // self-signed: it is its own CA
    let r = await reguser(['--tls', '--ca', ca, `127.0.0.1:${tlsPort}`, '--domain', 'yak', 'username=checked', 'password=tls']);
    assert.equal(r.stdout, '[Attempt] (checked) Successful registration\n', r.stderr);
    // Another name than the certificate's, or a CA that did not sign it: nothing is sent.
    r = await reguser(['--tls', '--ca', ca, `127.0.0.1:${tlsPort}`, '--domain', 'elsewhere', 'username=named', 'password=tls']);
    assert.match(r.stderr, /^reguser: the certificate of 127\.0\.0\.1:\d+ is not trusted \(--ca .*yak\.pem\): .*elsewhere/);
    assert.equal(r.code, 2);
    const other = makeTestKey(await mkdtemp(path.join(pemDir, 'other-')));
    r = await reguser(['--tls', '--ca', other.cert, `127.0.0.1:${tlsPort}`, '--domain', 'yak', 'username=signed', 'password=tls']);
    assert.match(r.stderr, /is not trusted/);
    assert.equal(r.code, 2);
    assert.equal(await canLogIn(yak, 'named', 'tls'), false);
    assert.equal(await canLogIn(yak, 'signed', 'tls'), false);
    // --ca without --tls, or a file that cannot be read: usage errors.
    assert.match((await reguser(['--ca', ca, server])).stderr, /--ca checks a TLS certificate: give --tls too/);
    assert.match((await reguser(['--tls', '--ca', path.join(pemDir, 'absent.pem'), server])).stderr, /cannot read .*absent\.pem/);
  });

  test('--tls --ca to an address with no --domain: the one line that says why, no Node deprecation warning', async () => {
    // The Jabber host is then the address itself. Node warns (DEP0123) when
    // an IP address is given as the TLS server name, which cluttered the
    // error with two lines that are not reguser's.
    const tlsPort = yak.server.tlsPorts[0]!;
    const ca = path.join(pemDir, 'yak.pem');
    const r = await reguser(['--tls', '--ca', ca, `127.0.0.1:${tlsPort}`, 'username=byip', 'password=tls']);
    assert.doesNotMatch(r.stderr, /DeprecationWarning|DEP0123/);
    assert.match(r.stderr, /^reguser: the certificate of 127\.0\.0\.1:\d+ is not trusted \(--ca .*yak\.pem\): .*127\.0\.0\.1.*\n$/);
    assert.equal(r.code, 2);
  });

  test('--tls against a plain listener, or no --tls against a TLS one, cannot reach it, and says what to try', async () => {
    const r = await reguser(['--tls', server, '--domain', 'yak', '--timeout', '5']);
    assert.equal(r.stderr, `Cannot reach Jabber server at ${server}\nreguser: it answered, but not in TLS: a plain port? (without --tls the port is 5222)\n`);
    assert.equal(r.code, 2);
    const tlsTarget = `127.0.0.1:${yak.server.tlsPorts[0]!}`;
    const plain = await reguser([tlsTarget, '--domain', 'yak', '--timeout', '5']);
    assert.equal(plain.stderr, `Cannot reach Jabber server at ${tlsTarget}\nreguser: it closed the connection without a stream header: a direct-TLS port? (try --tls)\n`);
    assert.equal(plain.code, 2);
  });
});

describe('reguser, usage and unreachable servers', () => {
  test('no arguments prints the usage text and exits 2', async () => {
    const r = await reguser([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Usage: reguser \[options\] host\[:port\] \[field=value \.\.\.\]/);
    assert.match(r.stderr, /--file <file>/);
  });

  test('an unreachable port: Cannot reach Jabber server at HOST:PORT', async () => {
    const port = await freePort();
    const enquiry = await reguser([`127.0.0.1:${port}`]);
    assert.equal(enquiry.stderr, `Cannot reach Jabber server at 127.0.0.1:${port}\n`);
    assert.equal(enquiry.stdout, '');
    assert.equal(enquiry.code, 2);
    const attempt = await reguser([`127.0.0.1:${port}`, 'username=joseph', 'password=spinach']);
    assert.equal(attempt.stderr, `Cannot reach Jabber server at 127.0.0.1:${port}\n`);
    assert.equal(attempt.code, 2);
  });

  test('the port defaults to 5222 (5223 with --tls): the unreachable line names it', async () => {
    // A loopback address of its own: a server a developer runs on
    // 127.0.0.1:5222 (npm start) does not answer there.
    const host = '127.0.0.77';
    for (const [args, port] of [
      [[host], 5222],
      [['--tls', host], 5223],
    ] as const) {
      assert.ok(await refused(host, port), `something listens on ${host}:${port} (on all addresses?): stop it to run this test`);
      const r = await reguser([...args, '--timeout', '5']);
      assert.equal(r.stderr, `Cannot reach Jabber server at ${host}:${port}\n`);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2);
    }
  });

  test('a bad port is a usage error', async () => {
    for (const target of ['127.0.0.1:99999', 'localhost:abc', 'host:port']) {
      const r = await reguser([target]);
      assert.equal(r.code, 2, target);
      assert.ok(r.stderr.includes(`"${target}" is not host[:port]`), r.stderr);
    }
  });

  test('a bracketed IPv6 address with a bad or empty port is a usage error too, as are brackets around anything else; nothing is tried', async () => {
    for (const target of ['[::1]:abc', '[::1]:', '[::1]:99999', '[::1]x', '[::1', 'a:b:c', '[localhost]:5222', '[127.0.0.1]', '[]:5222']) {
      const r = await reguser([target, '--timeout', '5']);
      assert.equal(r.code, 2, target);
      assert.equal(r.stderr, `reguser: "${target}" is not host[:port]\n(reguser --help for usage)\n`);
    }
  });

  test('an IPv6 host is shown in brackets, with the port 5222 or 5223 (--tls)', () => {
    // Unit-tested: the messages would need a connection to ::1, and only
    // 127.0.0.1 is ours to use.
    assert.deepEqual(parseTarget('::1', false), { host: '::1', port: 5222, display: '[::1]:5222' });
    assert.deepEqual(parseTarget('::1', true), { host: '::1', port: 5223, display: '[::1]:5223' });
    assert.deepEqual(parseTarget('[::1]', true), { host: '::1', port: 5223, display: '[::1]:5223' });
    assert.deepEqual(parseTarget('[::1]:5300', true), { host: '::1', port: 5300, display: '[::1]:5300' });
    assert.deepEqual(parseTarget('127.0.0.1', true), { host: '127.0.0.1', port: 5223, display: '127.0.0.1:5223' });
  });

  test('a --timeout beyond what a timer can wait, or not written as decimal seconds, is a usage error', async () => {
    for (const bad of ['2147484', '1e9', '0x10', '+5', '1e-300', '0.0001', 'Infinity', '0', '']) {
      const r = await reguser(['127.0.0.1', '--timeout', bad]);
      assert.equal(r.code, 2, bad);
      assert.equal(r.stderr, `reguser: --timeout must be a number of seconds (such as 30 or 0.5), at least 0.001 and at most 2147483, not "${bad}"\n(reguser --help for usage)\n`, bad);
      assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning/);
    }
  });


  test('the Jabber host defaults to the host given (reguser localhost:PORT)', async () => {
    const yak = await startYak();
    try {
      const r = await reguser([`localhost:${yak.port}`]);
      assert.equal(r.stdout, '[Enquiry] Fields: username password email name\n');
      assert.equal(r.code, 0);
    } finally {
      await yak.stop();
    }
  });

  test('registration switched off: the enquiry reports 501 and exits 1', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.register = undefined;
      },
    });
    try {
      const r = await reguser([`127.0.0.1:${yak.port}`, '--domain', yak.host]);
      assert.equal(r.stdout, '[Enquiry] Error: 501 (Not Implemented)\n');
      assert.equal(r.code, 1);
    } finally {
      await yak.stop();
    }
  });
});

describe('reguser --file', () => {
  let yak: TestYak;
  let dir: string;
  before(async () => {
    yak = await startYak({ tweak: yakHost });
    dir = await mkdtemp(path.join(os.tmpdir(), 'reguser-batch-'));
  });
  after(async () => {
    await yak.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const BROKEN: Record<number, { line: string; report: string }> = {
    250: { line: 'username=broken250 password', report: `[Skipped] (line 250) no '=' in "password"` },
    700: { line: "username=broken700 password=x 'name=Never Closed", report: '[Skipped] (line 700) unterminated single quote' },
  };
  const userOf = (n: number): string => `user${String(n).padStart(4, '0')}`;
  const passwordOf = (n: number): string => `pw=${n} secret`;

  test('1,000 lines over one connection: 998 registered, two broken lines skipped', async () => {
    const lines: string[] = [];
    const expected: string[] = [];
    for (let n = 1; n <= 1000; n++) {
      const broken = BROKEN[n];
      if (broken) {
        lines.push(broken.line);
        expected.push(broken.report);
        continue;
      }
      // Alternate the quoting styles a person would use.
      lines.push(
        n % 2
          ? `username=${userOf(n)} 'password=${passwordOf(n)}' 'name=User ${n}' email=${userOf(n)}@yak`
          : `username=${userOf(n)} "password=${passwordOf(n)}" name=User\\ ${n}`,
      );
      expected.push(`[Attempt] (${userOf(n)}) Successful registration`);
    }
    expected.push('[Summary] 998 registered, 0 failed, 2 skipped');
    const file = path.join(dir, 'users.txt');
    await writeFile(file, lines.join('\n') + '\n');

    const front = await forwarder(yak.port);
    let r: ToolRun;
    try {
      r = await reguser([`127.0.0.1:${front.port}`, '--domain', 'yak', '--file', file], 120_000);
      assert.equal(front.connections(), 1, 'one connection for the whole batch');
    } finally {
      await front.close();
    }
    assert.equal(r.stderr, '');
    assert.deepEqual(r.stdout.split('\n'), [...expected, '']);
    assert.equal(r.code, 1, 'skipped lines make the exit status 1');

    const files = await readdir(path.join(yak.spool, 'yak'));
    assert.equal(files.length, 998);
    const good = Array.from({ length: 1000 }, (_, i) => i + 1).filter((n) => !BROKEN[n]);
    const failed: string[] = [];
    await eachLimited(good, 16, async (n) => {
      if (!(await canLogIn(yak, userOf(n), passwordOf(n)))) failed.push(userOf(n));
    });
    assert.deepEqual(failed, []);
    assert.equal(await canLogIn(yak, 'broken250', ''), false);
  });

  test('CSV with a header; a refused user and a broken row do not stop the batch', async () => {
    await registerUser(yak, 'taken', 'x');
    const file = path.join(dir, 'users.csv');
    await writeFile(
      file,
      [
        'username,password,name,email',
        'csv1,one,"Adams, Joseph",csv1@yak',
        'taken,two,Someone,',
        'csv3,three',
        'csv4,"say ""hi""",,csv4@yak',
        // A control character would end the stream, and the batch with it.
        'csv6,a\u0001b,,',
        'csv7,seven,,',
        '',
      ].join('\r\n'),
    );
    const r = await reguser([`127.0.0.1:${yak.port}`, '--domain', 'yak', '--file', file]);
    assert.deepEqual(r.stdout.split('\n'), [
      '[Attempt] (csv1) Successful registration',
      '[Attempt] (taken) Error: 409 (Username Not Available)',
      '[Skipped] (line 4) 2 values for 4 columns',
      '[Attempt] (csv4) Successful registration',
      '[Skipped] (line 6) password holds a character XML does not allow (a control character)',
      '[Attempt] (csv7) Successful registration',
      '[Summary] 3 registered, 1 failed, 2 skipped',
      '',
    ]);
    assert.equal(r.code, 1);
    assert.equal(await canLogIn(yak, 'csv4', 'say "hi"'), true);
    const record = parseXml(await readFile(path.join(yak.spool, 'yak', 'csv1.xml'), 'utf8'));
    assert.equal(record.getChild('query', 'jabber:iq:register')!.getChildText('name'), 'Adams, Joseph');
  });

  test('a clean list exits 0', async () => {
    const file = path.join(dir, 'clean.txt');
    await writeFile(file, '# two more\nusername=clean1 password=a\n\nusername=clean2 password=b\n');
    const r = await reguser([`127.0.0.1:${yak.port}`, '--domain', 'yak', '--file', file]);
    assert.deepEqual(r.stdout.split('\n'), [
      '[Attempt] (clean1) Successful registration',
      '[Attempt] (clean2) Successful registration',
      '[Summary] 2 registered, 0 failed, 0 skipped',
      '',
    ]);
    assert.equal(r.code, 0);
  });

  test('a CSV header without a password column is refused before connecting', async () => {
    const file = path.join(dir, 'nopass.csv');
    await writeFile(file, 'username,name\nnopass,No Pass\n');
    const r = await reguser([`127.0.0.1:${yak.port}`, '--domain', 'yak', '--file', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /CSV header has no password column/);
    assert.equal(await canLogIn(yak, 'nopass', 'x'), false);
  });

  test('karma pauses on the server do not break a batch', async () => {
    // The classic 1.4 karma, with the penalty shortened to one heartbeat so the
    // test stays quick: ~35 registrations in, reading pauses, then resumes.
    const slow = await startYak({
      tweak: (c) => {
        c.hosts = ['yak'];
        c.c2s.karma = { init: 10, max: 10, inc: 1, dec: 1, penalty: -1, restore: 10 };
      },
    });
    try {
      const file = path.join(dir, 'karma.txt');
      const users = Array.from({ length: 60 }, (_, i) => `k${i}`);
      await writeFile(file, users.map((u) => `username=${u} password=pw-${u} 'name=Karma ${u}' email=${u}@yak`).join('\n'));
      const r = await reguser([`127.0.0.1:${slow.port}`, '--domain', 'yak', '--file', file, '--timeout', '10']);
      assert.equal(r.stderr, '');
      assert.deepEqual(r.stdout.trimEnd().split('\n').at(-1), '[Summary] 60 registered, 0 failed, 0 skipped');
      assert.equal(r.code, 0);
      assert.equal(await canLogIn(slow, 'k59', 'pw-k59'), true);
    } finally {
      await slow.stop();
    }
  });

  test("the server's <authtime> ending a long batch: the rest goes over a new connection, nothing twice, nothing lost", async () => {
    // Karma as above holds the batch back a while after ~35 registrations;
    // an <authtime> of 1 s ends the connection meanwhile (connection-timeout),
    // after the server answered what it had read.
    const slow = await startYak({
      tweak: (c) => {
        c.hosts = ['yak'];
        c.c2s.karma = { init: 10, max: 10, inc: 1, dec: 1, penalty: -1, restore: 10 };
        c.c2s.authtime = 1;
      },
    });
    const front = await forwarder(slow.port);
    try {
      const file = path.join(dir, 'authtime.txt');
      const users = Array.from({ length: 80 }, (_, i) => `t${i}`);
      await writeFile(file, users.map((u) => `username=${u} password=pw-${u}`).join('\n'));
      const r = await reguser([`127.0.0.1:${front.port}`, '--domain', 'yak', '--file', file, '--timeout', '10'], 60_000);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), [...users.map((u) => `[Attempt] (${u}) Successful registration`), '[Summary] 80 registered, 0 failed, 0 skipped'], r.stderr);
      assert.equal(r.code, 0, r.stderr);
      const notes = r.stderr === '' ? [] : r.stderr.trimEnd().split('\n');
      assert.ok(notes.length >= 1 && front.connections() === notes.length + 1, `${front.connections()} connections\n${r.stderr}`);
      for (const note of notes) assert.match(note, /^reguser: the server ended the stream after \d+ of 80 lines: Timeout waiting for authentication \(connection-timeout\); going on over a new connection$/);
      assert.equal(await canLogIn(slow, 't79', 'pw-t79'), true);
    } finally {
      await front.close();
      await slow.stop();
    }
  });

  test('a registration still running when the server closes past its grace: sent again, and its 409 said to be possibly its own', { timeout: 60_000 }, async () => {
    // A slow disk: g3's account is written only after the connection is gone
    // (<authtime> 1 s, then the server's grace for what it has in hand).
    const slow = await startYak({
      tweak: (c) => {
        c.hosts = ['yak'];
        c.c2s.karma = undefined;
        c.c2s.authtime = 1;
      },
    });
    const hold = holdCalls(slow.server.xdb as Xdb, 'create', (_host, user) => user === 'g3');
    const front = await forwarder(slow.port);
    try {
      const file = path.join(dir, 'slow.txt');
      await writeFile(file, Array.from({ length: 6 }, (_, i) => `username=g${i} password=p${i}`).join('\n'));
      const run = reguser([`127.0.0.1:${front.port}`, '--domain', 'yak', '--file', file, '--timeout', '30'], 60_000);
      await hold.reached;
      while (front.connections() < 2) await new Promise((r) => setTimeout(r, 50));
      hold.release();
      const r = await run;
      assert.deepEqual(
        r.stdout.trimEnd().split('\n'),
        [
          ...[0, 1, 2].map((n) => `[Attempt] (g${n}) Successful registration`),
          '[Attempt] (g3) Error: 409 (Username Not Available)',
          ...[4, 5].map((n) => `[Attempt] (g${n}) Successful registration`),
          '[Summary] 5 registered, 1 failed, 0 skipped',
        ],
        r.stderr,
      );
      assert.match(r.stderr, /^reguser: the server ended the stream after 3 of 6 lines: .*\nreguser: g3 was being registered when the server closed the connection, and may have been then \(try logging in\)\n$/);
      assert.equal(await canLogIn(slow, 'g3', 'p3'), true, 'made by the first connection');
    } finally {
      hold.restore();
      await front.close();
      await slow.stop();
    }
  });

  test('a missing file is reported with exit status 2', async () => {
    const r = await reguser([`127.0.0.1:${yak.port}`, '--file', path.join(dir, 'absent.txt')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read .*absent\.txt: ENOENT/);
  });

  test('a value on the command line in bytes that are not UTF-8 (U+FFFD by then) is a usage error; a real U+FFFD in a UTF-8 list is registered', async () => {
    const r = await reguser([`127.0.0.1:${yak.port}`, '--domain', 'yak', 'username=lossy', 'password=p\uFFFDss']);
    assert.deepEqual([r.code, r.stdout], [2, '']);
    assert.match(r.stderr, /password is not UTF-8 text/);
    assert.equal(await yak.server.xdb.exists('yak', 'lossy'), false);
    const file = path.join(dir, 'replacement.txt');
    await writeFile(file, "username=caf password=pw 'name=Caf\uFFFD'\n");
    const listed = await reguser([`127.0.0.1:${yak.port}`, '--domain', 'yak', '--file', file]);
    assert.equal(listed.code, 0, listed.stdout + listed.stderr);
  });

  test('a list that is not UTF-8 (Latin-1) is refused with exit status 2, nothing registered: never passwords with U+FFFD in them', async () => {
    const file = path.join(dir, 'latin1.txt');
    await writeFile(file, Buffer.from("username=sabine password=p\xe4ss 'name=Sabine M\xfcller'\n", 'latin1'));
    const r = await reguser([`127.0.0.1:${yak.port}`, '--domain', 'yak', '--file', file]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', `reguser: ${file}: not UTF-8 text\n`]);
    assert.equal(await yak.server.xdb.exists('yak', 'sabine'), false);
  });

  test('a device as the file is refused with exit status 2, not read until memory runs out', async () => {
    const r = await reguser([`127.0.0.1:${yak.port}`, '--file', '/dev/zero']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', 'reguser: cannot read /dev/zero: a device, not a file\n']);
  });
});
