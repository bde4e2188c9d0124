// Interop with Net::Jabber::Loudmouth (Perl, Debian
// libnet-jabber-loudmouth-perl), the binding of the loudmouth C library,
// which we did not write (DESIGN.md, "Tests we like"). Loudmouth sends a
// version='1.0' header; Yak's features list jabber:iq:auth and no SASL, so
// loudmouth takes its XEP-0078 path: it asks for the methods and sends a
// digest. test/interop/loudmouth.pl is refused with a wrong password,
// logs in, reads its roster, sends its presence and chats with a user of
// our own client, who checks the presence and the message as they arrived.
//
// The binding writes to='' on every message built without an address
// (its roster get and presence here): Yak answered those 400 until it read
// an empty `to` as none, as 1.4 did (routing.test.ts). Its presence here
// reaches the peer: the user and the peer are subscribed both ways first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { interopScript, requirePerlModule } from './helpers/netjabber.js';
import { registerUser } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { isMessage, login, onlineUser, sessionEnded, subscribeBoth } from './helpers/session.js';

const SCRIPT = interopScript('loudmouth.pl');
const USER = 'lmalice';
const PASSWORD = 'Calli0pe';

describe('Net::Jabber::Loudmouth logs in, reads its roster and chats', { timeout: 60_000 }, () => {
  const suite = interopSuite();

  test('against our own client', async () => {
    await requirePerlModule('Net::Jabber::Loudmouth', 'libnet-jabber-loudmouth-perl');
    const { yak, log } = suite;
    await registerUser(yak, USER, PASSWORD);
    const peer = await onlineUser(yak, 'lmpeer');
    suite.clients.push(peer);
    // Subscribed both ways beforehand, so that the peer sees its presence.
    const setup = await login(yak, USER, 'Setup', PASSWORD);
    await subscribeBoth(setup, peer);
    const setupGone = sessionEnded(yak, `${USER}@${yak.host}/Setup`);
    await setup.close();
    await setupGone;
    await peer.clear();
    const aliceFull = `${USER}@${yak.host}/Loudmouth`;

    const logFrom = log.lines.length;
    const args = [SCRIPT, String(yak.port), yak.host, USER, PASSWORD, peer.bare];
    const s = new LoggedScript('Loudmouth script', 'perl', args, 30_000, log);
    suite.script = s;
    assertXml(
      await s.during('its presence', peer.next((e) => e.name === 'presence', 10_000)),
      `<presence id='*' from='${aliceFull}' to='${peer.bare}'><status>Loud and clear</status></presence>`,
    );
    assertXml(
      await s.during('the chat message', peer.next(isMessage, 10_000)),
      `<message type='chat' to='${peer.bare}' id='*' from='${aliceFull}'><body>Hello from Loudmouth</body></message>`,
    );
    peer.send(`<message to='${aliceFull}' type='chat'><body>Hello from Yak</body></message>`);

    await s.expectSuccess([
      'AUTH wrong password refused: Authentication failed',
      'AUTH ok, authenticated=yes',
      `ROSTER ${peer.bare} subscription=both`,
      'SENT',
      `RECEIVED from=${peer.full} type=chat body=Hello from Yak`,
      'OK',
    ]);
    assert.equal(s.stderr, '', s.transcript());

    // What the server saw: digests, the wrong one refused.
    const logins = log.lines.slice(logFrom).filter((l) => l.user === USER && (l.msg === 'login ok' || l.msg === 'login failed'));
    assert.deepEqual(
      logins.map((l) => `${String(l.msg)} ${String(l.method)}`),
      ['login failed digest', 'login ok digest'],
      s.transcript(),
    );
    await peer.nothing((e) => e.name !== 'presence' || e.attrs.type !== 'unavailable', [], 'more than it sent');
  });
});
