// The protections of SPEC sections 2, 5 and 7 seen from outside: karma,
// connection limits, failed-login slowing, registration policy, the send
// buffer bound and a full disk. Loopback only, bounded in time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClientStream } from '../src/client/client-stream.js';
import { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { Journal } from '../src/xdb/journal.js';
import { silentLogger } from '../src/log.js';
import type { YakConfig } from '../src/config/types.js';
import { authIq, BUNDLED_CONFIG, loginUser, registerIq, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { runTool, toolPath } from './helpers/run-tool.js';
import { captureLog, logLine } from './helpers/log-capture.js';
import { tcpEnd } from './helpers/proc-net-tcp.js';
import { holdCalls } from './helpers/latch.js';
import { noKarma, onlineUser } from './helpers/session.js';
import { bundledConfigText, startDaemon } from './helpers/daemon.js';

function timeIq(id: string): Element {
  return new Element('iq', { type: 'get', id, to: 'localhost' }, [new Element('query', { xmlns: 'jabber:iq:time' })]);
}

function errorCode(reply: Element): string | undefined {
  return reply.getChild('error')?.attrs.code;
}

describe('karma', () => {
  let yak: TestYak;
  const captured = captureLog('info');
  before(async () => {
    // The 1.4 values: 1,000 bytes per 2-second heartbeat.
    yak = await startYak({ log: captured.log, tweak: (c) => (c.c2s.karma = { init: 10, max: 10, inc: 1, dec: 1, penalty: -6, restore: 10 }) });
    await registerUser(yak, 'flood', 'pw');
    await registerUser(yak, 'calm', 'pw');
  });
  after(() => yak.stop());

  test('a flooding client is slowed to its budget while another logs in normally', async () => {
    const flooder = await loginUser(yak, 'flood', 'pw');
    let answered = 0;
    flooder.on('stanza', (e: Element) => {
      if (e.name === 'iq' && e.attrs.id?.startsWith('f')) answered++;
    });
    // About 40 KB at once: forty heartbeats' worth of budget.
    for (let i = 0; i < 400; i += 50) {
      flooder.sendRaw(Array.from({ length: 50 }, (_, j) => timeIq(`f${i + j}`).toString()).join(''));
    }
    const calm = await yak.connect();
    const login = await calm.request(authIq('calm', 'desk', { password: 'pw' }));
    assert.equal(login.attrs.type, 'result');
    const time = await calm.request(timeIq('c1'));
    assert.equal(time.attrs.type, 'result');
    assert.ok(answered < 400, `the flood was not slowed: ${answered} of 400 answered before a fresh login finished`);
    assert.equal(flooder.closed, false, 'karma pauses reading; it does not drop the connection');
    // Said once, so that an operator can tell a held-back client from a hung server.
    await logLine(captured, (l) => l.msg === 'karma: reading paused' && l.user === 'flood@localhost/Work');
    assert.equal(captured.lines.filter((l) => l.msg === 'karma: reading paused').length, 1);
  });
});

describe('karma and the idle timeout', () => {
  test('a client karma holds back is not idle: its request is answered, the stream stays', async () => {
    const yak = await startYak({
      tweak: (c) => {
        // 1.4's budget (about 5.5 KB at once), with a shorter penalty: three heartbeats, 6 s.
        c.c2s.karma = { init: 10, max: 10, inc: 1, dec: 1, penalty: -3, restore: 10 };
        c.c2s.limits.idleSeconds = 3;
      },
    });
    try {
      await registerUser(yak, 'slowpoke', 'pw');
      const c = await loginUser(yak, 'slowpoke', 'pw');
      // 6 KB: past the budget, so reading pauses for 6 s, longer than the idle timeout.
      const card = new Element('iq', { type: 'set', id: 'vc' }, [new Element('vCard', { xmlns: 'vcard-temp' }, [new Element('DESC', {}, ['d'.repeat(6000)])])]);
      const reply = await c.request(card, 30_000);
      assert.equal(reply.attrs.type, 'result', reply.toString());
      assert.equal(c.closed, false);
    } finally {
      await yak.stop();
    }
  });
});

/** Makes each spool update of `user` take `ms` longer (a server kept busy by a slow disk); returns the undo. */
function slowUpdatesOf(yak: TestYak, user: string, ms: number, done: () => void = () => undefined): () => void {
  const xdb = yak.server.xdb as Xdb;
  const update = xdb.update.bind(xdb);
  xdb.update = (async (host: string, u: string, ns: string, fn: never) => {
    if (u !== user) return update(host, u, ns, fn);
    await new Promise((r) => setTimeout(r, ms));
    try {
      return await update(host, u, ns, fn);
    } finally {
      done();
    }
  }) as typeof xdb.update;
  return () => (xdb.update = update);
}

/** How many of `user`'s stored offline messages have an id starting with `prefix`. */
async function storedOffline(yak: TestYak, user: string, prefix: string): Promise<number> {
  const box = await yak.server.xdb.get('localhost', user, 'jabber:x:offline');
  return box?.getChildren('message').filter((m) => m.attrs.id?.startsWith(prefix)).length ?? 0;
}

describe('the idle timeout and a busy server', () => {
  test('a client whose stanzas are still being handled is not idle: none of them is lost', async () => {
    // No karma: what holds the client back here is the server's own work.
    const yak = await startYak({
      tweak: (c) => {
        c.c2s.karma = undefined;
        c.c2s.limits.idleSeconds = 1;
      },
    });
    let restore = (): void => undefined;
    try {
      await registerUser(yak, 'away', 'pw');
      await registerUser(yak, 'chatty', 'pw');
      const c = await loginUser(yak, 'chatty', 'pw');
      c.keepRaw = true;
      // Each store for 'away' takes 20 ms: 200 of them keep the server busy
      // for 4 s, with nothing sent back and reading paused at 64 in hand.
      restore = slowUpdatesOf(yak, 'away', 20);
      const N = 200;
      c.socket.write(Array.from({ length: N }, (_, i) => `<message to='away@localhost' id='m${i}'><body>${i}</body></message>`).join(''));
      let stored = 0;
      for (let waited = 0; waited < 20_000 && stored < N && !c.closed; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
        // (The welcome message the bundled config sends at registration is not one of them.)
        stored = await storedOffline(yak, 'away', 'm');
      }
      assert.equal(stored, N, `stored ${stored} of ${N} before the stream ${c.closed ? 'was closed' : 'gave up'}: ${c.received.slice(-300)}`);
    } finally {
      restore();
      await yak.stop();
    }
  });
});

describe('the idle timeout and a request the server is still working on', () => {
  test('a session waiting longer than <idle> for the answer to its request is not idle: the answer comes, the stream stays', { timeout: 30_000 }, async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.c2s.karma = undefined;
        c.c2s.limits.idleSeconds = 1;
      },
    });
    const xdb = yak.server.xdb as Xdb;
    // The spool read of the answer waits (a slow disk) for twice the idle time.
    const hold = holdCalls(xdb, 'get', (_host, user, ns) => user === 'patient' && ns === 'vcard-temp');
    try {
      await registerUser(yak, 'patient', 'pw');
      const c = await loginUser(yak, 'patient', 'pw');
      const reply = c.request(new Element('iq', { type: 'get', id: 'slow' }, [new Element('vCard', { xmlns: 'vcard-temp' })]), 20_000);
      // (Rejected if the stream is closed: reported by the checks below.)
      reply.catch(() => undefined);
      await hold.reached;
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(c.closed, false, 'closed as idle while its request was in hand');
      hold.release();
      assert.equal((await reply).attrs.type, 'result');
      assert.equal(c.closed, false);
    } finally {
      hold.release();
      hold.restore();
      await yak.stop();
    }
  });
});

describe('connection limits', () => {
  test('<rate points time> refuses the extra connection with a policy-violation stream error', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.rate = { points: 2, time: 60 }) });
    try {
      await yak.connect();
      await yak.connect();
      const refused = await ClientStream.connect({ port: yak.port, domain: 'localhost' });
      const err = await refused.next((e) => e.name === 'stream:error');
      assert.equal(err.text(), 'Too Many Connections');
      assert.ok(err.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-streams'));
      await refused.whenClosed();
    } finally {
      await yak.stop();
    }
  });

  test('refused connections that never read nor close are closed long before an ended stream\'s 5 s grace', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.limits.connectionsTotal = 1) });
    const flood: net.Socket[] = [];
    try {
      await yak.connect();
      // Each refused peer never reads and never closes; it only writes a
      // keepalive now and then, which a closed socket answers with a reset:
      // that is how the peer sees the close.
      const closedAfter = (s: net.Socket): Promise<number> =>
        new Promise((resolve, reject) => {
          const t0 = Date.now();
          const keepalive = setInterval(() => s.write(' '), 100);
          const timer = setTimeout(() => reject(new Error('still open after 4 s')), 4000);
          s.on('error', () => s.destroy());
          s.once('close', () => {
            clearInterval(keepalive);
            clearTimeout(timer);
            resolve(Date.now() - t0);
          });
        });
      const waits = [];
      for (let i = 0; i < 10; i++) {
        const s = net.connect({ port: yak.port, host: '127.0.0.1', allowHalfOpen: true });
        s.pause();
        flood.push(s);
        await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
        waits.push(closedAfter(s));
      }
      await Promise.all(waits);
    } finally {
      for (const s of flood) s.destroy();
      await yak.stop();
    }
  });

  test('an IPv6 client is counted under its /64 (on ::1, which needs an IPv6 loopback); the log shows its own address', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({
      log,
      tweak: (c) => {
        c.c2s.listen = [{ port: 0, address: '::1' }];
        c.c2s.limits.connectionsPerAddress = 2;
      },
    }).catch((err: NodeJS.ErrnoException) => assert.fail(`cannot listen on ::1 (no IPv6 loopback on this machine?): ${err.message}`));
    const clients: ClientStream[] = [];
    const connect = async (): Promise<ClientStream> => {
      const c = await ClientStream.connect({ host: '::1', port: yak.port, domain: 'localhost' });
      clients.push(c);
      return c;
    };
    try {
      await connect();
      await connect();
      assert.equal(yak.server.openConnections('::1'), 2);
      assert.equal(yak.server.openConnections('::2'), 2, 'another address of the same /64 has the same count');
      const refused = await connect();
      assert.equal((await refused.next((e) => e.name === 'stream:error')).text(), 'Too Many Connections');
      const refusal = lines.find((l) => l.msg === 'connection refused');
      assert.deepEqual([refusal?.address, refusal?.limit], ['::1', 'per-address']);
    } finally {
      for (const c of clients) c.socket.destroy();
      await yak.stop();
    }
  });

  test('connections per address are capped; a closed one frees its place', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.limits.connectionsPerAddress = 2) });
    try {
      const a = await yak.connect();
      await yak.connect();
      const refused = await ClientStream.connect({ port: yak.port, domain: 'localhost' });
      await refused.next((e) => e.name === 'stream:error');
      await a.close();
      const again = await yak.connect();
      assert.equal(again.closed, false);
    } finally {
      await yak.stop();
    }
  });
});

describe('log lines a client can cause', () => {
  test('connections that never log in are logged up to a share per address, then summed up; a session is logged whatever its address did', async () => {
    const captured = captureLog('info');
    const yak = await startYak({ log: captured.log });
    await registerUser(yak, 'loglined', 'pw');
    const from = (address: string): Record<string, unknown>[] => captured.lines.filter((l) => l.address === address);
    try {
      // 127.0.0.2: loopback, but not the address local tools use (that one is not counted).
      for (let i = 0; i < 40; i++) (await yak.connect({ localAddress: '127.0.0.2' })).socket.destroy();
      const session = await yak.connect({ localAddress: '127.0.0.2' });
      assert.equal((await session.request(authIq('loglined', 'r', { password: 'pw' }))).attrs.type, 'result');
      const change = "<iq type='set' id='pw'><query xmlns='jabber:iq:register'><password>pw2</password></query></iq>";
      assert.equal((await session.request(parseXml(change))).attrs.type, 'result');
      await session.close();
      const closed = await logLine(captured, (l) => l.msg === 'connection closed' && l.user === 'loglined@localhost/r');
      // A login and a password change say where they came from; the login, on which stream.
      const login = await logLine(captured, (l) => l.msg === 'login ok' && l.user === 'loglined');
      assert.deepEqual([login.address, login.stream], ['127.0.0.2', closed.stream]);
      assert.equal((await logLine(captured, (l) => l.msg === 'password changed')).address, '127.0.0.2');
      assert.equal(from('127.0.0.2').filter((l) => l.msg === 'connection closed' && l.user === undefined).length, 20);
    } finally {
      await yak.stop();
    }
    // The stop ends the window: how many were left out is said.
    const summary = from('127.0.0.2').find((l) => l.msg === 'connection log lines left out');
    assert.equal(summary?.leftOut, 20, JSON.stringify(summary));
  });

  test('bad XML is logged at once, even when the client resets the connection before its stream is closed', async () => {
    const captured = captureLog('info');
    const yak = await startYak({ log: captured.log, tweak: noKarma });
    try {
      const a = await onlineUser(yak, 'badxmlreset');
      // A request in hand: the stream's close for the bad XML waits behind it.
      const held = holdCalls(yak.server.jsm.xdb, 'set', (_host, user) => user === 'badxmlreset');
      a.send("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>x</FN></vCard></iq>");
      await held.reached;
      a.stream.socket.write('<message><body></message>');
      await logLine(captured, (l) => l.msg === 'stream error' && String(l.reason).startsWith('bad xml:'));
      a.stream.socket.resetAndDestroy();
      held.release();
      held.restore();
      await logLine(captured, (l) => l.msg === 'connection closed' && l.user === 'badxmlreset@localhost/Work');
      assert.equal(captured.lines.filter((l) => l.msg === 'stream error').length, 1);
    } finally {
      await yak.stop();
    }
  });

  test('bytes that are not UTF-8 after a stream has ended (for bad XML, or cleanly) log no second stream error', async () => {
    const captured = captureLog('info');
    const yak = await startYak({ log: captured.log });
    try {
      for (const ending of ['<message><body></message>', '</stream:stream>']) {
        // Half-open allowed: after the server's end, the client may still send.
        const socket = net.connect({ host: '127.0.0.1', port: yak.port, allowHalfOpen: true });
        let got = '';
        socket.on('data', (d: Buffer) => (got += d.toString('utf8')));
        socket.on('error', () => undefined);
        socket.write(`<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>${ending}`);
        await once(socket, 'end');
        assert.match(got, /<\/stream:stream>$/);
        socket.write(Buffer.from([0xff]));
        const id = /id='([0-9A-F]+)'/.exec(got)![1];
        await logLine(captured, (l) => l.msg === 'connection closed' && l.stream === id);
        socket.destroy();
      }
      // A turn of the timers more, for a line that should not come.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const reasons = captured.lines.filter((l) => l.msg === 'stream error').map((l) => String(l.reason));
      assert.equal(reasons.length, 1, reasons.join('\n'));
      assert.match(reasons[0]!, /^bad xml: .*unexpected close tag/);
    } finally {
      await yak.stop();
    }
  });

  test('bad XML is one line, the stream error, which quotes at most 200 characters of what the parser said', async () => {
    const captured = captureLog('info');
    const yak = await startYak({ log: captured.log });
    try {
      const c = await yak.connect();
      c.socket.write(`<p:${'n'.repeat(5000)}/>`);
      await c.whenClosed();
      const line = await logLine(captured, (l) => l.msg === 'stream error');
      assert.equal(line.error, 'not-well-formed');
      assert.match(String(line.reason), /^bad xml: unbound namespace prefix 'p' in element name 'p:n+\.\.\.$/);
      assert.ok(String(line.reason).length <= 220, `${String(line.reason).length} characters`);
      assert.equal(captured.lines.filter((l) => l.msg === 'bad xml').length, 0);
    } finally {
      await yak.stop();
    }
  });
});

describe('failed logins', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
    await registerUser(yak, 'dj', 'secret');
  });
  after(() => yak.stop());

  test('30 wrong passwords are slowed with the default settings; the right one still works', async () => {
    // What the throttle's gate says of each attempt: held back ('waited') or
    // let through at once ('now'). Read from the server, not from a clock
    // in the test.
    const throttle = yak.server.jsm.throttle;
    const gate = throttle.gate;
    const outcomes: string[] = [];
    throttle.gate = async function (this: typeof throttle, ...args: Parameters<typeof gate>) {
      const outcome = await gate.apply(this, args);
      outcomes.push(outcome);
      return outcome;
    };
    try {
      const c = await yak.connect();
      for (let i = 0; i < 30; i++) {
        const reply = await c.request(authIq('dj', 'guess', { password: `wrong${i}` }, `g${i}`), 10_000);
        assert.equal(errorCode(reply), '401');
      }
      const { free, baseMs, maxMs } = yak.config.jsm.loginThrottle;
      assert.deepEqual([free, baseMs, maxMs], [3, 100, 1000], 'the defaults the README gives');
      // The free ones at once; every one after the first four slowed ones
      // waits the full second, far longer than a guess takes to come back.
      // (Those four wait 100 to 800 ms, which a very busy machine could
      // spend between a reply and the next guess.)
      assert.equal(outcomes.length, 30);
      assert.deepEqual(outcomes.slice(0, free), Array(free).fill('now'));
      assert.deepEqual(outcomes.slice(free + 4), Array(30 - free - 4).fill('waited'));
      const ok = await c.request(authIq('dj', 'right', { password: 'secret' }), 10_000);
      assert.equal(ok.attrs.type, 'result');
      assert.equal(outcomes.at(-1), 'waited', 'the right password waits its turn too');
    } finally {
      throttle.gate = gate;
    }
  });

  test('wrong passwords sent at once on many connections are slowed like ones in a row, also for a user not in memory', async () => {
    // A failure is known only once the user's file is read: with the read
    // after the failed-login gate, every guess sent at once for a user not
    // in memory (after a restart) passed it before the first had failed.
    const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-throttle-'));
    const throttled = (c: YakConfig): void => {
      c.jsm.loginThrottle = { free: 3, baseMs: 3000, maxMs: 3000, forgetMs: 60_000, exempt: [] };
    };
    const first = await startYak({ spool, tweak: throttled });
    await registerUser(first, 'victim', 'secret');
    await first.stop();
    const yak = await startYak({ spool, tweak: throttled });
    try {
      const clients = await Promise.all(Array.from({ length: 8 }, () => yak.connect()));
      const replies: string[] = [];
      clients.forEach((c, i) => {
        c.send(authIq('victim', 'r', { password: `guess${i}` }, `g${i}`));
        void c.next((e) => e.name === 'iq', 20_000).then((r) => replies.push(errorCode(r) ?? 'result'), () => undefined);
      });
      while (replies.length < 3) await new Promise((r) => setTimeout(r, 20));
      // The rest wait baseMs (3 s) and more: well after this.
      await new Promise((r) => setTimeout(r, 1000));
      // The three free ones, and at most one more: the attempts woken by
      // the one read of the file each go on by turns, and the next one's
      // gate may come just before the last one's failure is counted.
      assert.ok(replies.length <= 4, `${replies.length} of 8 guesses sent at once were answered at once`);
      assert.ok(replies.every((r) => r === '401'), replies.join(' '));
    } finally {
      await yak.stop();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('failures are counted per account: the same name on another host is neither slowed nor able to clear them', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.hosts = ['localhost', 'other.example'];
        c.jsm.loginThrottle = { free: 1, baseMs: 60_000, maxMs: 60_000, forgetMs: 600_000, exempt: [] };
      },
    });
    try {
      for (const domain of yak.config.hosts) {
        const c = await yak.connect({ domain });
        assert.equal((await c.request(registerIq('dj', `pw-${domain}`))).attrs.type, 'result');
        await c.close();
      }
      // Each from an address of its own, so that only the account's count is shared.
      const guesser = await yak.connect({ localAddress: '127.0.0.2' });
      assert.equal(errorCode(await guesser.request(authIq('dj', 'r', { password: 'guess' }))), '401');
      // The next attempt at dj@localhost waits a minute; dj@other.example is someone else.
      const other = await yak.connect({ domain: 'other.example', localAddress: '127.0.0.3' });
      assert.equal((await other.request(authIq('dj', 'r', { password: 'pw-other.example' }), 10_000)).attrs.type, 'result');
      // And its login did not clear dj@localhost's failure.
      assert.ok(yak.server.jsm.throttle.waitFor('dj@localhost', '127.0.0.4') > 50_000);
    } finally {
      await yak.stop();
    }
  });

  test('an unknown user is answered like a wrong password', async () => {
    const c = await yak.connect();
    const reply = await c.request(authIq('nobody', 'x', { password: 'pw' }), 10_000);
    assert.equal(errorCode(reply), '401');
  });
});

describe('a client that sends faster than it is answered', () => {
  test('reading pauses while 64 stanzas are in hand, so requests pile up in the client, not in the server', async () => {
    // Every attempt after the first waits 1 s: 5,000 pipelined failed logins take hours to answer.
    const yak = await startYak({
      tweak: (c) => {
        c.c2s.karma = undefined;
        c.jsm.loginThrottle = { free: 0, baseMs: 1000, maxMs: 1000, forgetMs: 60_000, exempt: [] };
      },
    });
    const sock = net.connect(yak.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
      sock.write("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
      const attempt = (i: number): string =>
        `<iq type='set' id='p${i}'><query xmlns='jabber:iq:auth'><username>nobody</username><password>guess${i}</password><resource>r</resource></query></iq>`;
      const total = 5000;
      sock.write(Array.from({ length: total }, (_, i) => attempt(i)).join(''));
      // Long enough for the server to parse all of it, were it reading on.
      await new Promise((r) => setTimeout(r, 1500));
      const [inHand] = yak.server.stanzasInHand;
      // 64, plus what one read (at most 64 KiB, about 500 of these) brought at once.
      assert.ok(inHand !== undefined && inHand >= 64 && inHand < 1000, `stanzas in hand: ${inHand} of ${total}`);
    } finally {
      sock.destroy();
      await yak.stop();
    }
  });
});

describe('a client that sends large stanzas faster than they are handled', () => {
  test('reading also pauses once the stanzas in hand weigh 4 MiB, so they cannot pile up in the server', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.karma = undefined) });
    let restore = (): void => undefined;
    try {
      await registerUser(yak, 'slowbox', 'pw');
      await registerUser(yak, 'bulky', 'pw');
      const c = await loginUser(yak, 'bulky', 'pw');
      // Each store for 'slowbox' takes half a second (stored, or refused as over the sender's share).
      let handled = 0;
      restore = slowUpdatesOf(yak, 'slowbox', 500, () => handled++);
      // 40 messages of 200,000 characters: 8 MB, far under 64 stanzas.
      const big = (i: number): string => `<message to='slowbox@localhost' id='b${i}'><body>${'x'.repeat(200_000)}</body></message>`;
      for (let i = 0; i < 40; i++) c.socket.write(big(i));
      const inHandNow = (): number => Math.max(0, ...yak.server.stanzasInHand);
      // The server reads on to 4 MiB: 20 of these weigh 4.0 MB, 21 of them 4.2.
      for (let waited = 0; inHandNow() < 20; waited += 20) {
        assert.ok(waited < 20_000, `the server read only ${inHandNow()} stanzas of 40`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // Then two are handled (a second), time enough to read the rest, were it reading on.
      for (let waited = 0; handled < 2; waited += 50) {
        assert.ok(waited < 20_000, `only ${handled} handled`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const inHand = inHandNow();
      // Past 4 MiB (the 21st) reading pauses until half is handled: read so
      // far are those handled and those in hand, far from all 40.
      assert.ok(inHand <= 22 && handled + inHand <= 26, `stanzas in hand: ${inHand}, handled: ${handled}, of 40`);
    } finally {
      restore();
      await yak.stop();
    }
  });
});

describe('registration policy', () => {
  test('a burst beyond the per-address limit is refused with a clear error', async () => {
    // Loopback is exempt by default; this server exempts nobody.
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.registerPolicy.allow = [];
        c.jsm.registerPolicy.rate = { max: 3, period: 600 };
      },
    });
    try {
      const c = await yak.connect();
      const codes: (string | undefined)[] = [];
      for (let i = 0; i < 5; i++) codes.push(errorCode(await c.request(registerIq(`burst${i}`, 'pw', {}, `b${i}`))));
      assert.deepEqual(codes, [undefined, undefined, undefined, '500', '500']);
      const refused = await c.request(registerIq('burst9', 'pw', {}, 'b9'));
      assert.equal(refused.getChild('error')?.attrs.type, 'wait');
      assert.match(refused.getChild('error')!.text(), /try again later/);
    } finally {
      await yak.stop();
    }
  });

  test('the window is measured on a clock that only moves forward: a wall clock stepped back does not stretch it', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.registerPolicy.allow = [];
        c.jsm.registerPolicy.rate = { max: 1, period: 1 };
      },
    });
    const realNow = Date.now;
    try {
      const c = await yak.connect();
      assert.equal(errorCode(await c.request(registerIq('step1', 'pw'))), undefined);
      // NTP steps the clock back an hour (a VM resumed, a boot without a clock).
      Date.now = () => realNow() - 3_600_000;
      assert.equal(errorCode(await c.request(registerIq('step2', 'pw'))), '500', 'the window still counts the first');
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(errorCode(await c.request(registerIq('step3', 'pw'))), undefined, 'a second later the address may register again');
    } finally {
      Date.now = realNow;
      await yak.stop();
    }
  });

  test('an incomplete request is refused as such (406) and takes no place in the count', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.registerPolicy.allow = [];
        c.jsm.registerPolicy.rate = { max: 2, period: 600 };
      },
    });
    try {
      const c = await yak.connect();
      // No password, no name, a name nodeprep refuses: each a 406, none counted.
      for (const [name, password] of [['half', ''], ['', 'pw'], ['a@b', 'pw'], ['half', ''], ['', 'pw']]) {
        assert.equal(errorCode(await c.request(registerIq(name, password))), '406', JSON.stringify([name, password]));
      }
      assert.equal(errorCode(await c.request(registerIq('whole1', 'pw'))), undefined);
      assert.equal(errorCode(await c.request(registerIq('whole2', 'pw'))), undefined);
      // The limit reached, an incomplete request is still told what is wrong with it.
      assert.equal(errorCode(await c.request(registerIq('half', ''))), '406');
      assert.equal(errorCode(await c.request(registerIq('whole3', 'pw'))), '500');
    } finally {
      await yak.stop();
    }
  });

  test('simultaneous requests from one address are counted as they pass, not once created', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.registerPolicy.allow = [];
        c.jsm.registerPolicy.rate = { max: 3, period: 600 };
        c.c2s.karma = undefined;
      },
    });
    try {
      // Twenty connections, one registration each, all sent before any is answered.
      const clients = await Promise.all(Array.from({ length: 20 }, () => yak.connect()));
      const replies = await Promise.all(clients.map((c, i) => c.request(registerIq(`rush${i}`, 'pw', {}, `r${i}`))));
      assert.equal(replies.filter((r) => r.attrs.type === 'result').length, 3);
      for (const c of clients) c.socket.destroy();
    } finally {
      await yak.stop();
    }
  });

  test('an IPv4 client of a listener on all addresses matches <allow> as written (not as ::ffff:a.b.c.d)', async () => {
    // A dual-stack listener reports IPv4 clients in IPv6 form; '::ffff:127.0.0.1' stays on loopback.
    const yak = await startYak({
      tweak: (c) => {
        c.c2s.listen = [{ port: 0, address: '::ffff:127.0.0.1' }];
        c.jsm.registerPolicy.allow = ['127.0.0.2'];
        c.jsm.registerPolicy.rate = { max: 1, period: 600 };
      },
    });
    try {
      const from = async (localAddress: string): Promise<Element> => {
        const c = await ClientStream.connect({ host: '127.0.0.1', port: yak.port, domain: 'localhost', localAddress });
        try {
          return await c.request(registerIq(`mapped${Math.random().toString(36).slice(2, 8)}`, 'pw'));
        } finally {
          c.socket.destroy();
        }
      };
      for (let i = 0; i < 3; i++) assert.equal((await from('127.0.0.2')).attrs.type, 'result', `allowed address, registration ${i}`);
      // Any other address is still limited, and counted under its own key.
      assert.equal((await from('127.0.0.3')).attrs.type, 'result');
      assert.equal(errorCode(await from('127.0.0.3')), '500');
    } finally {
      await yak.stop();
    }
  });

  test('registrations from one IPv6 /64 are counted together; <allow> names exact addresses', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({
      log,
      tweak: (c) => {
        c.jsm.registerPolicy.allow = ['2001:db8:1:2::a'];
        c.jsm.registerPolicy.rate = { max: 2, period: 600 };
      },
    });
    try {
      // Straight to the session manager, as a stream from each address would: loopback has one IPv6 address only.
      const from = async (address: string, user: string): Promise<Element> => {
        const iq = registerIq(user, 'pw');
        return (await yak.server.jsm.preSession.serve({ streamId: 'test', host: 'localhost', address }, iq, iq.getChild('query')!)).reply;
      };
      assert.equal((await from('2001:db8:1:2::1', 'six1')).attrs.type, 'result');
      assert.equal((await from('2001:db8:1:2::2', 'six2')).attrs.type, 'result');
      const refused = await from('2001:db8:1:2:ffff::3', 'six3');
      assert.equal(errorCode(refused), '500', refused.toString());
      assert.deepEqual(
        lines.filter((l) => l.msg === 'registration refused: rate limit').map((l) => l.address),
        ['2001:db8:1:2:ffff::3'],
      );
      assert.equal((await from('2001:db8:1:3::1', 'six4')).attrs.type, 'result', 'another /64');
      assert.equal((await from('2001:db8:1:2::a', 'six5')).attrs.type, 'result', 'the allowed address');
    } finally {
      await yak.stop();
    }
  });

  test('reserved names, the names of admin JIDs, and short passwords are refused', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.registerPolicy.reserved.push('support');
        c.jsm.registerPolicy.minPassword = 6;
        // Whoever registered these first would read who is online, or announce to everyone.
        c.jsm.admin = { read: ['ops@localhost', 'boss@localhost', 'staff@elsewhere.example'], write: ['boss@localhost'] };
      },
    });
    try {
      const c = await yak.connect();
      // Spaces around the name are trimmed before the account is made, so before the check too.
      for (const name of ['admin', 'Root', 'postmaster', 'hostmaster', 'webmaster', 'abuse', 'support', ' admin ', '\tRoot', 'ops', 'Boss']) {
        assert.equal(errorCode(await c.request(registerIq(name, 'longenough'))), '409', JSON.stringify(name));
      }
      // A request without a password is refused as such (SPEC section 3: 406), whatever the name.
      for (const name of ['webmaster', 'Admin']) assert.equal(errorCode(await c.request(registerIq(name, ''))), '406', name);
      // An admin of another host leaves the name free here.
      assert.equal(errorCode(await c.request(registerIq('staff', 'longenough'))), undefined);
      const short = await c.request(registerIq('shorty', 'abc'));
      assert.equal(errorCode(short), '406');
      assert.match(short.getChild('error')!.text(), /at least 6 characters/);
      // Characters, not UTF-16 units: five emoji are five characters.
      assert.equal(errorCode(await c.request(registerIq('shorty', '😀😀😀😀😀'))), '406');
      assert.equal(errorCode(await c.request(registerIq('shorty', 'abcdef'))), undefined);
      // A password change inside a session obeys the same rule.
      const s = await loginUser(yak, 'shorty', 'abcdef');
      const change = await s.request(
        new Element('iq', { type: 'set', to: 'localhost' }, [
          new Element('query', { xmlns: 'jabber:iq:register' }, [new Element('password', {}, ['abc'])]),
        ]),
      );
      assert.equal(errorCode(change), '406');
    } finally {
      await yak.stop();
    }
  });
});

describe('a client that reads, asking for much at once', () => {
  test('gets every large reply to requests sent together: its requests wait while its output is backed up', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.karma = undefined) });
    try {
      await registerUser(yak, 'bulk', 'pw');
      const c = await loginUser(yak, 'bulk', 'pw');
      const big = 'b'.repeat(250_000);
      const set = await c.request(
        new Element('iq', { type: 'set', id: 'put' }, [new Element('query', { xmlns: 'jabber:iq:private' }, [new Element('big', { xmlns: 'x:big' }, [big])])]),
      );
      assert.equal(set.attrs.type, 'result', set.toString());
      // Six replies of 250 KB each, 1.5 MB in all: more than the 1 MiB send buffer at once.
      const gets = Array.from({ length: 6 }, (_, i) => `<iq type='get' id='g${i}'><query xmlns='jabber:iq:private'><big xmlns='x:big'/></query></iq>`);
      c.sendRaw(gets.join(''));
      for (let i = 0; i < 6; i++) {
        const reply = await c.next((e) => e.attrs.id === `g${i}`, 10_000);
        assert.equal(reply.getChild('query')?.getChild('big')?.text().length, big.length, `g${i}`);
      }
      assert.equal(c.closed, false);
    } finally {
      await yak.stop();
    }
  });
});

describe('a client that stops reading', () => {
  test('is cut off once its send buffer is full (reset, so the kernel drops what it holds too; logged with the user and what was dropped), and the server goes on', async () => {
    const captured = captureLog();
    const yak = await startYak({
      log: captured.log,
      tweak: (c) => {
        c.c2s.limits.outputBytes = 64 * 1024;
        // The sender's 2.4 MB would take an hour under 1.4 karma.
        c.c2s.karma = undefined;
        // What reaches the reader once it is cut off goes offline: with the
        // file cap, the sender would get it back in bounces of 40 KB, more
        // than its own 64 KiB send buffer (not what this test is about).
        c.maxFileBytes = 0;
      },
    });
    try {
      await registerUser(yak, 'reader', 'pw');
      await registerUser(yak, 'sender', 'pw');
      const sender = await loginUser(yak, 'sender', 'pw');
      const message = (i: number, size: number): Element =>
        new Element('message', { to: 'reader@localhost', id: `m${i}` }, [new Element('body', {}, ['x'.repeat(size)])]);
      // 1.6 MB waits offline for the reader...
      for (let i = 0; i < 40; i++) sender.send(message(i, 40_000));
      assert.equal((await sender.request(timeIq('stored'), 30_000)).attrs.type, 'result');
      const reader = await loginUser(yak, 'reader', 'pw');
      const readerPort = reader.socket.localPort!;
      reader.socket.pause();
      reader.sendRaw('<presence/>');
      // ...and more keeps coming while it never reads, more than the
      // kernel's socket buffers hold (bounded: at most 64 MB).
      const online = (): boolean => yak.server.jsm.sessions.of('reader@localhost').length > 0;
      for (let i = 0; i < 1600 && online(); i++) {
        sender.send(message(100 + i, 40_000));
        if (i % 20 === 19) await sender.request(timeIq(`s${i}`), 30_000);
      }
      assert.equal(online(), false, 'the reader was never cut off');
      const cut = await logLine(captured, (l) => l.msg === 'client stopped reading; send buffer full, disconnected');
      assert.equal(cut.user, 'reader@localhost/Work');
      assert.ok((cut.dropped as number) > 64 * 1024, JSON.stringify(cut));
      // Reset: the server's end is gone at once, not left to the kernel for minutes with what the reader never took.
      for (let i = 0; i < 100 && tcpEnd(yak.port, readerPort); i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(tcpEnd(yak.port, readerPort), undefined, JSON.stringify(tcpEnd(yak.port, readerPort)));
      reader.socket.resume();
      await reader.whenClosed();
      const fresh = await loginUser(yak, 'sender', 'pw', 'again');
      assert.equal((await fresh.request(timeIq('alive'))).attrs.type, 'result');
    } finally {
      await yak.stop();
    }
  });
  test('one that says goodbye (FIN, or </stream:stream>) while replies wait for it, then takes none of them, is closed within a minute: its session ends, later messages go offline', { timeout: 150_000 }, async () => {
    const captured = captureLog();
    const yak = await startYak({ log: captured.log, tweak: noKarma });
    try {
      await registerUser(yak, 'sender', 'pw');
      const sender = await loginUser(yak, 'sender', 'pw');
      const goodbyes = { fin: 'FIN', end: '</stream:stream>' } as const;
      const readers = Object.keys(goodbyes) as (keyof typeof goodbyes)[];
      const online = (user: string): boolean => yak.server.jsm.sessions.of(`${user}@localhost`).length > 0;
      for (const user of readers) {
        await registerUser(yak, user, 'pw');
        const reader = await loginUser(yak, user, 'pw');
        reader.sendRaw('<presence/>');
        assert.equal((await reader.request(timeIq('ready'))).attrs.type, 'result');
        reader.socket.pause();
        await backUp(yak, sender, user);
        if (goodbyes[user] === 'FIN') reader.socket.end();
        else reader.sendRaw('</stream:stream>');
      }
      // Both in the same half minute, so that the test waits once.
      for (let i = 0; i < 1200 && readers.some(online); i++) await new Promise((r) => setTimeout(r, 50));
      for (const user of readers) {
        assert.equal(online(user), false, `the session of ${user} outlived its goodbye (${goodbyes[user]})`);
        const cut = await logLine(captured, (l) => l.msg === 'client ended its stream and read nothing more; cut off' && l.user === `${user}@localhost/Work`);
        assert.ok((cut.dropped as number) > 0, JSON.stringify(cut));
        sender.send(new Element('message', { to: `${user}@localhost`, id: 'after' }, [new Element('body', {}, ['later'])]));
        assert.equal((await sender.request(timeIq(`stored-${user}`))).attrs.type, 'result');
        const back = await loginUser(yak, user, 'pw', 'back');
        back.sendRaw('<presence/>');
        const got = await back.next((e) => e.name === 'message' && e.attrs.id === 'after');
        assert.equal(got.getChild('x', 'jabber:x:delay')?.text(), 'Offline Storage');
      }
    } finally {
      await yak.stop();
    }
  });
});

test('a client that says goodbye (FIN) behind a request answered only after the grace still gets the answer, then the end of the stream', { timeout: 90_000 }, async () => {
  const yak = await startYak({ tweak: noKarma });
  try {
    await registerUser(yak, 'patient', 'pw');
    const client = await loginUser(yak, 'patient', 'pw');
    const read = holdCalls(yak.server.xdb, 'get', (_host, user, ns) => user === 'patient' && ns === 'vcard-temp');
    client.send(new Element('iq', { type: 'get', id: 'slow' }, [new Element('vCard', { xmlns: 'vcard-temp' })]));
    await read.reached;
    client.socket.end();
    // Longer than the grace: nothing waits for the client yet, so it is not cut off for taking nothing.
    await new Promise((r) => setTimeout(r, 35_000));
    read.release();
    const answer = await client.next((e) => e.attrs.id === 'slow');
    assert.equal(answer.attrs.type, 'result');
    await client.whenClosed();
  } finally {
    await yak.stop();
  }
});

test('a client that says goodbye (FIN) while replies wait for it, then reads them after a pause of some seconds, gets them all and the end of the stream', { timeout: 60_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: noKarma });
  try {
    await registerUser(yak, 'sender', 'pw');
    await registerUser(yak, 'slow', 'pw');
    const sender = await loginUser(yak, 'sender', 'pw');
    const reader = await loginUser(yak, 'slow', 'pw');
    reader.sendRaw('<presence/>');
    assert.equal((await reader.request(timeIq('ready'))).attrs.type, 'result');
    let got = 0;
    reader.on('stanza', (e: Element) => {
      if (e.name === 'message') got++;
    });
    reader.socket.pause();
    const sent = await backUp(yak, sender, 'slow');
    await sender.request(timeIq('all-sent'), 30_000);
    reader.socket.end();
    // Not reading for a while, well within the grace.
    await new Promise((r) => setTimeout(r, 5_000));
    reader.socket.resume();
    await reader.whenClosed();
    assert.equal(got, sent);
    assert.equal(captured.lines.filter((l) => l.msg === 'client ended its stream and read nothing more; cut off').length, 0);
  } finally {
    await yak.stop();
  }
});

/**
 * Sends `user`, whose client has stopped reading, messages of 4,000
 * characters until more than a quarter of <outbuffer> waits in the server
 * (the kernel's buffers full first), well under all of it; returns how many.
 */
async function backUp(yak: TestYak, sender: ClientStream, user: string): Promise<number> {
  const session = yak.server.jsm.sessions.of(`${user}@localhost`)[0]!;
  let sent = 0;
  while (!session.backedUp) {
    assert.ok(sent < 5000, `${user} never backed up`);
    sender.send(new Element('message', { to: `${user}@localhost`, id: `m${sent++}` }, [new Element('body', {}, ['x'.repeat(4000)])]));
    if (sent % 10 === 0) await sender.request(timeIq(`s${sent}`), 30_000);
  }
  return sent;
}

/** Every path under `dir`, with its size, sorted. */
async function listingOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const st = await stat(path.join(dir, name));
    out.push(`${name} ${st.isFile() ? st.size : 'dir'}`);
  }
  return out.sort();
}

describe('a full disk', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'yak-full-'));
    // A tiny tmpfs of our own (CI runs as root, as this project's machines do).
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
  });
  after(async () => {
    try {
      execFileSync('umount', [dir]);
    } catch {
      // Busy (a server of a failed test still holds a file): detach it
      // anyway, so no tmpfs is left mounted under /tmp.
      execFileSync('umount', ['-l', dir]);
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('registration gets 500 once nothing can be recorded; nothing acknowledged is lost, even across a stop on the full disk', async () => {
    const spool = path.join(dir, 'spool');
    const filler = path.join(dir, 'filler');
    const yak = await startYak({ spool });
    const acked = ['early'];
    let stopped = false;
    try {
      await registerUser(yak, 'early', 'pw');
      // Fill what is left; the write stops with ENOSPC.
      await writeFile(filler, Buffer.alloc(1024 * 1024)).catch(() => undefined);
      const c = await yak.connect();
      // The journal's last page still takes a few entries: those changes are
      // durable, and acknowledged, though their own files cannot be written
      // yet. Then nothing fits and the answer is 500.
      let refused: Element | undefined;
      for (let i = 0; i < 20 && !refused; i++) {
        const reply = await c.request(registerIq(`late${i}`, 'pw', {}, `r${i}`));
        if (reply.attrs.type === 'result') acked.push(`late${i}`);
        else refused = reply;
      }
      assert.equal(refused && errorCode(refused), '500', `no 500 on a full disk: ${refused?.toString()}`);
      assert.ok(acked.length > 1, 'the journal took some registrations the files could not');
      // Each refusal leaves nothing behind: no journal file per refused batch.
      for (let i = 0; i < 10; i++) assert.equal(errorCode(await c.request(registerIq(`more${i}`, 'pw', {}, `m${i}`))), '500');
      const journals = (await readdir(spool)).filter((f) => f.startsWith('.yak-journal.'));
      assert.ok(journals.length <= 2, `journal files left by refused changes: ${journals.join(' ')}`);
      // Every acknowledged user logs in while the disk is still full.
      for (const user of acked) (await loginUser(yak, user, 'pw', 'full')).socket.destroy();
      // Stopping cannot write their files: the stop says so and keeps the journal.
      stopped = true;
      await assert.rejects(yak.stop(), /the journal keeps the changes/);
    } finally {
      if (!stopped) await yak.stop();
    }
    // A start on the disk still full cannot write the journal's files: it says what to do.
    await assert.rejects(startYak({ spool }), /ENOSPC.*\(its file system is full: free some space, then start again; the journal is kept for that start\)$/);
    const leftBehind = await listingOf(spool);
    await rm(filler);
    // A server whose stop failed writes nothing more, even once there is
    // room again (its logout records used to be retried every 2 s).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.deepEqual(await listingOf(spool), leftBehind);
    // The next start replays the journal: every acknowledged user is there.
    const again = await startYak({ spool });
    try {
      for (const user of acked) (await loginUser(again, user, 'pw', 'again')).socket.destroy();
      await registerUser(again, 'after', 'pw');
    } finally {
      await again.stop();
    }
  });

  test('journal appends that failed say so once they work again; failing again later is said in full', async () => {
    const spool = path.join(dir, 'again-spool');
    const filler = path.join(dir, 'again-filler');
    const captured = captureLog();
    const yak = await startYak({ spool, log: captured.log });
    const failedLines = (): number => captured.lines.filter((l) => l.msg === 'journal append failed; said again once a minute while appends fail').length;
    try {
      const c = await yak.connect();
      let n = 0;
      const fillUntilRefused = async (): Promise<void> => {
        await writeFile(filler, Buffer.alloc(1024 * 1024)).catch(() => undefined);
        for (let i = 0; i < 40; i++) if ((await c.request(registerIq(`a${n++}`, 'pw', {}, `r${n}`))).attrs.type === 'error') return;
        assert.fail('the journal took everything on a full disk');
      };
      await fillUntilRefused();
      assert.equal(failedLines(), 1);
      await rm(filler);
      assert.equal((await c.request(registerIq(`a${n++}`, 'pw', {}, 'ok'))).attrs.type, 'result');
      assert.ok(captured.lines.some((l) => l.msg === 'journal appends work again' && (l.failures as number) >= 1));
      await fillUntilRefused();
      assert.equal(failedLines(), 2, 'a new spell of failures was not said in full');
    } finally {
      await rm(filler, { force: true });
      await yak.stop().catch(() => undefined);
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('logout times a full disk keeps from being written: the stop says they are lost and fails, never a clean stop', async () => {
    const spool = path.join(dir, 'lost-spool');
    const filler = path.join(dir, 'lost-filler');
    const captured = captureLog();
    const yak = await startYak({ spool, log: captured.log });
    let stopped = false;
    try {
      const users = await Promise.all(['lt0', 'lt1', 'lt2'].map((u) => onlineUser(yak, u)));
      await writeFile(filler, Buffer.alloc(1024 * 1024)).catch(() => undefined);
      // Until the journal's last page is full too: then nothing more is taken.
      const c = await yak.connect();
      for (let i = 0; i < 40; i++) if ((await c.request(registerIq(`lfill${i}`, 'pw', {}, `f${i}`))).attrs.type === 'error') break;
      // Each refused with 500; the log says the journal failed once, not once per change (then once a minute).
      for (let i = 0; i < 3; i++) assert.equal((await c.request(registerIq(`lmore${i}`, 'pw', {}, `m${i}`))).attrs.type, 'error');
      assert.equal(captured.lines.filter((l) => String(l.msg).startsWith('journal append')).length, 1);
      // So is each refused request: once for the first, not once per request (before, a line and a stack each).
      for (let i = 0; i < 3; i++) {
        const reply = await users[0]!.request(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='lc${i}@localhost'/></query></iq>`);
        assert.equal(errorCode(reply), '500');
      }
      const failures = captured.lines.filter((l) => /handler failed/.test(String(l.msg)));
      assert.equal(failures.length, 1, failures.map((l) => l.msg).join('\n'));
      assert.match(String(failures[0]!.msg), /; said again once a minute while requests fail with ENOSPC$/);
      for (const u of users) await u.close();
      stopped = true;
      // The registrations the journal took are kept for the next start, and said so too.
      await assert.rejects(
        yak.stop(),
        /^Error: the deferred changes \(logout times, renewed 0k chains\) of 3 users could not be written before the stop and are lost(; spool files not all written either \(ENOSPC: .*\): the journal keeps those changes and the next start replays them)?$/,
      );
      assert.ok(!captured.lines.some((l) => l.msg === 'stopped'), 'a stop that lost changes said it stopped');
    } finally {
      if (!stopped) await yak.stop().catch(() => undefined);
      await rm(filler, { force: true });
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a batch the full disk refused comes back at no replay, not even the entries of it that fitted', async () => {
    // Group commit: a small change and a large one wait together and go in
    // one write; the small one's entry fits whole, the large one's does not.
    const root = path.join(dir, 'batch-spool');
    const filler = path.join(dir, 'batch-filler');
    const host = path.join(root, 'localhost');
    await mkdir(host, { recursive: true });
    const target = (user: string): { path: string; dir: string; rel: string } => ({ path: path.join(host, `${user}.xml`), dir: host, rel: `localhost/${user}.xml` });
    const doc = (text: string): string => `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>${text}</password></xdb>`;
    const j = new Journal(root, { log: silentLogger, durable: true });
    try {
      await j.open();
      await j.write(target('victa'), doc('acked'));
      const { bavail, bsize } = await statfs(dir);
      await writeFile(filler, Buffer.alloc(Math.max(0, bavail * bsize - 48 * 1024)));
      // The first goes at once; the two behind it wait for it and go together.
      const first = j.write(target('cc'), doc('c'.repeat(8 * 1024)));
      const refused = [j.write(target('victa'), doc('refused')), j.write(target('bigb'), doc('b'.repeat(200 * 1024)))];
      await first.catch(() => undefined);
      const outcomes = await Promise.allSettled(refused);
      assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
    } finally {
      await rm(filler, { force: true });
    }
    // A crash now: the next start replays what the journal holds.
    const again = new Journal(root, { log: silentLogger, durable: true });
    await again.open();
    try {
      assert.equal(await readFile(path.join(host, 'victa.xml'), 'utf8'), doc('acked'), 'a refused change came back');
    } finally {
      await again.close();
      await j.close().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    }
  });

  test('jabberctl on a full disk: a change the journal took is reported done, with a word about the file', async () => {
    const spool = path.join(dir, 'ctl-spool');
    const filler = path.join(dir, 'ctl-filler');
    const jabberctl = (args: string[]) => runTool(toolPath('jabberctl'), ['-c', BUNDLED_CONFIG, '-s', spool, ...args], { input: 'pw\n' });
    try {
      assert.equal((await jabberctl(['adduser', 'ctl1@localhost'])).code, 0);
      // Room for one page: the journal's entry, not the user's new file.
      const { bavail, bsize } = await statfs(dir);
      await writeFile(filler, Buffer.alloc(Math.max(0, bavail * bsize - bsize)));
      const r = await jabberctl(['adduser', 'ctl2@localhost']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'added ctl2@localhost\n');
      assert.match(r.stderr, /^jabberctl: spool files not all written \(ENOSPC.*the journal keeps the changes and the next start replays them$/m);
      await rm(filler);
      // A read shows the account from the journal, and says so; the next
      // change (here check --repair) replays it: the account is whole.
      let shown = await jabberctl(['show', 'ctl2@localhost']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stderr, /^jabberctl: note: the spool journal holds changes to 1 file not yet written to them/);
      assert.equal((await jabberctl(['check', '--repair'])).code, 0);
      shown = await jabberctl(['show', 'ctl2@localhost']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(shown.stderr, '');
    } finally {
      await rm(filler, { force: true });
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a server stopped while its log file cannot be written exits at once, exit 0; the lines the disk does not take are lost', { timeout: 30_000 }, async () => {
    const logFile = path.join(dir, 'stoplog', 'yak.log');
    const filler = path.join(dir, 'stoplog-filler');
    const d = await startDaemon({ configText: bundledConfigText().replace('<stderr/>', `<file>${logFile}</file><stderr/>`) });
    try {
      const { bavail, bsize } = await statfs(dir);
      await writeFile(filler, Buffer.alloc(bavail * bsize)).catch(() => undefined);
      // More than the log file's last page holds: 60 lines of a closed connection.
      for (let i = 0; i < 60; i++) (await ClientStream.connect({ port: d.port, domain: 'localhost' })).socket.destroy();
      // The 200 ms flush has met the full disk by now.
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.match(d.stderr(), /jabberd: log file .*: ENOSPC/);
      // Its last lines ("stopped") cannot be written either: a synchronous
      // flush that retried them for ever kept the process from exiting.
      assert.equal((await d.stop(10_000)).code, 0);
    } finally {
      await d.dispose();
      await rm(filler, { force: true });
    }
  });

  test('a log file on a full disk: said once on stderr, the server serves on, the lines are written once there is room', async () => {
    const logFile = path.join(dir, 'log', 'yak.log');
    const filler = path.join(dir, 'log-filler');
    const d = await startDaemon({ configText: bundledConfigText().replace('<stderr/>', `<file>${logFile}</file><stderr/>`) });
    try {
      const registerMany = async (prefix: string): Promise<void> => {
        // Each registration and each closed connection is a log line: 60 of
        // each are more than one 4 KiB write. (One connection each: karma
        // would slow a single one down.)
        for (let i = 0; i < 60; i++) {
          const c = await ClientStream.connect({ port: d.port, domain: 'localhost' });
          assert.equal((await c.request(registerIq(`${prefix}${i}`, 'pw'))).attrs.type, 'result');
          c.socket.destroy();
        }
      };
      await writeFile(filler, Buffer.alloc(1024 * 1024)).catch(() => undefined);
      await registerMany('fulllog');
      // The 200 ms flush has met the full disk by now, whatever the batches did.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const said = d.stderr().split('\n').filter((l) => l.startsWith(`jabberd: log file ${logFile}: ENOSPC`));
      assert.equal(said.length, 1, `stderr:\n${d.stderr()}`);
      await rm(filler);
      await registerMany('roomlog');
      assert.equal((await d.stop()).code, 0);
      const text = await readFile(logFile, 'utf8');
      for (const user of ['fulllog0', 'fulllog59', 'roomlog59']) assert.ok(text.includes(`"user":"${user}"`), `${user} missing from the log`);
      assert.match(text, /"msg":"stopped"/);
    } finally {
      await d.dispose();
      await rm(filler, { force: true });
    }
  });
});
