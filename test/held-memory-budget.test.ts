// <limits><preauthmemory> and <sessionmemory>: what all connections not
// logged in, and all sessions, hold between them (the stanza being read,
// stanzas queued or in hand weighed by their nodes, bytes karma holds
// back, replies not taken) stays under each budget; beyond it the largest
// holders are closed. End to end, on a real socket.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import type { HeldMemoryBudget } from '../src/c2s/held-memory-budget.js';
import type { YakConfig } from '../src/config/types.js';
import { captureLog } from './helpers/log-capture.js';
import { closeAll, onlineUser, plain, type Client } from './helpers/session.js';
import { assertStreamError, clientHeader, RawClient } from './helpers/transcript.js';
import { assertXml } from './helpers/xml-assert.js';
import { authIq, BUNDLED_CONFIG, registerUser, startYak, type TestYak } from './helpers/yak.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MIB = 1 << 20;

const FORM_GET = (id: string): string => `<iq type='get' id='${id}'><query xmlns='jabber:iq:register'/></iq>`;

/**
 * `n` messages of 997 `<b/>` each, which wait in the pre-login queue:
 * 4,000 characters each, about 150 KB each once parsed (counted so).
 */
const heavy = (n: number): string => `<message>${'<b/>'.repeat(997)}</message>`.repeat(n);

/** A raw stream to the host, past the server's header. */
async function open(yak: TestYak): Promise<RawClient> {
  const c = await RawClient.connect(yak.port);
  c.write(clientHeader(yak.host));
  await c.serverHeader();
  return c;
}

/** A socket that never reads what the server sends. */
async function deaf(yak: TestYak): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port: yak.port });
  s.on('error', () => undefined);
  s.pause();
  await new Promise((r) => s.once('connect', r));
  return s;
}

/** The server's budget (internal: what the tests weigh against). */
function budget(yak: TestYak, which: 'preAuth' | 'sessionMemory' = 'preAuth'): HeldMemoryBudget {
  return (yak.server as unknown as { context: Record<typeof which, HeldMemoryBudget> }).context[which];
}

/** Internal view of the server's streams: their state, session and socket. */
interface StreamView {
  state: string;
  session?: { jid: { toString(): string } };
  conn: { socket: net.Socket; pendingOutput: number };
}
function streams(yak: TestYak): StreamView[] {
  return [...(yak.server as unknown as { streams: Set<StreamView> }).streams];
}

/** Waits until `ok()` holds (or fails after `ms`). */
async function until(ok: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

const noKarma = (limit: number) => (cfg: YakConfig): void => {
  // Without karma, what a client sends is read at once.
  cfg.c2s.karma = undefined;
  cfg.c2s.limits.preAuthMemory = limit;
};

describe('pre-login memory budget', () => {
  test('over <preauthmemory>, the connection holding the most is closed; the others and logins go on', async () => {
    const captured = captureLog();
    const yak = await startYak({ log: captured.log, tweak: noKarma(MIB) });
    const clients: RawClient[] = [];
    try {
      // Two connections hold stanzas in the pre-login queue (about 600 KB and 150 KB once parsed)...
      const big = await open(yak);
      const small = await open(yak);
      clients.push(big, small);
      big.write(heavy(4));
      small.write(heavy(1));
      await sleep(300);
      assert.equal(big.closed || small.closed, false, 'closed under the budget');
      // ...and a third, not the largest, takes the sum past the budget: the largest goes.
      const third = await open(yak);
      clients.push(third);
      third.write(heavy(2));
      await assertStreamError(big, 'Server Busy', 'resource-constraint');
      // The smaller ones are still served.
      small.write(FORM_GET('small'));
      assert.equal((await small.next()).attrs.id, 'small');
      third.write(FORM_GET('third'));
      assert.equal((await third.next()).attrs.id, 'third');
      // A login frees what its connection held: a session is not counted.
      await registerUser(yak, 'budgeted', 'secret');
      const s = await open(yak);
      clients.push(s);
      s.write(authIq('budgeted', 'Work', { password: 'secret' }, 'login').toString());
      assertXml(await s.next(), "<iq type='result' id='login'/>");
      s.write(`<iq type='set' id='pv'><query xmlns='jabber:iq:private'><x xmlns='x:y'>${'p'.repeat(200_000)}</x></query></iq>`);
      assert.equal((await s.next()).attrs.id, 'pv');
      assert.equal(small.closed || third.closed || s.closed, false);
      const line = captured.lines.find((l) => l.msg === 'connections not logged in hold too much: closing the largest from the address holding the most');
      assert.ok(line, 'the closing was not logged');
      assert.equal(line.level, 40);
      assert.equal(line.limit, MIB);
      assert.equal(line.address, '127.0.0.1');
      assert.ok((line.held as number) > 600_000 && (line.total as number) > MIB, JSON.stringify(line));
      assert.ok(budget(yak).used <= 0.9 * MIB);
    } finally {
      for (const c of clients) c.destroy();
      await yak.stop();
    }
  });

  test('a login takes what its connection held out of the pre-login budget: that budget filling later never closes the session', async () => {
    const yak = await startYak({ tweak: noKarma(200_000) });
    const clients: RawClient[] = [];
    try {
      await registerUser(yak, 'padded', 'secret');
      const s = await open(yak);
      clients.push(s);
      // A login that weighs much of the budget while it is checked (900 nodes, some 135 KB once parsed).
      s.write(authIq('padded', 'Work', { password: 'secret' }, 'login').toString().replace('</iq>', `<pad xmlns='yak:test:pad'>${'<b/>'.repeat(900)}</pad></iq>`));
      assertXml(await s.next(), "<iq type='result' id='login'/>");
      assert.equal(budget(yak).used, 0, 'a session still counts in the pre-login budget');
      // Another connection not logged in holds less than the login did; with it the sum
      // would be over the budget, were the session still counted there.
      const other = await open(yak);
      clients.push(other);
      other.write(`<message>${'<b/>'.repeat(700)}</message>`);
      other.write(FORM_GET('other'));
      assert.equal((await other.next()).attrs.id, 'other');
      s.write("<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>");
      assert.equal((await s.next()).attrs.id, 'v');
      assert.equal(s.closed || other.closed, false);
    } finally {
      for (const c of clients) c.destroy();
      await yak.stop();
    }
  });

  test('stanzas are weighed by their nodes: many small elements count for what they take in memory', async () => {
    const yak = await startYak({ tweak: noKarma(2 * MIB) });
    const socks: net.Socket[] = [];
    try {
      // 4 queued messages of 997 <b/> each: 16,000 characters, some 600 KB once parsed.
      const msg = `<message>${'<b/>'.repeat(997)}</message>`;
      for (let i = 0; i < 10; i++) {
        const s = await deaf(yak);
        socks.push(s);
        s.write(clientHeader(yak.host) + msg.repeat(4));
      }
      await sleep(500);
      const open = streams(yak).filter((st) => st.state !== 'closed').length;
      assert.ok(open <= 4, `${open} of 10 connections holding 4 such stanzas each are still open`);
      assert.ok(budget(yak).used <= 2 * MIB, `${budget(yak).used} counted`);
    } finally {
      for (const s of socks) s.destroy();
      await yak.stop();
    }
  });

  test('bytes karma holds back unread are counted (the bundled config has karma on)', async () => {
    const yak = await startYak({ tweak: (cfg) => (cfg.c2s.limits.preAuthMemory = MIB) });
    const clients: RawClient[] = [];
    try {
      assert.ok(yak.config.c2s.karma, 'the bundled config has karma');
      for (let i = 0; i < 30; i++) {
        const c = await open(yak);
        clients.push(c);
        c.write(`<iq type='get' id='k'><query xmlns='jabber:iq:register'><pad>${'k'.repeat(60_000)}`);
      }
      await sleep(1000);
      const closed = clients.filter((c) => c.closed).length;
      assert.ok(closed >= 10, `only ${closed} of 30 connections holding 60 KB each were closed for a budget of 1 MiB`);
      assert.ok(budget(yak).used <= MIB, `${budget(yak).used} counted`);
    } finally {
      for (const c of clients) c.destroy();
      await yak.stop();
    }
  });

  test('replies a client does not take count, and such a client is cut off at once, not after a grace period', async () => {
    const yak = await startYak({ tweak: noKarma(MIB) });
    const socks: net.Socket[] = [];
    try {
      // A login without a username is answered with an error that echoes
      // the query: 20,000 characters out for each in. Sent until the server
      // holds 200 KB of replies for the socket (beyond what the kernel took).
      const echo = `<iq type='set' id='x'><query xmlns='jabber:iq:auth'><pad>${'a'.repeat(20_000)}</pad></query></iq>`;
      const pendingOut = (st: StreamView): number => st.conn.socket.writableLength;
      const views: StreamView[] = [];
      for (let i = 0; i < 6; i++) {
        const s = await deaf(yak);
        socks.push(s);
        s.write(clientHeader(yak.host));
        await sleep(50);
        const st = streams(yak).find((v) => v.conn.socket.remotePort === s.localPort)!;
        views.push(st);
        for (let k = 0; k < 2000 && st.state !== 'closed' && pendingOut(st) < 200_000; k++) {
          s.write(echo.repeat(5));
          await sleep(10);
        }
      }
      // 6 x 200 KB of replies nobody takes: over 1 MiB, so some connections went.
      const closed = views.filter((st) => st.state === 'closed');
      assert.ok(closed.length >= 1, 'no connection was closed');
      // Destroyed at once: a client that does not read cannot be sent the error anyway.
      await until(() => closed.every((st) => st.conn.socket.destroyed), 'the closed ones destroyed', 1000);
      assert.ok(budget(yak).used <= MIB, `${budget(yak).used} counted`);
    } finally {
      for (const s of socks) s.destroy();
      await yak.stop();
    }
  });

  test('a flood from one address is cut before a real client from another, even when each of its connections holds less', async () => {
    const yak = await startYak({ tweak: noKarma(0) });
    const socks: net.Socket[] = [];
    const clients: RawClient[] = [];
    try {
      await registerUser(yak, 'fair', 'secret');
      // 150 connections from 127.0.0.2, each holding the start of a small stanza.
      for (let i = 0; i < 150; i++) {
        const s = net.connect({ host: '127.0.0.1', port: yak.port, localAddress: '127.0.0.2' });
        s.on('error', () => undefined);
        socks.push(s);
        await new Promise((r) => s.once('connect', r));
        s.write(clientHeader(yak.host) + `<message><body>${'f'.repeat(80)}`);
      }
      await until(() => budget(yak).used > 150 * 80, 'the flood counted');
      await sleep(100);
      // The budget is just what is held now: a login from 127.0.0.1 takes it over.
      const c = await open(yak);
      clients.push(c);
      await sleep(100);
      yak.config.c2s.limits.preAuthMemory = budget(yak).used + 100;
      c.write(authIq('fair', 'Work', { password: 'secret' }, 'login').toString());
      assertXml(await c.next(), "<iq type='result' id='login'/>");
      assert.equal(c.closed, false);
      // Flood connections went instead (their own address held the most).
      const fromFlood = (): number => streams(yak).filter((st) => st.state !== 'closed' && st.conn.socket.remoteAddress === '127.0.0.2').length;
      assert.ok(fromFlood() < 150, `${fromFlood()} flood connections still open`);
      assert.ok(budget(yak).used <= yak.config.c2s.limits.preAuthMemory);
    } finally {
      for (const s of socks) s.destroy();
      for (const c of clients) c.destroy();
      await yak.stop();
    }
  });

  test('a reload that lowers <preauthmemory> applies at once', async () => {
    const yak = await startYak({ tweak: noKarma(0) });
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = await open(yak);
        clients.push(c);
        c.write(heavy(3));
      }
      await sleep(300);
      assert.ok(budget(yak).used > 1_600_000, `${budget(yak).used} counted`);
      const fresh = loadConfig(BUNDLED_CONFIG, { spool: yak.spool });
      fresh.c2s.listen = yak.config.c2s.listen;
      fresh.pidfile = undefined;
      fresh.c2s.karma = undefined;
      fresh.c2s.limits.preAuthMemory = MIB;
      yak.server.reload(fresh);
      assert.ok(budget(yak).used <= 0.9 * MIB, `${budget(yak).used} held against the reloaded ${MIB}`);
      await until(() => clients.filter((c) => c.closed).length >= 2, 'two connections closed');
    } finally {
      for (const c of clients) c.destroy();
      await yak.stop();
    }
  });
});

describe('session memory budget', () => {
  /** A logged-in raw stream (a test that wants it deaf pauses its socket). */
  async function session(yak: TestYak, user: string, resource: string): Promise<RawClient> {
    const c = await open(yak);
    c.write(authIq(user, resource, { password: 'secret' }, 'login').toString());
    assertXml(await c.next(), "<iq type='result' id='login'/>");
    return c;
  }

  /** A message of 19,990 empty elements: 80,000 characters, some 3 MB once parsed. */
  const dense = `<message to='nobody@localhost'><x xmlns='urn:x'>${'<a/>'.repeat(19_990)}</x></message>`;

  test('sessions that stop reading and pile up dense stanzas are weighed by nodes, and the largest is closed over <sessionmemory>', async () => {
    const captured = captureLog();
    const yak = await startYak({
      log: captured.log,
      tweak: (cfg) => {
        cfg.c2s.karma = undefined;
        cfg.c2s.limits.sessionMemory = 16 * MIB;
      },
    });
    const clients: RawClient[] = [];
    try {
      await registerUser(yak, 'hog', 'secret');
      await registerUser(yak, 'fine', 'secret');
      const setup = await session(yak, 'hog', 'setup');
      clients.push(setup);
      setup.write(`<iq type='set' id='v'><vCard xmlns='vcard-temp'><DESC>${'x'.repeat(250_000)}</DESC></vCard></iq>`);
      assert.equal((await setup.next()).attrs.id, 'v');
      // Each: big replies it does not take, past what the kernel's buffers
      // hold (its output backs up, so what it sends next waits in hand),
      // then dense stanzas until reading pauses.
      const gets = Array.from({ length: 30 }, (_, k) => `<iq type='get' id='g${k}'><vCard xmlns='vcard-temp'/></iq>`).join('');
      for (let i = 0; i < 4; i++) {
        const c = await session(yak, 'hog', `r${i}`);
        clients.push(c);
        c.socket.pause();
        c.write(gets);
        c.write(dense.repeat(3));
        await sleep(300);
      }
      const used = budget(yak, 'sessionMemory').used;
      assert.ok(used <= 16 * MIB, `${used} counted against ${16 * MIB}`);
      const line = captured.lines.find((l) => l.msg === 'sessions hold too much: closing the largest from the address holding the most');
      assert.ok(line, 'no session was closed for the budget');
      assert.equal(line.level, 40);
      assert.equal(line.user, `hog@localhost/${String(line.user).split('/')[1]}`);
      assert.ok((line.held as number) > 4 * MIB, JSON.stringify(line));
      // A session that reads is served meanwhile.
      const ok = await session(yak, 'fine', 'Work');
      clients.push(ok);
      ok.write("<iq type='get' id='t'><query xmlns='jabber:iq:roster'/></iq>");
      assert.equal((await ok.next()).attrs.id, 't');
      assert.equal(streams(yak).filter((st) => st.state === 'closed').length, 0, 'closed streams are forgotten');
    } finally {
      for (const c of clients) c.destroy();
      await yak.stop();
    }
    assert.equal(budget(yak, 'sessionMemory').used, 0, 'every session released what it held');
  });
  test('output the client has taken is no longer counted, whether it went out at once or after a wait', async () => {
    const yak = await startYak({ tweak: (c) => (plain(c), (c.c2s.rate = undefined)) });
    let a: Client | undefined;
    let b: Client | undefined;
    try {
      a = await onlineUser(yak, 'sender');
      b = await onlineUser(yak, 'reader');
      const reader = b.full;
      const server = streams(yak).find((st) => st.session?.jid.toString() === reader)!.conn;
      // Logged in and idle: the replies it read (the login's, the presence's sync) count for nothing.
      await sleep(50);
      assert.equal(budget(yak, 'sessionMemory').used, 0, 'replies already read are still counted');
      // It stops reading for a while: messages fill the kernel's buffers,
      // until the server's socket keeps some (under its high-water mark,
      // past which 'drain' would have said when it went).
      b.stream.socket.pause();
      for (let i = 0; server.socket.writableLength === 0; i++) {
        assert.ok(i < 5000, 'the kernel took everything');
        for (let k = 0; k < 3; k++) a.send(`<message to='${b.bare}'><body>${'x'.repeat(4000)}</body></message>`);
        await a.sync();
        await sleep(1);
      }
      assert.ok(budget(yak, 'sessionMemory').used > 0, 'the output waiting was not counted');
      // Now it reads everything it was sent.
      b.stream.socket.resume();
      await until(() => server.pendingOutput === 0, 'the output went out');
      await until(() => budget(yak, 'sessionMemory').used === 0, 'nothing counted once the client took it all');
    } finally {
      await closeAll(a, b);
      await yak.stop();
    }
  });
});
