// Interop with AnyEvent::XMPP (Perl, Debian libanyevent-xmpp-perl), a
// client library we did not write (DESIGN.md, "Tests we like").
// test/interop/anyevent-xmpp.pl runs two of its IM connections: one with
// its usual version='1.0' header (Yak's features offer iq-auth, no SASL),
// one with version='0.9', which Yak answers with 1.4's header and the
// library with the login path it wrote for jabberd 1.4.2. Each registers
// in-band (XEP-0077, its Registration extension) and logs in with
// jabber:iq:auth; registering the same name again is refused with 409.
// With the library's roster and contact objects they subscribe to each
// other, see each other's presence and chat; our own checks are the
// library's reports, the server's log, and the rosters as the server
// kept them.
//
// The library's documented way to stop authentication for registration
// (a false return value) does nothing: the script clears the flag the
// code really passes, and says so. It logs in with a plaintext password:
// its only digest path asks jabber:iq:auth without a username, which 1.4
// and Yak refuse (406). The 409 it reports has no text: it reads the
// XMPP <text/> element, not the 1.4 error text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { accountEvents } from './helpers/log-capture.js';
import { interopScript, requirePerlModule } from './helpers/netjabber.js';
import { assertXml } from './helpers/xml-assert.js';
import { NS_ROSTER, spoolRecords } from './helpers/session.js';

const SCRIPT = interopScript('anyevent-xmpp.pl');
const ALICE = 'aealice';
const BOB = 'aebob';
const PASSWORD = 'Calli0pe';

describe('AnyEvent::XMPP registers, logs in both ways, subscribes and chats', { timeout: 60_000 }, () => {
  const suite = interopSuite();

  test('two clients of the library, one with the 1.4 header', async () => {
    await requirePerlModule('AnyEvent::XMPP', 'libanyevent-xmpp-perl');
    const { yak, log } = suite;
    const alice = `${ALICE}@${yak.host}`;
    const bob = `${BOB}@${yak.host}`;
    const args = [SCRIPT, String(yak.port), yak.host, ALICE, BOB, PASSWORD];
    const s = new LoggedScript('AnyEvent::XMPP script', 'perl', args, 30_000, log);
    suite.script = s;
    const code = await s.exited;
    assert.equal(code, 0, `the AnyEvent::XMPP script must succeed\n${s.transcript()}`);
    assert.equal(s.stderr, '', s.transcript());
    // The two clients run side by side: each one's lines, in order.
    const linesOf = (user: string): string[] => s.lines.filter((l) => l.startsWith(`${user} `));
    assert.deepEqual(
      linesOf(ALICE),
      [
        `${ALICE} registered`,
        `${ALICE} logged in as ${alice}/AnyEvent, roster: 0 contacts`,
        `${ALICE} registered again: ibb registration error (in submit): iq error: 409/conflict (type cancel): `,
        `${ALICE} approved by ${bob}`,
        `${ALICE} sees ${bob}/AnyEvent show= priority=10`,
        `${ALICE} asked by ${bob}`,
        `${ALICE} got from=${bob}/AnyEvent type=chat body=Hello ${ALICE}, from ${BOB}`,
        `${ALICE} roster: ${bob} name=Bob subscription=both`,
      ],
      s.transcript(),
    );
    assert.deepEqual(
      linesOf(BOB),
      [
        `${BOB} registered`,
        `${BOB} logged in as ${bob}/AnyEvent, roster: 0 contacts`,
        `${BOB} asked by ${alice}`,
        `${BOB} got from=${alice}/AnyEvent type=chat body=Hello ${BOB}, from ${ALICE}`,
        `${BOB} approved by ${alice}`,
        `${BOB} sees ${alice}/AnyEvent show= priority=10`,
        `${BOB} roster: ${alice} name= subscription=both`,
      ],
      s.transcript(),
    );
    assert.equal(s.lines.at(-1), 'OK', s.transcript());
    assert.equal(s.lines.length, 16, s.transcript());

    // What the server saw: two registrations, one refusal, two plaintext logins.
    const seen = accountEvents(log);
    assert.deepEqual(
      seen,
      [`registered ${ALICE}`, `login ok ${ALICE} plain`, `registered ${BOB}`, `login ok ${BOB} plain`],
      s.transcript(),
    );
    // What the server kept.
    assertXml(
      (await spoolRecords(yak, ALICE))!.get(NS_ROSTER)!,
      `<query xmlns='${NS_ROSTER}'><item jid='${bob}' name='Bob' subscription='both'/></query>`,
    );
    assertXml(
      (await spoolRecords(yak, BOB))!.get(NS_ROSTER)!,
      `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`,
    );
  });
});
