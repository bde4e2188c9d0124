// Messages written to a connection that was then lost are sent again when
// its session ends (c2s/messages-in-doubt.ts, jsm/resend-in-doubt.ts).
import assert from 'node:assert/strict';
import test from 'node:test';
import { inDoubtTotalChars } from '../src/c2s/messages-in-doubt.js';
import { legacyStampTime } from '../src/util/time.js';
import { captureLog, logLine, type CapturedLog } from './helpers/log-capture.js';
import { Client, isMessage, login, offlineUser, onlineUser, PASSWORD, plain, spoolRecords, STAMP, xml } from './helpers/session.js';
import { assertXml } from './helpers/xml-assert.js';
import type { BehindReport } from './helpers/behind-client.js';
import { holdCalls, holdFirstCall } from './helpers/latch.js';
import { inOwnNetwork } from './helpers/own-network.js';
import { leadMonotonicClock } from './helpers/monotonic-clock.js';
import { hostRetransmissionTimeMs } from '../src/net/retransmission-time.js';
import { RESEND_ROOM_WAIT_MS } from '../src/jsm/router.js';
import { authIq, removeWhileHeld, startYak, type TestYak } from './helpers/yak.js';
import type { Element } from '../src/xml/element.js';
import type { YakConfig } from '../src/config/types.js';

const LOST = 'connection lost: messages it may not have delivered sent again';
const lostLine = (user: string) => (l: Record<string, unknown>) => l.msg === LOST && l.user === user;
/** How many sessions had messages sent again. */
const resends = (captured: CapturedLog): number => captured.lines.filter((l) => l.msg === LOST).length;

/**
 * Logs `user` in again with presence and returns the messages that come
 * before a barrier, or the first `count` (a backlog goes out in batches,
 * each after the client read the one before: some come after the barrier).
 */
async function backAgain(yak: TestYak, user: string, count?: number): Promise<Element[]> {
  const back = await login(yak, user);
  back.send('<presence/>');
  const got: Element[] = [];
  if (count !== undefined) {
    while (got.length < count) got.push(await back.next(isMessage));
    return got;
  }
  await back.sync();
  for (;;) {
    const m = await back.next(isMessage, 1).catch(() => undefined);
    if (!m) return got;
    got.push(m);
  }
}

/** The stamp of a stored message, as an epoch time (jabber:x:delay's YYYYMMDDTHH:MM:SS, UTC). */
function stampTime(m: Element): number {
  const s = m.getChild('x', 'jabber:x:delay')!.attrs.stamp!;
  assert.match(s, STAMP);
  return legacyStampTime(s)!;
}

/** Registers ghost, with no session, and has friend (online, returned) store `count` messages of 2,000 characters for it: b1, b2, ... */
async function backlogForGhost(yak: TestYak, count: number): Promise<Client> {
  await offlineUser(yak, 'ghost');
  const friend = await onlineUser(yak, 'friend');
  const body = 'x'.repeat(2000);
  for (let i = 1; i <= count; i++) friend.send(`<message to='ghost@localhost' id='b${i}'><body>${body}</body></message>`);
  await friend.sync();
  return friend;
}

/**
 * Has reader (online, no longer reading) sent messages of 1,000
 * characters, f1, f2, ..., 50 at a time, by flooder, until the log says
 * `closed` (the server cut it off); returns how many were sent.
 */
async function floodUntilClosed(yak: TestYak, captured: CapturedLog, closed: string): Promise<number> {
  const reader = await onlineUser(yak, 'reader');
  await offlineUser(yak, 'flooder');
  const flooder = await login(yak, 'flooder');
  reader.stream.socket.pause();
  const body = 'x'.repeat(1000);
  let sent = 0;
  while (!captured.lines.some((l) => l.msg === closed)) {
    for (let i = 0; i < 50; i++) flooder.send(`<message to='reader@localhost' id='f${++sent}'><body>${body}</body></message>`);
    await flooder.sync();
  }
  return sent;
}

/** The suite's config (plain) with another <outbuffer>, in bytes. */
const withOutbuffer = (bytes: number) => (c: YakConfig): void => {
  plain(c);
  c.c2s.limits.outputBytes = bytes;
};

/** ghost (registered) logged in at `resource` with available presence. */
async function availableAt(yak: TestYak, resource: string): Promise<Client> {
  const c = await login(yak, 'ghost', resource);
  await c.presence();
  return c;
}

/** ghost available at Work and at Home, and friend online. */
async function workHomeFriend(yak: TestYak): Promise<{ work: Client; home: Client; friend: Client }> {
  const work = await onlineUser(yak, 'ghost', 'Work');
  const home = await availableAt(yak, 'Home');
  const friend = await onlineUser(yak, 'friend');
  return { work, home, friend };
}

/**
 * alice and bob at Work, each sent a message (a1, b1) from the other's
 * Home resource, `event` asking for an offline event; `first` runs before
 * those two are sent. The Home resources then leave, so that what goes
 * back to a sender finds no session of a user whose end may be under way.
 */
async function crossedMessages(yak: TestYak, opts: { event?: boolean; first?: () => void } = {}): Promise<{ alice: Client; bob: Client }> {
  const alice = await onlineUser(yak, 'alice', 'Work');
  const bob = await onlineUser(yak, 'bob', 'Work');
  const aliceHome = await login(yak, 'alice', 'Home');
  const bobHome = await login(yak, 'bob', 'Home');
  opts.first?.();
  const event = opts.event ? "<x xmlns='jabber:x:event'><offline/></x>" : '';
  aliceHome.send(`<message to='bob@localhost/Work' id='a1'><body>hi bob</body>${event}</message>`);
  bobHome.send(`<message to='alice@localhost/Work' id='b1'><body>hi alice</body>${event}</message>`);
  await bob.next((e) => e.name === 'message' && e.attrs.id === 'a1');
  await alice.next((e) => e.name === 'message' && e.attrs.id === 'b1');
  await aliceHome.close();
  await bobHome.close();
  return { alice, bob };
}

async function reset(c: Client): Promise<void> {
  c.stream.socket.resetAndDestroy();
  await c.stream.whenClosed();
}

test('a client reset after messages reached it: those written since it last sent anything wait offline, dated when first sent; those before are not sent again', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1'><body>one</body></message>");
    await ghost.next((e) => e.name === 'message' && e.attrs.id === 'm1');
    // Heard from after m1 was written: m1 reached it.
    await ghost.sync();
    const firstSent = Date.now();
    friend.send("<message to='ghost@localhost/Work' id='m2'><body>two</body></message>");
    friend.send("<message to='ghost@localhost' id='m3' type='chat'><body>three</body></message>");
    friend.send("<message to='ghost@localhost' id='m4' type='headline'><body>news</body></message>");
    friend.send("<message to='ghost@localhost' id='m5' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
    await ghost.next((e) => e.name === 'message' && e.attrs.id === 'm5');
    // Long enough that a stamp of the reset's time could not pass for one of the sending's (they are in whole seconds).
    await new Promise((r) => setTimeout(r, 2_500));
    await reset(ghost);
    const closed = await logLine(captured, (l) => l.msg === 'connection closed' && l.user === 'ghost@localhost/Work');
    assert.equal(closed.error, 'ECONNRESET');
    assert.equal((await logLine(captured, lostLine('ghost@localhost/Work'))).messages, 2);

    const got = await backAgain(yak, 'ghost');
    assert.deepEqual(got.map((m) => m.attrs.id), ['m2', 'm3'], got.join('\n'));
    assertXml(
      got[0]!,
      "<message to='ghost@localhost/Work' id='m2' from='friend@localhost/Work'><body>two</body><x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Offline Storage</x></message>",
    );
    for (const m of got) assert.ok(Math.abs(stampTime(m) - firstSent) < 1_000, `${m} against ${new Date(firstSent).toISOString()}`);
    await friend.nothing(() => true, [], 'the sender hears nothing of it');
  } finally {
    await yak.stop();
  }
});

test('with another session of the user available, what a reset session may not have had goes there at once, stamped Resent', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const { work, home, friend } = await workHomeFriend(yak);
    friend.send("<message to='ghost@localhost/Work' id='m1'><body>for work</body></message>");
    await work.next((e) => e.name === 'message' && e.attrs.id === 'm1');
    await reset(work);
    assertXml(
      await home.next(isMessage),
      "<message to='ghost@localhost/Work' id='m1' from='friend@localhost/Work'><body>for work</body><x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Resent</x></message>",
    );
  } finally {
    await yak.stop();
  }
});

test('a message sent again to another session whose connection is then lost too is stored as first sent: stamped once, with its first time', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const { work, home, friend } = await workHomeFriend(yak);
    const firstSent = Date.now();
    // With the sender's own XEP-0203 delay: the server's goes before it in that form too, once.
    friend.send("<message to='ghost@localhost/Work' id='m1'><body>for work</body><delay xmlns='urn:xmpp:delay' stamp='2001-01-01T00:00:00Z'/></message>");
    await work.next((e) => e.name === 'message' && e.attrs.id === 'm1');
    // Long enough that a stamp of its second writing could not pass for one of its first sending.
    await new Promise((r) => setTimeout(r, 2_500));
    await reset(work);
    await home.next(isMessage);
    await reset(home);
    await logLine(captured, lostLine('ghost@localhost/Home'));
    const [got] = await backAgain(yak, 'ghost', 1);
    assertXml(
      got!,
      "<message to='ghost@localhost/Work' id='m1' from='friend@localhost/Work'><body>for work</body><delay xmlns='urn:xmpp:delay' from='ghost@localhost' stamp='*'>Offline Storage</delay><delay xmlns='urn:xmpp:delay' stamp='2001-01-01T00:00:00Z'/><x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Offline Storage</x></message>",
    );
    assert.ok(Math.abs(stampTime(got!) - firstSent) < 1_000, `${got} against ${new Date(firstSent).toISOString()}`);
  } finally {
    await yak.stop();
  }
});

test('a message sent again, lost again: its jabber:x:expire counts down once for each stretch, not from its first sending twice', async (t) => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const { work, home, friend } = await workHomeFriend(yak);
    friend.send("<message to='ghost@localhost/Work' id='m1'><body>soon</body><x xmlns='jabber:x:expire' seconds='300'/></message>");
    await work.next((e) => e.attrs.id === 'm1');
    // As if it had been written 100 s before the first loss.
    leadMonotonicClock(t)(100_000);
    await reset(work);
    const resent = await home.next(isMessage);
    assert.equal(resent.getChild('x', 'jabber:x:expire')!.attrs.seconds, '200');
    await reset(home);
    await logLine(captured, lostLine('ghost@localhost/Home'));
    const [got] = await backAgain(yak, 'ghost', 1);
    const seconds = Number(got!.getChild('x', 'jabber:x:expire')!.attrs.seconds);
    assert.ok(seconds >= 195 && seconds <= 200, `counted from its writing to the second session: ${seconds}`);
  } finally {
    await yak.stop();
  }
});

test('a message sent again on its way into the store when another session becomes available goes there, stamped Resent with when it was first sent', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const work = await onlineUser(yak, 'ghost', 'Work');
    const friend = await onlineUser(yak, 'friend');
    const firstSent = Date.now();
    friend.send("<message to='ghost@localhost/Work' id='m1'><body>for work</body></message>");
    await work.next((e) => e.name === 'message' && e.attrs.id === 'm1');
    // Long enough that a stamp of its second writing could not pass for one of its first sending.
    await new Promise((r) => setTimeout(r, 2_500));
    const store = holdCalls(yak.server.xdb, 'update', (_host, user, ns) => user === 'ghost' && ns === 'jabber:x:offline');
    await reset(work);
    await store.reached;
    const home = await availableAt(yak, 'Home');
    store.release();
    const got = await home.next(isMessage);
    assertXml(got, "<message to='ghost@localhost/Work' id='m1' from='friend@localhost/Work'><body>for work</body><x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Resent</x></message>");
    assert.ok(Math.abs(stampTime(got) - firstSent) < 1_000, `${got} against ${new Date(firstSent).toISOString()}`);
  } finally {
    await yak.stop();
  }
});

test('a session replaced by a login with its resource (a client back after losing its connection): what was written to it lately waits for the new one', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const old = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1' type='chat'><body>are you there?</body></message>");
    await old.next((e) => e.name === 'message' && e.attrs.id === 'm1');
    const got = await backAgain(yak, 'ghost');
    assert.deepEqual(got.map((m) => m.attrs.id), ['m1']);
    assert.equal(got[0]!.getChild('x', 'jabber:x:delay')?.text(), 'Offline Storage');
    assert.equal((await logLine(captured, lostLine('ghost@localhost/Work'))).messages, 1);
  } finally {
    await yak.stop();
  }
});

test('a client that says goodbye (and then resets at once), or closes its side, or is reset with nothing written to it, gets nothing sent again', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const friend = await onlineUser(yak, 'friend');
    const polite = await onlineUser(yak, 'polite');
    const abrupt = await onlineUser(yak, 'abrupt');
    for (const to of ['polite', 'abrupt']) friend.send(`<message to='${to}@localhost' id='m1'><body>hi</body></message>`);
    await polite.next(isMessage);
    await abrupt.next(isMessage);
    await polite.close();
    abrupt.stream.socket.end();
    await abrupt.stream.whenClosed();
    // Its goodbye, then a reset at once: the server reads both together, the reset a failure.
    const hasty = await onlineUser(yak, 'hasty');
    friend.send("<message to='hasty@localhost' id='m1'><body>hi</body></message>");
    await hasty.next(isMessage);
    hasty.stream.socket.write('</stream:stream>', () => hasty.stream.socket.resetAndDestroy());
    await hasty.stream.whenClosed();
    const quiet = await onlineUser(yak, 'quiet');
    await reset(quiet);
    for (const user of ['polite', 'abrupt', 'hasty', 'quiet']) {
      await logLine(captured, (l) => l.msg === 'connection closed' && l.user === `${user}@localhost/Work`);
      assert.deepEqual(await backAgain(yak, user), [], user);
    }
    assert.equal(resends(captured), 0);
  } finally {
    await yak.stop();
  }
  // Every session that ended gave up its record, lost or not: nothing is counted in the total any more.
  assert.equal(inDoubtTotalChars(), 0);
});

test('a client cut off for not reading: the latest of what waited for it is stored for its next login, the last one it was sent included', { timeout: 30_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: withOutbuffer(64 * 1024) });
  try {
    const sent = await floodUntilClosed(yak, captured, 'client stopped reading; send buffer full, disconnected');
    await logLine(captured, lostLine('reader@localhost/Work'));
    const got = await backAgain(yak, 'reader');
    assert.ok(got.length > 10 && got.length <= 100, `${got.length} stored`);
    const ids = got.map((m) => Number(m.attrs.id!.slice(1)));
    assert.deepEqual(ids, ids.map((_, i) => ids[0]! + i), 'the latest, in order');
    const last = ids.at(-1)!;
    assert.ok(last <= sent && last > sent - 50, `the last stored is f${last} of ${sent} sent: the one that overflowed, or one just before`);
  } finally {
    await yak.stop();
  }
});

test('a stored backlog cut short by a reset: what went into the lost connection goes back to the front of the store, as it was; the next login gets them all in order', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: withOutbuffer(16 * 1024) });
  try {
    await backlogForGhost(yak, 20);
    const ghost = await login(yak, 'ghost');
    ghost.send('<presence/>');
    await ghost.next(isMessage);
    ghost.stream.socket.pause();
    await reset(ghost);
    const resent = Number((await logLine(captured, lostLine('ghost@localhost/Work'))).messages);
    assert.ok(resent >= 1 && resent < 20, `${resent} put back`);
    const got = await backAgain(yak, 'ghost', 20);
    assert.deepEqual(got.map((m) => m.attrs.id).join(' '), Array.from({ length: 20 }, (_, i) => `b${i + 1}`).join(' '), `${resent} put back`);
    for (const m of got) assert.equal(m.getChildren('x').length, 1, `one stamp, as stored: ${m.toString().replace(/x{2000}/, '...')}`);
  } finally {
    await yak.stop();
  }
});

test('what is not sent again: a message expired since it was first sent (the others count down from then), one from the server, one for another user', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    await offlineUser(yak, 'friend');
    await offlineUser(yak, 'other');
    const session = yak.server.jsm.sessions.find('ghost@localhost', 'Work')!;
    const deliver = (text: string): void => session.send(xml(text));
    deliver("<message from='friend@localhost/Work' to='ghost@localhost' id='short'><body>soon gone</body><x xmlns='jabber:x:expire' seconds='2'/></message>");
    deliver("<message from='friend@localhost/Work' to='ghost@localhost' id='long'><body>still good</body><x xmlns='jabber:x:expire' seconds='600'/></message>");
    deliver("<message from='localhost' to='ghost@localhost' id='server'><body>motd</body></message>");
    deliver("<message from='friend@localhost/Work' to='other@localhost' id='other'><body>not yours</body></message>");
    await ghost.next((e) => e.attrs.id === 'other');
    await new Promise((r) => setTimeout(r, 3_100));
    await reset(ghost);
    const got = await backAgain(yak, 'ghost');
    assert.deepEqual(got.map((m) => m.attrs.id), ['long']);
    const seconds = Number(got[0]!.getChild('x', 'jabber:x:expire')!.attrs.seconds);
    assert.ok(seconds <= 597 && seconds >= 590, `counted down from when it was first sent: ${seconds}`);
    assert.deepEqual(await backAgain(yak, 'other'), []);
  } finally {
    await yak.stop();
  }
});

/** Longer ago than the kernel would have kept retransmitting a message (c2s-stream.ts, takeInDoubt). */
const PAST_RETRANSMISSION_MS = 2 * hostRetransmissionTimeMs() + 120_000 + 1_000;

test('a message written longer ago than the kernel would have kept retransmitting it reached the client: a reset sends only the later one again', async (t) => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    const lead = leadMonotonicClock(t);
    friend.send("<message to='ghost@localhost' id='old'><body>long ago</body></message>");
    await ghost.next((e) => e.attrs.id === 'old');
    lead(PAST_RETRANSMISSION_MS);
    friend.send("<message to='ghost@localhost' id='new'><body>just now</body></message>");
    await ghost.next((e) => e.attrs.id === 'new');
    await reset(ghost);
    assert.equal((await logLine(captured, lostLine('ghost@localhost/Work'))).messages, 1);
    assert.deepEqual((await backAgain(yak, 'ghost')).map((m) => m.attrs.id), ['new']);
  } finally {
    await yak.stop();
  }
});

test('a client cut off for not reading has everything it was written sent again, however long ago: what waited in the server never left it', async (t) => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: withOutbuffer(16 * 1024) });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    ghost.stream.socket.pause();
    const lead = leadMonotonicClock(t);
    friend.send("<message to='ghost@localhost' id='old'><body>long ago</body></message>");
    await friend.sync();
    lead(PAST_RETRANSMISSION_MS);
    // More than <outbuffer> in one piece: the server cuts the client off at once.
    friend.send(`<message to='ghost@localhost' id='big'><body>${'x'.repeat(20_000)}</body></message>`);
    await logLine(captured, (l) => l.msg === 'client stopped reading; send buffer full, disconnected');
    assert.equal((await logLine(captured, lostLine('ghost@localhost/Work'))).messages, 2);
    // Read from the store: a login with this <outbuffer> would be cut off by the big one again.
    const stored = (await spoolRecords(yak, 'ghost'))?.get('jabber:x:offline')?.getChildren('message');
    assert.deepEqual(stored?.map((m) => m.attrs.id), ['old', 'big']);
  } finally {
    await yak.stop();
  }
});

test('a client karma holds back is heard when its words arrive: what came in the read that paused it, never parsed, marks what was written before as received', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: (c) => {
      plain(c);
      // 1.4's budget, with a penalty long enough to outlast the test: 30 heartbeats, 60 s.
      c.c2s.karma = { init: 10, max: 10, inc: 1, dec: 1, penalty: -30, restore: 10 };
    },
  });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1'><body>one</body></message>");
    await ghost.next((e) => e.attrs.id === 'm1');
    // 6 KB in one write: past the budget, so reading pauses inside it and the rest is held back unread.
    ghost.stream.sendRaw(`<presence><status>${'s'.repeat(6000)}</status></presence><iq type='get' id='held'><query xmlns='jabber:iq:roster'/></iq>`);
    await logLine(captured, (l) => l.msg === 'karma: reading paused' && l.user === 'ghost@localhost/Work');
    await reset(ghost);
    await logLine(captured, (l) => l.msg === 'connection closed' && l.user === 'ghost@localhost/Work');
    assert.deepEqual(await backAgain(yak, 'ghost'), []);
    assert.equal(resends(captured), 0);
  } finally {
    await yak.stop();
  }
});

test('a client behind (what is written to it waits in the server, its kernel full) that sends a keepalive, then is reset: what it never took is sent again all the same', { timeout: 60_000 }, async () => {
  // In a network namespace of its own, whose TCP buffers the helper makes small.
  const report = await inOwnNetwork<BehindReport>('behind-client.js', 'behindClient', [25], 50_000);
  assert.ok(report.unsentAtKeepalive > 0, JSON.stringify(report));
  assert.equal(report.resent, 25, JSON.stringify(report));
  assert.deepEqual(report.delivered, Array.from({ length: 25 }, (_, i) => `m${i + 1}`));
});

test('a message sent again goes into the store where it was first sent: before one stored after it', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    // A negative priority takes no bare-JID messages: they are stored while the session is there.
    await ghost.presence('<presence><priority>-1</priority></presence>');
    friend.send("<message to='ghost@localhost/Work' id='first'><body>to the session</body></message>");
    await ghost.next((e) => e.attrs.id === 'first');
    await new Promise((r) => setTimeout(r, 1_100));
    friend.send("<message to='ghost@localhost' id='later'><body>stored</body></message>");
    await friend.sync();
    await reset(ghost);
    const got = await backAgain(yak, 'ghost', 2);
    assert.deepEqual(got.map((m) => m.attrs.id), ['first', 'later']);
  } finally {
    await yak.stop();
  }
});

test('stored messages a reset session may not have had go to another session in their order, with their stamp from the store alone; an absurd expiry is no message to send again', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: withOutbuffer(256 * 1024) });
  try {
    const friend = await backlogForGhost(yak, 40);
    const work = await login(yak, 'ghost', 'Work');
    work.send('<presence/>');
    await work.next(isMessage);
    work.stream.socket.pause();
    const home = await availableAt(yak, 'Home');
    friend.send("<message to='ghost@localhost/Work' id='odd'><body>hi</body><x xmlns='jabber:x:expire' seconds='-100000000000000000000'/></message>");
    await friend.sync();
    await reset(work);
    const resent = Number((await logLine(captured, lostLine('ghost@localhost/Work'))).messages);
    const got: Element[] = [];
    while (got.length < resent) got.push(await home.next(isMessage));
    const ids = got.map((m) => Number(m.attrs.id!.slice(1)));
    assert.deepEqual(ids, ids.map((_, i) => 41 - resent + i), `the latest, in order: ${ids.join(' ')}`);
    for (const m of got) assert.deepEqual(m.getChildren('x').map((x) => x.text()), ['Offline Storage']);
    await friend.nothing(() => true, [], 'nothing goes back to the sender');
  } finally {
    await yak.stop();
  }
});

test('a stored message put back to another session whose connection is then lost too goes back to the store as it was, with its stamp from the store', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    await offlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    const storedAt = Date.now();
    friend.send("<message to='ghost@localhost' id='s1'><body>kept</body></message>");
    await friend.sync();
    // Long enough that the stamp of its delivery could not pass for the store's.
    await new Promise((r) => setTimeout(r, 2_500));
    const work = await login(yak, 'ghost', 'Work');
    work.send('<presence/>');
    await work.next(isMessage);
    const home = await availableAt(yak, 'Home');
    await reset(work);
    await home.next(isMessage);
    await reset(home);
    await logLine(captured, lostLine('ghost@localhost/Home'));
    const [got] = await backAgain(yak, 'ghost', 1);
    assert.deepEqual(got!.getChildren('x').map((x) => x.text()), ['Offline Storage'], got!.toString());
    assert.ok(Math.abs(stampTime(got!) - storedAt) < 1_000, `${got} against ${new Date(storedAt).toISOString()}`);
  } finally {
    await yak.stop();
  }
});

test('many messages sent again to another session wait for its room: with a small <outbuffer>, it gets them all and is not cut off', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: withOutbuffer(8 * 1024) });
  try {
    const { work, home, friend } = await workHomeFriend(yak);
    // 30 of 1,500 characters: five times the outbuffer, within what the record keeps.
    const body = 'x'.repeat(1500);
    for (let i = 1; i <= 30; i++) {
      friend.send(`<message to='ghost@localhost/Work' id='m${i}'><body>${body}</body></message>`);
      await work.next((e) => e.name === 'message' && e.attrs.id === `m${i}`);
    }
    await reset(work);
    assert.equal((await logLine(captured, lostLine('ghost@localhost/Work'))).messages, 30);
    const got: Element[] = [];
    while (got.length < 30) got.push(await home.next(isMessage));
    assert.deepEqual(got.map((m) => m.attrs.id), Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
    assert.equal(captured.lines.filter((l) => l.msg === 'client stopped reading; send buffer full, disconnected').length, 0);
    await home.sync();
  } finally {
    await yak.stop();
  }
});

test('a message sent again to another session that does not read waits for room a while, then goes all the same: the lost session ends, and its resource can log in again', { timeout: 60_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: withOutbuffer(64 * 1024) });
  try {
    const { work, home, friend } = await workHomeFriend(yak);
    for (const id of ['m1', 'm2', 'm3']) {
      friend.send(`<message to='ghost@localhost/Work' id='${id}'><body>for work</body></message>`);
      await work.next((e) => e.name === 'message' && e.attrs.id === id);
    }
    // Home stops reading until a quarter of <outbuffer> waits for it in the
    // server (its kernel's buffers full), 10 KB at a time: never all of it.
    home.stream.socket.pause();
    const homeSession = yak.server.jsm.sessions.find('ghost@localhost', 'Home')!;
    const body = 'x'.repeat(1000);
    let sent = 0;
    while (!homeSession.backedUp) {
      for (let i = 0; i < 10; i++) friend.send(`<message to='ghost@localhost/Home' id='h${++sent}'><body>${body}</body></message>`);
      await friend.sync();
    }
    await reset(work);
    // One wait for all three (each in turn would take three times as long).
    assert.equal((await logLine(captured, lostLine('ghost@localhost/Work'), 2 * RESEND_ROOM_WAIT_MS - 1_000)).messages, 3);
    const back = await login(yak, 'ghost', 'Work');
    home.stream.socket.resume();
    const got: Element[] = [];
    while (got.length < sent + 3) got.push(await home.next(isMessage));
    assert.deepEqual(got.slice(-3).map((m) => m.attrs.id), ['m1', 'm2', 'm3'], 'after what waited for Home');
    for (const m of got.slice(-3)) assert.equal(m.getChild('x', 'jabber:x:delay')?.text(), 'Resent');
    await back.sync();
  } finally {
    await yak.stop();
  }
});

test("a connection lost with a message of its own in hand, whose 404 comes back to its user: the 404 waits for no session's end (this one sends nothing again), and the next login gets it", { timeout: 20_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const lookup = holdCalls(yak.server.xdb, 'exists', (_host, user) => user === 'nobody');
    ghost.send("<message to='nobody@localhost' id='x1'><body>hi</body></message>");
    await lookup.reached;
    await reset(ghost);
    // Out of routing: the 404 finds no session of ghost's.
    await logLine(captured, (l) => l.msg === 'connection closed' && l.user === 'ghost@localhost/Work');
    lookup.release();
    const back = await login(yak, 'ghost');
    back.send('<presence/>');
    const bounce = await back.next(isMessage);
    assert.equal(bounce.attrs.id, 'x1');
    assert.equal(bounce.getChild('error')?.attrs.code, '404');
  } finally {
    await yak.stop();
  }
});

test('a session closed over <sessionmemory> with output its client never read: the latest of it is stored for its next login, before what arrived while it went', { timeout: 30_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: (c) => {
      plain(c);
      // Under the 16 MiB the config allows, to reach it quickly; the outbuffer well above it, so that this bound is the one met.
      c.c2s.limits.sessionMemory = 2 * 1024 * 1024;
      c.c2s.limits.outputBytes = 64 * 1024 * 1024;
    },
  });
  try {
    const sent = await floodUntilClosed(yak, captured, 'sessions hold too much: closing the largest from the address holding the most');
    const resent = Number((await logLine(captured, lostLine('reader@localhost/Work'))).messages);
    assert.ok(resent > 10 && resent <= 100, `${resent} sent again`);
    const got = await backAgain(yak, 'reader');
    // Those that arrived while it went (the rest of the last 50) are stored
    // after them, though in the same second: no gap, no interleaving.
    const ids = got.map((m) => Number(m.attrs.id!.slice(1)));
    assert.deepEqual(ids, ids.map((_, i) => sent - ids.length + 1 + i), `the latest, in order: ${ids.join(' ')}`);
    assert.ok(ids.length >= resent, `${ids.length} stored`);
  } finally {
    await yak.stop();
  }
});

test('messages arriving while a replaced session ends wait for what it sends again: the new session gets them all in order', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const old = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    const burst = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `<message to='ghost@localhost' id='${tag}${i + 1}'><body>${tag}</body></message>`).join('');
    friend.stream.socket.write(burst('m', 20));
    await old.next((e) => e.name === 'message' && e.attrs.id === 'm20');
    // The login that replaces it and more messages, at once: some reach the
    // old session, some come while it ends, the rest once the new one is in.
    const stream = await yak.connect();
    const loggedIn = stream.request(authIq('ghost', 'Work', { password: PASSWORD }));
    friend.stream.socket.write(burst('n', 70));
    assert.equal((await loggedIn).attrs.type, 'result');
    await friend.sync();
    const back = new Client(yak, stream, 'ghost', 'Work');
    back.send('<presence/>');
    const got: string[] = [];
    while (got.length < 90) got.push((await back.next(isMessage)).attrs.id!);
    const expected = [...Array.from({ length: 20 }, (_, i) => `m${i + 1}`), ...Array.from({ length: 70 }, (_, i) => `n${i + 1}`)];
    assert.deepEqual(got, expected);
  } finally {
    await yak.stop();
  }
});

test('two sessions of a user lost at once: a message arriving meanwhile waits for both ends to send theirs again, not only the first to finish', { timeout: 20_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    // A negative priority takes no bare-JID messages: what each end sends
    // again goes to the store, not to the other session.
    await offlineUser(yak, 'ghost');
    const work = await login(yak, 'ghost', 'Work');
    await work.presence('<presence><priority>-1</priority></presence>');
    const home = await login(yak, 'ghost', 'Home');
    await home.presence('<presence><priority>-1</priority></presence>');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost/Work' id='w1'><body>for work</body></message>");
    friend.send("<message to='ghost@localhost/Home' id='h1'><body>for home</body></message>");
    await work.next((e) => e.attrs.id === 'w1');
    await home.next((e) => e.attrs.id === 'h1');
    // Both ends' store writes held (the hold installed last takes the first
    // write, the other the second): n1 arrives while both ends are under
    // way, then the second write's end finishes while the first's still runs.
    const isStore = (_host: string, user: string, ns: string): boolean => user === 'ghost' && ns === 'jabber:x:offline';
    // Installed first, so innermost: counts the writes the holds let through.
    let writes = 0;
    holdCalls(yak.server.xdb, 'update', (host, user, ns) => (isStore(host, user, ns) && writes++, false));
    const secondWrite = holdFirstCall(yak.server.xdb, 'update', isStore);
    const firstWrite = holdFirstCall(yak.server.xdb, 'update', isStore);
    await Promise.all([reset(work), reset(home)]);
    await Promise.all([firstWrite.reached, secondWrite.reached]);
    // friend's stream waits behind n1 meanwhile: no sync.
    friend.send("<message to='ghost@localhost' id='n1'><body>new</body></message>");
    await new Promise((r) => setTimeout(r, 300));
    secondWrite.release();
    await logLine(captured, (l) => l.msg === LOST && String(l.user).startsWith('ghost@'));
    // Long enough for n1 to reach the store if it waited for one end only.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(writes, 1, 'n1 went into the store while an end was still sending again');
    firstWrite.release();
    const got = (await backAgain(yak, 'ghost', 3)).map((m) => m.attrs.id);
    assert.equal(got[2], 'n1', got.join(' '));
  } finally {
    await yak.stop();
  }
});

test("a message to oneself sent again into the store, its offline event for a resource also gone: the session's end does not wait for itself", { timeout: 20_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const work = await onlineUser(yak, 'ghost', 'Work');
    const home = await availableAt(yak, 'Home');
    home.send("<message to='ghost@localhost/Work' id='note'><body>remember</body><x xmlns='jabber:x:event'><offline/></x></message>");
    await work.next((e) => e.name === 'message' && e.attrs.id === 'note');
    await reset(home);
    await logLine(captured, (l) => l.msg === 'connection closed' && l.user === 'ghost@localhost/Home');
    await reset(work);
    await logLine(captured, lostLine('ghost@localhost/Work'));
    const got = await backAgain(yak, 'ghost');
    // (The offline event went nowhere: the store keeps no notices.)
    assert.deepEqual(got.map((m) => m.attrs.id), ['note']);
    assert.equal(got[0]!.getChild('body')?.text(), 'remember');
  } finally {
    await yak.stop();
  }
});

test('two users lost at once, each sent again a message from the other that asked for offline events: neither end waits for the other', { timeout: 20_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    // Sent from their other resources, gone before the two are lost: the offline events go to resources with no session.
    const { alice, bob } = await crossedMessages(yak, { event: true });
    await Promise.all([reset(alice), reset(bob)]);
    await logLine(captured, lostLine('alice@localhost/Work'));
    await logLine(captured, lostLine('bob@localhost/Work'));
    assert.deepEqual((await backAgain(yak, 'alice')).map((m) => m.attrs.id), ['b1']);
    assert.deepEqual((await backAgain(yak, 'bob')).map((m) => m.attrs.id), ['a1']);
  } finally {
    await yak.stop();
  }
});

test('two users lost at once, each sent again a message from the other into a full store: the errors go back without either end waiting for the other', { timeout: 20_000 }, async () => {
  const yak = await startYak({ tweak: (c) => {
      plain(c);
      c.jsm.offlineLimit = 1;
    },
  });
  try {
    const carol = await onlineUser(yak, 'carol');
    // Sent again, carol's fills each store (a write, while the other's end
    // runs too), then the other's finds no room: its error goes back to a
    // resource with no session, of a user whose end is under way.
    const { alice, bob } = await crossedMessages(yak, {
      first: () => {
        for (const to of ['alice', 'bob']) carol.send(`<message to='${to}@localhost/Work' id='c1'><body>hi</body></message>`);
      },
    });
    await Promise.all([reset(alice), reset(bob)]);
    // Both ends run to the end (a login with the same full JID waits for it).
    assert.deepEqual((await backAgain(yak, 'alice')).map((m) => m.attrs.id), ['c1']);
    assert.deepEqual((await backAgain(yak, 'bob')).map((m) => m.attrs.id), ['c1']);
    await carol.nothing(() => true, [], 'carol hears nothing');
  } finally {
    await yak.stop();
  }
});

test('two users lost at once without mod_offline, each sent again a message from the other: the 503s go back without either end waiting for the other', { timeout: 20_000 }, async () => {
  const yak = await startYak({ tweak: (c) => {
      plain(c);
      c.jsm.modules = c.jsm.modules.filter((m) => m !== 'mod_offline');
    },
  });
  try {
    const { alice, bob } = await crossedMessages(yak);
    // Each 503 goes back to a resource with no session, of a user whose end
    // is under way: held until both ends have begun, as with a slow disk.
    const lookups = holdCalls(yak.server.xdb, 'exists', (_host, user) => user === 'alice' || user === 'bob');
    await Promise.all([reset(alice), reset(bob)]);
    await lookups.reached;
    await new Promise((r) => setTimeout(r, 300));
    lookups.release();
    // Both ends run to the end (a login with the same full JID waits for it).
    assert.deepEqual(await backAgain(yak, 'alice'), []);
    assert.deepEqual(await backAgain(yak, 'bob'), []);
  } finally {
    await yak.stop();
  }
});

for (const [kind, rule] of [
  ['bounce messages from the lost user', '<rule><from>alice@localhost</from><error/></rule>'],
  ['forward everything to the lost user', '<rule><forward>alice@localhost</forward></rule>'],
] as const) {
  test(`a message sent again into the store asked for an offline event, and its sender's filter rules ${kind}: what the rule sends does not wait for the end that sent it`, { timeout: 20_000 }, async () => {
    const captured = captureLog();
    const yak = await startYak({ log: captured.log, tweak: plain });
    try {
      const alice = await onlineUser(yak, 'alice');
      const bob = await onlineUser(yak, 'bob', 'Home');
      bob.send("<message to='alice@localhost' id='b1'><body>hi alice</body><x xmlns='jabber:x:event'><offline/><id/></x></message>");
      await alice.next((e) => e.name === 'message' && e.attrs.id === 'b1');
      assert.equal((await bob.request(`<iq type='set' id='fset'><query xmlns='jabber:iq:filter'>${rule}</query></iq>`)).attrs.type, 'result');
      await reset(alice);
      // The end runs to the end (a login with the same full JID waits for it).
      const got = await backAgain(yak, 'alice');
      assert.equal(got[0]?.attrs.id, 'b1', got.join('\n'));
      assert.equal((await logLine(captured, lostLine('alice@localhost/Work'))).messages, 1);
    } finally {
      await yak.stop();
    }
  });
}

test('a client that said goodbye, whose connection then fails while a request of its is still answered, gets nothing sent again', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    const read = holdCalls(yak.server.xdb, 'get', (_host, user, ns) => user === 'ghost' && ns === 'vcard-temp');
    ghost.send("<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>");
    await read.reached;
    // Its goodbye (FIN), then a reset, then a message written to it: the session still ends as one that left on purpose.
    ghost.stream.socket.end();
    await new Promise((r) => setTimeout(r, 100));
    ghost.stream.socket.resetAndDestroy();
    friend.send("<message to='ghost@localhost/Work' id='m1'><body>hi</body></message>");
    await friend.sync();
    read.release();
    // Logged in again with its resource: after the old session's end has run, resend included.
    await backAgain(yak, 'ghost');
    assert.equal(resends(captured), 0);
  } finally {
    await yak.stop();
  }
});

test('a stored message that asked for an offline event, put back after a lost connection, does not tell its sender again', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    await offlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='e1'><body>hi</body><x xmlns='jabber:x:event'><offline/></x></message>");
    assert.ok((await friend.next(isMessage)).getChild('x', 'jabber:x:event')?.getChild('offline'));
    const ghost = await login(yak, 'ghost');
    ghost.send('<presence/>');
    await ghost.next(isMessage);
    await reset(ghost);
    await logLine(captured, lostLine('ghost@localhost/Work'));
    await friend.nothing(() => true, [], 'the sender was told once');
    assert.deepEqual((await backAgain(yak, 'ghost')).map((m) => m.attrs.id), ['e1']);
  } finally {
    await yak.stop();
  }
});

test('without mod_offline, a message a reset session may not have had, with no session to take it, goes back to its sender (503)', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: (c) => {
      plain(c);
      c.jsm.modules = c.jsm.modules.filter((m) => m !== 'mod_offline');
    },
  });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1'><body>hi</body></message>");
    await ghost.next(isMessage);
    await reset(ghost);
    const bounce = await friend.next((e) => e.name === 'message' && e.attrs.type === 'error');
    assert.equal(bounce.attrs.id, 'm1');
    assert.equal(bounce.getChild('error')?.attrs.code, '503');
    assert.equal(resends(captured), 0, 'nothing went anywhere: no resend is logged');
  } finally {
    await yak.stop();
  }
});

test('without mod_offline, a message that waited for a lost session to send again goes to a session of the user available by then, not back to its sender', async () => {
  const yak = await startYak({ tweak: (c) => {
      plain(c);
      c.jsm.modules = c.jsm.modules.filter((m) => m !== 'mod_offline');
    },
  });
  try {
    const work = await onlineUser(yak, 'ghost', 'Work');
    const friend = await onlineUser(yak, 'friend');
    const carol = await onlineUser(yak, 'carol');
    friend.send("<message to='ghost@localhost' id='m1'><body>hi</body></message>");
    await work.next(isMessage);
    // The lost session's end held in its resend (again() asks whether the account exists).
    const lookup = holdFirstCall(yak.server.xdb, 'exists', (_host, user) => user === 'ghost');
    await reset(work);
    await lookup.reached;
    carol.send("<message to='ghost@localhost' id='c1'><body>while it ends</body></message>");
    // Time for c1 to reach the wait (had it not, it would go to Home directly: the test would pass, not fail).
    await new Promise((r) => setTimeout(r, 300));
    const home = await availableAt(yak, 'Home');
    lookup.release();
    await home.next((e) => e.attrs.id === 'c1');
    await carol.nothing((e) => e.attrs.type === 'error', [], 'carol gets no error');
  } finally {
    await yak.stop();
  }
});

test('a lost session whose only message in doubt has expired since logs no resend', async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1'><body>soon gone</body><x xmlns='jabber:x:expire' seconds='1'/></message>");
    await ghost.next(isMessage);
    await new Promise((r) => setTimeout(r, 2_100));
    await reset(ghost);
    assert.deepEqual(await backAgain(yak, 'ghost'), []);
    assert.equal(resends(captured), 0);
  } finally {
    await yak.stop();
  }
});

test('an account removed while a message of its lost session is being put into its store: the message goes nowhere, and its sender hears nothing', { timeout: 20_000 }, async () => {
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    const friend = await onlineUser(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1'><body>hi</body></message>");
    await ghost.next(isMessage);
    const store = holdCalls(yak.server.xdb, 'update', (_host, user, ns) => user === 'ghost' && ns === 'jabber:x:offline');
    await reset(ghost);
    await removeWhileHeld(yak, store, 'ghost');
    await Promise.allSettled(store.results);
    await friend.nothing(() => true, [], 'the sender hears nothing');
    assert.equal(captured.lines.filter((l) => l.msg === 'handler failed').length, 0);
  } finally {
    await yak.stop();
  }
});

test("the offline event of a message sent again, for a sender whose account is gone: its 404 comes back to the lost session's user without waiting for that session's end, which waits for it", { timeout: 20_000 }, async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const alice = await onlineUser(yak, 'alice');
    const bob = await onlineUser(yak, 'bob', 'Home');
    bob.send("<message to='alice@localhost/Work' id='b1'><body>hi alice</body><x xmlns='jabber:x:event'><offline/></x></message>");
    await alice.next((e) => e.name === 'message' && e.attrs.id === 'b1');
    await bob.close();
    await yak.server.jsm.removeUser(yak.host, 'bob');
    await reset(alice);
    // The login waits for the old session's end: it comes. (The 404, a notice, is not stored.)
    assert.deepEqual((await backAgain(yak, 'alice')).map((m) => m.attrs.id), ['b1']);
  } finally {
    await yak.stop();
  }
});
