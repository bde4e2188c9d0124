// SPEC section 8, mod_roster: jabber:iq:roster get/set/remove with pushes
// (no id, to every resource that fetched the roster), the subscription
// states none/to/from/both with ask, the subscribe / subscribed /
// unsubscribe / unsubscribed exchanges changing both rosters, pending
// requests kept and shown again at each login, and a client never setting
// subscription or ask itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Element } from '../src/xml/element.js';
import { hostDirName, userFileName } from '../src/xdb/file-names.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { answerHolds, changeItems, findItem, type ItemChange, type ItemChanged } from '../src/jsm/roster.js';
import { stepWallClock } from './helpers/wall-clock.js';
import { holdCalls, holdFirstCall } from './helpers/latch.js';
import { registerUser, removeWhileHeld, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import {
  closeAll,
  xml,
  login,
  newUser,
  NS_ROSTER,
  offlineUser,
  onlineUser,
  plain,
  receiveAll,
  spoolRecords,
  subscriptionArrived,
  subscribeBoth,
  type Client,
} from './helpers/session.js';

const push = (to: string, item: string): string =>
  `<iq type='set' id='*' to='${to}'><query xmlns='${NS_ROSTER}'>${item}</query></iq>`;

/** Exactly these stanzas (in any order) and nothing more, once `senders` are handled. */
async function expectExactly(c: Client, patterns: string[], senders: Client[] = []): Promise<void> {
  await receiveAll(c, patterns);
  await c.nothing(() => true, senders, `${c.full} got more than expected`);
}

/** Who has a request pending on this stored roster. */
function pendingOf(records: Map<string, Element>): string[] {
  return (records.get(NS_ROSTER)?.getChildren('item') ?? []).filter((i) => i.attrs.subscribe !== undefined).map((i) => i.attrs.jid!);
}

async function assertRoster(c: Client, items: string): Promise<void> {
  assertXml(await c.roster(), `<query xmlns='${NS_ROSTER}'>${items}</query>`);
}

describe('mod_roster', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  test("a roster iq from another account never reaches the client: a request is refused 403 whatever child comes before its <query/> and however it is written; a result or error is dropped", async () => {
    const victim = await onlineUser(yak, 'pushed1');
    const evil = await onlineUser(yak, 'pusher1');
    try {
      const item = "item jid='boss@localhost' name='Your Boss' subscription='both'/";
      const queries = [
        `<query xmlns='${NS_ROSTER}'><${item}></query>`,
        `<x xmlns='jabber:x:delay' from='localhost' stamp='20260101T00:00:00'/><query xmlns='${NS_ROSTER}'><${item}></query>`,
        // A namespace-aware client reads these as the same query.
        `<r:query xmlns:r='${NS_ROSTER}'><r:${item}></r:query>`,
        // (a prefix declared on the iq: the parser copies the declaration to where it is used)
        `<r:query><r:${item}></r:query>`,
        // And one that matches attributes reads this as one.
        `<r:query xmlns:r='urn:other' xmlns='${NS_ROSTER}'><${item}></r:query>`,
      ];
      for (const [i, query] of queries.entries()) {
        for (const type of ['set', 'get']) {
          const reply = await evil.request(`<iq type='${type}' id='p${i}' to='pushed1@localhost/Work' xmlns:r='${NS_ROSTER}'>${query}</iq>`);
          assert.equal(reply.getChild('error')?.attrs.code, '403', reply.toString());
        }
        // xmpp4r and Net::XMPP take roster items in a result (or an error) as they take a push, whatever its id.
        for (const type of ['result', 'error']) evil.send(`<iq type='${type}' id='roster_1' to='pushed1@localhost/Work' xmlns:r='${NS_ROSTER}'>${query}</iq>`);
        evil.send(`<iq type='result' id='roster_1' to='pushed1@localhost' xmlns:r='${NS_ROSTER}'>${query}</iq>`);
      }
      await evil.nothing((e) => e.name === 'iq', [victim], 'a result or error carrying roster items was answered');
      await victim.nothing((e) => e.name === 'iq', [evil], "a stranger's roster iq reached the client");
      // Other results from other accounts still go through.
      evil.send("<iq type='result' id='v1' to='pushed1@localhost/Work'><query xmlns='jabber:iq:version'><name>x</name></query></iq>");
      assert.equal((await victim.next((e) => e.name === 'iq')).attrs.id, 'v1');
    } finally {
      await closeAll(victim, evil);
    }
  });

  test('get: an empty roster', async () => {
    const a = await newUser(yak, 'empty1');
    try {
      assertXml(
        await a.request(`<iq type='get' id='r1'><query xmlns='${NS_ROSTER}'/></iq>`),
        `<iq type='result' id='r1' to='empty1@localhost/Work'><query xmlns='${NS_ROSTER}'/></iq>`,
      );
    } finally {
      await a.close();
    }
  });

  test('set: a result, a push to every resource that fetched the roster, none to the others', async () => {
    const work = await newUser(yak, 'set1');
    const home = await login(yak, 'set1', 'Home');
    const phone = await login(yak, 'set1', 'Phone');
    try {
      await work.roster();
      await home.roster();
      const item = "<item jid='set2@localhost' name='Bob' subscription='none'><group>Friends</group><group>Chess</group></item>";
      assertXml(
        await work.request(
          `<iq type='set' id='s1'><query xmlns='${NS_ROSTER}'><item jid='set2@localhost' name='Bob'>` +
            '<group>Friends</group><group>Chess</group></item></query></iq>',
        ),
        "<iq type='result' id='s1' to='set1@localhost/Work'/>",
      );
      await expectExactly(work, [push('set1@localhost/Work', item)]);
      await expectExactly(home, [push('set1@localhost/Home', item)], [work]);
      await phone.nothing(() => true, [work], 'a resource that never fetched the roster got a push');
      await assertRoster(phone, item);

      // A second set replaces name and groups.
      await work.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='set2@localhost' name='Bobby'/></query></iq>`);
      const renamed = "<item jid='set2@localhost' name='Bobby' subscription='none'/>";
      await expectExactly(home, [push('set1@localhost/Home', renamed)], [work]);
      await assertRoster(home, renamed);
    } finally {
      await closeAll(work, home, phone);
    }
  });

  test("a push has an id; the client's answer to it, however made, goes nowhere and is never answered", async () => {
    const work = await newUser(yak, 'ack1');
    const home = await login(yak, 'ack1', 'Home');
    try {
      await work.roster();
      await home.roster();
      await work.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='ack2@localhost'/></query></iq>`);
      const pushed = await home.next((e) => e.name === 'iq' && e.attrs.type === 'set');
      const id = pushed.attrs.id!;
      assert.match(id, /^push\d+$/);
      await work.clear();
      // As libstrophe and libpurple answer, as slixmpp does (the query sent back), as Class.Jabber.PHP does (an error).
      for (const answer of [
        `<iq type='result' id='${id}'/>`,
        `<iq type='result' id='${id}' to='ack1@localhost'/>`,
        `<iq type='result' id='${id}'><query xmlns='${NS_ROSTER}'/></iq>`,
        `<iq type='error' id='${id}'><error code='501'>Not Implemented</error></iq>`,
        `<iq type='error' id='${id}' to='localhost'><query xmlns='${NS_ROSTER}'/><error code='400'/></iq>`,
      ]) {
        home.send(answer);
      }
      await home.nothing(() => true, [work], 'an answer to a push was answered');
      await work.nothing(() => true, [home], "an answer to a push reached the user's other resource");
    } finally {
      await closeAll(work, home);
    }
  });

  test('set: subscription and ask given by the client are ignored', async () => {
    const a = await newUser(yak, 'forge1');
    const b = await newUser(yak, 'forge2');
    try {
      await a.roster();
      await a.request(
        `<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='forge2@localhost' subscription='both' ask='subscribe'/></query></iq>`,
      );
      await expectExactly(a, [push('forge1@localhost/Work', "<item jid='forge2@localhost' subscription='none'/>")]);
      await assertRoster(a, "<item jid='forge2@localhost' subscription='none'/>");
      // Nothing was asked of the contact.
      await b.nothing(() => true, [a], 'the contact heard of a forged subscription');

      // On a real subscription, a set keeps the server's state.
      await a.presence();
      await b.presence();
      await subscribeBoth(a, b);
      await a.request(
        `<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='forge2@localhost' name='B' subscription='none' ask='unsubscribe'/></query></iq>`,
      );
      await assertRoster(a, "<item jid='forge2@localhost' name='B' subscription='both'/>");
      await assertRoster(b, "<item jid='forge1@localhost' subscription='both'/>");
    } finally {
      await closeAll(a, b);
    }
  });

  test('set: malformed requests get 400 and change nothing', async () => {
    const a = await newUser(yak, 'bad1');
    try {
      const cases = [
        "<item jid='bad1@localhost'/>",
        "<item name='no jid'/>",
        "<item jid='x@localhost/Resource'/>",
        '',
      ];
      for (const [i, items] of cases.entries()) {
        assertXml(
          await a.request(`<iq type='set' id='b${i}'><query xmlns='${NS_ROSTER}'>${items}</query></iq>`),
          `<iq type='error' id='b${i}' to='bad1@localhost/Work' from='bad1@localhost'><query xmlns='${NS_ROSTER}'>${items}</query>` +
            "<error code='400' type='modify'>Bad Request</error></iq>",
        );
      }
      await assertRoster(a, '');
    } finally {
      await a.close();
    }
  });

  // 1.4's mod_roster took every <item> of a set; iksroster restores a whole
  // backed-up roster in one set (interop-iksemel.test.ts).
  test('set: several items in one set, as 1.4 took them: each stored and pushed in order, in one write', async () => {
    const work = await newUser(yak, 'many1');
    const home = await login(yak, 'many1', 'Home');
    try {
      await work.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='many3@localhost' name='Old'/></query></iq>`);
      await home.roster();
      // Counts the roster changes the set makes (each one a write of the whole file).
      const xdb = yak.server.xdb;
      const update = xdb.update.bind(xdb);
      let updates = 0;
      xdb.update = ((...args: Parameters<Xdb['update']>) => {
        if (args[1] === 'many1' && args[2] === NS_ROSTER) updates++;
        return update(...args);
      }) as Xdb['update'];
      assertXml(
        await work.request(
          `<iq type='set' id='m1'><query xmlns='${NS_ROSTER}'>` +
            "<item jid='many2@localhost' name='Bob'><group>Friends</group></item>" +
            "<item jid='many3@localhost' subscription='remove'/>" +
            "<item jid='zed@elsewhere.example' name='Zed' subscription='both'/>" +
            '</query></iq>',
        ),
        "<iq type='result' id='m1' to='many1@localhost/Work'/>",
      );
      xdb.update = update;
      assert.equal(updates, 1, 'one set, one change of the stored roster');
      await expectExactly(
        home,
        [
          push('many1@localhost/Home', "<item jid='many2@localhost' name='Bob' subscription='none'><group>Friends</group></item>"),
          push('many1@localhost/Home', "<item jid='many3@localhost' subscription='remove'/>"),
          push('many1@localhost/Home', "<item jid='zed@elsewhere.example' name='Zed' subscription='none'/>"),
        ],
        [work],
      );
      const items = "<item jid='many2@localhost' name='Bob' subscription='none'><group>Friends</group></item>" +
        "<item jid='zed@elsewhere.example' name='Zed' subscription='none'/>";
      await assertRoster(home, items);
      assertXml((await spoolRecords(yak, 'many1'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'>${items}</query>`);

      // One malformed item refuses the whole set: nothing changes.
      const bad = "<item jid='many4@localhost'/><item jid='many1@localhost'/>";
      assertXml(
        await work.request(`<iq type='set' id='m2'><query xmlns='${NS_ROSTER}'>${bad}</query></iq>`),
        `<iq type='error' id='m2' to='many1@localhost/Work' from='many1@localhost'><query xmlns='${NS_ROSTER}'>${bad}</query>` +
          "<error code='400' type='modify'>Bad Request</error></iq>",
      );
      await home.nothing(() => true, [work], 'a push for a refused set');
      await assertRoster(home, items);
    } finally {
      await closeAll(work, home);
    }
  });

  // 1.4's mod_roster took every roster request its session sent, whatever the
  // `to`. iksroster restores the roster result it saved, to='USER/iksroster'
  // and all, from USER/iksroster again: a request addressed to the very
  // resource that sends it can only mean the user's own roster.
  test('a request addressed to the sending resource itself is one for the user\'s own roster', async () => {
    const a = await newUser(yak, 'selfto1');
    const other = await login(yak, 'selfto1', 'Other');
    try {
      assertXml(
        await a.request(`<iq type='set' id='st1' to='selfto1@localhost/Work'><query xmlns='${NS_ROSTER}'><item jid='selfto2@localhost' name='S'/></query></iq>`),
        "<iq type='result' id='st1' to='selfto1@localhost/Work' from='selfto1@localhost/Work'/>",
      );
      const item = "<item jid='selfto2@localhost' name='S' subscription='none'/>";
      assertXml(
        await a.request(`<iq type='get' id='st2' to='selfto1@localhost/Work'><query xmlns='${NS_ROSTER}'/></iq>`),
        `<iq type='result' id='st2' to='selfto1@localhost/Work' from='selfto1@localhost/Work'><query xmlns='${NS_ROSTER}'>${item}</query></iq>`,
      );
      // Another resource of the same account is still a resource: the request goes to it.
      a.send(`<iq type='get' id='st3' to='selfto1@localhost/Other'><query xmlns='${NS_ROSTER}'/></iq>`);
      await other.next(`<iq type='get' id='st3' to='selfto1@localhost/Other' from='selfto1@localhost/Work'><query xmlns='${NS_ROSTER}'/></iq>`);
    } finally {
      await closeAll(a, other);
    }
  });

  test('remove: a result, a removal push, and the item is gone', async () => {
    const work = await newUser(yak, 'rm1');
    const home = await login(yak, 'rm1', 'Home');
    try {
      await work.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='rm2@localhost' name='R'/></query></iq>`);
      await home.roster();
      assertXml(
        await work.request(`<iq type='set' id='rm'><query xmlns='${NS_ROSTER}'><item jid='rm2@localhost' subscription='remove'/></query></iq>`),
        "<iq type='result' id='rm' to='rm1@localhost/Work'/>",
      );
      await expectExactly(home, [push('rm1@localhost/Home', "<item jid='rm2@localhost' subscription='remove'/>")], [work]);
      await assertRoster(home, '');
      // Removing what is not there is fine, and pushes nothing.
      assertXml(
        await work.request(`<iq type='set' id='rm2'><query xmlns='${NS_ROSTER}'><item jid='rm2@localhost' subscription='remove'/></query></iq>`),
        "<iq type='result' id='rm2' to='rm1@localhost/Work'/>",
      );
      await home.nothing(() => true, [work], 'a removal of nothing was pushed');
    } finally {
      await closeAll(work, home);
    }
  });

  test('remove: an item stored under a jid that no longer prepares is removed by that very jid', async () => {
    const a = await newUser(yak, 'rmold1');
    try {
      // As an earlier Yak could store them (U+FFFD in a name), or 1.4 with a resource.
      const stored = ['a\ufffdb@localhost', 'rmold2@localhost/Home'];
      const items = stored.map((j) => `<item jid='${j}' subscription='both'/>`).join('');
      await yak.server.xdb.set(yak.host, 'rmold1', { [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'>${items}</query>`) });
      await assertRoster(a, items);
      for (const [i, jid] of stored.entries()) {
        assertXml(
          await a.request(`<iq type='set' id='o${i}'><query xmlns='${NS_ROSTER}'><item jid='${jid}'/></query></iq>`),
          `<iq type='error' id='o${i}' to='rmold1@localhost/Work' from='rmold1@localhost'><query xmlns='${NS_ROSTER}'><item jid='${jid}'/></query>` +
            "<error code='400' type='modify'>Bad Request</error></iq>",
        );
      }
      for (const [i, jid] of stored.entries()) {
        assertXml(
          await a.request(`<iq type='set' id='r${i}'><query xmlns='${NS_ROSTER}'><item jid='${jid}' subscription='remove'/></query></iq>`),
          `<iq type='result' id='r${i}' to='rmold1@localhost/Work'/>`,
        );
        await expectExactly(a, [push('rmold1@localhost/Work', `<item jid='${jid}' subscription='remove'/>`)]);
      }
      await assertRoster(a, '');
      assert.equal((await spoolRecords(yak, 'rmold1'))?.get(NS_ROSTER)?.getChildren('item').length, 0);
    } finally {
      await a.close();
    }
  });

  test('remove: one set removing thousands of contacts of this server is carried out', async () => {
    const a = await newUser(yak, 'manyrm');
    try {
      const jids = Array.from({ length: 3000 }, (_, i) => `manyrm${i}@localhost`);
      const items = (extra: string): string => jids.map((j) => `<item jid='${j}'${extra}/>`).join('');
      await yak.server.xdb.set(yak.host, a.user, { [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'>${items(" subscription='both'")}</query>`) });
      // Each pair is taken in turn (see SubscriptionPairs): taken one inside another, 3,000 overflowed the stack (500).
      assertXml(
        await a.request(`<iq type='set' id='all'><query xmlns='${NS_ROSTER}'>${items(" subscription='remove'")}</query></iq>`, 30_000),
        "<iq type='result' id='all' to='manyrm@localhost/Work'/>",
      );
      await assertRoster(a, '');
    } finally {
      await a.close();
    }
  });

  test("remove: a leftover item (a full JID 1.4 stored, one's own full JID) goes, and nobody's subscription with it", async () => {
    const a = await newUser(yak, 'leftover1');
    const aHome = await login(yak, 'leftover1', 'Home');
    const b = await onlineUser(yak, 'leftover2');
    try {
      const items =
        "<item jid='leftover2@localhost' subscription='both'/><item jid='leftover2@localhost/Home' subscription='both'/>" +
        "<item jid='leftover1@localhost/Home' subscription='both'/>";
      await yak.server.xdb.set(yak.host, 'leftover1', { [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'>${items}</query>`) });
      await yak.server.xdb.set(yak.host, 'leftover2', {
        [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'><item jid='leftover1@localhost' subscription='both'/></query>`),
      });
      await a.presence();
      await aHome.presence();
      for (const c of [a, aHome, b]) await c.clear();
      for (const jid of ['leftover2@localhost/Home', 'leftover1@localhost/Home']) {
        assertXml(
          await a.request(`<iq type='set' id='lo'><query xmlns='${NS_ROSTER}'><item jid='${jid}' subscription='remove'/></query></iq>`),
          "<iq type='result' id='lo' to='leftover1@localhost/Work'/>",
        );
      }
      await assertRoster(a, "<item jid='leftover2@localhost' subscription='both'/>");
      assert.equal(
        findItem((await spoolRecords(yak, 'leftover2'))!.get(NS_ROSTER)!, 'leftover1@localhost')?.toString(),
        "<item jid='leftover1@localhost' subscription='both'/>",
        "the contact's subscription went with the leftover",
      );
      await b.nothing((e) => e.name === 'presence', [a], 'the contact was told');
      await aHome.nothing((e) => e.name === 'presence', [a], "the user's own resource was told of a going");
    } finally {
      await closeAll(a, aHome, b);
    }
  });

  describe('subscriptions', () => {
    test('the full handshake: each step changes both rosters, and both end at both', async () => {
      const a = await onlineUser(yak, 'hs1');
      const aHome = await login(yak, 'hs1', 'Home');
      const b = await onlineUser(yak, 'hs2');
      try {
        await a.roster();
        await aHome.roster();
        await b.roster();

        // 1. a asks b.
        a.send("<presence type='subscribe' to='hs2@localhost'><status>hi b</status></presence>");
        await expectExactly(a, [push('hs1@localhost/Work', "<item jid='hs2@localhost' subscription='none' ask='subscribe'/>")]);
        await expectExactly(aHome, [push('hs1@localhost/Home', "<item jid='hs2@localhost' subscription='none' ask='subscribe'/>")]);
        // The request reaches b; a pending request is not a roster item yet,
        // and, as in 1.4, it follows each roster result while it waits.
        await expectExactly(b, ["<presence type='subscribe' to='hs2@localhost' from='hs1@localhost'><status>hi b</status></presence>"]);
        await assertRoster(b, '');
        await expectExactly(b, ["<presence type='subscribe' from='hs1@localhost' to='hs2@localhost'><status>hi b</status></presence>"]);

        // 2. b approves: b has a 'from' item, a a 'to' item, and a sees b at once.
        b.send("<presence type='subscribed' to='hs1@localhost'/>");
        await expectExactly(b, [push('hs2@localhost/Work', "<item jid='hs1@localhost' subscription='from'/>")]);
        await expectExactly(a, [
          "<presence type='subscribed' to='hs1@localhost' from='hs2@localhost'/>",
          push('hs1@localhost/Work', "<item jid='hs2@localhost' subscription='to'/>"),
          "<presence from='hs2@localhost/Work' to='hs1@localhost'><x xmlns='jabber:x:delay' from='hs2@localhost/Work' stamp='*'/></presence>",
        ]);
        await receiveAll(aHome, [push('hs1@localhost/Home', "<item jid='hs2@localhost' subscription='to'/>")]);
        await aHome.clear();

        // 3. b asks a.
        b.send("<presence type='subscribe' to='hs1@localhost'/>");
        await expectExactly(b, [push('hs2@localhost/Work', "<item jid='hs1@localhost' subscription='from' ask='subscribe'/>")]);
        await expectExactly(a, ["<presence type='subscribe' to='hs1@localhost' from='hs2@localhost'/>"]);

        // 4. a approves: both.
        a.send("<presence type='subscribed' to='hs2@localhost'/>");
        await expectExactly(a, [push('hs1@localhost/Work', "<item jid='hs2@localhost' subscription='both'/>")]);
        await expectExactly(b, [
          "<presence type='subscribed' to='hs2@localhost' from='hs1@localhost'/>",
          push('hs2@localhost/Work', "<item jid='hs1@localhost' subscription='both'/>"),
          "<presence from='hs1@localhost/Work' to='hs2@localhost'><x xmlns='jabber:x:delay' from='hs1@localhost/Work' stamp='*'/></presence>",
        ]);

        await assertRoster(a, "<item jid='hs2@localhost' subscription='both'/>");
        await assertRoster(b, "<item jid='hs1@localhost' subscription='both'/>");
        // On disk too, with no bookkeeping left over (SPEC section 6).
        assertXml((await spoolRecords(yak, 'hs1'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'><item jid='hs2@localhost' subscription='both'/></query>`);
        assertXml((await spoolRecords(yak, 'hs2'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'><item jid='hs1@localhost' subscription='both'/></query>`);
      } finally {
        await closeAll(a, aHome, b);
      }
    });

    test('unsubscribe and unsubscribed take both rosters back to none', async () => {
      const a = await onlineUser(yak, 'un1');
      const b = await onlineUser(yak, 'un2');
      try {
        await a.roster();
        await b.roster();
        await subscribeBoth(a, b);

        // a stops seeing b: a keeps 'from', b keeps 'to'.
        a.send("<presence type='unsubscribe' to='un2@localhost'/>");
        await receiveAll(a, [push('un1@localhost/Work', "<item jid='un2@localhost' subscription='from'/>")]);
        await receiveAll(b, [
          "<presence type='unsubscribe' to='un2@localhost' from='un1@localhost'/>",
          push('un2@localhost/Work', "<item jid='un1@localhost' subscription='to'/>"),
        ]);
        await assertRoster(a, "<item jid='un2@localhost' subscription='from'/>");
        await assertRoster(b, "<item jid='un1@localhost' subscription='to'/>");

        // a stops b seeing a: none on both sides, and b hears that a is gone.
        a.send("<presence type='unsubscribed' to='un2@localhost'/>");
        await receiveAll(a, [push('un1@localhost/Work', "<item jid='un2@localhost' subscription='none'/>")]);
        await receiveAll(b, [
          "<presence type='unsubscribed' to='un2@localhost' from='un1@localhost'/>",
          push('un2@localhost/Work', "<item jid='un1@localhost' subscription='none'/>"),
          "<presence type='unavailable' from='un1@localhost/Work' to='un2@localhost'/>",
        ]);
        await assertRoster(a, "<item jid='un2@localhost' subscription='none'/>");
        await assertRoster(b, "<item jid='un1@localhost' subscription='none'/>");
      } finally {
        await closeAll(a, b);
      }
    });

    test('a refused request: the asker loses the ask, the refuser keeps nothing', async () => {
      const a = await onlineUser(yak, 'deny1');
      const b = await onlineUser(yak, 'deny2');
      try {
        await a.roster();
        await b.roster();
        a.send("<presence type='subscribe' to='deny2@localhost'/>");
        await receiveAll(b, ["<presence type='subscribe' to='deny2@localhost' from='deny1@localhost'/>"]);
        b.send("<presence type='unsubscribed' to='deny1@localhost'/>");
        await receiveAll(a, [
          push('deny1@localhost/Work', "<item jid='deny2@localhost' subscription='none' ask='subscribe'/>"),
          "<presence type='unsubscribed' to='deny1@localhost' from='deny2@localhost'/>",
          push('deny1@localhost/Work', "<item jid='deny2@localhost' subscription='none'/>"),
        ]);
        await b.nothing(() => true, [], 'the refuser got a push');
        await assertRoster(a, "<item jid='deny2@localhost' subscription='none'/>");
        await assertRoster(b, '');
        // Not even a hidden item is left in the file.
        assertXml((await spoolRecords(yak, 'deny2'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'/>`);
        // Refused means forgotten: the next login does not show it again.
        await b.close();
        const again = await login(yak, 'deny2');
        try {
          await again.presence();
          await again.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'a refused request came back');
        } finally {
          await again.close();
        }
      } finally {
        await closeAll(a, b);
      }
    });

    test('a pending request is kept and shown again at every login until answered', async () => {
      const asker = await onlineUser(yak, 'pend1');
      await newUser(yak, 'pend2').then((c) => c.close());
      try {
        asker.send("<presence type='subscribe' to='pend2@localhost'><status>let me in</status></presence>");
        await asker.sync();
        const request = "<presence type='subscribe' from='pend1@localhost' to='pend2@localhost'><status>let me in</status></presence>";
        for (let round = 0; round < 2; round++) {
          const c = await login(yak, 'pend2');
          try {
            await c.nothing(() => true, [], 'the request came before any presence');
            // Not a roster item while pending.
            await assertRoster(c, '');
            c.send('<presence/>');
            assertXml(await c.next((e) => e.name === 'presence'), request);
          } finally {
            await c.close();
          }
        }
        const c = await login(yak, 'pend2');
        try {
          await c.presence();
          await c.clear();
          c.send("<presence type='subscribed' to='pend1@localhost'/>");
          await c.sync();
        } finally {
          await c.close();
        }
        const last = await login(yak, 'pend2');
        try {
          await last.presence();
          await last.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'an answered request came back');
          await assertRoster(last, "<item jid='pend1@localhost' subscription='from'/>");
        } finally {
          await last.close();
        }
        // The asker heard the answer (waits for exactly this stanza).
        await asker.next("<presence type='subscribed' from='pend2@localhost' to='pend1@localhost'/>");
        assert.equal((await asker.item('pend2@localhost'))?.attrs.subscription, 'to');
      } finally {
        await asker.close();
      }
    });

    // RFC 3921 8.2: a request that finds no available resource is shown
    // when the user next has one, even one that already fetched its roster.
    test('a request that arrives between the roster get and the first presence is shown at that presence, once; those the get showed are not shown again', async () => {
      const early = await onlineUser(yak, 'gap3');
      const asker = await onlineUser(yak, 'gap2');
      const withdrawn = await onlineUser(yak, 'gap4');
      await offlineUser(yak, 'gap1');
      try {
        early.send("<presence type='subscribe' to='gap1@localhost'/>");
        await early.sync();
        const b = await login(yak, 'gap1');
        try {
          await assertRoster(b, '');
          // The roster get shows the request already pending.
          await expectExactly(b, ["<presence type='subscribe' from='gap3@localhost' to='gap1@localhost'/>"]);
          asker.send("<presence type='subscribe' to='gap1@localhost'><status>me too</status></presence>");
          // One asked and withdrawn meanwhile is not shown.
          withdrawn.send("<presence type='subscribe' to='gap1@localhost'/>");
          withdrawn.send("<presence type='unsubscribe' to='gap1@localhost'/>");
          await b.nothing(() => true, [asker, withdrawn], 'a request reached a session with no presence');
          b.send('<presence/>');
          await expectExactly(b, ["<presence type='subscribe' from='gap2@localhost' to='gap1@localhost'><status>me too</status></presence>"]);
          // Shown now: a later presence does not show it again.
          await b.presence("<presence type='unavailable'/>");
          await b.presence('<presence/>');
          await b.nothing(() => true, [], 'a request shown was shown again');
        } finally {
          await b.close();
        }
      } finally {
        await closeAll(early, asker, withdrawn);
      }
    });

    test('a pending request from a contact already on the roster is kept and shown again too', async () => {
      const owner = await newUser(yak, 'pendk1');
      const asker = await onlineUser(yak, 'pendk2');
      try {
        await owner.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='pendk2@localhost' name='Known'/></query></iq>`);
        await owner.close();
        asker.send("<presence type='subscribe' to='pendk1@localhost'/>");
        await asker.sync();
        const again = await login(yak, 'pendk1');
        try {
          // The pending request adds nothing the client can see to the item.
          await assertRoster(again, "<item jid='pendk2@localhost' name='Known' subscription='none'/>");
          again.send('<presence/>');
          assertXml(await again.next((e) => e.name === 'presence'), "<presence type='subscribe' from='pendk2@localhost' to='pendk1@localhost'/>");
        } finally {
          await again.close();
        }
      } finally {
        await asker.close();
      }
    });

    test("asking again when already subscribed bothers nobody and changes nothing, and shows the contact's presence again", async () => {
      const a = await onlineUser(yak, 'again1');
      const b = await onlineUser(yak, 'again2');
      try {
        await a.roster();
        await b.roster();
        await subscribeBoth(a, b);
        await b.presence('<presence><show>dnd</show><status>busy</status></presence>');
        await a.clear();
        a.send("<presence type='subscribe' to='again2@localhost'/>");
        // RFC 3921 9.2/9.3: b's server answers 'subscribed' for b (1.4's
        // "Already Subscribed"), and a's server drops that answer. As 1.4's
        // probe did, a gets b's presence now: it may have lost it.
        assertXml(
          await a.next((e) => e.name === 'presence'),
          "<presence from='again2@localhost/Work' to='again1@localhost'><show>dnd</show><status>busy</status><x xmlns='jabber:x:delay' from='again2@localhost/Work' stamp='*'/></presence>",
        );
        await b.nothing(() => true, [a], 'the contact was asked again');
        await a.nothing(() => true, [], 'the asker got more');
        await assertRoster(a, "<item jid='again2@localhost' subscription='both'/>");
        await assertRoster(b, "<item jid='again1@localhost' subscription='both'/>");
      } finally {
        await closeAll(a, b);
      }
    });

    test("a request from someone who lost a subscription the contact still grants gets 1.4's 'Already Subscribed' and the contact's presence", async () => {
      const a = await onlineUser(yak, 'lost1');
      const b = await onlineUser(yak, 'lost2');
      try {
        await a.roster();
        await b.roster();
        await subscribeBoth(a, b);
        await b.presence('<presence><status>here</status></presence>');
        // a's side lost its 'to' (a spool restored from an old backup, say); b still lets a see it.
        await yak.server.xdb.set(yak.host, 'lost1', {
          [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'><item jid='lost2@localhost' subscription='from'/></query>`),
        });
        await a.clear();
        a.send("<presence type='subscribe' to='lost2@localhost'/>");
        await receiveAll(a, [
          push('lost1@localhost/Work', "<item jid='lost2@localhost' subscription='from' ask='subscribe'/>"),
          // b's server answers for b, with 1.4's status, and a's server takes it.
          "<presence type='subscribed' from='lost2@localhost' to='lost1@localhost'><status>Already Subscribed</status></presence>",
          push('lost1@localhost/Work', "<item jid='lost2@localhost' subscription='both'/>"),
          // And a sees b again at once, as 1.4's probe showed it.
          "<presence from='lost2@localhost/Work' to='lost1@localhost'><status>here</status><x xmlns='jabber:x:delay' from='lost2@localhost/Work' stamp='*'/></presence>",
        ]);
        await b.nothing(() => true, [a], 'the contact was asked again');
      } finally {
        await closeAll(a, b);
      }
    });

    test('an approval or a cancellation about a contact not on the roster changes nothing: no item, no push, nobody sees anything', async () => {
      const a = await onlineUser(yak, 'unasked1');
      const b = await onlineUser(yak, 'unasked2');
      try {
        await a.roster();
        await b.roster();
        // Nobody asked: the approval grants nothing (no pre-approval, RFC 3921 9.2).
        a.send("<presence type='subscribed' to='unasked2@localhost'/>");
        a.send("<presence type='unsubscribe' to='unasked2@localhost'/>");
        a.send("<presence type='unsubscribed' to='unasked2@localhost'/>");
        await a.nothing(() => true, [], 'the sender got a push');
        await assertRoster(a, '');
        await assertRoster(b, '');
        assertXml((await spoolRecords(yak, 'unasked1'))!.get(NS_ROSTER) ?? xml(`<query xmlns='${NS_ROSTER}'/>`), `<query xmlns='${NS_ROSTER}'/>`);
        await b.clear();
        a.send('<presence><status>still here</status></presence>');
        await b.nothing((e) => e.name === 'presence', [a], 'an unasked approval let the contact see the sender');
      } finally {
        await closeAll(a, b);
      }
    });

    /** Both stored items of the pair, as `a's item | b's item` ('-' for none). */
    async function pairState(a: Client, b: Client): Promise<string> {
      const itemOf = async (owner: Client, other: Client): Promise<string> => {
        const roster = (await spoolRecords(yak, owner.user))?.get(NS_ROSTER);
        return (roster && findItem(roster, other.bare)?.toString()) ?? '-';
      };
      return `${await itemOf(a, b)} | ${await itemOf(b, a)}`;
    }

    /** a subscribes to b and b approves: a's item says 'to', b's 'from'. */
    async function subscribeTo(a: Client, b: Client): Promise<void> {
      a.send(`<presence type='subscribe' to='${b.bare}'/>`);
      await a.sync();
      b.send(`<presence type='subscribed' to='${a.bare}'/>`);
      await b.sync();
    }

    /**
     * a sends `fromA`, and b sends `fromB` while a's waits on its way into
     * b's roster (only its first change there is held): carried out on
     * their own, the two crossed. Both are handled on return.
     */
    async function cross(a: Client, fromA: string, b: Client, fromB: string): Promise<void> {
      const xdb = yak.server.xdb as Xdb;
      const hold = holdFirstCall(xdb, 'update', (_host, user, ns) => user === b.user && ns === NS_ROSTER);
      try {
        a.send(fromA);
        await hold.reached;
        const spy = subscriptionArrived(xdb, b, a);
        try {
          b.send(fromB);
          await spy.arrived;
        } finally {
          spy.restore();
        }
        hold.release();
        await b.sync();
        await a.sync();
      } finally {
        hold.restore();
      }
    }

    const removal = (jid: string): string => `<iq type='set' id='rm'><query xmlns='${NS_ROSTER}'><item jid='${jid}' subscription='remove'/></query></iq>`;

    for (const answer of ['subscribed', 'unsubscribed']) {
      test(`${answer === 'subscribed' ? 'a' : 'an'} ${answer} sent while a request from that contact is on its way waits for it, then answers it: both rosters agree`, async () => {
        const a = await onlineUser(yak, `cross${answer}1`);
        const b = await onlineUser(yak, `cross${answer}2`);
        try {
          await a.roster();
          await b.roster();
          // b answers before it has any request from a. Carried out on its
          // own, it met a's request half stored: an answer to nothing on b's
          // side, the request left pending there for good.
          await cross(a, `<presence type='subscribe' to='${b.bare}'/>`, b, `<presence type='${answer}' to='${a.bare}'/>`);
          await receiveAll(b, [`<presence type='subscribe' to='${b.bare}' from='${a.bare}'/>`]);
          await receiveAll(a, [`<presence type='${answer}' to='${a.bare}' from='${b.bare}'/>`]);
          assert.equal(
            await pairState(a, b),
            answer === 'subscribed'
              ? `<item jid='${b.bare}' subscription='to'/> | <item jid='${a.bare}' subscription='from'/>`
              : `<item jid='${b.bare}' subscription='none'/> | -`,
          );
        } finally {
          await closeAll(a, b);
        }
      });
    }

    // a already sees b and asks again (a client re-adding a contact) as b revokes, or removes a.
    for (const [what, name, fromB, after] of [
      ['an unsubscribed', 'crossre', (a: Client) => `<presence type='unsubscribed' to='${a.bare}'/>`, (a: Client) => `<item jid='${a.bare}' subscription='none'/>`],
      ['a removal', 'crossrq', (a: Client) => removal(a.bare), () => '-'],
    ] as const) {
      test(`a subscribe crossing ${what}: carried out one after the other, the rosters agree, and a later approval holds on both sides`, async () => {
        const a = await onlineUser(yak, `${name}1`);
        const b = await onlineUser(yak, `${name}2`);
        try {
          await subscribeTo(a, b);
          await cross(a, `<presence type='subscribe' to='${b.bare}'/>`, b, fromB(a));
          // Interleaved, a's roster lost its 'to' while b's held a request a no longer asked.
          assert.equal(await pairState(a, b), `<item jid='${b.bare}' subscription='none'/> | ${after(a)}`);
          await subscribeTo(a, b);
          assert.equal(await pairState(a, b), `<item jid='${b.bare}' subscription='to'/> | <item jid='${a.bare}' subscription='from'/>`);
        } finally {
          await closeAll(a, b);
        }
      });
    }

    test('the contact removes its item as the user cancels: the user is told once that the contact is gone for it', async () => {
      const a = await onlineUser(yak, 'crossrm1');
      const b = await onlineUser(yak, 'crossrm2');
      try {
        await subscribeTo(a, b);
        await b.presence('<presence><status>here</status></presence>');
        await a.clear();
        await cross(a, `<presence type='unsubscribe' to='${b.bare}'/>`, b, removal(a.bare));
        // Each side's goodbye is keyed on its own roster's change: told once, whichever went first.
        await receiveAll(a, [`<presence type='unavailable' from='${b.full}' to='${a.bare}'/>`]);
        await a.nothing((e) => e.name === 'presence' && e.attrs.type === 'unavailable', [b], 'told twice');
        assert.equal(await pairState(a, b), `<item jid='${b.bare}' subscription='none'/> | -`);
      } finally {
        await closeAll(a, b);
      }
    });

    test("an approval keeps nothing on the new subscriber's session once its presences are shown", async () => {
      const a = await onlineUser(yak, 'kept1');
      const b = await onlineUser(yak, 'kept2');
      try {
        await b.presence('<presence><status>here</status></presence>');
        for (let i = 0; i < 3; i++) {
          a.send(`<presence type='subscribe' to='${b.bare}'/>`);
          await a.sync();
          b.send(`<presence type='subscribed' to='${a.bare}'/>`);
          await b.sync();
          await a.next((e) => e.name === 'presence' && e.attrs.from === b.full && e.attrs.type === undefined);
          b.send(`<presence type='unsubscribed' to='${a.bare}'/>`);
          await b.sync();
          await a.clear();
        }
        const viewer = yak.server.jsm.sessions.find(a.bare, a.resource)!;
        assert.deepEqual([...viewer.data.keys()].filter((k) => k.startsWith('presence-of')), [], 'kept for the life of the session');
      } finally {
        await closeAll(a, b);
      }
    });

    test("an unsubscribed from a contact one neither watches nor asked is dropped: the user's client is not told of a refusal", async () => {
      const a = await onlineUser(yak, 'spurious1');
      const b = await onlineUser(yak, 'spurious2');
      try {
        await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='spurious2@localhost' name='B'/></query></iq>`);
        await a.clear();
        b.send("<presence type='unsubscribed' to='spurious1@localhost'/>");
        await a.nothing(() => true, [b], 'the user was told');
        await assertRoster(a, "<item jid='spurious2@localhost' name='B' subscription='none'/>");
      } finally {
        await closeAll(a, b);
      }
    });

    test('adding someone whose request is pending makes the item visible at once; the request stays to be answered', async () => {
      const a = await onlineUser(yak, 'addask1');
      const b = await onlineUser(yak, 'addask2');
      try {
        await a.roster();
        b.send("<presence type='subscribe' to='addask1@localhost'/>");
        await receiveAll(a, ["<presence type='subscribe' to='addask1@localhost' from='addask2@localhost'/>"]);
        await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='addask2@localhost' name='Asker'/></query></iq>`);
        await receiveAll(a, [push('addask1@localhost/Work', "<item jid='addask2@localhost' name='Asker' subscription='none'/>")]);
        await assertRoster(a, "<item jid='addask2@localhost' name='Asker' subscription='none'/>");
        a.send("<presence type='subscribed' to='addask2@localhost'/>");
        await receiveAll(a, [push('addask1@localhost/Work', "<item jid='addask2@localhost' name='Asker' subscription='from'/>")]);
        await receiveAll(b, ["<presence type='subscribed' to='addask2@localhost' from='addask1@localhost'/>"]);
      } finally {
        await closeAll(a, b);
      }
    });

    test('removing an item whose request is still unanswered withdraws the request: the contact is not asked again at login', async () => {
      const a = await onlineUser(yak, 'rmask1');
      await newUser(yak, 'rmask2').then((c) => c.close());
      try {
        await a.roster();
        a.send("<presence type='subscribe' to='rmask2@localhost'/>");
        await a.sync();
        assert.ok(pendingOf((await spoolRecords(yak, 'rmask2'))!).includes('rmask1@localhost'), 'the request was not stored');
        const removed = await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='rmask2@localhost' subscription='remove'/></query></iq>`);
        assert.equal(removed.attrs.type, 'result', removed.toString());
        assertXml((await spoolRecords(yak, 'rmask2'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'/>`);
        const b = await login(yak, 'rmask2');
        try {
          await b.presence();
          await b.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'a withdrawn request came back');
        } finally {
          await b.close();
        }
      } finally {
        await a.close();
      }
    });

    test('a withdrawn request leaves nothing behind: no item, not shown again', async () => {
      const a = await onlineUser(yak, 'wd1');
      const b = await newUser(yak, 'wd2');
      try {
        await b.close();
        a.send("<presence type='subscribe' to='wd2@localhost'/>");
        await a.sync();
        a.send("<presence type='unsubscribe' to='wd2@localhost'/>");
        await a.sync();
        assertXml((await spoolRecords(yak, 'wd2'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'/>`);
        const again = await login(yak, 'wd2');
        try {
          await again.presence();
          await again.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'a withdrawn request came back');
        } finally {
          await again.close();
        }
      } finally {
        await closeAll(a, b);
      }
    });

    test('subscription presence to oneself changes nothing; an item for oneself left by an older version can be removed', async () => {
      const a = await onlineUser(yak, 'self1');
      try {
        await a.roster();
        for (const type of ['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']) a.send(`<presence type='${type}' to='self1@localhost'/>`);
        await a.nothing(() => true, [], 'a subscription to oneself was answered');
        await assertRoster(a, '');
        assert.equal((await spoolRecords(yak, 'self1'))!.get(NS_ROSTER), undefined);
        // Setting one's own JID is still refused...
        const refused = await a.request(`<iq type='set' id='own'><query xmlns='${NS_ROSTER}'><item jid='self1@localhost' name='me'/></query></iq>`);
        assert.equal(refused.getChild('error')?.attrs.code, '400', refused.toString());
        // ...but such an item, once stored, can go.
        await yak.server.xdb.set(yak.host, 'self1', {
          [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'><item jid='self1@localhost' subscription='both'/></query>`),
        });
        const removed = await a.request(`<iq type='set' id='rmown'><query xmlns='${NS_ROSTER}'><item jid='self1@localhost' subscription='remove'/></query></iq>`);
        assert.equal(removed.attrs.type, 'result', removed.toString());
        await receiveAll(a, [push('self1@localhost/Work', "<item jid='self1@localhost' subscription='remove'/>")]);
        await a.nothing(() => true, [], 'removing the own item sent more');
        await assertRoster(a, '');
      } finally {
        await a.close();
      }
    });

    test('a request to a user that does not exist is refused (with its id, as 1.4 bounced it), and the asker loses the ask', async () => {
      const a = await onlineUser(yak, 'ghostask1');
      try {
        await a.roster();
        a.send("<presence type='subscribe' to='nobody-here@localhost' id='s1'/>");
        await receiveAll(a, [
          push('ghostask1@localhost/Work', "<item jid='nobody-here@localhost' subscription='none' ask='subscribe'/>"),
          "<presence type='unsubscribed' id='s1' from='nobody-here@localhost' to='ghostask1@localhost'><status>Not Found</status></presence>",
          push('ghostask1@localhost/Work', "<item jid='nobody-here@localhost' subscription='none'/>"),
        ]);
        await assertRoster(a, "<item jid='nobody-here@localhost' subscription='none'/>");
      } finally {
        await a.close();
      }
    });

    test('a request to another domain (there is no server-to-server link) is refused, and the asker loses the ask', async () => {
      const a = await onlineUser(yak, 'farask1');
      try {
        await a.roster();
        a.send("<presence type='subscribe' to='x@remote.example' id='s2'/>");
        await receiveAll(a, [
          push('farask1@localhost/Work', "<item jid='x@remote.example' subscription='none' ask='subscribe'/>"),
          "<presence type='unsubscribed' id='s2' from='x@remote.example' to='farask1@localhost'><status>Not Found</status></presence>",
          push('farask1@localhost/Work', "<item jid='x@remote.example' subscription='none'/>"),
        ]);
        await assertRoster(a, "<item jid='x@remote.example' subscription='none'/>");
      } finally {
        await a.close();
      }
    });

    test('a request to another domain leaves an item subscribed already (a roster from 1.4) as it was', async () => {
      const a = await onlineUser(yak, 'farask2');
      try {
        await yak.server.jsm.xdb.set('localhost', 'farask2', {
          [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'><item jid='x@remote.example' subscription='to'/></query>`),
        });
        a.send("<presence type='subscribe' to='x@remote.example'/>");
        await a.nothing(() => true, [a], 'a request to a contact one is subscribed to already was answered');
        await assertRoster(a, "<item jid='x@remote.example' subscription='to'/>");
      } finally {
        await a.close();
      }
    });

    test('a request to an account removed while it is handled is refused, and leaves no file behind', async () => {
      const a = await onlineUser(yak, 'lateask1');
      await registerUser(yak, 'lateask2', 'pw');
      const xdb = yak.server.xdb as Xdb;
      // The change to lateask2's roster waits until the account is gone.
      const hold = holdCalls(xdb, 'update', (_host, user, ns) => user === 'lateask2' && ns === NS_ROSTER);
      try {
        await a.roster();
        a.send("<presence type='subscribe' to='lateask2@localhost'/>");
        await removeWhileHeld(yak, hold, 'lateask2');
        await receiveAll(a, [
          push('lateask1@localhost/Work', "<item jid='lateask2@localhost' subscription='none' ask='subscribe'/>"),
          "<presence type='unsubscribed' from='lateask2@localhost' to='lateask1@localhost'><status>Not Found</status></presence>",
        ]);
        assert.equal(await spoolRecords(yak, 'lateask2'), undefined, 'a file was made for the removed account');
        assert.equal(await xdb.exists('localhost', 'lateask2'), false);
      } finally {
        hold.restore();
        await a.close();
      }
    });

    test('a request arriving while the account is being removed (its file still there) is refused, not left unanswered', async () => {
      const a = await onlineUser(yak, 'gapask1');
      await registerUser(yak, 'gapask2', 'pw');
      const xdb = yak.server.xdb as Xdb;
      // The removal waits with its contacts told, the file not yet deleted.
      const hold = holdCalls(xdb, 'remove', (_host, user) => user === 'gapask2');
      try {
        await a.roster();
        const removal = yak.server.jsm.removeUser('localhost', 'gapask2');
        await hold.reached;
        a.send("<presence type='subscribe' to='gapask2@localhost'/>");
        await receiveAll(a, [
          push('gapask1@localhost/Work', "<item jid='gapask2@localhost' subscription='none' ask='subscribe'/>"),
          "<presence type='unsubscribed' from='gapask2@localhost' to='gapask1@localhost'><status>Not Found</status></presence>",
          push('gapask1@localhost/Work', "<item jid='gapask2@localhost' subscription='none'/>"),
        ]);
        hold.release();
        await removal;
        assert.equal(await spoolRecords(yak, 'gapask2'), undefined);
      } finally {
        hold.restore();
        await a.close();
      }
    });

    test('removing an account cancels its contacts’ subscriptions: whoever registers the name next inherits none', async () => {
      const a = await onlineUser(yak, 'gone1');
      const b = await onlineUser(yak, 'gone2');
      const c = await onlineUser(yak, 'gone3');
      let heir: Client | undefined;
      try {
        await b.roster();
        await c.roster();
        await subscribeBoth(a, b);
        // c's request to a is still pending when a goes.
        c.send("<presence type='subscribe' to='gone1@localhost'/>");
        await c.sync();
        await c.clear();
        await a.request("<iq type='set' to='localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>");
        await a.stream.whenClosed();
        await receiveAll(b, [
          "<presence type='unavailable' from='gone1@localhost/Work' to='gone2@localhost'><status>Removed</status></presence>",
          "<presence type='unsubscribe' from='gone1@localhost' to='gone2@localhost'/>",
          "<presence type='unsubscribed' from='gone1@localhost' to='gone2@localhost'/>",
        ]);
        await assertRoster(b, "<item jid='gone1@localhost' subscription='none'/>");
        await receiveAll(c, ["<presence type='unsubscribed' from='gone1@localhost' to='gone3@localhost'/>"]);
        await assertRoster(c, "<item jid='gone1@localhost' subscription='none'/>");

        heir = await newUser(yak, 'gone1');
        await assertRoster(heir, '');
        await heir.presence();
        heir.send("<presence type='probe' to='gone2@localhost'/>");
        b.send("<presence><status>in a meeting</status></presence>");
        await heir.nothing((e) => e.name === 'presence', [b], 'the new owner of the name saw a presence');
      } finally {
        await closeAll(a, b, c, heir);
      }
    });

    test("removing an account: its contacts are told before its file goes, so a crash in between cannot leave them holding the name", async () => {
      const a = await onlineUser(yak, 'gone4');
      const b = await onlineUser(yak, 'gone5');
      const xdb = yak.server.xdb as Xdb;
      const original = xdb.remove.bind(xdb);
      // What the contact's stored roster says about the account when its file is removed.
      let atRemoval: string | undefined;
      xdb.remove = async (host, user) => {
        if (user === 'gone4') {
          const roster = await xdb.get(host, 'gone5', NS_ROSTER);
          atRemoval = roster?.getChildren('item').find((i) => i.attrs.jid === 'gone4@localhost')?.attrs.subscription;
        }
        return original(host, user);
      };
      try {
        await b.roster();
        await subscribeBoth(a, b);
        await a.request("<iq type='set' to='localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>");
        await a.stream.whenClosed();
        assert.equal(atRemoval, 'none', 'the contact still held a subscription when the file went');
      } finally {
        xdb.remove = original;
        await closeAll(a, b);
      }
    });

    test('removing an account with many contacts tells several at once: their roster changes reach the disk together', async () => {
      const xdb = yak.server.xdb;
      const contacts = Array.from({ length: 200 }, (_, i) => `wide${i}`);
      const roster = (jids: string[]): Element => xml(`<query xmlns='${NS_ROSTER}'>${jids.map((j) => `<item jid='${j}@localhost' subscription='both'/>`).join('')}</query>`);
      const password = xml("<password xmlns='jabber:iq:auth'>pw</password>");
      await xdb.create('localhost', 'widest', { 'jabber:iq:auth': password, [NS_ROSTER]: roster(contacts) });
      for (const c of contacts) await xdb.create('localhost', c, { 'jabber:iq:auth': password, [NS_ROSTER]: roster(['widest']) });
      const commits = xdb.journalCommits;
      await yak.server.jsm.removeUser('localhost', 'widest');
      for (const c of contacts) {
        const item = (await xdb.get('localhost', c, NS_ROSTER))?.getChildren('item').find((i) => i.attrs.jid === 'widest@localhost');
        assert.equal(item?.attrs.subscription, 'none', `${c}: ${item?.toString()}`);
      }
      // Each contact's item changes twice and keeps both notices for its
      // next login: 800 changes, each its own disk flush when told one by one.
      const flushes = xdb.journalCommits - commits;
      assert.ok(flushes < contacts.length, `${flushes} journal flushes for ${contacts.length} contacts`);
    });

    test('a remove and a set racing from two resources: the last push each one gets is what is stored', async () => {
      const a = await onlineUser(yak, 'race1');
      const b = await login(yak, 'race1', 'Home');
      const contact = await onlineUser(yak, 'race2');
      try {
        await a.roster();
        await b.roster();
        a.send("<presence type='subscribe' to='race2@localhost'/>");
        await a.sync();
        await b.sync();
        await a.clear();
        await b.clear();
        // The remove tells the contact before it is done (held there); the set lands meanwhile.
        const hold = holdFirstCall(yak.server.xdb, 'update', (_host, user) => user === 'race2');
        let stored: Element | undefined;
        try {
          a.send(`<iq type='set' id='rm'><query xmlns='${NS_ROSTER}'><item jid='race2@localhost' subscription='remove'/></query></iq>`);
          await hold.reached;
          assert.equal((await b.request(`<iq type='set' id='nm'><query xmlns='${NS_ROSTER}'><item jid='race2@localhost' name='n0'/></query></iq>`)).attrs.type, 'result');
          hold.release();
          assert.equal((await a.stream.next((e) => e.attrs.id === 'rm')).attrs.type, 'result');
          await b.sync();
          stored = (await spoolRecords(yak, 'race1'))!.get(NS_ROSTER)!.getChildren('item').find((i) => i.attrs.jid === 'race2@localhost');
          assert.equal(stored?.attrs.name, 'n0', 'the set inside the window is not what is stored');
        } finally {
          hold.release();
          hold.restore();
        }
        for (const c of [a, b]) {
          const pushes: Element[] = [];
          for (;;) {
            const e = await c.stream.next((x) => x.name === 'iq' && x.attrs.type === 'set', 1).catch(() => undefined);
            if (!e) break;
            pushes.push(e);
          }
          const last = pushes.at(-1)?.getChild('query', NS_ROSTER)?.getChild('item');
          assert.ok(last, `${c.full} got no push`);
          if (stored === undefined) assert.equal(last.attrs.subscription, 'remove', `${c.full}: ${last.toString()}`);
          else assert.notEqual(last.attrs.subscription, 'remove', `${c.full} was told the item went, but it is stored: ${stored.toString()}`);
        }
      } finally {
        await closeAll(a, b, contact);
      }
    });

    test('removing an item cancels both directions on the contact’s roster too', async () => {
      const a = await onlineUser(yak, 'rmsub1');
      const b = await onlineUser(yak, 'rmsub2');
      try {
        await a.roster();
        await b.roster();
        await subscribeBoth(a, b);
        await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='rmsub2@localhost' subscription='remove'/></query></iq>`);
        await receiveAll(a, [push('rmsub1@localhost/Work', "<item jid='rmsub2@localhost' subscription='remove'/>")]);
        await receiveAll(b, [
          "<presence type='unsubscribe' to='rmsub2@localhost' from='rmsub1@localhost'/>",
          "<presence type='unsubscribed' to='rmsub2@localhost' from='rmsub1@localhost'/>",
        ]);
        await assertRoster(a, '');
        await assertRoster(b, "<item jid='rmsub1@localhost' subscription='none'/>");
      } finally {
        await closeAll(a, b);
      }
    });
  });
});

describe("mod_roster and the cap on the user's file", () => {
  test("a set that would take the file over <maxfilesize> gets 500 Account Storage Full, no push, and the roster is unchanged", async () => {
    const yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.maxFileBytes = 8192;
      },
    });
    const a = await newUser(yak, 'rcap1');
    try {
      await a.roster();
      const item = (n: number): string => `<item jid='friend${n}@localhost' name='${'n'.repeat(3000)}'/>`;
      for (const n of [1, 2]) {
        assert.equal((await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'>${item(n)}</query></iq>`)).attrs.type, 'result');
      }
      await a.clear();
      const refused = await a.request(`<iq type='set' id='big'><query xmlns='${NS_ROSTER}'>${item(3)}</query></iq>`);
      assertXml(
        refused,
        `<iq type='error' id='big' to='rcap1@localhost/Work' from='rcap1@localhost'><query xmlns='${NS_ROSTER}'>${item(3)}</query>` +
          "<error code='500' type='wait'>Account Storage Full</error></iq>",
      );
      await a.nothing(() => true, [], 'a push for a refused item');
      const jids = (await a.roster()).getChildren('item').map((i) => i.attrs.jid);
      assert.deepEqual(jids, ['friend1@localhost', 'friend2@localhost']);
      assert.equal((await spoolRecords(yak, 'rcap1'))!.get(NS_ROSTER)!.getChildren('item').length, 2);
    } finally {
      await a.close();
      await yak.stop();
    }
  });
});


describe('mod_roster and repeated subscription requests', () => {
  // A stranger could make the server rewrite and journal the user's whole
  // file (up to <maxfilesize>) with each small request while one was pending.
  test('a repeated request from a contact already pending changes nothing on disk: the request is kept as first stored', async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'rep1');
      const asker = await onlineUser(yak, 'rep2');
      const file = path.join(yak.spool, hostDirName('localhost'), userFileName('rep1'));
      const request = (status: string): string => `<presence type='subscribe' to='rep1@localhost'><status>${status}</status></presence>`;
      const shown = (status: string): string => `<presence type='subscribe' from='rep2@localhost' to='rep1@localhost'><status>${status}</status></presence>`;
      try {
        // The status a client shows: the jabber:client one, here with a prefix after a decoy.
        asker.send("<presence type='subscribe' to='rep1@localhost'><status xmlns='urn:decoy'>not this</status><s:status xmlns:s='jabber:client'>first</s:status></presence>");
        await asker.sync();
        await yak.server.xdb.flush();
        const text = await readFile(file, 'utf8');
        assert.match(text, /subscribe='first'/);
        const was = await stat(file);
        const commits = yak.server.xdb.journalCommits;
        for (let i = 0; i < 20; i++) asker.send(request(`again ${i}`));
        await asker.sync();
        await yak.server.xdb.flush();
        assert.equal(yak.server.xdb.journalCommits, commits, 'repeated requests were written to the journal');
        assert.equal(await readFile(file, 'utf8'), text);
        const now = await stat(file);
        assert.equal(now.mtimeMs, was.mtimeMs, 'the file was rewritten');
        assert.equal(now.ino, was.ino);

        // Shown at login once, with the status it was first stored with.
        let owner = await login(yak, 'rep1');
        owner.send('<presence/>');
        assertXml(await owner.next((e) => e.name === 'presence'), shown('first'));
        await owner.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'the request was shown twice');
        // A session online still gets a repeat as it comes.
        asker.send(request('still here'));
        assertXml(await owner.next((e) => e.name === 'presence'), shown('still here'));
        await owner.close();

        // Withdrawn, then asked again: the new request is stored, with its status.
        asker.send("<presence type='unsubscribe' to='rep1@localhost'/>");
        asker.send(request('after cancel'));
        await asker.sync();
        owner = await login(yak, 'rep1');
        try {
          owner.send('<presence/>');
          assertXml(await owner.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe'), shown('after cancel'));
          await owner.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'the request was shown twice');
          // And approved.
          owner.send("<presence type='subscribed' to='rep2@localhost'/>");
          await owner.sync();
          await asker.next("<presence type='subscribed' from='rep1@localhost' to='rep2@localhost'/>");
          assert.equal((await asker.item('rep1@localhost'))?.attrs.subscription, 'to');
          await assertRoster(owner, "<item jid='rep2@localhost' subscription='from'/>");
        } finally {
          await owner.close();
        }
      } finally {
        await asker.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('mod_roster and requests withdrawn and sent again', () => {
  // Each stores a request or forgets it: a rewrite of the user's whole file.
  test('a contact may store 5 requests with a user in 10 minutes; the next is refused, and nothing is written for it', async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'tog1');
      const asker = await onlineUser(yak, 'tog2');
      const other = await onlineUser(yak, 'tog3');
      try {
        for (let i = 0; i < 5; i++) {
          asker.send("<presence type='subscribe' to='tog1@localhost'/>");
          asker.send("<presence type='unsubscribe' to='tog1@localhost'/>");
        }
        await asker.sync();
        await yak.server.xdb.flush();
        const file = path.join(yak.spool, hostDirName('localhost'), userFileName('tog1'));
        const text = await readFile(file, 'utf8');
        const was = await stat(file);
        asker.send("<presence type='subscribe' to='tog1@localhost'><status>once more</status></presence>");
        await asker.next(
          "<presence type='unsubscribed' from='tog1@localhost' to='tog2@localhost'><status>Too many subscription requests: try again later</status></presence>",
        );
        await yak.server.xdb.flush();
        assert.equal(await readFile(file, 'utf8'), text);
        assert.equal((await stat(file)).mtimeMs, was.mtimeMs, "the user's file was rewritten for a request refused");
        // The refusal took back the asker's own ask.
        assert.equal((await asker.item('tog1@localhost'))?.attrs.ask, undefined);
        // Another contact is not held to the first one's count.
        other.send("<presence type='subscribe' to='tog1@localhost'/>");
        await other.nothing((e) => e.name === 'presence', [], 'a request from another contact was refused');
        const owner = await login(yak, 'tog1');
        try {
          owner.send('<presence/>');
          assert.equal((await owner.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe')).attrs.from, 'tog3@localhost');
          await owner.nothing((e) => e.name === 'presence' && e.attrs.type === 'subscribe', [], 'a refused request was shown');
        } finally {
          await owner.close();
        }
      } finally {
        await closeAll(asker, other);
      }
    } finally {
      await yak.stop();
    }
  });

  test('the 10 minutes are counted on a clock that only moves forward: a wall clock stepped forward past them does not open the window early', async () => {
    const yak = await startYak({ tweak: plain });
    try {
      await offlineUser(yak, 'tog4');
      const asker = await onlineUser(yak, 'tog5');
      try {
        for (let i = 0; i < 5; i++) {
          asker.send("<presence type='subscribe' to='tog4@localhost'/>");
          asker.send("<presence type='unsubscribe' to='tog4@localhost'/>");
        }
        await asker.sync();
        const restore = stepWallClock(11 * 60_000);
        try {
          asker.send("<presence type='subscribe' to='tog4@localhost'/>");
          await asker.next(
            "<presence type='unsubscribed' from='tog4@localhost' to='tog5@localhost'><status>Too many subscription requests: try again later</status></presence>",
          );
        } finally {
          restore();
        }
      } finally {
        await asker.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

/** An Xdb holding one user's roster in memory, handed to update() as it is (no copy). */
function rosterXdb(roster: Element | undefined): { xdb: Xdb; stored: () => Element | undefined } {
  const xdb = {
    update: (_host: string, _user: string, _ns: string, fn: (current: Element | undefined) => Element | null | undefined) => {
      const next = fn(roster);
      if (next !== undefined) roster = next ?? undefined;
      return Promise.resolve(roster);
    },
  } as unknown as Xdb;
  return { xdb, stored: () => roster };
}

/** changeItems as it was before it kept an index: a scan of the roster per change. The reference for what it does. */
function changeItemsByScan(roster: Element, changes: { jid: string; fn: ItemChange }[]): { results: ItemChanged[]; changed: boolean } {
  const results: ItemChanged[] = [];
  let changed = false;
  for (const { jid, fn } of changes) {
    const old = findItem(roster, jid);
    const before = old?.clone();
    const next = fn(old?.clone() ?? new Element('item', { jid, subscription: 'none' }), old !== undefined, roster);
    if (next === null) {
      if (old) {
        roster.children.splice(roster.children.indexOf(old), 1);
        changed = true;
      }
      results.push({ item: undefined, before });
      continue;
    }
    if (!old || !next.equals(old)) {
      if (old) roster.children[roster.children.indexOf(old)] = next;
      else roster.children.push(next);
      changed = true;
    }
    results.push({ item: next, before });
  }
  return { results, changed };
}

describe('answerHolds', () => {
  test('a kept subscription answer holds only while the roster still says what it said', () => {
    const roster = (items: string): Element => xml(`<query xmlns='${NS_ROSTER}'>${items}</query>`);
    const answer = (type: string): Element => xml(`<presence type='${type}' from='c@localhost/Res' to='u@localhost'/>`);
    const cases: [string, string, boolean][] = [
      ['subscribed', "<item jid='c@localhost' subscription='to'/>", true],
      ['subscribed', "<item jid='c@localhost' subscription='both'/>", true],
      ['subscribed', "<item jid='c@localhost' subscription='none'/>", false],
      ['unsubscribed', "<item jid='c@localhost' subscription='none'/>", true],
      ['unsubscribed', "<item jid='c@localhost' subscription='from'/>", true],
      ['unsubscribed', "<item jid='c@localhost' subscription='to'/>", false],
      // Asked again since: the new request waits for its own answer.
      ['unsubscribed', "<item jid='c@localhost' subscription='none' ask='subscribe'/>", false],
      ['unsubscribe', "<item jid='c@localhost' subscription='to'/>", true],
      ['unsubscribe', "<item jid='c@localhost' subscription='both'/>", false],
      // Asking again since: the pending request is shown instead.
      ['unsubscribe', "<item jid='c@localhost' subscription='none' subscribe=''/>", false],
      // The item removed, or only a stranger's pending request left.
      ['subscribed', "<item jid='other@localhost' subscription='to'/>", false],
      ['unsubscribed', "<item jid='c@localhost' subscription='none' subscribe='' hidden=''/>", false],
    ];
    for (const [type, items, holds] of cases) assert.equal(answerHolds(roster(items), answer(type)), holds, `${type} against ${items}`);
    assert.equal(answerHolds(undefined, answer('subscribed')), false, 'no roster at all');
  });
});

describe('changeItems', () => {
  const named = (name: string): ItemChange => (cur) => new Element('item', { ...cur.attrs, name });
  const remove: ItemChange = () => null;

  test('does what a scan of the roster per change did: order, results, before, duplicates, what a change sees', async () => {
    const stored = xml(
      `<query xmlns='${NS_ROSTER}'>\n <item jid='a@x' subscription='both'/><x xmlns='other'/>` +
        "<item jid='b@x' subscription='to'><group>G</group></item><item jid='c@x' name='first'/>" +
        "<item jid='d@x'/><item jid='c@x' name='second'/><item jid='e@x'/>\n</query>",
    );
    const changes: { jid: string; fn: ItemChange }[] = [
      { jid: 'nobody@x', fn: remove },
      { jid: 'b@x', fn: named('B') },
      { jid: 'b@x', fn: named('B2') }, // its `before` shows the first change
      { jid: 'c@x', fn: remove }, // the first of two items with this jid...
      { jid: 'c@x', fn: named('C') }, // ...so this one changes the second
      { jid: 'd@x', fn: remove },
      { jid: 'd@x', fn: named('back') }, // added again, at the end
      { jid: 'new@x', fn: named('N') },
      { jid: 'new@x', fn: remove },
      { jid: 'e@x', fn: (cur) => cur }, // unchanged
      { jid: 'e@x', fn: (cur) => new Element('item', { ...cur.attrs, jid: 'a@x' }) }, // now a second a@x
      { jid: 'a@x', fn: named('A') }, // still the first a@x
      // What a change sees of the roster: the changes before it made.
      { jid: 'count@x', fn: (cur, _existed, roster) => cur.setAttr('seen', roster.elements.map((e) => e.attrs.name ?? e.name).join(',')) },
      { jid: 'a@x', fn: remove },
      { jid: 'count@x', fn: (cur, _existed, roster) => cur.setAttr('seen', roster.elements.map((e) => e.attrs.name ?? e.name).join(',')) },
    ];
    const expected = stored.clone();
    const want = changeItemsByScan(expected, changes);
    const { xdb, stored: now } = rosterXdb(stored.clone());
    const got = await changeItems(xdb, 'localhost', 'u', changes);
    const text = (r: ItemChanged[]): (string | undefined)[][] => r.map(({ item, before }) => [item?.toString(), before?.toString()]);
    assert.deepEqual(text(got), text(want.results));
    assert.ok(want.changed);
    assert.equal(now()!.toString(), expected.toString());

    // A set that changes nothing leaves the stored roster as it was (no write).
    const same = rosterXdb(stored);
    await changeItems(same.xdb, 'localhost', 'u', [{ jid: 'a@x', fn: (cur) => cur }, { jid: 'zz@x', fn: remove }]);
    assert.equal(same.stored(), stored);
  });

  // The audit: one set of 5,000 removals of JIDs a 9,800-item roster did
  // not hold took 620-830 ms of CPU in one turn, as each change scanned the
  // roster (and `elements` copied it). Work is counted here, not time: every
  // read of a place in the roster's children, however made (the `elements`
  // getter, find, indexOf, a splice), goes through a Proxy that counts it.
  test('a set costs work in proportion to its items and the roster, not their product', async () => {
    const size = 2000;
    const children: Element[] = [];
    for (let i = 0; i < size; i++) children.push(new Element('item', { jid: `c${i}@localhost`, subscription: 'both' }));
    let visits = 0;
    const counted = new Proxy(children as Element[], {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) visits++;
        return Reflect.get(target, key, receiver);
      },
    });
    const { xdb, stored } = rosterXdb(new Element('query', { xmlns: NS_ROSTER }, counted));
    const changes: { jid: string; fn: ItemChange }[] = [];
    for (let i = 0; i < size; i++) changes.push({ jid: `x${i}@localhost`, fn: remove }); // not there: nothing changes
    for (let i = 0; i < size; i += 2) changes.push({ jid: `c${i}@localhost`, fn: named(`n${i}`) });
    for (let i = 1; i < size; i += 2) changes.push({ jid: `c${i}@localhost`, fn: remove });
    const results = await changeItems(xdb, 'localhost', 'u', changes);
    const work = size + changes.length;
    assert.ok(visits <= 4 * work, `${visits} reads of the roster's children for ${changes.length} changes to ${size} items`);
    // And it did the work.
    assert.equal(results.filter((r) => r.before !== undefined).length, size);
    const left = stored()!.elements;
    assert.equal(left.length, size / 2);
    assert.deepEqual(left.slice(0, 2).map((e) => e.toString()), [
      "<item jid='c0@localhost' subscription='both' name='n0'/>",
      "<item jid='c2@localhost' subscription='both' name='n2'/>",
    ]);
  });
});

describe('mod_roster serializes a roster once, not once per reader', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  /** Runs `work`, counting the serializations of <item/> elements meanwhile (work, not time). */
  async function itemsSerialized(work: () => Promise<void>): Promise<number> {
    const toString = Element.prototype.toString;
    let count = 0;
    Element.prototype.toString = function (this: Element): string {
      if (this.name === 'item') count++;
      return toString.call(this);
    };
    try {
      await work();
    } finally {
      Element.prototype.toString = toString;
    }
    return count;
  }

  const get = "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>";

  test('gets of an unchanged roster reuse its text; a change is shown at the next get', async () => {
    const a = await newUser(yak, 'once1');
    try {
      await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='x1@localhost'/><item jid='x2@localhost'/><item jid='x3@localhost'/></query></iq>`);
      let replies: Element[] = [];
      const counted = await itemsSerialized(async () => {
        for (let i = 0; i < 5; i++) replies.push(await a.request(get));
      });
      assert.equal(counted, 3, 'the roster was serialized again for a get of the same roster');
      for (const r of replies) assert.deepEqual(r.getChild('query', NS_ROSTER)!.getChildren('item').map((i) => i.attrs.jid), ['x1@localhost', 'x2@localhost', 'x3@localhost']);
      await a.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='x4@localhost' name='Four'/></query></iq>`);
      replies = [await a.request(get)];
      assertXml(
        replies[0]!.getChild('query', NS_ROSTER)!,
        `<query xmlns='${NS_ROSTER}'><item jid='x1@localhost' subscription='none'/><item jid='x2@localhost' subscription='none'/>` +
          `<item jid='x3@localhost' subscription='none'/><item jid='x4@localhost' name='Four' subscription='none'/></query>`,
      );
    } finally {
      await a.close();
    }
  });

  test("a push is serialized once for all the user's sessions, each addressed to its own", async () => {
    const sessions = [await newUser(yak, 'once2', 'One'), await login(yak, 'once2', 'Two'), await login(yak, 'once2', 'Three')];
    const alone = await newUser(yak, 'once3');
    try {
      for (const c of [...sessions, alone]) await c.request(get);
      const set = `<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='y1@localhost' name='Why'/></query></iq>`;
      // The same set by a user with one session and by one with three: the
      // store writes the item alike; the pushes must not add a text per session.
      const forOne = await itemsSerialized(async () => void (await alone.request(set)));
      const forThree = await itemsSerialized(async () => void (await sessions[0]!.request(set)));
      assert.equal(forThree, forOne);
      for (const c of sessions) {
        await receiveAll(c, [push(`once2@localhost/${c.resource}`, "<item jid='y1@localhost' name='Why' subscription='none'/>")]);
      }
    } finally {
      await closeAll(...sessions, alone);
    }
  });
});

