// SPEC section 8, mod_offline: a message for a user with no available
// session is stored with a jabber:x:delay stamp, delivered in order at the
// first available presence, then removed (also across a server restart);
// jabber:x:expire and the jabber:x:event offline notice are honoured; a
// per-user cap refuses more with an error to the sender, never silently;
// and a message arriving while the recipient's session is closing is
// stored, not lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostDirName, userFileName } from '../src/xdb/file-names.js';
import { RecentPairEvents } from '../src/jsm/recent-pair-events.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { holdCalls, holdFirstCall, latch } from './helpers/latch.js';
import type { YakConfig } from '../src/config/types.js';
import type { Element } from '../src/xml/element.js';
import { addUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, isMessage, login, offlineUser, onlineUser, PASSWORD, plain, spoolRecords, STAMP, xml, type Client } from './helpers/session.js';

const NS_OFFLINE = 'jabber:x:offline';
const delay = (user: string): string => `<x xmlns='jabber:x:delay' from='${user}@localhost' stamp='*'>Offline Storage</x>`;

/** The next `n` messages, in arrival order. */
async function messages(c: Client, n: number): Promise<Element[]> {
  const out: Element[] = [];
  for (let i = 0; i < n; i++) out.push(await c.next(isMessage));
  return out;
}

/**
 * Waits for the clock's next second to begin and returns it (Unix
 * seconds): what the test does next lands within that second, so a
 * message planted with exactly 0 seconds left still has exactly 0 when
 * the server looks. (Should a slow machine cross into the next second,
 * the message has less than 0 left, and the test still passes.)
 */
async function startOfSecond(): Promise<number> {
  await sleep(1010 - (Date.now() % 1000));
  return Math.floor(Date.now() / 1000);
}

/** A stored message from `from` with jabber:x:expire bookkeeping as mod_offline writes it. */
function expiring(to: string, from: string, id: string, seconds: number, stored: number): string {
  return `<message to='${to}@localhost' from='${from}' id='${id}'><body>${id}</body><x xmlns='jabber:x:expire' seconds='${seconds}' stored='${stored}'/></message>`;
}

function withLimit(limit: number): (c: YakConfig) => void {
  return (c) => {
    plain(c);
    c.jsm.offlineLimit = limit;
  };
}

describe('mod_offline', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  test('stored with a stamp, delivered in order at the first available presence, then removed', async () => {
    await offlineUser(yak, 'box1');
    const sender = await onlineUser(yak, 'box2');
    try {
      sender.send("<message to='box1@localhost' id='m1'><body>first</body></message>");
      sender.send("<message to='box1@localhost' id='m2' type='chat'><body>second</body><thread>t1</thread></message>");
      sender.send("<message to='box1@localhost/Gone' id='m3'><subject>third</subject><body>3</body></message>");
      sender.send("<message to='box1@localhost' id='m4' type='error'><body>x</body><error code='404'>Not Found</error></message>");
      // A stamp of the sender's own, made to look like the server's: the server's goes before it, where readers look first.
      const forged = "<x xmlns='jabber:x:delay' from='box1@localhost' stamp='20010101T00:00:00'>Offline Storage</x>";
      sender.send(`<message to='box1@localhost' id='m5'>${forged}<body>fifth</body></message>`);
      // Written with a prefix, which namespace-aware readers take the same way.
      const prefixed = "<d:x xmlns:d='jabber:x:delay' stamp='20010101T00:00:00'>Offline Storage</d:x>";
      sender.send(`<message to='box1@localhost' id='m6'><body>sixth</body>${prefixed}</message>`);
      await sender.nothing(isMessage, [], 'the sender got an answer');

      // On disk, in the 1.4 layout (SPEC section 6).
      const box = (await spoolRecords(yak, 'box1'))!.get(NS_OFFLINE)!;
      assert.equal(box.name, 'foo');
      assert.deepEqual(box.attrs, { xmlns: NS_OFFLINE });
      assert.deepEqual(
        box.getChildren('message').map((m) => m.attrs.id),
        ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'],
      );

      const work = await login(yak, 'box1');
      try {
        await work.nothing(isMessage, [], 'stored messages came before presence');
        work.send('<presence/>');
        const got = await messages(work, 6);
        assertXml(got[0]!, `<message to='box1@localhost' id='m1' from='box2@localhost/Work'><body>first</body>${delay('box1')}</message>`);
        assertXml(
          got[1]!,
          `<message to='box1@localhost' id='m2' type='chat' from='box2@localhost/Work'><body>second</body><thread>t1</thread>${delay('box1')}</message>`,
        );
        assertXml(
          got[2]!,
          `<message to='box1@localhost/Gone' id='m3' from='box2@localhost/Work'><subject>third</subject><body>3</body>${delay('box1')}</message>`,
        );
        assertXml(
          got[3]!,
          `<message to='box1@localhost' id='m4' type='error' from='box2@localhost/Work'><body>x</body><error code='404'>Not Found</error>${delay('box1')}</message>`,
        );
        assertXml(got[4]!, `<message to='box1@localhost' id='m5' from='box2@localhost/Work'>${delay('box1')}${forged}<body>fifth</body></message>`);
        assertXml(got[5]!, `<message to='box1@localhost' id='m6' from='box2@localhost/Work'><body>sixth</body>${delay('box1')}${prefixed}</message>`);
        for (const m of got) assert.match(m.getChild('x', 'jabber:x:delay')!.attrs.stamp!, STAMP);
        assert.notEqual(got[4]!.getChild('x', 'jabber:x:delay')!.attrs.stamp, '20010101T00:00:00');
        assert.equal((await spoolRecords(yak, 'box1'))!.get(NS_OFFLINE), undefined, 'delivered messages stayed on disk');

        // Another resource coming online gets nothing: they were delivered once.
        const home = await login(yak, 'box1', 'Home');
        try {
          await home.presence();
          await home.nothing(isMessage, [], 'stored messages delivered twice');
        } finally {
          await home.close();
        }
      } finally {
        await work.close();
      }
    } finally {
      await sender.close();
    }
  });

  test('a session with a negative priority gets stored messages once its priority rises to 0 or more', async () => {
    await offlineUser(yak, 'neg1');
    const sender = await onlineUser(yak, 'neg2');
    try {
      sender.send("<message to='neg1@localhost' id='n1'><body>waiting</body></message>");
      await sender.nothing(isMessage, [], 'the sender got an answer');
      const low = await login(yak, 'neg1');
      try {
        low.send('<presence><priority>-1</priority></presence>');
        await low.nothing(isMessage, [], 'delivered to a negative priority');
        low.send('<presence><priority>1</priority></presence>');
        const [m] = await messages(low, 1);
        assert.equal(m!.attrs.id, 'n1');
        low.send('<presence><priority>2</priority></presence>');
        await low.nothing(isMessage, [], 'delivered twice');
      } finally {
        await low.close();
      }
    } finally {
      await sender.close();
    }
  });

  // Bounded: on a server that never stores the message, hold.reached never comes.
  test('a message on its way into the store when a session becomes deliverable goes to that session, not into the store until the next login', { timeout: 10_000 }, async () => {
    await offlineUser(yak, 'race1');
    const sender = await onlineUser(yak, 'race2');
    const xdb = yak.server.xdb as Xdb;
    const hold = holdFirstCall(xdb, 'update', (_host, user, ns) => user === 'race1' && ns === NS_OFFLINE);
    let c: Client | undefined;
    try {
      c = await login(yak, 'race1');
      sender.send("<message to='race1@localhost' id='r1'><body>just in time</body></message>");
      await hold.reached;
      // Deliverable, and its delivery of the store (empty so far) done, before the message is written.
      await c.presence();
      hold.release();
      await sender.nothing(isMessage, [], 'the sender got an answer');
      const [m] = await messages(c, 1);
      assertXml(m!, "<message to='race1@localhost' id='r1' from='race2@localhost/Work'><body>just in time</body></message>");
      assert.equal((await spoolRecords(yak, 'race1'))!.get(NS_OFFLINE), undefined, 'the message stayed stored');
    } finally {
      hold.restore();
      await closeAll(sender, c);
    }
  });

  test('an invisible first presence is available too: the stored messages come (1.4 js_online took both)', async () => {
    await offlineUser(yak, 'inv1');
    const sender = await onlineUser(yak, 'inv2');
    try {
      sender.send("<message to='inv1@localhost' id='i1'><body>while you hide</body></message>");
      await sender.nothing(isMessage, [], 'the sender got an answer');
      const c = await login(yak, 'inv1');
      try {
        c.send("<presence type='invisible'/>");
        const [m] = await messages(c, 1);
        assertXml(m!, `<message to='inv1@localhost' id='i1' from='inv2@localhost/Work'><body>while you hide</body>${delay('inv1')}</message>`);
        assert.equal((await spoolRecords(yak, 'inv1'))!.get(NS_OFFLINE), undefined, 'delivered messages stayed on disk');
      } finally {
        await c.close();
      }
    } finally {
      await sender.close();
    }
  });

  test('headlines are dropped, groupchat refused with 503, unknown users 404, unknown types stored as normal', async () => {
    await offlineUser(yak, 'types1');
    const sender = await onlineUser(yak, 'types2');
    try {
      sender.send("<message to='types1@localhost' type='headline' id='h1'><body>news</body></message>");
      await sender.nothing(isMessage, [], 'a headline was answered');
      // An event notice is news of the moment too: not stored, not answered.
      sender.send("<message to='types1@localhost' type='chat' id='ev1'><x xmlns='jabber:x:event'><composing/><id>m1</id></x></message>");
      await sender.nothing(isMessage, [], 'an event notice was answered');
      // So is a chat state with nothing else to say (XEP-0085's standalone notification, XEP-0160); one with a body is a message.
      const state = (name: string): string => `<${name} xmlns='http://jabber.org/protocol/chatstates'/>`;
      sender.send(`<message to='types1@localhost' type='chat' id='cs1'>${state('composing')}<thread>t1</thread></message>`);
      sender.send(`<message to='types1@localhost' type='chat' id='cs2'>${state('gone')}</message>`);
      sender.send(`<message to='types1@localhost' type='chat' id='cs3'>${state('active')}<body>said</body></message>`);
      // However they are written.
      sender.send("<message to='types1@localhost' type='chat' id='cs4'><cs:composing xmlns:cs='http://jabber.org/protocol/chatstates'/></message>");
      sender.send("<message to='types1@localhost' type='chat' id='ev2'><e:x xmlns:e='jabber:x:event'><e:composing/><e:id>m0</e:id></e:x></message>");
      // An <id/> without the prefix in a prefixed <e:x> is not the event's: a request, so a message.
      sender.send("<message to='types1@localhost' type='chat' id='ev4'><e:x xmlns:e='jabber:x:event'><e:composing/><id/></e:x></message>");
      // A body a client may show makes a notice a message, even in another namespace (xmpp4r and libstrophe show it).
      sender.send("<message to='types1@localhost' type='chat' id='ev5'><body xmlns='urn:decoy'>call me</body><x xmlns='jabber:x:event'><composing/><id>m0</id></x></message>");
      // And a chat state is one by its namespace, not by an xmlns beside another prefix's.
      sender.send("<message to='types1@localhost' type='chat' id='cs5'><cs:active xmlns:cs='urn:other' xmlns='http://jabber.org/protocol/chatstates'/></message>");
      // An event request on a message with a body is a message.
      sender.send("<message to='types1@localhost' type='chat' id='ev3'><body>call me</body><x xmlns='jabber:x:event'><composing/><id>m0</id></x></message>");
      await sender.nothing(isMessage, [], 'a chat state notice was answered');
      sender.send("<message to='types1@localhost' type='groupchat' id='g1'><body>room</body></message>");
      assertXml(
        await sender.next(isMessage),
        "<message to='types2@localhost/Work' from='types1@localhost' type='error' id='g1'><body>room</body>" +
          "<error code='503' type='cancel'>Service Unavailable</error></message>",
      );
      // A type nobody defined is a normal message (RFC 3921 2.1.1), stored as 1.4 stored it.
      sender.send("<message to='types1@localhost' type='foo' id='u1'><body>odd</body></message>");
      sender.send("<message to='types1@localhost' type='' id='u2'><body>empty</body></message>");
      await sender.nothing(isMessage, [], 'a message of an unknown type was refused');
      const c = await login(yak, 'types1');
      try {
        await c.presence();
        assert.deepEqual(
          (await messages(c, 7)).map((m) => m.attrs.id),
          ['cs3', 'ev4', 'ev5', 'cs5', 'ev3', 'u1', 'u2'],
        );
        await c.nothing(isMessage, [], 'a headline, notice or groupchat message was stored');
      } finally {
        await c.close();
      }
      // A headline for nobody is bounced like any other message.
      sender.send("<message to='nobody-at-all@localhost' type='headline' id='h2'><body>news</body></message>");
      assertXml(
        await sender.next(isMessage),
        "<message to='types2@localhost/Work' from='nobody-at-all@localhost' type='error' id='h2'><body>news</body>" +
          "<error code='404' type='cancel'>Not Found</error></message>",
      );
    } finally {
      await sender.close();
    }
  });

  test('jabber:x:expire without a usable number of seconds: kept, and delivered without our bookkeeping', async () => {
    await offlineUser(yak, 'badexp1');
    const sender = await onlineUser(yak, 'badexp2');
    try {
      sender.send("<message to='badexp1@localhost' id='e1'><body>when?</body><x xmlns='jabber:x:expire' seconds='abc'/></message>");
      await sender.sync();
    } finally {
      await sender.close();
    }
    const c = await login(yak, 'badexp1');
    try {
      c.send('<presence/>');
      assertXml(
        await c.next(isMessage),
        `<message to='badexp1@localhost' id='e1' from='badexp2@localhost/Work'><body>when?</body><x xmlns='jabber:x:expire' seconds='abc'/>${delay('badexp1')}</message>`,
      );
    } finally {
      await c.close();
    }
  });

  test('jabber:x:expire: a message already expired (seconds 0 or less) is not stored: no offline event, a 503 as 1.4 bounced it', async () => {
    await offlineUser(yak, 'deadexp1');
    const sender = await onlineUser(yak, 'deadexp2');
    const expire = (id: string, seconds: string): string =>
      `<message to='deadexp1@localhost' id='${id}'><body>${id}</body><x xmlns='jabber:x:event'><offline/></x><x xmlns='jabber:x:expire' seconds='${seconds}'/></message>`;
    try {
      sender.send(expire('d1', '0'));
      sender.send(expire('d2', '-5'));
      sender.send(expire('d3', ' 0 '));
      sender.send(expire('d4', '-99999999999999999999999999'));
      // One of two says it is over (the other no whole number): as 1.4, which read the plain one.
      sender.send("<message to='deadexp1@localhost' id='d5'><body>d5</body><x xmlns='jabber:x:event'><offline/></x><e:x xmlns:e='jabber:x:expire' seconds='abc'/><x xmlns='jabber:x:expire' seconds='0'/></message>");
      // Kept: time left, a number too large to run out, and values that are no whole number.
      sender.send(expire('k1', ' 30 '));
      sender.send(expire('k2', '99999999999999999999999999'));
      sender.send(expire('k3', ''));
      sender.send(expire('k4', '1.5'));
      const kept = ['k1', 'k2', 'k3', 'k4'];
      for (const id of ['d1', 'd2', 'd3', 'd4', 'd5']) {
        const bounce = await sender.next(isMessage);
        assert.deepEqual([bounce.attrs.type, bounce.attrs.id, bounce.attrs.from], ['error', id, 'deadexp1@localhost'], bounce.toString());
        assert.equal(bounce.getChild('error')?.attrs.code, '503', bounce.toString());
      }
      for (const id of kept) {
        assertXml(await sender.next(isMessage), `<message from='deadexp1@localhost' to='deadexp2@localhost/Work' id='${id}'><x xmlns='jabber:x:event'><offline/><id>${id}</id></x></message>`);
      }
      await sender.nothing(isMessage, [], 'an expired message was answered');
      const box = (await spoolRecords(yak, 'deadexp1'))!.get(NS_OFFLINE)!;
      assert.deepEqual(box.getChildren('message').map((m) => m.attrs.id), kept);
      // Bookkeeping only where there is something to count down.
      assert.deepEqual(
        box.getChildren('message').map((m) => m.getChild('x', 'jabber:x:expire')!.attrs.stored !== undefined),
        [true, false, false, false],
      );
    } finally {
      await sender.close();
    }
    const c = await login(yak, 'deadexp1');
    try {
      c.send('<presence/>');
      const got = await messages(c, 4);
      assert.deepEqual(got.map((m) => m.attrs.id), ['k1', 'k2', 'k3', 'k4']);
      const left = Number(got[0]!.getChild('x', 'jabber:x:expire')!.attrs.seconds);
      assert.ok(left > 0 && left <= 30, `seconds left: ${left}`);
      assert.deepEqual(
        got.slice(1).map((m) => m.getChild('x', 'jabber:x:expire')!.toString()),
        [
          "<x xmlns='jabber:x:expire' seconds='99999999999999999999999999'/>",
          "<x xmlns='jabber:x:expire' seconds=''/>",
          "<x xmlns='jabber:x:expire' seconds='1.5'/>",
        ],
      );
      await c.nothing(isMessage, [], 'an expired message was delivered');
    } finally {
      await c.close();
    }
  });

  test('jabber:x:event: the sender who asked hears that the message went offline (as 1.4 said it: from the address used, with the id and type)', async () => {
    await offlineUser(yak, 'ev1');
    const sender = await onlineUser(yak, 'ev2');
    try {
      sender.send("<message to='ev1@localhost' id='e1'><body>hi</body><x xmlns='jabber:x:event'><offline/><delivered/></x></message>");
      assertXml(
        await sender.next(isMessage),
        "<message from='ev1@localhost' to='ev2@localhost/Work' id='e1'><x xmlns='jabber:x:event'><offline/><id>e1</id></x></message>",
      );
      sender.send("<message to='ev1@localhost/Desk' id='e5' type='chat'><body>hi</body><x xmlns='jabber:x:event'><offline/></x></message>");
      assertXml(
        await sender.next(isMessage),
        "<message from='ev1@localhost/Desk' to='ev2@localhost/Work' id='e5' type='chat'><x xmlns='jabber:x:event'><offline/><id>e5</id></x></message>",
      );
      // Asked for with a prefix: the same.
      sender.send("<message to='ev1@localhost' id='e4'><body>hi</body><e:x xmlns:e='jabber:x:event'><e:offline/></e:x></message>");
      assertXml(
        await sender.next(isMessage),
        "<message from='ev1@localhost' to='ev2@localhost/Work' id='e4'><x xmlns='jabber:x:event'><offline/><id>e4</id></x></message>",
      );
      // Not asked for: no notice.
      sender.send("<message to='ev1@localhost' id='e2'><body>plain</body><x xmlns='jabber:x:event'><composing/></x></message>");
      sender.send("<message to='ev1@localhost' id='e3'><body>plain</body></message>");
      await sender.nothing(isMessage, [], 'an offline notice nobody asked for');

      const c = await login(yak, 'ev1');
      try {
        c.send('<presence/>');
        const got = await messages(c, 5);
        assertXml(
          got[0]!,
          "<message to='ev1@localhost' id='e1' from='ev2@localhost/Work'><body>hi</body>" +
            `<x xmlns='jabber:x:event'><offline/><delivered/></x>${delay('ev1')}</message>`,
        );
        assert.deepEqual(got.map((m) => m.attrs.id), ['e1', 'e5', 'e4', 'e2', 'e3']);
        // Online now: the message is delivered, so no offline notice.
        sender.send("<message to='ev1@localhost' id='e4'><body>now</body><x xmlns='jabber:x:event'><offline/></x></message>");
        await c.next(isMessage);
        await sender.nothing(isMessage, [], 'an offline notice for a delivered message');
      } finally {
        await c.close();
      }
    } finally {
      await sender.close();
    }
  });

  test('jabber:x:event: an error that carries an offline request is stored, and no notice goes back to its sender', async () => {
    await offlineUser(yak, 'everr1');
    const sender = await onlineUser(yak, 'everr2');
    try {
      // An error carries back the message it refuses, request for events
      // included: that <offline/> was asked by whoever wrote the message, not
      // by the error's sender, and an error is never answered.
      sender.send(
        "<message to='everr1@localhost' id='x1' type='error'><body>x</body><x xmlns='jabber:x:event'><offline/></x>" +
          "<error code='404'>Not Found</error></message>",
      );
      await sender.nothing(isMessage, [], 'an error was answered with an offline notice');
      assert.deepEqual(
        (await spoolRecords(yak, 'everr1'))!.get(NS_OFFLINE)!.getChildren('message').map((m) => m.attrs.id),
        ['x1'],
      );
      const c = await login(yak, 'everr1');
      try {
        c.send('<presence/>');
        assertXml(
          await c.next(isMessage),
          "<message to='everr1@localhost' id='x1' type='error' from='everr2@localhost/Work'><body>x</body><x xmlns='jabber:x:event'><offline/></x>" +
            `<error code='404'>Not Found</error>${delay('everr1')}</message>`,
        );
        await c.nothing(isMessage, [], 'more than the stored error');
      } finally {
        await c.close();
      }
    } finally {
      await sender.close();
    }
  });

  test('a message arriving while the recipient’s session is closing is stored, not lost', async () => {
    const recipient = await onlineUser(yak, 'closing1');
    const sender = await onlineUser(yak, 'closing2');
    // Hold the recipient's session in its session-end phase (first in the
    // chain) while the messages arrive, as a slow spool write would.
    const { promise: holding, open: held } = latch();
    const { promise: released, open: release } = latch();
    yak.server.jsm.chains.add(
      'session-end',
      'test-hold',
      async (s) => {
        if (s.user !== 'closing1') return;
        held();
        await released;
      },
      { priority: 1000 },
    );
    try {
      await recipient.drop();
      await holding;
      sender.send("<message to='closing1@localhost' id='c1'><body>bare</body></message>");
      sender.send("<message to='closing1@localhost/Work' id='c2'><body>full</body></message>");
      await sender.sync();
      release();
      await sender.nothing(isMessage, [], 'the sender got an answer');
      const again = await login(yak, 'closing1');
      try {
        again.send('<presence/>');
        const got = await messages(again, 2);
        assertXml(got[0]!, `<message to='closing1@localhost' id='c1' from='closing2@localhost/Work'><body>bare</body>${delay('closing1')}</message>`);
        assertXml(got[1]!, `<message to='closing1@localhost/Work' id='c2' from='closing2@localhost/Work'><body>full</body>${delay('closing1')}</message>`);
      } finally {
        await again.close();
      }
    } finally {
      release();
      await sender.close();
    }
  });
});

describe('mod_offline: a message with no time left (jabber:x:expire)', () => {
  test('one with exactly 0 seconds left is not delivered: its time is up', async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'zero1');
      const c = await login(yak, 'zero1');
      try {
        const now = await startOfSecond();
        await yak.server.xdb.update(yak.host, 'zero1', NS_OFFLINE, () =>
          xml(`<foo xmlns='${NS_OFFLINE}'>${expiring('zero1', 'a@localhost/x', 'gone', 60, now - 60)}<message to='zero1@localhost' from='a@localhost/x' id='kept'><body>kept</body></message></foo>`),
        );
        c.send('<presence/>');
        assert.equal((await c.next(isMessage)).attrs.id, 'kept');
        await c.nothing(isMessage, [], 'a message whose time was up was delivered');
      } finally {
        await c.close();
      }
    } finally {
      await yak.stop();
    }
  });

  test('one with exactly 0 seconds left takes no room: a store for one message takes the next', async () => {
    const yak = await startYak({ tweak: withLimit(1) });
    try {
      await offlineUser(yak, 'zero2');
      const friend = await onlineUser(yak, 'zero3');
      try {
        const now = await startOfSecond();
        await yak.server.xdb.update(yak.host, 'zero2', NS_OFFLINE, () =>
          xml(`<foo xmlns='${NS_OFFLINE}'>${expiring('zero2', 'a@localhost/x', 'gone', 60, now - 60)}</foo>`),
        );
        friend.send("<message to='zero2@localhost' id='f1'><body>still there?</body></message>");
        await friend.nothing(isMessage, [], 'refused for a message whose time was up');
        assert.deepEqual(
          (await spoolRecords(yak, 'zero2'))!.get(NS_OFFLINE)!.getChildren('message').map((m) => m.attrs.id),
          ['f1'],
        );
      } finally {
        await friend.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('mod_offline: a sender\'s XEP-0203 delay', () => {
  test("a sender's own urn:xmpp:delay gets the server's in that form before it, where newer clients look first; the legacy stamp as always", async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'x203a');
      const sender = await onlineUser(yak, 'x203b');
      try {
        const forged = "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='2001-01-01T00:00:00Z'>Offline Storage</delay>";
        sender.send(`<message to='x203a@localhost' id='d1'><body>hi</body>${forged}</message>`);
        // Written with a prefix: namespace-aware readers take it the same way.
        const prefixed = "<d:delay xmlns:d='urn:xmpp:delay' stamp='2001-01-01T00:00:00Z'/>";
        sender.send(`<message to='x203a@localhost' id='d2'>${prefixed}<body>there</body></message>`);
        await sender.sync();
        const c = await login(yak, 'x203a');
        try {
          c.send('<presence/>');
          const [d1, d2] = await messages(c, 2);
          const ours = "<delay xmlns='urn:xmpp:delay' from='x203a@localhost' stamp='*'>Offline Storage</delay>";
          assertXml(d1!, `<message to='x203a@localhost' id='d1' from='x203b@localhost/Work'><body>hi</body>${ours}${forged}${delay('x203a')}</message>`);
          assertXml(d2!, `<message to='x203a@localhost' id='d2' from='x203b@localhost/Work'>${ours}${prefixed}<body>there</body>${delay('x203a')}</message>`);
          for (const m of [d1!, d2!]) {
            const legacy = m.getChild('x', 'jabber:x:delay')!.attrs.stamp!;
            const modern = m.getChild('delay', 'urn:xmpp:delay')!.attrs.stamp!;
            assert.match(legacy, STAMP);
            assert.equal(modern, `${legacy.slice(0, 4)}-${legacy.slice(4, 6)}-${legacy.slice(6, 8)}T${legacy.slice(9)}Z`);
          }
        } finally {
          await c.close();
        }
      } finally {
        await sender.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('mod_offline: time counted down from what the sender gave, never more', () => {
  test('stored while the wall clock was ahead (stepped back since): delivered with the seconds sent, not more; a stored time that is no number counts nothing down', async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'ahead1');
      const c = await login(yak, 'ahead1');
      try {
        const now = Math.floor(Date.now() / 1000);
        await yak.server.xdb.update(yak.host, 'ahead1', NS_OFFLINE, () =>
          xml(
            `<foo xmlns='${NS_OFFLINE}'>${expiring('ahead1', 'a@localhost/x', 'ahead', 60, now + 7200)}` +
              `<message to='ahead1@localhost' from='a@localhost/x' id='blank'><body>blank</body><x xmlns='jabber:x:expire' seconds='60' stored=''/></message></foo>`,
          ),
        );
        c.send('<presence/>');
        for (const id of ['ahead', 'blank']) {
          const m = await c.next(isMessage);
          assert.equal(m.attrs.id, id);
          assert.deepEqual(m.getChild('x', 'jabber:x:expire')!.attrs, { xmlns: 'jabber:x:expire', seconds: '60' }, id);
        }
      } finally {
        await c.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('RecentPairEvents', () => {
  test('an expired message counts for its sender for an hour after it was stored: at 3600 seconds no longer', () => {
    const r = new RecentPairEvents(3600);
    r.note('u@localhost', 's@localhost', 1000, 1010);
    assert.equal(r.count('u@localhost', 's@localhost', 1000 + 3599), 1);
    assert.equal(r.count('u@localhost', 's@localhost', 1000 + 3600), 0);
    // The same for those found expired in the store being changed.
    assert.equal(r.count('u@localhost', 'other@localhost', 1000 + 3599, [1000]), 1);
    assert.equal(r.count('u@localhost', 'other@localhost', 1000 + 3600, [1000]), 0);
  });
});

describe('mod_offline across restarts', () => {
  let spool: string;
  before(async () => {
    spool = await mkdtemp(path.join(os.tmpdir(), 'yak-offline-'));
  });
  after(() => rm(spool, { recursive: true, force: true }));

  /** Runs `fn` against a server on the shared spool, stopping it whatever happens. */
  async function withServer(fn: (yak: TestYak) => Promise<void>): Promise<void> {
    const yak = await startYak({ spool, tweak: plain });
    try {
      await fn(yak);
    } finally {
      await yak.stop();
    }
  }

  test('stored messages survive a restart and are delivered once, not again after the next one', async () => {
    await withServer(async (yak) => {
      await offlineUser(yak, 'rs1');
      const sender = await onlineUser(yak, 'rs2');
      try {
        sender.send("<message to='rs1@localhost' id='r1'><body>before restart 1</body></message>");
        sender.send("<message to='rs1@localhost' id='r2'><body>before restart 2</body></message>");
        await sender.sync();
      } finally {
        await sender.close();
      }
    });
    await withServer(async (yak) => {
      const c = await login(yak, 'rs1');
      try {
        c.send('<presence/>');
        const got = await messages(c, 2);
        assertXml(got[0]!, `<message to='rs1@localhost' id='r1' from='rs2@localhost/Work'><body>before restart 1</body>${delay('rs1')}</message>`);
        assertXml(got[1]!, `<message to='rs1@localhost' id='r2' from='rs2@localhost/Work'><body>before restart 2</body>${delay('rs1')}</message>`);
      } finally {
        await c.close();
      }
    });
    await withServer(async (yak) => {
      const c = await login(yak, 'rs1');
      try {
        await c.presence();
        await c.nothing(isMessage, [], 'messages delivered again after a restart');
      } finally {
        await c.close();
      }
    });
  });

  test('jabber:x:expire: an expired message is dropped, the others get the time they have left', async () => {
    await withServer(async (yak) => {
      await offlineUser(yak, 'exp1');
      const sender = await onlineUser(yak, 'exp2');
      try {
        sender.send("<message to='exp1@localhost' id='x1'><body>short</body><x xmlns='jabber:x:expire' seconds='60'/></message>");
        sender.send("<message to='exp1@localhost' id='x2'><body>long</body><x xmlns='jabber:x:expire' seconds='3600'/></message>");
        sender.send("<message to='exp1@localhost' id='x3'><body>forever</body></message>");
        // Written with a prefix, as a namespace-aware client reads it the same.
        sender.send("<message to='exp1@localhost' id='x4'><body>short too</body><e:x xmlns:e='jabber:x:expire' seconds='60'/></message>");
        sender.send("<message to='exp1@localhost' id='x5'><body>long too</body><e:x xmlns:e='jabber:x:expire' seconds='3600'/></message>");
        // Two of them: each reader may take another, so the shortest holds and each counts down.
        sender.send("<message to='exp1@localhost' id='x6'><body>two</body><x xmlns='jabber:x:expire' seconds='3600'/><e:x xmlns:e='jabber:x:expire' seconds='60'/></message>");
        sender.send("<message to='exp1@localhost' id='x7'><body>two long</body><x xmlns='jabber:x:expire' seconds='3600'/><e:x xmlns:e='jabber:x:expire' seconds='1800'/></message>");
        await sender.sync();
      } finally {
        await sender.close();
      }
    });
    // Two minutes pass, as far as the spool can tell: the short one is past its time.
    const file = path.join(spool, hostDirName('localhost'), userFileName('exp1'));
    const text = await readFile(file, 'utf8');
    const past = Math.floor(Date.now() / 1000) - 120;
    const edited = text.replace(/stored='\d+'/g, `stored='${past}'`);
    assert.equal(edited.match(/stored='/g)?.length, 8, `expected eight expire records in ${text}`);
    await writeFile(file, edited);

    await withServer(async (yak) => {
      const c = await login(yak, 'exp1');
      try {
        c.send('<presence/>');
        const got = await messages(c, 4);
        assertXml(
          got[0]!,
          `<message to='exp1@localhost' id='x2' from='exp2@localhost/Work'><body>long</body><x xmlns='jabber:x:expire' seconds='*'/>${delay('exp1')}</message>`,
        );
        const left = Number(got[0]!.getChild('x', 'jabber:x:expire')!.attrs.seconds);
        assert.ok(left > 0 && left <= 3600 - 120, `seconds left: ${left}`);
        assert.equal(got[1]!.attrs.id, 'x3');
        assertXml(
          got[2]!,
          `<message to='exp1@localhost' id='x5' from='exp2@localhost/Work'><body>long too</body><e:x xmlns:e='jabber:x:expire' seconds='*'/>${delay('exp1')}</message>`,
        );
        const leftPrefixed = Number(got[2]!.getChild('e:x')!.attrs.seconds);
        assert.ok(leftPrefixed > 0 && leftPrefixed <= 3600 - 120, `seconds left: ${leftPrefixed}`);
        assertXml(
          got[3]!,
          `<message to='exp1@localhost' id='x7' from='exp2@localhost/Work'><body>two long</body><x xmlns='jabber:x:expire' seconds='*'/><e:x xmlns:e='jabber:x:expire' seconds='*'/>${delay('exp1')}</message>`,
        );
        const [plainLeft, prefixedLeft] = [Number(got[3]!.getChild('x', 'jabber:x:expire')!.attrs.seconds), Number(got[3]!.getChild('e:x')!.attrs.seconds)];
        assert.ok(plainLeft > 1800 && plainLeft <= 3600 - 120 && prefixedLeft > 0 && prefixedLeft <= 1800 - 120, `seconds left: ${plainLeft}, ${prefixedLeft}`);
        await c.nothing(isMessage, [], 'an expired message was delivered');
      } finally {
        await c.close();
      }
    });
  });
});

describe('mod_offline: a backlog delivered in batches', () => {
  test('jabber:x:expire: a message left stored after a batch keeps its bookkeeping on disk as it was stored', async () => {
    // A send buffer of 64 KiB: batches of at most 32 KiB, under 30 of these messages.
    const yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.c2s.limits.outputBytes = 64 * 1024;
      },
    });
    const xdb = yak.server.xdb as Xdb;
    const N = 40;
    // Stored ten minutes ago, for an hour.
    const storedAt = Math.floor(Date.now() / 1000) - 600;
    const planted = (i: number): string =>
      `<message to='pace1@localhost' from='x@localhost/r' id='p${i}'><body>${'m'.repeat(1000)}</body>` +
      `<x xmlns='jabber:x:expire' seconds='3600' stored='${storedAt}'/></message>`;
    let batches = 0;
    try {
      await offlineUser(yak, 'pace1');
      await xdb.update(yak.host, 'pace1', NS_OFFLINE, () =>
        xml(`<foo xmlns='${NS_OFFLINE}'>${Array.from({ length: N }, (_, i) => planted(i)).join('')}</foo>`),
      );
      // The second batch waits while the test reads what the first left on disk.
      // (A batch is one set() of the box: it reads the roster with it, under the same lock, for kept answers.)
      const hold = holdCalls(xdb, 'set', (_host, user, records) => user === 'pace1' && typeof records === 'function' && ++batches >= 2);
      try {
        const c = await login(yak, 'pace1');
        try {
          c.send('<presence/>');
          await hold.reached;
          const left = (await spoolRecords(yak, 'pace1'))!.get(NS_OFFLINE)!.getChildren('message');
          const sent = N - left.length;
          assert.ok(sent > 0 && left.length > 0, `one batch took ${sent} of ${N}`);
          // Exactly as planted: the batch worked out their seconds left (and
          // their `to`) on copies. Written back changed, the one that did not
          // fit lost its `stored` time, and with it any chance to expire.
          left.forEach((m, j) => assertXml(m, planted(sent + j)));
          hold.release();
          const got = await messages(c, N);
          assert.deepEqual(
            got.map((m) => m.attrs.id),
            Array.from({ length: N }, (_, i) => `p${i}`),
          );
          // Delivered with the time they have left, counted from when they were stored.
          for (const m of got) {
            const x = m.getChild('x', 'jabber:x:expire')!;
            assert.equal(x.attrs.stored, undefined, m.toString());
            const seconds = Number(x.attrs.seconds);
            assert.ok(seconds > 0 && seconds <= 3600 - 600, `seconds left: ${seconds}`);
          }
        } finally {
          await c.close();
        }
      } finally {
        hold.release();
        hold.restore();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('mod_offline limit', () => {
  test('beyond <mod_offline><limit>, the sender gets an error; nothing is dropped silently', async () => {
    const yak = await startYak({ tweak: withLimit(3) });
    try {
      await offlineUser(yak, 'cap1');
      // One message each: a sender's share of a store for 3 is 1 (see below).
      const senders: Client[] = [];
      for (const n of [2, 3, 4, 5]) senders.push(await onlineUser(yak, `cap${n}`));
      const last = senders[3]!;
      try {
        for (let i = 1; i <= 3; i++) {
          senders[i - 1]!.send(`<message to='cap1@localhost' id='c${i}'><body>${i}</body></message>`);
          await senders[i - 1]!.nothing(isMessage, [], `c${i} was refused`);
        }
        for (const i of [4, 5]) last.send(`<message to='cap1@localhost' id='c${i}'><body>${i}</body></message>`);
        for (const i of [4, 5]) {
          assertXml(
            await last.next((e) => e.attrs.id === `c${i}`),
            `<message to='cap5@localhost/Work' from='cap1@localhost' id='c${i}' type='error'><body>${i}</body>` +
              "<error code='503' type='cancel'>*</error></message>",
          );
        }
        await last.nothing(isMessage, [], 'more errors than refused messages');
        const c = await login(yak, 'cap1');
        try {
          c.send('<presence/>');
          assert.deepEqual((await messages(c, 3)).map((m) => m.attrs.id), ['c1', 'c2', 'c3']);
          await c.nothing(isMessage, [], 'a refused message was stored');
        } finally {
          await c.close();
        }
        // Delivered messages free the box.
        senders[0]!.send("<message to='cap1@localhost' id='c6'><body>6</body></message>");
        await senders[0]!.nothing(isMessage, [], 'an emptied box refused a message');
      } finally {
        await closeAll(...senders);
      }
    } finally {
      await yak.stop();
    }
  });

  test('messages past their jabber:x:expire take no room from anyone; their sender’s share counts them for an hour after they were stored', async () => {
    // A store for 4: each sender may keep 1 in it.
    const yak = await startYak({ tweak: withLimit(4) });
    try {
      await offlineUser(yak, 'cap6');
      const bot = await onlineUser(yak, 'cap7');
      const friend = await onlineUser(yak, 'cap8');
      const stranger = await onlineUser(yak, 'cap9');
      try {
        // A full store, all expired: the bot's notice and two others' stored two hours ago,
        // and the stranger's stored half a minute ago, for ten seconds.
        const now = Math.floor(Date.now() / 1000);
        // (The stranger's written with a prefix, as a client may send it.)
        const old = (from: string, id: string, stored: number, seconds: number, x = 'x'): string =>
          `<message to='cap6@localhost' from='${from}' id='${id}'><body>${id}</body><${x} xmlns${x === 'x' ? '' : `:${x.split(':')[0]}`}='jabber:x:expire' seconds='${seconds}' stored='${stored}'/></message>`;
        await yak.server.xdb.update(yak.host, 'cap6', NS_OFFLINE, () =>
          xml(
            `<foo xmlns='${NS_OFFLINE}'>${old('cap7@localhost/Work', 'old1', now - 7200, 60)}${old('a@localhost/x', 'old2', now - 7200, 60)}` +
              `${old('b@localhost/x', 'old3', now - 7200, 60)}${old('cap9@localhost/Work', 'old4', now - 30, 10, 'e:x')}</foo>`,
          ),
        );
        // Nobody will ever read those: the friend and the bot are still heard.
        friend.send("<message to='cap6@localhost' id='f1'><body>still there?</body></message>");
        await friend.nothing(isMessage, [], 'refused for messages that have expired');
        bot.send("<message to='cap6@localhost' id='b1'><body>new notice</body></message>");
        await bot.nothing(isMessage, [], 'refused for its share of messages that expired long ago');
        // The stranger's expired message still counts: otherwise messages that expire at once
        // would each drop the last and rewrite the whole file, without end.
        stranger.send("<message to='cap6@localhost' id='e1'><body>e1</body><x xmlns='jabber:x:expire' seconds='1'/></message>");
        assertXml(
          await stranger.next(isMessage),
          "<message to='cap9@localhost/Work' from='cap6@localhost' id='e1' type='error'><body>e1</body><x xmlns='jabber:x:expire' seconds='1'/>" +
            "<error code='503' type='cancel'>Offline Storage Full</error></message>",
        );
        const c = await login(yak, 'cap6');
        try {
          c.send('<presence/>');
          assert.deepEqual((await messages(c, 2)).map((m) => m.attrs.id), ['f1', 'b1']);
          await c.nothing(isMessage, [], 'an expired or refused message was delivered');
        } finally {
          await c.close();
        }
      } finally {
        await closeAll(bot, friend, stranger);
      }
    } finally {
      await yak.stop();
    }
  });

  test('a message that expires while stored still fills its sender’s share when the store dropping it is the sender’s own next', { timeout: 30_000 }, async () => {
    // A store for 4: the sender may keep 1 in it.
    const yak = await startYak({ tweak: withLimit(4) });
    // The second sender puts a `stored` of its own on another expire
    // element, dating it before the hour its expired message counts for.
    const forged = "<x xmlns='jabber:x:expire' seconds='none' stored='1'/>";
    const pairs = [['own1', 'own2', ''], ['own3', 'own4', forged]] as const;
    const senders: Client[] = [];
    try {
      for (const [to, from] of pairs) {
        await offlineUser(yak, to);
        senders.push(await onlineUser(yak, from));
      }
      for (const [i, [to, , extra]] of pairs.entries()) {
        senders[i]!.send(`<message to='${to}@localhost' id='e1'><body>e1</body>${extra}<x xmlns='jabber:x:expire' seconds='1'/></message>`);
        await senders[i]!.nothing(isMessage, [], 'the first message was refused');
      }
      // Past its second: the next store drops it, and counts it for this sender.
      await sleep(2000);
      for (const [i, [to, from]] of pairs.entries()) {
        senders[i]!.send(`<message to='${to}@localhost' id='e2'><body>e2</body></message>`);
        assertXml(
          await senders[i]!.next(isMessage),
          `<message to='${from}@localhost/Work' from='${to}@localhost' id='e2' type='error'><body>e2</body>` +
            "<error code='503' type='cancel'>Offline Storage Full</error></message>",
        );
      }
    } finally {
      await closeAll(...senders);
      await yak.stop();
    }
  });

  test('an expired message counts once for its sender, when a store drops it: refused stores by others do not count it again', async () => {
    // A store for 8: each sender may keep 2 in it.
    const yak = await startYak({ tweak: withLimit(8) });
    try {
      await offlineUser(yak, 'twice1');
      const stranger = await onlineUser(yak, 'twice2');
      const friend = await onlineUser(yak, 'twice3');
      try {
        // The friend's message, stored half a minute ago for ten seconds, and the stranger's full share.
        const now = Math.floor(Date.now() / 1000);
        const msg = (from: string, id: string, x = ''): string => `<message to='twice1@localhost' from='${from}' id='${id}'><body>${id}</body>${x}</message>`;
        await yak.server.xdb.update(yak.host, 'twice1', NS_OFFLINE, () =>
          xml(
            `<foo xmlns='${NS_OFFLINE}'>${msg('twice3@localhost/Work', 'f0', `<x xmlns='jabber:x:expire' seconds='10' stored='${now - 30}'/>`)}` +
              `${msg('twice2@localhost/Work', 's0')}${msg('twice2@localhost/Work', 's1')}</foo>`,
          ),
        );
        // Refused: the file is left as it was, the friend's expired message still in it.
        for (const id of ['s2', 's3']) {
          stranger.send(`<message to='twice1@localhost' id='${id}'><body>${id}</body></message>`);
          assert.equal((await stranger.next(isMessage)).getChild('error')?.attrs.code, '503', id);
        }
        // The friend's expired message is one of its two: its next one is taken.
        friend.send("<message to='twice1@localhost' id='f1'><body>f1</body></message>");
        await friend.nothing(isMessage, [], 'refused: its expired message was counted more than once');
      } finally {
        await closeAll(stranger, friend);
      }
    } finally {
      await yak.stop();
    }
  });

  test("a message that would take the recipient's file over <maxfilesize> gets 503 Offline Storage Full", async () => {
    const cap = 8192;
    const yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.maxFileBytes = cap;
      },
    });
    try {
      await offlineUser(yak, 'big1');
      // One message each: a sender's share of this file is 2 KiB (see below).
      const senders: Client[] = [];
      for (let n = 2; n <= 9; n++) senders.push(await onlineUser(yak, `big${n}`));
      const file = path.join(yak.spool, hostDirName('localhost'), userFileName('big1'));
      try {
        // Far below the message count limit: the bytes are what runs out.
        const body = 'x'.repeat(1500);
        const stored: string[] = [];
        for (let i = 1; i <= 8; i++) {
          const sender = senders[i - 1]!;
          sender.send(`<message to='big1@localhost' id='b${i}'><body>${body}</body></message>`);
          await sender.sync();
          const refused = await sender.next((e) => e.attrs.id === `b${i}`, 1).catch(() => undefined);
          if (!refused) {
            assert.equal(stored.length, i - 1, `b${i} was stored after a refusal`);
            stored.push(`b${i}`);
            continue;
          }
          assertXml(
            refused,
            `<message to='big${i + 1}@localhost/Work' from='big1@localhost' id='b${i}' type='error'><body>${body}</body>` +
              "<error code='503' type='cancel'>Offline Storage Full</error></message>",
          );
        }
        assert.ok(stored.length >= 2 && stored.length < 8, String(stored));
        await yak.server.xdb.flush();
        assert.ok((await stat(file)).size <= cap, 'the file grew beyond the cap');
        // The senders' streams are fine (no stream error), and the recipient gets what was stored.
        for (const sender of senders) await sender.sync();
        const c = await login(yak, 'big1');
        try {
          c.send('<presence/>');
          assert.deepEqual((await messages(c, stored.length)).map((m) => m.attrs.id), stored);
          await c.nothing(isMessage, [], 'a refused message was stored');
        } finally {
          await c.close();
        }
        // Delivered messages free the file.
        const last = senders[7]!;
        last.send(`<message to='big1@localhost' id='again'><body>${body}</body></message>`);
        await last.nothing(isMessage, [], 'an emptied file refused a message');
      } finally {
        await closeAll(...senders);
      }
    } finally {
      await yak.stop();
    }
  });

  test('the default limit is 1,000 messages', async () => {
    // Storing a thousand messages one by one takes a thousand durable
    // writes; the spool is the interface, so the full box is written there.
    const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-offline-'));
    try {
      let yak = await startYak({ spool, tweak: plain });
      try {
        await offlineUser(yak, 'full1');
        await offlineUser(yak, 'full2');
      } finally {
        await yak.stop();
      }
      for (const [user, count] of [['full1', 1000], ['full2', 999]] as const) {
        const file = path.join(spool, hostDirName('localhost'), userFileName(user));
        const stored = Array.from(
          { length: count },
          (_, i) => `<message to='${user}@localhost' from='x@localhost/r' id='s${i}'><body>${i}</body></message>`,
        ).join('');
        const text = await readFile(file, 'utf8');
        await writeFile(file, text.replace('</xdb>', `<foo xmlns='${NS_OFFLINE}' xdbns='${NS_OFFLINE}'>${stored}</foo></xdb>`));
      }
      yak = await startYak({ spool, tweak: plain });
      try {
        const sender = await onlineUser(yak, 'full3');
        try {
          sender.send("<message to='full1@localhost' id='over'><body>one too many</body></message>");
          assertXml(
            await sender.next(isMessage),
            "<message to='full3@localhost/Work' from='full1@localhost' id='over' type='error'><body>one too many</body>" +
              "<error code='503' type='cancel'>*</error></message>",
          );
          sender.send("<message to='full2@localhost' id='last'><body>just fits</body></message>");
          await sender.nothing(isMessage, [], 'the thousandth message was refused');
          assert.equal((await spoolRecords(yak, 'full2'))!.get(NS_OFFLINE)!.getChildren('message').length, 1000);
        } finally {
          await sender.close();
        }
      } finally {
        await yak.stop();
      }
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  });
});

describe("mod_offline: each sender's share of the store", () => {
  const refusal = (to: string, from: string, id: string, body: string): string =>
    `<message to='${to}' from='${from}' id='${id}' type='error'><body>${body}</body><error code='503' type='cancel'>Offline Storage Full</error></message>`;

  test('a stranger over its quarter of the messages gets 503; a friend, an admin and the server are still stored and delivered at login', async () => {
    // A store for 12: each sender may keep 3 in it.
    const yak = await startYak({
      tweak: (c) => {
        withLimit(12)(c);
        c.jsm.admin.write = ['boss@localhost'];
      },
    });
    try {
      await offlineUser(yak, 'share1');
      const stranger = await onlineUser(yak, 'stranger');
      const friend = await onlineUser(yak, 'friend');
      // An admin's name is refused in-band: made as jabberctl adduser makes it.
      await addUser(yak, 'boss', PASSWORD);
      const boss = await login(yak, 'boss');
      await boss.presence();
      await boss.clear();
      try {
        // The stranger tries to fill the whole store...
        for (let i = 1; i <= 12; i++) stranger.send(`<message to='share1@localhost' id='s${i}'><body>s${i}</body></message>`);
        await stranger.sync();
        // ...but a friend's message is still stored,
        friend.send("<message to='share1@localhost' id='f1'><body>f1</body></message>");
        await friend.nothing(isMessage, [], "the friend's message was refused");
        // and the stranger heard that all but its 3 were not.
        for (let i = 4; i <= 12; i++) assertXml(await stranger.next(isMessage), refusal('stranger@localhost/Work', 'share1@localhost', `s${i}`, `s${i}`));
        await stranger.nothing(isMessage, [], 'more refusals than messages over the share');
        // Neither an admin nor the server itself is held to a share.
        for (let i = 1; i <= 4; i++) boss.send(`<message to='share1@localhost' id='b${i}'><body>b${i}</body></message>`);
        await boss.nothing(isMessage, [], "an admin's message was refused");
        for (let i = 1; i <= 4; i++) await yak.server.jsm.router.route(xml(`<message from='localhost' to='share1@localhost' id='h${i}'><body>h${i}</body></message>`));
        // The store is now full (12): its limit still holds for everyone.
        friend.send("<message to='share1@localhost' id='f2'><body>f2</body></message>");
        assertXml(await friend.next((e) => e.attrs.id === 'f2'), refusal('friend@localhost/Work', 'share1@localhost', 'f2', 'f2'));

        const c = await login(yak, 'share1');
        try {
          c.send('<presence/>');
          assert.deepEqual(
            (await messages(c, 12)).map((m) => m.attrs.id),
            ['s1', 's2', 's3', 'f1', 'b1', 'b2', 'b3', 'b4', 'h1', 'h2', 'h3', 'h4'],
          );
          await c.nothing(isMessage, [], 'a refused message was stored');
        } finally {
          await c.close();
        }
        // Delivered, they free the stranger's share too.
        stranger.send("<message to='share1@localhost' id='s6'><body>s6</body></message>");
        await stranger.nothing(isMessage, [], 'an emptied store refused the stranger');
      } finally {
        await closeAll(stranger, friend, boss);
      }
    } finally {
      await yak.stop();
    }
  });

  test('by default a sender keeps at most 250 messages, and a quarter of <maxfilesize> (256 KiB) in bytes; its first message is taken whatever its size', async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'share2');
      await offlineUser(yak, 'share3');
      const stranger = await onlineUser(yak, 'stranger');
      const friend = await onlineUser(yak, 'friend');
      try {
        // 249 from the stranger already stored (one by one would take 249 durable writes).
        await yak.server.xdb.update(yak.host, 'share2', NS_OFFLINE, () =>
          xml(`<foo xmlns='${NS_OFFLINE}'>${Array.from({ length: 249 }, (_, i) => `<message to='share2@localhost' from='stranger@localhost/Old' id='p${i}'><body>${i}</body></message>`).join('')}</foo>`),
        );
        stranger.send("<message to='share2@localhost' id='n250'><body>250</body></message>");
        stranger.send("<message to='share2@localhost' id='n251'><body>251</body></message>");
        assertXml(await stranger.next(isMessage), refusal('stranger@localhost/Work', 'share2@localhost', 'n251', '251'));
        await stranger.nothing(isMessage, [], 'the 250th message was refused');
        friend.send("<message to='share2@localhost' id='f'><body>hello</body></message>");
        await friend.nothing(isMessage, [], "the friend's message was refused");
        const box = (await spoolRecords(yak, 'share2'))!.get(NS_OFFLINE)!.getChildren('message');
        assert.equal(box.length, 251);
        assert.deepEqual(box.slice(-2).map((m) => m.attrs.id), ['n250', 'f']);

        // Bytes: four 60 KB messages fit in 256 KiB, a fifth does not.
        const body = 'x'.repeat(60_000);
        for (let i = 1; i <= 5; i++) stranger.send(`<message to='share3@localhost' id='k${i}'><body>${body}</body></message>`);
        assertXml(await stranger.next(isMessage), refusal('stranger@localhost/Work', 'share3@localhost', 'k5', body));
        await stranger.nothing(isMessage, [], 'fewer than four 60 KB messages were stored');
        // A first message larger than the share (280,000 bytes as UTF-8) is taken; a second is not.
        const large = '\u00e9'.repeat(140_000);
        friend.send(`<message to='share3@localhost' id='g1'><body>${large}</body></message>`);
        await friend.nothing(isMessage, [], "the friend's first message was refused");
        friend.send("<message to='share3@localhost' id='g2'><body>more</body></message>");
        assertXml(await friend.next(isMessage), refusal('friend@localhost/Work', 'share3@localhost', 'g2', 'more'));

        const c = await login(yak, 'share3');
        try {
          c.send('<presence/>');
          assert.deepEqual((await messages(c, 5)).map((m) => m.attrs.id), ['k1', 'k2', 'k3', 'k4', 'g1']);
          await c.nothing(isMessage, [], 'a refused message was stored');
        } finally {
          await c.close();
        }
      } finally {
        await closeAll(stranger, friend);
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('mod_offline and an account removed meanwhile', () => {
  test('a message stored for a user removed after the look: bounced 404, and no file is made', async () => {
    const yak = await startYak({ tweak: plain });
    const sender = await onlineUser(yak, 'sender9');
    await offlineUser(yak, 'gone9');
    const xdb = yak.server.xdb as Xdb;
    const exists = xdb.exists.bind(xdb);
    // Every look at gone9 answers, then waits until the account is gone.
    const { promise: lookedAt, open: looked } = latch();
    const { promise: removed, open: release } = latch();
    xdb.exists = async (host, user) => {
      const there = await exists(host, user);
      if (user === 'gone9') {
        looked();
        await removed;
      }
      return there;
    };
    try {
      sender.send("<message to='gone9@localhost' id='late'><body>hello</body></message>");
      await lookedAt;
      await yak.server.jsm.removeUser('localhost', 'gone9');
      release();
      const bounce = await sender.next(isMessage);
      assert.equal(bounce.attrs.type, 'error', bounce.toString());
      assert.equal(bounce.getChild('error')?.attrs.code, '404');
      assert.equal(await spoolRecords(yak, 'gone9'), undefined);
    } finally {
      xdb.exists = exists;
      await closeAll(sender);
      await yak.stop();
    }
  });

  test('a message arriving while the account is being removed (its file still there): bounced 404, not stored and lost with the file', async () => {
    const yak = await startYak({ tweak: plain });
    const sender = await onlineUser(yak, 'sender10');
    await offlineUser(yak, 'gone10');
    const xdb = yak.server.xdb as Xdb;
    // The removal waits with its sessions ended and contacts told, the file not yet deleted.
    const hold = holdCalls(xdb, 'remove', (_host, user) => user === 'gone10');
    try {
      const removal = yak.server.jsm.removeUser('localhost', 'gone10');
      await hold.reached;
      sender.send("<message to='gone10@localhost' id='gap'><body>hello</body></message>");
      const bounce = await sender.next(isMessage);
      assert.equal(bounce.attrs.type, 'error', bounce.toString());
      assert.equal(bounce.getChild('error')?.attrs.code, '404');
      hold.release();
      await removal;
      assert.equal(await spoolRecords(yak, 'gone10'), undefined);
    } finally {
      hold.restore();
      await closeAll(sender);
      await yak.stop();
    }
  });
});
