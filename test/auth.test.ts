// SPEC section 5: jabber:iq:auth get and set with plain, digest and 0k
// credentials, the error table, the 0k chain's life, a config without
// mod_auth_plain, and a second login on the same resource.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ClientStream } from '../src/client/client-stream.js';
import { digestFor, sha1hex, zerokHash } from '../src/util/hash.js';
import type { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { NS_LAST, type Xdb } from '../src/xdb/xdb.js';
import { methodOf } from '../src/jsm/auth.js';
import { authIq, BUNDLED_CONFIG, loginUser, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { captureLog } from './helpers/log-capture.js';
import { holdCalls, latch } from './helpers/latch.js';
import { assertXml } from './helpers/xml-assert.js';
import { assertStreamErrorElement, clientHeader, errorReplyXml, noLoginThrottle, prng, RawClient, readSpool } from './helpers/transcript.js';

type Cred = { password?: string; digest?: string; hash?: string };

const authGet = (user: string | undefined, id = 'g'): Element =>
  parseXml(`<iq type='get' id='${id}'><query xmlns='jabber:iq:auth'>${user === undefined ? '' : `<username>${user}</username>`}</query></iq>`);

/** The markers the server announces for `user` (the query's children after <username>). */
async function announced(yak: TestYak, user: string): Promise<Element> {
  const c = await yak.connect();
  try {
    const reply = await c.request(authGet(user));
    assert.equal(reply.attrs.type, 'result', reply.toString());
    return reply.elements[0]!;
  } finally {
    c.socket.destroy();
  }
}

/** One login attempt on a fresh connection; the reply type ('result' or 'error' with code). */
async function attempt(yak: TestYak, user: string, cred: Cred | ((c: ClientStream) => Cred)): Promise<string> {
  const c = await yak.connect();
  try {
    const reply = await c.request(authIq(user, 'Try', typeof cred === 'function' ? cred(c) : cred));
    return reply.attrs.type === 'result' ? 'result' : `error ${reply.getChild('error')?.attrs.code}`;
  } finally {
    c.socket.destroy();
  }
}

async function tokenOf(yak: TestYak, user: string): Promise<string> {
  return (await readSpool(yak.spool, yak.host, user))!.records.get('jabber:iq:auth:0k')!.getChildText('token')!;
}

describe('jabber:iq:auth with the bundled config', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: noLoginThrottle });
    await registerUser(yak, 'dj', 'secret');
  });
  after(() => yak.stop());

  test('get: username, each marker in <load> order, <resource/> last', async () => {
    const c = await yak.connect();
    const token = await tokenOf(yak, 'dj');
    const query = `<query xmlns='jabber:iq:auth'><username>dj</username><password/><digest/><sequence>499</sequence><token>${token}</token><resource/></query>`;
    assertXml(await c.request(authGet('dj', 'auth_1')), `<iq type='result' id='auth_1'>${query}</iq>`);
    c.sendRaw("<iq type='get'><query xmlns='jabber:iq:auth'><username>dj</username></query></iq>");
    assertXml(await c.next(), `<iq type='result'>${query}</iq>`);
    await c.close();
  });

  test('error table: 406 without username or resource (or one that looks empty), 401 for unknown users and bad credentials', async () => {
    const c = await yak.connect();
    const cases: [string, string, number, string][] = [
      ['get', '', 406, 'modify'],
      ['get', '<username/>', 406, 'modify'],
      ['get', '<username>nobody</username>', 401, 'auth'],
      ['set', '<password>secret</password><resource>Work</resource>', 406, 'modify'],
      ['set', '<username>dj</username><password>secret</password>', 406, 'modify'],
      ['set', '<username>dj</username><password>secret</password><resource/>', 406, 'modify'],
      // A resource of invisible characters only (a bidi mark, a Hangul filler) would look empty.
      ['set', '<username>dj</username><password>secret</password><resource>&#x200E;</resource>', 406, 'modify'],
      ['set', '<username>dj</username><password>secret</password><resource>&#x3164;</resource>', 406, 'modify'],
      ['set', '<username>nobody</username><password>secret</password><resource>Work</resource>', 401, 'auth'],
      ['set', '<username>dj</username><password>Secret</password><resource>Work</resource>', 401, 'auth'],
      ['set', '<username>dj</username><password/><resource>Work</resource>', 401, 'auth'],
      ['set', '<username>dj</username><resource>Work</resource>', 401, 'auth'],
      ['set', `<username>dj</username><digest>${'0'.repeat(40)}</digest><resource>Work</resource>`, 401, 'auth'],
      ['set', `<username>dj</username><hash>${'0'.repeat(40)}</hash><resource>Work</resource>`, 401, 'auth'],
    ];
    for (const [type, inside, code, errType] of cases) {
      const query = `<query xmlns='jabber:iq:auth'>${inside}</query>`;
      const reply = await c.request(parseXml(`<iq type='${type}' id='e'>${query}</iq>`));
      assertXml(reply, errorReplyXml(" id='e'", query, code, errType, code === 406 ? 'Not Acceptable' : 'Unauthorized'));
    }
    // Still not logged in: a login works on the same connection.
    assertXml(await c.request(authIq('dj', 'Work', { password: 'secret' }, 'ok')), "<iq type='result' id='ok'/>");
    await c.close();
  });

  test('plain: the result echoes the id, or pthsock_client_auth_ID; the session exists', async () => {
    const c = await yak.connect();
    c.sendRaw(authIq('DJ', 'Plain', { password: 'wrong' }).toString().replace(" id='auth'", ''));
    const refused = await c.next();
    assert.equal(refused.attrs.id, 'pthsock_client_auth_ID');
    assert.equal(refused.getChild('error')?.attrs.code, '401');
    c.sendRaw(authIq('DJ', 'Plain', { password: 'secret' }).toString().replace(" id='auth'", ''));
    assertXml(await c.next(), "<iq type='result' id='pthsock_client_auth_ID'/>");
    const mine = await c.request(parseXml("<iq type='get' id='me' to='localhost'><query xmlns='jabber:iq:register'/></iq>"));
    assert.equal(mine.attrs.to, 'dj@localhost/Plain');
    await c.close();
    // Spaces around the username are trimmed, as registration trims them.
    assert.equal(await attempt(yak, ' dj ', { password: 'secret' }), 'result');
    // XML white space only: a no-break or ideographic space is part of the name, which nodeprep refuses.
    assert.equal(await attempt(yak, '\u00a0dj\u3000', { password: 'secret' }), 'error 406');
    // A resource prepared (NFKC makes those spaces plain ones) is trimmed again: never blank, never padded.
    for (const [resource, outcome] of [['\u00a0', 'error 406'], ['\u3000\u3000', 'error 406'], ['Pad\u00a0', 'result']] as const) {
      const c = await yak.connect();
      try {
        const reply = await c.request(authIq('dj', resource, { password: 'secret' }));
        assert.equal(reply.attrs.type === 'result' ? 'result' : `error ${reply.getChild('error')?.attrs.code}`, outcome, JSON.stringify(resource));
        if (outcome === 'result') assert.equal((await c.request(parseXml("<iq type='get' id='me2' to='localhost'><query xmlns='jabber:iq:register'/></iq>"))).attrs.to, 'dj@localhost/Pad');
      } finally {
        c.socket.destroy();
      }
    }
  });

  test('digest: sha1(stream id + password), any case; another stream id is refused', async () => {
    assert.equal(digestFor('3EE948B0', 'Calli0pe'), '48fc78be9ec8f86d8ce1c39c320c97c21d62334d');
    assert.equal(await attempt(yak, 'dj', (c) => ({ digest: digestFor(c.streamId, 'secret') })), 'result');
    assert.equal(await attempt(yak, 'dj', (c) => ({ digest: digestFor(c.streamId, 'secret').toUpperCase() })), 'result');
    assert.equal(await attempt(yak, 'dj', (c) => ({ digest: digestFor(c.streamId, 'Secret') })), 'error 401');
    const other = await yak.connect();
    assert.equal(await attempt(yak, 'dj', { digest: digestFor(other.streamId, 'secret') }), 'error 401');
    other.socket.destroy();
  });

  test('0k: sequence N-1 announced, each hash accepted once, the sequence goes down', async () => {
    await registerUser(yak, 'zk', 'spinach');
    const token = await tokenOf(yak, 'zk');
    assert.equal((await announced(yak, 'zk')).getChildText('sequence'), '499');
    assert.equal(await attempt(yak, 'zk', { hash: zerokHash('wrong', token, 499) }), 'error 401');
    const h499 = zerokHash('spinach', token, 499);
    assert.equal(await attempt(yak, 'zk', { hash: h499 }), 'result');
    assert.equal(await attempt(yak, 'zk', { hash: h499 }), 'error 401');
    const next = await announced(yak, 'zk');
    assert.equal(next.getChildText('sequence'), '498');
    assert.equal(next.getChildText('token'), token);
    assert.equal(await attempt(yak, 'zk', { hash: zerokHash('spinach', token, 498).toUpperCase() }), 'result');
    const stored = (await readSpool(yak.spool, yak.host, 'zk'))!.records.get('jabber:iq:auth:0k')!;
    assert.equal(stored.getChildText('sequence'), '498');
    assert.equal(stored.getChildText('hash'), zerokHash('spinach', token, 498));
  });

  test("same user and resource again: the old stream gets 'Replaced by new connection', then Disconnected", async () => {
    const old = await loginUser(yak, 'dj', 'secret', 'Work');
    old.keepRaw = true;
    const other = await loginUser(yak, 'dj', 'secret', 'Home');
    const fresh = await yak.connect();
    assertXml(await fresh.request(authIq('dj', 'Work', { password: 'secret' }, 'again')), "<iq type='result' id='again'/>");
    const first = await old.next((e) => e.name !== 'presence' || e.attrs.type === 'unavailable');
    assertXml(first, "<presence type='unavailable' to='dj@localhost/Work' from='*'><status>Replaced by new connection</status></presence>");
    assertStreamErrorElement(await old.next(), 'Disconnected', 'conflict');
    await old.whenClosed();
    assert.ok(old.received.endsWith('</stream:stream>'), old.received);
    const mine = await fresh.request(parseXml("<iq type='get' id='me' to='localhost'><query xmlns='jabber:iq:register'/></iq>"));
    assert.equal(mine.attrs.to, 'dj@localhost/Work');
    assert.equal(other.closed, false, 'another resource is not touched');
    await fresh.close();
    await other.close();
  });

  test('a login whose connection dropped while its password was checked does not replace the session on its resource', async () => {
    await registerUser(yak, 'stays', 'secret');
    const live = await loginUser(yak, 'stays', 'secret', 'Work');
    live.keepRaw = true;
    const sockets = (): number => (yak.server as unknown as { sockets: Set<unknown> }).sockets.size;
    const hold = holdCalls(yak.server.xdb as Xdb, 'getSome', (_host, user) => user === 'stays');
    try {
      const gone = await yak.connect();
      gone.send(authIq('stays', 'Work', { password: 'secret' }, 'late'));
      await hold.reached;
      const before = sockets();
      // Reset, not ended: a connection whose reading is paused (a request in hand) hears of an end only once it reads again.
      gone.socket.resetAndDestroy();
      for (let i = 0; i < 500 && sockets() === before; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sockets(), before - 1, 'the server never saw the connection drop');
      hold.release();
      await hold.results[0];
      // The live session goes on, told nothing.
      const reply = await live.request(parseXml("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>"));
      assert.deepEqual([reply.attrs.type, reply.attrs.to], ['result', 'stays@localhost/Work']);
      assert.equal(live.closed, false);
      assert.doesNotMatch(live.received, /Replaced by new connection/);
      assert.deepEqual(yak.server.jsm.sessions.of('stays@localhost').map((s) => s.jid.toString()), ['stays@localhost/Work']);
    } finally {
      hold.release();
      hold.restore();
      await live.close();
    }
  });

  test('logins with one resource at once: each replaces the one before it, and only the newest keeps a session', async () => {
    await registerUser(yak, 'twin', 'secret');
    const bare = 'twin@localhost';
    const a = await loginUser(yak, 'twin', 'secret', 'Same');
    // An available session takes a while to end (its logout time is
    // written), out of the registry all along: that is the window.
    a.send(parseXml('<presence/>'));
    await a.request(parseXml("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>"));
    const jsm = yak.server.jsm;
    const hold = holdCalls(yak.server.xdb as Xdb, 'setSoon', (_host, user, records) => user === 'twin' && NS_LAST in records);
    const open = jsm.openSession;
    const secondLogin = latch();
    let logins = 0;
    jsm.openSession = (...args) => {
      const opening = open.apply(jsm, args);
      if (args[1] === 'twin' && ++logins === 2) secondLogin.open();
      return opening;
    };
    try {
      const b = await yak.connect();
      const c = await yak.connect();
      b.send(authIq('twin', 'Same', { password: 'secret' }, 'b'));
      await hold.reached; // b's login is ending a's session
      const cLogin = c.request(authIq('twin', 'Same', { password: 'secret' }, 'c'));
      await secondLogin.promise; // c's login asks for its session while a's still ends
      hold.release();
      assertXml(await cLogin, "<iq type='result' id='c'/>");
      // The newest wins: b's session, opened once a's had ended, is replaced by c's in turn.
      for (const [name, old] of [['a', a], ['b', b]] as const) {
        const gone = await old.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable').catch(() => {
          assert.fail(`${name}'s session was not replaced; sessions: ${jsm.sessions.of(bare).map((s) => s.jid.toString()).join(', ')}`);
        });
        assertXml(gone, "<presence type='unavailable' to='twin@localhost/Same' from='twin@localhost/Same'><status>Replaced by new connection</status></presence>");
        await old.whenClosed();
        assertStreamErrorElement(old.streamError!, 'Disconnected', 'conflict');
      }
      assert.deepEqual(jsm.sessions.of(bare).map((s) => s.jid.toString()), [`${bare}/Same`]);
      // Replies to the full JID reach the one session left.
      const version = await c.request(parseXml("<iq type='get' id='v2' to='localhost'><query xmlns='jabber:iq:version'/></iq>"));
      assert.deepEqual([version.attrs.type, version.attrs.to], ['result', `${bare}/Same`]);
      await c.close();
    } finally {
      jsm.openSession = open;
      hold.restore();
      hold.release();
    }
  });
});

test('0k: a spent chain is no longer offered, and a plain login regenerates it', async () => {
  const yak = await startYak({
    tweak: (cfg) => {
      noLoginThrottle(cfg);
      cfg.jsm.zerokSequences = 2;
    },
  });
  try {
    await registerUser(yak, 'spent', 'pw');
    const token = await tokenOf(yak, 'spent');
    assertXml(await announced(yak, 'spent'), `<query xmlns='jabber:iq:auth'><username>spent</username><password/><digest/><sequence>1</sequence><token>${token}</token><resource/></query>`);
    assert.equal(await attempt(yak, 'spent', { hash: zerokHash('pw', token, 1) }), 'result');
    assert.equal((await announced(yak, 'spent')).getChildText('sequence'), '0');
    assert.equal(await attempt(yak, 'spent', { hash: zerokHash('pw', token, 0) }), 'result');
    assertXml(await announced(yak, 'spent'), "<query xmlns='jabber:iq:auth'><username>spent</username><password/><digest/><resource/></query>");
    // Nothing left to prove with: even the last hash again is refused.
    assert.equal(await attempt(yak, 'spent', { hash: zerokHash('pw', token, 0) }), 'error 401');
    assert.equal(await attempt(yak, 'spent', { password: 'pw' }), 'result');
    const renewed = await announced(yak, 'spent');
    assert.equal(renewed.getChildText('sequence'), '1');
    assert.equal(await attempt(yak, 'spent', { hash: zerokHash('pw', renewed.getChildText('token')!, 1) }), 'result');
  } finally {
    await yak.stop();
  }
});

test('0k: a plain login regenerates the chain only once it is down to a tenth of <sequences>, not at every login', async () => {
  const yak = await startYak({
    tweak: (cfg) => {
      noLoginThrottle(cfg);
      cfg.jsm.zerokSequences = 10;
    },
  });
  try {
    await registerUser(yak, 'tenth', 'pw');
    const token = await tokenOf(yak, 'tenth');
    // Spend the chain down to 2 (announced 9, 8, ... 2).
    for (let seq = 9; seq >= 2; seq--) assert.equal(await attempt(yak, 'tenth', { hash: zerokHash('pw', token, seq) }), 'result', `sequence ${seq}`);
    // Stored 2 > 10 / 10: a plain login keeps the chain (no durable write per login).
    assert.equal(await attempt(yak, 'tenth', { password: 'pw' }), 'result');
    const kept = await announced(yak, 'tenth');
    assert.equal(kept.getChildText('token'), token);
    assert.equal(kept.getChildText('sequence'), '1');
    // Stored 1 = 10 / 10: the next plain login renews it.
    assert.equal(await attempt(yak, 'tenth', { hash: zerokHash('pw', token, 1) }), 'result');
    assert.equal(await attempt(yak, 'tenth', { password: 'pw' }), 'result');
    const renewed = await announced(yak, 'tenth');
    assert.notEqual(renewed.getChildText('token'), token);
    assert.equal(renewed.getChildText('sequence'), '9');
    assert.equal(await attempt(yak, 'tenth', { hash: zerokHash('pw', renewed.getChildText('token')!, 9) }), 'result');
  } finally {
    await yak.stop();
  }
});

test('0k: a stored chain is read as 1.4 may have left it: an uppercase hash verifies; one at 0 or below is neither offered nor accepted', async () => {
  const yak = await startYak({ tweak: noLoginThrottle });
  const chain = (hash: string, token: string, sequence: string): Element =>
    parseXml(`<zerok xmlns='jabber:iq:auth:0k'><hash>${hash}</hash><token>${token}</token><sequence>${sequence}</sequence></zerok>`);
  try {
    await registerUser(yak, 'upper', 'pw');
    await yak.server.xdb.set(yak.host, 'upper', { 'jabber:iq:auth:0k': chain(zerokHash('pw', 'ABCDE', 5).toUpperCase(), 'ABCDE', '5') });
    assert.equal((await announced(yak, 'upper')).getChildText('sequence'), '4');
    assert.equal(await attempt(yak, 'upper', { hash: zerokHash('pw', 'ABCDE', 4) }), 'result');

    // A spent chain whose token has no letters: the seed's own preimage,
    // sha1hex(password) + token, would hash to the stored value.
    await registerUser(yak, 'zero', 'pw');
    await yak.server.xdb.set(yak.host, 'zero', { 'jabber:iq:auth:0k': chain(zerokHash('pw', '12345678', 0), '12345678', '0') });
    assert.equal(await attempt(yak, 'zero', { hash: sha1hex('pw') + '12345678' }), 'error 401');
    assertXml(await announced(yak, 'zero'), "<query xmlns='jabber:iq:auth'><username>zero</username><password/><digest/><resource/></query>");
    // A negative sequence (hand-edited) is no chain at all.
    await yak.server.xdb.set(yak.host, 'zero', { 'jabber:iq:auth:0k': chain(zerokHash('pw', '12345678', 0), '12345678', '-1') });
    assertXml(await announced(yak, 'zero'), "<query xmlns='jabber:iq:auth'><username>zero</username><password/><digest/><resource/></query>");
    // Digits only, as the server writes them: hex (1.4's atoi read it as 0), an
    // exponent, or more than a double holds exactly (the announced N-1 came out
    // rounded, a chain no client could ever use) is none either.
    for (const sequence of ['0x1F4', '5e2', '9007199254740993']) {
      await yak.server.xdb.set(yak.host, 'zero', { 'jabber:iq:auth:0k': chain(zerokHash('pw', '12345678', 500), '12345678', sequence) });
      assertXml(await announced(yak, 'zero'), "<query xmlns='jabber:iq:auth'><username>zero</username><password/><digest/><resource/></query>");
    }
  } finally {
    await yak.stop();
  }
});

test("0k: the book's vector end to end: stored 401 and its hash, token ABCDE; 400 announced, the book's hash logs in and is stored", async () => {
  const yak = await startYak({ tweak: noLoginThrottle });
  try {
    await registerUser(yak, 'book', 'secret');
    await yak.server.xdb.set(yak.host, 'book', {
      'jabber:iq:auth:0k': parseXml(
        "<zerok xmlns='jabber:iq:auth:0k'><hash>3b0bd4a08c8338d422a1a91b3f36386a2696e8ca</hash><token>ABCDE</token><sequence>401</sequence></zerok>",
      ),
    });
    const query = await announced(yak, 'book');
    assert.equal(query.getChildText('sequence'), '400');
    assert.equal(query.getChildText('token'), 'ABCDE');
    assert.equal(await attempt(yak, 'book', { hash: '01945b9b2c3207c4cce5dc99e50605779f570077' }), 'result');
    const stored = (await readSpool(yak.spool, yak.host, 'book'))!.records.get('jabber:iq:auth:0k')!;
    assertXml(
      stored,
      "<zerok xmlns='jabber:iq:auth:0k' xdbns='jabber:iq:auth:0k'><hash>01945b9b2c3207c4cce5dc99e50605779f570077</hash><token>ABCDE</token><sequence>400</sequence></zerok>",
    );
    assert.equal((await announced(yak, 'book')).getChildText('sequence'), '399');
  } finally {
    await yak.stop();
  }
});

test('markers follow the <load> order', async () => {
  const yak = await startYak({
    tweak: (cfg) => {
      const mods = cfg.jsm.modules.filter((m) => m !== 'mod_auth_0k');
      mods.splice(mods.indexOf('mod_auth_plain'), 0, 'mod_auth_0k');
      cfg.jsm.modules = mods;
    },
  });
  try {
    await registerUser(yak, 'order', 'pw');
    assertXml(await announced(yak, 'order'), "<query xmlns='jabber:iq:auth'><username>order</username><sequence>499</sequence><token>*</token><password/><digest/><resource/></query>");
  } finally {
    await yak.stop();
  }
});

describe('without mod_auth_plain', () => {
  const PASSWORD = 'Plaintext-Never-Stored';
  let spool: string;
  let yak: TestYak;
  before(async () => {
    spool = await mkdtemp(path.join(os.tmpdir(), 'yak-noplain-'));
    const text = readFileSync(BUNDLED_CONFIG, 'utf8');
    const configText = text.split('\n').filter((l) => !l.includes('<mod_auth_plain>')).join('\n');
    assert.notEqual(configText, text);
    yak = await startYak({ configText, spool, tweak: noLoginThrottle });
    await registerUser(yak, 'np', PASSWORD);
  });
  after(async () => {
    await yak.stop();
    await rm(spool, { recursive: true, force: true });
  });

  test('no <password/> nor <digest/> offered; plaintext and digest refused; 0k works', async () => {
    const token = await tokenOf(yak, 'np');
    assertXml(await announced(yak, 'np'), `<query xmlns='jabber:iq:auth'><username>np</username><sequence>499</sequence><token>${token}</token><resource/></query>`);
    assert.equal(await attempt(yak, 'np', { password: PASSWORD }), 'error 401');
    assert.equal(await attempt(yak, 'np', (c) => ({ digest: digestFor(c.streamId, PASSWORD) })), 'error 401');
    assert.equal(await attempt(yak, 'np', { hash: zerokHash(PASSWORD, token, 499) }), 'result');
  });

  test('a plaintext kept from before mod_auth_plain was unloaded logs in by no method: digest is neither offered nor taken', async () => {
    await yak.server.xdb.create(yak.host, 'kept', { 'jabber:iq:auth': parseXml("<password xmlns='jabber:iq:auth'>Kept-Secret</password>") });
    assertXml(await announced(yak, 'kept'), "<query xmlns='jabber:iq:auth'><username>kept</username><resource/></query>");
    assert.equal(await attempt(yak, 'kept', { password: 'Kept-Secret' }), 'error 401');
    assert.equal(await attempt(yak, 'kept', (c) => ({ digest: digestFor(c.streamId, 'Kept-Secret') })), 'error 401');
    // --check and the start's log say why digest does nothing here.
    assert.ok(
      yak.config.warnings.includes('<load>: mod_auth_digest without mod_auth_plain does nothing: digest needs the plaintext password, which only mod_auth_plain stores'),
      yak.config.warnings.join('\n'),
    );
  });

  test('the plaintext is stored nowhere, also after a password change', async () => {
    const check = async (secret: string): Promise<void> => {
      const file = (await readSpool(spool, yak.host, 'np'))!;
      assertXml(file.records.get('jabber:iq:auth')!, "<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'/>");
      assert.ok(!file.text.includes(secret), file.text);
    };
    await check(PASSWORD);
    const c = await yak.connect();
    const token = await tokenOf(yak, 'np');
    const seq = Number((await announced(yak, 'np')).getChildText('sequence'));
    assert.equal((await c.request(authIq('np', 'Work', { hash: zerokHash(PASSWORD, token, seq) }))).attrs.type, 'result');
    const change = "<iq type='set' id='pw' to='localhost'><query xmlns='jabber:iq:register'><password>Changed-Never-Stored</password></query></iq>";
    assert.equal((await c.request(parseXml(change))).attrs.type, 'result');
    await c.close();
    await check('Changed-Never-Stored');
    const renewed = await tokenOf(yak, 'np');
    assert.equal(await attempt(yak, 'np', { hash: zerokHash('Changed-Never-Stored', renewed, 499) }), 'result');
  });
});

test('digest is not offered when no plaintext is stored (mod_auth_plain loaded later)', async () => {
  const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-noplain-'));
  try {
    const text = readFileSync(BUNDLED_CONFIG, 'utf8').replace(/^.*<mod_auth_plain>.*$/m, '');
    const first = await startYak({ configText: text, spool });
    await registerUser(first, 'zeroonly', 'pw');
    await first.stop();
    const yak = await startYak({ spool, tweak: noLoginThrottle });
    try {
      const token = await tokenOf(yak, 'zeroonly');
      assertXml(await announced(yak, 'zeroonly'), `<query xmlns='jabber:iq:auth'><username>zeroonly</username><password/><sequence>499</sequence><token>${token}</token><resource/></query>`);
      assert.equal(await attempt(yak, 'zeroonly', { password: 'pw' }), 'error 401');
      assert.equal(await attempt(yak, 'zeroonly', (c) => ({ digest: digestFor(c.streamId, 'pw') })), 'error 401');
      // Nor does the digest of whatever a missing plaintext could be taken for.
      for (const guess of ['', 'undefined', 'null']) {
        assert.equal(await attempt(yak, 'zeroonly', (c) => ({ digest: digestFor(c.streamId, guess) })), 'error 401', JSON.stringify(guess));
      }
      assert.equal(await attempt(yak, 'zeroonly', { hash: zerokHash('pw', token, 499) }), 'result');
    } finally {
      await yak.stop();
    }
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
});

// The book's exchanges of sections 3 and 5 as data: one list per
// connection. A send or an expected reply may depend on the stream id and
// the previous reply (digest, 0k).
interface Ctx {
  streamId: string;
  last: Element | undefined;
}
type Text = string | ((ctx: Ctx) => string);

function bookTranscript(user: string, name: string): { send: Text; recv: Text }[][] {
  const form = `<instructions>Choose a username and password to register with this server.</instructions><name/><email/><username/><password/>`;
  const get = { send: `<iq type='get' id='auth_1'><query xmlns='jabber:iq:auth'><username>${user}</username></query></iq>`, recv: `<iq type='result' id='auth_1'><query xmlns='jabber:iq:auth'><username>${user}</username><password/><digest/><sequence>499</sequence><token>*</token><resource/></query></iq>` };
  const set = (cred: Text): Text => (ctx) =>
    `<iq type='set' id='auth_2'><query xmlns='jabber:iq:auth'><username>${user}</username>${typeof cred === 'string' ? cred : cred(ctx)}<resource>Work</resource></query></iq>`;
  const ok = "<iq type='result' id='auth_2'/>";
  return [
    [
      { send: "<iq type='get' id='reg_1'><query xmlns='jabber:iq:register'/></iq>", recv: `<iq type='result' id='reg_1'><query xmlns='jabber:iq:register'>${form}</query></iq>` },
      { send: `<iq type='set' id='reg_2'><query xmlns='jabber:iq:register'><username>${user}</username><password>sécret</password><email>lel@plevna.com</email><name>${name}</name></query></iq>`, recv: "<iq type='result' id='reg_2'/>" },
    ],
    [get, { send: set('<password>sécret</password>'), recv: ok }],
    [get, { send: set(({ streamId }) => `<digest>${digestFor(streamId, 'sécret')}</digest>`), recv: ok }],
    [
      get,
      { send: set(({ last }) => `<hash>${zerokHash('sécret', last!.elements[0]!.getChildText('token')!, 499)}</hash>`), recv: ok },
      {
        send: "<iq type='get' id='reg_3' to='localhost'><query xmlns='jabber:iq:register'/></iq>",
        recv: `<iq type='result' id='reg_3' from='localhost' to='${user}@localhost/Work'><query xmlns='jabber:iq:register'><password/><instructions>*</instructions><name>${name}</name><email>lel@plevna.com</email><key>*</key><registered/></query></iq>`,
      },
    ],
  ];
}

test('the book exchanges of sections 3 and 5 with their bytes split at random points', async () => {
  const yak = await startYak();
  try {
    for (const seed of [1, 2, 3, 5, 8, 13, 21, 34]) {
      const rand = prng(seed);
      const user = `lëslie☃${seed}`;
      try {
        for (const exchanges of bookTranscript(user, 'Léslie Hâwke 𝄞')) {
          const c = await RawClient.connect(yak.port);
          try {
            await c.writeSplit(clientHeader('localhost'), rand);
            const ctx: Ctx = { streamId: (await c.serverHeader()).id!, last: undefined };
            for (const { send, recv } of exchanges) {
              await c.writeSplit(typeof send === 'string' ? send : send(ctx), rand);
              ctx.last = await c.next();
              assertXml(ctx.last, typeof recv === 'string' ? recv : recv(ctx));
            }
          } finally {
            c.destroy();
          }
        }
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    await yak.stop();
  }
});

test('-D: a debug line per stanza in and out, with its envelope and never a password, digest or 0k hash', async () => {
  const { log, lines } = captureLog('debug');
  const yak = await startYak({ log, tweak: noLoginThrottle });
  try {
    await registerUser(yak, 'dbg', 'pw-in-register');
    assert.equal(await attempt(yak, 'dbg', { password: 'pw-in-plain' }), 'error 401');
    const digest = (c: ClientStream): Cred => ({ digest: digestFor(c.streamId, 'pw-in-register') });
    assert.equal(await attempt(yak, 'dbg', digest), 'result');
    const token = await tokenOf(yak, 'dbg');
    const hash = zerokHash('pw-in-register', token, 499);
    assert.equal(await attempt(yak, 'dbg', { hash }), 'result');
    const traced = lines.filter((l) => l.msg === 'stanza in' || l.msg === 'stanza out');
    const sets = traced.filter((l) => l.dir === 'in' && l.stanza === 'iq' && l.type === 'set' && l.ns === 'jabber:iq:auth');
    assert.equal(sets.length, 3, JSON.stringify(traced));
    assert.ok(traced.some((l) => l.dir === 'out' && l.type === 'result' && l.id === 'auth'), 'the result of a login is traced');
    assert.ok(traced.every((l) => typeof l.stream === 'string'));
    const all = JSON.stringify(lines);
    for (const secret of ['pw-in-register', 'pw-in-plain', hash, token]) assert.ok(!all.includes(secret), `${secret} was logged`);
    assert.ok(!/[0-9a-f]{40}/.test(all), 'something like a digest or hash was logged');
  } finally {
    await yak.stop();
  }
});

test('without -D no stanza is traced', async () => {
  const { log, lines } = captureLog('info');
  const yak = await startYak({ log });
  try {
    await registerUser(yak, 'nodbg', 'secret');
    assert.ok(lines.length > 0, 'the server logged nothing at all');
    assert.ok(!lines.some((l) => l.msg === 'stanza in' || l.msg === 'stanza out'));
  } finally {
    await yak.stop();
  }
});

test('the log names every credential a login sent: the module that decided depends on the <load> order', () => {
  const query = (inner: string): Element => parseXml(`<query xmlns='jabber:iq:auth'><username>u</username>${inner}</query>`);
  assert.equal(methodOf(query('<password>p</password>')), 'plain');
  assert.equal(methodOf(query('<digest>d</digest><password>p</password>')), 'plain+digest');
  assert.equal(methodOf(query('<hash>h</hash>')), '0k');
  assert.equal(methodOf(query('<resource>r</resource>')), 'none');
});

describe('sessions per account (<limits><sessions>)', () => {
  test('beyond the bound a login with a new resource is refused 500; the same resource still replaces its session', async () => {
    const captured = captureLog();
    const yak = await startYak({ log: captured.log, tweak: (c) => (c.c2s.limits.sessionsPerUser = 2) });
    const streams: ClientStream[] = [];
    try {
      await registerUser(yak, 'busy', 'secret');
      streams.push(await loginUser(yak, 'busy', 'secret', 'one'), await loginUser(yak, 'busy', 'secret', 'two'));
      const third = await yak.connect();
      streams.push(third);
      const refused = await third.request(authIq('busy', 'three', { password: 'secret' }, 'a3'));
      assertXml(refused, errorReplyXml(" id='a3'", "<query xmlns='jabber:iq:auth'><username>busy</username><password>secret</password><resource>three</resource></query>", 500, 'wait', 'Too Many Sessions'));
      assert.equal(yak.server.jsm.sessions.of('busy@localhost').length, 2);
      const line = captured.lines.find((l) => l.msg === 'login refused: the account has as many sessions as it may');
      assert.deepEqual([line?.user, line?.max, line?.level], ['busy@localhost', 2, 40]);
      // A login as 'two' replaces that session: still two.
      streams.push(await loginUser(yak, 'busy', 'secret', 'two'));
      assert.deepEqual(yak.server.jsm.sessions.of('busy@localhost').map((s) => s.resource).sort(), ['one', 'two']);
      // Once one goes, a new resource may log in.
      await streams[0]!.close();
      for (let i = 0; i < 50 && yak.server.jsm.sessions.of('busy@localhost').length > 1; i++) await new Promise((r) => setTimeout(r, 20));
      streams.push(await loginUser(yak, 'busy', 'secret', 'three'));
    } finally {
      for (const s of streams) s.socket.destroy();
      await yak.stop();
    }
  });

  test('a session being replaced keeps its place: a login with another resource meanwhile is the one refused', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.limits.sessionsPerUser = 2) });
    const streams: ClientStream[] = [];
    try {
      await registerUser(yak, 'held', 'secret');
      const one = await loginUser(yak, 'held', 'secret', 'one');
      streams.push(one, await loginUser(yak, 'held', 'secret', 'two'));
      // The old 'one' takes a while to end (its session-end handlers write
      // the logout time, tell contacts): a login for 'three' comes meanwhile.
      const held = latch();
      const reached = latch();
      yak.server.jsm.chains.add('session-end', 'test-hold', async (s) => {
        if (s.resource !== 'one' || s.data.has('test-held')) return;
        s.data.set('test-held', true);
        reached.open();
        await held.promise;
      });
      const again = await yak.connect();
      streams.push(again);
      const replacing = again.request(authIq('held', 'one', { password: 'secret' }, 'again'));
      await reached.promise;
      const third = await yak.connect();
      streams.push(third);
      assert.equal((await third.request(authIq('held', 'three', { password: 'secret' }, 'a3'))).getChild('error')?.attrs.code, '500');
      held.open();
      assert.equal((await replacing).attrs.type, 'result');
      assert.deepEqual(yak.server.jsm.sessions.of('held@localhost').map((s) => s.resource).sort(), ['one', 'two']);
    } finally {
      for (const s of streams) s.socket.destroy();
      await yak.stop();
    }
  });
});
