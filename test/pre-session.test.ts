// SPEC section 2: before a session exists only jabber:iq:register and
// jabber:iq:auth are served; everything else waits, in order, and is
// processed as the session's once login completes, or dropped with the
// connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientStream } from '../src/client/client-stream.js';
import type { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { authIq, loginUser, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';

const browse = (id: string, to: string): string => `<iq type='get' id='${id}' to='${to}'><query xmlns='jabber:iq:browse'/></iq>`;
const FORM_GET = (id: string, attrs = ''): string => `<iq type='get' id='${id}'${attrs}><query xmlns='jabber:iq:register'/></iq>`;

/** The next stanza other than presence (presence is mod_presence's business, not this file's). */
function nextNonPresence(c: ClientStream): Promise<Element> {
  return c.next((e) => e.name !== 'presence');
}

describe('before a session exists', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
    await registerUser(yak, 'dj', 'secret', { name: 'DJ Adams', email: 'dj@localhost' });
    await registerUser(yak, 'sabine', 'pw', { name: 'Sabine' });
  });
  after(() => yak.stop());

  test('only register and auth are served; the rest is processed in order after login', async () => {
    const c = await yak.connect();
    c.sendRaw(browse('b1', 'sabine@localhost'));
    c.sendRaw("<iq type='get' id='u1' to='localhost'><query xmlns='urn:yak:test:nothing'/></iq>");
    c.sendRaw(browse('b2', 'dj@localhost'));
    c.sendRaw(FORM_GET('form'));
    // Nothing answered the three queued iqs before the form (replies go out in handling order).
    assert.equal((await c.next()).attrs.id, 'form');
    c.send(authIq('dj', 'Work', { password: 'secret' }, 'login'));
    assertXml(await c.next(), "<iq type='result' id='login'/>");
    const me = 'dj@localhost/Work';
    assertXml(
      await nextNonPresence(c),
      `<iq type='result' id='b1' from='sabine@localhost' to='${me}'><user xmlns='jabber:iq:browse' jid='sabine@localhost' name='Sabine'/></iq>`,
    );
    assertXml(
      await nextNonPresence(c),
      `<iq type='error' id='u1' from='localhost' to='${me}'><query xmlns='urn:yak:test:nothing'/><error code='503' type='cancel'>*</error></iq>`,
    );
    assertXml(
      await nextNonPresence(c),
      // Browsing yourself lists your connected resources, as in 1.4.
      `<iq type='result' id='b2' from='dj@localhost' to='${me}'><user xmlns='jabber:iq:browse' jid='dj@localhost' name='DJ Adams'>` +
        `<user type='client' jid='${me}'/></user></iq>`,
    );
    await c.close();
  });

  test('a queued message goes out after login, from the new session', async () => {
    const sabine = await loginUser(yak, 'sabine', 'pw', 'Work');
    const c = await yak.connect();
    c.sendRaw("<message to='sabine@localhost/Work' id='m1'><body>sent before login</body></message>");
    assert.equal((await c.request(authIq('dj', 'Queue', { password: 'secret' }))).attrs.type, 'result');
    assertXml(
      await sabine.next((e) => e.name === 'message'),
      "<message to='sabine@localhost/Work' id='m1' from='dj@localhost/Queue'><body>sent before login</body></message>",
    );
    await c.close();
    await sabine.close();
  });

  test('requests pipelined behind the login are handled in the order sent, served namespaces or not', async () => {
    const c = await yak.connect();
    // One write: the login has not been answered when the rest arrives.
    // The register get is a namespace served before login, the version
    // and browse gets are not (they wait in the pre-login queue): after
    // the login, all three are the session's and go in the order sent.
    c.sendRaw(
      authIq('dj', 'Pipe', { password: 'secret' }, 'login').toString() +
        FORM_GET('p1', " to='localhost'") +
        "<iq type='get' id='p2' to='localhost'><query xmlns='jabber:iq:version'/></iq>" +
        FORM_GET('p3', " to='localhost'") +
        browse('p4', 'sabine@localhost'),
    );
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await nextNonPresence(c)).attrs.id!);
    assert.deepEqual(ids, ['login', 'p1', 'p2', 'p3', 'p4']);
    await c.close();
  });

  test('replies carry no to/from and keep the id (or have none)', async () => {
    const c = await yak.connect();
    const spoof = " to='localhost' from='sabine@localhost/Work'";
    const form = await c.request(parseXml(FORM_GET('r1', spoof)));
    assert.deepEqual(Object.keys(form.attrs).sort(), ['id', 'type']);
    assert.equal(form.attrs.id, 'r1');
    const auth = await c.request(parseXml(`<iq type='get' id='a1'${spoof}><query xmlns='jabber:iq:auth'><username>dj</username></query></iq>`));
    assert.deepEqual(Object.keys(auth.attrs).sort(), ['id', 'type']);
    const err = await c.request(parseXml(`<iq type='set' id='e1'${spoof}><query xmlns='jabber:iq:register'><username>x</username></query></iq>`));
    assertXml(err, "<iq type='error' id='e1'><query xmlns='jabber:iq:register'><username>x</username></query><error code='406' type='modify'>*</error></iq>");
    const authErr = await c.request(parseXml(`<iq type='get' id='e2'${spoof}><query xmlns='jabber:iq:auth'><username>nobody</username></query></iq>`));
    assertXml(authErr, "<iq type='error' id='e2'><query xmlns='jabber:iq:auth'><username>nobody</username></query><error code='401' type='auth'>*</error></iq>");
    c.sendRaw("<iq type='get'><query xmlns='jabber:iq:register'/></iq>");
    assert.deepEqual(Object.keys((await c.next()).attrs), ['type']);
    await c.close();
  });

  test('an iq in another namespace, or a result, is not served before login', async () => {
    const c = await yak.connect();
    // Not requests, or not one of the two namespaces: all wait (and are dropped with the connection).
    c.sendRaw("<iq type='result' id='n1'><query xmlns='jabber:iq:register'/></iq>");
    c.sendRaw("<iq type='get' id='n2'><query xmlns='jabber:iq:roster'/></iq>");
    c.sendRaw("<message id='n3'><query xmlns='jabber:iq:auth'/></message>");
    c.sendRaw(FORM_GET('served'));
    assert.equal((await c.next()).attrs.id, 'served');
    await c.close();
  });

  test('a register or auth request of no type or another type is answered 400 at once, not queued for a login', async () => {
    const c = await yak.connect();
    const cases = [
      ['t1', " type='GET'", 'jabber:iq:register'],
      ['t2', '', 'jabber:iq:register'],
      ['t3', " type='foo'", 'jabber:iq:auth'],
      ['t4', '', 'jabber:iq:auth'],
    ];
    for (const [id, type, ns] of cases) {
      c.sendRaw(`<iq id='${id}'${type}><query xmlns='${ns}'/></iq>`);
      assertXml(await c.next(), `<iq type='error' id='${id}'><query xmlns='${ns}'/><error code='400' type='modify'>Bad Request</error></iq>`);
    }
    // Nothing of them waits for a login, which still works.
    assert.equal((await c.request(authIq('dj', 'Typed', { password: 'secret' }))).attrs.type, 'result');
    c.sendRaw(FORM_GET('after'));
    assert.equal((await nextNonPresence(c)).attrs.id, 'after');
    await c.close();
  });

  test('queued stanzas are dropped when the connection closes first', async () => {
    const sabine = await loginUser(yak, 'sabine', 'pw', 'Drop');
    const early = await yak.connect();
    early.sendRaw("<message to='sabine@localhost/Drop' id='lost'><body>never</body></message>");
    // A failed login does not release them either.
    const refused = await early.request(authIq('dj', 'Early', { password: 'wrong' }));
    assert.equal(refused.getChild('error')?.attrs.code, '401');
    await early.close();
    // The closed connection can no longer log in; anything it queued would have come before this.
    const dj = await loginUser(yak, 'dj', 'secret', 'Later');
    dj.sendRaw("<message to='sabine@localhost/Drop' id='marker'><body>after</body></message>");
    assert.equal((await sabine.next((e) => e.name === 'message')).attrs.id, 'marker');
    await dj.close();
    await sabine.close();
  });
});
