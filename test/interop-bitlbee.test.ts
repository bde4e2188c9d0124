// Interop with BitlBee (Debian bitlbee 3.6), the IRC-to-IM gateway many
// people ran against jabberd 1.4 servers, which we did not write (DESIGN.md,
// "Tests we like"). The test speaks IRC to it: NICK/USER, then commands in
// the &bitlbee control channel, and asserts on what root says there, on
// the contact's nick (JOIN, QUIT, PRIVMSG), on the stanzas BitlBee's own
// XML console shows, on what our client receives and on what Yak stored.
//
// Covered: an account made by our client (BitlBee cannot register
// in-band) is refused with a wrong password, then logs in. Yak's
// version='1.0' features offer iq-auth and no SASL, so BitlBee asks
// jabber:iq:auth for the methods and sends a digest (3.6 has no `sasl`
// setting: it takes iq-auth when no mechanisms are offered). A contact
// (our client) subscribes: BitlBee shows the request, `yes` accepts it,
// a second `yes` adds the contact back, and both rosters end at 'both'.
// The contact joins &bitlbee when available and quits when it goes;
// chat goes both ways; messages stored while BitlBee was off come at its
// next login with their jabber:x:delay stamps.
//
// How it runs, and BitlBee's quirks:
// - Inetd mode (-I) reads and writes IRC on fd 0, which inetd makes a
//   socket: a pipe on stdin does not work (its writes fail with EBADF).
//   Its stdin and stdout are one end of a Unix socket connection whose
//   other end the test holds (the listening socket file is closed and
//   removed as soon as that one connection is made).
// - It reads a config file of ours (-c) and keeps user settings in a
//   folder of ours (-d), both in a temp folder. It still reads
//   /etc/bitlbee/bitlbee.conf first (only reads it); ours overrides it.
// - It connects only to ports 5220-5229, 80 and 443 ("Illegal port
//   number" for any other), so it cannot be pointed at Yak's ephemeral
//   port. As for iksroster, it runs in a network namespace of its own
//   (`unshare -rn`) whose 127.0.0.1:5222 test/interop/port5222-relay.mjs
//   relays to a Unix socket that the test forwards to Yak. The account's
//   server is set to 127.0.0.1, so no SRV or other DNS lookup is made
//   (strace -f -e trace=network showed one connect() by bitlbee, to
//   127.0.0.1:5222 in its namespace, and no resolver files opened).
// - root writes the yes/no of its questions in bold: formatting codes are
//   taken out of every line received.
// - After the first `yes` it asks twice whether to add the contact back
//   (its own doing: it does so with no roster push from the server too);
//   one `yes` answers, the other question stays pending, harmless.
// - It asks the server for disco#info; Yak, like 1.4, answers 503, and
//   BitlBee carries on.
// - It shows the time of an incoming message only when the message is
//   more than a minute old. So the test ages one stored offline message
//   in Yak's store (to 2002) before the login that delivers it: that one
//   comes with its time, the fresh one without.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CapturedLog } from './helpers/log-capture.js';
import { interopSuite } from './helpers/interop-suite.js';
import { interopScript } from './helpers/netjabber.js';
import { runProgram } from './helpers/run-tool.js';
import { registerUser } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { parseXml } from '../src/xml/parse.js';
import { NS_ROSTER, onlineUser, sessionEnded, spoolRecords, STAMP } from './helpers/session.js';
import { NS_OFFLINE } from '../src/xdb/xdb.js';

const RELAY = interopScript('port5222-relay.mjs');
const INSTALL_HINT = 'bitlbee is not installed: install it (apt-get install bitlbee), as .ci/run does';
const NETNS_HINT =
  'bitlbee needs a network namespace of its own (it connects only to ports 5220-5229, 80 and 443): ' +
  'this test runs it under `unshare -rn` (util-linux) and brings lo up with `ip` (iproute2, apt-get install iproute2), as .ci/run does';

/** IRC's bold, colour (with its numbers), reverse, italic, underline and reset codes. */
const IRC_FORMATTING = /\x03(\d{1,2}(,\d{1,2})?)?|[\x02\x0f\x16\x1d\x1f]/g;

/**
 * One BitlBee in inetd mode, its IRC connection on a socket pair of ours.
 * It reads and writes IRC on its fd 0 (a socket: inetd hands it the
 * accepted connection), so stdin and stdout are one Unix socket of which
 * the test holds the other end. Every line both ways is kept, in order,
 * for failure messages; `expect` waits for lines in the order they came.
 */
class BitlBee {
  /** Every IRC line received, \r\n and formatting codes taken off. */
  readonly lines: string[] = [];
  /** Both directions, in order: ">> " sent, "<< " received. */
  readonly transcriptLines: string[] = [];
  stderr = '';
  /** Index in `lines` after the last line `expect` matched. */
  private cursor = 0;
  private partial = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly irc: net.Socket,
    private readonly log: CapturedLog,
    readonly nick: string,
  ) {
    irc.setEncoding('utf8').on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      for (const p of parts) {
        // Formatting codes (root writes the yes/no of its questions in bold) taken out.
        const line = p.replace(/\r$/, '').replace(IRC_FORMATTING, '');
        this.lines.push(line);
        this.transcriptLines.push(`<< ${line}`);
      }
      for (const w of this.waiters) w();
    });
    irc.on('error', () => undefined); // it went away: its exit tells
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise<number | null>((resolve) => {
      child.once('error', (err) => {
        this.stderr += `\n${err.message}`;
        resolve(null);
      });
      child.once('close', (code) => resolve(code));
    }).then((code) => {
      for (const w of this.waiters) w();
      return code;
    });
  }

  /**
   * Starts BitlBee in a network namespace of its own whose 127.0.0.1:5222
   * leads to `bridgeSocket` (test/interop/port5222-relay.mjs), with the
   * config file and folder under `dir`, and logs on to it as `nick`.
   */
  static async start(dir: string, bridgeSocket: string, log: CapturedLog, nick = 'tester'): Promise<BitlBee> {
    const configDir = path.join(dir, 'config');
    const configFile = path.join(dir, 'bitlbee.conf');
    await writeFile(
      configFile,
      [
        '[settings]',
        'RunMode = Inetd',
        'AuthMode = Open',
        `ConfigDir = ${configDir}`,
        'MotdFile = /dev/null',
        // Nobody but this test on the other end: no PINGs to answer.
        'PingInterval = 0',
        'PingTimeOut = 0',
        'HostName = localhost',
        '',
      ].join('\n'),
    );
    // A socket pair: a Unix socket file, connected once, then closed (which removes the file).
    const socketPath = path.join(dir, 'irc.sock');
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const irc = net.connect(socketPath);
    const inner = await accepted;
    server.close(); // no more connections (its callback waits for this one to end)
    const child = spawn(
      'unshare',
      ['-rn', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, RELAY, bridgeSocket, 'bitlbee', '-I', '-c', configFile, '-d', configDir],
      { stdio: [inner, inner, 'pipe'] },
    );
    inner.destroy(); // the child has its own copy
    const bee = new BitlBee(child, irc, log, nick);
    bee.send(`NICK ${nick}`);
    bee.send(`USER ${nick} 0 * :Yak interop test`);
    await bee.expect(new RegExp(`^:\\S+ 001 ${nick} `), 'the IRC welcome');
    await bee.expect(new RegExp(`^:${nick}!\\S+ JOIN :&bitlbee$`), 'its join to &bitlbee');
    return bee;
  }

  send(line: string): void {
    this.transcriptLines.push(`>> ${line}`);
    this.irc.write(`${line}\r\n`);
  }

  /** A command in the control channel. */
  command(text: string): void {
    this.send(`PRIVMSG &bitlbee :${text}`);
  }

  transcript(): string {
    const server = this.log.lines.map((l) => JSON.stringify(l)).join('\n');
    return `bitlbee IRC:\n${this.transcriptLines.join('\n')}\nbitlbee stderr:\n${this.stderr}\nserver log:\n${server}`;
  }

  /**
   * The next line from the cursor on that matches `re` (earlier lines are
   * passed over, and stay in the transcript); the cursor moves past it.
   * Fails with the transcript after `timeout` ms or when BitlBee ends.
   */
  async expect(re: RegExp, what: string, timeout = 10_000): Promise<RegExpExecArray> {
    let ended = false;
    void this.exited.then(() => (ended = true));
    const deadline = Date.now() + timeout;
    for (;;) {
      for (let i = this.cursor; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i]!);
        if (m) {
          this.cursor = i + 1;
          return m;
        }
      }
      if (ended) assert.fail(`bitlbee ended before ${what} (${re})\n${this.transcript()}`);
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no ${what} (${re}) from bitlbee within ${timeout} ms\n${this.transcript()}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Every line received since `from` (an index in `lines`) that matches `re`. */
  since(from: number, re: RegExp): string[] {
    return this.lines.slice(from).filter((l) => re.test(l));
  }

  /** Ends it: QUIT, then SIGTERM to its process (the relay passes it on), SIGKILL if still there after 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (!this.irc.destroyed) this.send('QUIT :done');
      const pid = this.child.pid;
      const gone = await Promise.race([this.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 2_000))]);
      if (!gone && pid !== undefined) {
        process.kill(pid, 'SIGTERM');
        const termed = await Promise.race([this.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5_000))]);
        if (!termed) process.kill(pid, 'SIGKILL');
      }
    }
    this.irc.destroy();
    await this.exited;
  }
}

/** Fails (never skips) when bitlbee, or the namespace it runs in, is missing: this test is part of the suite. */
async function requireBitlBee(): Promise<void> {
  // -V prints the version and exits 1.
  const version = await runProgram('bitlbee', ['-V']);
  assert.ok(version.code !== null && /^BitlBee 3\./m.test(version.stdout), `${INSTALL_HINT}\nexit ${version.code}\n${version.stdout}${version.stderr}`);
  const ns = await runProgram('unshare', ['-rn', 'sh', '-c', 'ip link set lo up']);
  assert.equal(ns.code, 0, `${NETNS_HINT}\nexit ${ns.code}\n${ns.stderr}`);
}

/** `text` as a literal in a RegExp. */
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const USER = 'bbalice';
const PEER = 'bbpeer';
const PASSWORD = 'Calli0pe';
/** What root says in &bitlbee about the account: "jabber - TEXT". */
const ROOT_JABBER = /^:root!root@localhost PRIVMSG &bitlbee :jabber - (.*)$/;
/** A stanza in its XML console: direction and the XML. */
const CONSOLE = /^:_xmlconsole!_xmlconsole@\S+ PRIVMSG tester :(TX|RX): (.*)$/;
/** A 1.4 era stamp for the aged offline message (the last test). */
const OLD_STAMP = '20020315T12:00:00';

describe('BitlBee logs in, takes a subscription, shows presence and chats', { timeout: 90_000 }, () => {
  let bee: BitlBee | undefined;
  let dir: string | undefined;
  let bridge: net.Server | undefined;
  // Registered before the suite's own hooks, so that BitlBee stops before the server does.
  after(async () => {
    await bee?.stop();
    await new Promise((resolve) => (bridge ? bridge.close(resolve) : resolve(undefined)));
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const suite = interopSuite();
  let bridgeSocket: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'yak-bitlbee-'));
    // The far end of the relay: every connection to the socket goes on to Yak.
    bridgeSocket = path.join(dir, 'yak.sock');
    bridge = net.createServer((c) => {
      const up = net.connect(suite.yak.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => bridge!.listen(bridgeSocket, resolve));
  });

  /** What root said about the account from line `from` on. */
  const rootSays = (from: number): string[] => bee!.since(from, ROOT_JABBER).map((l) => ROOT_JABBER.exec(l)![1]!);
  /** The stanzas its XML console showed from line `from` on, in one direction. */
  const consoleXml = (from: number, dir: 'TX' | 'RX'): string[] =>
    bee!
      .since(from, CONSOLE)
      .map((l) => CONSOLE.exec(l)!)
      .filter((m) => m[1] === dir)
      .map((m) => m[2]!);
  const logins = (from: number): string[] =>
    suite.log.lines
      .slice(from)
      .filter((l) => l.user === USER && (l.msg === 'login ok' || l.msg === 'login failed'))
      .map((l) => `${String(l.msg)} ${String(l.method)}`);

  test('a wrong password is refused, then it logs in with a jabber:iq:auth digest', async () => {
    await requireBitlBee();
    const { yak, log } = suite;
    // BitlBee cannot register in-band: the account is made by our own client.
    await registerUser(yak, USER, PASSWORD);
    dir = dir!;
    bee = await BitlBee.start(dir, bridgeSocket, log);
    bee.command(`account add jabber ${USER}@${yak.host} wrong-${PASSWORD}`);
    await bee.expect(/:Account successfully added with tag jabber$/, 'the account added');
    // The server by address (no SRV lookup), on the relay's port; no
    // STARTTLS (Yak's 5222 offers none); its XML console on, for the
    // transcript and for what it sent.
    for (const [key, value] of [
      ['server', '127.0.0.1'],
      ['port', '5222'],
      ['tls', 'false'],
      ['xmlconsole', 'true'],
    ]) {
      bee.command(`account jabber set ${key} ${value}`);
      await bee.expect(new RegExp(`:${key} = \`${value}'$`), `the ${key} setting`);
    }

    let from = bee.lines.length;
    let logFrom = log.lines.length;
    bee.command('account jabber on');
    await bee.expect(/:jabber - Logging in: Signing off\.\.$/, 'the sign-off after the refusal');
    assert.deepEqual(
      rootSays(from),
      ['Logging in: Connecting', 'Logging in: Connected to server, logging in', 'Login error: Authentication failure', 'Logging in: Signing off..'],
      bee.transcript(),
    );
    // Yak offered iq-auth and no SASL, so it asked for the methods and sent a digest.
    const [header, get, set] = consoleXml(from, 'TX');
    assert.match(header ?? '', /^<\?xml version='1.0' \?><stream:stream to="localhost" xmlns="jabber:client" .*version="1.0">$/, bee.transcript());
    assertXml(get!, `<iq type='get' id='*'><query xmlns='jabber:iq:auth'><username>${USER}</username></query></iq>`);
    assertXml(set!, `<iq type='set' id='*'><query xmlns='jabber:iq:auth'><username>${USER}</username><resource>BitlBee</resource><digest>*</digest></query></iq>`);
    assertXml(
      consoleXml(from, 'RX').at(-1)!,
      `<iq type='error' id='${parseXml(set!).attrs.id}'><query xmlns='jabber:iq:auth'><username>${USER}</username><resource>BitlBee</resource><digest>*</digest></query><error code='401' type='auth'>Unauthorized</error></iq>`,
    );
    assert.deepEqual(logins(logFrom), ['login failed digest'], bee.transcript());

    from = bee.lines.length;
    logFrom = log.lines.length;
    bee.command(`account jabber set password ${PASSWORD}`);
    bee.command('account jabber on');
    await bee.expect(/:jabber - Logging in: Logged in$/, 'its login');
    assert.deepEqual(
      rootSays(from),
      ['Logging in: Connecting', 'Logging in: Connected to server, logging in', 'Logging in: Authenticated, requesting buddy list', 'Logging in: Logged in'],
      bee.transcript(),
    );
    assert.deepEqual(logins(logFrom), ['login ok digest'], bee.transcript());
  });

  test('a contact asks: BitlBee shows the request, accepts it, asks back, and both rosters say both', async () => {
    assert.ok(bee, 'needs the login of the first test');
    const { yak } = suite;
    const alice = `${USER}@${yak.host}`;
    const peer = await onlineUser(yak, PEER);
    suite.clients.push(peer);
    const from = bee.lines.length;

    peer.send(`<presence type='subscribe' to='${alice}'/>`);
    const asked = `The user ${peer.bare} wants to add you to his/her buddy list.`;
    await bee.expect(new RegExp(`:jabber - New request: ${escape(asked)}$`), 'the authorization request');
    await bee.expect(/:You can use the yes\/no commands to accept\/reject this request\.$/, 'how to answer it');
    bee.command('yes');
    await bee.expect(new RegExp(`:jabber - Accepted: ${escape(asked)}$`), 'the request accepted');
    assertXml(await peer.next((e) => e.name === 'presence', 10_000), `<presence type='subscribed' to='${peer.bare}' from='${alice}'/>`);
    // Now subscribed to BitlBee's user, the contact gets its presence at
    // once, as from 1.4: as kept, stamped with the time it was sent.
    assertXml(
      await peer.next((e) => e.name === 'presence', 10_000),
      `<presence from='${alice}/BitlBee' to='${peer.bare}'><priority>0</priority><c xmlns='http://jabber.org/protocol/caps' node='http://bitlbee.org/xmpp/caps' ver='*'/>` +
        `<x xmlns='jabber:x:delay' from='${alice}/BitlBee' stamp='*'/></presence>`,
    );
    // BitlBee asks whether to add the contact back, twice (its own doing:
    // it does so with the server's roster pushes taken out too).
    const addBack = `The user ${peer.bare} is not in your buddy list yet. Do you want to add him/her now?`;
    await bee.expect(new RegExp(`:jabber - New request: ${escape(addBack)}$`), 'the question whether to add it back');
    await bee.expect(new RegExp(`:jabber - New request: ${escape(addBack)}$`), 'the same question again');
    bee.command('yes');
    await bee.expect(new RegExp(`:jabber - Accepted: ${escape(addBack)}$`), 'the question answered');
    assertXml(await peer.next((e) => e.name === 'presence', 10_000), `<presence type='subscribe' to='${peer.bare}' from='${alice}'/>`);
    peer.send(`<presence type='subscribed' to='${alice}'/>`);
    await bee.expect(new RegExp(`:jabber - ${escape(peer.bare)} just accepted your authorization request$`), 'the approval');

    assert.deepEqual(
      rootSays(from),
      [
        `New request: ${asked}`,
        `Accepted: ${asked}`,
        `New request: ${addBack}`,
        `New request: ${addBack}`,
        `Accepted: ${addBack}`,
        `${peer.bare} just accepted your authorization request`,
      ],
      bee.transcript(),
    );
    // What BitlBee sent for the two yeses: the approval, then a roster item and a request of its own.
    const sent = consoleXml(from, 'TX');
    assert.equal(sent.length, 3, bee.transcript());
    assertXml(sent[0]!, `<presence to='${peer.bare}' type='subscribed'/>`);
    assertXml(sent[1]!, `<iq type='set' id='*'><query xmlns='${NS_ROSTER}'><item jid='${peer.bare}'/></query></iq>`);
    assertXml(sent[2]!, `<presence to='${peer.bare}' type='subscribe'/>`);
    // The roster pushes it got, one per change (no id, as from 1.4).
    const pushes = consoleXml(from, 'RX').filter((x) => x.startsWith('<iq type="set"'));
    const expectedPushes = ["subscription='from'", "subscription='from'", "subscription='from' ask='subscribe'", "subscription='both'"];
    assert.equal(pushes.length, expectedPushes.length, bee.transcript());
    expectedPushes.forEach((attrs, i) =>
      assertXml(pushes[i]!, `<iq type='set' id='*' to='${alice}/BitlBee'><query xmlns='${NS_ROSTER}'><item jid='${peer.bare}' ${attrs}/></query></iq>`),
    );

    // Both ways, as the server keeps it.
    await peer.sync();
    assertXml((await spoolRecords(yak, USER))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'><item jid='${peer.bare}' subscription='both'/></query>`);
    assertXml((await spoolRecords(yak, PEER))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`);
  });

  test("presence: the contact joins &bitlbee when available, quits when it goes, and BitlBee's presence reaches it", async () => {
    assert.ok(bee, 'needs the login of the first test');
    const peer = suite.clients.find((c) => c.user === PEER);
    assert.ok(peer, 'needs the contact of the second test');
    // The approval above brought the contact's presence (it was available): it has joined.
    await bee.expect(new RegExp(`^:${PEER}!${PEER}@${suite.yak.host} JOIN :&bitlbee$`), 'the contact joining &bitlbee');
    await peer.clear();

    let from = bee.lines.length;
    await peer.presence("<presence type='unavailable'/>");
    await bee.expect(new RegExp(`^:${PEER}!${PEER}@${suite.yak.host} QUIT :Leaving\\.\\.\\.$`), 'the contact quitting');
    assert.deepEqual(bee.since(from, new RegExp(`^:${PEER}!`)), [`:${PEER}!${PEER}@${suite.yak.host} QUIT :Leaving...`], bee.transcript());

    from = bee.lines.length;
    await peer.presence("<presence><status>Back</status></presence>");
    await bee.expect(new RegExp(`^:${PEER}!${PEER}@${suite.yak.host} JOIN :&bitlbee$`), 'the contact joining again');
    assertXml(consoleXml(from, 'RX').at(-1)!, `<presence from='${peer.full}' to='${USER}@${suite.yak.host}'><status>Back</status></presence>`);
    // The server answers the contact's probe with BitlBee's presence, as it was sent, stamped as 1.4 kept it.
    assertXml(
      await peer.next((e) => e.name === 'presence', 10_000),
      `<presence from='${USER}@${suite.yak.host}/BitlBee' to='${peer.full}'><priority>0</priority><c xmlns='http://jabber.org/protocol/caps' node='http://bitlbee.org/xmpp/caps' ver='*'/>` +
        `<x xmlns='jabber:x:delay' from='${USER}@${suite.yak.host}/BitlBee' stamp='*'/></presence>`,
    );
    await peer.nothing((e) => e.name === 'presence');
  });

  test('chat both ways: a message becomes a PRIVMSG from the contact, a PRIVMSG to its nick a chat message', async () => {
    assert.ok(bee, 'needs the login of the first test');
    const { yak } = suite;
    const peer = suite.clients.find((c) => c.user === PEER);
    assert.ok(peer, 'needs the contact of the second test');
    const from = bee.lines.length;
    peer.send(`<message type='chat' to='${USER}@${yak.host}'><body>Hello BitlBee, from Yak</body></message>`);
    await bee.expect(new RegExp(`^:${PEER}!`), 'the message as a PRIVMSG');
    assert.deepEqual(bee.since(from, new RegExp(`^:${PEER}!`)), [`:${PEER}!${PEER}@${yak.host} PRIVMSG ${bee.nick} :Hello BitlBee, from Yak`], bee.transcript());

    bee.send(`PRIVMSG ${PEER} :Hello Yak, from IRC`);
    // To the resource it heard from last (its resource_select setting is 'activity').
    assertXml(
      await peer.next((e) => e.name === 'message', 10_000),
      `<message type='chat' to='${peer.full}' from='${USER}@${yak.host}/BitlBee'><body>Hello Yak, from IRC</body></message>`,
    );
  });

  test('offline messages: stored while it was off, delivered at its next login with their stamps; an old one shown with its time', async () => {
    assert.ok(bee, 'needs the login of the first test');
    const { yak } = suite;
    const alice = `${USER}@${yak.host}`;
    const peer = suite.clients.find((c) => c.user === PEER);
    assert.ok(peer, 'needs the contact of the second test');
    // Stamps in UTC, as the server writes them.
    bee.command('set timezone utc');
    await bee.expect(/:timezone = `utc'$/, 'the timezone setting');

    let from = bee.lines.length;
    const gone = sessionEnded(yak, `${alice}/BitlBee`);
    bee.command('account jabber off');
    await bee.expect(/:jabber - Signing off\.\.$/, 'its sign-off');
    await gone;
    assert.deepEqual(rootSays(from), ['Signing off..'], bee.transcript());
    assertXml(await peer.next((e) => e.name === 'presence', 10_000), `<presence type='unavailable' from='${alice}/BitlBee' to='${peer.bare}'/>`);

    peer.send(`<message type='chat' to='${alice}'><body>Sent long ago</body></message>`);
    peer.send(`<message type='chat' to='${alice}'><body>While you were out</body></message>`);
    await peer.sync();
    const stored = (await spoolRecords(yak, USER))!.get(NS_OFFLINE);
    const offline = (body: string, stamp: string): string =>
      `<message type='chat' to='${alice}' from='${peer.full}'><body>${body}</body><x xmlns='jabber:x:delay' from='${alice}' stamp='${stamp}'>Offline Storage</x></message>`;
    assertXml(stored!, `<foo xmlns='${NS_OFFLINE}'>${offline('Sent long ago', '*')}${offline('While you were out', '*')}</foo>`);
    for (const m of stored!.getChildren('message')) assert.match(m.getChild('x', 'jabber:x:delay')!.attrs.stamp!, STAMP);
    // BitlBee shows the time only of a message more than a minute old
    // (irc_format_timestamp), and this test does not wait that long: the
    // first message is aged in the store, as if it had waited since 2002.
    await yak.server.xdb.update(yak.host, USER, NS_OFFLINE, (box) => {
      box!.getChildren('message')[0]!.getChild('x', 'jabber:x:delay')!.attrs.stamp = OLD_STAMP;
      return box;
    });

    from = bee.lines.length;
    bee.command('account jabber on');
    await bee.expect(/:jabber - Logging in: Logged in$/, 'its login');
    await bee.expect(new RegExp(`^:${PEER}!\\S+ PRIVMSG ${bee.nick} :While you were out$`), 'the second offline message');
    assert.deepEqual(
      bee.since(from, new RegExp(`^:${PEER}!`)),
      [
        `:${PEER}!${PEER}@${yak.host} JOIN :&bitlbee`,
        `:${PEER}!${PEER}@${yak.host} PRIVMSG ${bee.nick} :[2002-03-15 12:00:00] Sent long ago`,
        `:${PEER}!${PEER}@${yak.host} PRIVMSG ${bee.nick} :While you were out`,
      ],
      bee.transcript(),
    );
    // On the wire, as its console showed them: with their stamps, addressed as they were sent.
    const received = consoleXml(from, 'RX').filter((x) => x.startsWith('<message'));
    assert.equal(received.length, 2, bee.transcript());
    assertXml(received[0]!, offline('Sent long ago', OLD_STAMP));
    assertXml(received[1]!, offline('While you were out', '*'));
    // Delivered, so no longer stored.
    assert.equal((await spoolRecords(yak, USER))!.get(NS_OFFLINE), undefined);
  });
});
