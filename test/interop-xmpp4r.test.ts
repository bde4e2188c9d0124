// Interop with xmpp4r (Ruby, Debian ruby-xmpp4r), a client library we did
// not write (DESIGN.md, "Tests we like"). test/interop/xmpp4r_client.rb
// drives xmpp4r's own code against an in-process Yak: in-band registration
// and its 409, non-SASL login with a wrong password (401), plain and digest,
// the Roster helper, an offline message delivered with jabber:x:delay, a
// subscription both ways with a user of our own client, a chat message each
// way, roster iqs forged by another account that the Roster helper would
// take as pushes (kept from it), and the Vcard helper. The script reports
// each step on a line of its own; our client checks the stanzas it got and
// what the server kept.
//
// xmpp4r needs no workaround: it sends version='1.0', reads Yak's stream
// features (iq-auth and iq-register, no SASL mechanisms) and so takes its
// non-SASL path, as it would with jabberd 1.4's header without a version.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { LoggedScript } from './helpers/child-script.js';
import { interopSuite } from './helpers/interop-suite.js';
import { assertXml } from './helpers/xml-assert.js';
import { isMessage, login, NS_ROSTER, onlineUser, STAMP } from './helpers/session.js';
import type { Element } from '../src/xml/element.js';

const SCRIPT = fileURLToPath(new URL('../../test/interop/xmpp4r_client.rb', import.meta.url));
const INSTALL_HINT = 'xmpp4r is not installed: install ruby-xmpp4r (apt-get install ruby-xmpp4r), as .ci/run does';
const USER = 'rubyalice';
const PASSWORD = 'Calli0pe';
// How long our side waits for each thing the script makes happen.
const STEP_MS = 10_000;

function probe(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 15_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stderr: stderr + (err && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

/**
 * The first Ruby that loads xmpp4r: $YAK_RUBY, then Debian's own
 * /usr/bin/ruby (an rbenv or rvm ruby first on PATH does not see Debian's
 * gems), then ruby. Fails, never skips, when none does.
 */
async function rubyWithXmpp4r(): Promise<string> {
  const candidates = [process.env.YAK_RUBY, '/usr/bin/ruby', 'ruby'].filter((r): r is string => !!r);
  const tried: string[] = [];
  for (const ruby of candidates) {
    const p = await probe(ruby, ['-e', 'require "xmpp4r"']);
    if (p.code === 0) return ruby;
    tried.push(`${ruby}: ${p.stderr.trim().split('\n')[0] || `exit ${p.code}`}`);
  }
  assert.fail(`${INSTALL_HINT}\n${tried.join('\n')}`);
}

describe('xmpp4r registers, logs in, subscribes, chats and sets its vCard', { timeout: 60_000 }, () => {
  // No welcome message: the stored message xmpp4r gets is our client's.
  const suite = interopSuite();

  test('against our own client', async () => {
    const ruby = await rubyWithXmpp4r();
    const { yak, log } = suite;
    const peer = await onlineUser(yak, 'yakpeer');
    suite.clients.push(peer);
    const alice = `${USER}@${yak.host}`;
    const aliceFull = `${alice}/xmpp4r`;

    const s = new LoggedScript('xmpp4r script', ruby, [SCRIPT, String(yak.port), yak.host, USER, PASSWORD, peer.bare], 30_000, log);
    suite.script = s;
    const next = (what: string, match: string | ((e: Element) => boolean)): Promise<Element> =>
      s.during(what, peer.next(match, STEP_MS));

    // Registered, refused twice, logged in with plain: now the offline message.
    await s.expectLine('WAITING offline');
    peer.send(`<message to='${alice}' type='chat'><body>Left while you were out</body></message>`);
    await peer.sync();
    s.tell('go');

    // xmpp4r's Roster helper: a roster set, then the subscription request.
    const ask = await next('the subscription request', (e) => e.name === 'presence' && e.attrs.type === 'subscribe');
    assertXml(ask, `<presence type='subscribe' to='${peer.bare}' from='${alice}'/>`);
    peer.send(`<presence type='subscribed' to='${alice}'/>`);
    peer.send(`<presence type='subscribe' to='${alice}'/>`);

    // Accepted by xmpp4r's subscription request callback.
    const accepted = await next('the subscription answer', (e) => e.name === 'presence' && e.attrs.type === 'subscribed');
    assertXml(accepted, `<presence type='subscribed' to='${peer.bare}' from='${alice}'/>`);

    const chat = await next('the chat message', isMessage);
    assertXml(chat, `<message to='${peer.bare}' type='chat' from='${aliceFull}'><body>Hello from xmpp4r</body></message>`);
    peer.send(`<message to='${aliceFull}' type='chat'><body>Hello from Yak</body></message>`);

    // Roster iqs from another account, each of which xmpp4r's Roster helper takes as a push whatever its id or type.
    await s.expectLine('WAITING forged');
    const items = (p: string): string => `<${p}item jid='forged@${yak.host}' name='Your Bank' subscription='both'/><${p}item jid='${peer.bare}' subscription='remove'/>`;
    for (const query of [`<query xmlns='${NS_ROSTER}'>${items('')}</query>`, `<r:query xmlns:r='${NS_ROSTER}'>${items('r:')}</r:query>`]) {
      for (const type of ['result', 'error']) peer.send(`<iq type='${type}' id='roster_1' to='${aliceFull}'>${query}</iq>`);
      const refused = await peer.request(`<iq type='set' to='${aliceFull}'>${query}</iq>`);
      assert.equal(refused.getChild('error')?.attrs.code, '403', refused.toString());
    }
    peer.send(`<message to='${aliceFull}' type='chat'><body>After the forgeries</body></message>`);

    const code = await s.exited;
    const transcript = s.transcript();
    assert.equal(code, 0, `the xmpp4r script must succeed\n${transcript}`);
    const lines = s.lines;
    const expected = [
      `REGISTERED ${USER}`,
      'CONFLICT 409 Username Not Available',
      'AUTH digest wrong-password 401 Unauthorized',
      'AUTH client-auth wrong-password ClientAuthenticationFailure',
      'AUTH plain ok',
      'WAITING offline',
      'AUTH digest ok',
      'ROSTER 0 items',
      `ACCEPTED ${peer.bare}`,
      `SUBSCRIPTION ${peer.bare} both`,
      `PRESENCE ${peer.full} available`,
      `RECEIVED from=${peer.full} type=chat body=Hello from Yak`,
      `ROSTER-AFTER ${peer.bare}(both) then After the forgeries`,
      'VCARD FN=Alice Ruby NICKNAME=rubyist',
      'OK',
    ];
    for (const line of expected) assert.ok(lines.includes(line), `xmpp4r must report: ${line}\n${transcript}`);
    const offline = lines.find((l) => l.startsWith('OFFLINE '));
    assert.ok(offline, `xmpp4r must report the offline message\n${transcript}`);
    const m = /^OFFLINE from=(\S+) type=(\S+) delay-from=(\S+) stamp=(\S+) text=(.*) body=(.*)$/.exec(offline);
    assert.ok(m, offline);
    assert.deepEqual(
      { from: m[1], type: m[2], delayFrom: m[3], text: m[5], body: m[6] },
      { from: peer.full, type: 'chat', delayFrom: alice, text: 'Offline Storage', body: 'Left while you were out' },
    );
    assert.match(m[4]!, STAMP);

    // What the server saw: the methods xmpp4r used, from its side.
    const logins = log.lines.filter((l) => l.user === USER && (l.msg === 'login ok' || l.msg === 'login failed'));
    assert.deepEqual(
      logins.map((l) => `${String(l.msg)} ${String(l.method)}`),
      ['login failed digest', 'login failed digest', 'login ok plain', 'login ok digest'],
      transcript,
    );

    // What the server kept, seen by our own client.
    assertXml(await peer.roster(), `<query xmlns='${NS_ROSTER}'><item jid='${alice}' subscription='both'/></query>`);
    const check = await login(yak, USER, 'Check', PASSWORD);
    suite.clients.push(check);
    assertXml(
      await check.roster(),
      `<query xmlns='${NS_ROSTER}'><item jid='${peer.bare}' name='Yak Peer' subscription='both'/></query>`,
    );
    const card = await peer.request(`<iq type='get' to='${alice}'><vCard xmlns='vcard-temp'/></iq>`);
    assertXml(
      card,
      `<iq type='result' id='*' from='${alice}' to='${peer.full}'><vCard xmlns='vcard-temp'><FN>Alice Ruby</FN><NICKNAME>rubyist</NICKNAME></vCard></iq>`,
    );
  });
});
