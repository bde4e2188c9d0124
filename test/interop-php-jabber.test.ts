// Interop with Class.Jabber.PHP (Debian libphp-jabber), the PHP client
// class of the jabberd 1.4 era, a library we did not write (DESIGN.md,
// "Tests we like"). test/interop/php_jabber_client.php drives the
// library's own methods step by step: in-band registration
// (AccountRegistration) of a new and of a taken name, SendAuth with a
// wrong and the right password (the library picks zero-knowledge, digest
// or plain from what the auth get offers, so three servers offer three
// sets), the subscription handshake with our own client through the
// library's default presence handlers and RosterUpdate, presence, chat
// both ways, vCards (GetvCard), in-session registration
// (TransportRegistrationDetails / TransportRegistration, which changes the
// password) and CruiseControl's jabber:iq:time keep-alive.
//
// The library is PHP 4 code, used unpatched; the script's header says what
// it does to run it on PHP 8 (two no-op stand-ins for removed
// magic-quotes functions, calling the PHP 4 style constructor, not reading
// an empty roster) and that it connects straight to 127.0.0.1.
//
// The library waits a fixed time for each answer (2 s after the stream
// header, 1 s after each iq), so the four scripts run at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { captureLog, logLine, type CapturedLog } from './helpers/log-capture.js';
import { authIq, BUNDLED_CONFIG, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, login, plain, spoolRecords, type Client } from './helpers/session.js';

const SCRIPT = fileURLToPath(new URL('../../test/interop/php_jabber_client.php', import.meta.url));
const LIBRARY = '/usr/share/php/libphp-jabber/class.jabber.php';
const INSTALL_HINT =
  'Class.Jabber.PHP is not installed: install libphp-jabber and php-cli (apt-get install libphp-jabber php-cli), as .ci/run does';
const PASSWORD = 'Calli0pe';

/** A running PHP script whose stdout lines can be awaited as they come. */
class PhpRun {
  stdout = '';
  stderr = '';
  private readonly done: Promise<number | null>;
  private wake: () => void = () => undefined;

  constructor(args: string[], timeout = 30_000) {
    const child = spawn('php', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.wake();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    const timer = setTimeout(() => {
      this.stderr += `\n(killed: still running after ${timeout} ms)`;
      child.kill('SIGKILL');
    }, timeout);
    this.done = new Promise((resolve) => {
      child.once('error', (err) => {
        clearTimeout(timer);
        this.stderr += `\n${err.message}`;
        resolve(null);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
        this.wake();
      });
    });
  }

  /** The whole lines printed so far. */
  get lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  exit(): Promise<number | null> {
    return this.done;
  }

  /**
   * Waits until the script has printed these lines, in this order (others
   * may come between); fails if it exits first. Returns the lines found.
   */
  async printed(expected: (string | RegExp)[], where: () => string = () => this.transcript()): Promise<string[]> {
    let exited = false;
    void this.done.then(() => (exited = true));
    const found: string[] = [];
    let from = 0;
    for (const e of expected) {
      for (;;) {
        const at = this.lines.findIndex((l, i) => i >= from && (typeof e === 'string' ? l === e : e.test(l)));
        if (at >= 0) {
          found.push(this.lines[at]!);
          from = at + 1;
          break;
        }
        if (exited) assert.fail(`the PHP script ended without printing ${e} (after its line ${from})\n${where()}`);
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 200);
        });
      }
    }
    return found;
  }

  transcript(): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
  }
}

/** Fails (never skips) when php or the library is missing: this test is part of the suite. */
async function requirePhpJabber(): Promise<void> {
  const probe = new PhpRun([]);
  const code = await probe.exit();
  // Without arguments the script only checks that the library is there, then prints its usage (exit 2).
  assert.equal(code, 2, `${INSTALL_HINT}\n${probe.transcript()}`);
  assert.ok(readFileSync(LIBRARY, 'utf8').includes('class Jabber'), `${INSTALL_HINT}: ${LIBRARY} is not Class.Jabber.PHP`);
}

/** The bundled config with these auth modules commented out, as an admin would. */
function configWithout(...modules: string[]): string {
  let text = readFileSync(BUNDLED_CONFIG, 'utf8');
  for (const m of modules) {
    const line = `<${m}>./jsm/jsm.so</${m}>`;
    assert.ok(text.includes(line), `the bundled config no longer loads ${m} as ${line}`);
    text = text.replace(line, `<!-- ${line} -->`);
  }
  return text;
}

/** The resource SendAuth() makes up when none is set: "Class.Jabber.PHP " and an md5 (a space in a resource is fine). */
const RESOURCE = 'Class\\.Jabber\\.PHP [0-9a-f]{32}';


/** The auth reply type for a login by our own client with a plain password. */
async function authReply(yak: TestYak, user: string, password: string): Promise<string | undefined> {
  const c = await yak.connect();
  try {
    return (await c.request(authIq(user, 'Check', { password }))).attrs.type;
  } finally {
    c.socket.destroy();
  }
}

describe('Class.Jabber.PHP (libphp-jabber) against Yak', { timeout: 60_000 }, () => {
  interface Server {
    yak: TestYak;
    log: CapturedLog;
  }
  const servers: Server[] = [];
  const clients: Client[] = [];
  let bundled: Server;
  let digestOnly: Server;
  let plainOnly: Server;
  let pal: Client;
  let main: PhpRun;
  let side: PhpRun;
  let digestRun: PhpRun;
  let plainRun: PhpRun;

  async function server(configText?: string): Promise<Server> {
    const log = captureLog();
    const yak = await startYak({ log: log.log, tweak: plain, ...(configText ? { configText } : {}) });
    servers.push({ yak, log });
    return servers.at(-1)!;
  }

  const php = (s: Server, user: string, ...steps: string[]): PhpRun =>
    new PhpRun([String(s.yak.port), s.yak.host, user, PASSWORD, ...steps]);

  const transcript = (s: Server, run: PhpRun): string =>
    `${run.transcript()}\nserver log:\n${s.log.lines.map((l) => JSON.stringify(l)).join('\n')}`;

  /** Waits until the script has printed these lines in this order; the transcript says where it stopped. */
  const printed = (s: Server, run: PhpRun, expected: (string | RegExp)[]): Promise<string[]> =>
    run.printed(expected, () => transcript(s, run));

  // The library sleeps 2 s after the stream header and 1 s after every
  // iq it sends, whatever the server does: a run takes 8-13 s. So all four
  // runs start here, at once, and each test below checks its own.
  before(async () => {
    await requirePhpJabber();
    bundled = await server();
    digestOnly = await server(configWithout('mod_auth_0k'));
    plainOnly = await server(configWithout('mod_auth_0k', 'mod_auth_digest'));

    // Our own client, online, with a vCard; and a name that is taken.
    await registerUser(bundled.yak, 'yakpal', PASSWORD);
    pal = await login(bundled.yak, 'yakpal', 'Desk', PASSWORD);
    clients.push(pal);
    const vc = await pal.request(
      "<iq type='set'><vCard xmlns='vcard-temp'><FN>Yak Pal</FN><EMAIL><USERID>pal@example.org</USERID></EMAIL></vCard></iq>",
    );
    assert.equal(vc.attrs.type, 'result', vc.toString());
    await pal.presence();
    await registerUser(bundled.yak, 'phptaken', PASSWORD);

    main = php(bundled, 'phpuser',
      'register', 'auth', 'presence:Writing PHP:chat:5', 'subscribe:yakpal@localhost',
      'message:yakpal@localhost:php_1:th_1:Hello Yak, from PHP', 'await-message',
      'vcard:yakpal@localhost', 'vcard:localhost', 'keepalive');
    side = php(bundled, 'phptaken',
      'register', `auth-wrong:not-${PASSWORD}`, 'auth',
      'regfields:localhost', `regchange:localhost:password=N3w-${PASSWORD},name=PHP Renamed`);
    digestRun = php(digestOnly, 'phpdigest', 'register', `auth-wrong:not-${PASSWORD}`, 'auth');
    plainRun = php(plainOnly, 'phpplain', 'register', `auth-wrong:not-${PASSWORD}`, 'auth');
  });

  after(async () => {
    await closeAll(...clients);
    for (const s of servers) await s.yak.stop();
  });

  test('registers in-band, logs in with zero-knowledge, subscribes, chats both ways, reads vCards', async () => {
    const s = bundled;
    const [, , loggedIn] = await printed(s, main, [
      /^connected to localhost, stream id [0-9A-F]{8}$/,
      // 2: a result without <registered/>, the library's "new account".
      'AccountRegistration(phpuser) returned 2',
      new RegExp(`^logged in as phpuser@localhost/${RESOURCE} using 0k$`),
      'presence sent',
    ]);
    const full = loggedIn!.replace(/^logged in as /, '').replace(/ using 0k$/, '');

    // Subscribe(): our client gets the request and approves it, and asks
    // back; the library's own Handler_presence_subscribe approves that.
    await printed(s, main, ['subscription request sent to yakpal@localhost']);
    assertXml(await pal.next((e) => e.name === 'presence'), "<presence to='yakpal@localhost' type='subscribe' from='phpuser@localhost'/>");
    pal.send("<presence type='subscribed' to='phpuser@localhost'/>");
    pal.send("<presence type='subscribe' to='phpuser@localhost'/>");
    assertXml(await pal.next((e) => e.name === 'presence'), "<presence to='yakpal@localhost' type='subscribed' from='phpuser@localhost'/>");
    // Then the PHP session's presence, as SendPresence() wrote it (its
    // line breaks and tabs between the children are passed on as sent).
    const presence = await pal.next((e) => e.name === 'presence');
    assertXml(presence, `<presence from='${full}' to='yakpal@localhost'>*<status>Writing PHP</status><show>chat</show><priority>5</priority><x xmlns='jabber:x:delay' from='${full}' stamp='*'/></presence>`);
    assert.equal(presence.text(), '\n\t\n\t\n\t\n');
    await printed(s, main, ['roster: yakpal@localhost subscription both, 1 item(s)']);

    // Chat both ways: to the PHP user's bare JID (its session has priority 5) and back.
    pal.send("<message to='phpuser@localhost' type='chat' id='pal_1'><body>Hello PHP, from Yak</body></message>");
    await printed(s, main, ['message sent to yakpal@localhost']);
    const msg = await pal.next((e) => e.name === 'message');
    assertXml(msg, `<message to='yakpal@localhost' type='chat' id='php_1' from='${full}'>*<thread>th_1</thread><body>Hello Yak, from PHP</body></message>`);
    assert.equal(msg.text(), '\n\n\n');

    assert.equal(await main.exit(), 0, `the PHP script must succeed\n${transcript(s, main)}`);
    await printed(s, main, [
      'got chat from yakpal@localhost/Desk: Hello PHP, from Yak',
      'vCard of yakpal@localhost: FN Yak Pal, EMAIL pal@example.org',
      'vCard of localhost: FN Yak Jabber Server, EMAIL ',
      // CruiseControl()'s jabber:iq:time ping, answered by mod_time.
      'keep-alive answered: result from localhost',
      'disconnected',
      'OK',
    ]);
    assertXml(await pal.next((e) => e.name === 'presence'), `<presence type='unavailable' from='${full}' to='yakpal@localhost'><status>Disconnected</status></presence>`);
    await pal.nothing(() => true, [], 'nothing else from the PHP session');

    // What the server kept.
    const ok = await logLine(s.log, (l) => l.msg === 'login ok' && l.user === 'phpuser');
    assert.equal(ok.method, '0k', JSON.stringify(ok));
    const records = await spoolRecords(s.yak, 'phpuser');
    assert.ok(records, `no spool file for phpuser\n${transcript(s, main)}`);
    const reg = records.get('jabber:iq:register')!;
    assert.equal(reg.getChildText('email'), 'phpuser@example.org', reg.toString());
    assert.equal(reg.getChildText('name'), 'PHP Jabber', reg.toString());
    assert.deepEqual([reg.getChild('username'), reg.getChild('password')], [undefined, undefined], reg.toString());
    assertXml(records.get('jabber:iq:roster')!, "<query xmlns='jabber:iq:roster'><item jid='yakpal@localhost' subscription='both'/></query>");
    assertXml(await pal.roster(), "<query xmlns='jabber:iq:roster'><item jid='phpuser@localhost' subscription='both'/></query>");
  });

  test('reports a taken name and a wrong password its own way; changes the password in-session', async () => {
    const s = bundled;
    assert.equal(await side.exit(), 0, `the PHP script must succeed\n${transcript(s, side)}`);
    await printed(s, side, [
      // The library maps 409 (and a result with <registered/>) to 1, "already registered".
      'AccountRegistration(phptaken) returned 1',
      // SendAuth() only says FALSE; the script names the method it tried.
      'login as phptaken with a wrong password (0k): refused',
      new RegExp(`^logged in as phptaken@localhost/${RESOURCE} using 0k$`),
      // TransportRegistrationDetails() lists the fields of the in-session form but instructions and key.
      'register fields at localhost: password name email registered',
      // 2: a result without <registered/>.
      'TransportRegistration(localhost) returned 2',
      'OK',
    ]);
    assert.equal(
      s.log.lines.filter((l) => l.msg === 'registered' && l.user === 'phptaken').length,
      1,
      'only the test registered phptaken; the 409 stored nothing',
    );
    const failed = await logLine(s.log, (l) => l.msg === 'login failed' && l.user === 'phptaken');
    assert.deepEqual({ level: failed.level, method: failed.method }, { level: 40, method: '0k' });
    await logLine(s.log, (l) => l.msg === 'password changed' && l.user === 'phptaken');

    // The new password works at once, the old one no longer.
    assert.equal(await authReply(s.yak, 'phptaken', `N3w-${PASSWORD}`), 'result');
    assert.equal(await authReply(s.yak, 'phptaken', PASSWORD), 'error');
    const reg = (await spoolRecords(s.yak, 'phptaken'))!.get('jabber:iq:register')!;
    assert.equal(reg.getChildText('name'), 'PHP Renamed', reg.toString());
    assert.equal(reg.getChild('password'), undefined, `the password is never kept in the registration record: ${reg.toString()}`);
  });

  for (const [method, run, s, user] of [
    ['digest', () => digestRun, () => digestOnly, 'phpdigest'],
    ['plain', () => plainRun, () => plainOnly, 'phpplain'],
  ] as const) {
    test(`logs in with ${method} when that is the best the server offers`, async () => {
      assert.equal(await run().exit(), 0, `the PHP script must succeed\n${transcript(s(), run())}`);
      await printed(s(), run(), [
        `AccountRegistration(${user}) returned 2`,
        `login as ${user} with a wrong password (${method}): refused`,
        new RegExp(`^logged in as ${user}@localhost/${RESOURCE} using ${method}$`),
        'OK',
      ]);
      const failed = await logLine(s().log, (l) => l.msg === 'login failed' && l.user === user);
      assert.equal(failed.method, method, JSON.stringify(failed));
      const ok = await logLine(s().log, (l) => l.msg === 'login ok' && l.user === user);
      assert.equal(ok.method, method, JSON.stringify(ok));
    });
  }
});
