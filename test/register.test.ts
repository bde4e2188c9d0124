// SPEC sections 3 and 4: jabber:iq:register before login (the book's
// exchanges, the whole error table, Yak's precedence) and inside a session
// (form, password change, field update, removal), checked on the wire and
// in the spool file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { ClientStream } from '../src/client/client-stream.js';
import { zerokIterate, zerokSeed } from '../src/util/hash.js';
import { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { NoSuchUserError, SpoolClosedError, SpoolFileError, type Xdb } from '../src/xdb/xdb.js';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { addUser, authIq, BUNDLED_CONFIG, loginUser, registerIq, registerUser, removeWhileHeld, startYak, type TestYak } from './helpers/yak.js';
import { AdminOps } from '../src/admin/admin-ops.js';
import { assertXml } from './helpers/xml-assert.js';
import { captureLog, logLine } from './helpers/log-capture.js';
import { holdCalls, latch } from './helpers/latch.js';
import { withTempDir } from './helpers/temp-dir.js';
import { assertStreamErrorElement, errorReplyXml, fixtureSpool, noLoginThrottle, readSpool } from './helpers/transcript.js';

const INSTRUCTIONS = '<instructions>Choose a username and password to register with this server.</instructions>';
const FORM = `<query xmlns='jabber:iq:register'>${INSTRUCTIONS}<name/><email/><username/><password/></query>`;
const LESLIE = { email: 'lel@plevna.com', name: 'Leslie Hawke' };

/** Sends raw XML as an iq and returns the reply with that id. */
/**
 * Holds `user`'s logins with resource 'Check' (authResult's) between the
 * password check and the session: `reached` once one is there; it goes on
 * at release(). restore() takes the hold away.
 */
function holdSessionOpening(yak: TestYak, user: string): { reached: Promise<void>; release(): void; restore(): void } {
  const jsm = yak.server.jsm;
  const open = jsm.openSession.bind(jsm);
  const reached = latch();
  const released = latch();
  jsm.openSession = async (host, u, resource, transport, removals) => {
    if (u === user && resource === 'Check') {
      reached.open();
      await released.promise;
    }
    return open(host, u, resource, transport, removals);
  };
  return { reached: reached.promise, release: released.open, restore: () => (jsm.openSession = open) };
}

/** `owner` and each of `contacts` registered (password pw), subscribed both ways with each other. */
async function accountWithContacts(yak: TestYak, owner: string, contacts: string[]): Promise<void> {
  const roster = (jids: string[]): Element =>
    parseXml(`<query xmlns='jabber:iq:roster'>${jids.map((j) => `<item jid='${j}@localhost' subscription='both'/>`).join('')}</query>`);
  await registerUser(yak, owner, 'pw');
  await yak.server.xdb.set('localhost', owner, { 'jabber:iq:roster': roster(contacts) });
  for (const c of contacts) {
    await registerUser(yak, c, 'pw');
    await yak.server.xdb.set('localhost', c, { 'jabber:iq:roster': roster([owner]) });
  }
}

/** Runs `fn` on a fresh spool folder of its own, removed after it. */
const withSpool = (fn: (spool: string) => Promise<void>): Promise<void> => withTempDir('yak-spool-', fn);

/** The subscription `owner`'s stored roster gives `jid`. */
async function subscriptionIn(xdb: Xdb, owner: string, jid: string): Promise<string | undefined> {
  return (await xdb.get('localhost', owner, 'jabber:iq:roster'))?.getChildren('item').find((i) => i.attrs.jid === jid)?.attrs.subscription;
}

function ask(c: ClientStream, xml: string): Promise<Element> {
  return c.request(parseXml(xml));
}

const regSet = (id: string, inside: string, to = ''): string =>
  `<iq type='set' id='${id}'${to}><query xmlns='jabber:iq:register'>${inside}</query></iq>`;

/** A register set for `user` with password 'pw', id `r-USER`. */
function plainReg(user: string): Element {
  return parseXml(regSet(`r-${user}`, `<username>${user}</username><password>pw</password>`));
}

/** A set is refused with this code and type, echoing the query. */
async function refusedSet(c: ClientStream, inside: string, code: number, type: string, text = '*'): Promise<void> {
  const query = `<query xmlns='jabber:iq:register'>${inside}</query>`;
  assertXml(await ask(c, regSet('bad', inside)), errorReplyXml(" id='bad'", query, code, type, text));
}

async function authResult(yak: TestYak, user: string, cred: { password?: string; hash?: string }): Promise<string> {
  const c = await yak.connect();
  try {
    return (await c.request(authIq(user, 'Check', cred))).attrs.type!;
  } finally {
    c.socket.destroy();
  }
}

describe('registration before login', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
  });
  after(() => yak.stop());

  test('get: the form, config children in order, then username and password', async () => {
    const c = await yak.connect();
    assertXml(await ask(c, "<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>"), `<iq type='result' id='reg1'>${FORM}</iq>`);
    // The book's get has no id; neither has the reply.
    c.sendRaw("<iq type='get'><query xmlns='jabber:iq:register'/></iq>");
    assertXml(await c.next(), `<iq type='result'>${FORM}</iq>`);
    await c.close();
  });

  test('set (no get first) creates the account and the spool records', async () => {
    const c = await yak.connect();
    const before = Math.floor(Date.now() / 1000);
    const reply = await ask(
      c,
      regSet('reg2', '<username>leslie</username><password>secret</password><email>lel@plevna.com</email><name>Leslie Hawke</name>'),
    );
    assertXml(reply, "<iq type='result' id='reg2'/>");
    const spool = (await readSpool(yak.spool, yak.host, 'leslie'))!;
    assert.ok(spool, 'no spool file');
    const reg = spool.records.get('jabber:iq:register')!;
    assert.deepEqual(reg.elements.map((e) => e.name).sort(), ['email', 'name', 'x']);
    assert.equal(reg.getChildText('name'), 'Leslie Hawke');
    assert.equal(reg.getChildText('email'), 'lel@plevna.com');
    assertXml(reg.getChild('x')!, "<x xmlns='jabber:x:delay' stamp='*'>registered</x>");
    assert.match(reg.getChild('x')!.attrs.stamp!, /^\d{8}T\d\d:\d\d:\d\d$/);
    assertXml(spool.records.get('jabber:iq:last')!, "<query xmlns='jabber:iq:last' xdbns='jabber:iq:last' last='*'>Registered</query>");
    const last = Number(spool.records.get('jabber:iq:last')!.attrs.last);
    assert.ok(last >= before && last <= Math.ceil(Date.now() / 1000), `last=${last}`);
    assertXml(spool.records.get('jabber:iq:auth')!, "<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>secret</password>");
    const zerok = spool.records.get('jabber:iq:auth:0k')!;
    assertXml(zerok, "<zerok xmlns='jabber:iq:auth:0k' xdbns='jabber:iq:auth:0k'><hash>*</hash><token>*</token><sequence>500</sequence></zerok>");
    const token = zerok.getChildText('token')!;
    assert.match(token, /^[0-9A-F]{8}$/);
    assert.equal(zerok.getChildText('hash'), zerokIterate(zerokSeed('secret', token), 500));
    await c.close();
  });

  test("the book's set has no id: the result has none either, nor has an error to such a set", async () => {
    const c = await yak.connect();
    c.sendRaw(
      "<iq type='set'><query xmlns='jabber:iq:register'><username>noid</username><password>secret</password>" +
        '<email>lel@plevna.com</email><name>Leslie Hawke</name></query></iq>',
    );
    assertXml(await c.next(), "<iq type='result'/>");
    c.sendRaw("<iq type='set'><query xmlns='jabber:iq:register'><username>NoId</username><password>x</password></query></iq>");
    assertXml(
      await c.next(),
      "<iq type='error'><query xmlns='jabber:iq:register'><username>NoId</username><password>x</password></query><error code='409' type='cancel'>Username Not Available</error></iq>",
    );
    await c.close();
  });

  test('406: username or password missing, empty or invalid', async () => {
    const c = await yak.connect();
    const bad = ['a b', 'a\tb', 'a@b', 'a/b', 'a:b', 'a&apos;b', 'a&quot;b', 'a&amp;b', 'a&lt;b', 'a&gt;b', ' ', 'x'.repeat(1024), 'é'.repeat(512)];
    for (const name of bad) await refusedSet(c, `<username>${name}</username><password>pw</password>`, 406, 'modify', 'Not Acceptable');
    await refusedSet(c, '<password>pw</password>', 406, 'modify', 'Not Acceptable');
    await refusedSet(c, '<username>nopass</username>', 406, 'modify', 'Not Acceptable');
    await refusedSet(c, '<username/><password>pw</password>', 406, 'modify', 'Not Acceptable');
    await refusedSet(c, '<username>nopass</username><password/>', 406, 'modify', 'Not Acceptable');
    await refusedSet(c, '', 406, 'modify', 'Not Acceptable');
    assert.equal(await readSpool(yak.spool, yak.host, 'nopass'), undefined);
    // 1023 bytes is still a name.
    assertXml(await ask(c, regSet('long', `<username>${'x'.repeat(1023)}</username><password>pw</password>`)), "<iq type='result' id='long'/>");
    await c.close();
    // SPEC 6: whitespace and control characters beyond ASCII too (DEL, C1 NEL, no-break and
    // ideographic spaces). A connection of their own: more on the first would meet its karma.
    const other = await yak.connect();
    // Stringprep's bidi rule: Latin beside Hebrew, or Hebrew ending in a digit.
    for (const name of ['a\u007fb', 'a\u0085b', 'a\u00a0b', 'a\u3000b', 'ab\u05e9', '\u05e9\u05dc1']) {
      await refusedSet(other, `<username>${name}</username><password>pw</password>`, 406, 'modify', 'Not Acceptable');
    }
    await other.close();
  });

  test("409 'Username Not Available', case-insensitively", async () => {
    await registerUser(yak, 'joseph', 'spinach');
    const c = await yak.connect();
    for (const name of ['joseph', 'JOSEPH', 'Joseph']) {
      await refusedSet(c, `<username>${name}</username><password>other</password>`, 409, 'cancel', 'Username Not Available');
    }
    await c.close();
    assert.equal(await authResult(yak, 'joseph', { password: 'spinach' }), 'result');
  });

  test('a username is stored lowercase and Unicode-normalized: one file, named as 1.4 named it', async () => {
    // SPEC section 6: case-insensitive (stored lowercase), Unicode-normalized;
    // plain ASCII names map to name.xml, others are percent-encoded.
    const c = await yak.connect();
    assertXml(await ask(c, regSet('mixed', '<username>Leslie.HAWKE</username><password>pw</password>')), "<iq type='result' id='mixed'/>");
    // JOSE + combining acute accent: the same name as the precomposed josé.
    assertXml(await ask(c, regSet('nfc', '<username>JOSE\u0301</username><password>pw</password>')), "<iq type='result' id='nfc'/>");
    await refusedSet(c, '<username>jos\u00e9</username><password>other</password>', 409, 'cancel', 'Username Not Available');
    await c.close();
    const files = await readdir(path.join(yak.spool, 'localhost'));
    assert.ok(files.includes('leslie.hawke.xml'), files.join(' '));
    assert.ok(files.includes('jos%C3%A9.xml'), files.join(' '));
    assert.deepEqual(files.filter((f) => /[A-Z]/.test(f.replace(/%[0-9A-F]{2}/g, ''))), [], 'a file name kept capitals');
    assert.ok((await readSpool(yak.spool, yak.host, 'leslie.hawke'))!.records.has('jabber:iq:auth'));
    assert.equal(await authResult(yak, 'leslie.hawke', { password: 'pw' }), 'result');
    assert.equal(await authResult(yak, 'LESLIE.hawke', { password: 'pw' }), 'result');
    assert.equal(await authResult(yak, 'Jos\u00c9', { password: 'pw' }), 'result');
  });

  test('unknown fields are ignored, never stored, never an error', async () => {
    const c = await yak.connect();
    const inside = '<username>extra</username><password>pw</password><resource>Home</resource><key>abc</key><foo>bar</foo><name>Ex</name>';
    assertXml(await ask(c, regSet('x', inside)), "<iq type='result' id='x'/>");
    await c.close();
    const spool = (await readSpool(yak.spool, yak.host, 'extra'))!;
    const names = new Set<string>();
    const walk = (e: Element): void => e.elements.forEach((x) => (names.add(x.name), walk(x)));
    spool.records.forEach(walk);
    for (const n of ['resource', 'key', 'foo', 'username']) assert.ok(!names.has(n), `<${n}> stored: ${spool.text}`);
    assert.ok(!spool.text.includes('Home') && !spool.text.includes('bar'), spool.text);
    assert.equal(spool.records.get('jabber:iq:register')!.getChildText('name'), 'Ex');
  });

  test('after registering, the connection may register again, then log in', async () => {
    const c = await yak.connect();
    assertXml(await c.request(plainReg('first')), "<iq type='result' id='r-first'/>");
    assertXml(await c.request(plainReg('second')), "<iq type='result' id='r-second'/>");
    assertXml(await c.request(authIq('first', 'Work', { password: 'pw' }, 'a1')), "<iq type='result' id='a1'/>");
    await c.close();
    assert.equal(await authResult(yak, 'second', { password: 'pw' }), 'result');
  });
});

describe('registration disabled: 501 for everything (Yak precedence)', () => {
  const variants: [string, (cfg: TestYak['config']) => void][] = [
    ['no <register>', (cfg) => (cfg.jsm.register = undefined)],
    ['no mod_register', (cfg) => (cfg.jsm.modules = cfg.jsm.modules.filter((m) => m !== 'mod_register'))],
  ];
  for (const [name, tweak] of variants) {
    test(name, async () => {
      const spool = await fixtureSpool();
      const yak = await startYak({ spool, tweak });
      try {
        const c = await yak.connect({ headerAttrs: { version: '1.0' } });
        // Not advertised either.
        assertXml(await c.next(), "<stream:features><auth xmlns='http://jabber.org/features/iq-auth'/></stream:features>");
        const get = "<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>";
        assertXml(await ask(c, get), errorReplyXml(" id='g'", "<query xmlns='jabber:iq:register'/>", 501, 'cancel', 'Not Implemented'));
        await refusedSet(c, '<username>newbie</username><password>pw</password>', 501, 'cancel', 'Not Implemented');
        // An existing name (dj) and an invalid request say nothing more than 501.
        await refusedSet(c, '<username>dj</username><password>pw</password>', 501, 'cancel', 'Not Implemented');
        await refusedSet(c, '<username>DJ</username>', 501, 'cancel', 'Not Implemented');
        await refusedSet(c, '<username>a b</username><password>pw</password>', 501, 'cancel', 'Not Implemented');
        // A request of no type is malformed before anything else, as after login.
        const typeless = "<iq id='t'><query xmlns='jabber:iq:register'/></iq>";
        assertXml(await ask(c, typeless), errorReplyXml(" id='t'", "<query xmlns='jabber:iq:register'/>", 400, 'modify', 'Bad Request'));
        // Inside a session too.
        assertXml(await c.request(authIq('dj', 'Work', { password: 'secret' }, 'in')), "<iq type='result' id='in'/>");
        const inSession = "<iq type='get' id='s' to='localhost'><query xmlns='jabber:iq:register'/></iq>";
        const reply = await ask(c, inSession);
        assertXml(reply, `<iq type='error' id='s' from='localhost' to='dj@localhost/Work'><query xmlns='jabber:iq:register'/><error code='501' type='cancel'>Not Implemented</error></iq>`);
        assert.equal(await readSpool(spool, yak.host, 'newbie'), undefined);
      } finally {
        await yak.stop();
        await rm(spool, { recursive: true, force: true });
      }
    });
  }
});

test("<register require='all'>: every listed field is mandatory", async () => {
  const yak = await startYak({ tweak: (cfg) => (cfg.jsm.register!.requireAll = true) });
  try {
    const c = await yak.connect();
    await refusedSet(c, '<username>strict</username><password>pw</password><name>S</name>', 406, 'modify', 'Not Acceptable');
    await refusedSet(c, '<username>strict</username><password>pw</password><name>S</name><email/>', 406, 'modify', 'Not Acceptable');
    // A field of white space only is as good as missing.
    await refusedSet(c, '<username>strict</username><password>pw</password><name> </name><email>\n\t</email>', 406, 'modify', 'Not Acceptable');
    // So is a field of a reserved name's request: incomplete comes first (406, not 409).
    await refusedSet(c, '<username>admin</username><password>pw</password><name>S</name>', 406, 'modify', 'Not Acceptable');
    assertXml(await ask(c, regSet('ok', '<username>strict</username><password>pw</password><name>S</name><email>s@x</email>')), "<iq type='result' id='ok'/>");
    await c.close();
  } finally {
    await yak.stop();
  }
});

describe('registration inside a session', () => {
  let yak: TestYak;
  const captured = captureLog();
  before(async () => {
    yak = await startYak({ tweak: noLoginThrottle, log: captured.log });
  });
  after(() => yak.stop());

  test('get: password, config children with current values, key, registered', async () => {
    await registerUser(yak, 'leslie', 'secret', LESLIE);
    const c = await loginUser(yak, 'leslie', 'secret');
    const values = `<password/>${INSTRUCTIONS}<name>Leslie Hawke</name><email>lel@plevna.com</email><key>*</key><registered/>`;
    const keys = new Set<string>();
    for (const to of [" to='localhost'", '']) {
      const reply = await ask(c, `<iq type='get' id='g'${to}><query xmlns='jabber:iq:register'/></iq>`);
      const from = to === '' ? '' : " from='localhost'";
      assertXml(reply, `<iq type='result' id='g'${from} to='leslie@localhost/Work'><query xmlns='jabber:iq:register'>${values}</query></iq>`);
      assert.match(reply.elements[0]!.getChildText('key')!, /^[0-9a-f]{40}$/);
      keys.add(reply.elements[0]!.getChildText('key')!);
    }
    // SPEC 4: a random key, so never the same twice.
    assert.equal(keys.size, 2, `the key repeats: ${[...keys]}`);
    await c.close();
  });

  test('password change: the old password is refused at once, the 0k chain is regenerated', async () => {
    await registerUser(yak, 'dj', 'secret');
    const oldToken = (await readSpool(yak.spool, yak.host, 'dj'))!.records.get('jabber:iq:auth:0k')!.getChildText('token')!;
    const c = await loginUser(yak, 'dj', 'secret');
    const reply = await ask(c, regSet('pass_4', '<password>newsecret</password>', " to='localhost'"));
    assertXml(reply, "<iq type='result' id='pass_4' from='localhost' to='dj@localhost/Work'/>");
    assert.equal(await authResult(yak, 'dj', { password: 'secret' }), 'error');
    assert.equal(await authResult(yak, 'dj', { hash: zerokIterate(zerokSeed('secret', oldToken), 499) }), 'error');
    assert.equal(await authResult(yak, 'dj', { password: 'newsecret' }), 'result');
    const spool = (await readSpool(yak.spool, yak.host, 'dj'))!;
    assert.equal(spool.records.get('jabber:iq:auth')!.text(), 'newsecret');
    const zerok = spool.records.get('jabber:iq:auth:0k')!;
    const token = zerok.getChildText('token')!;
    assert.notEqual(token, oldToken);
    assert.equal(zerok.getChildText('sequence'), '500');
    assert.equal(zerok.getChildText('hash'), zerokIterate(zerokSeed('newsecret', token), 500));
    assert.equal(await authResult(yak, 'dj', { hash: zerokIterate(zerokSeed('newsecret', token), 499) }), 'result');
    await c.close();
  });

  test('an empty password is refused 406 and changes nothing: the old password and chain still work', async () => {
    await registerUser(yak, 'keeppw', 'secret');
    const before = (await readSpool(yak.spool, yak.host, 'keeppw'))!;
    const c = await loginUser(yak, 'keeppw', 'secret');
    const reply = await ask(c, regSet('empty', '<password/>', " to='localhost'"));
    assert.equal(reply.getChild('error')?.attrs.code, '406', reply.toString());
    await c.close();
    assert.equal(await authResult(yak, 'keeppw', { password: 'secret' }), 'result');
    const after = (await readSpool(yak.spool, yak.host, 'keeppw'))!;
    assert.equal(after.records.get('jabber:iq:auth')!.text(), 'secret');
    assert.equal(after.records.get('jabber:iq:auth:0k')!.getChildText('token'), before.records.get('jabber:iq:auth:0k')!.getChildText('token'));
  });

  test('field updates from two resources at once: both are kept', async () => {
    await registerUser(yak, 'twofields', 'pw', { name: 'Old Name', email: 'old@x' });
    const a = await loginUser(yak, 'twofields', 'pw', 'A');
    const b = await loginUser(yak, 'twofields', 'pw', 'B');
    const xdb = yak.server.xdb as Xdb;
    const get = xdb.get.bind(xdb);
    // A read of the registration record waits for the other resource's (at most half a second).
    const both = latch();
    let reads = 0;
    xdb.get = async (host, user, ns) => {
      const rec = await get(host, user, ns);
      if (user === 'twofields' && ns === 'jabber:iq:register') {
        if (++reads === 2) both.open();
        await Promise.race([both.promise, new Promise((r) => setTimeout(r, 500))]);
      }
      return rec;
    };
    try {
      const replies = await Promise.all([ask(a, regSet('n', '<name>New Name</name>')), ask(b, regSet('e', '<email>new@x</email>'))]);
      assert.deepEqual(replies.map((r) => r.attrs.type), ['result', 'result']);
    } finally {
      xdb.get = get;
    }
    const reg = (await readSpool(yak.spool, yak.host, 'twofields'))!.records.get('jabber:iq:register')!;
    assert.equal(reg.getChildText('name'), 'New Name');
    assert.equal(reg.getChildText('email'), 'new@x');
    await a.close();
    await b.close();
  });

  test('field update keeps the other fields and the password', async () => {
    await registerUser(yak, 'fields', 'pw', { name: 'Old Name', email: 'old@x' });
    const c = await loginUser(yak, 'fields', 'pw');
    assertXml(await ask(c, regSet('u', '<email>new@x</email>')), "<iq type='result' id='u' to='fields@localhost/Work'/>");
    const reg = (await readSpool(yak.spool, yak.host, 'fields'))!.records.get('jabber:iq:register')!;
    assert.equal(reg.getChildText('email'), 'new@x');
    assert.equal(reg.getChildText('name'), 'Old Name');
    assert.equal(await authResult(yak, 'fields', { password: 'pw' }), 'result');
    await c.close();
  });

  test('<remove/>: result, every session closed, spool file gone, name free at once', async () => {
    await registerUser(yak, 'gone', 'pw', { name: 'Gone' });
    const work = await loginUser(yak, 'gone', 'pw', 'Work');
    const home = await loginUser(yak, 'gone', 'pw', 'Home');
    work.keepRaw = home.keepRaw = true;
    const reply = await ask(work, regSet('rm', '<remove/>', " to='localhost'"));
    assertXml(reply, "<iq type='result' id='rm' from='localhost' to='gone@localhost/Work'/>");
    for (const c of [work, home]) {
      const err = await c.next((e) => e.name === 'stream:error');
      // As the README's walkthrough shows it.
      assertStreamErrorElement(err, 'Disconnected', 'not-authorized');
      await c.whenClosed();
      assert.ok(c.received.endsWith('</stream:stream>'), c.received);
    }
    assert.equal(await readSpool(yak.spool, yak.host, 'gone'), undefined);
    assert.equal(await authResult(yak, 'gone', { password: 'pw' }), 'error');
    await registerUser(yak, 'gone', 'again');
    assert.equal(await authResult(yak, 'gone', { password: 'again' }), 'result');
    assert.equal((await readSpool(yak.spool, yak.host, 'gone'))!.records.get('jabber:iq:register')!.getChildText('name'), undefined);
  });

  test('<remove/>: a name registered again as soon as the answer is out takes messages and logins at once, while the removal still finishes', async () => {
    await registerUser(yak, 'reborn', 'pw');
    await registerUser(yak, 'rebornpal', 'pw');
    const old = await loginUser(yak, 'reborn', 'pw', 'Work');
    const pal = await loginUser(yak, 'rebornpal', 'pw', 'Work');
    // The removal's last steps (its 'user-removed' handlers, the pause
    // before the old streams end) wait while the new owner acts.
    const finishing = latch();
    const held = latch();
    yak.server.jsm.chains.add('user-removed', 'test-hold', async ({ user }) => {
      if (user !== 'reborn') return;
      finishing.open();
      await held.promise;
    });
    try {
      const removed = ask(old, regSet('rm', '<remove/>', " to='localhost'"));
      await finishing.promise;
      assert.equal((await removed).attrs.type, 'result');
      await registerUser(yak, 'reborn', 'new');
      pal.send(parseXml("<message to='reborn@localhost' id='m1'><body>welcome back</body></message>"));
      assert.equal(await authResult(yak, 'reborn', { password: 'new' }), 'result');
      // Stored for the new owner, not bounced as for a user being removed:
      // the registration's welcome (no id) and the message.
      const box = (await readSpool(yak.spool, yak.host, 'reborn'))?.records.get('jabber:x:offline');
      assert.deepEqual(box?.getChildren('message').map((m) => m.attrs.id), [undefined, 'm1']);
    } finally {
      held.open();
      await old.whenClosed();
      await pal.close();
    }
  });

  test('<remove/>: the result goes out only once the removal is durable, so a crash after it cannot bring the account back', async () => {
    await registerUser(yak, 'durable', 'pw');
    const c = await loginUser(yak, 'durable', 'pw');
    c.keepRaw = true;
    const xdb = yak.server.xdb as Xdb;
    const original = xdb.remove.bind(xdb);
    // At the removal: has the client been told already? (Waits up to a second for the result to show.)
    let toldBeforeRemoval: boolean | undefined;
    xdb.remove = async (host, user) => {
      if (user === 'durable') {
        for (let waited = 0; waited < 1000 && !c.received.includes("id='rm'"); waited += 10) await new Promise((r) => setTimeout(r, 10));
        toldBeforeRemoval = c.received.includes("id='rm'");
      }
      return original(host, user);
    };
    try {
      const reply = await ask(c, regSet('rm', '<remove/>', " to='localhost'"));
      assert.equal(reply.attrs.type, 'result');
      assert.equal(toldBeforeRemoval, false, 'the result went out before the account was removed');
      await c.whenClosed();
    } finally {
      xdb.remove = original;
    }
    assert.equal(await readSpool(yak.spool, yak.host, 'durable'), undefined);
  });

  test('<remove/>: a login that races the removal is refused, and no session of the removed account lives on', async () => {
    await registerUser(yak, 'racer', 'pw');
    const c = await loginUser(yak, 'racer', 'pw');
    const xdb = yak.server.xdb as Xdb;
    const original = xdb.remove.bind(xdb);
    // The removal takes a while; meanwhile the account can still be read.
    let late: string | undefined;
    xdb.remove = async (host, user) => {
      if (user === 'racer') late = await authResult(yak, 'racer', { password: 'pw' });
      return original(host, user);
    };
    try {
      assert.equal((await ask(c, regSet('rm', '<remove/>', " to='localhost'"))).attrs.type, 'result');
    } finally {
      xdb.remove = original;
    }
    assert.equal(late, 'error', 'a login during the removal was let in');
    // Logged like a failed login, with what an operator needs to find it.
    const refused = await logLine(captured, (l) => l.user === 'racer' && l.msg === 'login refused: the account was removed after its password was accepted');
    assert.equal(refused.level, 40);
    assert.equal(refused.address, '127.0.0.1');
    assert.equal(refused.method, 'plain');
    // ...and not as a login that succeeded: the one 'login ok' is the asker's own.
    assert.equal(captured.lines.filter((l) => l.user === 'racer' && l.msg === 'login ok').length, 1);
    assert.deepEqual(yak.server.jsm.sessions.of('racer@localhost'), []);
    assert.equal(await readSpool(yak.spool, yak.host, 'racer'), undefined);
  });

  test('<remove/>: a login whose password was read before the removal gets no session after it, not even in a new account of the name', async () => {
    await registerUser(yak, 'racer2', 'pw');
    const c = await loginUser(yak, 'racer2', 'pw');
    const jsm = yak.server.jsm;
    // The second login's password is checked, then its session opens only once the account is gone.
    const hold = holdSessionOpening(yak, 'racer2');
    try {
      const late = authResult(yak, 'racer2', { password: 'pw' });
      await hold.reached;
      assert.equal((await ask(c, regSet('rm', '<remove/>', " to='localhost'"))).attrs.type, 'result');
      // Someone else takes the name meanwhile: the old password must not open it.
      await registerUser(yak, 'racer2', 'newpw');
      hold.release();
      assert.equal(await late, 'error', 'a login checked before the removal was let in after it');
    } finally {
      hold.restore();
    }
    assert.deepEqual(jsm.sessions.of('racer2@localhost'), []);
  });

  test('<remove/>: a login that read the password while the removal ran gets no session after it, nor a new account of the name', async () => {
    await registerUser(yak, 'racer3', 'pw');
    const c = await loginUser(yak, 'racer3', 'pw');
    const jsm = yak.server.jsm;
    const xdb = yak.server.xdb as Xdb;
    const remove = xdb.remove.bind(xdb);
    let late: Promise<string> | undefined;
    // The second login reaches openSession only once the account is gone...
    const hold = holdSessionOpening(yak, 'racer3');
    // ...and reads the password after the removal began, while the file is still there.
    xdb.remove = async (host, user) => {
      if (user === 'racer3' && !late) {
        late = authResult(yak, 'racer3', { password: 'pw' });
        await hold.reached;
      }
      return remove(host, user);
    };
    try {
      assert.equal((await ask(c, regSet('rm', '<remove/>', " to='localhost'"))).attrs.type, 'result');
      await registerUser(yak, 'racer3', 'newpw');
      hold.release();
      assert.equal(await late, 'error', 'a login checked during the removal was let in after it');
    } finally {
      hold.restore();
      xdb.remove = remove;
    }
    assert.deepEqual(jsm.sessions.of('racer3@localhost'), []);
  });

  test('a zero-knowledge chain learned by a login is never written for an account removed since: no stray file', async () => {
    await registerUser(yak, 'strayed', 'pw');
    (await loginUser(yak, 'strayed', 'pw')).socket.destroy();
    await yak.server.jsm.removeUser('localhost', 'strayed');
    // What a plaintext login that read the password before the removal does last.
    await yak.server.jsm.chains.all('password-learned', { host: 'localhost', user: 'strayed', password: 'pw', records: new Map() });
    await yak.server.xdb.flush();
    assert.equal(await readSpool(yak.spool, yak.host, 'strayed'), undefined);
  });

  test('a private-storage change racing the account removal leaves no file behind', async () => {
    await registerUser(yak, 'pvgone', 'pw');
    const c = await loginUser(yak, 'pvgone', 'pw');
    const xdb = yak.server.xdb as Xdb;
    // The change waits until the account is gone.
    const hold = holdCalls(xdb, 'set', (_host, user) => user === 'pvgone');
    try {
      ask(c, "<iq type='set' id='pv'><query xmlns='jabber:iq:private'><x xmlns='x:y'>1</x></query></iq>").catch(() => undefined);
      await removeWhileHeld(yak, hold, 'pvgone');
      while (hold.results.length === 0) await new Promise((r) => setImmediate(r));
      await assert.rejects(hold.results[0]!, NoSuchUserError);
    } finally {
      hold.restore();
    }
    await xdb.flush();
    assert.equal(await readSpool(yak.spool, yak.host, 'pvgone'), undefined);
  });

  test('a zero-knowledge login for an account removed while its hash is checked: 401, and no file', async () => {
    await registerUser(yak, 'zkgone', 'pw');
    const chain = (await readSpool(yak.spool, yak.host, 'zkgone'))!.records.get('jabber:iq:auth:0k')!;
    const hash = zerokIterate(zerokSeed('pw', chain.getChildText('token')!), 499);
    const xdb = yak.server.xdb as Xdb;
    // The hash check (a change of the chain, under the user's lock) waits until the account is gone.
    const hold = holdCalls(xdb, 'update', (_host, user, ns) => user === 'zkgone' && ns === 'jabber:iq:auth:0k');
    try {
      const c = await yak.connect();
      const reply = c.request(authIq('zkgone', 'Check', { hash }));
      await removeWhileHeld(yak, hold, 'zkgone');
      const error = (await reply).getChild('error');
      assert.equal(error?.attrs.code, '401', (await reply).toString());
      c.socket.destroy();
    } finally {
      hold.restore();
    }
    await xdb.flush();
    assert.equal(await readSpool(yak.spool, yak.host, 'zkgone'), undefined);
  });

  test('a zero-knowledge chain learned by a login is never written over a password changed since the login read it', async () => {
    await registerUser(yak, 'pc', 'old');
    const xdb = yak.server.xdb;
    // A chain down to its last steps: the next plain login renews it.
    const chain = (await xdb.get('localhost', 'pc', 'jabber:iq:auth:0k'))!;
    chain.getChild('sequence')!.children = ['3'];
    await xdb.set('localhost', 'pc', { 'jabber:iq:auth:0k': chain });
    // A plain login with the old password reads the records...
    const read = await xdb.getSome('localhost', 'pc', ['jabber:iq:auth', 'jabber:iq:auth:0k']);
    // ...then, before it renews the chain, the password changes.
    const c = await loginUser(yak, 'pc', 'old');
    assert.equal((await ask(c, regSet('pw', '<password>new</password>', " to='localhost'"))).attrs.type, 'result');
    const afterChange = (await xdb.get('localhost', 'pc', 'jabber:iq:auth:0k'))!.toString();
    await yak.server.jsm.chains.all('password-learned', { host: 'localhost', user: 'pc', password: 'old', records: read });
    assert.equal((await xdb.get('localhost', 'pc', 'jabber:iq:auth:0k'))!.toString(), afterChange, 'a chain of the old password replaced the new one');
    await c.close();
  });

  test('<remove/> and jabberctl deluser at once: one removal, both answered, and an account registered after it stays', async () => {
    await registerUser(yak, 'twice', 'pw');
    const c = await loginUser(yak, 'twice', 'pw');
    const xdb = yak.server.xdb as Xdb;
    const original = xdb.remove.bind(xdb);
    const { promise: held, open: entered } = latch();
    const { promise: gate, open: release } = latch();
    let removals = 0;
    // The first removal waits at the file; any other goes through at once.
    xdb.remove = async (host, user) => {
      if (user === 'twice' && removals++ === 0) {
        entered();
        await gate;
      }
      return original(host, user);
    };
    let reregistered: string | undefined;
    try {
      const asked = ask(c, regSet('rm', '<remove/>', " to='localhost'"));
      await held;
      let adminDone = false;
      const admin = yak.server.jsm.removeUser('localhost', 'twice').then(() => (adminDone = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(adminDone, false, 'the second removal did not wait for the first');
      // Meanwhile the name is still taken.
      const early = await yak.connect();
      reregistered = (await early.request(registerIq('twice', 'newpw'))).attrs.type;
      early.socket.destroy();
      release();
      assert.equal((await asked).attrs.type, 'result');
      await admin;
    } finally {
      xdb.remove = original;
    }
    assert.equal(reregistered, 'error');
    assert.equal(removals, 1, 'the account was removed twice');
    await registerUser(yak, 'twice', 'newpw');
    const heir = await loginUser(yak, 'twice', 'newpw');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(heir.closed, false);
    assert.equal(await authResult(yak, 'twice', { password: 'newpw' }), 'result');
    await heir.close();
  });

  test('<remove/> from two resources at once: one removal, both answered before their streams end', async () => {
    await registerUser(yak, 'pair', 'pw');
    const a = await loginUser(yak, 'pair', 'pw', 'A');
    const b = await loginUser(yak, 'pair', 'pw', 'B');
    b.keepRaw = true;
    const jsm = yak.server.jsm;
    // A's removal waits at the file, every session already ended: B's
    // <remove/> comes from an ended session.
    const hold = holdCalls(yak.server.xdb as Xdb, 'remove', (_host, user) => user === 'pair');
    // B's request has been taken when it joins the removal (or, on a
    // server that drops it, once it is done with).
    const taken = latch();
    const { fromSession, removeUser } = jsm;
    jsm.removeUser = (host, user, opts) => {
      if (opts?.asked?.iq.attrs.id === 'rb') taken.open();
      return removeUser.call(jsm, host, user, opts);
    };
    jsm.fromSession = (session, stanza) => {
      const handled = fromSession.call(jsm, session, stanza);
      if (stanza.attrs.id === 'rb') void handled.finally(taken.open);
      return handled;
    };
    try {
      const asked = ask(a, regSet('ra', '<remove/>', " to='localhost'"));
      await hold.reached;
      b.send(parseXml(regSet('rb', '<remove/>', " to='localhost'")));
      await taken.promise;
      hold.release();
      assertXml(await asked, "<iq type='result' id='ra' from='localhost' to='pair@localhost/A'/>");
      const answer = await b.next((e) => e.attrs.id === 'rb').catch(() => assert.fail(`B's <remove/> was not answered: ${b.received}`));
      assertXml(answer, "<iq type='result' id='rb' from='localhost' to='pair@localhost/B'/>");
      await b.whenClosed();
      assertStreamErrorElement(b.streamError!, 'Disconnected', 'not-authorized');
      assert.ok(b.received.indexOf("id='rb'") < b.received.indexOf('<stream:error>'), b.received);
      await Promise.all(hold.results);
      assert.equal(hold.results.length, 1, 'the account was removed twice');
    } finally {
      jsm.fromSession = fromSession;
      jsm.removeUser = removeUser;
      hold.restore();
    }
    assert.equal(await readSpool(yak.spool, yak.host, 'pair'), undefined);
  });

  test('<remove/> from a session its account\'s removal ended, that removal over: nothing is removed, not even an account registered since', async () => {
    await registerUser(yak, 'late', 'pw');
    const c = await loginUser(yak, 'late', 'pw', 'Work');
    const jsm = yak.server.jsm;
    const ended = jsm.sessions.find('late@localhost', 'Work')!;
    await jsm.removeUser('localhost', 'late');
    await c.whenClosed();
    await registerUser(yak, 'late', 'heir');
    // As the stanza would go on, had it waited in the ended session's queue until now.
    const iq = parseXml(regSet('rm', '<remove/>', " to='localhost'"));
    await jsm.fromSession(ended, iq);
    await jsm.removeUser('localhost', 'late', { asked: { session: ended, iq } });
    assert.equal(await authResult(yak, 'late', { password: 'heir' }), 'result');
  });

  test('<remove/>: a login for the asking resource while the removal runs is refused, and the asker still gets its answer', async () => {
    await registerUser(yak, 'rep', 'pw');
    const one = await loginUser(yak, 'rep', 'pw', 'One');
    const two = await loginUser(yak, 'rep', 'pw', 'Two');
    two.keepRaw = true;
    // Ending One takes a while (its session-end work is slow).
    const { promise: gate, open: release } = latch();
    const { promise: endingOne, open: ending } = latch();
    yak.server.jsm.chains.add('session-end', 'test-slow-end', async (s) => {
      if (s.jid.toString() === 'rep@localhost/One') {
        ending();
        await gate;
      }
    });
    const asked = ask(two, regSet('rm', '<remove/>', " to='localhost'"));
    await endingOne;
    const late = await yak.connect();
    const reply = await late.request(authIq('rep', 'Two', { password: 'pw' }));
    release();
    late.socket.destroy();
    assert.equal(reply.attrs.type, 'error', 'a login was let in during the removal');
    assert.equal((await asked).attrs.type, 'result');
    assert.doesNotMatch(two.received, /Replaced by new connection/);
    await one.whenClosed();
  });

  test('<remove/> that fails (a full disk): the account stays, with no subscription its contacts no longer have', async () => {
    await registerUser(yak, 'stuck', 'pw');
    await registerUser(yak, 'pal', 'pw');
    const xdb = yak.server.xdb as Xdb;
    // A mutual subscription, as stored.
    const item = (jid: string): Element => parseXml(`<query xmlns='jabber:iq:roster'><item jid='${jid}' subscription='both'/></query>`);
    await xdb.set('localhost', 'stuck', { 'jabber:iq:roster': item('pal@localhost') });
    await xdb.set('localhost', 'pal', { 'jabber:iq:roster': item('stuck@localhost') });
    const c = await loginUser(yak, 'stuck', 'pw');
    c.keepRaw = true;
    const original = xdb.remove.bind(xdb);
    xdb.remove = async (host, user) => {
      if (user === 'stuck') throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return original(host, user);
    };
    try {
      const reply = await ask(c, regSet('rm', '<remove/>', " to='localhost'"));
      assert.equal(reply.attrs.type, 'error');
      await c.whenClosed();
    } finally {
      xdb.remove = original;
    }
    assert.doesNotMatch(c.received, /Disconnected/, 'told the account was removed');
    assert.equal(await authResult(yak, 'stuck', { password: 'pw' }), 'result');
    assert.equal(await subscriptionIn(xdb, 'pal', 'stuck@localhost'), 'none');
    assert.equal(await subscriptionIn(xdb, 'stuck', 'pal@localhost'), 'none');
  });

  test('<remove/> with a contact whose file does not parse: refused (500) before anything changes, the session and every contact as they were', async () => {
    const xdb = yak.server.xdb as Xdb;
    const pals = ['unread0', 'unread1', 'unread2'];
    await accountWithContacts(yak, 'unreader', pals);
    const original = xdb.exists.bind(xdb);
    xdb.exists = async (host, user) => {
      if (user === 'unread2') throw new SpoolFileError('/spool/localhost/unread2.xml', 'spool file /spool/localhost/unread2.xml cannot be parsed: broken');
      return original(host, user);
    };
    const pal = await loginUser(yak, 'unread0', 'pw');
    const c = await loginUser(yak, 'unreader', 'pw');
    try {
      await pal.request(parseXml("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>"));
      pal.keepRaw = true;
      const reply = await ask(c, regSet('rm', '<remove/>', " to='localhost'"));
      assert.equal(reply.getChild('error')?.attrs.code, '500', reply.toString());
      // Still logged in, with its roster as it was.
      const roster = await ask(c, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
      assert.equal(roster.getChild('query')?.getChildren('item').length, 3, roster.toString());
      // A round trip: anything the contact was sent before it has come.
      await pal.request(parseXml("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>"));
      assert.doesNotMatch(pal.received, /<presence|type='set'/, 'a contact was told of a removal that did not happen');
    } finally {
      xdb.exists = original;
      await c.close();
      await pal.close();
    }
    for (const p of pals) {
      assert.equal(await subscriptionIn(xdb, p, 'unreader@localhost'), 'both', p);
      assert.equal(await subscriptionIn(xdb, 'unreader', `${p}@localhost`), 'both', `the account's own item for ${p}`);
    }
    assert.ok(!(await readdir(yak.spool)).includes('.yak-removals'), 'a refused removal was listed');
  });

  test('while a removal reads its contacts (before it may be refused), the account is not yet gone: messages are stored, logins go on', async () => {
    const xdb = yak.server.xdb as Xdb;
    await accountWithContacts(yak, 'pending', ['pending0', 'pending1']);
    const original = xdb.exists.bind(xdb);
    // Its file does not parse, found once the hold is released.
    xdb.exists = async (host, user) => {
      if (user === 'pending1') throw new SpoolFileError('/spool/localhost/pending1.xml', 'spool file /spool/localhost/pending1.xml cannot be parsed: broken');
      return original(host, user);
    };
    const held = holdCalls(xdb, 'exists', (_host, user) => user === 'pending1');
    await registerUser(yak, 'pendingx', 'pw');
    const stranger = await loginUser(yak, 'pendingx', 'pw');
    try {
      const refused = new AdminOps(yak.server.jsm).deluser('pending@localhost');
      await held.reached;
      stranger.keepRaw = true;
      stranger.send(parseXml("<message to='pending@localhost' id='w1'><body>still there?</body></message>"));
      assert.equal(await authResult(yak, 'pending', { password: 'pw' }), 'result');
      held.release();
      await assert.rejects(refused, /pending@localhost was not removed \(nothing was changed\): its contact pending1@localhost cannot be read/);
      await stranger.request(parseXml("<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>"));
      assert.doesNotMatch(stranger.received, /type='error'/, 'the message was bounced as if the account were gone');
    } finally {
      held.restore();
      xdb.exists = original;
      await stranger.close();
    }
    assert.equal(await authResult(yak, 'pending', { password: 'pw' }), 'result', 'a login after the refusal');
    const box = (await xdb.get('localhost', 'pending', 'jabber:x:offline'))?.getChildren('message') ?? [];
    assert.ok(box.some((m) => m.attrs.id === 'w1'), 'the message is not stored');
  });

  test('<remove/> that cannot tell a contact (its file cannot be written): an error, the account and its own roster stay, and removing it again tells everyone', async () => {
    const xdb = yak.server.xdb as Xdb;
    const pals = ['tell0', 'tell1', 'tell2', 'tell3'];
    await accountWithContacts(yak, 'teller', pals);
    const original = xdb.update.bind(xdb);
    xdb.update = ((host: string, user: string, ...rest: unknown[]) => {
      if (user === 'tell2') return Promise.reject(Object.assign(new Error('i/o error'), { code: 'EIO' }));
      return (original as (...a: unknown[]) => Promise<unknown>)(host, user, ...rest);
    }) as typeof xdb.update;
    try {
      const c = await loginUser(yak, 'teller', 'pw');
      const reply = await ask(c, regSet('rm', '<remove/>', " to='localhost'"));
      assert.equal(reply.getChild('error')?.attrs.code, '500', reply.toString());
      await c.whenClosed();
    } finally {
      xdb.update = original;
    }
    assert.equal(await authResult(yak, 'teller', { password: 'pw' }), 'result');
    // Failed and said so: struck off, never finished at the next start.
    assert.ok(!(await readdir(yak.spool)).includes('.yak-removals'), 'the failed removal is still listed');
    assert.equal(await subscriptionIn(xdb, 'tell2', 'teller@localhost'), 'both', 'the contact that could not be told');
    for (const p of pals) assert.equal(await subscriptionIn(xdb, 'teller', `${p}@localhost`), 'both', `the account's own item for ${p}`);
    // Removed again, every contact is told: the name leaves nobody holding a subscription.
    const again = await loginUser(yak, 'teller', 'pw');
    assert.equal((await ask(again, regSet('rm2', '<remove/>', " to='localhost'"))).attrs.type, 'result');
    for (const p of pals) assert.equal(await subscriptionIn(xdb, p, 'teller@localhost'), 'none', p);
    assert.equal(await readSpool(yak.spool, yak.host, 'teller'), undefined);
  });

  test('a session cannot create another user', async () => {
    await registerUser(yak, 'owner', 'pw');
    const c = await loginUser(yak, 'owner', 'pw');
    const inside = '<username>intruder</username><password>pw</password>';
    for (const to of ['', " to='localhost'"]) {
      const reply = await ask(c, regSet('new', inside, to));
      assert.equal(reply.attrs.type, 'error');
      assert.equal(reply.getChild('error')?.attrs.code, '405');
    }
    const toUser = await ask(c, regSet('new', inside, " to='intruder@localhost'"));
    assert.equal(toUser.attrs.type, 'error');
    assert.equal(await readSpool(yak.spool, yak.host, 'intruder'), undefined);
    assert.equal(await authResult(yak, 'intruder', { password: 'pw' }), 'error');
    await c.close();
  });
});

test('a removal the stop cut short, its contacts half told, is finished at the next start: nobody is left subscribed with the name', { timeout: 60_000 }, () =>
  withSpool(async (spool) => {
    const first = await startYak({ spool });
    const xdb = first.server.xdb as Xdb;
    const pals = ['cut0', 'cut1', 'cut2'];
    await accountWithContacts(first, 'cutshort', pals);
    // The contact cut1 is being told when the server stops: the stop waits
    // its bound (short here), then the spool closes under the removal.
    const hold = holdCalls(xdb, 'update', (_host, user) => user === 'cut1');
    const store = xdb as unknown as { close(): Promise<void> };
    const close = store.close.bind(store);
    const closing = latch();
    store.close = () => {
      closing.open();
      return close();
    };
    const removal = first.server.jsm.removeUser('localhost', 'cutshort');
    await hold.reached;
    const stopped = first.server.stop(50);
    await closing.promise;
    hold.release();
    await assert.rejects(removal, SpoolClosedError);
    await stopped;
    hold.restore();
    assert.ok(await readSpool(spool, 'localhost', 'cutshort'), 'the account went before its contacts were all told');
    const second = await startYak({ spool, log: captureLog().log });
    try {
      for (let waited = 0; (await readSpool(spool, 'localhost', 'cutshort')) !== undefined; waited += 20) {
        assert.ok(waited < 30_000, 'the removal was not finished at the start');
        await new Promise((r) => setTimeout(r, 20));
      }
      await second.server.jsm.removals.idle();
      for (const p of pals) assert.equal(await subscriptionIn(second.server.xdb, p, 'cutshort@localhost'), 'none', p);
      assert.equal(await authResult(second, 'cutshort', { password: 'pw' }), 'error');
      assert.ok(!(await readdir(spool)).includes('.yak-removals'), 'the finished removal is still listed');
    } finally {
      await second.stop();
    }
  }));

test('a listed removal whose account cannot be read is left listed, and the server starts all the same', () =>
  withSpool(async (spool) => {
    await mkdir(path.join(spool, 'localhost'), { recursive: true });
    await writeFile(path.join(spool, 'localhost', 'broken.xml'), '<xdb><broken');
    await writeFile(path.join(spool, '.yak-removals'), '[["localhost","broken"]]\n');
    const captured = captureLog();
    const yak = await startYak({ spool, log: captured.log });
    try {
      await logLine(captured, (l) => l.msg === 'an account removal cut short is left unfinished: the account cannot be read' && l.user === 'broken@localhost');
      assert.equal(await readFile(path.join(spool, '.yak-removals'), 'utf8'), '[["localhost","broken"]]\n');
    } finally {
      await yak.stop();
    }
  }));

test('a listed removal refused at the next start (a contact that does not parse): struck off, and the account stays', () =>
  withSpool(async (spool) => {
    const host = path.join(spool, 'localhost');
    await mkdir(host, { recursive: true });
    const roster = (jid: string): string => `<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='${jid}' subscription='both'/></query>`;
    await writeFile(path.join(host, 'own.xml'), `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password>${roster('bad@localhost')}</xdb>`);
    await writeFile(path.join(host, 'bad.xml'), '<xdb><password');
    await writeFile(path.join(spool, '.yak-removals'), '[["localhost","own"]]\n');
    const captured = captureLog();
    const yak = await startYak({ spool, log: captured.log, tweak: noLoginThrottle });
    try {
      const line = await logLine(captured, (l) => l.msg === 'account removal not finished; the account stays' && l.user === 'own@localhost');
      assert.match(JSON.stringify(line.err), /its contact bad@localhost cannot be read/);
      assert.ok(!(await readdir(spool)).includes('.yak-removals'), 'the refused removal is still listed: a later start would remove an account in use');
      assert.equal(await authResult(yak, 'own', { password: 'pw' }), 'result');
    } finally {
      await yak.stop();
    }
    assert.ok(!(await readdir(spool)).includes('.yak-removals'));
  }));

test('a start that fails finishes no listed removal, and one that cannot read the list stops, naming it', () =>
  withSpool(async (spool) => {
    const store = new SpoolStore(spool);
    await store.create('localhost', 'alice', { 'jabber:iq:auth': parseXml("<password xmlns='jabber:iq:auth'>pw</password>") });
    await store.close();
    await writeFile(path.join(spool, '.yak-removals'), '[["localhost","alice"]]\n');
    // A folder in the way of the control socket: the start is refused.
    await mkdir(path.join(spool, '.jabberctl.sock'));
    await assert.rejects(startYak({ spool }), /a folder is in the way of the control socket/);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(await readSpool(spool, 'localhost', 'alice'), 'a refused start removed the account');
    assert.equal(await readFile(path.join(spool, '.yak-removals'), 'utf8'), '[["localhost","alice"]]\n');
    await rm(path.join(spool, '.jabberctl.sock'), { recursive: true });
    await rm(path.join(spool, '.yak-removals'));
    await mkdir(path.join(spool, '.yak-removals'));
    await assert.rejects(startYak({ spool }), /\.yak-removals/);
    assert.ok(await readSpool(spool, 'localhost', 'alice'));
  }));

test('a start that fails after resuming a removal waits for it only as long as a stop would, then says why; the removal stays listed for the next start', { timeout: 60_000 }, () =>
  withSpool(async (spool) => {
    const first = await startYak({ spool });
    await accountWithContacts(first, 'leaving', ['pal']);
    await first.stop();
    await writeFile(path.join(spool, '.yak-removals'), '[["localhost","leaving"]]\n');
    // Telling pal never ends (as with many thousand contacts), and the port is taken.
    const update = SpoolStore.prototype.update;
    const told = latch();
    const release = latch();
    SpoolStore.prototype.update = async function (this: SpoolStore, ...args: Parameters<typeof update>) {
      if (args[1] === 'pal') {
        told.open();
        await release.promise;
      }
      return update.apply(this, args);
    } as typeof update;
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const captured = captureLog();
    try {
      const starting = startYak({ spool, log: captured.log, tweak: (cfg) => (cfg.c2s.listen = [{ port, address: '127.0.0.1' }]) });
      await told.promise;
      await assert.rejects(starting, /port in use/);
      assert.ok(captured.lines.some((l) => l.msg === 'start failed: an account removal it resumed is still running; the spool is closed under it, and the next start finishes it'));
    } finally {
      SpoolStore.prototype.update = update;
      release.open();
      taken.close();
    }
    assert.ok(await readSpool(spool, 'localhost', 'leaving'), 'the account went before its contacts were told');
    const second = await startYak({ spool });
    try {
      await second.server.jsm.removals.idle();
      assert.equal(await readSpool(spool, 'localhost', 'leaving'), undefined, 'the next start did not finish the removal');
      assert.equal(await subscriptionIn(second.server.xdb, 'pal', 'leaving@localhost'), 'none');
    } finally {
      await second.stop();
    }
  }));

test('a name registered again while the start looks at its listed removal is the new account\'s: not removed', () =>
  withSpool(async (spool) => {
    // alice's removal is listed, her file already gone (the crash came after the deletion).
    await writeFile(path.join(spool, '.yak-removals'), '[["localhost","alice"]]\n');
    const exists = SpoolStore.prototype.exists;
    const looking = latch();
    const looked = latch();
    SpoolStore.prototype.exists = async function (this: SpoolStore, host: string, user: string): Promise<boolean> {
      if (user === 'alice' && SpoolStore.prototype.exists !== exists) {
        SpoolStore.prototype.exists = exists;
        looking.open();
        await looked.promise;
      }
      return exists.call(this, host, user);
    };
    const captured = captureLog();
    try {
      const starting = startYak({ spool, log: captured.log });
      await looking.promise;
      // jabberctl adduser meanwhile, through the control socket already open.
      const added = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(path.join(spool, '.jabberctl.sock'));
        let text = '';
        sock.setEncoding('utf8').on('data', (d: string) => (text += d));
        sock.on('end', () => resolve(text.trim()));
        sock.on('error', reject);
        sock.end(JSON.stringify({ cmd: 'adduser', args: ['alice@localhost', 'new'] }) + '\n');
      });
      assert.equal(JSON.parse(added).ok, true, added);
      looked.open();
      const yak = await starting;
      try {
        await yak.server.jsm.removals.idle();
        assert.equal(await authResult(yak, 'alice', { password: 'new' }), 'result', 'the new account was removed');
        assert.ok(!captured.lines.some((l) => l.msg === 'finishing an account removal that a crash or a stop cut short'));
      } finally {
        await yak.stop();
      }
    } finally {
      SpoolStore.prototype.exists = exists;
      looked.open();
    }
  }));

test('<nounregister/>: <remove/> gets 405 and nothing is deleted', async () => {
  const yak = await startYak({ tweak: (cfg) => (cfg.jsm.nounregister = true) });
  try {
    await registerUser(yak, 'stays', 'pw');
    const c = await loginUser(yak, 'stays', 'pw');
    const reply = await ask(c, regSet('rm', '<remove/>', " to='localhost'"));
    assertXml(reply, errorReplyXml(" id='rm' from='localhost' to='stays@localhost/Work'", "<query xmlns='jabber:iq:register'><remove/></query>", 405, 'cancel', 'Not Allowed'));
    assert.ok(await readSpool(yak.spool, yak.host, 'stays'));
    assert.equal(await authResult(yak, 'stays', { password: 'pw' }), 'result');
    await c.close();
  } finally {
    await yak.stop();
  }
});

test("notify='yes' tells each admin (never the password); <welcome> waits offline for the new user", async () => {
  const yak = await startYak({
    tweak: (cfg) => {
      noLoginThrottle(cfg);
      cfg.jsm.admin.write = ['boss@localhost'];
      // SPEC 3: every JID in <admin>, <read> ones too.
      cfg.jsm.admin.read = ['reader@localhost'];
    },
  });
  try {
    // Admin names are refused in-band (anyone could take them): made as jabberctl adduser makes them.
    await addUser(yak, 'reader', 'reader-pw');
    await addUser(yak, 'boss', 'boss-pw');
    const boss = await loginUser(yak, 'boss', 'boss-pw');
    boss.sendRaw('<presence/>');
    await registerUser(yak, 'leslie', 'Never-In-A-Notice', LESLIE);
    const notice = await boss.next((e) => e.name === 'message' && (e.getChildText('body') ?? '').includes('leslie@localhost'));
    assertXml(notice, "<message from='localhost' to='boss@localhost'><subject>Registration Notice</subject><body>*</body></message>");
    const body = notice.getChildText('body')!;
    for (const field of ['Leslie Hawke', 'lel@plevna.com']) assert.ok(body.includes(field), body);
    assert.ok(!notice.toString().includes('Never-In-A-Notice'), notice.toString());
    await boss.close();
    // The <read> admin was offline: the notice waits for it.
    const reader = await loginUser(yak, 'reader', 'reader-pw');
    reader.sendRaw('<presence/>');
    const stored = await reader.next((e) => e.name === 'message' && (e.getChildText('body') ?? '').includes('leslie@localhost'));
    assertXml(
      stored,
      "<message from='localhost' to='reader@localhost'><subject>Registration Notice</subject><body>*</body><x xmlns='jabber:x:delay' from='*' stamp='*'>Offline Storage</x></message>",
    );
    assert.ok(!stored.toString().includes('Never-In-A-Notice'), stored.toString());
    await reader.close();

    const leslie = await loginUser(yak, 'leslie', 'Never-In-A-Notice');
    leslie.sendRaw('<presence/>');
    const welcome = await leslie.next((e) => e.name === 'message');
    assertXml(
      welcome,
      "<message from='localhost' to='*'><subject>Welcome!</subject><body>Welcome to this Jabber server. We hope you enjoy it.</body>" +
        "<x xmlns='jabber:x:delay' from='*' stamp='*'>Offline Storage</x></message>",
    );
    await leslie.close();
  } finally {
    await yak.stop();
  }
});

test('a <register> listing <username/> and <password/> (as a 1.4 admin might) asks for each once and never keeps the password with the fields', async () => {
  const configText = (await readFile(BUNDLED_CONFIG, 'utf8')).replace(
    /<register notify='yes'>[\s\S]*?<\/register>/,
    "<register notify='yes'><instructions>Fill in</instructions><name/><username/><password/><email/><key/></register>",
  );
  const yak = await startYak({ configText, tweak: (cfg) => {
    noLoginThrottle(cfg);
    cfg.jsm.admin.read = ['boss@localhost'];
  } });
  try {
    assert.deepEqual(yak.config.warnings.map((w) => w.replace(/^.*?<register>/, '<register>')), [
      '<register><username>: asked for in every registration form already, and never kept with the fields; ignored',
      '<register><password>: asked for in every registration form already, and never kept with the fields; ignored',
      '<register><key>: a word of the registration protocol, not a field; ignored',
    ]);
    const c = await yak.connect();
    const form = await c.request(parseXml("<iq type='get' id='f'><query xmlns='jabber:iq:register'/></iq>"));
    assertXml(form, "<iq type='result' id='f'><query xmlns='jabber:iq:register'><instructions>Fill in</instructions><name/><email/><username/><password/></query></iq>");
    await c.close();
    await addUser(yak, 'boss', 'boss-pw');
    const boss = await loginUser(yak, 'boss', 'boss-pw');
    boss.sendRaw('<presence/>');
    await registerUser(yak, 'newbie', 'Leak-Me-Not', { name: 'New Bie' });
    const notice = await boss.next((e) => e.name === 'message' && (e.getChildText('body') ?? '').includes('newbie@localhost'));
    assert.equal(notice.getChildText('body'), 'Registration has been completed for user newbie@localhost.\nname: New Bie');
    await boss.close();
    const newbie = await loginUser(yak, 'newbie', 'Leak-Me-Not');
    // A password change in session: still only the auth records hold it.
    await newbie.request(parseXml("<iq type='set' id='p'><query xmlns='jabber:iq:register'><password>Changed-Leak</password><email>n@b.ie</email></query></iq>"));
    const own = await newbie.request(parseXml("<iq type='get' id='o'><query xmlns='jabber:iq:register'/></iq>"));
    assertXml(
      own,
      "<iq type='result' id='o' to='newbie@localhost/Work'><query xmlns='jabber:iq:register'><password/><instructions>Fill in</instructions><name>New Bie</name><email>n@b.ie</email><key>*</key><registered/></query></iq>",
    );
    await newbie.close();
    const stored = await readSpool(yak.spool, yak.host, 'newbie');
    assertXml(stored!.records.get('jabber:iq:register')!, "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>New Bie</name><x xmlns='jabber:x:delay' stamp='*'>registered</x><email>n@b.ie</email></query>");
    const shown = await new AdminOps(yak.server.jsm).show('newbie@localhost');
    assert.deepEqual(shown.fields, { name: 'New Bie', email: 'n@b.ie' });
  } finally {
    await yak.stop();
  }
});

test('a password an older Yak kept in the registration record is not shown by jabberctl show, and goes at the next change of fields or password', async () => {
  const yak = await startYak({ tweak: noLoginThrottle });
  try {
    await registerUser(yak, 'olden', 'pw', { name: 'Old En' });
    await yak.server.xdb.set(yak.host, 'olden', {
      'jabber:iq:register': parseXml("<query xmlns='jabber:iq:register'><name>Old En</name><username>olden</username><password>Kept-Here</password></query>"),
    });
    const ops = new AdminOps(yak.server.jsm);
    assert.deepEqual((await ops.show('olden@localhost')).fields, { name: 'Old En' });
    const olden = await loginUser(yak, 'olden', 'pw');
    await olden.request(parseXml("<iq type='set' id='e'><query xmlns='jabber:iq:register'><email>o@l.d</email></query></iq>"));
    await olden.close();
    const stored = await readSpool(yak.spool, yak.host, 'olden');
    assertXml(stored!.records.get('jabber:iq:register')!, "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>Old En</name><email>o@l.d</email></query>");
    // A change of the password alone, in a session or by jabberctl passwd, drops it too.
    const kept = parseXml("<query xmlns='jabber:iq:register'><name>Old En</name><password>Kept-Here</password></query>");
    for (const change of ['session', 'jabberctl'] as const) {
      await yak.server.xdb.set(yak.host, 'olden', { 'jabber:iq:register': kept.clone() });
      if (change === 'jabberctl') await ops.passwd('olden@localhost', 'by-admin');
      else {
        const c = await loginUser(yak, 'olden', 'pw');
        await c.request(parseXml("<iq type='set' id='p'><query xmlns='jabber:iq:register'><password>pw</password></query></iq>"));
        await c.close();
      }
      const after = await readSpool(yak.spool, yak.host, 'olden');
      assertXml(after!.records.get('jabber:iq:register')!, "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>Old En</name></query>");
    }
  } finally {
    await yak.stop();
  }
});
