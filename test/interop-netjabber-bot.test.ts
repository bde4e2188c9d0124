// Interop with Net::Jabber::Bot (Debian libnet-jabber-bot-perl), the Perl
// framework many legacy bots were written with: test/interop/netjabber-bot.pl
// is a small echo bot written against its documented API (new with a
// message_function, Start, SendPersonalMessage, ChangeStatus, Disconnect).
// A user on Yak's own client chats with it:
//   - the bot logs in (Net::Jabber's AuthSend: zero-knowledge, as Yak's
//     bundled config offers it) and shows up: the user subscribes, the
//     framework approves and asks back by itself, and the user sees the
//     bot's presence; both rosters end at 'both';
//   - messages to the bot's full and bare JID reach it, as sent, and its
//     echoes reach the user from the bot's full JID;
//   - the framework's own jabber:iq:version answer reaches the user;
//   - a status change (ChangeStatus) reaches the user as presence;
//   - "quit": the bot says bye, disconnects, and the user sees it go.
// The script's comments say what it works around in the installed
// Net::XMPP and Net::Jabber::Bot.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { captureLog, logLine, type CapturedLog } from './helpers/log-capture.js';
import { interopScript, requirePerlModule } from './helpers/netjabber.js';
import { registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, login, NS_ROSTER, plain, receiveAll, spoolRecords, type Client } from './helpers/session.js';

const SCRIPT = interopScript('netjabber-bot.pl');
const PASSWORD = 'Calli0pe';

/** The bot script as a running process, its stdout read line by line. */
class Bot {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private partial = '';
  private waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.child = spawn('perl', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.stderr += `\n${err.message}`;
        resolve(null);
      });
      this.child.once('close', (code) => {
        for (const w of this.waiters.splice(0)) w();
        resolve(code);
      });
    });
  }

  get transcript(): string {
    return `bot stdout:\n${this.lines.join('\n')}\n${this.partial}\nbot stderr:\n${this.stderr}`;
  }

  /** Waits for the line `text` (the bot's start-up alone takes about 5 s: the framework waits for the server twice). */
  async line(text: string, timeout = 20_000): Promise<void> {
    const end = Date.now() + timeout;
    while (!this.lines.includes(text)) {
      assert.ok(this.child.exitCode === null && this.child.signalCode === null, `the bot exited before printing ${JSON.stringify(text)}\n${this.transcript}`);
      const left = end - Date.now();
      assert.ok(left > 0, `no line ${JSON.stringify(text)} from the bot within ${timeout} ms\n${this.transcript}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Kills the script by its PID if it still runs. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('a Net::Jabber::Bot bot chats through Yak', { timeout: 60_000 }, () => {
  let yak: TestYak;
  let log: CapturedLog;
  let bot: Bot | undefined;
  let user: Client | undefined;

  before(async () => {
    log = captureLog();
    yak = await startYak({ log: log.log, tweak: plain });
  });
  after(async () => {
    bot?.kill();
    await closeAll(user);
    await yak?.stop();
  });

  test('the bot logs in, shows up with its presence, echoes what it is sent, changes its status and quits', async () => {
    await requirePerlModule('Net::Jabber::Bot', 'libnet-jabber-bot-perl');
    await registerUser(yak, 'nbbot', PASSWORD);
    await registerUser(yak, 'nbuser', PASSWORD);
    user = await login(yak, 'nbuser', 'Desk', PASSWORD);
    await user.presence();
    await user.roster();

    bot = new Bot([String(yak.port), yak.host, 'nbbot', PASSWORD, 'bot']);
    await bot.line('ready');
    const ok = await logLine(log, (l) => l.msg === 'login ok' && l.user === 'nbbot');
    assert.deepEqual({ method: ok.method, address: ok.address }, { method: '0k', address: '127.0.0.1' }, JSON.stringify(ok));

    // It shows up: the framework approves a subscription and asks back by itself.
    user.send("<presence type='subscribe' to='nbbot@localhost'/>");
    await receiveAll(user, [
      "<presence type='subscribed' from='nbbot@localhost' to='nbuser@localhost'/>",
      // The bot's kept presence, stamped as 1.4 kept it.
      "<presence from='nbbot@localhost/bot' to='nbuser@localhost'><x xmlns='jabber:x:delay' from='nbbot@localhost/bot' stamp='*'/></presence>",
      "<presence type='subscribe' from='nbbot@localhost' to='nbuser@localhost'/>",
    ]);
    user.send("<presence type='subscribed' to='nbbot@localhost'/>");
    await user.sync();
    await user.clear();
    assertXml(await user.roster(), `<query xmlns='${NS_ROSTER}'><item jid='nbbot@localhost' subscription='both'/></query>`);

    // Chat: to the full JID, markup and non-ASCII in the body; then to the bare JID.
    const body = 'Hello <bot> & "friends", café ✓';
    const escaped = 'Hello &lt;bot&gt; &amp; &quot;friends&quot;, café ✓';
    user.send(`<message to='nbbot@localhost/bot' type='chat'><body>${escaped}</body></message>`);
    const echo = await user.next((e) => e.name === 'message', 10_000);
    assertXml(echo, "<message type='chat' to='nbuser@localhost/Desk' from='nbbot@localhost/bot'><body>*</body></message>");
    assert.equal(echo.getChild('body')!.text(), `echo: ${body}`);
    await bot.line(`got nbuser@localhost/Desk: ${body}`);

    user.send("<message to='nbbot@localhost' type='chat'><body>to the bare JID</body></message>");
    assertXml(
      await user.next((e) => e.name === 'message', 10_000),
      "<message type='chat' to='nbuser@localhost/Desk' from='nbbot@localhost/bot'><body>echo: to the bare JID</body></message>",
    );

    // The framework answers jabber:iq:version itself, but with a new iq
    // (VersionSend) that does not carry the request's id: its quirk, so the
    // answer is awaited by sender rather than by id.
    user.send("<iq type='get' id='nbv1' to='nbbot@localhost/bot'><query xmlns='jabber:iq:version'/></iq>");
    const version = await user.next((e) => e.name === 'iq' && e.attrs.from === 'nbbot@localhost/bot', 10_000);
    assert.equal(version.attrs.type, 'result', version.toString());
    assert.ok(version.attrs.id === undefined || version.attrs.id === 'nbv1', version.toString());
    const query = version.getChild('query', 'jabber:iq:version')!;
    assert.equal(query.getChild('name')?.text(), 'Net::Jabber::Bot', version.toString());
    assert.match(query.getChild('version')?.text() ?? '', /^2\.\d+\.\d+/, version.toString());

    // ChangeStatus reaches the subscriber as presence.
    user.send("<message to='nbbot@localhost' type='chat'><body>status busy with tests</body></message>");
    await receiveAll(user, [
      "<presence from='nbbot@localhost/bot' to='nbuser@localhost'><show>away</show><status>busy with tests</status></presence>",
      "<message type='chat' to='nbuser@localhost/Desk' from='nbbot@localhost/bot'><body>status set</body></message>",
    ]);

    // quit: a last answer, then the bot is gone.
    user.send("<message to='nbbot@localhost' type='chat'><body>quit</body></message>");
    await receiveAll(user, [
      "<message type='chat' to='nbuser@localhost/Desk' from='nbbot@localhost/bot'><body>bye</body></message>",
      "<presence type='unavailable' from='nbbot@localhost/bot' to='nbuser@localhost'><status>Disconnected</status></presence>",
    ]);
    assert.equal(await bot.exited, 0, bot.transcript);
    assert.deepEqual(
      bot.lines,
      [
        'ready',
        `got nbuser@localhost/Desk: ${body}`,
        'got nbuser@localhost/Desk: to the bare JID',
        'got nbuser@localhost/Desk: status busy with tests',
        'got nbuser@localhost/Desk: quit',
        'disconnected',
      ],
      bot.transcript,
    );
    assert.equal(bot.stderr, '', bot.transcript);
    await logLine(log, (l) => l.msg === 'session ended' && l.jid === 'nbbot@localhost/bot');
    await user.nothing(() => true, [], 'more than the bot said');

    // What the server kept of the bot: the subscription both ways.
    assertXml(
      (await spoolRecords(yak, 'nbbot'))!.get(NS_ROSTER)!,
      `<query xmlns='${NS_ROSTER}'><item jid='nbuser@localhost' subscription='both'/></query>`,
    );
    assert.deepEqual(log.lines.filter((l) => l.msg === 'login failed'), []);
  });
});
