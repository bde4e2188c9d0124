// Subscription answers for a user with no available session (RFC 3921
// 11.1): the roster changes at once, and the answer itself (an approval, a
// refusal, a cancellation) is kept by mod_offline, stamped, and shown with
// the stored messages at the next available presence. Only the latest
// answer from each contact is kept; a withdrawn request leaves nothing to
// show; without mod_offline nothing is kept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Xdb } from '../src/xdb/xdb.js';
import type { Element } from '../src/xml/element.js';
import { holdFirstCall } from './helpers/latch.js';
import { startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import {
  closeAll,
  isMessage,
  login,
  onlineUser,
  plain,
  sessionEnded,
  spoolRecords,
  subscribeBoth,
  type Client,
} from './helpers/session.js';

const NS_OFFLINE = 'jabber:x:offline';
const isPresence = (e: { name: string }): boolean => e.name === 'presence';
const presenceOfType =
  (type: string) =>
  (e: Element): boolean =>
    isPresence(e) && e.attrs.type === type;

/** The subscription answer as shown later: addressed to the bare JID, with its storage stamp. */
function kept(type: string, from: string, to: string): string {
  return `<presence type='${type}' to='${to}@localhost' from='${from}@localhost'><x xmlns='jabber:x:delay' from='${to}@localhost' stamp='*'>Offline Storage</x></presence>`;
}

/** Ends the client's only session and waits until the server is done with it. */
async function goAway(yak: TestYak, c: Client): Promise<void> {
  const ended = sessionEnded(yak, c.full);
  await c.close();
  await ended;
}

/** `asker` asks `contact` for a subscription, then goes away before any answer. */
async function askAndLeave(yak: TestYak, asker: Client, contact: Client): Promise<void> {
  asker.send(`<presence type='subscribe' to='${contact.bare}'/>`);
  await asker.sync();
  await goAway(yak, asker);
}

/** The subscription presences the user's box holds on disk, as type/from pairs. */
async function keptAnswers(yak: TestYak, user: string): Promise<string[]> {
  const box = (await spoolRecords(yak, user))?.get(NS_OFFLINE);
  return (box?.getChildren('presence') ?? []).map((p) => `${p.attrs.type} ${p.attrs.from}`);
}

describe('subscription answers while away', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  test('an approval that came while the asker was away is shown at its next available presence, stamped, once', async () => {
    const a = await onlineUser(yak, 'awayok1');
    const b = await onlineUser(yak, 'awayok2');
    let back: Client | undefined;
    try {
      await a.roster();
      await askAndLeave(yak, a, b);
      // With a stamp of its own made to look like the server's: the server's goes before it, where readers look first.
      const forged = "<x xmlns='jabber:x:delay' from='awayok1@localhost' stamp='20010101T00:00:00'>Offline Storage</x>";
      b.send(`<presence type='subscribed' to='awayok1@localhost'>${forged}</presence>`);
      await b.sync();
      assert.deepEqual(await keptAnswers(yak, 'awayok1'), ['subscribed awayok2@localhost']);

      back = await login(yak, 'awayok1');
      // The roster already says so; the answer waits for presence.
      assertXml((await back.item('awayok2@localhost'))!, "<item jid='awayok2@localhost' subscription='to'/>");
      await back.nothing(isPresence, [], 'the answer came before presence');
      back.send('<presence/>');
      assertXml(await back.next(presenceOfType('subscribed')), kept('subscribed', 'awayok2', 'awayok1').replace('</presence>', `${forged}</presence>`));
      // And, being subscribed now, the contact's presence.
      await back.next((e) => isPresence(e) && e.attrs.from === 'awayok2@localhost/Work');
      await back.nothing(presenceOfType('subscribed'), [], 'the answer was shown twice');
      assert.deepEqual(await keptAnswers(yak, 'awayok1'), []);
    } finally {
      await closeAll(a, b, back);
    }
  });

  test('a refusal, and a cancellation either way, are kept the same way', async () => {
    // Refused: b never approved.
    const a = await onlineUser(yak, 'awayno1');
    const b = await onlineUser(yak, 'awayno2');
    // Cancelled: c and d saw each other.
    const c = await onlineUser(yak, 'awayno3');
    const d = await onlineUser(yak, 'awayno4');
    const back: Client[] = [];
    try {
      a.send("<presence type='subscribe' to='awayno2@localhost'/>");
      await a.sync();
      await subscribeBoth(c, d);
      await goAway(yak, a);
      await goAway(yak, c);
      b.send("<presence type='unsubscribed' to='awayno1@localhost'/>");
      // d stops seeing c (c had granted 'from') and stops letting c see it.
      d.send("<presence type='unsubscribe' to='awayno3@localhost'/>");
      d.send("<presence type='unsubscribed' to='awayno3@localhost'/>");
      await b.sync();
      await d.sync();
      assert.deepEqual(await keptAnswers(yak, 'awayno1'), ['unsubscribed awayno2@localhost']);
      // Only the latest from one contact: the cancellation of c's own subscription.
      assert.deepEqual(await keptAnswers(yak, 'awayno3'), ['unsubscribed awayno4@localhost']);

      for (const [user, from] of [
        ['awayno1', 'awayno2'],
        ['awayno3', 'awayno4'],
      ] as const) {
        const s = await login(yak, user);
        back.push(s);
        assertXml((await s.item(`${from}@localhost`))!, `<item jid='${from}@localhost' subscription='none'/>`);
        s.send('<presence/>');
        assertXml(await s.next(isPresence), kept('unsubscribed', from, user));
        await s.nothing(isPresence, [], 'more than the latest answer was shown');
      }
    } finally {
      await closeAll(a, b, c, d, ...back);
    }
  });

  test('a cancellation alone (the contact stops seeing the user, nothing else) is kept and shown', async () => {
    const c = await onlineUser(yak, 'awayun1');
    const d = await onlineUser(yak, 'awayun2');
    let back: Client | undefined;
    try {
      await subscribeBoth(c, d);
      await goAway(yak, c);
      d.send("<presence type='unsubscribe' to='awayun1@localhost'/>");
      await d.sync();
      assert.deepEqual(await keptAnswers(yak, 'awayun1'), ['unsubscribe awayun2@localhost']);
      back = await login(yak, 'awayun1');
      back.send('<presence/>');
      assertXml(await back.next(presenceOfType('unsubscribe')), kept('unsubscribe', 'awayun2', 'awayun1'));
      assert.deepEqual(await keptAnswers(yak, 'awayun1'), []);
    } finally {
      await closeAll(c, d, back);
    }
  });

  test('an answer that comes while the user is logged in but has sent no presence waits for it, as for a user away', async () => {
    const a = await onlineUser(yak, 'awaynp1');
    const b = await onlineUser(yak, 'awaynp2');
    let back: Client | undefined;
    try {
      await askAndLeave(yak, a, b);
      back = await login(yak, 'awaynp1');
      b.send("<presence type='subscribed' to='awaynp1@localhost'/>");
      await b.sync();
      await back.nothing(isPresence, [b], 'the answer went to a session that had sent no presence');
      assert.deepEqual(await keptAnswers(yak, 'awaynp1'), ['subscribed awaynp2@localhost']);
      back.send('<presence/>');
      assertXml(await back.next(presenceOfType('subscribed')), kept('subscribed', 'awaynp2', 'awaynp1'));
    } finally {
      await closeAll(a, b, back);
    }
  });

  test('a request withdrawn while the user was away leaves nothing to show', async () => {
    const a = await onlineUser(yak, 'awaywd1');
    const b = await onlineUser(yak, 'awaywd2');
    let back: Client | undefined;
    try {
      await goAway(yak, a);
      b.send("<presence type='subscribe' to='awaywd1@localhost'/>");
      b.send("<presence type='unsubscribe' to='awaywd1@localhost'/>");
      await b.sync();
      assert.deepEqual(await keptAnswers(yak, 'awaywd1'), []);
      back = await login(yak, 'awaywd1');
      back.send('<presence/>');
      await back.nothing(isPresence, [b], 'something about the withdrawn request was shown');
    } finally {
      await closeAll(a, b, back);
    }
  });

  test('a kept answer overtaken since is dropped, not shown: the contact removed, or asked again', async () => {
    const a = await onlineUser(yak, 'awaystale1');
    const b = await onlineUser(yak, 'awaystale2');
    const c = await onlineUser(yak, 'awaystale3');
    let back: Client | undefined;
    try {
      a.send("<presence type='subscribe' to='awaystale3@localhost'/>");
      await askAndLeave(yak, a, b);
      b.send("<presence type='unsubscribed' to='awaystale1@localhost'/>");
      c.send("<presence type='subscribed' to='awaystale1@localhost'/>");
      await b.sync();
      await c.sync();
      assert.deepEqual(await keptAnswers(yak, 'awaystale1'), ['unsubscribed awaystale2@localhost', 'subscribed awaystale3@localhost']);

      // Back, not available yet: b is asked again, c is removed from the roster.
      back = await login(yak, 'awaystale1');
      back.send("<presence type='subscribe' to='awaystale2@localhost'/>");
      await back.request("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='awaystale3@localhost' subscription='remove'/></query></iq>");
      await back.presence();
      await back.nothing((e) => isPresence(e) && /subscribed/.test(e.attrs.type ?? ''), [b, c], 'an answer overtaken since it was kept was shown');
      assert.deepEqual(await keptAnswers(yak, 'awaystale1'), []);
    } finally {
      await closeAll(a, b, c, back);
    }
  });

  test('a session with a negative priority is shown the kept answers at once; the stored messages wait for its priority to rise', async () => {
    const a = await onlineUser(yak, 'awayneg1');
    const b = await onlineUser(yak, 'awayneg2');
    let back: Client | undefined;
    try {
      await askAndLeave(yak, a, b);
      b.send("<message to='awayneg1@localhost' id='m1'><body>later</body></message>");
      b.send("<presence type='subscribed' to='awayneg1@localhost'/>");
      await b.sync();
      back = await login(yak, 'awayneg1');
      back.send('<presence><priority>-1</priority></presence>');
      assertXml(await back.next(presenceOfType('subscribed')), kept('subscribed', 'awayneg2', 'awayneg1'));
      await back.nothing(isMessage, [], 'a stored message went to a negative priority');
      // A newer answer, live, is not followed by the kept one.
      b.send("<presence type='unsubscribed' to='awayneg1@localhost'/>");
      await back.next(presenceOfType('unsubscribed'));
      back.send('<presence><priority>1</priority></presence>');
      assert.equal((await back.next(isMessage)).attrs.id, 'm1');
      await back.nothing((e) => isPresence(e) && /subscribed/.test(e.attrs.type ?? ''), [b], 'an answer was shown again');
      assert.equal((await spoolRecords(yak, 'awayneg1'))!.get(NS_OFFLINE), undefined, 'something stayed stored');
    } finally {
      await closeAll(a, b, back);
    }
  });

  test('kept answers alone, shown to a negative priority: nothing is left of the store', async () => {
    const a = await onlineUser(yak, 'awayonly1');
    const b = await onlineUser(yak, 'awayonly2');
    let back: Client | undefined;
    try {
      await askAndLeave(yak, a, b);
      b.send("<presence type='subscribed' to='awayonly1@localhost'/>");
      await b.sync();
      back = await login(yak, 'awayonly1');
      back.send('<presence><priority>-5</priority></presence>');
      await back.next(presenceOfType('subscribed'));
      await back.sync();
      assert.equal((await spoolRecords(yak, 'awayonly1'))!.get(NS_OFFLINE), undefined, 'an empty store was left in the file');
    } finally {
      await closeAll(a, b, back);
    }
  });

  test('kept answers and stored messages come in the order they arrived', async () => {
    const a = await onlineUser(yak, 'awayorder1');
    const b = await onlineUser(yak, 'awayorder2');
    let back: Client | undefined;
    try {
      await askAndLeave(yak, a, b);
      b.send("<message to='awayorder1@localhost' id='before'><body>one moment</body></message>");
      b.send("<presence type='subscribed' to='awayorder1@localhost'/>");
      b.send("<message to='awayorder1@localhost' id='after'><body>done</body></message>");
      await b.sync();
      back = await login(yak, 'awayorder1');
      back.send('<presence/>');
      const order: string[] = [];
      for (let i = 0; i < 3; i++) {
        const e = await back.next((x) => isMessage(x) || (isPresence(x) && x.attrs.type === 'subscribed'));
        order.push(e.name === 'message' ? e.attrs.id! : e.attrs.type!);
      }
      assert.deepEqual(order, ['before', 'subscribed', 'after']);
    } finally {
      await closeAll(a, b, back);
    }
  });

  // Bounded: on a server that never hands the answer to the store, hold.reached never comes.
  test('a session that becomes available while an answer is being kept is shown it at once, and nothing stays stored', { timeout: 10_000 }, async () => {
    const a = await onlineUser(yak, 'awayrace1');
    const b = await onlineUser(yak, 'awayrace2');
    let back: Client | undefined;
    const xdb = yak.server.xdb as Xdb;
    const hold = holdFirstCall(xdb, 'update', (_host, user, ns) => user === 'awayrace1' && ns === NS_OFFLINE);
    try {
      await askAndLeave(yak, a, b);
      back = await login(yak, 'awayrace1');
      b.send("<presence type='subscribed' to='awayrace1@localhost'/>");
      await hold.reached;
      // Available (and its stored stanzas delivered: none yet) before the answer is written.
      await back.presence();
      hold.release();
      await b.sync();
      assertXml(
        await back.next(presenceOfType('subscribed')),
        "<presence type='subscribed' to='awayrace1@localhost' from='awayrace2@localhost'/>",
      );
      assert.deepEqual(await keptAnswers(yak, 'awayrace1'), []);
    } finally {
      hold.restore();
      await closeAll(a, b, back);
    }
  });
});

describe('subscription answers while away, without mod_offline', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.jsm.modules = c.jsm.modules.filter((m) => m !== 'mod_offline');
      },
    });
  });
  after(() => yak.stop());

  test('are not kept: the roster still changes', async () => {
    const a = await onlineUser(yak, 'nooff1');
    const b = await onlineUser(yak, 'nooff2');
    let back: Client | undefined;
    try {
      await askAndLeave(yak, a, b);
      b.send("<presence type='subscribed' to='nooff1@localhost'/>");
      await b.sync();
      assert.equal((await spoolRecords(yak, 'nooff1'))!.get(NS_OFFLINE), undefined);
      back = await login(yak, 'nooff1');
      assertXml((await back.item('nooff2@localhost'))!, "<item jid='nooff2@localhost' subscription='to'/>");
      back.send('<presence/>');
      await back.nothing(presenceOfType('subscribed'), [b], 'an answer was kept without mod_offline');
    } finally {
      await closeAll(a, b, back);
    }
  });
});
