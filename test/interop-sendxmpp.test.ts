// Interop with sendxmpp (Debian sendxmpp), the Perl command that scripts
// and cron jobs use to send a message, and that people point at whatever
// Jabber server they have. It logs in with Net::XMPP's AuthSend: Yak's
// features offer jabber:iq:auth and no SASL mechanisms, so Net::XMPP falls
// back to jabber:iq:auth and picks the method from what the get offers
// (zero-knowledge with the bundled config; the `login ok` line says which).
//
// sendxmpp runs as a real child process against an in-process server: to
// an online receiver, to an offline one (stored, delivered with
// jabber:x:delay at the next login; account in a ~/.sendxmpprc-style file,
// as cron jobs use it), with a wrong password, over direct TLS, and with
// the stream addressed to the IP rather than the Jabber host.
//
// Every run connects to 127.0.0.1 only: `-j 127.0.0.1:PORT` is the TCP
// host, `-o localhost` (sendxmpp's "component") the `to` of the stream
// header; without it the header says to='127.0.0.1', a host Yak does not
// serve (the last test).
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { captureLog, logLine, type CapturedLog } from './helpers/log-capture.js';
import { runProgram, type ToolRun } from './helpers/run-tool.js';
import { registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { makeTestKey } from './helpers/tls-key.js';
import { closeAll, login, noWelcome, spoolRecords, STAMP, type Client } from './helpers/session.js';

const INSTALL_HINT = 'sendxmpp is not installed: install sendxmpp (apt-get install sendxmpp), as .ci/run does';
const PASSWORD = 'Calli0pe';
const NS_OFFLINE = 'jabber:x:offline';

let home: string;

/**
 * Runs sendxmpp with `input` on stdin. HOME is a temp folder, so no
 * ~/.sendxmpprc of whoever runs the suite takes part. Killed after `timeout`.
 */
function sendxmpp(args: string[], input: string, timeout = 15_000): Promise<ToolRun> {
  return runProgram('sendxmpp', args, { input, timeout, env: { ...process.env, HOME: home } });
}

/** Fails (never skips) when sendxmpp is missing: this test is part of the suite. */
async function requireSendxmpp(): Promise<void> {
  // Without a recipient sendxmpp prints its version and usage, and exits 0.
  const probe = await sendxmpp(['--help'], '');
  assert.ok(probe.code === 0 && /sendxmpp version/.test(probe.stderr), `${INSTALL_HINT}\n${probe.stderr}`);
}



describe('sendxmpp sends messages through Yak', { timeout: 60_000 }, () => {
  let yak: TestYak;
  let log: CapturedLog;
  let caCert: string;
  const clients: Client[] = [];

  before(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'yak-sendxmpp-'));
    const { pem, cert } = makeTestKey(home);
    caCert = cert;
    log = captureLog();
    // No welcome message, so a receiver's first login finds only what sendxmpp left.
    yak = await startYak({
      log: log.log,
      tweak: (c) => {
        noWelcome(c);
        c.c2s.ssl = [{ port: 0, address: '127.0.0.1' }];
        c.tlsKeys = new Map([['127.0.0.1', pem]]);
      },
    });
  });
  after(async () => {
    await closeAll(...clients);
    await yak?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /** sendxmpp's options for an account on the test server, over plain TCP. */
  const account = (user: string, password = PASSWORD): string[] => [
    '-j', `127.0.0.1:${yak.port}`, '-o', yak.host, '-u', user, '-p', password,
  ];

  const transcript = (run: ToolRun): string =>
    `sendxmpp exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\nserver log:\n${log.lines.map((l) => JSON.stringify(l)).join('\n')}`;

  /** A registered receiver, logged in with available presence. */
  async function onlineReceiver(user: string): Promise<Client> {
    await registerUser(yak, user, PASSWORD);
    const c = await login(yak, user, 'Desk', PASSWORD);
    clients.push(c);
    await c.presence();
    return c;
  }

  test('to an online receiver: delivered with the sender\'s full JID, type, subject and body as sent', async () => {
    await requireSendxmpp();
    await registerUser(yak, 'sxsender', PASSWORD);
    const rcv = await onlineReceiver('sxreader');
    // What `echo ... | sendxmpp` sends: the trailing newline is part of the body.
    const body = 'Backup of db1 <nightly> & "weekly": done — 12 GB ✓\n';
    const run = await sendxmpp([...account('sxsender'), '-r', 'cron', '-s', 'Nightly backup', 'sxreader@localhost'], body);
    assert.equal(run.code, 0, `sendxmpp must succeed\n${transcript(run)}`);
    assert.equal(run.stderr, '', transcript(run));

    const msg = await rcv.next((e) => e.name === 'message');
    assertXml(
      msg,
      `<message to='sxreader@localhost' type='chat' from='sxsender@localhost/cron'><body>*</body><subject>Nightly backup</subject></message>`,
    );
    assert.equal(msg.getChild('body')!.text(), body);
    await rcv.nothing(() => true, [], 'sendxmpp sends one message');

    const ok = await logLine(log, (l) => l.msg === 'login ok' && l.user === 'sxsender');
    assert.deepEqual(
      { user: ok.user, host: ok.host, address: ok.address, method: ok.method },
      { user: 'sxsender', host: 'localhost', address: '127.0.0.1', method: '0k' },
      'Net::XMPP picks zero-knowledge when the bundled config offers it',
    );
    // sendxmpp ends its stream itself (</stream:stream>), and the session with it.
    await logLine(log, (l) => l.msg === 'session ended' && l.jid === 'sxsender@localhost/cron');
    assert.deepEqual(log.lines.filter((l) => l.msg === 'login failed'), [], transcript(run));
  });

  test('to an offline receiver, account in a config file: stored, then delivered with jabber:x:delay', async () => {
    await requireSendxmpp();
    await registerUser(yak, 'sxcron', PASSWORD);
    await registerUser(yak, 'sxaway', PASSWORD);
    // The ~/.sendxmpprc format of sendxmpp 1.24; it insists on mode 600.
    const rc = path.join(home, 'sxcron.rc');
    await writeFile(rc, `username: sxcron\njserver: 127.0.0.1\nport: ${yak.port}\npassword: ${PASSWORD}\ncomponent: ${yak.host}\n`);
    await chmod(rc, 0o600);
    const body = 'disk /var at 93%\n';
    const run = await sendxmpp(['-f', rc, '-s', 'df', 'sxaway@localhost'], body);
    assert.equal(run.code, 0, `sendxmpp must succeed\n${transcript(run)}`);
    // The session has ended, so its message has been handled.
    await logLine(log, (l) => l.msg === 'session ended' && l.jid === 'sxcron@localhost/sendxmpp');

    const box = (await spoolRecords(yak, 'sxaway'))?.get(NS_OFFLINE);
    assert.ok(box, `no offline record for sxaway\n${transcript(run)}`);
    assert.equal(box.getChildren('message').length, 1, box.toString());
    assertXml(
      box.getChildren('message')[0]!,
      `<message to='sxaway@localhost' type='chat' from='sxcron@localhost/sendxmpp'><body>*</body><subject>df</subject>` +
        `<x xmlns='jabber:x:delay' from='sxaway@localhost' stamp='*'>Offline Storage</x></message>`,
    );

    const rcv = await login(yak, 'sxaway', 'Laptop', PASSWORD);
    clients.push(rcv);
    rcv.send('<presence/>');
    const msg = await rcv.next((e) => e.name === 'message');
    assertXml(
      msg,
      `<message to='sxaway@localhost' type='chat' from='sxcron@localhost/sendxmpp'><body>*</body><subject>df</subject>` +
        `<x xmlns='jabber:x:delay' from='sxaway@localhost' stamp='*'>Offline Storage</x></message>`,
    );
    assert.equal(msg.getChild('body')!.text(), body);
    assert.match(msg.getChild('x', 'jabber:x:delay')!.attrs.stamp!, STAMP);
    await rcv.nothing(() => true, [], 'one stored message');
    assert.equal((await spoolRecords(yak, 'sxaway'))?.get(NS_OFFLINE), undefined, 'delivered messages leave the spool');
  });

  test('with a wrong password: sendxmpp exits 1 on the 401, Yak logs the failed login, nothing is sent', async () => {
    await requireSendxmpp();
    await registerUser(yak, 'sxwrong', PASSWORD);
    const rcv = await onlineReceiver('sxwaits');
    const run = await sendxmpp([...account('sxwrong', 'not-' + PASSWORD), 'sxwaits@localhost'], 'must not arrive\n');
    assert.equal(run.code, 1, `sendxmpp must fail\n${transcript(run)}`);
    assert.match(run.stderr, /^Error 'AuthSend': 401: Unauthorized/m, transcript(run));

    const failed = await logLine(log, (l) => l.msg === 'login failed' && l.user === 'sxwrong');
    assert.deepEqual(
      { level: failed.level, host: failed.host, address: failed.address, method: failed.method },
      { level: 40, host: 'localhost', address: '127.0.0.1', method: '0k' },
    );
    assert.equal(log.lines.filter((l) => l.msg === 'login ok' && l.user === 'sxwrong').length, 0);
    await rcv.nothing(() => true, [], 'a sender that failed to log in');
  });

  test('over direct TLS (-e) to the <ssl> listener, verifying the certificate (-a)', async () => {
    await requireSendxmpp();
    await registerUser(yak, 'sxtls', PASSWORD);
    const rcv = await onlineReceiver('sxtlsreader');
    const tlsPort = yak.server.tlsPorts[0]!;
    const body = 'sent inside the tunnel\n';
    const run = await sendxmpp(
      ['-e', '-a', caCert, '-j', `127.0.0.1:${tlsPort}`, '-o', yak.host, '-u', 'sxtls', '-p', PASSWORD, 'sxtlsreader@localhost'],
      body,
    );
    assert.equal(run.code, 0, `sendxmpp must succeed\n${transcript(run)}`);
    const msg = await rcv.next((e) => e.name === 'message');
    assertXml(msg, `<message to='sxtlsreader@localhost' type='chat' from='sxtls@localhost/sendxmpp'><body>*</body><subject/></message>`);
    assert.equal(msg.getChild('body')!.text(), body);
    await logLine(log, (l) => l.msg === 'login ok' && l.user === 'sxtls' && l.method === '0k');
  });

  test('with the stream addressed to the IP (no -o): host-unknown, sendxmpp exits 1', async () => {
    await requireSendxmpp();
    const before = log.lines.length;
    const run = await sendxmpp(['-j', `127.0.0.1:${yak.port}`, '-u', 'sxsender', '-p', PASSWORD, 'sxreader@localhost'], 'x\n');
    assert.equal(run.code, 1, `sendxmpp must fail\n${transcript(run)}`);
    assert.match(run.stderr, new RegExp(`^Could not connect to '127\\.0\\.0\\.1' on port ${yak.port}`, 'm'), transcript(run));
    const err = await logLine(log, (l) => l.msg === 'stream error' && log.lines.indexOf(l) >= before);
    assert.equal(err.error, 'host-unknown', JSON.stringify(err));
  });
});
