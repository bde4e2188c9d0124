// Interop with libstrophe (C, Debian libstrophe-dev), an XMPP client
// library we did not write (DESIGN.md, "Tests we like"). The test compiles
// test/interop/libstrophe_client.c with gcc and pkg-config into a temporary
// folder (removed afterwards) and runs it against an in-process Yak:
// in-band registration and its 409 (over libstrophe's raw connection mode,
// since the library has no registration API), a wrong password refused,
// a jabber:iq:auth login, the roster, initial presence bringing an offline
// message with its jabber:x:delay stamp, a subscription both ways with a
// user of our own client, a chat message each way, a presence change the
// peer sees, its own vCard set and the peer's read, and a clean logout.
// The program reports each step on a line of its own; our client checks
// the stanzas it got, and the test what the server logged and kept.
//
// The workaround: libstrophe logs in with SASL only unless told
// otherwise, and Yak, like jabberd 1.4, offers no SASL mechanism; the
// program sets XMPP_CONN_FLAG_LEGACY_AUTH, which lets it use
// jabber:iq:auth (without it: "Cannot authenticate with known methods").
// libstrophe's legacy login sends the password in <password>, never a
// digest, so the server logs plain logins.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { buildCProgram } from './helpers/c-program.js';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { assertXml } from './helpers/xml-assert.js';
import { isMessage, login, NS_ROSTER, onlineUser, spoolRecords, STAMP } from './helpers/session.js';
import type { Element } from '../src/xml/element.js';

const SOURCE = fileURLToPath(new URL('../../test/interop/libstrophe_client.c', import.meta.url));
const PACKAGES = 'libstrophe-dev gcc pkg-config';
const USER = 'strophealice';
const PASSWORD = 'Calli0pe';
const RESOURCE = 'strophe';
// How long our side waits for each thing the program makes happen.
const STEP_MS = 10_000;

describe('libstrophe registers, logs in, subscribes, chats and reads a vCard', { timeout: 60_000 }, () => {
  // No welcome message: the stored message libstrophe gets is our client's.
  const suite = interopSuite();
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('against our own client', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'yak-libstrophe-'));
    const binary = await buildCProgram(SOURCE, dir, ['libstrophe'], PACKAGES);
    const { yak, log } = suite;
    const peer = await onlineUser(yak, 'strophepeer');
    suite.clients.push(peer);
    const card = await peer.request(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Yak Peer</FN><NICKNAME>peery</NICKNAME></vCard></iq>`);
    assert.equal(card.attrs.type, 'result', card.toString());
    const alice = `${USER}@${yak.host}`;
    const aliceFull = `${alice}/${RESOURCE}`;

    const s = new LoggedScript('libstrophe client', binary, [String(yak.port), yak.host, USER, PASSWORD, peer.bare], 30_000, log);
    suite.script = s;
    const next = (what: string, match: string | ((e: Element) => boolean)): Promise<Element> =>
      s.during(what, peer.next(match, STEP_MS));

    // Registered, refused a wrong password: now the offline message, and its stamp as kept.
    await s.expectLine('WAITING offline');
    peer.send(`<message to='${alice}' type='chat'><body>Left while you were out</body></message>`);
    await peer.sync();
    const box = (await spoolRecords(yak, USER))?.get('jabber:x:offline');
    const storedStamp = box?.getChild('message')?.getChild('x', 'jabber:x:delay')?.attrs.stamp;
    assert.ok(storedStamp, `the message was not kept offline: ${box?.toString()}\n${s.transcript()}`);
    s.tell('go');

    // The roster set, then the subscription request.
    const ask = await next('the subscription request', (e) => e.name === 'presence' && e.attrs.type === 'subscribe');
    assertXml(ask, `<presence type='subscribe' to='${peer.bare}' from='${alice}'/>`);
    peer.send(`<presence type='subscribed' to='${alice}'/>`);
    peer.send(`<presence type='subscribe' to='${alice}'/>`);

    const accepted = await next('the subscription answer', (e) => e.name === 'presence' && e.attrs.type === 'subscribed');
    assertXml(accepted, `<presence type='subscribed' to='${peer.bare}' from='${alice}'/>`);

    // Once subscribed to it, the peer is sent its current presence, stamped as 1.4 did.
    const initial = await next('its presence', (e) => e.name === 'presence' && e.attrs.type === undefined);
    assertXml(
      initial,
      `<presence from='${aliceFull}' to='${peer.bare}'><status>Strophe here</status>` +
        `<x xmlns='jabber:x:delay' from='${aliceFull}' stamp='*'/></presence>`,
    );

    const chat = await next('the chat message', isMessage);
    assertXml(chat, `<message type='chat' to='${peer.bare}' id='chat-1' from='${aliceFull}'><body>Hello from libstrophe</body></message>`);
    peer.send(`<message to='${aliceFull}' type='chat'><body>Hello from Yak</body></message>`);

    const busy = await next('the presence change', (e) => e.name === 'presence' && e.getChildText('show') === 'dnd');
    assertXml(busy, `<presence from='${aliceFull}' to='${peer.bare}'><show>dnd</show><status>Busy in C</status></presence>`);
    // Not raced against the program's end: it may exit before the server has told the peer.
    const gone = await peer.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable', STEP_MS);
    assertXml(gone, `<presence type='unavailable' from='${aliceFull}' to='${peer.bare}'><status>*</status></presence>`);

    const code = await s.exited;
    const transcript = s.transcript();
    assert.equal(code, 0, `the libstrophe client must succeed\n${transcript}`);
    const lines = s.lines;
    const expected = [
      'REGISTER-FORM name,email,username,password',
      `REGISTERED ${USER}`,
      'CONFLICT 409 Username Not Available',
      'WAITING offline',
      'AUTH legacy ok',
      'ROSTER 0 items',
      'ROSTER-SET ok',
      `APPROVED-BY ${peer.bare}`,
      `ACCEPTED ${peer.bare}`,
      `SUBSCRIPTION ${peer.bare} both`,
      `PRESENCE ${peer.full} available status=`,
      'SENT chat',
      `RECEIVED from=${peer.full} type=chat body=Hello from Yak`,
      'PRESENCE-SENT dnd',
      'VCARD-SET ok',
      `VCARD from=${peer.bare} FN=Yak Peer NICKNAME=peery`,
      `OFFLINE from=${peer.full} type=chat delay-from=${alice} stamp=${storedStamp} text=Offline Storage body=Left while you were out`,
      'LOGOUT',
      'DISCONNECTED',
      'OK',
    ];
    for (const line of expected) assert.ok(lines.includes(line), `libstrophe must report: ${line}\n${transcript}`);
    assert.match(storedStamp, STAMP);
    const refused = lines.find((l) => l.startsWith('AUTH legacy wrong-password refused: '));
    assert.match(refused ?? '', /authentication failed/i, `libstrophe must report the refused password\n${transcript}`);
    assert.equal(lines.at(-1), 'OK', transcript);

    // What the server saw: libstrophe's legacy login sends the password itself.
    const logins = log.lines.filter((l) => l.user === USER && (l.msg === 'login ok' || l.msg === 'login failed'));
    assert.deepEqual(
      logins.map((l) => `${String(l.msg)} ${String(l.method)}`),
      ['login failed plain', 'login ok plain'],
      transcript,
    );

    // Nothing else reached the peer (the vCard get went to the server).
    await peer.nothing(() => true, [], 'more than the program sent');

    // What the server kept, seen by our own client.
    assertXml(await peer.roster(), `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`);
    const check = await login(yak, USER, 'Check', PASSWORD);
    suite.clients.push(check);
    assertXml(
      await check.roster(),
      `<query xmlns='${NS_ROSTER}'><item jid='${peer.bare}' name='Yak Peer' subscription='both'><group>Friends</group></item></query>`,
    );
    const own = await peer.request(`<iq type='get' to='${alice}'><vCard xmlns='vcard-temp'/></iq>`);
    assertXml(
      own,
      `<iq type='result' id='*' from='${alice}' to='${peer.full}'>` +
        `<vCard xmlns='vcard-temp'><FN>Alice Strophe</FN><NICKNAME>strophie</NICKNAME></vCard></iq>`,
    );
    const registered = (await spoolRecords(yak, USER))?.get('jabber:iq:register');
    assert.ok(registered, 'the registration record');
    assert.equal(registered.getChildText('name'), 'Alice Strophe', registered.toString());
    assert.equal(registered.getChildText('email'), 'alice@example.org', registered.toString());
    assert.equal((await spoolRecords(yak, USER))?.get('jabber:x:offline'), undefined, 'the delivered message stayed on disk');
  });
});
