// Interop: the session manager driven through Net::Jabber (Perl, Debian
// libnet-jabber-perl), the book's client library, against the real daemon.
// test/interop/netjabber-session.pl uses Net::Jabber's own objects and
// methods (Client, RosterAdd/RosterGet/RosterRemove and the Roster object,
// Subscription, PresenceSend and the PresenceDB, MessageSend, IQ objects,
// TimeQuery, VersionQuery, BrowseRequest, LastQuery) for two users: a
// subscription both ways and each other's presence, vCards, the server's
// time, version and browse entry, jabber:iq:private, jabber:iq:last after a
// logout, a message kept offline and delivered with jabber:x:delay, and the
// removal of a roster item. The script prints one line per thing it saw;
// this test compares the whole output with what 1.4 would have made the
// library report, and reads the spool while the message waits and at the end.
//
// Net::Jabber 2.0 (on Net::XMPP 1.05) needed workarounds, each explained
// in the script: its callback table is freed right after new() (rebuilt
// with InitCallbacks), its iq dispatcher dies on the second unrequested iq
// of a namespace (left off), it has no vCard or jabber:iq:private objects
// (declared with AddNamespace), it reads seconds='0' as no seconds (the
// script asks jabber:iq:last again until the logout is a second old), and
// its Roster object forgets a contact's presence at each roster push (the
// script reads presence from the PresenceDB).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { YAK_VERSION } from '../src/version.js';
import type { Element } from '../src/xml/element.js';
import { ChildScript } from './helpers/child-script.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { interopScript, requireNetJabber } from './helpers/netjabber.js';
import { readSpool } from './helpers/transcript.js';
import { assertXml } from './helpers/xml-assert.js';
import { legacyStampTime } from '../src/util/time.js';

const SCRIPT = interopScript('netjabber-session.pl');
const HOST = 'localhost';

/** A user's spool records by namespace, without the xdbns marks. */
/**
 * The user's records as the running daemon's file holds them. The file is
 * rewritten in place, so a read can catch it mid-rewrite (cut short, or
 * longer than its stat said): such a read is tried again.
 */
async function records(daemon: Daemon, user: string): Promise<Map<string, Element>> {
  let file: Awaited<ReturnType<typeof readSpool>>;
  for (let tries = 1; ; tries++) {
    try {
      file = await readSpool(daemon.spool, HOST, user);
      break;
    } catch (err) {
      if (tries >= 20) throw err;
      await sleep(50);
    }
  }
  assert.ok(file, `no spool file for ${user}`);
  const out = new Map<string, Element>();
  for (const [ns, r] of file.records) {
    const clean = r.clone();
    delete clean.attrs.xdbns;
    out.set(ns, clean);
  }
  return out;
}

/** A 1.4 stamp (UTC) as milliseconds since the epoch. */
function stampTime(stamp: string): number {
  const t = legacyStampTime(stamp);
  assert.ok(t !== undefined, `not a YYYYMMDDTHH:MM:SS stamp: ${stamp}`);
  return t;
}

/** Asserts `stamp` names a second between `from` and now. */
function assertStampNow(stamp: string, from: number, what: string): void {
  const t = stampTime(stamp);
  const now = Date.now();
  assert.ok(t >= Math.floor(from / 1000) * 1000 && t <= now, `${what} ${stamp} is not between the start of the test and now`);
}

/** The one line of `lines` starting with `prefix`, removed from `lines`; returns its rest. */
function takeLine(lines: string[], prefix: string): string {
  const i = lines.findIndex((l) => l.startsWith(prefix));
  assert.ok(i >= 0, `no line starting with "${prefix}"`);
  const [line] = lines.splice(i, 1);
  return line!.slice(prefix.length);
}

const SUBSCRIBED = [
  'alice registered and logged in',
  'bob registered and logged in',
  'alice roster: empty',
  'bob got subscribe from alice@localhost',
  'alice got subscribed from bob@localhost',
  'alice got subscribe from bob@localhost',
  'bob got subscribed from alice@localhost',
  'alice got available from bob@localhost/Perl: Counting',
  'bob got available from alice@localhost/Perl: Down the rabbit hole',
  'alice roster: bob@localhost name=Bob subscription=both ask= groups=Friends',
  'bob roster: alice@localhost name= subscription=both ask= groups=',
  'alice Roster object: bob@localhost name=Bob subscription=both; PresenceDB: available as Perl: Counting',
  'bob Roster object: alice@localhost name= subscription=both; PresenceDB: available as Perl: Down the rabbit hole',
];

const QUERIES = [
  'alice vCard stored',
  'alice read the vCard of herself: fn=Alice Liddell, nickname=alice, url=http://wonderland.example/',
  'bob read the vCard of alice@localhost: fn=Alice Liddell, nickname=alice, url=http://wonderland.example/',
  'bob read the vCard of alice@localhost/Perl: fn=Alice Liddell, nickname=alice, url=http://wonderland.example/',
  'bob read the vCard of localhost: fn=Yak Jabber Server, url=http://localhost/, desc=A Jabber server speaking jabberd 1.4.',
  // time utc= is checked apart
  'time tz=UTC',
  'time display given',
  `version name=Yak ver=${YAK_VERSION} os given`,
  'browse localhost: category=service jid=localhost name=Yak Jabber Server type=jabber ' +
    'ns=jabber:iq:auth,jabber:iq:register,jabber:iq:browse,jabber:iq:agents,jabber:iq:time,jabber:iq:version,jabber:iq:last,vcard-temp ' +
    'children=0',
  // A contact: bob's connected resource is listed, as 1.4's mod_browse_reply listed it.
  'browse bob@localhost: category=user jid=bob@localhost name=Bob Cratchit type= ns= children=1 user:client:bob@localhost/Perl',
  'private stored',
  'private fetched: url=http://jabber.org/ title=Jabber',
];

const OFFLINE = [
  'alice got unavailable from bob@localhost/Perl',
  'alice Roster object: bob@localhost name=Bob subscription=both; PresenceDB: unavailable',
  'bob logged off',
  'last of bob: Gone home, under a minute ago',
  'alice sent a message to bob',
  'PAUSE offline',
  'bob logged in',
  'bob got a message from alice@localhost/Perl: type=chat subject=Tea body=Tea at four? thread=tea-1',
  'delay from=bob@localhost text=Offline Storage',
  // stamp is checked apart
  'alice got available from bob@localhost/Perl: Back',
  'bob got available from alice@localhost/Perl: Down the rabbit hole',
];

// Removing a contact with a subscription both ways cancels both (RFC 3921
// 8.6): the contact is told unsubscribe and unsubscribed, its item stays
// with subscription none, and neither sees the other any longer. Nothing
// else arrives (no "also saw" line).
const REMOVED = [
  'bob got unsubscribe from alice@localhost',
  'bob got unsubscribed from alice@localhost',
  'bob got unavailable from alice@localhost/Perl',
  'alice got unavailable from bob@localhost/Perl',
  'alice roster: empty',
  'bob roster: alice@localhost name= subscription=none ask= groups=',
  'alice Roster object: no bob@localhost; PresenceDB: unavailable',
  'bob Roster object: alice@localhost name= subscription=none; PresenceDB: unavailable',
  'OK',
];

describe('Net::Jabber drives the session manager', { timeout: 90_000 }, () => {
  let daemon: Daemon | undefined;
  let script: ChildScript | undefined;
  after(async () => {
    script?.kill();
    await daemon?.dispose();
  });

  test('roster, subscriptions, presence, vCard, time, version, browse, private, last, offline message, removal', async () => {
    await requireNetJabber();
    daemon = await startDaemon();
    const started = Date.now();
    const s = new ChildScript('perl', [SCRIPT, String(daemon.port)], 60_000);
    script = s;
    const transcript = (): string => `script output:\n${s.stdout}${s.stderr}\ndaemon log:\n${daemon!.stderr()}`;

    try {
      await s.line('PAUSE offline');
    } catch (err) {
      assert.fail(`${(err as Error).message}\n${transcript()}`);
    }
    // The message waits in bob's file, stamped, and his logout is recorded.
    let bob = await records(daemon, 'bob');
    for (let tries = 0; !bob.get('jabber:x:offline') && tries < 100; tries++) {
      await sleep(100);
      bob = await records(daemon, 'bob');
    }
    const box = bob.get('jabber:x:offline');
    assert.ok(box, `the message was not kept in bob's spool file\n${transcript()}`);
    const kept = box.getChildren('message');
    assert.equal(kept.length, 1, box.toString());
    const message = kept[0]!;
    assert.deepEqual(
      { ...message.attrs },
      { to: 'bob@localhost', from: 'alice@localhost/Perl', type: 'chat' },
      message.toString(),
    );
    assert.deepEqual(
      message.elements.map((e) => e.name).sort(),
      ['body', 'subject', 'thread', 'x'],
      message.toString(),
    );
    assert.equal(message.getChildText('body'), 'Tea at four?');
    assert.equal(message.getChildText('subject'), 'Tea');
    assert.equal(message.getChildText('thread'), 'tea-1');
    const delay = message.getChild('x', 'jabber:x:delay');
    assert.ok(delay, message.toString());
    assertXml(delay, "<x xmlns='jabber:x:delay' from='bob@localhost' stamp='*'>Offline Storage</x>");
    const storedStamp = delay.attrs.stamp!;
    assertStampNow(storedStamp, started, 'the stored stamp');
    assertXml(bob.get('jabber:iq:last')!, "<query xmlns='jabber:iq:last' last='*'>Gone home</query>");
    s.tell('go', true);

    const code = await s.exited;
    assert.equal(code, 0, `the Net::Jabber script must succeed\n${transcript()}`);
    const lines = s.lines;
    const utc = takeLine(lines, 'time utc=');
    assertStampNow(utc, started, 'the server time');
    // What bob got is what was stored.
    assert.equal(takeLine(lines, 'stamp '), storedStamp, transcript());
    assert.deepEqual(lines, [...SUBSCRIBED, ...QUERIES, ...OFFLINE, ...REMOVED], transcript());
    assert.equal(s.stderr, '', 'the script must not warn');

    assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
    const errors = daemon.logLines().filter((l) => (l.level ?? 0) >= 50);
    assert.deepEqual(errors, [], transcript());

    // What the server kept.
    const alice = await records(daemon, 'alice');
    assertXml(alice.get('jabber:iq:roster')!, "<query xmlns='jabber:iq:roster'/>");
    const card = alice.get('vcard-temp')!;
    // Net::Jabber writes the fields in its own (hash) order.
    assert.deepEqual(
      Object.fromEntries(card.elements.map((e) => [e.name, e.text()])),
      { FN: 'Alice Liddell', NICKNAME: 'alice', URL: 'http://wonderland.example/' },
      card.toString(),
    );
    assertXml(
      alice.get('yak:test:bookmarks')!,
      "<bookmarks xmlns='yak:test:bookmarks' j_private_flag='1'><url title='Jabber'>http://jabber.org/</url></bookmarks>",
    );
    bob = await records(daemon, 'bob');
    assertXml(bob.get('jabber:iq:roster')!, "<query xmlns='jabber:iq:roster'><item jid='alice@localhost' subscription='none'/></query>");
    assert.equal(bob.get('jabber:x:offline'), undefined, 'the delivered message stayed on disk');
    // His last logout: the second session, which Disconnect() ended without
    // an unavailable presence: 1.4's reason, not its last status ("Back").
    assertXml(bob.get('jabber:iq:last')!, "<query xmlns='jabber:iq:last' last='*'>Disconnected</query>");
  });
});
