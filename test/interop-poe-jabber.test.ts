// Interop with POE::Component::Jabber (Perl, Debian
// libpoe-component-jabber-perl), a client library we did not write
// (DESIGN.md, "Tests we like"), with its LEGACY connection type, the one
// it keeps for jabberd 1.4: a version='0.9' stream header (Yak answers it
// as 1.4 did, without features) and a jabber:iq:auth digest of the stream
// id. test/interop/poe-jabber-legacy.pl logs in, reads its roster,
// subscribes with a user of our own client both ways, sees its presence,
// chats with it and reads the roster again; our client checks each stanza
// the component sent, and what the server kept.
//
// The component cannot connect at all with the POE::Filter::XML Debian
// ships beside it (a newer Node API, and a reset that breaks its parser):
// the script repairs both before it starts, and says how. Its
// return_to_sender does not work across sessions: the script matches
// answers by id itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { interopScript, requirePerlModule } from './helpers/netjabber.js';
import { registerUser } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { isMessage, NS_ROSTER, onlineUser } from './helpers/session.js';
import type { Element } from '../src/xml/element.js';

const SCRIPT = interopScript('poe-jabber-legacy.pl');
const USER = 'poealice';
const PASSWORD = 'Calli0pe';
// How long our side waits for each thing the script makes happen.
const STEP_MS = 10_000;

describe('POE::Component::Jabber (LEGACY) logs in, subscribes, sees presence and chats', { timeout: 60_000 }, () => {
  const suite = interopSuite();

  test('against our own client', async () => {
    await requirePerlModule('POE::Component::Jabber', 'libpoe-component-jabber-perl');
    const { yak, log } = suite;
    await registerUser(yak, USER, PASSWORD);
    const peer = await onlineUser(yak, 'poepeer');
    suite.clients.push(peer);
    const alice = `${USER}@${yak.host}`;
    const aliceFull = `${alice}/POE`;

    const args = [SCRIPT, String(yak.port), yak.host, USER, PASSWORD, peer.bare];
    const s = new LoggedScript('POE::Component::Jabber script', 'perl', args, 30_000, log);
    suite.script = s;
    const next = (what: string, match: (e: Element) => boolean): Promise<Element> => s.during(what, peer.next(match, STEP_MS));
    const presence = (type?: string) => (e: Element) => e.name === 'presence' && e.attrs.type === type;

    assertXml(
      await next('the subscription request', presence('subscribe')),
      `<presence type='subscribe' to='${peer.bare}' from='${alice}'/>`,
    );
    peer.send(`<presence type='subscribed' to='${alice}'/>`);
    peer.send(`<presence type='subscribe' to='${alice}'/>`);
    assertXml(
      await next('the subscription answer', presence('subscribed')),
      `<presence type='subscribed' to='${peer.bare}' from='${alice}'/>`,
    );
    // Now subscribed to it: its presence, as it sent it.
    assertXml(
      await next('its presence', presence(undefined)),
      `<presence from='${aliceFull}' to='${peer.bare}'><status>Polling the POE kernel</status><x xmlns='jabber:x:delay' from='${aliceFull}' stamp='*'/></presence>`,
    );
    assertXml(
      await next('the chat message', isMessage),
      `<message to='${peer.bare}' type='chat' from='${aliceFull}'><body>Hello from POE</body></message>`,
    );
    peer.send(`<message to='${aliceFull}' type='chat'><body>Hello from Yak</body></message>`);

    await s.expectSuccess([
      `LOGGED IN ${aliceFull}`,
      'ROSTER empty',
      `SUBSCRIBED by ${peer.bare}`,
      `PRESENCE ${peer.full} status=`,
      `APPROVED ${peer.bare}`,
      `RECEIVED from=${peer.full} type=chat body=Hello from Yak`,
      `ROSTER ${peer.bare} subscription=both`,
      'OK',
    ]);

    // What the server saw: a digest, the component's only method besides plaintext.
    const logins = log.lines.filter((l) => l.user === USER && (l.msg === 'login ok' || l.msg === 'login failed'));
    assert.deepEqual(logins.map((l) => `${String(l.msg)} ${String(l.method)}`), ['login ok digest'], s.transcript());
    // What the server kept, seen by our own client.
    assertXml(await peer.roster(), `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`);
  });
});
