// Edges of the session manager after login (SPEC section 8) that a legacy
// client's user would see: what strangers' stanzas may reach a client,
// what a session never seen leaves behind, and requests to a resource
// that has gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, login, newUser, NS_ROSTER, onlineUser, plain, sessionEnded, spoolRecords, subscribeBoth } from './helpers/session.js';

const isPresence = (e: { name: string }): boolean => e.name === 'presence';

describe('after login: strangers, unseen sessions, resources gone', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  test("a stranger's unsubscribe or unsubscribed changes nothing, so it reaches no client (RFC 3921 9.3)", async () => {
    const a = await onlineUser(yak, 'stray1');
    const stranger = await onlineUser(yak, 'stray2');
    const known = await onlineUser(yak, 'stray3');
    try {
      await a.roster();
      // On the roster, with no subscription either way and nothing asked.
      await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='stray3@localhost' name='K'/></query></iq>`);
      await a.clear();
      for (const from of [stranger, known]) {
        for (const type of ['unsubscribe', 'unsubscribed']) from.send(`<presence type='${type}' to='stray1@localhost'/>`);
      }
      // A legacy client shows each as "removed you" / "refused your request".
      await a.nothing(isPresence, [stranger, known], 'a subscription presence that changed nothing was delivered');
      await a.nothing(() => true, [], 'something was pushed');
      assertXml(await a.roster(), `<query xmlns='${NS_ROSTER}'><item jid='stray3@localhost' name='K' subscription='none'/></query>`);
      // No hidden item was left for the stranger either.
      const stored = (await spoolRecords(yak, 'stray1'))!.get(NS_ROSTER)!;
      assert.deepEqual(stored.getChildren('item').map((i) => i.attrs.jid), ['stray3@localhost']);
    } finally {
      await closeAll(a, stranger, known);
    }
  });

  test('a withdrawn request and a cancelled subscription are still delivered', async () => {
    const a = await onlineUser(yak, 'stray4');
    const b = await onlineUser(yak, 'stray5');
    try {
      b.send("<presence type='subscribe' to='stray4@localhost'/>");
      await a.next("<presence type='subscribe' from='stray5@localhost' to='stray4@localhost'/>");
      b.send("<presence type='unsubscribe' to='stray4@localhost'/>");
      await a.next("<presence type='unsubscribe' from='stray5@localhost' to='stray4@localhost'/>");
      await subscribeBoth(a, b);
      b.send("<presence type='unsubscribe' to='stray4@localhost'/>");
      await a.next("<presence type='unsubscribe' from='stray5@localhost' to='stray4@localhost'/>");
      b.send("<presence type='unsubscribed' to='stray4@localhost'/>");
      await a.next("<presence type='unsubscribed' from='stray5@localhost' to='stray4@localhost'/>");
    } finally {
      await closeAll(a, b);
    }
  });

  test('a session never seen available leaves the last logout as it was, even when it says unavailable', async () => {
    const a = await newUser(yak, 'unseen1');
    try {
      await a.close();
      const registered = (await spoolRecords(yak, 'unseen1'))!.get('jabber:iq:last')!.toString();
      // A client that always says goodbye, here after never saying hello:
      // contacts polling jabber:iq:last would learn it was online.
      const bot = await login(yak, 'unseen1', 'Bot');
      const ended = sessionEnded(yak, bot.full);
      await bot.presence("<presence type='unavailable'><status>Logged off</status></presence>");
      await bot.close();
      await ended;
      assert.equal((await spoolRecords(yak, 'unseen1'))!.get('jabber:iq:last')!.toString(), registered);

      // One that was seen still records its final status.
      const seen = await login(yak, 'unseen1', 'Seen');
      const seenEnded = sessionEnded(yak, seen.full);
      await seen.presence();
      await seen.presence("<presence type='unavailable'><status>gone fishing</status></presence>");
      await seen.close();
      await seenEnded;
      assert.equal((await spoolRecords(yak, 'unseen1'))!.get('jabber:iq:last')!.text(), 'gone fishing');
    } finally {
      await a.close();
    }
  });

  test('a request to a resource that is not connected is answered for the account, as 1.4 did (vCard, last, browse)', async () => {
    const a = await onlineUser(yak, 'gonejid1', 'Home');
    const b = await onlineUser(yak, 'gonejid2');
    try {
      await subscribeBoth(a, b);
      await a.request("<iq type='set'><vCard xmlns='vcard-temp'><FN>Ann</FN></vCard></iq>");
      // b asks with the JID its chat window holds, after a logged off.
      await a.close();
      await b.next("<presence type='unavailable' from='gonejid1@localhost/Home' to='gonejid2@localhost'><status>Disconnected</status></presence>");
      assertXml(
        await b.request("<iq type='get' id='v' to='gonejid1@localhost/Home'><vCard xmlns='vcard-temp'/></iq>"),
        "<iq type='result' id='v' to='gonejid2@localhost/Work' from='gonejid1@localhost/Home'><vCard xmlns='vcard-temp'><FN>Ann</FN></vCard></iq>",
      );
      assertXml(
        await b.request("<iq type='get' id='l' to='gonejid1@localhost/Home'><query xmlns='jabber:iq:last'/></iq>"),
        "<iq type='result' id='l' to='gonejid2@localhost/Work' from='gonejid1@localhost/Home'><query xmlns='jabber:iq:last' seconds='*'>Disconnected</query></iq>",
      );
      assertXml(
        await b.request("<iq type='get' id='br' to='gonejid1@localhost/Home'><query xmlns='jabber:iq:browse'/></iq>"),
        "<iq type='result' id='br' to='gonejid2@localhost/Work' from='gonejid1@localhost/Home'><user xmlns='jabber:iq:browse' jid='gonejid1@localhost'/></iq>",
      );
      // A connected resource gets last and browse requests itself, as in
      // 1.4 (only their offline chain answered); a vCard get is still
      // answered by the server, as 1.4's mod_vcard did on the session's chain.
      const again = await login(yak, 'gonejid1', 'Home');
      try {
        for (const query of ["<query xmlns='jabber:iq:last'/>", "<query xmlns='jabber:iq:browse'/>"]) {
          const asked = again.next((e) => e.name === 'iq');
          b.send(`<iq type='get' id='c' to='gonejid1@localhost/Home'>${query}</iq>`);
          assertXml(await asked, `<iq type='get' id='c' to='gonejid1@localhost/Home' from='gonejid2@localhost/Work'>${query}</iq>`);
        }
        assertXml(
          await b.request("<iq type='get' id='v2' to='gonejid1@localhost/Home'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='result' id='v2' to='gonejid2@localhost/Work' from='gonejid1@localhost/Home'><vCard xmlns='vcard-temp'><FN>Ann</FN></vCard></iq>",
        );
        await again.nothing((e) => e.name === 'iq', [b], 'a vCard request reached the client');
      } finally {
        await again.close();
      }
    } finally {
      await closeAll(a, b);
    }
  });

  test("another account's roster push to a user's resource is refused: a legacy client would take it for the server's", async () => {
    const a = await onlineUser(yak, 'spoof1');
    const b = await onlineUser(yak, 'spoof2');
    try {
      await a.roster();
      const item = "<item jid='spoof2@localhost' name='Mom' subscription='both'/>";
      for (const type of ['set', 'get']) {
        assertXml(
          await b.request(`<iq type='${type}' id='p${type}' to='spoof1@localhost/Work'><query xmlns='${NS_ROSTER}'>${item}</query></iq>`),
          `<iq type='error' id='p${type}' to='spoof2@localhost/Work' from='spoof1@localhost/Work'><query xmlns='${NS_ROSTER}'>${item}</query>` +
            "<error code='403' type='auth'>Forbidden</error></iq>",
        );
      }
      // 1.4's pushes carry no from, so its clients never look at it.
      await a.nothing((e) => e.name === 'iq', [b], "another account's roster push reached the client");
      // The user's own resources still reach each other (the server's pushes are not routed at all).
      const home = await login(yak, 'spoof1', 'Home');
      try {
        const got = a.next((e) => e.name === 'iq' && e.attrs.type === 'get');
        home.send(`<iq type='get' id='own' to='spoof1@localhost/Work'><query xmlns='${NS_ROSTER}'/></iq>`);
        assertXml(await got, `<iq type='get' id='own' to='spoof1@localhost/Work' from='spoof1@localhost/Home'><query xmlns='${NS_ROSTER}'/></iq>`);
      } finally {
        await home.close();
      }
    } finally {
      await closeAll(a, b);
    }
  });
});
