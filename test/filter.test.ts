// mod_filter (jabber:iq:filter), jabberd 1.4's server-side message rules
// with its wire format and spool layout: the user's own get and set (exact
// replies, the spool record, the 406 checks against the <filter> config,
// 403 for anyone else); which stanzas a rule matches (unavailable, from,
// resource, subject, body, show, type, ns, roster, group; AND across
// kinds, OR within one); what the actions send (reply, error, settype,
// forward, offline, continue) and when the stanza is still delivered; the
// <default> rules; the loop guards (envelope forwardedby, no answer to an
// error); what is never filtered (presence, iq results, the user's own
// requests); and rules surviving a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { YakConfig } from '../src/config/types.js';
import type { Element } from '../src/xml/element.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { holdCalls, type HeldCalls } from './helpers/latch.js';
import { startYak, type TestYak } from './helpers/yak.js';
import { bundledConfigText } from './helpers/daemon.js';
import { readFilter } from '../src/config/filter.js';
import { ConfigError } from '../src/config/types.js';
import { assertXml } from './helpers/xml-assert.js';
import {
  closeAll,
  isMessage,
  login,
  newUser,
  NS_ROSTER,
  offlineUser,
  onlineUser,
  plain,
  outOfRouting,
  sessionEnded,
  spoolRecords,
  STAMP,
  subscribeBoth,
  xml,
  type Client,
} from './helpers/session.js';

const NS_FILTER = 'jabber:iq:filter';
const NS_OFFLINE = 'jabber:x:offline';
const isIq = (e: Element): boolean => e.name === 'iq';

/**
 * Config tweak: the usual plain() session setup, and the <filter> settings
 * read from `section` (a whole <filter> element; undefined: as if the
 * config had none) instead of the bundled ones; `more` changes the config
 * further.
 */
function withFilter(section?: string, more?: (c: YakConfig) => void): (c: YakConfig) => void {
  return (c) => {
    plain(c);
    c.jsm.filter = readFilter(section === undefined ? undefined : xml(section));
    more?.(c);
  };
}

/** Sets the user's rules (raw <rule> XML) and checks the exact result. */
async function setRules(c: Client, rules: string): Promise<void> {
  assertXml(
    await c.request(`<iq type='set' id='fset'><query xmlns='${NS_FILTER}'>${rules}</query></iq>`),
    `<iq type='result' id='fset' to='${c.full}' from='${c.bare}'/>`,
  );
}

/** Checks the user's stored rules with an exact get. */
async function assertRules(c: Client, rules: string): Promise<void> {
  const query = rules === '' ? `<query xmlns='${NS_FILTER}'/>` : `<query xmlns='${NS_FILTER}'>${rules}</query>`;
  assertXml(
    await c.request(`<iq type='get' id='fget'><query xmlns='${NS_FILTER}'/></iq>`),
    `<iq type='result' id='fget' to='${c.full}' from='${c.bare}'>${query}</iq>`,
  );
}

/** Adds `jid` to the user's roster, in `groups`. */
async function addContact(c: Client, jid: string, groups: string[] = []): Promise<void> {
  const reply = await c.request(
    `<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='${jid}'>${groups.map((g) => `<group>${g}</group>`).join('')}</item></query></iq>`,
  );
  assert.equal(reply.attrs.type, 'result', reply.toString());
}

/** A message bounced to its sender: `attrs` plus type='error', the original `children`, then the `error` element. */
function bounced(attrs: string, children: string, error: string): string {
  return `<message ${attrs} type='error'>${children}${error}</message>`;
}

// ---------------------------------------------------------------------------

describe('mod_filter: the user’s rules, get and set', () => {
  // No <filter> section at all: everything allowed, at most 100 rules.
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: withFilter() });
  });
  after(() => yak.stop());

  test('get, set, get: exact replies, rules returned as set, stored as the jabber:iq:filter query, removed by an empty set', async () => {
    const u = await newUser(yak, 'rt1');
    try {
      // Nothing stored yet: an empty query, and no record on disk.
      assertXml(
        await u.request(`<iq type='get' id='f1'><query xmlns='${NS_FILTER}'/></iq>`),
        `<iq type='result' id='f1' to='rt1@localhost/Work' from='rt1@localhost'><query xmlns='${NS_FILTER}'/></iq>`,
      );
      assert.equal((await spoolRecords(yak, 'rt1'))!.get(NS_FILTER), undefined);

      const rules =
        "<rule name='away'><unavailable/><reply>Gone fishing</reply><offline/></rule>" +
        "<rule name='boss'><from>boss@localhost</from><type>chat</type><forward>rt2@localhost</forward><continue/></rule>" +
        "<rule><ns>jabber:iq:version</ns><error code='501'>No versions here</error></rule>";
      assertXml(
        await u.request(`<iq type='set' id='f2'><query xmlns='${NS_FILTER}'>${rules}</query></iq>`),
        "<iq type='result' id='f2' to='rt1@localhost/Work' from='rt1@localhost'/>",
      );
      assertXml(
        await u.request(`<iq type='get' id='f3'><query xmlns='${NS_FILTER}'/></iq>`),
        `<iq type='result' id='f3' to='rt1@localhost/Work' from='rt1@localhost'><query xmlns='${NS_FILTER}'>${rules}</query></iq>`,
      );
      // Addressed to the user's own bare JID: the same.
      assertXml(
        await u.request(`<iq type='get' id='f4' to='rt1@localhost'><query xmlns='${NS_FILTER}'/></iq>`),
        `<iq type='result' id='f4' to='rt1@localhost/Work' from='rt1@localhost'><query xmlns='${NS_FILTER}'>${rules}</query></iq>`,
      );
      // 1.4's spool layout.
      assertXml((await spoolRecords(yak, 'rt1'))!.get(NS_FILTER)!, `<query xmlns='${NS_FILTER}'>${rules}</query>`);

      // A set replaces the rules.
      const fewer = "<rule name='only'><body>ping</body><reply>pong</reply></rule>";
      await setRules(u, fewer);
      await assertRules(u, fewer);
      assertXml((await spoolRecords(yak, 'rt1'))!.get(NS_FILTER)!, `<query xmlns='${NS_FILTER}'>${fewer}</query>`);

      // An empty set removes them, from the file too.
      assertXml(
        await u.request(`<iq type='set' id='f5'><query xmlns='${NS_FILTER}'/></iq>`),
        "<iq type='result' id='f5' to='rt1@localhost/Work' from='rt1@localhost'/>",
      );
      await assertRules(u, '');
      const records = (await spoolRecords(yak, 'rt1'))!;
      assert.equal(records.get(NS_FILTER), undefined, 'emptied rules stayed on disk');
      assert.ok(records.size > 0, 'the rest of the spool file went too');
    } finally {
      await u.close();
    }
  });

  test('a get to one of the user’s own resources goes to that resource, as any iq to a full JID; the rules are not given back', async () => {
    const work = await onlineUser(yak, 'fres1');
    const other = await login(yak, 'fres1', 'Other');
    try {
      await other.presence();
      await setRules(work, "<rule name='r'><body>x</body><reply>y</reply></rule>");
      work.send(`<iq type='get' id='q1' to='fres1@localhost/Other'><query xmlns='${NS_FILTER}'/></iq>`);
      assertXml(
        await other.next(isIq),
        `<iq type='get' id='q1' to='fres1@localhost/Other' from='fres1@localhost/Work'><query xmlns='${NS_FILTER}'/></iq>`,
      );
      await work.nothing((e) => e.attrs.id === 'q1', [], 'the server answered a request for a resource');
    } finally {
      await closeAll(work, other);
    }
  });

  test('a get or set addressed to another user: 403, their rules untouched', async () => {
    const owner = await newUser(yak, 'own1');
    const other = await newUser(yak, 'own2');
    try {
      const rules = "<rule><from>own3@localhost</from><error/></rule>";
      await setRules(owner, rules);
      const forbidden = "<error code='403' type='auth'>Forbidden</error>";
      assertXml(
        await other.request(`<iq type='get' id='x1' to='own1@localhost'><query xmlns='${NS_FILTER}'/></iq>`),
        `<iq type='error' id='x1' to='own2@localhost/Work' from='own1@localhost'><query xmlns='${NS_FILTER}'/>${forbidden}</iq>`,
      );
      assertXml(
        await other.request(`<iq type='set' id='x2' to='own1@localhost'><query xmlns='${NS_FILTER}'/></iq>`),
        `<iq type='error' id='x2' to='own2@localhost/Work' from='own1@localhost'><query xmlns='${NS_FILTER}'/>${forbidden}</iq>`,
      );
      assertXml(
        await other.request(`<iq type='set' id='x3' to='OWN1@localhost'><query xmlns='${NS_FILTER}'>${rules.replace('own3', 'own2')}</query></iq>`),
        `<iq type='error' id='x3' to='own2@localhost/Work' from='OWN1@localhost'><query xmlns='${NS_FILTER}'>${rules.replace('own3', 'own2')}</query>${forbidden}</iq>`,
      );
      // At a full JID too: the owner's client is not asked (a session the owner has, or one that is gone).
      for (const [id, type] of [['x4', 'get'], ['x5', 'set']]) {
        assertXml(
          await other.request(`<iq type='${type}' id='${id}' to='own1@localhost/Work'><query xmlns='${NS_FILTER}'/></iq>`),
          `<iq type='error' id='${id}' to='own2@localhost/Work' from='own1@localhost/Work'><query xmlns='${NS_FILTER}'/>${forbidden}</iq>`,
        );
      }
      // Whichever child is in the namespace, however written.
      for (const [id, payload] of [['x6', `<f:query xmlns:f='${NS_FILTER}'/>`], ['x7', `<x xmlns='urn:a'/><query xmlns='${NS_FILTER}'/>`]]) {
        const reply = await other.request(`<iq type='get' id='${id}' to='own1@localhost/Work'>${payload}</iq>`);
        assert.equal(reply.getChild('error')?.attrs.code, '403', reply.toString());
      }
      await owner.nothing((e) => e.name === 'iq', [other], "another account's filter request reached the owner's client");
      await assertRules(owner, rules);
    } finally {
      await closeAll(owner, other);
    }
  });

  test('no <filter> section: every condition and action is accepted, and up to 100 rules', async () => {
    const u = await newUser(yak, 'all1');
    try {
      const everything =
        "<rule name='message'><unavailable/><from>all2@localhost</from><resource>Home</resource><subject>s</subject>" +
        '<body>b</body><show>away</show><type>chat</type><roster/><group>Friends</group>' +
        "<reply>r</reply><error code='404'>x</error><settype>normal</settype><forward>all3@localhost</forward><offline/><continue/></rule>" +
        "<rule name='iq'><ns>jabber:iq:version</ns><error/><continue/></rule>";
      await setRules(u, everything);
      await assertRules(u, everything);

      const rule = (i: number): string => `<rule name='r${i}'><body>${i}</body><error/></rule>`;
      const hundred = Array.from({ length: 100 }, (_, i) => rule(i)).join('');
      await setRules(u, hundred);
      await assertRules(u, hundred);
      const tooMany = hundred + rule(100);
      assertXml(
        await u.request(`<iq type='set' id='big'><query xmlns='${NS_FILTER}'>${tooMany}</query></iq>`),
        `<iq type='error' id='big' to='all1@localhost/Work' from='all1@localhost'><query xmlns='${NS_FILTER}'>${tooMany}</query>` +
          "<error code='406' type='modify'>Invalid rule, check rule size and tags</error></iq>",
      );
      await assertRules(u, hundred);
    } finally {
      await u.close();
    }
  });

  test('a set carried out after its stream dropped is the rule set applied, also to a login before that session has ended', async () => {
    const u = await newUser(yak, 'cached1', 'A');
    const v = await onlineUser(yak, 'cached2');
    const xdb = yak.server.xdb as Xdb;
    let back: Client | undefined;
    let held: HeldCalls | undefined;
    let heldEnd: HeldCalls | undefined;
    try {
      await u.presence();
      // Cached: the user has a session.
      await setRules(u, "<rule name='old'><body>ping</body><reply>old rules</reply></rule>");
      held = holdCalls(xdb, 'set', (_host, user, records) => user === 'cached1' && typeof records === 'object' && NS_FILTER in records);
      u.send(`<iq type='set' id='fset'><query xmlns='${NS_FILTER}'><rule name='new'><body>ping</body><reply>new rules</reply></rule></query></iq>`);
      await held.reached;
      // Gone (a reset: out of routing at once), its set still to be carried out, its end still to run.
      const ended = sessionEnded(yak, u.full);
      u.stream.socket.resetAndDestroy();
      await outOfRouting(yak, u.bare);
      heldEnd = holdCalls(xdb, 'setSoon', (_host, user) => user === 'cached1');
      held.release();
      await heldEnd.reached;
      held.restore();
      // Another resource logs in while the old session is still ending.
      back = await login(yak, 'cached1', 'B');
      await back.presence();
      heldEnd.release();
      await ended;
      v.send("<message to='cached1@localhost' id='m1'><body>ping</body></message>");
      const reply = await v.next(isMessage);
      assert.equal(reply.getChildText('body'), 'new rules', reply.toString());
    } finally {
      held?.restore();
      heldEnd?.restore();
      await closeAll(u, v, back);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter: the checks a set must pass', () => {
  // At most 2 rules; no <resource>, no <unavailable/>, no <continue/>.
  let yak: TestYak;
  before(async () => {
    yak = await startYak({
      tweak: withFilter(
        '<filter><max_size>2</max_size><allow>' +
          '<conditions><ns/><from/><subject/><body/><show/><type/><roster/><group/></conditions>' +
          '<actions><error/><offline/><forward/><reply/><settype/></actions>' +
          '</allow></filter>',
      ),
    });
  });
  after(() => yak.stop());

  /** A refused set: the iq echoed back with a 406 and TEXT. */
  async function assertRefused(c: Client, rules: string, text: string, id = 'bad'): Promise<void> {
    assertXml(
      await c.request(`<iq type='set' id='${id}'><query xmlns='${NS_FILTER}'>${rules}</query></iq>`),
      `<iq type='error' id='${id}' to='${c.full}' from='${c.bare}'><query xmlns='${NS_FILTER}'>${rules}</query>` +
        `<error code='406' type='modify'>${text}</error></iq>`,
    );
  }

  test('max_size 2: two rules are stored, three are refused and the two stay', async () => {
    const u = await newUser(yak, 'max1');
    try {
      const two = "<rule name='one'><from>max2@localhost</from><error code='403'>No</error></rule><rule name='two'><ns>jabber:iq:version</ns><error/></rule>";
      await setRules(u, two);
      await assertRules(u, two);
      await assertRefused(u, `${two}<rule name='three'><body>x</body><reply>y</reply></rule>`, 'Invalid rule, check rule size and tags');
      await assertRules(u, two);
      assertXml((await spoolRecords(yak, 'max1'))!.get(NS_FILTER)!, `<query xmlns='${NS_FILTER}'>${two}</query>`);
    } finally {
      await u.close();
    }
  });

  test('each refused set gets its 406 text and leaves the old rules in place', async () => {
    const u = await newUser(yak, 'chk1');
    try {
      const kept = "<rule name='kept'><subject>hi</subject><reply>hello</reply></rule>";
      await setRules(u, kept);
      const cases: [string, string][] = [
        ["<rule><body>x</body><error/></rule><item jid='a@localhost'/>", 'Invalid rule, check rule size and tags'],
        ['<rule><resource>Home</resource><error/></rule>', "tag type 'resource' can not be used on this server"],
        ['<rule><unavailable/><reply>away</reply></rule>', "tag type 'unavailable' can not be used on this server"],
        ['<rule><from>chk2@localhost</from><error/><continue/></rule>', "tag type 'continue' can not be used on this server"],
        ['<rule><bogus/><error/></rule>', "tag type 'bogus' can not be used on this server"],
        ['<rule><ns>jabber:iq:version</ns><offline/></rule>', 'ns tag cannot be used this way'],
        ['<rule><ns>jabber:iq:version</ns><reply>no</reply></rule>', 'ns tag cannot be used this way'],
        ['<rule><ns>jabber:iq:version</ns><settype>chat</settype></rule>', 'ns tag cannot be used this way'],
        ['<rule><ns>jabber:iq:version</ns><forward>chk2@localhost</forward></rule>', 'ns tag cannot be used this way'],
        ['<rule><from>@localhost</from><error/></rule>', 'invalid JID in &lt;from&gt;'],
        ['<rule><body>x</body><forward>a b@localhost</forward></rule>', 'invalid JID in &lt;forward&gt;'],
        ['<rule><settype>error</settype></rule>', 'settype must be normal, chat, groupchat or headline'],
        ['<rule><show>online</show><error/></rule>', 'show must be away, chat, dnd or xa'],
        ["<rule><error code='418'/></rule>", "unknown error code '418'"],
        ["<rule><error code='blue'/></rule>", "unknown error code 'blue'"],
      ];
      for (const [i, [rules, text]] of cases.entries()) {
        await assertRefused(u, rules, text, `bad${i}`);
        await assertRules(u, kept);
      }
      assertXml((await spoolRecords(yak, 'chk1'))!.get(NS_FILTER)!, `<query xmlns='${NS_FILTER}'>${kept}</query>`);
    } finally {
      await u.close();
    }
  });
});

describe('mod_filter: the <filter> section', () => {
  test('a mistake in it stops startup, naming the element and the problem', async () => {
    const text = bundledConfigText();
    for (const [from, to, message] of [
      ['<max_size>100</max_size>', '<max_size>lots</max_size>', "<filter><max_size>: max_size must be an integer 1..2147483647, got 'lots'"],
      ['<default/>', "<default><rule><error code='999'/></rule></default>", "<filter><default>: rule 1: unknown error code '999'"],
    ] as const) {
      assert.ok(text.includes(from), `the bundled config no longer has ${from}`);
      await assert.rejects(startYak({ configText: text.replace(from, to) }), (err: unknown) => err instanceof ConfigError && err.message === message);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter: when a rule matches', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: withFilter() });
  });
  after(() => yak.stop());

  test('<unavailable/>: no session, none available, or only negative priorities match; an available session does not', async () => {
    await offlineUser(yak, 'un1');
    const s = await onlineUser(yak, 'un2');
    // Rules set from a session without presence, which is itself unavailable.
    const u = await login(yak, 'un1');
    try {
      await setRules(u, '<rule><unavailable/><reply>Not here</reply></rule>');
      const send = (id: string): void => s.send(`<message to='un1@localhost' id='${id}'><body>hi</body></message>`);
      const notHere = (id: string): string =>
        `<message to='un2@localhost/Work' from='un1@localhost' id='${id}'><body>Not here</body>` +
        "<x xmlns='jabber:x:envelope'><forwardedby jid='un1@localhost'/><from jid='un1@localhost'/><to jid='un2@localhost/Work'/></x></message>";

      send('a1'); // a session, no presence
      assertXml(await s.next(isMessage), notHere('a1'));
      await u.presence('<presence><priority>-1</priority></presence>');
      send('a2'); // only a negative priority
      assertXml(await s.next(isMessage), notHere('a2'));
      await u.nothing(isMessage, [s], 'an unavailable user got the message');

      await u.presence('<presence><priority>0</priority></presence>');
      send('a3'); // available
      assertXml(await u.next(isMessage), "<message to='un1@localhost' id='a3' from='un2@localhost/Work'><body>hi</body></message>");
      await s.nothing(isMessage, [s], 'an available user answered automatically');

      await u.presence("<presence type='unavailable'/>");
      send('a4'); // unavailable again
      assertXml(await s.next(isMessage), notHere('a4'));

      const ended = sessionEnded(yak, u.full);
      await u.close();
      await ended;
      send('a5'); // no session at all
      assertXml(await s.next(isMessage), notHere('a5'));
      // The answered messages were consumed, not stored.
      assert.equal((await spoolRecords(yak, 'un1'))!.get(NS_OFFLINE), undefined, 'an answered message was stored offline');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<unavailable/>: a message to the full JID of a session with a negative priority matches, as to the bare JID', async () => {
    const u = await newUser(yak, 'un3');
    const s = await onlineUser(yak, 'un4');
    try {
      await setRules(u, '<rule><unavailable/><reply>Not here</reply></rule>');
      await u.presence('<presence><priority>-1</priority></presence>');
      s.send("<message to='un3@localhost/Work' id='f1'><body>hi</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='un4@localhost/Work' from='un3@localhost/Work' id='f1'><body>Not here</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='un3@localhost/Work'/><from jid='un3@localhost/Work'/><to jid='un4@localhost/Work'/></x></message>",
      );
      await u.nothing(isMessage, [s], 'an unavailable user got the message');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<from>: the sender’s bare JID, resource ignored, case-insensitive', async () => {
    const u = await onlineUser(yak, 'fr1');
    const s = await onlineUser(yak, 'fr2');
    const other = await onlineUser(yak, 'fr3');
    const home = await login(yak, 'fr2', 'Home');
    try {
      await home.presence();
      await setRules(u, "<rule><from>FR2@LocalHost</from><error code='403'/></rule>");
      for (const sender of [s, home]) {
        sender.send("<message to='fr1@localhost' id='b'><body>x</body></message>");
        assertXml(
          await sender.next(isMessage),
          bounced(`to='${sender.full}' from='fr1@localhost' id='b'`, '<body>x</body>', "<error code='403' type='auth'>Forbidden</error>"),
        );
      }
      other.send("<message to='fr1@localhost' id='ok'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='fr1@localhost' id='ok' from='fr3@localhost/Work'><body>x</body></message>");
      await u.nothing(isMessage, [s, home, other], 'a filtered message was delivered');
      await other.nothing(isMessage, [], 'an unfiltered sender got an answer');
    } finally {
      await closeAll(u, s, other, home);
    }
  });

  test('<resource>: the addressed resource, case-insensitive; a message to the bare JID never matches', async () => {
    const work = await onlineUser(yak, 'res1');
    const home = await login(yak, 'res1', 'Home');
    const s = await onlineUser(yak, 'res2');
    try {
      await work.presence('<presence><priority>1</priority></presence>');
      await home.presence();
      await setRules(work, "<rule><resource>home</resource><error code='404'/></rule>");

      s.send("<message to='res1@localhost/Home' id='r1'><body>x</body></message>");
      assertXml(
        await s.next(isMessage),
        bounced("to='res2@localhost/Work' from='res1@localhost/Home' id='r1'", '<body>x</body>', "<error code='404' type='cancel'>Not Found</error>"),
      );
      await home.nothing(isMessage, [s], 'a filtered message reached Home');

      s.send("<message to='res1@localhost/Work' id='r2'><body>x</body></message>");
      assertXml(await work.next(isMessage), "<message to='res1@localhost/Work' id='r2' from='res2@localhost/Work'><body>x</body></message>");
      s.send("<message to='res1@localhost' id='r3'><body>x</body></message>");
      assertXml(await work.next(isMessage), "<message to='res1@localhost' id='r3' from='res2@localhost/Work'><body>x</body></message>");
      await s.nothing(isMessage, [s], 'an unfiltered message was answered');
    } finally {
      await closeAll(work, home, s);
    }
  });

  test('<subject> and <body>: the whole text, case-insensitive; a substring does not match', async () => {
    const u = await onlineUser(yak, 'txt1');
    const s = await onlineUser(yak, 'txt2');
    try {
      await setRules(
        u,
        "<rule><body>Hello There</body><error code='406'/></rule><rule><subject>urgent</subject><reply>Calm down</reply></rule>",
      );
      s.send("<message to='txt1@localhost' id='t1'><body>hello there</body></message>");
      assertXml(
        await s.next(isMessage),
        bounced("to='txt2@localhost/Work' from='txt1@localhost' id='t1'", '<body>hello there</body>', "<error code='406' type='modify'>Not Acceptable</error>"),
      );
      s.send("<message to='txt1@localhost' id='t2'><subject>URGENT</subject><body>now</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='txt2@localhost/Work' from='txt1@localhost' id='t2'><subject>URGENT</subject><body>Calm down</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='txt1@localhost'/><from jid='txt1@localhost'/><to jid='txt2@localhost/Work'/></x></message>",
      );
      await u.nothing(isMessage, [s], 'a filtered message was delivered');

      // Substrings and supersets are not the text.
      s.send("<message to='txt1@localhost' id='t3'><body>hello there friend</body></message>");
      s.send("<message to='txt1@localhost' id='t4'><subject>not urgent</subject><body>later</body></message>");
      s.send("<message to='txt1@localhost' id='t5'><body>Hello</body></message>");
      for (const [id, children] of [
        ['t3', '<body>hello there friend</body>'],
        ['t4', '<subject>not urgent</subject><body>later</body>'],
        ['t5', '<body>Hello</body>'],
      ]) {
        assertXml(await u.next(isMessage), `<message to='txt1@localhost' id='${id}' from='txt2@localhost/Work'>${children}</message>`);
      }
      await s.nothing(isMessage, [s], 'a message matched by a substring');
      // The body the recipient's client shows, however written: with a prefix, or after a <body> in another namespace.
      for (const [id, children] of [
        ['t7', "<b:body xmlns:b='jabber:client'>Hello There</b:body>"],
        ['t8', "<body xmlns='urn:decoy'>harmless</body><body>Hello There</body>"],
      ]) {
        s.send(`<message to='txt1@localhost' id='${id}'>${children}</message>`);
        const back = await s.next(isMessage);
        assert.equal(back.getChild('error')?.attrs.code, '406', back.toString());
      }
      // Nor by putting the text in a body of another namespace, first: xmpp4r and libstrophe show that one.
      s.send("<message to='txt1@localhost' id='t9'><body xmlns='urn:decoy'>Hello There</body><body>hi</body></message>");
      assert.equal((await s.next(isMessage)).getChild('error')?.attrs.code, '406');
      // Only XML white space around it is not the text: a no-break space is.
      s.send("<message to='txt1@localhost' id='t6'><body>\u00a0hello there\ufeff</body></message>");
      assertXml(await u.next(isMessage), "<message to='txt1@localhost' id='t6' from='txt2@localhost/Work'><body>\u00a0hello there\ufeff</body></message>");
    } finally {
      await closeAll(u, s);
    }
  });

  test('<show>: the show of the session the message is for (the addressed resource, else the bare JID’s session)', async () => {
    const work = await onlineUser(yak, 'show1');
    const home = await login(yak, 'show1', 'Home');
    const s = await onlineUser(yak, 'show2');
    try {
      await work.presence('<presence><show>dnd</show><priority>1</priority></presence>');
      await home.presence();
      await setRules(work, '<rule><show>dnd</show><reply>Busy</reply></rule>');
      const busy = (from: string, id: string): string =>
        `<message to='show2@localhost/Work' from='${from}' id='${id}'><body>Busy</body>` +
        `<x xmlns='jabber:x:envelope'><forwardedby jid='${from}'/><from jid='${from}'/><to jid='show2@localhost/Work'/></x></message>`;

      s.send("<message to='show1@localhost' id='s1'><body>x</body></message>"); // goes to Work: dnd
      assertXml(await s.next(isMessage), busy('show1@localhost', 's1'));
      s.send("<message to='show1@localhost/Work' id='s2'><body>x</body></message>");
      assertXml(await s.next(isMessage), busy('show1@localhost/Work', 's2'));
      s.send("<message to='show1@localhost/Home' id='s3'><body>x</body></message>"); // Home has no show
      assertXml(await home.next(isMessage), "<message to='show1@localhost/Home' id='s3' from='show2@localhost/Work'><body>x</body></message>");
      await work.nothing(isMessage, [s], 'a filtered message was delivered');

      await work.presence('<presence><show>away</show><priority>1</priority></presence>');
      s.send("<message to='show1@localhost' id='s4'><body>x</body></message>");
      assertXml(await work.next(isMessage), "<message to='show1@localhost' id='s4' from='show2@localhost/Work'><body>x</body></message>");
      await s.nothing(isMessage, [s], 'answered though no longer dnd');
      // However the session wrote its <show>.
      await work.presence("<presence><v:show xmlns:v='jabber:client'>dnd</v:show><priority>1</priority></presence>");
      s.send("<message to='show1@localhost' id='s5'><body>x</body></message>");
      assertXml(await s.next(isMessage), busy('show1@localhost', 's5'));
    } finally {
      await closeAll(work, home, s);
    }
  });

  test('<show>away</show> does not match a user available with no <show>: that is plain available, not away', async () => {
    const u = await onlineUser(yak, 'show3');
    const s = await onlineUser(yak, 'show4');
    try {
      await setRules(u, '<rule><show>away</show><reply>x</reply></rule>');
      s.send("<message to='show3@localhost' id='n1'><body>hi</body></message>");
      assertXml(await u.next(isMessage), "<message to='show3@localhost' id='n1' from='show4@localhost/Work'><body>hi</body></message>");
      await s.nothing(isMessage, [s], 'answered as away though available');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<type>: the message type, no type attribute counting as normal', async () => {
    const u = await onlineUser(yak, 'type1');
    const s = await onlineUser(yak, 'type2');
    try {
      await setRules(u, "<rule><type>normal</type><error code='405'/></rule>");
      const notAllowed = "<error code='405' type='cancel'>Not Allowed</error>";
      s.send("<message to='type1@localhost' id='n1'><body>x</body></message>");
      assertXml(await s.next(isMessage), bounced("to='type2@localhost/Work' from='type1@localhost' id='n1'", '<body>x</body>', notAllowed));
      s.send("<message to='type1@localhost' id='n2' type='normal'><body>x</body></message>");
      assertXml(await s.next(isMessage), bounced("to='type2@localhost/Work' from='type1@localhost' id='n2'", '<body>x</body>', notAllowed));
      s.send("<message to='type1@localhost' id='c1' type='chat'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='type1@localhost' id='c1' type='chat' from='type2@localhost/Work'><body>x</body></message>");
      s.send("<message to='type1@localhost' id='h1' type='headline'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='type1@localhost' id='h1' type='headline' from='type2@localhost/Work'><body>x</body></message>");
      await u.nothing(isMessage, [s], 'a filtered message was delivered');
      await s.nothing(isMessage, [], 'more answers than filtered messages');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<roster/> and <group>: the sender in the roster, in that group (case-sensitive)', async () => {
    const u = await onlineUser(yak, 'grp1');
    const friend = await onlineUser(yak, 'grp2');
    const known = await onlineUser(yak, 'grp3');
    const stranger = await onlineUser(yak, 'grp4');
    try {
      await addContact(u, 'grp2@localhost', ['Friends']);
      await addContact(u, 'grp3@localhost');
      await setRules(
        u,
        "<rule><group>friends</group><error code='404'/></rule>" +
          '<rule><group>Friends</group><reply>Hi friend</reply></rule>' +
          "<rule><roster/><error code='403'/></rule>",
      );
      friend.send("<message to='grp1@localhost' id='g1'><body>x</body></message>");
      assertXml(
        await friend.next(isMessage),
        "<message to='grp2@localhost/Work' from='grp1@localhost' id='g1'><body>Hi friend</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='grp1@localhost'/><from jid='grp1@localhost'/><to jid='grp2@localhost/Work'/></x></message>",
      );
      known.send("<message to='grp1@localhost' id='g2'><body>x</body></message>");
      assertXml(
        await known.next(isMessage),
        bounced("to='grp3@localhost/Work' from='grp1@localhost' id='g2'", '<body>x</body>', "<error code='403' type='auth'>Forbidden</error>"),
      );
      stranger.send("<message to='grp1@localhost' id='g3'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='grp1@localhost' id='g3' from='grp4@localhost/Work'><body>x</body></message>");
      await u.nothing(isMessage, [friend, known], 'a filtered message was delivered');
      await friend.nothing(isMessage, [], 'the friend got more than the reply');
    } finally {
      await closeAll(u, friend, known, stranger);
    }
  });

  test('<ns>: an iq to the user (full or bare JID) gets the rule’s error; other namespaces and messages pass', async () => {
    const u = await onlineUser(yak, 'ns1');
    const s = await onlineUser(yak, 'ns2');
    try {
      // Before any rule: the client answers version, the server answers last.
      s.send("<iq type='get' id='v0' to='ns1@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      assertXml(await u.next(isIq), "<iq type='get' id='v0' to='ns1@localhost/Work' from='ns2@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      assert.equal((await s.request("<iq type='get' to='ns1@localhost'><vCard xmlns='vcard-temp'/></iq>")).attrs.type, 'result');

      await setRules(
        u,
        "<rule><ns>jabber:iq:version</ns><error code='501'/></rule><rule><ns>vcard-temp</ns><error code='403'>Private</error></rule>",
      );
      assertXml(
        await s.request("<iq type='get' id='v1' to='ns1@localhost/Work'><query xmlns='jabber:iq:version'/></iq>"),
        "<iq type='error' id='v1' to='ns2@localhost/Work' from='ns1@localhost/Work'><query xmlns='jabber:iq:version'/>" +
          "<error code='501' type='cancel'>Not Implemented</error></iq>",
      );
      assertXml(
        await s.request("<iq type='get' id='c1' to='ns1@localhost'><vCard xmlns='vcard-temp'/></iq>"),
        "<iq type='error' id='c1' to='ns2@localhost/Work' from='ns1@localhost'><vCard xmlns='vcard-temp'/>" +
          "<error code='403' type='auth'>Private</error></iq>",
      );
      // However the request is written: a prefix, or the query after another child.
      for (const [id, payload] of [
        ['v2', "<v:query xmlns:v='jabber:iq:version'/>"],
        ['v3', "<x xmlns='urn:x'/><query xmlns='jabber:iq:version'/>"],
      ]) {
        const reply = await s.request(`<iq type='get' id='${id}' to='ns1@localhost/Work'>${payload}</iq>`);
        assert.equal(reply.getChild('error')?.attrs.code, '501', reply.toString());
      }
      await u.nothing(isIq, [s], 'a filtered iq reached the client');

      // Another namespace is delivered; a message never matches an ns rule.
      s.send("<iq type='get' id='t1' to='ns1@localhost/Work'><query xmlns='jabber:iq:time'/></iq>");
      assertXml(await u.next(isIq), "<iq type='get' id='t1' to='ns1@localhost/Work' from='ns2@localhost/Work'><query xmlns='jabber:iq:time'/></iq>");
      s.send("<message to='ns1@localhost' id='m1'><body>jabber:iq:version</body></message>");
      assertXml(await u.next(isMessage), "<message to='ns1@localhost' id='m1' from='ns2@localhost/Work'><body>jabber:iq:version</body></message>");
      await s.nothing(() => true, [s], 'an unfiltered stanza was answered');
    } finally {
      await closeAll(u, s);
    }
  });

  test('an iq is only met by rules without message conditions whose actions are all <error>/<continue>', async () => {
    const u = await onlineUser(yak, 'iqr1');
    const s = await onlineUser(yak, 'iqr2');
    try {
      await setRules(
        u,
        "<rule><type>normal</type><error code='403'/></rule>" +
          "<rule><body>x</body><error code='403'/></rule>" +
          '<rule><reply>auto</reply></rule>' +
          "<rule><forward>iqr3@localhost</forward><error code='404'/></rule>",
      );
      s.send("<iq type='get' id='q1' to='iqr1@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      assertXml(await u.next(isIq), "<iq type='get' id='q1' to='iqr1@localhost/Work' from='iqr2@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      await s.nothing(() => true, [s], 'a message rule answered an iq');

      // The same rules then catch a message with the first one.
      s.send("<message to='iqr1@localhost' id='m1'><body>y</body></message>");
      assertXml(
        await s.next(isMessage),
        bounced("to='iqr2@localhost/Work' from='iqr1@localhost' id='m1'", '<body>y</body>', "<error code='403' type='auth'>Forbidden</error>"),
      );
      await u.nothing(isMessage, [s], 'a filtered message was delivered');
    } finally {
      await closeAll(u, s);
    }
  });

  test('conditions of different kinds must all hold, two of one kind either; a rule without conditions matches everything', async () => {
    const u = await onlineUser(yak, 'and1');
    const s = await onlineUser(yak, 'and2');
    const t = await onlineUser(yak, 'and3');
    const v = await onlineUser(yak, 'and4');
    try {
      const forbidden = "<error code='403' type='auth'>Forbidden</error>";
      await setRules(
        u,
        "<rule><from>and2@localhost</from><type>chat</type><error code='403'/></rule>" +
          // A failing <unavailable/> after a matching <from> keeps the rule from firing (1.4 fired it).
          '<rule><from>and2@localhost</from><unavailable/><reply>Away</reply></rule>',
      );
      s.send("<message to='and1@localhost' id='a1' type='chat'><body>x</body></message>");
      assertXml(await s.next(isMessage), bounced("to='and2@localhost/Work' from='and1@localhost' id='a1'", '<body>x</body>', forbidden));
      s.send("<message to='and1@localhost' id='a2'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='and1@localhost' id='a2' from='and2@localhost/Work'><body>x</body></message>");
      t.send("<message to='and1@localhost' id='a3' type='chat'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='and1@localhost' id='a3' type='chat' from='and3@localhost/Work'><body>x</body></message>");
      await s.nothing(isMessage, [s, t], 'a rule fired with a condition failing');

      await setRules(u, "<rule><from>and2@localhost</from><from>and3@localhost</from><error code='403'/></rule>");
      for (const sender of [s, t]) {
        sender.send("<message to='and1@localhost' id='o'><body>x</body></message>");
        assertXml(await sender.next(isMessage), bounced(`to='${sender.full}' from='and1@localhost' id='o'`, '<body>x</body>', forbidden));
      }
      v.send("<message to='and1@localhost' id='o2'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='and1@localhost' id='o2' from='and4@localhost/Work'><body>x</body></message>");

      await setRules(u, '<rule><error/></rule>');
      for (const sender of [s, t, v]) {
        sender.send(`<message to='and1@localhost/Work' id='all' type='headline'><subject>s</subject></message>`);
        assertXml(
          await sender.next(isMessage),
          bounced(`to='${sender.full}' from='and1@localhost/Work' id='all'`, '<subject>s</subject>', "<error code='503' type='cancel'>Service Unavailable</error>"),
        );
      }
      await u.nothing(isMessage, [s, t, v], 'a filtered message was delivered');
    } finally {
      await closeAll(u, s, t, v);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter: actions', () => {
  // Offline storage capped at one message, for the <offline/> limit.
  let yak: TestYak;
  before(async () => {
    yak = await startYak({
      tweak: withFilter(undefined, (c) => (c.jsm.offlineLimit = 1)),
    });
  });
  after(() => yak.stop());

  test('<reply>: the exact answer (type, subject, thread, envelope kept and extended); the message is consumed', async () => {
    const u = await onlineUser(yak, 'rep1');
    const s = await onlineUser(yak, 'rep2');
    try {
      await setRules(u, "<rule><from>rep2@localhost</from><reply>Gone fishing</reply></rule>");
      s.send(
        "<message to='rep1@localhost' id='r1' type='chat'><subject>Lunch?</subject><body>Lunch at one?</body><thread>th1</thread>" +
          "<x xmlns='jabber:x:event'><composing/></x></message>",
      );
      assertXml(
        await s.next(isMessage),
        "<message to='rep2@localhost/Work' from='rep1@localhost' type='chat' id='r1'><subject>Lunch?</subject><thread>th1</thread><body>Gone fishing</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='rep1@localhost'/><from jid='rep1@localhost'/><to jid='rep2@localhost/Work'/></x></message>",
      );
      // To the full JID, carrying an envelope: its entries come first.
      s.send(
        "<message to='rep1@localhost/Work' id='r2'><body>again</body>" +
          "<x xmlns='jabber:x:envelope'><from jid='someone@elsewhere'/><cc jid='rep3@localhost'/></x></message>",
      );
      assertXml(
        await s.next(isMessage),
        "<message to='rep2@localhost/Work' from='rep1@localhost/Work' id='r2'><body>Gone fishing</body>" +
          "<x xmlns='jabber:x:envelope'><from jid='someone@elsewhere'/><cc jid='rep3@localhost'/>" +
          "<forwardedby jid='rep1@localhost/Work'/><from jid='rep1@localhost/Work'/><to jid='rep2@localhost/Work'/></x></message>",
      );
      await u.nothing(isMessage, [s], 'a replied message was delivered');
      await s.nothing(isMessage, [], 'more than one reply per message');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<reply/> with no text: an answer without a body', async () => {
    const u = await onlineUser(yak, 'rep4');
    const s = await onlineUser(yak, 'rep5');
    try {
      await setRules(u, '<rule><reply/></rule>');
      s.send("<message to='rep4@localhost' id='e1'><body>news</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='rep5@localhost/Work' from='rep4@localhost' id='e1'>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='rep4@localhost'/><from jid='rep4@localhost'/><to jid='rep5@localhost/Work'/></x></message>",
      );
      await u.nothing(isMessage, [s], 'a replied message was delivered');
    } finally {
      await closeAll(u, s);
    }
  });

  test('no automatic reply to headlines, groupchat or a server: those messages are delivered', async () => {
    const u = await onlineUser(yak, 'rep6');
    const s = await onlineUser(yak, 'rep7');
    try {
      await setRules(u, '<rule><reply>Away</reply></rule>');
      for (const type of ['headline', 'groupchat']) {
        s.send(`<message to='rep6@localhost/Work' id='${type}' type='${type}'><body>news</body></message>`);
        assertXml(await u.next(isMessage), `<message to='rep6@localhost/Work' id='${type}' type='${type}' from='rep7@localhost/Work'><body>news</body></message>`);
      }
      // An event notice (it names the message it is about) is no message to answer.
      s.send("<message to='rep6@localhost/Work' id='ev'><x xmlns='jabber:x:event'><composing/><id>m1</id></x></message>");
      assertXml(await u.next(isMessage), "<message to='rep6@localhost/Work' id='ev' from='rep7@localhost/Work'><x xmlns='jabber:x:event'><composing/><id>m1</id></x></message>");
      // Nor is a chat state with no body.
      s.send("<message to='rep6@localhost/Work' id='cs' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
      assertXml(await u.next(isMessage), "<message to='rep6@localhost/Work' id='cs' type='chat' from='rep7@localhost/Work'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
      // The host's echo service sends the message back from localhost/echo: no user part, no reply to it.
      u.send("<message to='localhost/echo' id='echo'><body>ping</body></message>");
      assertXml(await u.next(isMessage), "<message to='rep6@localhost/Work' from='localhost/echo' id='echo'><body>ping</body></message>");
      await s.nothing(isMessage, [u], 'an automatic reply was sent');
    } finally {
      await closeAll(u, s);
    }
  });

  test('no <error> to a server or service: the echo service’s and the host’s messages are delivered, and no error goes back to them', async () => {
    const u = await onlineUser(yak, 'errsv1');
    // What reaches the host and its services (the server phase) as an error
    // from this user: an error sent there is dropped without a word (mod_echo
    // returns no error, mod_admin passes none on), so it can only be seen here.
    // The spy stays on this describe's server; it takes nothing from anyone.
    const errorsToServer: Element[] = [];
    yak.server.jsm.chains.add(
      'server',
      'test-errors-to-server',
      (d) => {
        if (d.stanza.attrs.type === 'error' && d.from.bare === 'errsv1@localhost') errorsToServer.push(d.stanza);
        return 'pass';
      },
      { priority: 1000, stanzas: ['message'] },
    );
    try {
      await setRules(u, "<rule><error code='403'/></rule>");
      // The echo service sends the message back from localhost/echo, and the
      // host sends a notice of its own: neither sender has a user part.
      u.send("<message to='localhost/echo' id='echo'><body>ping</body></message>");
      await u.sync();
      await yak.server.jsm.router.route(xml("<message from='localhost' to='errsv1@localhost' id='host'><body>notice</body></message>"));
      assert.deepEqual(errorsToServer.map((e) => e.toString()), [], 'a rule bounced a message to a server or service');
      // The rule is skipped for them, and they are delivered as usual.
      assertXml(await u.next(isMessage), "<message to='errsv1@localhost/Work' from='localhost/echo' id='echo'><body>ping</body></message>");
      assertXml(await u.next(isMessage), "<message from='localhost' to='errsv1@localhost' id='host'><body>notice</body></message>");
      await u.nothing(isMessage, [], 'more than the two messages came back');
    } finally {
      await u.close();
    }
  });

  test('<offline/> then <continue/>: stored once, and not delivered as usual as well', async () => {
    const u = await onlineUser(yak, 'offc1');
    const s = await onlineUser(yak, 'offc2');
    try {
      await setRules(u, '<rule><offline/><continue/></rule>');
      s.send("<message to='offc1@localhost' id='o1'><body>once</body></message>");
      // Stored a second time, it would meet this server's limit of one: a 503 to the sender.
      await s.nothing(isMessage, [], 'the sender got an answer');
      await u.nothing(isMessage, [s], 'the stored message was delivered live as well');
      await u.close();
      const again = await login(yak, 'offc1');
      try {
        again.send('<presence/>');
        assert.equal((await again.next(isMessage)).getChildText('body'), 'once');
        await again.nothing(isMessage, [], 'stored twice');
      } finally {
        await again.close();
      }
    } finally {
      await closeAll(u, s);
    }
  });

  test('<offline/> then <continue/> into a rule without actions: stored once, and the whitelist rule does not deliver it as well', async () => {
    const u = await onlineUser(yak, 'offc5');
    const s = await onlineUser(yak, 'offc6');
    try {
      // The second rule alone would deliver the message as usual (a whitelist);
      // after the first stored it, that would show it live as well as at the next login.
      await setRules(u, '<rule><offline/><continue/></rule><rule><from>offc6@localhost</from></rule>');
      s.send("<message to='offc5@localhost' id='w1'><body>kept for later</body></message>");
      // Stored a second time, it would meet this server's limit of one: a 503 to the sender.
      await s.nothing(isMessage, [], 'the sender got an answer');
      await u.nothing(isMessage, [s], 'the stored message was delivered live as well');
      assert.deepEqual(
        (await spoolRecords(yak, 'offc5'))!.get(NS_OFFLINE)!.getChildren('message').map((m) => m.attrs.id),
        ['w1'],
      );
    } finally {
      await closeAll(u, s);
    }
  });

  test('<offline/> in two matching rules: stored once, one offline event, and no 503 for a message that was stored', async () => {
    const u = await onlineUser(yak, 'offc3');
    const s = await onlineUser(yak, 'offc4');
    try {
      await setRules(u, '<rule><offline/><continue/></rule><rule><body>once</body><offline/></rule>');
      s.send("<message to='offc3@localhost' id='o2'><body>once</body><x xmlns='jabber:x:event'><offline/></x></message>");
      // The second rule stored it again: over this server's limit of one, the
      // sender heard "Offline Storage Full" about a message that was stored.
      assertXml(await s.next(isMessage), "<message to='offc4@localhost/Work' from='offc3@localhost' id='o2'><x xmlns='jabber:x:event'><offline/><id>o2</id></x></message>");
      await s.nothing(isMessage, [], 'more than one offline event, or a refusal of a stored message');
      await u.nothing(isMessage, [s], 'the stored message was delivered live as well');
      assert.deepEqual(
        (await spoolRecords(yak, 'offc3'))!.get(NS_OFFLINE)!.getChildren('message').map((m) => m.attrs.id),
        ['o2'],
      );
    } finally {
      await closeAll(u, s);
    }
  });

  test('<error/> then <continue/>: the stanza is bounced once and not delivered as well; an iq gets one answer', async () => {
    const u = await onlineUser(yak, 'errc1');
    const s = await onlineUser(yak, 'errc2');
    const forbidden = "<error code='403' type='auth'>Forbidden</error>";
    try {
      // Alone, into a rule without actions (a whitelist), and into no further match.
      for (const rules of [
        "<rule><error code='403'/><continue/></rule>",
        "<rule><error code='403'/><continue/></rule><rule><from>errc2@localhost</from></rule>",
        "<rule><error code='403'/><continue/></rule><rule><body>never</body><reply>no</reply></rule>",
      ]) {
        await setRules(u, rules);
        s.send("<iq type='get' id='q1' to='errc1@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
        assertXml(
          await s.next(isIq),
          `<iq type='error' id='q1' to='errc2@localhost/Work' from='errc1@localhost/Work'><query xmlns='jabber:iq:version'/>${forbidden}</iq>`,
        );
        s.send("<message to='errc1@localhost' id='m1'><body>hi</body></message>");
        assertXml(await s.next(isMessage), bounced("to='errc2@localhost/Work' from='errc1@localhost' id='m1'", '<body>hi</body>', forbidden));
        await u.nothing(() => true, [s], `${rules}: a bounced stanza was delivered as well`);
        await s.nothing(() => true, [], `${rules}: answered twice`);
      }
      // A vCard get the server answers for the user: the bounce is the only answer.
      await setRules(u, "<rule><ns>vcard-temp</ns><error code='403'/><continue/></rule>");
      const vcard = await s.request("<iq type='get' id='v1' to='errc1@localhost'><vCard xmlns='vcard-temp'/></iq>");
      assertXml(vcard, `<iq type='error' id='v1' to='errc2@localhost/Work' from='errc1@localhost'><vCard xmlns='vcard-temp'/>${forbidden}</iq>`);
      await s.nothing(() => true, [], 'the vCard was sent after the bounce');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<reply> and <error> in several matching rules: one answer and one bounce per message, not one per rule', async () => {
    const u = await onlineUser(yak, 'many1');
    const s = await onlineUser(yak, 'many2');
    try {
      // Up to <max_size> rules like these made one stanza send back as many.
      await setRules(
        u,
        '<rule><reply>one</reply><continue/></rule><rule><reply>two</reply><continue/></rule>' +
          "<rule><error code='403'/><continue/></rule><rule><error code='405'/></rule>",
      );
      s.send("<message to='many1@localhost' id='m1'><body>hello</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='many2@localhost/Work' from='many1@localhost' id='m1'><body>one</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='many1@localhost'/><from jid='many1@localhost'/><to jid='many2@localhost/Work'/></x></message>",
      );
      assertXml(
        await s.next(isMessage),
        bounced("to='many2@localhost/Work' from='many1@localhost' id='m1'", '<body>hello</body>', "<error code='403' type='auth'>Forbidden</error>"),
      );
      await s.nothing(isMessage, [], 'more than one reply or bounce for one message');
      // The last rule's <error/> still consumes it: it was bounced.
      await u.nothing(isMessage, [s], 'a bounced message was delivered');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<forward> to a server or service is skipped: it would act with the user’s rights; the message is delivered as usual', async () => {
    const u = await onlineUser(yak, 'fwsv1');
    const s = await onlineUser(yak, 'fwsv2');
    try {
      await setRules(u, '<rule><forward>localhost/announce/online</forward></rule>');
      s.send("<message to='fwsv1@localhost' id='a1'><body>to everyone?</body></message>");
      assertXml(await u.next(isMessage), "<message to='fwsv1@localhost' id='a1' from='fwsv2@localhost/Work'><body>to everyone?</body></message>");
      await s.nothing(isMessage, [u], 'an announcement or an answer went out');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<error>: the message back as an error; 503 by default, the code’s standard text, or the rule’s own text', async () => {
    const u = await onlineUser(yak, 'err1');
    const s = await onlineUser(yak, 'err2');
    try {
      await setRules(u, '<rule><error/></rule>');
      s.send("<message to='err1@localhost' id='e1' type='chat'><body>hi</body><thread>t1</thread></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='err2@localhost/Work' from='err1@localhost' id='e1' type='error'><body>hi</body><thread>t1</thread>" +
          "<error code='503' type='cancel'>Service Unavailable</error></message>",
      );

      await setRules(u, "<rule><error code='403'>Not for you</error></rule>");
      s.send("<message to='err1@localhost/Work' id='e2'><body>hi</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='err2@localhost/Work' from='err1@localhost/Work' id='e2' type='error'><body>hi</body>" +
          "<error code='403' type='auth'>Not for you</error></message>",
      );

      await setRules(u, "<rule><error code='406'/></rule>");
      s.send("<message to='err1@localhost' id='e3'><body>hi</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='err2@localhost/Work' from='err1@localhost' id='e3' type='error'><body>hi</body>" +
          "<error code='406' type='modify'>Not Acceptable</error></message>",
      );

      // Every known code, with its XEP-0086 type.
      const types: [number, string][] = [
        [400, 'modify'], [401, 'auth'], [402, 'auth'], [403, 'auth'], [404, 'cancel'], [405, 'cancel'], [406, 'modify'],
        [407, 'auth'], [408, 'wait'], [409, 'cancel'], [500, 'wait'], [501, 'cancel'], [503, 'cancel'], [504, 'wait'],
      ];
      for (const [code, type] of types) {
        await setRules(u, `<rule><error code='${code}'>c${code}</error></rule>`);
        s.send(`<message to='err1@localhost' id='c${code}'><body>hi</body></message>`);
        assertXml(
          await s.next(isMessage),
          `<message to='err2@localhost/Work' from='err1@localhost' id='c${code}' type='error'><body>hi</body>` +
            `<error code='${code}' type='${type}'>c${code}</error></message>`,
        );
      }
      await u.nothing(isMessage, [s], 'a refused message was delivered');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<settype> with <continue/>: delivered with the new type (or none); <settype> alone drops the message', async () => {
    const u = await onlineUser(yak, 'st1');
    const s = await onlineUser(yak, 'st2');
    try {
      await setRules(u, '<rule><settype>chat</settype><continue/></rule>');
      s.send("<message to='st1@localhost' id='s1'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='st1@localhost' id='s1' type='chat' from='st2@localhost/Work'><body>x</body></message>");

      await setRules(u, '<rule><settype/><continue/></rule>');
      s.send("<message to='st1@localhost' id='s2' type='chat'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='st1@localhost' id='s2' from='st2@localhost/Work'><body>x</body></message>");

      await setRules(u, '<rule><settype>headline</settype></rule>');
      s.send("<message to='st1@localhost' id='s3'><body>x</body></message>");
      await u.nothing(isMessage, [s], 'a message whose type was set without <continue/> was delivered');
      await s.nothing(isMessage, [], 'the sender heard of a dropped message');
    } finally {
      await closeAll(u, s);
    }
  });

  test('<forward>: a copy to each target with the envelope trail; the original consumed unless <continue/>', async () => {
    const u = await onlineUser(yak, 'fw1');
    const s = await onlineUser(yak, 'fw2');
    const t1 = await onlineUser(yak, 'fw3');
    const t2 = await onlineUser(yak, 'fw4');
    try {
      await setRules(u, '<rule><forward>fw3@localhost</forward><forward>FW4@localhost</forward></rule>');
      s.send("<message to='fw1@localhost' id='f1' type='chat'><subject>s</subject><body>pass it on</body></message>");
      const trail =
        "<x xmlns='jabber:x:envelope'><forwardedby jid='fw1@localhost'/><from jid='fw2@localhost/Work'/>" +
        "<cc jid='fw3@localhost'/><cc jid='fw4@localhost'/></x>";
      for (const t of [t1, t2]) {
        assertXml(
          await t.next(isMessage),
          `<message to='${t.bare}' from='fw1@localhost' id='f1' type='chat'><subject>s</subject><body>pass it on</body>${trail}</message>`,
        );
      }
      await u.nothing(isMessage, [s], 'a forwarded message was delivered');
      await s.nothing(isMessage, [], 'the sender got an answer');

      await setRules(u, '<rule><forward>fw3@localhost</forward><continue/></rule>');
      s.send("<message to='fw1@localhost/Work' id='f2'><body>copy</body></message>");
      assertXml(
        await t1.next(isMessage),
        "<message to='fw3@localhost' from='fw1@localhost/Work' id='f2'><body>copy</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='fw1@localhost/Work'/><from jid='fw2@localhost/Work'/><cc jid='fw3@localhost'/></x></message>",
      );
      assertXml(await u.next(isMessage), "<message to='fw1@localhost/Work' id='f2' from='fw2@localhost/Work'><body>copy</body></message>");
      await t2.nothing(isMessage, [s], 'a target not in the rule got a copy');
    } finally {
      await closeAll(u, s, t1, t2);
    }
  });

  test('<offline/> while online: stored (not headlines or event notices), the limit answered with 503, delivered stamped at the next session', async () => {
    const u = await onlineUser(yak, 'off1');
    const s = await onlineUser(yak, 'off2');
    try {
      await setRules(u, '<rule><offline/></rule>');
      s.send("<message to='off1@localhost' id='h1' type='headline'><body>news</body></message>");
      s.send("<message to='off1@localhost' id='ev'><x xmlns='jabber:x:event'><composing/><id>m0</id></x></message>");
      s.send("<message to='off1@localhost' id='m1' type='chat'><body>keep this</body></message>");
      s.send("<message to='off1@localhost' id='m2'><body>one too many</body></message>");
      assertXml(
        await s.next(isMessage),
        bounced("to='off2@localhost/Work' from='off1@localhost' id='m2'", '<body>one too many</body>', "<error code='503' type='cancel'>Offline Storage Full</error>"),
      );
      await s.nothing(isMessage, [], 'the sender got more than the refusal');
      await u.nothing(isMessage, [s], 'a message for offline storage was delivered now');
      assert.deepEqual(
        (await spoolRecords(yak, 'off1'))!.get(NS_OFFLINE)!.getChildren('message').map((m) => m.attrs.id),
        ['m1'],
      );

      const ended = sessionEnded(yak, u.full);
      await u.close();
      await ended;
      const again = await login(yak, 'off1');
      try {
        await again.nothing(isMessage, [], 'stored messages came before presence');
        again.send('<presence/>');
        const m = await again.next(isMessage);
        assertXml(
          m,
          "<message to='off1@localhost' id='m1' type='chat' from='off2@localhost/Work'><body>keep this</body>" +
            "<x xmlns='jabber:x:delay' from='off1@localhost' stamp='*'>Offline Storage</x></message>",
        );
        assert.match(m.getChild('x', 'jabber:x:delay')!.attrs.stamp!, STAMP);
        await again.nothing(isMessage, [], 'more than the stored message');
      } finally {
        await again.close();
      }
    } finally {
      await closeAll(u, s);
    }
  });

  test('<continue/>: the next rules act too; with no later match the message is delivered', async () => {
    const u = await onlineUser(yak, 'cont1');
    const s = await onlineUser(yak, 'cont2');
    const t = await onlineUser(yak, 'cont3');
    try {
      const ack = (text: string, id: string): string =>
        `<message to='cont2@localhost/Work' from='cont1@localhost' id='${id}'><body>${text}</body>` +
        "<x xmlns='jabber:x:envelope'><forwardedby jid='cont1@localhost'/><from jid='cont1@localhost'/><to jid='cont2@localhost/Work'/></x></message>";
      await setRules(u, '<rule><reply>Noted</reply><continue/></rule><rule><forward>cont3@localhost</forward></rule>');
      s.send("<message to='cont1@localhost' id='c1'><body>x</body></message>");
      assertXml(await s.next(isMessage), ack('Noted', 'c1'));
      assertXml(
        await t.next(isMessage),
        "<message to='cont3@localhost' from='cont1@localhost' id='c1'><body>x</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='cont1@localhost'/><from jid='cont2@localhost/Work'/><cc jid='cont3@localhost'/></x></message>",
      );
      await u.nothing(isMessage, [s], 'a forwarded message was delivered');

      await setRules(u, "<rule><reply>Noted</reply><continue/></rule><rule><body>never</body><error/></rule>");
      s.send("<message to='cont1@localhost' id='c2'><body>x</body></message>");
      assertXml(await s.next(isMessage), ack('Noted', 'c2'));
      assertXml(await u.next(isMessage), "<message to='cont1@localhost' id='c2' from='cont2@localhost/Work'><body>x</body></message>");
      await s.nothing(isMessage, [s], 'more than the reply');
      await t.nothing(isMessage, [], 'an old rule still forwarded');
    } finally {
      await closeAll(u, s, t);
    }
  });

  test('actions run in the fixed order: the reply sees the old type, the forward the new one', async () => {
    const u = await onlineUser(yak, 'ord1');
    const s = await onlineUser(yak, 'ord2');
    const t = await onlineUser(yak, 'ord3');
    try {
      await setRules(u, '<rule><forward>ord3@localhost</forward><settype>chat</settype><reply>Sorted</reply></rule>');
      s.send("<message to='ord1@localhost' id='o1'><body>x</body></message>");
      assertXml(
        await s.next(isMessage),
        "<message to='ord2@localhost/Work' from='ord1@localhost' id='o1'><body>Sorted</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='ord1@localhost'/><from jid='ord1@localhost'/><to jid='ord2@localhost/Work'/></x></message>",
      );
      assertXml(
        await t.next(isMessage),
        "<message to='ord3@localhost' from='ord1@localhost' id='o1' type='chat'><body>x</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='ord1@localhost'/><from jid='ord2@localhost/Work'/><cc jid='ord3@localhost'/></x></message>",
      );
      await u.nothing(isMessage, [s], 'a consumed message was delivered');
    } finally {
      await closeAll(u, s, t);
    }
  });

  test('a rule without actions (a whitelist) delivers and stops the walk', async () => {
    const u = await onlineUser(yak, 'wl1');
    const friend = await onlineUser(yak, 'wl2');
    const stranger = await onlineUser(yak, 'wl3');
    try {
      await setRules(u, "<rule><from>wl2@localhost</from></rule><rule><error code='403'/></rule>");
      friend.send("<message to='wl1@localhost' id='w1'><body>x</body></message>");
      assertXml(await u.next(isMessage), "<message to='wl1@localhost' id='w1' from='wl2@localhost/Work'><body>x</body></message>");
      stranger.send("<message to='wl1@localhost' id='w2'><body>x</body></message>");
      assertXml(
        await stranger.next(isMessage),
        bounced("to='wl3@localhost/Work' from='wl1@localhost' id='w2'", '<body>x</body>', "<error code='403' type='auth'>Forbidden</error>"),
      );
      await friend.nothing(isMessage, [friend], 'a whitelisted sender got an error');
      await u.nothing(isMessage, [stranger], 'a refused message was delivered');
    } finally {
      await closeAll(u, friend, stranger);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter: <default> rules', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({
      tweak: withFilter("<filter><default><rule name='spam'><body>spam</body><error code='403'>No spam</error></rule></default></filter>"),
    });
  });
  after(() => yak.stop());

  test('tried after the user’s own rules, never shown by get', async () => {
    const own = await onlineUser(yak, 'def1');
    const none = await onlineUser(yak, 'def2');
    const cont = await onlineUser(yak, 'def3');
    const s = await onlineUser(yak, 'def4');
    try {
      const noSpam = (user: string, id: string): string =>
        bounced(`to='def4@localhost/Work' from='${user}@localhost' id='${id}'`, '<body>spam</body>', "<error code='403' type='auth'>No spam</error>");
      const reply = (user: string, text: string, id: string): string =>
        `<message to='def4@localhost/Work' from='${user}@localhost' id='${id}'><body>${text}</body>` +
        `<x xmlns='jabber:x:envelope'><forwardedby jid='${user}@localhost'/><from jid='${user}@localhost'/><to jid='def4@localhost/Work'/></x></message>`;

      // No rules of their own: the default applies; get shows nothing.
      await assertRules(none, '');
      s.send("<message to='def2@localhost' id='d1'><body>spam</body></message>");
      assertXml(await s.next(isMessage), noSpam('def2', 'd1'));
      s.send("<message to='def2@localhost' id='d2'><body>ham</body></message>");
      assertXml(await none.next(isMessage), "<message to='def2@localhost' id='d2' from='def4@localhost/Work'><body>ham</body></message>");

      // The user's own matching rule ends the walk first.
      const mine = '<rule><body>spam</body><reply>I like spam</reply></rule>';
      await setRules(own, mine);
      await assertRules(own, mine);
      s.send("<message to='def1@localhost' id='d3'><body>spam</body></message>");
      assertXml(await s.next(isMessage), reply('def1', 'I like spam', 'd3'));
      await s.nothing(isMessage, [s], 'the default rule ran after a matching own rule');

      // ...unless it continues.
      await setRules(cont, '<rule><reply>Noted</reply><continue/></rule>');
      s.send("<message to='def3@localhost' id='d4'><body>spam</body></message>");
      assertXml(await s.next(isMessage), reply('def3', 'Noted', 'd4'));
      assertXml(await s.next(isMessage), noSpam('def3', 'd4'));
      for (const c of [own, none, cont]) await c.nothing(isMessage, [s], 'spam was delivered');
    } finally {
      await closeAll(own, none, cont, s);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter: loops', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: withFilter() });
  });
  after(() => yak.stop());

  test('two users forwarding to each other: the message ends with the second, delivered once, nothing lost', async () => {
    const a = await onlineUser(yak, 'loop1');
    const b = await onlineUser(yak, 'loop2');
    const c = await onlineUser(yak, 'loop3');
    try {
      await setRules(a, '<rule><forward>loop2@localhost</forward></rule>');
      await setRules(b, '<rule><forward>loop1@localhost</forward></rule>');
      c.send("<message to='loop1@localhost' id='p1'><body>round and round</body></message>");
      // loop1 forwards to loop2, whose forward back is skipped: the trail
      // shows loop1 has had it. loop2 keeps it, delivered as usual.
      assertXml(
        await b.next(isMessage),
        "<message to='loop2@localhost' from='loop1@localhost' id='p1'><body>round and round</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='loop1@localhost'/><from jid='loop3@localhost/Work'/><cc jid='loop2@localhost'/></x></message>",
      );
      await b.nothing(isMessage, [c], 'the message came round more than once');
      await a.nothing(isMessage, [], 'the message came back to the first forwarder');
      await c.nothing(isMessage, [], 'the sender got an answer');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('a retyping forward whose target would send it back keeps it, retyped, not lost', async () => {
    const a = await onlineUser(yak, 'ret1');
    const b = await onlineUser(yak, 'ret2');
    const c = await onlineUser(yak, 'ret3');
    try {
      await setRules(a, '<rule><forward>ret2@localhost</forward><settype>chat</settype></rule>');
      await setRules(b, '<rule><forward>ret1@localhost</forward></rule>');
      c.send("<message to='ret1@localhost' id='r1'><body>twice round</body></message>");
      // ret1 retypes and forwards to ret2, whose forward back is skipped:
      // the message stays with ret2 instead of vanishing.
      assertXml(
        await b.next(isMessage),
        "<message to='ret2@localhost' from='ret1@localhost' id='r1' type='chat'><body>twice round</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='ret1@localhost'/><from jid='ret3@localhost/Work'/><cc jid='ret2@localhost'/></x></message>",
      );
      await b.nothing(isMessage, [a, c], 'the message came round more than once');
      await a.nothing(isMessage, [], 'the message came back to the first forwarder');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('two users who each keep a message and forward it to the other: one copy stored with each, never two', async () => {
    for (const away of [true, false]) {
      const [x, y, z] = away ? ['away1', 'away2', 'away3'] : ['keep1', 'keep2', 'keep3'];
      const a = await onlineUser(yak, x);
      const b = await onlineUser(yak, y);
      const s = await onlineUser(yak, z);
      try {
        // While away (logged out), or whether or not online.
        const when = away ? '<unavailable/>' : '';
        await setRules(a, `<rule>${when}<forward>${y}@localhost</forward><offline/></rule>`);
        await setRules(b, `<rule>${when}<forward>${x}@localhost</forward><offline/></rule>`);
        if (away) await closeAll(a, b);
        s.send(`<message to='${x}@localhost' id='k1'><body>lunch?</body></message>`);
        await s.nothing(isMessage, away ? [] : [a, b], 'the sender got an answer');
        const stored = async (user: string): Promise<(string | undefined)[]> =>
          (await spoolRecords(yak, user))!.get(NS_OFFLINE)!.getChildren('message').map((m) => m.attrs.from);
        // The original with the first; the second's copy from the first, not sent back.
        assert.deepEqual(await stored(x), [`${z}@localhost/Work`], `${away}`);
        assert.deepEqual(await stored(y), [`${x}@localhost`], `${away}`);
      } finally {
        await closeAll(...(away ? [s] : [a, b, s]));
      }
    }
  });

  test('a forward back skipped by a rule with <continue/>, then an auto-reply: the message is still delivered', async () => {
    const a = await onlineUser(yak, 'skip1');
    const b = await onlineUser(yak, 'skip2');
    const c = await onlineUser(yak, 'skip3');
    try {
      await setRules(a, '<rule><forward>skip2@localhost</forward></rule>');
      await setRules(b, '<rule><forward>skip1@localhost</forward><continue/></rule><rule><reply>I am away</reply></rule>');
      c.send("<message to='skip1@localhost' id='s1'><body>the original</body></message>");
      // skip2's forward back is skipped; its reply goes to skip1 (who
      // forwarded it), and the message itself stays with skip2.
      const got = await b.next(isMessage);
      assert.deepEqual([got.attrs.id, got.getChildText('body')], ['s1', 'the original']);
      const reply = await a.next(isMessage);
      assert.equal(reply.getChildText('body'), 'I am away');
      await b.nothing(isMessage, [a, c], 'the message was delivered twice');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('rules stored past the set checks (by 1.4) still forward one message at most 5 times', async () => {
    await offlineUser(yak, 'fan0');
    const targets = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => onlineUser(yak, `fan${i}`)));
    const sender = await onlineUser(yak, 'fan7');
    try {
      const forwards = [1, 2, 3, 4, 5, 6].map((i) => `<forward>fan${i}@localhost</forward>`).join('');
      await yak.server.jsm.xdb.set('localhost', 'fan0', { [NS_FILTER]: xml(`<query xmlns='${NS_FILTER}'><rule>${forwards}</rule></query>`) });
      sender.send("<message to='fan0@localhost' id='f1'><body>to all</body></message>");
      for (const t of targets.slice(0, 5)) assert.equal((await t.next(isMessage)).attrs.id, 'f1');
      await targets[5]!.nothing(isMessage, [sender, ...targets.slice(0, 5)], 'a sixth copy was sent');
    } finally {
      await closeAll(sender, ...targets);
    }
  });

  test('a chain of forwards stops after three: the fourth user keeps the message', async () => {
    const users = await Promise.all(['hop1', 'hop2', 'hop3', 'hop4', 'hop5'].map((n) => onlineUser(yak, n)));
    const sender = await onlineUser(yak, 'hop0');
    try {
      // hop1 -> hop2 -> hop3 -> hop4 (-> hop5, not taken: three forwarders already).
      for (let i = 0; i < 4; i++) await setRules(users[i]!, `<rule><forward>hop${i + 2}@localhost</forward></rule>`);
      sender.send("<message to='hop1@localhost' id='h1'><body>pass it on</body></message>");
      const got = await users[3]!.next(isMessage);
      assertXml(
        got,
        "<message to='hop4@localhost' from='hop3@localhost' id='h1'><body>pass it on</body><x xmlns='jabber:x:envelope'>" +
          "<forwardedby jid='hop1@localhost'/><from jid='hop0@localhost/Work'/><cc jid='hop2@localhost'/>" +
          "<forwardedby jid='hop2@localhost'/><from jid='hop1@localhost'/><cc jid='hop3@localhost'/>" +
          "<forwardedby jid='hop3@localhost'/><from jid='hop2@localhost'/><cc jid='hop4@localhost'/></x></message>",
      );
      await users[4]!.nothing(isMessage, [sender, ...users.slice(0, 4)], 'the fourth forward was made');
      for (const u of users.slice(0, 3)) await u.nothing(isMessage, [], 'a forwarding user kept the message');
    } finally {
      await closeAll(sender, ...users);
    }
  });

  test('a reply or forward to a message that already passed this user is skipped, and the message delivered', async () => {
    const u = await onlineUser(yak, 'back1');
    const s = await onlineUser(yak, 'back2');
    const t = await onlineUser(yak, 'back3');
    try {
      const envelope = "<x xmlns='jabber:x:envelope'><forwardedby jid='back1@localhost/Elsewhere'/><from jid='back2@localhost/Work'/></x>";
      await setRules(u, '<rule><reply>Auto</reply></rule>');
      s.send(`<message to='back1@localhost' id='b1'><body>x</body>${envelope}</message>`);
      assertXml(await u.next(isMessage), `<message to='back1@localhost' id='b1' from='back2@localhost/Work'><body>x</body>${envelope}</message>`);
      await s.nothing(isMessage, [s], 'a reply went round again');

      await setRules(u, '<rule><forward>back3@localhost</forward></rule>');
      s.send(`<message to='back1@localhost' id='b2'><body>x</body>${envelope}</message>`);
      assertXml(await u.next(isMessage), `<message to='back1@localhost' id='b2' from='back2@localhost/Work'><body>x</body>${envelope}</message>`);
      await t.nothing(isMessage, [s], 'a forward went round again');
      await s.nothing(isMessage, [], 'the sender got an answer');
    } finally {
      await closeAll(u, s, t);
    }
  });

  test('an error is never retyped, so a retype-then-bounce rule set cannot send it back and forth', async () => {
    const u = await onlineUser(yak, 'pong1');
    try {
      // The fuzz test found this: a message to oneself is bounced; the bounce
      // comes from the bare JID, which the first rule matches, so it was
      // retyped to chat, bounced again, and so on, with no I/O in between.
      await setRules(u, "<rule><from>pong1@localhost</from><settype>chat</settype><continue/></rule><rule><error code='403'/></rule>");
      u.send("<message to='pong1@localhost' id='me'><body>to myself</body></message>");
      assertXml(
        await u.next(isMessage),
        "<message to='pong1@localhost/Work' from='pong1@localhost' id='me' type='error'><body>to myself</body><error code='403' type='auth'>Forbidden</error></message>",
      );
      await u.nothing(isMessage, [], 'the bounce came back again');
    } finally {
      await u.close();
    }
  });

  test('a message of type error gets no reply and no error: it is delivered', async () => {
    const u = await onlineUser(yak, 'eloop1');
    const s = await onlineUser(yak, 'eloop2');
    try {
      await setRules(u, "<rule><reply>Auto</reply><error code='403'/></rule>");
      s.send("<message to='eloop1@localhost' id='x1' type='error'><body>x</body><error code='404'>Not Found</error></message>");
      assertXml(
        await u.next(isMessage),
        "<message to='eloop1@localhost' id='x1' type='error' from='eloop2@localhost/Work'><body>x</body><error code='404'>Not Found</error></message>",
      );
      await s.nothing(isMessage, [s], 'an error was answered');
    } finally {
      await closeAll(u, s);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter: never filtered', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: withFilter() });
  });
  after(() => yak.stop());

  test('presence, subscriptions and directed presence pass rules that refuse the sender’s messages', async () => {
    const u = await onlineUser(yak, 'pr1');
    const s = await onlineUser(yak, 'pr2');
    const stranger = await onlineUser(yak, 'pr3');
    try {
      await setRules(u, '<rule><from>pr2@localhost</from><error/></rule><rule><error/></rule>');
      await subscribeBoth(u, s);
      assertXml((await u.item('pr2@localhost'))!, "<item jid='pr2@localhost' subscription='both'/>");
      await s.presence('<presence><show>away</show><status>out</status></presence>');
      const presenceFrom = (jid: string) => (e: Element) => e.name === 'presence' && e.attrs.from === jid;
      assertXml(
        await u.next(presenceFrom('pr2@localhost/Work')),
        "<presence from='pr2@localhost/Work' to='pr1@localhost'><show>away</show><status>out</status></presence>",
      );
      // A stranger's subscription request and directed presence pass too.
      stranger.send("<presence type='subscribe' to='pr1@localhost'/>");
      stranger.send("<presence to='pr1@localhost'><status>psst</status></presence>");
      assertXml(await u.next(presenceFrom('pr3@localhost')), "<presence type='subscribe' to='pr1@localhost' from='pr3@localhost'/>");
      assertXml(await u.next(presenceFrom('pr3@localhost/Work')), "<presence to='pr1@localhost' from='pr3@localhost/Work'><status>psst</status></presence>");
      // The rules are there: a message is refused.
      s.send("<message to='pr1@localhost' id='m1'><body>x</body></message>");
      assertXml(
        await s.next(isMessage),
        bounced("to='pr2@localhost/Work' from='pr1@localhost' id='m1'", '<body>x</body>', "<error code='503' type='cancel'>Service Unavailable</error>"),
      );
    } finally {
      await closeAll(u, s, stranger);
    }
  });

  test('iq results and errors reach a user whose rules refuse everything', async () => {
    const u = await onlineUser(yak, 'iqres1');
    const s = await onlineUser(yak, 'iqres2');
    try {
      await setRules(u, '<rule><error/></rule>');
      const asked = u.request("<iq type='get' id='q1' to='iqres2@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      assertXml(await s.next(isIq), "<iq type='get' id='q1' to='iqres2@localhost/Work' from='iqres1@localhost/Work'><query xmlns='jabber:iq:version'/></iq>");
      s.send("<iq type='result' id='q1' to='iqres1@localhost/Work'><query xmlns='jabber:iq:version'><name>Test</name><version>1</version></query></iq>");
      assertXml(
        await asked,
        "<iq type='result' id='q1' to='iqres1@localhost/Work' from='iqres2@localhost/Work'><query xmlns='jabber:iq:version'><name>Test</name><version>1</version></query></iq>",
      );

      const refused = u.request("<iq type='get' id='q2' to='iqres2@localhost/Work'><query xmlns='jabber:iq:time'/></iq>");
      await s.next(isIq);
      s.send("<iq type='error' id='q2' to='iqres1@localhost/Work'><query xmlns='jabber:iq:time'/><error code='501'>Not Implemented</error></iq>");
      assertXml(
        await refused,
        "<iq type='error' id='q2' to='iqres1@localhost/Work' from='iqres2@localhost/Work'><query xmlns='jabber:iq:time'/><error code='501'>Not Implemented</error></iq>",
      );
      await s.nothing(() => true, [s], 'a result or error was bounced');
    } finally {
      await closeAll(u, s);
    }
  });

  test('the user’s own requests to their account pass rules that refuse everything', async () => {
    const u = await onlineUser(yak, 'self1');
    const s = await onlineUser(yak, 'self2');
    try {
      const rules = '<rule><ns>jabber:iq:roster</ns><error/></rule><rule><ns>jabber:iq:last</ns><error/></rule><rule><error/></rule>';
      await setRules(u, rules);
      assertXml(
        await u.request(`<iq type='get' id='r1'><query xmlns='${NS_ROSTER}'/></iq>`),
        `<iq type='result' id='r1' to='self1@localhost/Work'><query xmlns='${NS_ROSTER}'/></iq>`,
      );
      assertXml(
        await u.request("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Self</FN></vCard></iq>"),
        "<iq type='result' id='v1' to='self1@localhost/Work' from='self1@localhost'/>",
      );
      assertXml(
        await u.request("<iq type='get' id='v2' to='self1@localhost'><vCard xmlns='vcard-temp'/></iq>"),
        "<iq type='result' id='v2' to='self1@localhost/Work' from='self1@localhost'><vCard xmlns='vcard-temp'><FN>Self</FN></vCard></iq>",
      );
      assertXml(
        await u.request("<iq type='get' id='l1' to='self1@localhost'><query xmlns='jabber:iq:last'/></iq>"),
        "<iq type='result' id='l1' to='self1@localhost/Work' from='self1@localhost'><query xmlns='jabber:iq:last' seconds='*'>*</query></iq>",
      );
      await assertRules(u, rules);
      // Another user's request is refused, by the rules.
      assertXml(
        await s.request("<iq type='get' id='l2' to='self1@localhost/Work'><query xmlns='jabber:iq:version'/></iq>"),
        "<iq type='error' id='l2' to='self2@localhost/Work' from='self1@localhost/Work'><query xmlns='jabber:iq:version'/>" +
          "<error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
      // And the user can still take them away.
      await setRules(u, '');
      await assertRules(u, '');
    } finally {
      await closeAll(u, s);
    }
  });
});

// ---------------------------------------------------------------------------

describe('mod_filter across a restart', () => {
  let spool: string;
  before(async () => {
    spool = await mkdtemp(path.join(os.tmpdir(), 'yak-filter-'));
  });
  after(() => rm(spool, { recursive: true, force: true }));

  async function withServer(fn: (yak: TestYak) => Promise<void>): Promise<void> {
    const yak = await startYak({ spool, tweak: withFilter() });
    try {
      await fn(yak);
    } finally {
      await yak.stop();
    }
  }

  test('stored rules are read back and applied after a restart', async () => {
    const rules = "<rule name='keep'><from>rs2@localhost</from><error code='403'>Still no</error></rule>";
    await withServer(async (yak) => {
      const u = await newUser(yak, 'rs1');
      await offlineUser(yak, 'rs2');
      try {
        await setRules(u, rules);
      } finally {
        await u.close();
      }
    });
    await withServer(async (yak) => {
      const u = await login(yak, 'rs1');
      const s = await login(yak, 'rs2');
      try {
        await assertRules(u, rules);
        s.send("<message to='rs1@localhost' id='m1'><body>x</body></message>");
        assertXml(
          await s.next(isMessage),
          bounced("to='rs2@localhost/Work' from='rs1@localhost' id='m1'", '<body>x</body>', "<error code='403' type='auth'>Still no</error>"),
        );
      } finally {
        await closeAll(u, s);
      }
    });
  });
});
