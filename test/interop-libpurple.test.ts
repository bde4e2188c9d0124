// Interop with libpurple (C, Debian libpurple-dev), the protocol library
// of Pidgin and Finch, with its XMPP plugin, which we did not write
// (DESIGN.md, "Tests we like"). The test compiles
// test/interop/libpurple_client.c with gcc and pkg-config into a temporary
// folder, which also holds libpurple's own files, and runs it, headless,
// against an in-process Yak: in-band registration and its 409, a login
// with a jabber:iq:auth digest, the roster, an offline message whose
// jabber:x:delay stamp becomes the message's time, a subscription both
// ways with a user of our own client (libpurple's authorization request
// accepted), a chat message each way, presence with a status message as
// our client sees it, the peer's status as libpurple shows it, and the
// logout. The program reports each step on a line of its own; our client
// checks the stanzas it got, and the test what the server logged and kept.
//
// Workarounds, all account settings a Pidgin user would make: the server
// 127.0.0.1 and the test's port (no SRV lookup), "Use encryption if
// available" instead of the "Require encryption" Pidgin's account editor
// sets (Yak has no STARTTLS on its plain port), and the password
// remembered (libpurple forgets it after the registration otherwise).
// "Allow plaintext auth over unencrypted streams" stays off: libpurple
// takes the digest Yak offers. The program turns off libpurple's UPnP
// discovery, which would otherwise send packets to the LAN, and keeps it
// off D-Bus. libpurple shows a stored message without a "delayed" mark
// (its XMPP plugin passes no flag) but with the time of the stamp, so the
// test ages the stored stamp to 2002 to tell it from the time of delivery.
//
// libpurple refuses a roster push without an id (it answers it with a
// bad-request error and ignores it), so while Yak's pushes had none, as
// 1.4's, its tooltip said "Subscription: None" after a subscription had
// reached both; the program reports the tooltip's line now.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { buildCProgram } from './helpers/c-program.js';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { assertXml } from './helpers/xml-assert.js';
import { isMessage, login, NS_ROSTER, onlineUser, spoolRecords } from './helpers/session.js';
import type { Element } from '../src/xml/element.js';

const SOURCE = fileURLToPath(new URL('../../test/interop/libpurple_client.c', import.meta.url));
const PACKAGES = 'libpurple-dev libglib2.0-dev gcc pkg-config';
const USER = 'purplealice';
const PASSWORD = 'Calli0pe';
const RESOURCE = 'purple';
const NS_OFFLINE = 'jabber:x:offline';
/** A 1.4 era stamp for the stored message: the time libpurple shows must be this one. */
const OLD_STAMP = '20020315T12:00:00';
/** What libpurple adds to each presence: entity capabilities and (no) avatar. */
const CAPS =
  `<c xmlns='http://jabber.org/protocol/caps' node='http://pidgin.im/' hash='sha-1' ver='*'/>` +
  `<x xmlns='vcard-temp:x:update'><photo/></x>`;
// How long our side waits for each thing the program makes happen.
const STEP_MS = 10_000;

describe('libpurple registers, logs in, subscribes, chats and shows presence', { timeout: 60_000 }, () => {
  // No welcome message: the stored message libpurple gets is our client's.
  const suite = interopSuite();
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('against our own client', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'yak-libpurple-'));
    const binary = await buildCProgram(SOURCE, dir, ['purple', 'glib-2.0'], PACKAGES);
    const userDir = path.join(dir, 'purple');
    await mkdir(userDir);
    const { yak, log } = suite;
    const peer = await onlineUser(yak, 'purplepeer');
    suite.clients.push(peer);
    const alice = `${USER}@${yak.host}`;
    const aliceFull = `${alice}/${RESOURCE}`;

    const args = [String(yak.port), yak.host, USER, PASSWORD, peer.bare, userDir];
    const s = new LoggedScript('libpurple client', binary, args, 30_000, log);
    suite.script = s;
    const next = (what: string, match: string | ((e: Element) => boolean)): Promise<Element> =>
      s.during(what, peer.next(match, STEP_MS));
    const presence = (type?: string) => (e: Element) => e.name === 'presence' && e.attrs.type === type;

    // Registered, refused a second time: now the offline message, aged in the store.
    await s.expectLine('WAITING offline');
    peer.send(`<message to='${alice}' type='chat'><body>Left while you were out</body></message>`);
    await peer.sync();
    const box = (await spoolRecords(yak, USER))?.get(NS_OFFLINE);
    const kept = box?.getChild('message')?.getChild('x', 'jabber:x:delay');
    assert.ok(kept, `the message was not kept offline: ${box?.toString()}\n${s.transcript()}`);
    await yak.server.xdb.update(yak.host, USER, NS_OFFLINE, (stored) => {
      stored!.getChild('message')!.getChild('x', 'jabber:x:delay')!.attrs.stamp = OLD_STAMP;
      return stored;
    });
    s.tell('go');

    // The buddy added: the subscription request; the peer approves and asks back.
    const ask = await next('the subscription request', presence('subscribe'));
    assertXml(ask, `<presence type='subscribe' to='${peer.bare}' from='${alice}'/>`);
    peer.send(`<presence type='subscribed' to='${alice}'/>`);
    peer.send(`<presence type='subscribe' to='${alice}'/>`);

    // Authorized through libpurple's authorization request.
    const accepted = await next('the authorization', presence('subscribed'));
    assertXml(accepted, `<presence type='subscribed' to='${peer.bare}' from='${alice}'/>`);
    // Now subscribed, the peer is sent its presence: the saved status's message, stamped as 1.4 did.
    const initial = await next('its presence', presence(undefined));
    assertXml(
      initial,
      `<presence from='${aliceFull}' to='${peer.bare}'><status>Purple here</status><priority>1</priority>${CAPS}` +
        `<x xmlns='jabber:x:delay' from='${aliceFull}' stamp='*'/></presence>`,
    );

    const chat = await next('the chat message', isMessage);
    assertXml(
      chat,
      `<message type='chat' id='*' to='${peer.bare}' from='${aliceFull}'>` +
        `<active xmlns='http://jabber.org/protocol/chatstates'/><body>Hello from libpurple</body></message>`,
    );
    peer.send(`<message to='${aliceFull}' type='chat'><body>Hello from Yak</body></message>`);

    // Away with a message, as our client sees it; then the peer's own change.
    const away = await next('the away presence', (e) => e.name === 'presence' && e.getChildText('show') === 'away');
    assertXml(
      away,
      `<presence from='${aliceFull}' to='${peer.bare}'><show>away</show><status>Out to lunch</status>${CAPS}</presence>`,
    );
    peer.send(`<presence><show>xa</show><status>Gone fishing</status></presence>`);

    // Not raced against the program's end: it may exit before the server has told the peer.
    const gone = await peer.next(presence('unavailable'), STEP_MS);
    assertXml(gone, `<presence type='unavailable' from='${aliceFull}' to='${peer.bare}'><status>*</status></presence>`);

    const code = await s.exited;
    const transcript = s.transcript();
    assert.equal(code, 0, `the libpurple client must succeed\n${transcript}`);
    const lines = s.lines;
    const expected = [
      'REGISTER-FORM username,password,name,email',
      `REGISTERED ${USER}`,
      // libpurple words an error from its RFC 3920 condition element only;
      // Yak's, like 1.4's, has the code and a text, so it says "Unknown Error".
      'REGISTRATION-REFUSED code=409 notice=Registration Failed: Unknown Error',
      'WAITING offline',
      'SIGNED-ON',
      'ROSTER 0 buddies',
      `RECEIVED from=${peer.full} time=${OLD_STAMP} body=Left while you were out`,
      `BUDDY-ADDED ${peer.bare}`,
      `AUTHORIZED ${peer.bare}`,
      `BUDDY-ONLINE ${peer.bare} status=available message=`,
      `SENT to=${peer.bare} body=Hello from libpurple`,
      'STATUS-SET away',
      `BUDDY-STATUS ${peer.bare} status=extended_away message=Gone fishing`,
      // libpurple's own view, from the roster pushes (refused while they carried no id).
      `SUBSCRIPTION ${peer.bare} Both`,
      'LOGOUT',
      'SIGNED-OFF',
      'OK',
    ];
    for (const line of expected) assert.ok(lines.includes(line), `libpurple must report: ${line}\n${transcript}`);
    // The reply: shown at the time it came, not 2002's.
    const reply = lines.find((l) => l.startsWith(`RECEIVED from=${peer.full} time=`) && l.endsWith(' body=Hello from Yak'));
    assert.ok(reply, `libpurple must report the reply\n${transcript}`);
    assert.ok(!reply.includes(OLD_STAMP), reply);
    assert.equal(lines.at(-1), 'OK', transcript);

    // What the server saw: one digest login.
    const logins = log.lines.filter((l) => l.user === USER && (l.msg === 'login ok' || l.msg === 'login failed'));
    assert.deepEqual(
      logins.map((l) => `${String(l.msg)} ${String(l.method)}`),
      ['login ok digest'],
      transcript,
    );

    // Nothing else reached the peer.
    await peer.nothing(() => true, [], 'more than the program sent');

    // What the server kept, seen by our own client.
    assertXml(await peer.roster(), `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`);
    const check = await login(yak, USER, 'Check', PASSWORD);
    suite.clients.push(check);
    assertXml(
      await check.roster(),
      `<query xmlns='${NS_ROSTER}'><item jid='${peer.bare}' name='Yak Peer' subscription='both'><group>Friends</group></item></query>`,
    );
    const records = await spoolRecords(yak, USER);
    const registered = records?.get('jabber:iq:register');
    assert.ok(registered, 'the registration record');
    assert.equal(registered.getChildText('name'), 'Alice Purple', registered.toString());
    assert.equal(registered.getChildText('email'), 'alice@example.org', registered.toString());
    assert.equal(records?.get(NS_OFFLINE), undefined, 'the delivered message stayed on disk');
  });
});
