// SPEC section 8, mod_presence: initial presence (probes to contacts,
// broadcast to subscribers), updates, directed and invisible presence,
// unavailable broadcast whenever a session ends (presence, logout,
// disconnect, replaced, account removed), and probes answered only for
// trusted contacts. A stranger never sees anything.
import { after, before, describe, test } from 'node:test';
import { startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, login, newUser, NS_ROSTER, onlineUser, plain, receiveAll, subscribeBoth, type Client } from './helpers/session.js';
import { holdCalls, holdFirstCall } from './helpers/latch.js';
import assert from 'node:assert/strict';
import { parseJid } from '../src/jid.js';
import type { ModuleApi, PhaseHandlers } from '../src/jsm/api.js';
import { modPresence } from '../src/jsm/modules/mod_presence.js';
import type { Session } from '../src/jsm/sessions.js';
import { parseXml } from '../src/xml/parse.js';
import { Element } from '../src/xml/element.js';

const isPresence = (e: { name: string }): boolean => e.name === 'presence';

describe('mod_presence', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  /** a and b subscribed both ways, c a stranger; all three available. */
  async function trio(prefix: string): Promise<{ a: Client; b: Client; c: Client }> {
    const a = await onlineUser(yak, `${prefix}a`);
    const b = await onlineUser(yak, `${prefix}b`);
    const c = await onlineUser(yak, `${prefix}c`);
    await subscribeBoth(a, b);
    return { a, b, c };
  }

  test('initial presence: broadcast to subscribers, contacts probed, own resources told, strangers not', async () => {
    const { a, b, c } = await trio('init');
    const home = await login(yak, 'inita', 'Home');
    try {
      await home.presence('<presence><status>at home</status></presence>');
      await a.close();
      // Once both heard that Work went, its session has ended.
      await b.next("<presence type='unavailable' from='inita@localhost/Work' to='initb@localhost'><status>Disconnected</status></presence>");
      await home.next("<presence type='unavailable' from='inita@localhost/Work' to='inita@localhost/Home'><status>Disconnected</status></presence>");
      // With a stamp of b's own: the server's, when it answers a probe, goes before it (readers take the first).
      const own = "<x xmlns='jabber:x:delay' stamp='20010101T00:00:00'/>";
      await b.presence(`<presence><show>away</show><status>out</status>${own}</presence>`);
      await home.clear();
      await b.clear();

      const work = await login(yak, 'inita', 'Work');
      try {
        work.send('<presence><status>hello</status><priority>1</priority></presence>');
        await receiveAll(work, [
          // The probe of b answered with b's current presence.
          `<presence from='initb@localhost/Work' to='inita@localhost/Work'><show>away</show><status>out</status><x xmlns='jabber:x:delay' from='initb@localhost/Work' stamp='*'/>${own}</presence>`,
          // The user's other available resource.
          "<presence from='inita@localhost/Home' to='inita@localhost/Work'><status>at home</status><x xmlns='jabber:x:delay' from='inita@localhost/Home' stamp='*'/></presence>",
        ]);
        assertXml(
          await b.next(isPresence),
          "<presence from='inita@localhost/Work' to='initb@localhost'><status>hello</status><priority>1</priority></presence>",
        );
        assertXml(
          await home.next(isPresence),
          "<presence from='inita@localhost/Work' to='inita@localhost/Home'><status>hello</status><priority>1</priority></presence>",
        );
        await c.nothing(isPresence, [work], 'a stranger saw the presence');
        await b.nothing(isPresence, [], 'b got more than one presence');
      } finally {
        await work.close();
      }
    } finally {
      await closeAll(a, b, c, home);
    }
  });

  test('a cancelled subscription: whoever no longer sees the other gets its unavailable presence', async () => {
    const { a, b, c } = await trio('cancel');
    try {
      // a stops letting b see it (RFC 3921 8.2.1)...
      a.send("<presence type='unsubscribed' to='cancelb@localhost'/>");
      await b.next("<presence type='unavailable' from='cancela@localhost/Work' to='cancelb@localhost'/>");
      // ...then stops watching b (8.4): b's sessions say goodbye to a.
      a.send("<presence type='unsubscribe' to='cancelb@localhost'/>");
      await a.next("<presence type='unavailable' from='cancelb@localhost/Work' to='cancela@localhost'/>");
      await c.nothing(isPresence, [a, b], 'a stranger heard about it');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('a presence to hundreds of subscribers is sent in batches, other work of the event loop running in between', async () => {
    const star = await newUser(yak, 'star');
    // 600 subscribers (offline: copies are made and routed all the same).
    const items = Array.from({ length: 600 }, (_, i) => `<item jid='fan${i}@localhost' subscription='from'/>`).join('');
    await yak.server.jsm.xdb.set('localhost', 'star', { 'jabber:iq:roster': parseXml(`<query xmlns='jabber:iq:roster'>${items}</query>`) });
    // Which turn of the event loop each copy is routed in.
    let turn = 0;
    let counting = true;
    const tick = (): void => {
      turn++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const turns = new Set<number>();
    const router = yak.server.jsm.router as unknown as { route: (stanza: Element, ...rest: unknown[]) => unknown };
    const route = router.route;
    router.route = function (stanza, ...rest) {
      if (stanza.name === 'presence' && stanza.attrs.to?.startsWith('fan')) turns.add(turn);
      return route.call(this, stanza, ...rest);
    };
    try {
      await star.presence();
      await star.sync();
      assert.ok(turns.size >= 3, `600 copies made in ${turns.size} turn(s)`);
    } finally {
      router.route = route;
      counting = false;
      await star.close();
    }
  });

  test('a subscription cancelled while a presence goes out in batches: that contact gets no copy after its unavailable', async () => {
    const star = await newUser(yak, 'idol');
    const fan = await onlineUser(yak, 'exfan');
    try {
      fan.send("<presence type='subscribe' to='idol@localhost'/>");
      await fan.sync();
      star.send("<presence type='subscribed' to='exfan@localhost'/>");
      await star.sync();
      await fan.sync();
      // 5,000 subscribers before exfan: its copy comes in the twentieth batch, long after its cancellation is stored.
      const roster = (await yak.server.jsm.xdb.get('localhost', 'idol', 'jabber:iq:roster'))!;
      const fans = Array.from({ length: 5000 }, (_, i) => `<item jid='crowd${i}@localhost' subscription='from'/>`).join('');
      const items = roster.elements.map((e) => e.toString()).join('');
      await yak.server.jsm.xdb.set('localhost', 'idol', { 'jabber:iq:roster': parseXml(`<query xmlns='jabber:iq:roster'>${fans}${items}</query>`) });
      await fan.clear();
      // exfan cancels as the first batch goes out.
      const router = yak.server.jsm.router as unknown as { route: (stanza: Element, ...rest: unknown[]) => unknown };
      const route = router.route;
      router.route = function (stanza, ...rest) {
        if (stanza.name === 'presence' && stanza.attrs.to === 'crowd10@localhost') fan.send("<presence type='unsubscribe' to='idol@localhost'/>");
        return route.call(this, stanza, ...rest);
      };
      try {
        star.send('<presence><status>here</status></presence>');
        await star.sync();
        await fan.sync();
      } finally {
        router.route = route;
      }
      // Everything came before the barrier: a short wait ends the list.
      const seen: string[] = [];
      for (;;) {
        const e = await fan.next((x) => x.name === 'presence' && x.attrs.from?.startsWith('idol@') === true, 50).catch(() => undefined);
        if (!e) break;
        seen.push(e.attrs.type ?? 'available');
      }
      assert.equal(seen.at(-1), 'unavailable', `exfan saw ${seen.join(', ')}`);
    } finally {
      await closeAll(star, fan);
    }
  });

  test('an update reaches subscribers only', async () => {
    const { a, b, c } = await trio('upd');
    try {
      a.send('<presence><show>dnd</show><status>busy</status></presence>');
      assertXml(
        await b.next(isPresence),
        "<presence from='upda@localhost/Work' to='updb@localhost'><show>dnd</show><status>busy</status></presence>",
      );
      await c.nothing(isPresence, [a], 'a stranger saw the update');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('presence to your own bare JID is your presence (1.4 took such a `to` for none): contacts see it, it does not come back to you', async () => {
    const { a, b, c } = await trio('ownto');
    try {
      a.send("<presence to='owntoa@localhost'><show>away</show><status>back soon</status></presence>");
      assertXml(
        await b.next(isPresence),
        "<presence from='owntoa@localhost/Work' to='owntob@localhost'><show>away</show><status>back soon</status></presence>",
      );
      await a.nothing(isPresence, [b], 'the presence came back to its sender');
      a.send("<presence to='OwnToA@localhost' type='unavailable'><status>gone</status></presence>");
      assertXml(await b.next(isPresence), "<presence type='unavailable' from='owntoa@localhost/Work' to='owntob@localhost'><status>gone</status></presence>");
      // No longer available: a message to the bare JID is stored, not delivered.
      b.send("<message to='owntoa@localhost' id='m1'><body>later</body></message>");
      await a.nothing((e) => e.name === 'message', [b], 'a message reached the session that had left');
      await c.nothing(isPresence, [a], 'a stranger saw the presence');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('a presence without to whose type is no availability (error, probe, subscribe, unknown) is no update: nothing is broadcast', async () => {
    const { a, b, c } = await trio('odd');
    try {
      for (const type of ['error', 'probe', 'subscribe', 'subscribed', 'bogus']) a.send(`<presence type='${type}'><status>${type}</status></presence>`);
      await b.nothing(isPresence, [a], 'a subscriber was sent it as an update');
      // The presence that stands is still the last real one: a probe is answered with it.
      b.send("<presence type='probe' to='odda@localhost'/>");
      assertXml(await b.next(isPresence), "<presence from='odda@localhost/Work' to='oddb@localhost/Work'><x xmlns='jabber:x:delay' from='odda@localhost/Work' stamp='*'/></presence>");
      await c.nothing(isPresence, [a, b], 'a stranger saw something');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('a presence over 16 KiB, or over 200 elements, attributes and texts, is bounced 406, neither broadcast nor kept', async () => {
    const { a, b, c } = await trio('big');
    try {
      const error = "<error code='406' type='modify'>Presence Too Large</error>";
      // Addressed to the session, as the session manager's errors are; a
      // `from` the client made up is not echoed.
      a.send(`<presence id='long' from='forged@elsewhere'><status>${'x'.repeat(16 * 1024)}</status></presence>`);
      assertXml(await a.next(isPresence), `<presence id='long' type='error' to='biga@localhost/Work'>${error}</presence>`);
      a.send(`<presence id='dense' to='bigb@localhost'>${'<x/>'.repeat(200)}</presence>`);
      assertXml(await a.next(isPresence), `<presence id='dense' type='error' from='bigb@localhost' to='biga@localhost/Work'>${error}</presence>`);
      // Measured as sent, too: escaped, each ' takes six characters.
      a.stream.sendRaw(`<presence id='quoted'><status>${"'".repeat(3000)}</status></presence>`);
      assertXml(await a.next(isPresence), `<presence id='quoted' type='error' to='biga@localhost/Work'>${error}</presence>`);
      await b.nothing(isPresence, [a], 'a presence too large was passed on');
      // Sent before login too: bounced with no address, as every reply before a session.
      const early = await yak.connect();
      early.sendRaw(`<presence id='early' to='bigb@localhost' from='forged@elsewhere'><status>${'x'.repeat(16 * 1024)}</status></presence>`);
      assertXml(await early.next(isPresence), `<presence id='early' type='error'>${error}</presence>`);
      early.socket.destroy();
      // What b sees on a probe is still a's last presence that was taken.
      a.send('<presence><status>small</status></presence>');
      assertXml(await b.next(isPresence), "<presence from='biga@localhost/Work' to='bigb@localhost'><status>small</status></presence>");
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('a priority outside -128..127 is clamped, one that is no integer is 0: contacts see what routing uses', async () => {
    const { a: work, b, c } = await trio('prio');
    const home = await login(yak, 'prioa', 'Home');
    const bare = (id: string): string => `<message to='prioa@localhost' id='${id}'><body>${id}</body></message>`;
    const isMsg = (e: { name: string }): boolean => e.name === 'message';
    try {
      await home.presence('<presence><priority>126</priority></presence>');
      await home.clear();
      await b.clear();
      work.send('<presence><priority>300</priority></presence>');
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Work' to='priob@localhost'><priority>127</priority></presence>");
      assertXml(await home.next(isPresence), "<presence from='prioa@localhost/Work' to='prioa@localhost/Home'><priority>127</priority></presence>");
      b.send(bare('m1'));
      assertXml(await work.next(isMsg), `<message to='prioa@localhost' id='m1' from='priob@localhost/Work'><body>m1</body></message>`);

      // Below -128: -128, so bare-JID messages go to the other resource.
      work.send('<presence><priority>-500</priority></presence>');
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Work' to='priob@localhost'><priority>-128</priority></presence>");
      b.send(bare('m2'));
      await home.next((e) => isMsg(e) && e.attrs.id === 'm2');

      // Not an integer: 0, whatever digits it starts with; a second <priority> is dropped.
      work.send('<presence><priority> 3 </priority></presence>');
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Work' to='priob@localhost'><priority>3</priority></presence>");
      home.send('<presence><priority>5abc</priority><priority>100</priority></presence>');
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Home' to='priob@localhost'><priority>0</priority></presence>");
      b.send(bare('m3'));
      await work.next((e) => isMsg(e) && e.attrs.id === 'm3');
      home.send('<presence><priority>high</priority></presence>');
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Home' to='priob@localhost'><priority>0</priority></presence>");
      await home.nothing(isMsg, [b, work], 'a bare-JID message went to the lower priority');

      // However it is written: a prefixed <priority> is the priority to the contacts' clients, clamped too.
      home.send("<presence><p:priority xmlns:p='jabber:client'>300</p:priority></presence>");
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Home' to='priob@localhost'><p:priority xmlns:p='jabber:client'>127</p:priority></presence>");
      b.send(bare('m4'));
      await home.next((e) => isMsg(e) && e.attrs.id === 'm4');
      // One in another namespace is not it, and is not passed on (some readers take the first of that name).
      home.send("<presence><priority xmlns='urn:other'>5</priority><priority>-1</priority></presence>");
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Home' to='priob@localhost'><priority>-1</priority></presence>");
      b.send(bare('m5'));
      await work.next((e) => isMsg(e) && e.attrs.id === 'm5');
      // Alone it is dropped too: routing goes by 0 (no priority), and no reader sees 50.
      home.send("<presence><priority xmlns='urn:other'>50</priority></presence>");
      assertXml(await b.next(isPresence), "<presence from='prioa@localhost/Home' to='priob@localhost'/>");
      home.send('<presence><priority>0</priority></presence>');
      await b.next(isPresence);

      // Directed presence carries the same value.
      work.send("<presence to='prioc@localhost'><priority>999</priority></presence>");
      assertXml(await c.next(isPresence), "<presence to='prioc@localhost' from='prioa@localhost/Work'><priority>127</priority></presence>");
    } finally {
      await closeAll(work, b, c, home);
    }
  });

  test('directed presence reaches its target, which also hears when the sender goes', async () => {
    const { a, b, c } = await trio('dir');
    const d = await onlineUser(yak, 'dird');
    try {
      a.send("<presence to='dirc@localhost'><status>psst</status></presence>");
      assertXml(await c.next(isPresence), "<presence to='dirc@localhost' from='dira@localhost/Work'><status>psst</status></presence>");
      await b.nothing(isPresence, [a], 'a subscriber saw directed presence');
      // Directed unavailable takes the target off the list.
      a.send("<presence to='dird@localhost'/>");
      await d.next(isPresence);
      a.send("<presence type='unavailable' to='dird@localhost'/>");
      assertXml(await d.next(isPresence), "<presence type='unavailable' to='dird@localhost' from='dira@localhost/Work'/>");

      await a.close();
      assertXml(await c.next(isPresence), "<presence type='unavailable' from='dira@localhost/Work' to='dirc@localhost'><status>Disconnected</status></presence>");
      assertXml(await b.next(isPresence), "<presence type='unavailable' from='dira@localhost/Work' to='dirb@localhost'><status>Disconnected</status></presence>");
      await d.nothing(isPresence, [], 'a target that got directed unavailable heard again');
    } finally {
      await closeAll(a, b, c, d);
    }
  });

  test('a target of directed presence that also sees the broadcast (a subscriber, an own resource) hears each change once', async () => {
    const { a, b, c } = await trio('dirdup');
    const home = await login(yak, 'dirdupa', 'Home');
    try {
      await home.presence();
      await home.clear();
      await b.clear();
      a.send("<presence to='dirdupb@localhost/Work'><status>psst</status></presence>");
      a.send("<presence to='dirdupa@localhost/Home'><status>psst</status></presence>");
      await b.next(isPresence);
      await home.next(isPresence);
      // An update goes to subscribers and own resources: b and Home once each.
      a.send('<presence><status>later</status></presence>');
      assertXml(await b.next(isPresence), "<presence from='dirdupa@localhost/Work' to='dirdupb@localhost'><status>later</status></presence>");
      assertXml(await home.next(isPresence), "<presence from='dirdupa@localhost/Work' to='dirdupa@localhost/Home'><status>later</status></presence>");
      await a.close();
      assertXml(await b.next(isPresence), "<presence type='unavailable' from='dirdupa@localhost/Work' to='dirdupb@localhost'><status>Disconnected</status></presence>");
      assertXml(await home.next(isPresence), "<presence type='unavailable' from='dirdupa@localhost/Work' to='dirdupa@localhost/Home'><status>Disconnected</status></presence>");
      await b.nothing(isPresence, [], 'a subscriber that got directed presence heard the end twice');
      await home.nothing(isPresence, [], 'an own resource that got directed presence heard the end twice');
      await c.nothing(isPresence, [], 'a stranger heard something');
    } finally {
      await closeAll(a, b, c, home);
    }
  });

  test('presence to your own bare JID, then the end: your other resource hears the end once (unavailable, invisible, dropped)', async () => {
    for (const [i, end] of (['unavailable', 'invisible', 'drop'] as const).entries()) {
      const user = `dirown${i}`;
      const work = await onlineUser(yak, user);
      const home = await login(yak, user, 'Home');
      try {
        await home.presence();
        work.send(`<presence to='${user}@localhost'/>`);
        await home.next(isPresence);
        await work.clear();
        await home.clear();
        const gone = `<presence type='unavailable' from='${user}@localhost/Work' to='${user}@localhost/Home'>`;
        if (end === 'drop') {
          await work.drop();
          assertXml(await home.next(isPresence), `${gone}<status>Disconnected</status></presence>`);
          await home.nothing(isPresence, [], `${end}: the other resource heard the end twice`);
        } else {
          work.send(`<presence type='${end}'/>`);
          assertXml(await home.next(isPresence), `${gone}</presence>`);
          await home.nothing(isPresence, [work], `${end}: the other resource heard the end twice`);
          await work.nothing(isPresence, [], `${end}: the session was told of its own going`);
        }
      } finally {
        await closeAll(work, home);
      }
    }
  });

  test("a target told at both its bare and its full JID, and the session's own full JID: each hears the end once", async () => {
    for (const [i, end] of (['unavailable', 'drop', 'hidden'] as const).entries()) {
      const sender = await onlineUser(yak, `dirboth${i}a`);
      const target = await onlineUser(yak, `dirboth${i}b`);
      const t = target.bare;
      try {
        // Broadcast presence, or only directed presence while invisible.
        await sender.presence(end === 'hidden' ? "<presence type='invisible'/>" : '<presence/>');
        for (const to of [t, `${t}/Work`, sender.full]) sender.send(`<presence to='${to}'/>`);
        await target.next(isPresence);
        await target.next(isPresence);
        await sender.clear();
        await target.clear();
        const gone = `<presence type='unavailable' from='${sender.full}' to='${t}'>`;
        if (end === 'drop') {
          await sender.drop();
          assertXml(await target.next(isPresence), `${gone}<status>Disconnected</status></presence>`);
        } else {
          sender.send("<presence type='unavailable'/>");
          assertXml(await target.next(isPresence), `${gone}</presence>`);
          await sender.nothing(isPresence, [], `${end}: the session was told of its own going`);
        }
        await target.nothing(isPresence, [], `${end}: the target heard the end twice`);
      } finally {
        await closeAll(sender, target);
      }
    }
  });

  test('directed presence without a broadcast, or while invisible: the target still hears the end', async () => {
    const sender = await newUser(yak, 'dironly1');
    const hidden = await onlineUser(yak, 'dironly2');
    const target = await onlineUser(yak, 'dironly3');
    try {
      // Never sent broadcast presence, only directed.
      sender.send("<presence to='dironly3@localhost'><show>chat</show></presence>");
      await target.next(isPresence);
      await sender.drop();
      assertXml(await target.next(isPresence), "<presence type='unavailable' from='dironly1@localhost/Work' to='dironly3@localhost'/>");

      // Invisible, then directed presence: ending it with unavailable presence tells the target.
      await hidden.presence("<presence type='invisible'/>");
      hidden.send("<presence to='dironly3@localhost'/>");
      await target.next(isPresence);
      hidden.send("<presence type='unavailable'><status>off</status></presence>");
      assertXml(
        await target.next(isPresence),
        "<presence type='unavailable' from='dironly2@localhost/Work' to='dironly3@localhost'><status>off</status></presence>",
      );
      await hidden.close();
      await target.nothing(isPresence, [], 'told twice');
    } finally {
      await closeAll(sender, hidden, target);
    }
  });

  test('invisible: seen by nobody, probes unanswered, messages still delivered', async () => {
    const { a, b, c } = await trio('inv');
    try {
      a.send("<presence type='invisible'/>");
      assertXml(await b.next(isPresence), "<presence type='unavailable' from='inva@localhost/Work' to='invb@localhost'/>");
      // A new resource of b probes a: no answer while a is invisible.
      const bHome = await login(yak, 'invb', 'Home');
      try {
        await bHome.presence();
        await bHome.nothing((e) => isPresence(e) && e.attrs.from?.startsWith('inva@') === true, [], 'an invisible user was seen');
      } finally {
        await bHome.close();
      }
      await b.clear();
      c.send("<message to='inva@localhost' id='i1'><body>are you there?</body></message>");
      assertXml(
        await a.next((e) => e.name === 'message'),
        "<message to='inva@localhost' id='i1' from='invc@localhost/Work'><body>are you there?</body></message>",
      );
      // Going visible again is an ordinary available presence.
      a.send('<presence><show>chat</show></presence>');
      assertXml(await b.next(isPresence), "<presence from='inva@localhost/Work' to='invb@localhost'><show>chat</show></presence>");
      await c.nothing(isPresence, [a], 'a stranger saw presence');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('going invisible tells the targets of directed presence too; invisible to one target is unavailable to it', async () => {
    const { a, b, c } = await trio('invd');
    const d = await onlineUser(yak, 'invdd');
    try {
      a.send("<presence to='invdc@localhost'><status>hi stranger</status></presence>");
      await c.next(isPresence);
      a.send("<presence type='invisible'/>");
      assertXml(await b.next(isPresence), "<presence type='unavailable' from='invda@localhost/Work' to='invdb@localhost'/>");
      assertXml(await c.next(isPresence), "<presence type='unavailable' from='invda@localhost/Work' to='invdc@localhost'/>");
      // Visible again for subscribers; directed 'invisible' to d reads as unavailable there.
      a.send('<presence/>');
      await b.next(isPresence);
      a.send("<presence to='invdd@localhost'/>");
      await d.next(isPresence);
      a.send("<presence to='invdd@localhost' type='invisible'/>");
      assertXml(await d.next(isPresence), "<presence to='invdd@localhost' type='unavailable' from='invda@localhost/Work'/>");
      await a.close();
      await c.nothing(isPresence, [], 'the stranger heard twice');
      await d.nothing(isPresence, [], 'a target of directed invisible heard again');
    } finally {
      await closeAll(a, b, c, d);
    }
  });

  test('invisible to one subscriber hides the session from it until shown again (1.4): no update, probe answer or browse entry, not after its new login', async () => {
    const { a, b, c } = await trio('invone');
    const fromA = (e: Element): boolean => isPresence(e) && e.attrs.from?.startsWith('invonea@') === true;
    let bHome: Client | undefined;
    try {
      a.send("<presence to='invoneb@localhost' type='invisible'/>");
      assertXml(await b.next(isPresence), "<presence to='invoneb@localhost' type='unavailable' from='invonea@localhost/Work'/>");
      await a.presence('<presence><show>away</show><status>busy</status></presence>');
      await b.nothing(fromA, [a], 'a status update reached the subscriber it was hidden from');
      // b's new login probes a (from its full JID): no answer.
      bHome = await login(yak, 'invoneb', 'Home');
      await bHome.presence();
      await bHome.nothing(fromA, [a], 'a probe was answered');
      const browse = await b.request("<iq type='get' to='invonea@localhost'><query xmlns='jabber:iq:browse'/></iq>");
      assertXml(browse, "<iq type='result' id='*' to='invoneb@localhost/Work' from='invonea@localhost'><user xmlns='jabber:iq:browse' jid='invonea@localhost'/></iq>");
      // Shown again by directed available presence: updates reach it again.
      a.send("<presence to='invoneb@localhost'><status>back for you</status></presence>");
      await b.next("<presence to='invoneb@localhost' from='invonea@localhost/Work'><status>back for you</status></presence>");
      await bHome.next("<presence to='invoneb@localhost' from='invonea@localhost/Work'><status>back for you</status></presence>");
      await a.presence('<presence><status>here</status></presence>');
      await b.next("<presence from='invonea@localhost/Work' to='invoneb@localhost'><status>here</status></presence>");
      await bHome.clear();
      // Hidden again, then offline: told nothing more (it heard unavailable
      // already), and the next available presence reaches it (1.4 forgot
      // the hiding when the session went offline).
      a.send("<presence to='invoneb@localhost' type='invisible'/>");
      await b.next("<presence to='invoneb@localhost' type='unavailable' from='invonea@localhost/Work'/>");
      await bHome.clear();
      a.send("<presence type='unavailable'><status>gone</status></presence>");
      await b.nothing(fromA, [a], 'the hidden-from subscriber was told a second time');
      await a.presence('<presence><status>again</status></presence>');
      await b.next("<presence from='invonea@localhost/Work' to='invoneb@localhost'><status>again</status></presence>");
      await c.nothing(isPresence, [], 'a stranger heard about it');
    } finally {
      await closeAll(a, b, c, ...(bHome ? [bHome] : []));
    }
  });

  test('a subscription cancelled takes back presence directed at that contact: the goodbye does not reach it later', async () => {
    const { a, b, c } = await trio('cancdir');
    try {
      a.send("<presence to='cancdirb@localhost/Work'><status>for you</status></presence>");
      await b.next("<presence to='cancdirb@localhost/Work' from='cancdira@localhost/Work'><status>for you</status></presence>");
      a.send("<presence type='unsubscribed' to='cancdirb@localhost'/>");
      await b.next("<presence type='unsubscribed' to='cancdirb@localhost' from='cancdira@localhost'/>");
      await b.next("<presence type='unavailable' from='cancdira@localhost/Work' to='cancdirb@localhost'/>");
      a.send("<presence type='unavailable'><status>secret logout</status></presence>");
      await b.nothing(isPresence, [a], 'the cancelled contact heard the goodbye');
      await c.nothing(isPresence, [], 'a stranger heard about it');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('hidden from a bare JID, then shown to one of its full JIDs by directed presence: that full JID hears the goodbye', async () => {
    const { a, b, c } = await trio('invshow');
    try {
      a.send("<presence to='invshowb@localhost' type='invisible'/>");
      await b.next("<presence to='invshowb@localhost' type='unavailable' from='invshowa@localhost/Work'/>");
      a.send("<presence to='invshowb@localhost/Work'><status>only you</status></presence>");
      await b.next("<presence to='invshowb@localhost/Work' from='invshowa@localhost/Work'><status>only you</status></presence>");
      a.send("<presence type='unavailable'><status>bye</status></presence>");
      await b.next("<presence type='unavailable' from='invshowa@localhost/Work' to='invshowb@localhost/Work'><status>bye</status></presence>");
      await b.nothing(isPresence, [a], 'told twice');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('a cancellation tells each target of directed presence at the contact once: a session that sent no presence too, and from an invisible session', async () => {
    const { a, b, c } = await trio('cancfull');
    const other = await login(yak, 'cancfullb', 'Other');
    try {
      a.send("<presence to='cancfullb@localhost/Other'><status>for other</status></presence>");
      await other.next("<presence to='cancfullb@localhost/Other' from='cancfulla@localhost/Work'><status>for other</status></presence>");
      a.send("<presence type='unsubscribed' to='cancfullb@localhost'/>");
      await b.next("<presence type='unsubscribed' to='cancfullb@localhost' from='cancfulla@localhost'/>");
      await b.next("<presence type='unavailable' from='cancfulla@localhost/Work' to='cancfullb@localhost'/>");
      await other.next("<presence type='unavailable' from='cancfulla@localhost/Work' to='cancfullb@localhost/Other'/>");
      await other.nothing(isPresence, [a], 'the session without presence was told twice');
      await b.nothing(isPresence, [], 'b was told twice');
    } finally {
      await closeAll(a, b, c, other);
    }
    const { a: a2, b: b2, c: c2 } = await trio('cancinv');
    try {
      await a2.presence("<presence type='invisible'/>");
      await b2.next("<presence type='unavailable' from='cancinva@localhost/Work' to='cancinvb@localhost'/>");
      a2.send("<presence to='cancinvb@localhost'><status>bare</status></presence>");
      a2.send("<presence to='cancinvb@localhost/Work'><status>full</status></presence>");
      await b2.next("<presence to='cancinvb@localhost' from='cancinva@localhost/Work'><status>bare</status></presence>");
      await b2.next("<presence to='cancinvb@localhost/Work' from='cancinva@localhost/Work'><status>full</status></presence>");
      a2.send("<presence type='unsubscribed' to='cancinvb@localhost'/>");
      await b2.next("<presence type='unsubscribed' to='cancinvb@localhost' from='cancinva@localhost'/>");
      await b2.next("<presence type='unavailable' from='cancinva@localhost/Work' to='cancinvb@localhost'/>");
      await b2.nothing(isPresence, [a2], 'told twice');
    } finally {
      await closeAll(a2, b2, c2);
    }
  });

  test('an account removed: presence other sessions directed at it does not reach whoever registers the name next', async () => {
    const c = await onlineUser(yak, 'rmdirc');
    const old = await onlineUser(yak, 'rmdirt');
    let next: Client | undefined;
    try {
      c.send("<presence to='rmdirt@localhost/Work'><status>for you</status></presence>");
      await old.next(isPresence);
      await old.request("<iq type='set' to='localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>");
      await old.stream.whenClosed();
      next = await onlineUser(yak, 'rmdirt');
      c.send("<presence type='unavailable'><status>leaving</status></presence>");
      await next.nothing(isPresence, [c], 'the new owner of the name got presence meant for the old one');
    } finally {
      await closeAll(c, old, ...(next ? [next] : []));
    }
  });

  test('the targets kept are bounded by their bytes too: past 64 KiB of long JIDs, the one told longest ago is not told when the session goes', async () => {
    const sender = await onlineUser(yak, 'dirbytes1');
    // Targets with a 1,000-character resource: about 1 KB of JID each.
    const oldest = await onlineUser(yak, 'dirbytes2', 'O'.repeat(1000));
    const newest = await onlineUser(yak, 'dirbytes3', 'N'.repeat(1000));
    try {
      sender.send(`<presence to='${oldest.full}'/>`);
      assertXml(await oldest.next(isPresence), `<presence to='${oldest.full}' from='dirbytes1@localhost/Work'/>`);
      // Then 40 targets of 2 KB each (80 KB in all, far fewer than 1,000 of
      // them): nobody is online there, so none of it is seen.
      for (let i = 0; i < 40; i++) sender.send(`<presence to='${String(i).padEnd(1000, 'x')}@localhost/${'r'.repeat(1000)}'/>`);
      sender.send(`<presence to='${newest.full}'/>`);
      assertXml(await newest.next(isPresence), `<presence to='${newest.full}' from='dirbytes1@localhost/Work'/>`);
      await sender.nothing(() => true, [], 'the sender got something back');

      sender.send("<presence type='unavailable'/>");
      assertXml(await newest.next(isPresence), `<presence type='unavailable' from='dirbytes1@localhost/Work' to='${newest.full}'/>`);
      await oldest.nothing(isPresence, [sender], 'a target dropped for the byte bound was told the session went');
      await newest.nothing(isPresence, [], 'the newest target was told twice');
    } finally {
      await closeAll(sender, oldest, newest);
    }
  });

  test('invisible from the start: the user sees contacts, and leaving tells nobody', async () => {
    const { a, b, c } = await trio('invs');
    try {
      await a.close();
      await b.next("<presence type='unavailable' from='invsa@localhost/Work' to='invsb@localhost'><status>Disconnected</status></presence>");
      const again = await login(yak, 'invsa');
      again.send("<presence type='invisible'/>");
      assertXml(await again.next(isPresence), "<presence from='invsb@localhost/Work' to='invsa@localhost/Work'><x xmlns='jabber:x:delay' from='invsb@localhost/Work' stamp='*'/></presence>");
      await b.nothing(isPresence, [again], 'an invisible login was seen');
      await again.close();
      await b.nothing(isPresence, [], 'an invisible logout was seen');
    } finally {
      await closeAll(a, b, c);
    }
  });

  describe('unavailable when a session ends, for any reason', () => {
    test('unavailable presence with a status, then the logout adds nothing', async () => {
      const { a, b, c } = await trio('ua');
      try {
        a.send("<presence type='unavailable'><status>gone fishing</status></presence>");
        assertXml(
          await b.next(isPresence),
          "<presence type='unavailable' from='uaa@localhost/Work' to='uab@localhost'><status>gone fishing</status></presence>",
        );
        await a.close();
        await b.nothing(isPresence, [], 'a second unavailable');
        await c.nothing(isPresence, [], 'a stranger saw the unavailable');
      } finally {
        await closeAll(a, b, c);
      }
    });

    test('logout (</stream:stream>)', async () => {
      const { a, b, c } = await trio('lo');
      try {
        await a.close();
        assertXml(await b.next(isPresence), "<presence type='unavailable' from='loa@localhost/Work' to='lob@localhost'><status>Disconnected</status></presence>");
        await c.nothing(isPresence, [], 'a stranger saw the unavailable');
      } finally {
        await closeAll(a, b, c);
      }
    });

    test('disconnect without a word', async () => {
      const { a, b, c } = await trio('dc');
      try {
        await a.drop();
        assertXml(await b.next(isPresence), "<presence type='unavailable' from='dca@localhost/Work' to='dcb@localhost'><status>Disconnected</status></presence>");
        await c.nothing(isPresence, [], 'a stranger saw the unavailable');
      } finally {
        await closeAll(a, b, c);
      }
    });

    test('replaced by a new login of the same resource', async () => {
      const { a, b, c } = await trio('rep');
      try {
        const replacement = await login(yak, 'repa');
        try {
          assertXml(
            await a.next(isPresence),
            "<presence type='unavailable' from='repa@localhost/Work' to='repa@localhost/Work'><status>Replaced by new connection</status></presence>",
          );
          await a.stream.whenClosed();
          assertXml(await b.next(isPresence), "<presence type='unavailable' from='repa@localhost/Work' to='repb@localhost'><status>Replaced by new connection</status></presence>");
          await replacement.presence();
          assertXml(await b.next(isPresence), "<presence from='repa@localhost/Work' to='repb@localhost'/>");
          await c.nothing(isPresence, [], 'a stranger saw presence');
        } finally {
          await replacement.close();
        }
      } finally {
        await closeAll(a, b, c);
      }
    });

    test('the account removed', async () => {
      const { a, b, c } = await trio('del');
      try {
        await a.request("<iq type='set' to='localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>");
        await a.stream.whenClosed();
        // 1.4's reason when it booted a removed user's sessions.
        assertXml(await b.next(isPresence), "<presence type='unavailable' from='dela@localhost/Work' to='delb@localhost'><status>Removed</status></presence>");
        await c.nothing(isPresence, [], 'a stranger saw the unavailable');
      } finally {
        await closeAll(a, b, c);
      }
    });
  });

  describe('probes', () => {
    test('answered for a subscriber, not for a stranger nor for a contact a only watches', async () => {
      const { a, b, c } = await trio('pr');
      // d lets a see d ('to' on a's side): d may not see a.
      const d = await onlineUser(yak, 'prd');
      try {
        a.send("<presence type='subscribe' to='prd@localhost'/>");
        await a.sync();
        d.send("<presence type='subscribed' to='pra@localhost'/>");
        await d.sync();
        await a.clear();
        await d.clear();
        await a.presence('<presence><status>here</status></presence>');
        await b.clear();

        b.send("<presence type='probe' to='pra@localhost'/>");
        assertXml(await b.next(isPresence), "<presence from='pra@localhost/Work' to='prb@localhost/Work'><status>here</status><x xmlns='jabber:x:delay' from='pra@localhost/Work' stamp='*'/></presence>");
        c.send("<presence type='probe' to='pra@localhost'/>");
        await c.nothing(isPresence, [c], 'a stranger’s probe was answered');
        d.send("<presence type='probe' to='pra@localhost'/>");
        await d.nothing(isPresence, [d], 'a probe from a contact without from/both was answered');

        // Unavailable: nothing to answer even for a subscriber.
        await a.presence("<presence type='unavailable'/>");
        await b.clear();
        b.send("<presence type='probe' to='pra@localhost'/>");
        await b.nothing(isPresence, [], 'an unavailable user’s probe was answered');
      } finally {
        await closeAll(a, b, c, d);
      }
    });
  });
});

describe('mod_presence: contacts answering the login probes', () => {
  /** One send buffer of 64 KiB. */
  const smallBuffer = (c: TestYak['config']): void => {
    c.c2s.limits.outputBytes = 64 * 1024;
    plain(c);
  };

  /**
   * `user` logs in again and sends its first presence: resolves with the
   * new session once presences from `n` sessions whose JID starts with
   * `from` came, the client still connected.
   */
  async function loginAndHear(yak: TestYak, user: Client, from: string, n: number): Promise<Client> {
    await user.close();
    const again = await login(yak, user.user);
    again.send('<presence/>');
    const heard = new Set<string>();
    while (heard.size < n) heard.add(String((await again.next((e) => isPresence(e) && e.attrs.from?.startsWith(from) === true)).attrs.from));
    assert.equal(again.stream.closed, false);
    return again;
  }

  /** A status of about 15 KB as sent (a ' goes out as &apos;). */
  const BIG_STATUS = `<presence><status>${"'".repeat(2500)}</status></presence>`;

  /** `first` and 11 more sessions of its user, each with BIG_STATUS (180 KB in all); each goes into `into`, for closing. */
  async function twelveSessions(yak: TestYak, first: Client, into: Client[]): Promise<void> {
    into.push(first);
    await first.presence(BIG_STATUS);
    for (let i = 1; i < 12; i++) {
      const c = await login(yak, first.user, `r${i}`);
      into.push(c);
      await c.presence(BIG_STATUS);
    }
  }

  test("one contact's many sessions answering one probe do not cut off a client that reads either", async () => {
    // A 64 KiB send buffer, and one contact with 12 sessions whose status is about 15 KB as sent: 180 KB.
    const yak = await startYak({ tweak: smallBuffer });
    const fans: Client[] = [];
    let user: Client | undefined;
    try {
      user = await onlineUser(yak, 'watched');
      const first = await onlineUser(yak, 'many', 'r0');
      await subscribeBoth(user, first);
      await twelveSessions(yak, first, fans);
      user = await loginAndHear(yak, user, 'many@', 12);
    } finally {
      await closeAll(...fans, ...(user ? [user] : []));
      await yak.stop();
    }
  });

  test("a contact with many sessions approving a subscription does not cut off the new subscriber: its sessions' presences come paced", async () => {
    // The same 12 sessions with a 15 KB status (180 KB) in a 64 KiB send buffer; one subscribed from them.
    const yak = await startYak({ tweak: smallBuffer });
    const granter: Client[] = [];
    let asker: Client | undefined;
    try {
      asker = await onlineUser(yak, 'asker');
      const first = await onlineUser(yak, 'granter', 'r0');
      await twelveSessions(yak, first, granter);
      asker.send("<presence type='subscribe' to='granter@localhost'/>");
      await first.next((e) => isPresence(e) && e.attrs.type === 'subscribe');
      first.send("<presence type='subscribed' to='asker@localhost'/>");
      // RFC 3921 8.2: the new subscriber sees every session of the contact at once.
      const heard = new Set<string>();
      while (heard.size < 12) {
        const p = await asker.next((e) => isPresence(e) && e.attrs.type === undefined && e.attrs.from?.startsWith('granter@') === true);
        // Each kept presence as 1.4 kept it, stamped.
        const stamped = `<x xmlns='jabber:x:delay' from='${String(p.attrs.from)}' stamp='*'/></presence>`;
        assertXml(p, BIG_STATUS.replace('<presence>', `<presence from='${String(p.attrs.from)}' to='asker@localhost'>`).replace('</presence>', stamped));
        heard.add(String(p.attrs.from));
      }
      assert.equal(asker.stream.closed, false);
      await asker.sync();
      assert.equal((await asker.item('granter@localhost'))?.attrs.subscription, 'to');
    } finally {
      await closeAll(...granter, ...(asker ? [asker] : []));
      await yak.stop();
    }
  });

  test('more than the send buffer holds at once goes out as the client reads, and does not cut it off', async () => {
    // A 64 KiB send buffer, and eight contacts with a 15 KB status: 120 KB of answers.
    const yak = await startYak({ tweak: smallBuffer });
    const contacts: Client[] = [];
    let user: Client | undefined;
    try {
      user = await onlineUser(yak, 'popular');
      for (let i = 0; i < 8; i++) {
        const c = await onlineUser(yak, `fan${i}`);
        contacts.push(c);
        await subscribeBoth(user, c);
        await c.presence(`<presence><status>${'s'.repeat(15_000)}</status></presence>`);
      }
      user = await loginAndHear(yak, user, 'fan', 8);
    } finally {
      await closeAll(...contacts, ...(user ? [user] : []));
      await yak.stop();
    }
  });
});

describe("mod_presence: one account's sessions racing each other", () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  /** Everything `c` receives from now on but sync replies. */
  function record(c: Client): Element[] {
    const got: Element[] = [];
    c.stream.on('stanza', (e: Element) => {
      if (!(e.name === 'iq' && e.attrs.id?.startsWith('sync_'))) got.push(e);
    });
    return got;
  }
  const presenceFrom = (got: Element[], from: string): string[] =>
    got.filter((e) => e.name === 'presence' && e.attrs.from === from).map((e) => e.toString());

  /** `user` and `contact` subscribed both ways, `user` logged out again; the contact's session. */
  async function subscribedContact(user: string, contact: string): Promise<Client> {
    const a = await onlineUser(yak, user, 'setup');
    const b = await onlineUser(yak, contact);
    await subscribeBoth(a, b);
    await a.close();
    return b;
  }

  /**
   * Sends `presence` on `old` and, while the `nth` read of `owner`'s roster
   * is held, logs in again with old's full JID; the new session, once the
   * old one's stream is closed.
   */
  async function replacedDuringRead(old: Client, presence: string, owner: string, nth: number): Promise<Client> {
    let reads = 0;
    const held = holdCalls(yak.server.xdb, 'peek', (_h: string, u: string, ns: string) => u === owner && ns === NS_ROSTER && ++reads === nth);
    let fresh: Client;
    try {
      old.send(presence);
      await held.reached;
      fresh = await login(yak, old.user, old.resource);
    } finally {
      held.release();
      held.restore();
    }
    await old.stream.whenClosed().catch(() => undefined);
    return fresh;
  }

  test('a broadcast still running when a login replaces its session stops: nobody sees the session online after its goodbye', async () => {
    const b = await subscribedContact('racer1', 'racer2');
    const other = await login(yak, 'racer1', 'r2');
    await other.presence();
    let fresh: Client | undefined;
    try {
      await b.clear();
      await other.clear();
      const bGot = record(b);
      const otherGot = record(other);
      // The broadcast's read of the roster waits while a login takes the full JID.
      fresh = await replacedDuringRead(await login(yak, 'racer1', 'r1'), '<presence><status>old</status></presence>', 'racer1', 1);
      await fresh.sync();
      await b.sync();
      await other.sync();
      const goodbye = (to: string): string =>
        `<presence type='unavailable' from='racer1@localhost/r1' to='${to}'><status>Replaced by new connection</status></presence>`;
      assert.deepEqual(presenceFrom(bGot, 'racer1@localhost/r1'), [goodbye('racer2@localhost')]);
      assert.deepEqual(presenceFrom(otherGot, 'racer1@localhost/r1'), [goodbye('racer1@localhost/r2')]);
      await fresh.nothing((e) => e.name === 'presence', [], 'the new session, which sent no presence, got presence');
    } finally {
      await closeAll(fresh, other, b);
    }
  });

  test('a broadcast in batches whose session is replaced between two batches stops there', async () => {
    const b = await subscribedContact('batch1', 'batch2');
    // More subscribers than one batch of copies (256), the real contact last.
    await yak.server.xdb.update('localhost', 'batch1', NS_ROSTER, (cur) => {
      const q = cur ?? new Element('query', { xmlns: NS_ROSTER });
      const real = q.children;
      q.children = [];
      for (let i = 0; i < 256; i++) q.children.push(new Element('item', { jid: `fan${i}@localhost`, subscription: 'from' }));
      q.children.push(...real);
      return q;
    });
    let fresh: Client | undefined;
    try {
      const old = await login(yak, 'batch1', 'r1');
      await old.presence('<presence><status>first</status></presence>');
      await b.clear();
      const bGot = record(b);
      // The second read of the roster is the one between the batches.
      fresh = await replacedDuringRead(old, '<presence><status>second</status></presence>', 'batch1', 2);
      await fresh.sync();
      await b.sync();
      assert.deepEqual(presenceFrom(bGot, 'batch1@localhost/r1'), [
        "<presence type='unavailable' from='batch1@localhost/r1' to='batch2@localhost'><status>Replaced by new connection</status></presence>",
      ]);
    } finally {
      await closeAll(fresh, b);
    }
  });

  // Which read is held: the session's own roster for its probes (after the
  // broadcast's read when it shows itself; none when invisible), or the
  // contact's roster, read to see whether the probe is to be answered.
  for (const [i, [how, first, whose, nth]] of ([
    ['available, replaced while it probes', '<presence><status>old</status></presence>', 'own', 2],
    ['invisible, replaced while it probes', "<presence type='invisible'/>", 'own', 1],
    ['available, replaced while its probe is checked', '<presence><status>old</status></presence>', 'contact', 1],
  ] as const).entries()) {
    test(`a session replaced during its arrival (${how}): the one that took its full JID is sent no presence`, async () => {
      const [me, contact] = [`prober${i}a`, `prober${i}b`];
      const b = await subscribedContact(me, contact);
      let fresh: Client | undefined;
      try {
        fresh = await replacedDuringRead(await login(yak, me, 'r1'), first, whose === 'own' ? me : contact, nth);
        await fresh.nothing((e) => e.name === 'presence', [b], 'the new session, which sent no presence, got presence');
      } finally {
        await closeAll(fresh, b);
      }
    });
  }

  test('two sessions sending their first presence at once see each other once', async () => {
    const x = await onlineUser(yak, 'twin1', 'x');
    const contact = await onlineUser(yak, 'twin2');
    await subscribeBoth(x, contact);
    await x.close();
    const first = await login(yak, 'twin1', 'x');
    const second = await login(yak, 'twin1', 'y');
    try {
      const firstGot = record(first);
      const secondGot = record(second);
      // The first one's broadcast waits on its roster while the second one arrives.
      const held = holdFirstCall(yak.server.xdb, 'peek', (_h: string, user: string, ns: string) => user === 'twin1' && ns === NS_ROSTER);
      first.send('<presence><status>x-on</status></presence>');
      await held.reached;
      second.send('<presence><status>y-on</status></presence>');
      await second.sync();
      held.release();
      held.restore();
      await first.sync();
      await second.sync();
      await first.sync();
      assert.equal(presenceFrom(firstGot, 'twin1@localhost/y').length, 1, presenceFrom(firstGot, 'twin1@localhost/y').join('\n'));
      assert.equal(presenceFrom(secondGot, 'twin1@localhost/x').length, 1, presenceFrom(secondGot, 'twin1@localhost/x').join('\n'));
      // Unavailable and back: shown its other session again, as at its first arrival.
      await second.presence("<presence type='unavailable'/>");
      secondGot.length = 0;
      await second.presence('<presence><status>y-back</status></presence>');
      await first.sync();
      assert.equal(presenceFrom(secondGot, 'twin1@localhost/x').length, 1, presenceFrom(secondGot, 'twin1@localhost/x').join('\n'));
    } finally {
      await closeAll(first, second, contact);
    }
  });
});

describe('a session-end handler that fails', () => {
  test('does not keep the others from running: contacts still hear the session go', async () => {
    const yak = await startYak({ tweak: plain });
    // First in the chain, and failing, as mod_last does on a file that no longer parses.
    yak.server.jsm.chains.add('session-end', 'test-failing', () => {
      throw new Error('cannot be parsed');
    }, { priority: 100 });
    const a = await onlineUser(yak, 'enda');
    const b = await onlineUser(yak, 'endb');
    try {
      await subscribeBoth(a, b);
      await a.close();
      await b.next("<presence type='unavailable' from='enda@localhost/Work' to='endb@localhost'><status>Disconnected</status></presence>");
    } finally {
      await closeAll(a, b);
      await yak.stop();
    }
  });
});

describe('mod_presence: the directed-presence targets a session keeps', () => {
  /**
   * The module on a stub server serving only localhost, and one session
   * that never sent broadcast presence (so its end reads no roster).
   * end() returns whom the session's unavailable presence went to.
   */
  function stub(): { send(xml: string): Promise<void>; end(): Promise<string[]> } {
    const handlers = new Map<string, (...args: unknown[]) => unknown>();
    const delivered: string[] = [];
    const api = {
      on: (phase: string, h: (...args: unknown[]) => unknown) => handlers.set(phase, h),
      isLocalHost: (h: string) => h === 'localhost',
      deliver: async (stanza: { attrs: Record<string, string> }) => void delivered.push(stanza.attrs.to!),
    } as unknown as ModuleApi;
    modPresence.setup(api);
    const session = { jid: parseJid('a@localhost/Work')!, data: new Map(), available: false } as unknown as Session;
    const out = handlers.get('session-out') as PhaseHandlers['session-out'];
    const end = handlers.get('session-end') as PhaseHandlers['session-end'];
    return {
      send: async (xml) => void (await out(parseXml(xml), session)),
      end: async () => {
        await end(session);
        return delivered;
      },
    };
  }

  test('a target on a host not served here is not kept: it could never get the unavailable', async () => {
    const s = stub();
    await s.send("<presence to='x@remote.example/r'/>");
    await s.send("<presence to='y@localhost/r'/>");
    assert.deepEqual(await s.end(), ['y@localhost/r']);
  });

  test('at most 1,000 are kept: beyond, the one told longest ago is dropped', async () => {
    const s = stub();
    for (let i = 0; i < 1000; i++) await s.send(`<presence to='u${i}@localhost'/>`);
    // Told again: now the newest. (Not the oldest, u0: dropping that one and
    // adding it back would make it the newest even if a repeat were not.)
    await s.send("<presence to='u1@localhost'/>");
    await s.send("<presence to='u1000@localhost'/>");
    await s.send("<presence to='u1001@localhost'/>");
    const told = await s.end();
    assert.equal(told.length, 1000);
    assert.ok(!told.includes('u0@localhost') && !told.includes('u2@localhost'), 'the two told longest ago were dropped');
    assert.ok(told.includes('u1@localhost') && told.includes('u1001@localhost'));
  });

  test('1,000 ordinary JIDs (65 bytes each) are all kept: the 64 KiB of JID text bounds only long ones', async () => {
    const s = stub();
    const targets: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const jid = `contact.${String(i).padStart(4, '0')}@localhost/`;
      targets.push(jid.padEnd(65, 'r'));
    }
    for (const to of targets) await s.send(`<presence to='${to}'/>`);
    assert.deepEqual(await s.end(), targets);
  });

  test('a target taken off (directed unavailable) or a session gone unavailable frees its bytes', async () => {
    const s = stub();
    // 2,000 bytes each: 32 fit in 64 KiB, a 33rd would pass it.
    const long = (i: number): string => `${String(i).padEnd(989, 'x')}@localhost/${'r'.repeat(1000)}`;
    for (let i = 0; i < 32; i++) await s.send(`<presence to='${long(i)}'/>`);
    await s.send(`<presence type='unavailable' to='${long(0)}'/>`);
    await s.send(`<presence to='${long(32)}'/>`);
    // The session goes unavailable: all 32 are told, none is kept.
    await s.send("<presence type='unavailable'/>");
    for (let i = 33; i < 65; i++) await s.send(`<presence to='${long(i)}'/>`);
    const told = await s.end();
    assert.deepEqual(told, Array.from({ length: 64 }, (_, i) => long(i + 1)));
  });
});
