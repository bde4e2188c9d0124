// SPEC section 8, routing: full-JID delivery to the exact resource,
// bare-JID delivery to the highest non-negative priority (newest session
// on ties), offline fallback, stanzas to the host, `from` always stamped
// by the server, 404 for unknown users, 503 for requests nobody serves,
// 400 for an iq with no valid type, and never an answer to an error or a
// result.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, login, newUser, onlineUser, plain, STAMP, subscribeBoth, type Client } from './helpers/session.js';

describe('routing', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  test("a stanza that repeats xmlns='jabber:client' is routed, without the attribute", async () => {
    const a = await onlineUser(yak, 'nsa');
    const b = await onlineUser(yak, 'nsb');
    try {
      a.send("<message xmlns='jabber:client' to='nsb@localhost/Work' id='n1'><body>hi</body></message>");
      assertXml(await b.next((e) => e.name === 'message'), "<message to='nsb@localhost/Work' id='n1' from='nsa@localhost/Work'><body>hi</body></message>");
    } finally {
      await closeAll(a, b);
    }
  });

  test('a full JID reaches exactly that resource, with the sender stamped as from', async () => {
    const work = await onlineUser(yak, 'full1');
    const home = await login(yak, 'full1', 'Home');
    const bob = await onlineUser(yak, 'full2');
    try {
      await home.presence();
      bob.send("<message to='full1@localhost/Home' id='m1' type='chat'><body>to Home</body></message>");
      assertXml(
        await home.next((e) => e.name === 'message'),
        "<message to='full1@localhost/Home' id='m1' type='chat' from='full2@localhost/Work'><body>to Home</body></message>",
      );
      bob.send("<message to='full1@localhost/Work' id='m2'><body>to Work</body></message>");
      assertXml(
        await work.next((e) => e.name === 'message'),
        "<message to='full1@localhost/Work' id='m2' from='full2@localhost/Work'><body>to Work</body></message>",
      );
      await home.nothing((e) => e.name === 'message', [bob], 'Home got a message for Work');
      await work.nothing((e) => e.name === 'message', [bob], 'Work got a message for Home');
    } finally {
      await closeAll(work, home, bob);
    }
  });

  test('JIDs are compared prepared: user and host case-insensitively, the resource exactly', async () => {
    const a = await onlineUser(yak, 'fold1');
    const b = await onlineUser(yak, 'fold2');
    try {
      b.send("<message to='FOLD1@LocalHost/Work' id='f1'><body>hi</body></message>");
      assertXml(
        await a.next((e) => e.name === 'message'),
        "<message to='FOLD1@LocalHost/Work' id='f1' from='fold2@localhost/Work'><body>hi</body></message>",
      );
    } finally {
      await closeAll(a, b);
    }
  });

  test('a bare JID goes to the highest priority; a later presence can change which one', async () => {
    const work = await newUser(yak, 'prio1');
    const home = await login(yak, 'prio1', 'Home');
    const bob = await onlineUser(yak, 'prio2');
    try {
      await work.presence('<presence><priority>1</priority></presence>');
      await home.presence('<presence><priority>5</priority></presence>');
      bob.send("<message to='prio1@localhost' id='p1'><body>one</body></message>");
      assertXml(
        await home.next((e) => e.name === 'message'),
        "<message to='prio1@localhost' id='p1' from='prio2@localhost/Work'><body>one</body></message>",
      );
      await work.nothing((e) => e.name === 'message', [bob], 'the lower priority got the message');

      await work.presence('<presence><show>chat</show><priority>10</priority></presence>');
      bob.send("<message to='prio1@localhost' id='p2'><body>two</body></message>");
      assertXml(
        await work.next((e) => e.name === 'message'),
        "<message to='prio1@localhost' id='p2' from='prio2@localhost/Work'><body>two</body></message>",
      );
      await home.nothing((e) => e.name === 'message', [bob], 'the lower priority got the message');
    } finally {
      await closeAll(work, home, bob);
    }
  });

  test('on equal priorities the newest session wins, not the latest presence', async () => {
    const older = await newUser(yak, 'tie1', 'Older');
    const newer = await login(yak, 'tie1', 'Newer');
    const bob = await onlineUser(yak, 'tie2');
    try {
      await newer.presence('<presence><priority>2</priority></presence>');
      await older.presence('<presence><priority>2</priority></presence>');
      bob.send("<message to='tie1@localhost' id='t1'><body>tie</body></message>");
      assertXml(await newer.next((e) => e.name === 'message'), "<message to='tie1@localhost' id='t1' from='tie2@localhost/Work'><body>tie</body></message>");
      await older.nothing((e) => e.name === 'message', [bob], 'the older session got the message');
    } finally {
      await closeAll(older, newer, bob);
    }
  });

  test('sessions without available presence and negative priorities get no bare-JID messages', async () => {
    const silent = await newUser(yak, 'neg1', 'Silent');
    const negative = await login(yak, 'neg1', 'Negative');
    const bob = await onlineUser(yak, 'neg2');
    try {
      await negative.presence('<presence><priority>-1</priority></presence>');
      bob.send("<message to='neg1@localhost' id='n1'><body>kept</body></message>");
      await silent.nothing((e) => e.name === 'message', [bob], 'a session without presence got a bare-JID message');
      await negative.nothing((e) => e.name === 'message', [], 'a negative priority got a bare-JID message');

      // The exact resource is honoured whatever its priority.
      bob.send("<message to='neg1@localhost/Negative' id='n2'><body>direct</body></message>");
      assertXml(
        await negative.next((e) => e.name === 'message'),
        "<message to='neg1@localhost/Negative' id='n2' from='neg2@localhost/Work'><body>direct</body></message>",
      );

      // The bare-JID message was stored: the first available presence with priority >= 0 gets it.
      silent.send('<presence/>');
      const stored = await silent.next((e) => e.name === 'message');
      assertXml(
        stored,
        "<message to='neg1@localhost' id='n1' from='neg2@localhost/Work'><body>kept</body>" +
          "<x xmlns='jabber:x:delay' from='neg1@localhost' stamp='*'>Offline Storage</x></message>",
      );
      assert.match(stored.getChild('x', 'jabber:x:delay')!.attrs.stamp!, STAMP);
    } finally {
      await closeAll(silent, negative, bob);
    }
  });

  test('a resource that does not exist is delivered like the bare JID', async () => {
    const a = await onlineUser(yak, 'gone1');
    const b = await onlineUser(yak, 'gone2');
    try {
      b.send("<message to='gone1@localhost/Elsewhere' id='g1'><body>x</body></message>");
      assertXml(
        await a.next((e) => e.name === 'message'),
        "<message to='gone1@localhost/Elsewhere' id='g1' from='gone2@localhost/Work'><body>x</body></message>",
      );
    } finally {
      await closeAll(a, b);
    }
  });

  test('an ended session leaves routing: its resource falls back to the others, then to offline storage', async () => {
    const work = await onlineUser(yak, 'end1');
    const home = await login(yak, 'end1', 'Home');
    const bob = await onlineUser(yak, 'end2');
    try {
      await home.presence('<presence><priority>3</priority></presence>');
      await home.close();
      bob.send("<message to='end1@localhost/Home' id='e1'><body>for Home</body></message>");
      assertXml(
        await work.next((e) => e.name === 'message'),
        "<message to='end1@localhost/Home' id='e1' from='end2@localhost/Work'><body>for Home</body></message>",
      );
      await work.close();
      bob.send("<message to='end1@localhost/Home' id='e2'><body>later</body></message>");
      await bob.nothing((e) => e.name === 'message', [], 'the sender got an answer');
      const again = await login(yak, 'end1', 'Home');
      try {
        again.send('<presence/>');
        assertXml(
          await again.next((e) => e.name === 'message'),
          "<message to='end1@localhost/Home' id='e2' from='end2@localhost/Work'><body>later</body>" +
            "<x xmlns='jabber:x:delay' from='end1@localhost' stamp='*'>Offline Storage</x></message>",
        );
      } finally {
        await again.close();
      }
    } finally {
      await closeAll(work, home, bob);
    }
  });

  describe('errors', () => {
    let bob: Client;
    let alice: Client;
    before(async () => {
      bob = await onlineUser(yak, 'errbob');
      alice = await onlineUser(yak, 'erralice');
    });
    after(() => closeAll(bob, alice));

    test('a message to an unknown user: 404, the message echoed back', async () => {
      const reply = bob.next((e) => e.name === 'message');
      bob.send("<message to='nobody@localhost' id='u1' type='chat'><body>hello?</body></message>");
      assertXml(
        await reply,
        "<message to='errbob@localhost/Work' from='nobody@localhost' id='u1' type='error'>" +
          "<body>hello?</body><error code='404' type='cancel'>Not Found</error></message>",
      );
    });

    test('an iq to an unknown user: 404', async () => {
      assertXml(
        await bob.request("<iq type='get' id='u2' to='nobody@localhost'><query xmlns='jabber:iq:version'/></iq>"),
        "<iq type='error' id='u2' to='errbob@localhost/Work' from='nobody@localhost'>" +
          "<query xmlns='jabber:iq:version'/><error code='404' type='cancel'>Not Found</error></iq>",
      );
    });

    test('a request nobody serves: 503, from the user, from a missing resource, from the host', async () => {
      assertXml(
        await bob.request("<iq type='get' id='s1' to='erralice@localhost'><query xmlns='jabber:iq:version'/></iq>"),
        "<iq type='error' id='s1' to='errbob@localhost/Work' from='erralice@localhost'>" +
          "<query xmlns='jabber:iq:version'/><error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
      assertXml(
        await bob.request("<iq type='get' id='s2' to='erralice@localhost/Nowhere'><query xmlns='jabber:iq:version'/></iq>"),
        "<iq type='error' id='s2' to='errbob@localhost/Work' from='erralice@localhost/Nowhere'>" +
          "<query xmlns='jabber:iq:version'/><error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
      assertXml(
        await bob.request("<iq type='set' id='s3' to='localhost'><query xmlns='urn:example:unknown'><x/></query></iq>"),
        "<iq type='error' id='s3' to='errbob@localhost/Work' from='localhost'>" +
          "<query xmlns='urn:example:unknown'><x/></query><error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
    });

    test('an iq to a full JID reaches that client, and its answer comes back', async () => {
      const asked = alice.next((e) => e.name === 'iq');
      const answer = bob.request("<iq type='get' id='v1' to='erralice@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      assertXml(
        await asked,
        "<iq type='get' id='v1' to='erralice@localhost/Work' from='errbob@localhost/Work'><query xmlns='jabber:iq:version'/></iq>",
      );
      alice.send(
        "<iq type='result' id='v1' to='errbob@localhost/Work'><query xmlns='jabber:iq:version'><name>test</name></query></iq>",
      );
      assertXml(
        await answer,
        "<iq type='result' id='v1' to='errbob@localhost/Work' from='erralice@localhost/Work'>" +
          "<query xmlns='jabber:iq:version'><name>test</name></query></iq>",
      );
    });

    test('another server: 404 (no server-to-server)', async () => {
      const reply = bob.next((e) => e.name === 'message');
      bob.send("<message to='someone@elsewhere.example' id='r1'><body>far</body></message>");
      assertXml(
        await reply,
        "<message to='errbob@localhost/Work' from='someone@elsewhere.example' id='r1' type='error'>" +
          "<body>far</body><error code='404' type='cancel'>Not Found</error></message>",
      );
    });

    test('a malformed address: 400', async () => {
      const reply = bob.next((e) => e.name === 'message');
      bob.send("<message to='@localhost' id='b1'><body>bad</body></message>");
      assertXml(
        await reply,
        // No from: an address that does not parse is never echoed as one.
        "<message to='errbob@localhost/Work' id='b1' type='error'>" +
          "<body>bad</body><error code='400' type='modify'>Bad Request</error></message>",
      );
    });

    // RFC 3920 9.2.3: an iq is a get, set, result or error. Any other type,
    // or none, is refused where it enters, whoever it was for: a client, a
    // module (roster, vCard, time) or the host.
    test('an iq whose type is missing or not get/set/result/error: 400 to the sender, nowhere else', async () => {
      const cases: [id: string, attrs: string, payload: string, from: string][] = [
        ['t1', "type='bogus' to='erralice@localhost/Work'", "<query xmlns='x'/>", 'erralice@localhost/Work'],
        ['t2', "to='erralice@localhost/Work'", "<query xmlns='x'/>", 'erralice@localhost/Work'],
        ['t3', "type='bogus'", "<query xmlns='jabber:iq:roster'/>", 'errbob@localhost'],
        ['t4', '', "<query xmlns='jabber:iq:roster'/>", 'errbob@localhost'],
        ['t5', "type='bogus' to='erralice@localhost'", "<vCard xmlns='vcard-temp'/>", 'erralice@localhost'],
        ['t6', "type='bogus' to='localhost'", "<query xmlns='jabber:iq:time'/>", 'localhost'],
        ['t7', "to='localhost'", "<query xmlns='jabber:iq:time'/>", 'localhost'],
        ['t8', "type='GET' to='localhost'", "<query xmlns='jabber:iq:version'/>", 'localhost'],
        ['t9', "type='' to='erralice@localhost/Work'", "<query xmlns='x'/>", 'erralice@localhost/Work'],
      ];
      for (const [id, attrs, payload, from] of cases) {
        assertXml(
          await bob.request(`<iq id='${id}' ${attrs}>${payload}</iq>`),
          `<iq type='error' id='${id}' to='errbob@localhost/Work' from='${from}'>${payload}` +
            "<error code='400' type='modify'>Bad Request</error></iq>",
        );
      }
      await alice.nothing((e) => e.name === 'iq', [bob], 'an iq with no valid type reached a client');
    });

    test('errors and results are never answered, whoever they are addressed to', async () => {
      bob.send("<message type='error' to='nobody@localhost' id='x1'><body>x</body><error code='404'>Not Found</error></message>");
      bob.send("<message type='error' to='someone@elsewhere.example' id='x2'/>");
      bob.send("<iq type='error' to='localhost' id='x3'><query xmlns='urn:example:unknown'/><error code='503'/></iq>");
      bob.send("<iq type='error' to='nobody@localhost' id='x4'/>");
      // RFC 6120 8.2.3: a result is not answered either, even when nobody takes it.
      bob.send("<iq type='result' to='erralice@localhost' id='x5'/>");
      bob.send("<iq type='result' to='localhost' id='x6'/>");
      bob.send("<iq type='result' to='nobody@localhost' id='x7'/>");
      await bob.nothing(() => true, [], 'an error or result was answered');
    });

    test('presence to an unknown user draws no error; a subscription request to one is refused', async () => {
      bob.send("<presence to='nobody@localhost'/>");
      await bob.nothing((e) => e.name === 'presence' || e.attrs.type === 'error', [], 'presence was answered');
      // As 1.4's js_bounce did: the asker's client shows why, its roster loses the ask (roster.test).
      bob.send("<presence type='subscribe' to='nobody@localhost'/>");
      assertXml(
        await bob.next((e) => e.name === 'presence'),
        "<presence type='unsubscribed' from='nobody@localhost' to='errbob@localhost'><status>Not Found</status></presence>",
      );
    });
  });

  describe('from is always the sender', () => {
    test('a forged from on messages, presence and iq is replaced by the full JID of the session', async () => {
      const mallory = await onlineUser(yak, 'forge1');
      const victim = await onlineUser(yak, 'forge2');
      const target = await onlineUser(yak, 'forge3');
      try {
        mallory.send("<message to='forge3@localhost' from='forge2@localhost/Work' id='f1'><body>it is me</body></message>");
        assertXml(
          await target.next((e) => e.name === 'message'),
          "<message to='forge3@localhost' from='forge1@localhost/Work' id='f1'><body>it is me</body></message>",
        );
        mallory.send("<message to='forge3@localhost' from='localhost' id='f2'><body>server says</body></message>");
        assertXml(
          await target.next((e) => e.name === 'message'),
          "<message to='forge3@localhost' from='forge1@localhost/Work' id='f2'><body>server says</body></message>",
        );
        mallory.send("<presence to='forge3@localhost' from='forge2@localhost/Work'><status>forged</status></presence>");
        assertXml(
          await target.next((e) => e.name === 'presence'),
          "<presence to='forge3@localhost' from='forge1@localhost/Work'><status>forged</status></presence>",
        );
        // The reply to a request with a forged from comes back to the sender, not to the victim.
        assertXml(
          await mallory.request("<iq type='get' id='f3' to='localhost' from='forge2@localhost/Work'><query xmlns='jabber:iq:time'/></iq>"),
          "<iq type='result' id='f3' to='forge1@localhost/Work' from='localhost'><query xmlns='jabber:iq:time'>" +
            '<utc>*</utc><tz>*</tz><display>*</display></query></iq>',
        );
        await victim.nothing(() => true, [mallory], 'the victim heard of the forged stanzas');
      } finally {
        await closeAll(mallory, victim, target);
      }
    });

    test('a message without to goes to the sender’s own account', async () => {
      const a = await onlineUser(yak, 'self1');
      try {
        a.send("<message id='s1'><body>note to self</body></message>");
        assertXml(
          await a.next((e) => e.name === 'message'),
          "<message id='s1' to='self1@localhost' from='self1@localhost/Work'><body>note to self</body></message>",
        );
      } finally {
        await a.close();
      }
    });

    // 1.4's jid_new("") was NULL: an empty `to` was no `to` at all.
    // Net::Jabber::Loudmouth writes to='' on every stanza it builds
    // (interop-loudmouth.test.ts), its roster get among them.
    test("an empty to is no to: the user's own roster, a presence broadcast, a note to self", async () => {
      const a = await onlineUser(yak, 'empty1');
      const b = await onlineUser(yak, 'empty2');
      try {
        await subscribeBoth(a, b);
        await b.clear();
        assertXml(
          await a.request("<iq type='get' to='' id='r1'><query xmlns='jabber:iq:roster'/></iq>"),
          "<iq type='result' id='r1' to='empty1@localhost/Work'><query xmlns='jabber:iq:roster'>" +
            "<item jid='empty2@localhost' subscription='both'/></query></iq>",
        );
        a.send("<presence to=''><status>here</status></presence>");
        assertXml(
          await b.next((e) => e.name === 'presence'),
          "<presence from='empty1@localhost/Work' to='empty2@localhost'><status>here</status></presence>",
        );
        a.send("<message to='' id='s2'><body>note to self</body></message>");
        assertXml(
          await a.next((e) => e.name === 'message'),
          "<message id='s2' to='empty1@localhost' from='empty1@localhost/Work'><body>note to self</body></message>",
        );
      } finally {
        await closeAll(a, b);
      }
    });
  });
});
