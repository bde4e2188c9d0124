// The client library (src/client/) against a real server: registration,
// login by each method, errors as exceptions, stream events; and the
// user-list parser reguser --file uses.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  IqError,
  NoAuthMethodError,
  ReplyTimeoutError,
  StreamClosedError,
  authOffer,
  chooseMethod,
  connect,
  login,
  register,
  registrationForm,
  streamErrorText,
} from '../src/client/index.js';
import {
  parseFieldPairs,
  parseUserList,
  splitCsvLine,
  splitWords,
  UserListError,
  type UserRecord,
} from '../src/client/user-list.js';
import { Element } from '../src/xml/element.js';
import { startYak, type TestYak } from './helpers/yak.js';

async function rejectsWith<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, but it resolved`);
}

describe('client library against the bundled config', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
  });
  after(() => yak.stop());

  test("the library's own example: connect, register, login, close", async () => {
    const c = await connect({ host: '127.0.0.1', port: yak.port, domain: yak.host });
    await register(c, { username: 'example', password: 'secret', name: 'DJ Adams' });
    const result = await login(c, { username: 'example', password: 'secret', resource: 'Work' });
    assert.equal(result.jid, `example@${yak.host}/Work`);
    await c.close();
  });

  test('registrationForm lists the fields in server order, without instructions', async () => {
    const c = await yak.connect();
    const form = await registrationForm(c);
    assert.deepEqual(form.fields, ['name', 'email', 'username', 'password']);
    assert.equal(form.instructions, 'Choose a username and password to register with this server.');
    await c.close();
  });

  test('register, then the same name again: IqError 409 with code, text and type', async () => {
    const c = await yak.connect();
    await register(c, { username: 'leslie', password: 'secret', email: 'lel@plevna.com', name: 'Leslie Hawke' });
    const err = await rejectsWith(register(c, [['username', 'LESLIE'], ['password', 'other']]), IqError);
    assert.equal(err.code, 409);
    assert.equal(err.text, 'Username Not Available');
    assert.equal(err.type, 'cancel');
    assert.equal(err.display, '409 (Username Not Available)');
    // The connection stays usable and unauthenticated.
    const missing = await rejectsWith(register(c, { username: 'nopassword' }), IqError);
    assert.equal(missing.code, 406);
    await c.close();
  });

  test('authOffer reports every loaded method, the 0k sequence and token', async () => {
    const c = await yak.connect();
    await register(c, { username: 'offer', password: 'pw' });
    const offer = await authOffer(c, 'offer');
    assert.deepEqual([...offer.methods].sort(), ['0k', 'digest', 'plain']);
    assert.equal(offer.sequence, 499);
    assert.match(offer.token ?? '', /^[0-9A-F]{8}$/);
    assert.equal(chooseMethod(offer), 'digest');
    await c.close();
  });

  test('login without a method picks digest; the session is live', async () => {
    const c = await yak.connect();
    await register(c, { username: 'auto', password: 'pw' });
    const seen: Element[] = [];
    c.on('stanza', (e: Element) => seen.push(e));
    const result = await login(c, { username: 'auto', password: 'pw', resource: 'Work' });
    assert.deepEqual(result, { method: 'digest', jid: `auto@${yak.host}/Work` });
    assert.ok(seen.some((e) => e.name === 'iq' && e.attrs.type === 'result'), "'stanza' events carry the replies");
    await c.close();
  });

  for (const method of ['plain', 'digest', '0k'] as const) {
    test(`login with ${method}: right password in, wrong password 401`, async () => {
      const user = `m${method}`;
      const c = await yak.connect();
      await register(c, { username: user, password: 'right' });
      const bad = await rejectsWith(login(c, { username: user, password: 'wrong', method }), IqError);
      assert.equal(bad.code, 401);
      assert.equal((await login(c, { username: user, password: 'right', method })).method, method);
      await c.close();
    });
  }

  test('0k spends one link of the chain per login', async () => {
    const c1 = await yak.connect();
    await register(c1, { username: 'chain', password: 'pw' });
    await login(c1, { username: 'chain', password: 'pw', method: '0k' });
    await c1.close();
    const c2 = await yak.connect();
    assert.equal((await authOffer(c2, 'chain')).sequence, 498);
    await login(c2, { username: 'chain', password: 'pw', method: '0k', resource: 'Second' });
    await c2.close();
  });

  test('an unknown user: 401 from the get', async () => {
    const c = await yak.connect();
    const err = await rejectsWith(login(c, { username: 'nobody', password: 'x' }), IqError);
    assert.equal(err.code, 401);
    await c.close();
  });

  test('an unknown host: a stream-error event, then requests fail with StreamClosedError carrying it', async () => {
    const errors: Element[] = [];
    const c = await yak.connect({ domain: 'elsewhere.example', setup: (s) => s.on('stream-error', (e: Element) => errors.push(e)) });
    const err = await rejectsWith(registrationForm(c), StreamClosedError);
    assert.ok(err.streamError);
    assert.equal(streamErrorText(err.streamError), 'Unknown Host (host-unknown)');
    assert.match(err.message, /Unknown Host/);
    assert.equal(c.streamError, err.streamError);
    assert.deepEqual(errors, [err.streamError]);
  });

  test("setup sees the features that come with a version='1.0' header", async () => {
    const seen: string[] = [];
    const c = await yak.connect({ headerAttrs: { version: '1.0' }, setup: (s) => s.on('stanza', (e: Element) => seen.push(e.name)) });
    await c.next((e) => e.name === 'stream:features');
    assert.deepEqual(seen, ['stream:features']);
    await c.close();
  });

  test('a request nobody answers rejects with ReplyTimeoutError and the stream stays open', async () => {
    const c = await yak.connect();
    // Before login, anything but register/auth waits in the pre-auth queue unanswered.
    const version = new Element('iq', { type: 'get', to: yak.host }, [new Element('query', { xmlns: 'jabber:iq:version' })]);
    await rejectsWith(c.request(version, 200), ReplyTimeoutError);
    assert.equal(c.closed, false);
    assert.deepEqual((await registrationForm(c)).fields.slice(-2), ['username', 'password']);
    await c.close();
  });
});

describe('client library: method choice follows what the server offers', () => {
  test('without mod_auth_digest, 0k is chosen; asking for digest fails', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.modules = c.jsm.modules.filter((m) => m !== 'mod_auth_digest');
      },
    });
    try {
      const c = await yak.connect();
      await register(c, { username: 'nodigest', password: 'pw' });
      // digest explicitly: no get, the server refuses it.
      assert.equal((await rejectsWith(login(c, { username: 'nodigest', password: 'pw', method: 'digest' }), IqError)).code, 401);
      assert.equal((await login(c, { username: 'nodigest', password: 'pw' })).method, '0k');
      await c.close();
    } finally {
      await yak.stop();
    }
  });

  test('with only mod_auth_plain, plain is chosen and 0k is refused locally', async () => {
    const yak = await startYak({
      tweak: (c) => {
        c.jsm.modules = c.jsm.modules.filter((m) => m !== 'mod_auth_digest' && m !== 'mod_auth_0k');
      },
    });
    try {
      const c = await yak.connect();
      await register(c, { username: 'plainonly', password: 'pw' });
      assert.deepEqual((await authOffer(c, 'plainonly')).methods, ['plain']);
      await rejectsWith(login(c, { username: 'plainonly', password: 'pw', method: '0k' }), NoAuthMethodError);
      assert.equal((await login(c, { username: 'plainonly', password: 'pw' })).method, 'plain');
      await c.close();
    } finally {
      await yak.stop();
    }
  });
});

describe('IqError reads both error styles', () => {
  test('legacy code and text', () => {
    const err = new IqError(new Element('iq', { type: 'error' }, [new Element('error', { code: '406' }, ['Not Acceptable'])]));
    assert.equal(err.code, 406);
    assert.equal(err.text, 'Not Acceptable');
    assert.equal(err.display, '406 (Not Acceptable)');
  });

  test('RFC 6120 condition without a code', () => {
    const err = new IqError(
      new Element('iq', { type: 'error' }, [
        new Element('error', { type: 'cancel' }, [new Element('conflict', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' })]),
      ]),
    );
    assert.equal(err.code, undefined);
    assert.equal(err.condition, 'conflict');
    assert.equal(err.display, 'conflict (conflict)');
  });
});

describe('user lists (reguser --file)', () => {
  test('splitWords quotes like a shell', () => {
    assert.deepEqual(splitWords(`a=1  'b=two words' "c=say \\"x\\"" d=back\\ slash e=''`), [
      'a=1',
      'b=two words',
      'c=say "x"',
      'd=back slash',
      'e=',
    ]);
    // ASCII white space splits, as in a shell; a no-break or ideographic space is part of the word.
    assert.deepEqual(splitWords('name=Li\u3000Wei\tx=a\u00a0b'), ['name=Li\u3000Wei', 'x=a\u00a0b']);
    assert.throws(() => splitWords(`a='open`), /unterminated single quote/);
    assert.throws(() => splitWords(`a="open`), /unterminated double quote/);
  });

  test('parseFieldPairs splits at the first = and checks the fields', () => {
    assert.deepEqual(parseFieldPairs(['username=u', 'password=a=b', 'name=']), [
      ['username', 'u'],
      ['password', 'a=b'],
      ['name', ''],
    ]);
    assert.throws(() => parseFieldPairs(['username=u']), /password missing/);
    assert.throws(() => parseFieldPairs(['username=u', 'password=']), /password missing/);
    assert.throws(() => parseFieldPairs(['username=u', 'password=p', 'username=v']), /username given twice/);
    assert.throws(() => parseFieldPairs(['username=u', 'password=p', '<x>=1']), /not a field name/);
  });

  test('splitCsvLine follows RFC 4180 quoting', () => {
    assert.deepEqual(splitCsvLine('a,"b, c","say ""hi""",,e'), ['a', 'b, c', 'say "hi"', '', 'e']);
    assert.throws(() => splitCsvLine('a,"b'), /unterminated/);
    assert.throws(() => splitCsvLine('a,"b"c'), /after a closing quote/);
  });

  test('parseUserList: pairs format with comments, blank lines and line numbers', () => {
    const list = parseUserList('\ufeff# header comment\n\nusername=a password=1\nusername=b\r\nusername=c password=3 "name=C C"\n');
    assert.equal(list.format, 'pairs');
    assert.deepEqual(
      list.entries.map((e) => (e.kind === 'user' ? `${e.line}:${e.username}` : `${e.line}!${e.reason}`)),
      ['3:a', '4!password missing', '5:c'],
    );
    assert.deepEqual((list.entries[2] as UserRecord).fields.at(-1), ['name', 'C C']);
  });

  test('parseUserList: CSV with a header; empty cells leave a field out', () => {
    const list = parseUserList('username,password,name\nx,1,\ny,2,Y Y\nz,3\n');
    assert.equal(list.format, 'csv');
    assert.deepEqual(list.entries, [
      { kind: 'user', line: 2, username: 'x', fields: [['username', 'x'], ['password', '1']] },
      { kind: 'user', line: 3, username: 'y', fields: [['username', 'y'], ['password', '2'], ['name', 'Y Y']] },
      { kind: 'broken', line: 4, reason: '2 values for 3 columns' },
    ]);
    assert.throws(() => parseUserList('username,name\n'), UserListError);
    assert.throws(() => parseUserList('username,password,username\n'), /given twice/);
  });
});
