// SPEC section 8, the smaller session-manager modules with their 1.4
// reply formats: mod_vcard, mod_last, mod_time, mod_version, mod_browse,
// mod_xml (jabber:iq:private), mod_echo, mod_announce, mod_admin,
// mod_agents, mod_log; and the <welcome> and registration notice messages,
// which travel the real delivery path (offline storage included).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClientStream } from '../src/client/client-stream.js';
import { loadConfig } from '../src/config/load.js';
import type { YakConfig } from '../src/config/types.js';
import { YakServer } from '../src/server.js';
import { YAK_VERSION } from '../src/version.js';
import { hostDirName, userFileName } from '../src/xdb/file-names.js';
import { NS_LAST, type Xdb } from '../src/xdb/xdb.js';
import type { Element } from '../src/xml/element.js';
import { stepWallClock } from './helpers/wall-clock.js';
import { addUser, authIq, BUNDLED_CONFIG, registerIq, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { captureLog } from './helpers/log-capture.js';
import { holdCalls } from './helpers/latch.js';
import {
  closeAll,
  isMessage,
  login,
  newUser,
  offlineUser,
  noKarma,
  onlineUser,
  PASSWORD,
  plain,
  sessionEnded,
  spoolRecords,
  STAMP,
  subscribeBoth,
  xml,
  type Client,
} from './helpers/session.js';


describe('modules answering queries', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.jsm.browse = [
          xml(
            "<service type='jud' jid='users.example.org' name='User Directory'>" +
              '<ns>jabber:iq:search</ns><ns>jabber:iq:register</ns></service>',
          ),
          // A namespace no flag stands for, named like a property every object has: no flag.
          xml("<conference type='public' jid='conference.example.org' name='Chat Rooms'><ns>constructor</ns></conference>"),
        ];
      },
    });
  });
  after(() => yak.stop());

  describe('mod_vcard', () => {
    test('a prefix declared on the request is declared again where the stored card uses it, so the card read alone is well-formed', async () => {
      const a = await newUser(yak, 'vcns');
      try {
        assertXml(
          await a.request("<iq type='set' id='n1' xmlns:x='urn:example:x'><vCard xmlns='vcard-temp'><FN>N</FN><x:photo x:kind='cat'/></vCard></iq>"),
          "<iq type='result' id='n1' to='vcns@localhost/Work' from='vcns@localhost'/>",
        );
        assertXml(
          await a.request("<iq type='get' id='n2'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='result' id='n2' to='vcns@localhost/Work' from='vcns@localhost'><vCard xmlns='vcard-temp'><FN>N</FN><x:photo x:kind='cat' xmlns:x='urn:example:x'/></vCard></iq>",
        );
      } finally {
        await closeAll(a);
      }
    });

    test('a request is known by its namespace, whatever the element is called (1.4 checked only that); the card is stored and answered as vCard', async () => {
      const a = await newUser(yak, 'vcname1');
      const b = await newUser(yak, 'vcname2');
      try {
        assertXml(
          await a.request("<iq type='set' id='u1'><VCARD xmlns='vcard-temp'><FN>Upper Case</FN></VCARD></iq>"),
          "<iq type='result' id='u1' to='vcname1@localhost/Work' from='vcname1@localhost'/>",
        );
        assertXml(
          await b.request("<iq type='get' id='u2' to='vcname1@localhost'><VCARD xmlns='vcard-temp'/></iq>"),
          "<iq type='result' id='u2' to='vcname2@localhost/Work' from='vcname1@localhost'><vCard xmlns='vcard-temp'><FN>Upper Case</FN></vCard></iq>",
        );
        assert.equal((await spoolRecords(yak, 'vcname1'))?.get('vcard-temp')?.name, 'vCard');
        const server = await a.request("<iq type='get' id='u3' to='localhost'><query xmlns='vcard-temp'/></iq>");
        assert.equal(server.attrs.type, 'result', server.toString());
        assert.ok(server.getChild('vCard', 'vcard-temp'), server.toString());
        // The same for the other modules 1.4 matched by namespace alone.
        for (const ns of ['jabber:iq:time', 'jabber:iq:version', 'jabber:iq:last', 'jabber:iq:agents', 'jabber:iq:agent']) {
          const reply = await a.request(`<iq type='get' id='u4' to='localhost'><x xmlns='${ns}'/></iq>`);
          assert.equal(reply.attrs.type, 'result', reply.toString());
          assert.ok(reply.getChild('query', ns), reply.toString());
        }
        const last = await b.request("<iq type='get' id='u5' to='vcname2@localhost'><x xmlns='jabber:iq:last'/></iq>");
        assert.equal(last.attrs.type, 'result', last.toString());
        // Only the first child naming a namespace counts, as 1.4's p->iq: a later one is not the request.
        const version = await a.request("<iq type='get' id='u6' to='localhost'><query xmlns='jabber:iq:version'/><x xmlns='jabber:iq:time'/></iq>");
        assert.ok(version.getChild('query', 'jabber:iq:version'), version.toString());
        const lastFirst = await b.request("<iq type='get' id='u7' to='vcname1@localhost'><query xmlns='jabber:iq:last'/><vCard xmlns='vcard-temp'/></iq>");
        // mod_last's answer to a stranger (403), not the card.
        assert.equal(lastFirst.getChild('error')?.attrs.code, '403', lastFirst.toString());
        const notACard = await a.request("<iq type='set' id='u8'><query xmlns='jabber:iq:private'><n xmlns='x:n'/></query><vCard xmlns='vcard-temp'><FN>Taken Over</FN></vCard></iq>");
        assert.equal(notACard.attrs.type, 'result', notACard.toString());
        assert.equal((await spoolRecords(yak, 'vcname1'))?.get('vcard-temp')?.getChildText('FN'), 'Upper Case');
        // The other way round: a card set with a roster query after it sets the card, not a roster item.
        const card = await a.request("<iq type='set' id='u9'><vCard xmlns='vcard-temp'><FN>Card First</FN></vCard><query xmlns='jabber:iq:roster'><item jid='planted@example.com'/></query></iq>");
        assert.equal(card.attrs.type, 'result', card.toString());
        const records = await spoolRecords(yak, 'vcname1');
        assert.equal(records?.get('vcard-temp')?.getChildText('FN'), 'Card First');
        assert.equal(records?.get('jabber:iq:roster')?.getChildren('item').length ?? 0, 0);
      } finally {
        await closeAll(a, b);
      }
    });

    test('own set and get, others get, nobody else sets (405, as in 1.4), stored as vcard-temp', async () => {
      const a = await newUser(yak, 'vc1');
      const b = await newUser(yak, 'vc2');
      try {
        const card = "<vCard xmlns='vcard-temp'><FN>Vera Card</FN><NICKNAME>vc</NICKNAME><EMAIL><USERID>v@example.org</USERID></EMAIL></vCard>";
        assertXml(await a.request(`<iq type='set' id='v1'>${card}</iq>`), "<iq type='result' id='v1' to='vc1@localhost/Work' from='vc1@localhost'/>");
        assertXml(await a.request("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>"), `<iq type='result' id='v2' to='vc1@localhost/Work' from='vc1@localhost'>${card}</iq>`);
        assertXml(
          await b.request("<iq type='get' id='v3' to='vc1@localhost'><vCard xmlns='vcard-temp'/></iq>"),
          `<iq type='result' id='v3' to='vc2@localhost/Work' from='vc1@localhost'>${card}</iq>`,
        );
        assertXml(
          await b.request("<iq type='set' id='v4' to='vc1@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>"),
          "<iq type='error' id='v4' to='vc2@localhost/Work' from='vc1@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>" +
            "<error code='405' type='cancel'>Not Allowed</error></iq>",
        );
        // A user who never set one has an empty card.
        assertXml(
          await a.request("<iq type='get' id='v5' to='vc2@localhost'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='result' id='v5' to='vc1@localhost/Work' from='vc2@localhost'><vCard xmlns='vcard-temp'/></iq>",
        );
        assertXml(
          await a.request("<iq type='get' id='v6' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='error' id='v6' to='vc1@localhost/Work' from='nobody@localhost'><vCard xmlns='vcard-temp'/>" +
            "<error code='404' type='cancel'>Not Found</error></iq>",
        );
        assertXml((await spoolRecords(yak, 'vc1'))!.get('vcard-temp')!, card);
      } finally {
        await closeAll(a, b);
      }
    });

    test("a get to a connected resource is answered by the server with the stored card, as 1.4's es_IN chain did", async () => {
      const a = await onlineUser(yak, 'vc6', 'Home');
      const b = await onlineUser(yak, 'vc7');
      try {
        const card = "<vCard xmlns='vcard-temp'><FN>Connie</FN></vCard>";
        await a.request(`<iq type='set'>${card}</iq>`);
        // b asks with the full JID its chat window holds; a is connected there.
        assertXml(
          await b.request("<iq type='get' id='c1' to='vc6@localhost/Home'><vCard xmlns='vcard-temp'/></iq>"),
          `<iq type='result' id='c1' to='vc7@localhost/Work' from='vc6@localhost/Home'>${card}</iq>`,
        );
        // A connected user who never set one: the empty card, as for the bare JID.
        assertXml(
          await a.request("<iq type='get' id='c2' to='vc7@localhost/Work'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='result' id='c2' to='vc6@localhost/Home' from='vc7@localhost/Work'><vCard xmlns='vcard-temp'/></iq>",
        );
        // Nor does a set from someone else reach the client: 405, as for the bare JID.
        assertXml(
          await b.request("<iq type='set' id='c3' to='vc6@localhost/Home'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>"),
          "<iq type='error' id='c3' to='vc7@localhost/Work' from='vc6@localhost/Home'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>" +
            "<error code='405' type='cancel'>Not Allowed</error></iq>",
        );
        await a.nothing((e) => e.name === 'iq', [b], 'a vCard request reached the client');
        await b.nothing((e) => e.name === 'iq', [a], 'a vCard request reached the client');
        assertXml((await spoolRecords(yak, 'vc6'))!.get('vcard-temp')!, card);
      } finally {
        await closeAll(a, b);
      }
    });

    test("a get in <vcard/> (lower case, as some 1.4-era clients send it) is answered with the stored card", async () => {
      const a = await newUser(yak, 'vclow');
      try {
        const card = "<vCard xmlns='vcard-temp'><FN>Lower Case</FN></vCard>";
        await a.request(`<iq type='set'>${card}</iq>`);
        assertXml(
          await a.request("<iq type='get' id='lc1' to='vclow@localhost'><vcard xmlns='vcard-temp'/></iq>"),
          `<iq type='result' id='lc1' to='vclow@localhost/Work' from='vclow@localhost'>${card}</iq>`,
        );
      } finally {
        await a.close();
      }
    });

    test('a get to a resource of the host is not answered with the server vCard: only the bare host has it', async () => {
      const a = await newUser(yak, 'vchost');
      try {
        assertXml(
          await a.request("<iq type='get' id='hr' to='localhost/foo'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='error' id='hr' to='vchost@localhost/Work' from='localhost/foo'><vCard xmlns='vcard-temp'/>" +
            "<error code='503' type='cancel'>Service Unavailable</error></iq>",
        );
      } finally {
        await a.close();
      }
    });

    test('the host answers with the server vCard from the config', async () => {
      const a = await newUser(yak, 'vc3');
      try {
        assertXml(
          await a.request("<iq type='get' id='sv' to='localhost'><vCard xmlns='vcard-temp'/></iq>"),
          "<iq type='result' id='sv' to='vc3@localhost/Work' from='localhost'><vCard xmlns='vcard-temp'>" +
            '<FN>Yak Jabber Server</FN><DESC>A Jabber server speaking jabberd 1.4.</DESC><URL>http://localhost/</URL></vCard></iq>',
        );
      } finally {
        await a.close();
      }
    });
  });

  describe('mod_last', () => {
    test('after logout: the time and the final status, for trusted contacts only', async () => {
      const a = await onlineUser(yak, 'last1');
      const b = await onlineUser(yak, 'last2');
      const stranger = await onlineUser(yak, 'last3');
      try {
        await subscribeBoth(a, b);
        const ended = sessionEnded(yak, a.full);
        // The status a client shows: the jabber:client one, here with a prefix after a decoy.
        a.send("<presence type='unavailable'><status xmlns='urn:decoy'>not this</status><s:status xmlns:s='jabber:client'>Gone home</s:status></presence>");
        await a.close();
        await ended;
        const reply = await b.request("<iq type='get' id='l1' to='last1@localhost'><query xmlns='jabber:iq:last'/></iq>");
        assertXml(reply, "<iq type='result' id='l1' to='last2@localhost/Work' from='last1@localhost'><query xmlns='jabber:iq:last' seconds='*'>Gone home</query></iq>");
        assert.match(reply.getChild('query')!.attrs.seconds!, /^\d+$/);
        assertXml(
          await stranger.request("<iq type='get' id='l2' to='last1@localhost'><query xmlns='jabber:iq:last'/></iq>"),
          "<iq type='error' id='l2' to='last3@localhost/Work' from='last1@localhost'><query xmlns='jabber:iq:last'/>" +
            "<error code='403' type='auth'>Forbidden</error></iq>",
        );
        assertXml(
          await stranger.request("<iq type='get' id='l3' to='nobody@localhost'><query xmlns='jabber:iq:last'/></iq>"),
          "<iq type='error' id='l3' to='last3@localhost/Work' from='nobody@localhost'><query xmlns='jabber:iq:last'/>" +
            "<error code='404' type='cancel'>Not Found</error></iq>",
        );
        // Stored in the 1.4 layout.
        assertXml((await spoolRecords(yak, 'last1'))!.get('jabber:iq:last')!, "<query xmlns='jabber:iq:last' last='*'>Gone home</query>");
      } finally {
        await closeAll(a, b, stranger);
      }
    });

    test("a session the server's stop ends records 1.4's 'JSM shutdown'", async () => {
      const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-shutdown-'));
      try {
        const first = await startYak({ spool, tweak: plain });
        const a = await onlineUser(first, 'stopped1');
        await a.presence('<presence><status>Working</status></presence>');
        await first.stop();
        const again = await startYak({ spool, tweak: plain });
        try {
          const b = await login(again, 'stopped1', 'Other');
          assertXml(
            await b.request("<iq type='get' id='s1' to='stopped1@localhost'><query xmlns='jabber:iq:last'/></iq>"),
            "<iq type='result' id='s1' to='stopped1@localhost/Other' from='stopped1@localhost'><query xmlns='jabber:iq:last' seconds='*'>JSM shutdown</query></iq>",
          );
          await b.close();
        } finally {
          await again.stop();
        }
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
    });

    test("a dropped connection records 1.4's reason, not the status of the last presence", async () => {
      const a = await onlineUser(yak, 'last4');
      try {
        await a.presence('<presence><show>xa</show><status>Working</status></presence>');
        const ended = sessionEnded(yak, a.full);
        await a.drop();
        await ended;
        const again = await login(yak, 'last4', 'Other');
        try {
          assertXml(
            await again.request("<iq type='get' id='l4' to='last4@localhost'><query xmlns='jabber:iq:last'/></iq>"),
            "<iq type='result' id='l4' to='last4@localhost/Other' from='last4@localhost'><query xmlns='jabber:iq:last' seconds='*'>Disconnected</query></iq>",
          );
          // A goodbye without a status leaves none (1.4 stored its empty status).
          await again.presence();
          const ended2 = sessionEnded(yak, again.full);
          again.send("<presence type='unavailable'/>");
          await again.close();
          await ended2;
          const third = await login(yak, 'last4', 'Third');
          try {
            assertXml(
              await third.request("<iq type='get' id='l4b' to='last4@localhost'><query xmlns='jabber:iq:last'/></iq>"),
              "<iq type='result' id='l4b' to='last4@localhost/Third' from='last4@localhost'><query xmlns='jabber:iq:last' seconds='*'/></iq>",
            );
          } finally {
            await third.close();
          }
        } finally {
          await again.close();
        }
      } finally {
        await a.close();
      }
    });

    test('a session that stayed invisible, or sent no presence, leaves the last logout as it was', async () => {
      const a = await newUser(yak, 'last7');
      try {
        const registered = (await spoolRecords(yak, 'last7'))!.get('jabber:iq:last')!.toString();
        // Invisible all along: contacts polling jabber:iq:last must not learn it was online.
        const ended = sessionEnded(yak, a.full);
        await a.presence("<presence type='invisible'/>");
        await a.close();
        await ended;
        // No presence at all (a script that sends one message and goes).
        const script = await login(yak, 'last7', 'Script');
        const scriptEnded = sessionEnded(yak, script.full);
        await script.close();
        await scriptEnded;
        assert.equal((await spoolRecords(yak, 'last7'))!.get('jabber:iq:last')!.toString(), registered);
      } finally {
        await a.close();
      }
    });

    test('a session that went invisible after being seen leaves the last logout as it was: its end would tell when it secretly left', async () => {
      const a = await newUser(yak, 'last12');
      try {
        const registered = (await spoolRecords(yak, 'last12'))!.get('jabber:iq:last')!.toString();
        await a.presence();
        await a.presence("<presence type='invisible'/>");
        const ended = sessionEnded(yak, a.full);
        await a.close();
        await ended;
        assert.equal((await spoolRecords(yak, 'last12'))!.get('jabber:iq:last')!.toString(), registered);
      } finally {
        await a.close();
      }
    });

    test('before any logout: Registered; the host answers with its uptime', async () => {
      const a = await newUser(yak, 'last5');
      try {
        assertXml(
          await a.request("<iq type='get' id='l5' to='last5@localhost'><query xmlns='jabber:iq:last'/></iq>"),
          "<iq type='result' id='l5' to='last5@localhost/Work' from='last5@localhost'><query xmlns='jabber:iq:last' seconds='*'>Registered</query></iq>",
        );
        const up = await a.request("<iq type='get' id='l6' to='localhost'><query xmlns='jabber:iq:last'/></iq>");
        assertXml(up, "<iq type='result' id='l6' to='last5@localhost/Work' from='localhost'><query xmlns='jabber:iq:last' seconds='*'/></iq>");
        assert.match(up.getChild('query')!.attrs.seconds!, /^\d+$/);
      } finally {
        await a.close();
      }
    });

    test("the host's uptime is counted on a clock that only moves forward: a wall clock stepped back or forward changes nothing", async () => {
      const a = await newUser(yak, 'last13');
      const uptime = async (): Promise<number> =>
        Number((await a.request("<iq type='get' id='up' to='localhost'><query xmlns='jabber:iq:last'/></iq>")).getChild('query')!.attrs.seconds);
      try {
        const before = await uptime();
        for (const step of [-7_200_000, 10_800_000]) {
          const restore = stepWallClock(step);
          try {
            const now = await uptime();
            // The server has run for as long as this test file, give or take the seconds it took.
            assert.ok(now >= before && now <= before + 60, `${step}: ${now} against ${before}`);
          } finally {
            restore();
          }
        }
      } finally {
        await a.close();
      }
    });

    test('an account with no last record: an empty result, as 1.4 sent it; still only for the trusted', async () => {
      // Accounts made by jabberctl adduser, or 1.4 spools, may have no
      // jabber:iq:last record: 1.4's mod_last_reply then sent the bare
      // result (no <query>), not an error.
      const a = await newUser(yak, 'last8');
      const stranger = await newUser(yak, 'last9');
      try {
        await yak.server.xdb.set(yak.host, 'last8', { [NS_LAST]: null });
        assertXml(
          await a.request("<iq type='get' id='l7' to='last8@localhost'><query xmlns='jabber:iq:last'/></iq>"),
          "<iq type='result' id='l7' to='last8@localhost/Work' from='last8@localhost'/>",
        );
        assertXml(
          await stranger.request("<iq type='get' id='l8' to='last8@localhost'><query xmlns='jabber:iq:last'/></iq>"),
          "<iq type='error' id='l8' to='last9@localhost/Work' from='last8@localhost'><query xmlns='jabber:iq:last'/>" +
            "<error code='403' type='auth'>Forbidden</error></iq>",
        );
      } finally {
        await closeAll(a, stranger);
      }
    });

    test("a stored time that is no whole number of seconds (blank, spaces, 'abc', negative, a fraction, hex) is an empty result, not a logout in 1970", async () => {
      // A hand-edited or damaged spool: Number('') is 0, which would
      // answer that the user left some 56 years ago.
      const a = await newUser(yak, 'last10');
      try {
        for (const [i, stored] of ['', ' ', 'abc', '-5', '1700000000.5', '0x6553F100', '99999999999999999999'].entries()) {
          await yak.server.jsm.xdb.set(yak.host, 'last10', {
            [NS_LAST]: xml(`<query xmlns='jabber:iq:last' last='${stored}'>Gone</query>`),
          });
          assertXml(
            await a.request(`<iq type='get' id='b${i}' to='last10@localhost'><query xmlns='jabber:iq:last'/></iq>`),
            `<iq type='result' id='b${i}' to='last10@localhost/Work' from='last10@localhost'/>`,
          );
        }
      } finally {
        await a.close();
      }
    });

    test('a stored time in the future (a clock set back since) answers 0 seconds, never a negative count', async () => {
      const a = await newUser(yak, 'last11');
      try {
        const later = Math.floor(Date.now() / 1000) + 3600;
        await yak.server.jsm.xdb.set(yak.host, 'last11', {
          [NS_LAST]: xml(`<query xmlns='jabber:iq:last' last='${later}'>Gone</query>`),
        });
        assertXml(
          await a.request("<iq type='get' id='f1' to='last11@localhost'><query xmlns='jabber:iq:last'/></iq>"),
          "<iq type='result' id='f1' to='last11@localhost/Work' from='last11@localhost'><query xmlns='jabber:iq:last' seconds='0'>Gone</query></iq>",
        );
      } finally {
        await a.close();
      }
    });
  });

  test('mod_time: utc stamp, zone, display', async () => {
    const a = await newUser(yak, 'time1');
    try {
      const reply = await a.request("<iq type='get' id='t1' to='localhost'><query xmlns='jabber:iq:time'/></iq>");
      assertXml(
        reply,
        "<iq type='result' id='t1' to='time1@localhost/Work' from='localhost'><query xmlns='jabber:iq:time'>" +
          '<utc>*</utc><tz>UTC</tz><display>*</display></query></iq>',
      );
      assert.match(reply.getChild('query')!.getChildText('utc')!, STAMP);
      assert.ok(!Number.isNaN(Date.parse(reply.getChild('query')!.getChildText('display')!)));
      // 1.4's mod_time bounced anything but a get with 405 (TERROR_NOTALLOWED), and never answered a result.
      assertXml(
        await a.request("<iq type='set' id='t2' to='localhost'><query xmlns='jabber:iq:time'><tz>CET</tz></query></iq>"),
        "<iq type='error' id='t2' to='time1@localhost/Work' from='localhost'><query xmlns='jabber:iq:time'><tz>CET</tz></query>" +
          "<error code='405' type='cancel'>Not Allowed</error></iq>",
      );
      a.send("<iq type='result' id='t3' to='localhost'><query xmlns='jabber:iq:time'/></iq>");
      await a.nothing();
    } finally {
      await a.close();
    }
  });

  test('mod_time: a request to a resource of the host is not the server time to answer', async () => {
    const a = await newUser(yak, 'time2');
    try {
      assertXml(
        await a.request("<iq type='get' id='t4' to='localhost/foo'><query xmlns='jabber:iq:time'/></iq>"),
        "<iq type='error' id='t4' to='time2@localhost/Work' from='localhost/foo'><query xmlns='jabber:iq:time'/>" +
          "<error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
    } finally {
      await a.close();
    }
  });

  test('mod_version: name, version, os', async () => {
    const a = await newUser(yak, 'ver1');
    try {
      const reply = await a.request("<iq type='get' id='ver' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
      assertXml(
        reply,
        "<iq type='result' id='ver' to='ver1@localhost/Work' from='localhost'><query xmlns='jabber:iq:version'>" +
          `<name>Yak</name><version>${YAK_VERSION}</version><os>*</os></query></iq>`,
      );
      assert.notEqual(reply.getChild('query')!.getChildText('os'), '');
      // 1.4's mod_version bounced anything but a get with 405 (TERROR_NOTALLOWED), and never answered a result.
      assertXml(
        await a.request("<iq type='set' id='ver2' to='localhost'><query xmlns='jabber:iq:version'><name>Evil</name></query></iq>"),
        "<iq type='error' id='ver2' to='ver1@localhost/Work' from='localhost'><query xmlns='jabber:iq:version'><name>Evil</name></query>" +
          "<error code='405' type='cancel'>Not Allowed</error></iq>",
      );
      a.send("<iq type='result' id='ver3' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
      await a.nothing();
    } finally {
      await a.close();
    }
  });

  describe('mod_browse', () => {
    test('the host: the server, the configured services, what it speaks', async () => {
      const a = await newUser(yak, 'br1');
      try {
        const namespaces = [
          'jabber:iq:auth',
          'jabber:iq:register',
          'jabber:iq:browse',
          'jabber:iq:agents',
          'jabber:iq:time',
          'jabber:iq:version',
          'jabber:iq:last',
          'vcard-temp',
        ];
        assertXml(
          await a.request("<iq type='get' id='b1' to='localhost'><query xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='result' id='b1' to='br1@localhost/Work' from='localhost'>" +
            "<service xmlns='jabber:iq:browse' jid='localhost' name='Yak Jabber Server' type='jabber'>" +
            "<service type='jud' jid='users.example.org' name='User Directory'><ns>jabber:iq:search</ns><ns>jabber:iq:register</ns></service>" +
            "<conference type='public' jid='conference.example.org' name='Chat Rooms'><ns>constructor</ns></conference>" +
            namespaces.map((n) => `<ns>${n}</ns>`).join('') +
            '</service></iq>',
        );
      } finally {
        await a.close();
      }
    });

    test('a user: the bare JID and the name given at registration', async () => {
      await registerUser(yak, 'br2', PASSWORD, { name: 'Bro Wser', email: 'b@example.org' });
      const a = await newUser(yak, 'br3');
      try {
        assertXml(
          await a.request("<iq type='get' id='b2' to='br2@localhost'><query xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='result' id='b2' to='br3@localhost/Work' from='br2@localhost'><user xmlns='jabber:iq:browse' jid='br2@localhost' name='Bro Wser'/></iq>",
        );
        assertXml(
          await a.request("<iq type='get' id='b3' to='br3@localhost'><query xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='result' id='b3' to='br3@localhost/Work' from='br3@localhost'><user xmlns='jabber:iq:browse' jid='br3@localhost'>" +
            "<user type='client' jid='br3@localhost/Work'/></user></iq>",
        );
        assertXml(
          await a.request("<iq type='get' id='b4' to='nobody@localhost'><query xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='error' id='b4' to='br3@localhost/Work' from='nobody@localhost'><query xmlns='jabber:iq:browse'/>" +
            "<error code='404' type='cancel'>Not Found</error></iq>",
        );
      } finally {
        await a.close();
      }
    });

    test("a user's connected resources for the user and its contacts, as 1.4's mod_browse_reply; a set to another user 405", async () => {
      const home = await onlineUser(yak, 'br6', 'Home');
      const work = await login(yak, 'br6', 'Work');
      const pal = await onlineUser(yak, 'br7');
      const stranger = await onlineUser(yak, 'br8');
      try {
        await subscribeBoth(home, pal);
        await work.presence();
        const ask = (c: Client, id: string, type = 'get', to = 'br6@localhost'): Promise<Element> =>
          c.request(`<iq type='${type}' id='${id}' to='${to}'><query xmlns='jabber:iq:browse'/></iq>`);
        const both = "<user type='client' jid='br6@localhost/Work'/><user type='client' jid='br6@localhost/Home'/>";
        // Newest first, as 1.4's session list.
        assertXml(
          await ask(pal, 'r1'),
          `<iq type='result' id='r1' to='br7@localhost/Work' from='br6@localhost'><user xmlns='jabber:iq:browse' jid='br6@localhost'>${both}</user></iq>`,
        );
        assertXml(
          await ask(stranger, 'r2'),
          "<iq type='result' id='r2' to='br8@localhost/Work' from='br6@localhost'><user xmlns='jabber:iq:browse' jid='br6@localhost'/></iq>",
        );
        // An invisible session is shown to the user only, never to a contact.
        await work.presence("<presence type='invisible'/>");
        assertXml(
          await ask(pal, 'r3'),
          "<iq type='result' id='r3' to='br7@localhost/Work' from='br6@localhost'><user xmlns='jabber:iq:browse' jid='br6@localhost'>" +
            "<user type='client' jid='br6@localhost/Home'/></user></iq>",
        );
        assertXml(
          await ask(home, 'r4'),
          `<iq type='result' id='r4' to='br6@localhost/Home' from='br6@localhost'><user xmlns='jabber:iq:browse' jid='br6@localhost'>${both}</user></iq>`,
        );
        // A set to someone else's browse: 405, as 1.4 (bare JID or a resource not connected).
        for (const to of ['br6@localhost', 'br6@localhost/Gone']) {
          assertXml(
            await ask(pal, 's1', 'set', to),
            `<iq type='error' id='s1' to='br7@localhost/Work' from='${to}'><query xmlns='jabber:iq:browse'/>` +
              "<error code='405' type='cancel'>Not Allowed</error></iq>",
          );
        }
        // The owner's own set: 1.4 stored browse items; Yak does not.
        assertXml(
          await ask(home, 's2', 'set'),
          "<iq type='error' id='s2' to='br6@localhost/Home' from='br6@localhost'><query xmlns='jabber:iq:browse'/>" +
            "<error code='503' type='cancel'>Service Unavailable</error></iq>",
        );
      } finally {
        await closeAll(home, work, pal, stranger);
      }
    });

    test('a request in any element of the namespace, as Net::Jabber sends it: <item xmlns=jabber:iq:browse/>', async () => {
      // 1.4 took the iq's first namespaced child whatever its name
      // (NSCHECK on jpacket's iq); Net::Jabber's BrowseRequest names it <item>.
      await registerUser(yak, 'br4', PASSWORD, { name: 'Item Asker', email: 'i@example.org' });
      const a = await newUser(yak, 'br5');
      try {
        const server = await a.request("<iq type='get' id='b5' to='localhost'><item xmlns='jabber:iq:browse'/></iq>");
        assert.equal(server.attrs.type, 'result', server.toString());
        assert.equal(server.getChild('service', 'jabber:iq:browse')?.attrs.jid, 'localhost', server.toString());
        assertXml(
          await a.request("<iq type='get' id='b6' to='br4@localhost'><item xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='result' id='b6' to='br5@localhost/Work' from='br4@localhost'><user xmlns='jabber:iq:browse' jid='br4@localhost' name='Item Asker'/></iq>",
        );
      } finally {
        await a.close();
      }
    });
  });

  test('mod_agents: the <browse> services as agents, and the server itself', async () => {
    const a = await newUser(yak, 'ag1');
    try {
      assertXml(
        await a.request("<iq type='get' id='a1' to='localhost'><query xmlns='jabber:iq:agents'/></iq>"),
        "<iq type='result' id='a1' to='ag1@localhost/Work' from='localhost'><query xmlns='jabber:iq:agents'>" +
          "<agent jid='users.example.org'><name>User Directory</name><service>jud</service><search/><register/></agent>" +
          "<agent jid='conference.example.org'><name>Chat Rooms</name><service>public</service><groupchat/></agent>" +
          '</query></iq>',
      );
      assertXml(
        await a.request("<iq type='get' id='a2' to='localhost'><query xmlns='jabber:iq:agent'/></iq>"),
        "<iq type='result' id='a2' to='ag1@localhost/Work' from='localhost'><query xmlns='jabber:iq:agent'>" +
          '<name>Yak Jabber Server</name><url>http://localhost/</url><service>jabber</service><register/></query></iq>',
      );
    } finally {
      await a.close();
    }
  });

  test('mod_agents: a get with no to, or to your own bare JID, is the server list from the host (1.4)', async () => {
    // 1.4's mod_agents also sat on each session's out chain and answered
    // to=NULL ("supid null to workaround"); js_session_from made a `to` of
    // yourself@yourhost NULL. Agents-era clients asked that way.
    const a = await newUser(yak, 'ag2');
    try {
      const list =
        "<query xmlns='jabber:iq:agents'>" +
        "<agent jid='users.example.org'><name>User Directory</name><service>jud</service><search/><register/></agent>" +
        "<agent jid='conference.example.org'><name>Chat Rooms</name><service>public</service><groupchat/></agent>" +
        '</query>';
      assertXml(
        await a.request("<iq type='get' id='n1'><query xmlns='jabber:iq:agents'/></iq>"),
        `<iq type='result' id='n1' to='ag2@localhost/Work' from='localhost'>${list}</iq>`,
      );
      assertXml(
        await a.request("<iq type='get' id='n2' to='AG2@localhost'><query xmlns='jabber:iq:agents'/></iq>"),
        `<iq type='result' id='n2' to='ag2@localhost/Work' from='localhost'>${list}</iq>`,
      );
      assertXml(
        await a.request("<iq type='get' id='n3'><query xmlns='jabber:iq:agent'/></iq>"),
        "<iq type='result' id='n3' to='ag2@localhost/Work' from='localhost'><query xmlns='jabber:iq:agent'>" +
          '<name>Yak Jabber Server</name><url>http://localhost/</url><service>jabber</service><register/></query></iq>',
      );
      // Someone else's bare JID is no self-flag: nobody there answers for the server.
      await offlineUser(yak, 'ag3');
      assertXml(
        await a.request("<iq type='get' id='n4' to='ag3@localhost'><query xmlns='jabber:iq:agents'/></iq>"),
        "<iq type='error' id='n4' to='ag2@localhost/Work' from='ag3@localhost'><query xmlns='jabber:iq:agents'/>" +
          "<error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
    } finally {
      await a.close();
    }
  });

  test('mod_agents: only a get is answered with the list; a set with no to is not', async () => {
    const a = await newUser(yak, 'ag5');
    try {
      assertXml(
        await a.request("<iq type='set' id='s1'><query xmlns='jabber:iq:agents'/></iq>"),
        "<iq type='error' id='s1' to='ag5@localhost/Work' from='ag5@localhost'><query xmlns='jabber:iq:agents'/>" +
          "<error code='503' type='cancel'>Service Unavailable</error></iq>",
      );
    } finally {
      await a.close();
    }
  });

  test('mod_agents: a gateway service is flagged <transport>Enter ID</transport>, as 1.4 flagged it', async () => {
    const gw = await startYak({
      tweak: (c) => {
        plain(c);
        c.jsm.browse = [xml("<service type='icq' jid='icq.example.org' name='ICQ Transport'><ns>jabber:iq:gateway</ns><ns>jabber:iq:register</ns></service>")];
      },
    });
    try {
      const a = await newUser(gw, 'ag4');
      assertXml(
        await a.request("<iq type='get' id='g1' to='localhost'><query xmlns='jabber:iq:agents'/></iq>"),
        "<iq type='result' id='g1' to='ag4@localhost/Work' from='localhost'><query xmlns='jabber:iq:agents'>" +
          "<agent jid='icq.example.org'><name>ICQ Transport</name><service>icq</service><transport>Enter ID</transport><register/></agent>" +
          '</query></iq>',
      );
      await a.close();
    } finally {
      await gw.stop();
    }
  });

  describe('mod_xml (jabber:iq:private)', () => {
    test('round trip, kept per namespace and flagged on disk', async () => {
      const a = await newUser(yak, 'priv1');
      try {
        const prefs = "<prefs xmlns='yak:test:prefs'><color>blue</color><size>12</size></prefs>";
        assertXml(
          await a.request(`<iq type='set' id='p1'><query xmlns='jabber:iq:private'>${prefs}</query></iq>`),
          "<iq type='result' id='p1' to='priv1@localhost/Work' from='priv1@localhost'/>",
        );
        assertXml(
          await a.request("<iq type='get' id='p2'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'/></query></iq>"),
          `<iq type='result' id='p2' to='priv1@localhost/Work' from='priv1@localhost'><query xmlns='jabber:iq:private'>${prefs}</query></iq>`,
        );
        // Nothing stored under a namespace: the empty element comes back.
        assertXml(
          await a.request("<iq type='get' id='p3'><query xmlns='jabber:iq:private'><notes xmlns='yak:test:notes'/></query></iq>"),
          "<iq type='result' id='p3' to='priv1@localhost/Work' from='priv1@localhost'><query xmlns='jabber:iq:private'><notes xmlns='yak:test:notes'/></query></iq>",
        );
        // A second set replaces.
        await a.request("<iq type='set'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'><color>red</color></prefs></query></iq>");
        assertXml(
          (await a.request("<iq type='get'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'/></query></iq>")).getChild('query')!,
          "<query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'><color>red</color></prefs></query>",
        );
        assertXml(
          (await spoolRecords(yak, 'priv1'))!.get('yak:test:prefs')!,
          "<prefs xmlns='yak:test:prefs' j_private_flag='1'><color>red</color></prefs>",
        );
        // A namespace asked for more than once comes back once: a request cannot multiply what is stored into a reply of any size.
        const again = "<prefs xmlns='yak:test:prefs'/>".repeat(50);
        assertXml(
          (await a.request(`<iq type='get'><query xmlns='jabber:iq:private'>${again}<notes xmlns='yak:test:notes'/><notes xmlns='yak:test:notes'/></query></iq>`)).getChild('query')!,
          "<query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'><color>red</color></prefs><notes xmlns='yak:test:notes'/></query>",
        );
        // Namespaces are the user's to name: one that is also a name JavaScript objects reserve is kept like any other.
        const odd = "<a xmlns='__proto__'>one</a><b xmlns='constructor'>two</b>";
        await a.request(`<iq type='set'><query xmlns='jabber:iq:private'>${odd}</query></iq>`);
        assertXml(
          (await a.request("<iq type='get'><query xmlns='jabber:iq:private'><a xmlns='__proto__'/><b xmlns='constructor'/></query></iq>")).getChild('query')!,
          `<query xmlns='jabber:iq:private'>${odd}</query>`,
        );
      } finally {
        await a.close();
      }
    });

    test('private to its owner, and never over the server’s own records', async () => {
      const a = await newUser(yak, 'priv2');
      const b = await newUser(yak, 'priv3');
      try {
        await a.request("<iq type='set'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'><secret/></prefs></query></iq>");
        assertXml(
          await b.request("<iq type='get' id='p4' to='priv2@localhost'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'/></query></iq>"),
          "<iq type='error' id='p4' to='priv3@localhost/Work' from='priv2@localhost'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'/></query>" +
            "<error code='403' type='auth'>Forbidden</error></iq>",
        );
        for (const ns of ['jabber:iq:roster', 'jabber:iq:auth', 'vcard-temp']) {
          assertXml(
            await a.request(`<iq type='set' id='r'><query xmlns='jabber:iq:private'><query xmlns='${ns}'><x/></query></query></iq>`),
            `<iq type='error' id='r' to='priv2@localhost/Work' from='priv2@localhost'><query xmlns='jabber:iq:private'><query xmlns='${ns}'><x/></query></query>` +
              "<error code='406' type='modify'>Not Acceptable</error></iq>",
          );
        }
        // The password record is untouched: the user still logs in.
        await (await login(yak, 'priv2', 'Again')).close();
      } finally {
        await closeAll(a, b);
      }
    });

    test('a record the user did not store (no j_private_flag, as in a 1.4 spool) is never returned: the empty element comes back', async () => {
      const a = await newUser(yak, 'privflag');
      try {
        await yak.server.jsm.xdb.set(yak.host, 'privflag', { 'foo:bar': xml("<bar xmlns='foo:bar'>server secret</bar>") });
        assertXml(
          await a.request("<iq type='get' id='u1'><query xmlns='jabber:iq:private'><bar xmlns='foo:bar'/></query></iq>"),
          "<iq type='result' id='u1' to='privflag@localhost/Work' from='privflag@localhost'><query xmlns='jabber:iq:private'><bar xmlns='foo:bar'/></query></iq>",
        );
      } finally {
        await a.close();
      }
    });

    test('an empty query (no namespace named) is refused with 406, get or set', async () => {
      const a = await newUser(yak, 'privempty');
      try {
        for (const type of ['get', 'set']) {
          assertXml(
            await a.request(`<iq type='${type}' id='e'><query xmlns='jabber:iq:private'/></iq>`),
            "<iq type='error' id='e' to='privempty@localhost/Work' from='privempty@localhost'><query xmlns='jabber:iq:private'/>" +
              "<error code='406' type='modify'>Not Acceptable</error></iq>",
          );
        }
      } finally {
        await a.close();
      }
    });

    test("a set that would take the user's file over <maxfilesize> is refused with 500 Account Storage Full; the session goes on", async () => {
      const cap = 8192;
      const small = await startYak({
        tweak: (c) => {
          plain(c);
          c.maxFileBytes = cap;
        },
      });
      const a = await newUser(small, 'privcap');
      try {
        const record = (ns: string, chars: number): string => `<notes xmlns='${ns}'>${'n'.repeat(chars)}</notes>`;
        const set = (id: string, inner: string): string => `<iq type='set' id='${id}'><query xmlns='jabber:iq:private'>${inner}</query></iq>`;
        assertXml(await a.request(set('f1', record('yak:test:one', 5000))), "<iq type='result' id='f1' to='privcap@localhost/Work' from='privcap@localhost'/>");
        assertXml(
          await a.request(set('f2', record('yak:test:two', 5000))),
          `<iq type='error' id='f2' to='privcap@localhost/Work' from='privcap@localhost'><query xmlns='jabber:iq:private'>${record('yak:test:two', 5000)}</query>` +
            "<error code='500' type='wait'>Account Storage Full</error></iq>",
        );
        // Nothing of it was stored, on disk or in memory.
        const records = (await spoolRecords(small, 'privcap'))!;
        assert.equal(records.has('yak:test:two'), false);
        assert.ok(records.has('yak:test:one'));
        assert.equal((await stat(path.join(small.spool, hostDirName('localhost'), userFileName('privcap')))).size <= cap, true);
        assertXml(
          (await a.request("<iq type='get'><query xmlns='jabber:iq:private'><notes xmlns='yak:test:two'/></query></iq>")).getChild('query')!,
          "<query xmlns='jabber:iq:private'><notes xmlns='yak:test:two'/></query>",
        );
        // A vCard that does not fit either: the same error.
        const vcard = await a.request(`<iq type='set' id='v1'><vCard xmlns='vcard-temp'><DESC>${'d'.repeat(5000)}</DESC></vCard></iq>`);
        assert.equal(vcard.attrs.type, 'error', vcard.toString());
        assertXml(vcard.getChild('error')!, "<error code='500' type='wait'>Account Storage Full</error>");
        // Making room (a smaller record in place of the large one) lets the second in.
        assertXml(await a.request(set('f3', record('yak:test:one', 10))), "<iq type='result' id='f3' to='privcap@localhost/Work' from='privcap@localhost'/>");
        assertXml(await a.request(set('f4', record('yak:test:two', 5000))), "<iq type='result' id='f4' to='privcap@localhost/Work' from='privcap@localhost'/>");
        await a.sync();
      } finally {
        await a.close();
        await small.stop();
      }
    });

    test('a get of two namespaces sees one set of both or the other, never half of each', async () => {
      const a = await newUser(yak, 'privtorn', 'A');
      const b = await login(yak, 'privtorn', 'B');
      const set = (v: string): string =>
        `<iq type='set' id='s${v}'><query xmlns='jabber:iq:private'><a xmlns='yak:test:one'>${v}</a><b xmlns='yak:test:two'>${v}</b></query></iq>`;
      const xdb = yak.server.xdb as Xdb;
      // The get's read waits (the second namespace's, were they read one by one).
      const one = holdCalls(xdb, 'get', (_host, user, ns) => user === 'privtorn' && ns === 'yak:test:two');
      const all = holdCalls(xdb, 'getSome', (_host, user) => user === 'privtorn');
      try {
        assert.equal((await a.request(set('1'))).attrs.type, 'result');
        const reply = a.request("<iq type='get' id='g'><query xmlns='jabber:iq:private'><a xmlns='yak:test:one'/><b xmlns='yak:test:two'/></query></iq>");
        await Promise.race([one.reached, all.reached]);
        assert.equal((await b.request(set('2'))).attrs.type, 'result');
        one.release();
        all.release();
        const got = (await reply).getChild('query', 'jabber:iq:private')!.elements.map((e) => e.text());
        assert.ok(got[0] === got[1], `a torn read: ${got.join(' and ')}`);
      } finally {
        one.restore();
        all.restore();
        await closeAll(a, b);
      }
    });
  });

  test('mod_admin: with no admin account, a message to the bare host bounces 503, as with no admin at all', async () => {
    // The bundled config names admin@localhost and support@localhost, who have no account here.
    const a = await newUser(yak, 'noadm1');
    try {
      a.send("<message to='localhost' id='h1'><body>hello</body></message>");
      assertXml(
        await a.next(isMessage),
        "<message to='noadm1@localhost/Work' from='localhost' id='h1' type='error'><body>hello</body>" +
          "<error code='503' type='cancel'>Service Unavailable</error></message>",
      );
    } finally {
      await a.close();
    }
  });

  test('mod_echo: host/echo (in any case, and any resource starting so, as 1.4) sends a message straight back; errors are not echoed', async () => {
    const a = await newUser(yak, 'echo1');
    try {
      a.send("<message to='localhost/echo' id='e1' type='chat'><body>ping</body></message>");
      assertXml(await a.next(isMessage), "<message to='echo1@localhost/Work' from='localhost/echo' id='e1' type='chat'><body>ping</body></message>");
      for (const resource of ['Echo', 'ECHO', 'echo2', 'Echoes', 'echo/test']) {
        a.send(`<message to='localhost/${resource}' id='e-${resource}'><body>ping</body></message>`);
        assertXml(await a.next(isMessage), `<message to='echo1@localhost/Work' from='localhost/${resource}' id='e-${resource}'><body>ping</body></message>`);
      }
      a.send("<message to='localhost/echo' id='e2' type='error'><body>x</body></message>");
      await a.nothing(isMessage, [], 'an error was echoed');
    } finally {
      await a.close();
    }
  });
});

describe('administration: announce, admin, welcome, registration notices', () => {
  let yak: TestYak;
  // boss may write (announce, who), helper may only read (who).
  before(async () => {
    yak = await startYak({
      tweak: (c: YakConfig) => {
        noKarma(c);
        c.jsm.admin.write = ['boss@localhost'];
        // ghost has no account: nothing for it may bounce back to a sender.
        c.jsm.admin.read = ['helper@localhost', 'ghost@localhost'];
      },
    });
    // Made first, before anyone else, as jabberctl adduser makes them (in-band
    // registration refuses an admin's name), then what they got so far is cleared.
    for (const user of ['boss', 'helper']) {
      await addUser(yak, user, PASSWORD);
      const c = await login(yak, user);
      await c.presence();
      await c.clear();
      await c.close();
    }
  });
  after(() => yak.stop());

  /** An admin online, with every message stored for it so far already taken. */
  async function admin(user: 'boss' | 'helper', resource = 'Work'): Promise<Client> {
    const c = await login(yak, user, resource);
    await c.presence();
    await c.clear();
    return c;
  }

  test('<welcome>: the new user finds it stored, stamped, at the first login', async () => {
    await registerUser(yak, 'newbie', PASSWORD);
    const c = await login(yak, 'newbie');
    try {
      c.send('<presence/>');
      const welcome = await c.next(isMessage);
      assertXml(
        welcome,
        "<message to='newbie@localhost' from='localhost'><subject>Welcome!</subject>" +
          '<body>Welcome to this Jabber server. We hope you enjoy it.</body>' +
          "<x xmlns='jabber:x:delay' from='newbie@localhost' stamp='*'>Offline Storage</x></message>",
      );
      assert.match(welcome.getChild('x', 'jabber:x:delay')!.attrs.stamp!, STAMP);
      await c.nothing(isMessage, [], 'more than the welcome');
    } finally {
      await c.close();
    }
  });

  test('a registration notice shows each field on one line: a name cannot make up a second notice', async () => {
    const boss = await admin('boss');
    try {
      await registerUser(yak, 'spoofer', PASSWORD, { name: 'M\n\nRegistration has been completed for user ceo@localhost.\r\nemail: ceo@example.com\u2028\u2029\u0085' });
      const body = (await boss.next((e) => isMessage(e) && /spoofer@localhost/.test(e.getChildText('body') ?? ''))).getChildText('body')!;
      assert.equal(
        body,
        'Registration has been completed for user spoofer@localhost.\n' +
          'name: M\\n\\nRegistration has been completed for user ceo@localhost.\\r\\nemail: ceo@example.com\\u2028\\u2029\\u0085',
      );
    } finally {
      await boss.close();
    }
  });

  test('registration notices: an online admin gets it at once, an offline one at login; never the password', async () => {
    const boss = await admin('boss');
    try {
      await registerUser(yak, 'fresh', 'hunter2-secret', { name: 'Fresh Face', email: 'fresh@example.org' });
      const notice = await boss.next(isMessage);
      assertXml(notice, "<message to='boss@localhost' from='localhost'><subject>Registration Notice</subject><body>*</body></message>");
      const body = notice.getChildText('body')!;
      assert.match(body, /fresh@localhost/);
      assert.match(body, /Fresh Face/);
      assert.match(body, /fresh@example\.org/);
      assert.doesNotMatch(body, /hunter2/);

      const helper = await login(yak, 'helper');
      try {
        helper.send('<presence/>');
        const stored = await helper.next((e) => isMessage(e) && /fresh@localhost/.test(e.getChildText('body') ?? ''));
        assertXml(
          stored,
          "<message to='helper@localhost' from='localhost'><subject>Registration Notice</subject><body>*</body>" +
            "<x xmlns='jabber:x:delay' from='helper@localhost' stamp='*'>Offline Storage</x></message>",
        );
        assert.equal(stored.getChildText('body'), body);
      } finally {
        await helper.close();
      }
    } finally {
      await boss.close();
    }
  });

  describe('mod_announce', () => {
    test('announce/online reaches every available session with priority >= 0; refused to non-admins', async () => {
      const boss = await admin('boss');
      const u1 = await onlineUser(yak, 'ann1');
      const u2 = await onlineUser(yak, 'ann2');
      const quiet = await newUser(yak, 'ann3');
      // A negative priority asks for no messages: 1.4 skipped such sessions.
      const away = await newUser(yak, 'ann4');
      try {
        await away.presence('<presence><priority>-1</priority></presence>');
        await u1.clear();
        await u2.clear();
        // Passed on whole, as 1.4 did: its language and other attributes are part of what was said.
        boss.send("<message to='localhost/announce/online' id='a1' xml:lang='de' xmlns:x='urn:x' x:a='1'><subject>Note</subject><body>Maintenance at five</body></message>");
        for (const c of [boss, u1, u2]) {
          assertXml(
            // (Admins also get registration notices meanwhile.) News of the moment: no delay stamp.
            await c.next((e) => isMessage(e) && e.getChildText('subject') !== 'Registration Notice'),
            `<message id='a1' xml:lang='de' xmlns:x='urn:x' x:a='1' from='localhost' to='${c.full}'><subject>Note</subject><body>Maintenance at five</body></message>`,
          );
        }
        await quiet.nothing(isMessage, [boss], 'a session without presence got the announcement');
        const isNote = (e: Element): boolean => isMessage(e) && e.getChildText('subject') === 'Note';
        await away.nothing(isNote, [], 'a session with a negative priority got the announcement');
        // Nor does it get it later, when its priority rises (its welcome message does): it was news of the moment.
        await away.presence('<presence><priority>1</priority></presence>');
        await away.nothing(isNote, [], 'a missed announcement was sent later');

        // The resource is matched exactly, case included, as 1.4 did (strncmp; only echo was matched in any case).
        boss.send("<message to='localhost/announce/Online' id='a3'><body>shouting</body></message>");
        assertXml(
          await boss.next((e) => isMessage(e) && e.attrs.id === 'a3'),
          "<message to='boss@localhost/Work' from='localhost/announce/Online' id='a3' type='error'><body>shouting</body>" +
            "<error code='404' type='cancel'>Not Found</error></message>",
        );
        // Matched by its text: an announcement is sent as a new message, without the sender's id.
        await u1.nothing((e) => isMessage(e) && e.getChildText('body') === 'shouting', [boss], 'announce/Online was taken for announce/online');

        const helper = await admin('helper');
        try {
          for (const who of [u1, helper]) {
            who.send("<message to='localhost/announce/online' id='a2'><body>me too</body></message>");
            assertXml(
              await who.next((e) => isMessage(e) && e.attrs.id === 'a2'),
              `<message to='${who.full}' from='localhost/announce/online' id='a2' type='error'><body>me too</body>` +
                "<error code='405' type='cancel'>Not Allowed</error></message>",
            );
          }
          await u2.nothing(isMessage, [u1, helper], 'a refused announcement went out');
        } finally {
          await helper.close();
        }
      } finally {
        await closeAll(boss, u1, u2, quiet, away);
      }
    });

    test('an error message to announce/online, even from an admin, is dropped: it reaches nobody', async () => {
      const boss = await admin('boss');
      const u = await onlineUser(yak, 'ann5');
      try {
        await u.clear();
        boss.send("<message to='localhost/announce/online' id='x1' type='error'><body>bounced</body><error code='404'>Not Found</error></message>");
        await u.nothing(isMessage, [boss], 'an error message was announced');
        await boss.nothing((e) => isMessage(e) && e.getChildText('body') === 'bounced', [], 'an error message was announced or answered');
      } finally {
        await closeAll(boss, u);
      }
    });

    test('announce/motd: online now, and at each later login until deleted, stamped with when it was said', async () => {
      const boss = await admin('boss');
      const online = await onlineUser(yak, 'motd1');
      const negative = await newUser(yak, 'motd3');
      await registerUser(yak, 'motd2', PASSWORD);
      const isMotd = (e: Element): boolean => isMessage(e) && e.getChildText('subject') === 'MOTD';
      try {
        await negative.presence('<presence><priority>-5</priority></presence>');
        await online.clear();
        boss.send("<message to='LocalHost/announce/motd' xml:lang='en'><subject>MOTD</subject><body>Be nice</body></message>");
        // 1.4's jutil_delay(..., "Announced"): whoever reads it later sees when it was said, from the address it was sent to (prepared).
        const motd = "<subject>MOTD</subject><body>Be nice</body><x xmlns='jabber:x:delay' from='localhost/announce/motd' stamp='*'>Announced</x></message>";
        const live = await online.next(isMessage);
        assertXml(live, `<message xml:lang='en' to='motd1@localhost/Work' from='localhost'>${motd}`);
        const stamp = live.getChild('x', 'jabber:x:delay')!.attrs.stamp!;
        assert.match(stamp, STAMP);
        await boss.clear();
        // A negative priority takes no messages: it sees the motd once it takes them, and only once.
        await negative.nothing(isMotd, [boss], 'a session with a negative priority got the motd');
        negative.send('<presence><priority>0</priority></presence>');
        assertXml(await negative.next(isMotd), `<message xml:lang='en' to='motd3@localhost/Work' from='localhost'>${motd}`);
        await negative.presence('<presence><priority>-1</priority></presence>');
        await negative.presence('<presence><priority>2</priority></presence>');
        await negative.nothing(isMotd, [], 'the motd was shown twice in one session');
        // Nor again to a session that got it live.
        await online.presence('<presence><priority>-1</priority></presence>');
        await online.presence('<presence/>');
        await online.nothing(isMotd, [], 'the motd was shown again to a session that got it live');

        const later = await login(yak, 'motd2');
        try {
          // Not at a login with a negative priority; at the presence that makes it 0 or more.
          await later.presence('<presence><priority>-1</priority></presence>');
          await later.nothing(isMotd, [], 'a session with a negative priority got the motd at login');
          later.send('<presence/>');
          const stored = await later.next(isMotd);
          assertXml(stored, `<message xml:lang='en' to='motd2@localhost/Work' from='localhost'>${motd}`);
          assert.equal(stored.getChild('x', 'jabber:x:delay')!.attrs.stamp, stamp);
          // Once per session: unavailable and back does not show it again.
          await later.presence("<presence type='unavailable'/>");
          await later.presence('<presence/>');
          await later.nothing(isMotd, [], 'the motd was shown twice in one session');
        } finally {
          await later.close();
        }

        boss.send("<message to='localhost/announce/motd/delete'/>");
        await boss.sync();
        const after = await login(yak, 'motd2', 'Again');
        try {
          await after.presence();
          await after.nothing(isMessage, [], 'a deleted motd was shown');
        } finally {
          await after.close();
        }
      } finally {
        await closeAll(boss, online, negative);
      }
    });
  });

  describe('mod_admin', () => {
    test('who lists the online sessions for read and write admins; refused to others', async () => {
      const u = await onlineUser(yak, 'who1');
      const helper = await admin('helper');
      try {
        await u.presence('<presence><show>away</show><status>lunch</status></presence>');
        const reply = await helper.request("<iq type='get' id='w1' to='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>");
        // The envelope exactly; then the entries, since the server has other sessions too.
        const envelope = reply.clone();
        const who = reply.getChild('query')?.getChild('who');
        assert.ok(who, reply.toString());
        envelope.getChild('query')!.getChild('who')!.children = [];
        assertXml(envelope, "<iq type='result' id='w1' to='helper@localhost/Work' from='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>");
        const entry = who.elements.find((p) => p.attrs.from === 'who1@localhost/Work');
        assert.ok(entry, `who1 missing from ${who.toString()}`);
        // 1.4's figures: seconds up, stanzas sent to the client (from, 1.4's
        // c_in) and stanzas it sent (to, c_out): counted from the session's side.
        assertXml(entry, "<presence from='who1@localhost/Work'><show>away</show><status>lunch</status>" +
            "<x xmlns='jabber:x:delay' from='who1@localhost/Work' stamp='*'/><x xmlns='jabber:mod_admin:who' timer='*' from='*' to='*'/></presence>");
        const figures = (e: Element): number[] => ['timer', 'from', 'to'].map((a) => Number(e.getChild('x', 'jabber:mod_admin:who')!.attrs[a]));
        const [timer, got, sent] = figures(entry);
        assert.ok(timer === 0 || timer === 1, entry.toString());
        assert.ok(sent! >= 2 && got! >= 2, entry.toString());
        assert.ok(who.elements.some((p) => p.attrs.from === 'helper@localhost/Work'));
        assert.ok(who.elements.every((p) => p.name === 'presence'));

        // Each stanza counts once: one request and its reply, then three messages to the client.
        await u.request("<iq type='get' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
        for (const id of ['c1', 'c2', 'c3']) helper.send(`<message to='who1@localhost/Work' id='${id}'><body>hi</body></message>`);
        for (const id of ['c1', 'c2', 'c3']) await u.next((e) => isMessage(e) && e.attrs.id === id);
        const again = await helper.request("<iq type='get' to='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>");
        const later = again.getChild('query')!.getChild('who')!.elements.find((p) => p.attrs.from === 'who1@localhost/Work')!;
        assert.deepEqual(figures(later).slice(1), [got! + 4, sent! + 1], later.toString());

        // Anyone else: 1.4's 405.
        assertXml(
          await u.request("<iq type='get' id='w2' to='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>"),
          "<iq type='error' id='w2' to='who1@localhost/Work' from='localhost'><query xmlns='jabber:iq:admin'><who/></query>" +
            "<error code='405' type='cancel'>Not Allowed</error></iq>",
        );
      } finally {
        await closeAll(u, helper);
      }
    });

    test('a browse of HOST/admin lists the accounts online for admins, as 1.4 listed them; refused to others', async () => {
      const u = await onlineUser(yak, 'brw1');
      const shy = await newUser(yak, 'brw2');
      const boss = await admin('boss');
      try {
        // brw2's only session takes no bare-JID messages (negative priority): its name alone.
        await shy.presence('<presence><priority>-1</priority></presence>');
        const reply = await boss.request("<iq type='get' id='a1' to='localhost/admin'><query xmlns='jabber:iq:browse'/></iq>");
        const item = reply.getChild('item', 'jabber:iq:browse');
        assert.ok(item, reply.toString());
        const envelope = reply.clone();
        envelope.getChild('item')!.children = [];
        assertXml(
          envelope,
          "<iq type='result' id='a1' to='boss@localhost/Work' from='localhost/admin'>" +
            "<item xmlns='jabber:iq:browse' jid='localhost/admin' name='Online Users (seconds, sent, received)'/></iq>",
        );
        const userOf = (jid: string): Element | undefined => item.elements.find((e) => e.attrs.jid === jid);
        assert.match(userOf('brw1@localhost')?.attrs.name ?? '', /^brw1 \((0|1), [1-9]\d*, [1-9]\d*\)$/, item.toString());
        assertXml(userOf('brw2@localhost')!, "<user jid='brw2@localhost' name='brw2'/>");
        assert.ok(userOf('boss@localhost'), item.toString());
        assert.ok(item.elements.every((e) => e.name === 'user'));
        // The figures are the who figures of that session.
        const who = await boss.request("<iq type='get' to='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>");
        const x = who.getChild('query')!.getChild('who')!.elements.find((p) => p.attrs.from === 'brw1@localhost/Work')!.getChild('x', 'jabber:mod_admin:who')!;
        // Sent, then received, by the client: who's `to`, then its `from`.
        assert.match(userOf('brw1@localhost')!.attrs.name!, new RegExp(`^brw1 \\(\\d+, ${x.attrs.to}, ${x.attrs.from}\\)$`));

        assertXml(
          await u.request("<iq type='get' id='a2' to='localhost/admin'><query xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='error' id='a2' to='brw1@localhost/Work' from='localhost/admin'><query xmlns='jabber:iq:browse'/>" +
            "<error code='405' type='cancel'>Not Allowed</error></iq>",
        );
        // A set lists nobody, as 1.4 answered it.
        assertXml(
          await boss.request("<iq type='set' id='a3' to='localhost/admin'><query xmlns='jabber:iq:browse'/></iq>"),
          "<iq type='result' id='a3' to='boss@localhost/Work' from='localhost/admin'>" +
            "<item xmlns='jabber:iq:browse' jid='localhost/admin' name='Online Users (seconds, sent, received)'/></iq>",
        );
      } finally {
        await closeAll(u, shy, boss);
      }
    });

    test("the host's browse shows admins where the online users are, as 1.4's did; nobody else", async () => {
      const u = await newUser(yak, 'brw3');
      const helper = await admin('helper');
      try {
        const hostBrowse = "<iq type='get' id='h1' to='localhost'><query xmlns='jabber:iq:browse'/></iq>";
        const listed = (e: Element): string[] => e.getChild('service')!.elements.map((c) => (c.name === 'ns' ? `ns ${c.text()}` : `${c.name} ${c.attrs.jid} ${c.attrs.name}`));
        const forAdmin = listed(await helper.request(hostBrowse));
        assert.ok(forAdmin.includes('item localhost/admin Online Users'), forAdmin.join('\n'));
        assert.equal(forAdmin.at(-1), 'ns jabber:iq:admin', forAdmin.join('\n'));
        const forUser = listed(await u.request(hostBrowse));
        assert.deepEqual(forUser, forAdmin.filter((l) => !l.includes('admin')));
        assert.ok(forUser.length > 0);
      } finally {
        await closeAll(u, helper);
      }
    });

    test('jabber:iq:admin as 1.4 answered: who by namespace, a set lists nobody, <config/> and the rest 405, results unanswered', async () => {
      const u = await onlineUser(yak, 'who2');
      const helper = await admin('helper');
      const boss = await admin('boss');
      try {
        // Any element name in the namespace, as 1.4's NSCHECK.
        const any = await helper.request("<iq type='get' id='w3' to='localhost'><admin xmlns='jabber:iq:admin'><who/></admin></iq>");
        assert.ok(any.getChild('query', 'jabber:iq:admin')?.getChild('who')?.elements.some((p) => p.attrs.from === 'who2@localhost/Work'), any.toString());
        assertXml(
          await boss.request("<iq type='set' id='w4' to='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>"),
          "<iq type='result' id='w4' to='boss@localhost/Work' from='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>",
        );
        for (const [c, body] of [
          [boss, '<config/>'],
          [helper, '<config/>'],
          [boss, ''],
          [boss, '<monitor/>'],
        ] as const) {
          assertXml(
            await c.request(`<iq type='get' id='w5' to='localhost'><query xmlns='jabber:iq:admin'>${body}</query></iq>`),
            `<iq type='error' id='w5' to='${c.full}' from='localhost'><query xmlns='jabber:iq:admin'>${body}</query>` +
              "<error code='405' type='cancel'>Not Allowed</error></iq>",
          );
        }
        // A result or an error is never answered.
        boss.send("<iq type='result' id='w6' to='localhost'><query xmlns='jabber:iq:admin'><who/></query></iq>");
        boss.send("<iq type='result' id='w7' to='localhost/admin'><query xmlns='jabber:iq:browse'/></iq>");
        await boss.nothing(() => true, [], 'a result was answered');
      } finally {
        await closeAll(u, helper, boss);
      }
    });

    test('a message to the bare host goes to every admin', async () => {
      const boss = await admin('boss');
      const helper = await admin('helper');
      const u = await onlineUser(yak, 'help1');
      try {
        // The subject however written (here with a prefix) becomes the marked one.
        u.send("<message to='localhost' id='h1'><b:subject xmlns:b='jabber:client'>Help</b:subject><body>I lost my password</body></message>");
        // From the sender, so that a reply goes to them; 1.4's "Admin: SUBJECT (HOST)" marks it.
        for (const a of [boss, helper]) {
          assertXml(
            await a.next((e) => isMessage(e) && e.attrs.id === 'h1'),
            `<message to='${a.bare}' from='help1@localhost/Work' id='h1'><subject>Admin: Help (localhost)</subject><body>I lost my password</body>` +
              `<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>`,
          );
        }
        // Not even a 404 from an admin without an account, which would name it.
        await u.nothing((e) => isMessage(e) && e.attrs.id === 'h1', [], 'the sender got an answer');
        // With 1.4's <admin><reply>, the sender hears back (read live, as after a SIGHUP),
        // in the same chat: 1.4 answered with the message turned round.
        yak.config.jsm.admin.reply = { subject: 'Auto Reply', body: 'Forwarded to the administrators.' };
        try {
          u.send("<message to='localhost' id='h2' type='chat'><body>hello?</body><t:thread xmlns:t='jabber:client'>t2</t:thread></message>");
          assertXml(
            await u.next((e) => isMessage(e) && e.getChildText('subject') === 'Auto Reply'),
            "<message to='help1@localhost/Work' from='localhost' id='h2' type='chat'><t:thread xmlns:t='jabber:client'>t2</t:thread><subject>Auto Reply</subject><body>Forwarded to the administrators.</body>" +
              "<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>",
          );
          // Without a subject, the marker alone.
          for (const a of [boss, helper]) {
            assertXml(
              await a.next((e) => isMessage(e) && e.attrs.id === 'h2'),
              `<message to='${a.bare}' from='help1@localhost/Work' id='h2' type='chat'><subject>Admin: (localhost)</subject><body>hello?</body><t:thread xmlns:t='jabber:client'>t2</t:thread>` +
                `<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>`,
            );
          }
        } finally {
          delete yak.config.jsm.admin.reply;
        }
      } finally {
        await closeAll(boss, helper, u);
      }
    });

    test('the <admin><reply> goes to a sender once in a while: a client that answers every message makes no loop', async () => {
      const boss = await admin('boss');
      const bot = await onlineUser(yak, 'autobot');
      const other = await login(yak, 'autobot', 'Other');
      await other.presence();
      const person = await onlineUser(yak, 'person1');
      const isReply = (e: Element): boolean => isMessage(e) && e.attrs.from === 'localhost' && e.getChildText('subject') === 'Auto Reply';
      yak.config.jsm.admin.reply = { subject: 'Auto Reply', body: 'Forwarded to the administrators.' };
      try {
        bot.send("<message to='localhost' id='b1'><body>status report</body></message>");
        const reply = await bot.next(isReply);
        assertXml(
          reply,
          "<message to='autobot@localhost/Work' from='localhost' id='b1'><subject>Auto Reply</subject><body>Forwarded to the administrators.</body>" +
            "<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>",
        );
        // The bot answers the reply, as it answers everything: the admins get
        // it, as any message to the host, but no second reply starts a loop.
        bot.send(`<message to='localhost' id='b2'><body>Auto: ${reply.getChildText('body')}</body></message>`);
        assertXml(
          await boss.next((e) => isMessage(e) && e.attrs.id === 'b2'),
          "<message to='boss@localhost' from='autobot@localhost/Work' id='b2'><subject>Admin: (localhost)</subject><body>Auto: Forwarded to the administrators.</body>" +
            "<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>",
        );
        await bot.nothing(isReply, [], 'an answer to the reply got another reply');
        // The window is not the wall clock's: stepped forward 11 minutes, it has not passed.
        const realNow = Date.now;
        Date.now = () => realNow() + 11 * 60_000;
        try {
          bot.send("<message to='localhost' id='b2b'><body>again</body></message>");
          await boss.next((e) => isMessage(e) && e.attrs.id === 'b2b');
          await bot.nothing(isReply, [], 'a wall clock stepped forward let the reply out again');
        } finally {
          Date.now = realNow;
        }
        // The sender is the account (1.4: its bare JID), whichever resource writes.
        other.send("<message to='localhost' id='b3' type='chat'><body>me too</body></message>");
        await boss.next((e) => isMessage(e) && e.attrs.id === 'b3');
        await other.nothing(isReply, [], 'another resource of the sender got the reply again');
        // Someone else still gets it.
        person.send("<message to='localhost' id='p1'><body>hello</body></message>");
        assertXml(
          await person.next(isReply),
          "<message to='person1@localhost/Work' from='localhost' id='p1'><subject>Auto Reply</subject><body>Forwarded to the administrators.</body>" +
            "<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>",
        );
        // And an error is never answered (RFC 3920 9.3.1), nor passed to the admins.
        person.send("<message to='localhost' id='p2' type='error'><body>hello</body><error code='503'>Service Unavailable</error></message>");
        await person.nothing(isReply, [], 'an error message got the reply');
        await boss.nothing((e) => isMessage(e) && e.attrs.id === 'p2', [person], 'an error message went to the admins');
      } finally {
        delete yak.config.jsm.admin.reply;
        await closeAll(boss, bot, other, person);
      }
    });

    test('a message to the host with a jabber:x:delay stamp is dropped, as 1.4 dropped it: a copy sent back goes round no more', async () => {
      const boss = await admin('boss');
      const echo = await onlineUser(yak, 'echo1');
      const isReply = (e: Element): boolean => isMessage(e) && e.attrs.from === 'localhost' && e.getChildText('subject') === 'Auto Reply';
      yak.config.jsm.admin.reply = { subject: 'Auto Reply', body: 'Forwarded to the administrators.' };
      try {
        // The reply sent back whole, its stamp included: the admins never
        // see it, and the sender, never answered before, gets no reply.
        echo.send(
          "<message to='localhost' id='e1'><subject>Auto Reply</subject><body>Forwarded to the administrators.</body>" +
            "<x xmlns='jabber:x:delay' from='localhost' stamp='20261130T10:00:00'>admin</x></message>",
        );
        // An admin's copy sent back by the admin.
        boss.send(
          "<message to='localhost' id='e2'><subject>Admin: (localhost)</subject><body>hi</body>" +
            "<x xmlns='jabber:x:delay' from='localhost' stamp='20261130T10:00:00'>admin</x></message>",
        );
        // Any stamp counts, as in 1.4: a message replayed from storage.
        echo.send("<message to='localhost' id='e3'><body>old</body><x xmlns='jabber:x:delay' from='echo1@localhost' stamp='20261129T08:00:00'>Offline Storage</x></message>");
        // However the stamp is written.
        echo.send("<message to='localhost' id='e5'><body>hi</body><d:x xmlns:d='jabber:x:delay' from='localhost' stamp='20010101T00:00:00'>admin</d:x></message>");
        await boss.nothing((e) => isMessage(e) && ['e1', 'e2', 'e3', 'e5'].includes(e.attrs.id ?? ''), [echo], 'a stamped message went to the admins');
        await echo.nothing(isReply, [], 'a stamped message got the reply');
        await boss.nothing(isReply, [], 'a stamped message got the reply');
        // The same message without the stamp is forwarded and answered.
        echo.send("<message to='localhost' id='e4'><body>new</body></message>");
        assertXml(
          await boss.next((e) => isMessage(e) && e.attrs.id === 'e4'),
          "<message to='boss@localhost' from='echo1@localhost/Work' id='e4'><subject>Admin: (localhost)</subject><body>new</body>" +
            "<x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>",
        );
        assert.equal((await echo.next(isReply)).attrs.id, 'e4');
      } finally {
        delete yak.config.jsm.admin.reply;
        await closeAll(boss, echo);
      }
    });
  });
});

describe("registration notices need <register notify='yes'> (SPEC section 3)", () => {
  test('without it, no admin hears of a new account: nothing to one online, nothing stored for one offline', async () => {
    const yak = await startYak({
      tweak: (c: YakConfig) => {
        plain(c);
        c.jsm.register!.notify = false;
        c.jsm.admin.write = ['boss@localhost'];
        c.jsm.admin.read = ['helper@localhost'];
      },
    });
    try {
      // Admin names are refused in-band: made as jabberctl adduser makes them.
      await addUser(yak, 'helper', PASSWORD);
      await addUser(yak, 'boss', PASSWORD);
      const boss = await login(yak, 'boss');
      await boss.presence();
      try {
        // The notice would be delivered before the registration's result (see the notify='yes' tests).
        await registerUser(yak, 'quiet', PASSWORD, { name: 'Quiet One' });
        await boss.nothing(isMessage, [], 'a registration notice');
        assert.equal((await spoolRecords(yak, 'helper'))!.has('jabber:x:offline'), false, 'a notice was stored for the offline admin');
      } finally {
        await boss.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('mod_admin: an admin on a host this server does not serve', () => {
  test('gets no copy, even with a spool folder of that name: the message to the host bounces 503, as with no admin', async () => {
    const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-foreign-admin-'));
    try {
      // A folder left from when the server served that host, with the admin's file in it.
      await mkdir(path.join(spool, hostDirName('elsewhere.example')));
      await writeFile(
        path.join(spool, hostDirName('elsewhere.example'), userFileName('boss')),
        "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>",
      );
      const yak = await startYak({
        spool,
        tweak: (c: YakConfig) => {
          plain(c);
          c.jsm.admin.write = ['boss@elsewhere.example'];
          c.jsm.admin.read = [];
        },
      });
      try {
        const a = await newUser(yak, 'asks1');
        try {
          a.send("<message to='localhost' id='h1'><body>hello</body></message>");
          assertXml(
            await a.next(isMessage),
            "<message to='asks1@localhost/Work' from='localhost' id='h1' type='error'><body>hello</body>" +
              "<error code='503' type='cancel'>Service Unavailable</error></message>",
          );
        } finally {
          await a.close();
        }
      } finally {
        await yak.stop();
      }
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  });
});

describe('mod_admin: nothing about a copy for the admins comes back to the sender', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({
      tweak: (c: YakConfig) => {
        plain(c);
        c.jsm.offlineLimit = 2;
      },
    });
  });
  after(() => yak.stop());

  test('no 503 from a full offline store, no offline event, no answer from the admin’s filter rules', async () => {
    // Made an admin only once registered: no registration notices fill its store.
    const boss = await newUser(yak, 'boss');
    const asker = await onlineUser(yak, 'asker');
    yak.config.jsm.admin.write = ['boss@localhost'];
    try {
      // Rules that answer every message: a reply, then a bounce.
      const rules = await boss.request(
        "<iq type='set'><query xmlns='jabber:iq:filter'>" +
          "<rule name='away'><reply>I read this on Mondays.</reply><continue/></rule>" +
          "<rule name='bounce'><error code='404'>Gone</error></rule></query></iq>",
      );
      assert.equal(rules.attrs.type, 'result', rules.toString());
      await boss.close();

      asker.send("<message to='localhost' id='q1'><subject>Help</subject><body>one</body><x xmlns='jabber:x:event'><offline/></x></message>");
      asker.send("<message to='localhost' id='q2'><body>two</body></message>");
      // The admin's store is full now (limit 2), and a groupchat message is never stored.
      asker.send("<message to='localhost' id='q3'><body>three</body></message>");
      asker.send("<message to='localhost' id='q4' type='groupchat'><body>four</body></message>");
      await asker.nothing(() => true, [], 'the sender heard back about a copy for an admin');

      const again = await login(yak, 'boss');
      try {
        again.send('<presence/>');
        for (const [id, subject, body, event] of [
          ['q1', 'Admin: Help (localhost)', 'one', "<x xmlns='jabber:x:event'><offline/></x>"],
          ['q2', 'Admin: (localhost)', 'two', ''],
        ] as const) {
          assertXml(
            await again.next(isMessage),
            `<message to='boss@localhost' from='asker@localhost/Work' id='${id}'><subject>${subject}</subject><body>${body}</body>${event}` +
              // The store's stamp goes before the one already there (see addStamp).
              "<x xmlns='jabber:x:delay' from='boss@localhost' stamp='*'>Offline Storage</x><x xmlns='jabber:x:delay' from='localhost' stamp='*'>admin</x></message>",
          );
        }
        await again.nothing(isMessage, [], 'more than the two stored copies');
        // The rules still answer a message sent to the admin directly.
        asker.send("<message to='boss@localhost' id='d1'><body>direct</body></message>");
        const reply = await asker.next((e) => isMessage(e) && e.attrs.type !== 'error');
        assert.equal(reply.getChildText('body'), 'I read this on Mondays.', reply.toString());
        const bounce = await asker.next((e) => isMessage(e) && e.attrs.type === 'error');
        assertXml(bounce.getChild('error')!, "<error code='404' type='cancel'>Gone</error>");
      } finally {
        await again.close();
      }
    } finally {
      await closeAll(asker);
    }
  });
});

describe('mod_log', () => {
  test('one line per session end, with the JID', async () => {
    // A server of our own, to hear what it logs (startYak's is silent).
    const { log, lines } = captureLog();
    const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-log-'));
    const config = loadConfig(BUNDLED_CONFIG, { spool });
    config.c2s.listen = [{ port: 0, address: '127.0.0.1' }];
    config.pidfile = undefined;
    plain(config);
    const server = await YakServer.start(config, { log });
    const ended = new Promise<void>((resolve) => {
      // Runs after every other session-end handler, mod_log's included.
      server.jsm.chains.add('session-end', 'test-session-ended', () => resolve(), { priority: -1000 });
    });
    try {
      const port = server.ports[0]!;
      const reg = await ClientStream.connect({ port, domain: 'localhost' });
      assert.equal((await reg.request(registerIq('logme', PASSWORD))).attrs.type, 'result');
      await reg.close();
      const c = await ClientStream.connect({ port, domain: 'localhost' });
      assert.equal((await c.request(authIq('logme', 'Work', { password: PASSWORD }))).attrs.type, 'result');
      await c.close();
      await ended;
      const line = lines.find((l) => l.msg === 'session ended');
      assert.ok(line, `no 'session ended' line in ${JSON.stringify(lines.map((l) => l.msg))}`);
      assert.equal(line.jid, 'logme@localhost/Work');
      assert.equal(line.module, 'mod_log');
      assert.equal(typeof line.seconds, 'number');
    } finally {
      await server.stop();
      await rm(spool, { recursive: true, force: true });
    }
  });
});

describe('a module commented out of <load> is off (SPEC section 7)', () => {
  test('its requests and messages get 503 Service Unavailable, as when 1.4 had no module for them; the rest still run', async () => {
    const off = ['mod_echo', 'mod_time', 'mod_vcard', 'mod_version', 'mod_offline'];
    let configText = readFileSync(BUNDLED_CONFIG, 'utf8');
    for (const m of off) {
      const line = `<${m}>./jsm/jsm.so</${m}>`;
      assert.ok(configText.includes(line), line);
      configText = configText.replace(line, `<!-- ${line} -->`);
    }
    const yak = await startYak({ configText, tweak: plain });
    try {
      for (const m of off) assert.ok(!yak.server.jsm.loaded.includes(m), `${m} loaded`);
      await offlineUser(yak, 'away1');
      const a = await onlineUser(yak, 'off1');
      try {
        const unavailable = "<error code='503' type='cancel'>Service Unavailable</error>";
        for (const [to, query] of [
          ['localhost', "<query xmlns='jabber:iq:time'/>"],
          ['localhost', "<query xmlns='jabber:iq:version'/>"],
          ['localhost', "<vCard xmlns='vcard-temp'/>"],
          ['away1@localhost', "<vCard xmlns='vcard-temp'/>"],
        ] as const) {
          assertXml(
            await a.request(`<iq type='get' id='q' to='${to}'>${query}</iq>`),
            `<iq type='error' id='q' to='off1@localhost/Work' from='${to}'>${query}${unavailable}</iq>`,
          );
        }
        // No echo, and no offline storage: the message comes back as an error.
        for (const to of ['localhost/echo', 'away1@localhost']) {
          a.send(`<message to='${to}' id='m'><body>hi</body></message>`);
          assertXml(
            await a.next(isMessage),
            `<message to='off1@localhost/Work' from='${to}' id='m' type='error'><body>hi</body>${unavailable}</message>`,
          );
        }
        assert.equal((await spoolRecords(yak, 'away1'))!.has('jabber:x:offline'), false);
        // A module still loaded answers as before.
        assert.equal((await a.request("<iq type='get' id='l' to='localhost'><query xmlns='jabber:iq:last'/></iq>")).attrs.type, 'result');
        // The host's browse lists only what is still served.
        const listed = (await a.request("<iq type='get' id='b' to='localhost'><query xmlns='jabber:iq:browse'/></iq>"))
          .getChild('service')!
          .getChildren('ns')
          .map((n) => n.text());
        assert.deepEqual(listed, ['jabber:iq:auth', 'jabber:iq:register', 'jabber:iq:browse', 'jabber:iq:agents', 'jabber:iq:last']);
      } finally {
        await a.close();
      }
    } finally {
      await yak.stop();
    }
  });
});
