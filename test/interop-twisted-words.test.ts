// Interop with Twisted Words (Python, Debian python3-twisted), the
// twisted.words.protocols.jabber client, a library we did not write
// (DESIGN.md, "Tests we like"). test/interop/twisted_words.py uses the
// client it made for pre-XMPP-1.0 servers like jabberd 1.4
// (XmlStreamFactory + BasicAuthenticator: a header without a version,
// IQAuthInitializer's jabber:iq:auth, digest when offered). Two users the
// server does not know connect (INVALID_USER_EVENT), register with
// registerAccount() and log in with the digest; a third connection is
// refused a wrong password (AUTH_FAILED_EVENT) and a second registration
// of a name (REGISTER_FAILED_EVENT, 409). With the library's stanzas and
// observers they read their rosters, subscribe to each other, see each
// other's presence and chat; our own checks are the script's lines, the
// server's log, and the rosters as the server kept them.
//
// The library's registerAccount() cannot log in after registering: it
// calls streamStarted() without the stream header its signature has taken
// since 2005 (a TypeError the library logs and swallows); the script's
// authenticator runs the initializers again instead, and says so.
//
// The library's XMPP 1.0 client (XMPPClientFactory / XMPPAuthenticator) is
// not tested: it requires STARTTLS and SASL, which Yak, like 1.4, does not
// offer, and it has no jabber:iq:auth fallback, so it cannot log in to a
// server without SASL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { accountEvents } from './helpers/log-capture.js';
import { interopScript } from './helpers/netjabber.js';
import { pythonWith } from './helpers/python.js';
import { assertXml } from './helpers/xml-assert.js';
import { NS_ROSTER, spoolRecords } from './helpers/session.js';

const SCRIPT = interopScript('twisted_words.py');
const ALICE = 'twalice';
const BOB = 'twbob';
const PASSWORD = 'Calli0pe';

describe('Twisted Words registers, logs in, subscribes and chats', { timeout: 60_000 }, () => {
  const suite = interopSuite();

  test('two BasicAuthenticator clients and a refused third', async () => {
    const python = await pythonWith('twisted.words.protocols.jabber.client', 'Twisted Words', 'python3-twisted');
    const { yak, log } = suite;
    const alice = `${ALICE}@${yak.host}`;
    const bob = `${BOB}@${yak.host}`;
    const args = [SCRIPT, String(yak.port), yak.host, ALICE, BOB, PASSWORD];
    const s = new LoggedScript('Twisted Words script', python, args, 30_000, log);
    suite.script = s;
    const code = await s.exited;
    assert.equal(code, 0, `the Twisted Words script must succeed\n${s.transcript()}`);
    assert.equal(s.stderr, '', s.transcript());
    // The two sessions run side by side once logged in: each one's lines, in order.
    const linesOf = (user: string): string[] => s.lines.filter((l) => l.startsWith(`${user} `));
    assert.deepEqual(
      linesOf(ALICE),
      [
        // The 1.4 error texts, read by the library as XMPP conditions (XEP-0086).
        `${ALICE} unknown: 401 not-authorized (Unauthorized)`,
        `${ALICE} registered and logged in as ${alice}/Twisted`,
        `${ALICE} wrong password refused: 401 not-authorized (Unauthorized)`,
        `${ALICE} registered again: refused 409 conflict (Username Not Available)`,
        `${ALICE} roster: 0 contacts`,
        `${ALICE} approved by ${bob}`,
        `${ALICE} sees ${bob}/Twisted show=`,
        `${ALICE} asked by ${bob}`,
        `${ALICE} got chat from ${bob}/Twisted: Hello ${ALICE}, from ${BOB}`,
        `${ALICE} roster: ${bob} name= subscription=both ask=`,
      ],
      s.transcript(),
    );
    assert.deepEqual(
      linesOf(BOB),
      [
        `${BOB} unknown: 401 not-authorized (Unauthorized)`,
        `${BOB} registered and logged in as ${bob}/Twisted`,
        `${BOB} roster: 0 contacts`,
        `${BOB} asked by ${alice}`,
        `${BOB} approved by ${alice}`,
        `${BOB} sees ${alice}/Twisted show=`,
        `${BOB} got chat from ${alice}/Twisted: Hello ${BOB}, from ${ALICE}`,
        `${BOB} roster: ${alice} name= subscription=both ask=`,
      ],
      s.transcript(),
    );
    assert.equal(s.lines.at(-1), 'OK', s.transcript());
    assert.equal(s.lines.length, 19, s.transcript());

    const seen = accountEvents(log);
    // What the server saw: two registrations, each followed by a digest
    // login (the library prefers it when offered), then the wrong password.
    // The unknown user's jabber:iq:auth get and the refused registration
    // are no login attempt and not logged as one.
    assert.deepEqual(
      seen,
      [
        `registered ${ALICE}`,
        `login ok ${ALICE} digest`,
        `registered ${BOB}`,
        `login ok ${BOB} digest`,
        `login failed ${ALICE} digest`,
      ],
      s.transcript(),
    );
    // What the server kept.
    assertXml(
      (await spoolRecords(yak, ALICE))!.get(NS_ROSTER)!,
      `<query xmlns='${NS_ROSTER}'><item jid='${bob}' subscription='both'/></query>`,
    );
    assertXml(
      (await spoolRecords(yak, BOB))!.get(NS_ROSTER)!,
      `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`,
    );
  });
});
