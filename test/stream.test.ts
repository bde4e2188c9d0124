// SPEC section 1 (and the stream-level bounds of section 2): the header
// exchange byte by byte, and every stream error with its 1.4 text and RFC
// condition, followed by </stream:stream> and the socket closing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { authIq, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { captureLog, logLine } from './helpers/log-capture.js';
import { assertXml } from './helpers/xml-assert.js';
import type { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import {
  assertServerHeader,
  assertStreamError,
  clientHeader,
  RawClient,
  readSpool,
} from './helpers/transcript.js';

/** `n` attributes a0='x' ... for a header or stanza. */
const manyAttrs = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`a${i}`, 'x']));

const FORM_GET = (id: string, inside = ''): string =>
  `<iq type='get' id='${id}'><query xmlns='jabber:iq:register'>${inside}</query></iq>`;

/** `stanza(n)` with `n` chosen so that it is exactly `size` characters (ASCII, so bytes too). */
function paddedTo(size: number, stanza: (n: number) => string): string {
  return stanza(size - stanza(0).length);
}

/** A register get of exactly `size` characters. */
function paddedGet(id: string, size: number): string {
  return paddedTo(size, (n) => FORM_GET(id, `<pad>${'x'.repeat(n)}</pad>`));
}

/** Opens a raw stream to the host and waits for the server's header. */
async function open(yak: TestYak, to = yak.host, extra: Record<string, string> = {}): Promise<RawClient> {
  const c = await RawClient.connect(yak.port);
  c.write(clientHeader(to, extra));
  await c.serverHeader();
  return c;
}

/** A raw stream logged in as `user` (registered first). */
async function openSession(yak: TestYak, user: string): Promise<RawClient> {
  await registerUser(yak, user, 'secret');
  const c = await open(yak);
  c.write(authIq(user, 'Work', { password: 'secret' }, 'login').toString());
  assertXml(await c.next(), "<iq type='result' id='login'/>");
  return c;
}

describe('stream header exchange', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
  });
  after(() => yak.stop());

  test('a header without version, or with one below 1.0 (RFC 3920 4.4.1), gets exactly the 1.4 answer and no features', async () => {
    for (const extra of [{}, { version: '0.9' }, { version: '' }, { version: '1' }, { version: 'one' }] as Record<string, string>[]) {
      const c = await open(yak, 'localhost', extra);
      try {
        const header = assertServerHeader(c.text, 'localhost');
        assert.equal(c.text, header, 'nothing follows the header until the client speaks');
        c.write(FORM_GET('f1'));
        // The first stanza is the reply: no <stream:features> came before it.
        assert.equal((await c.next()).name, 'iq', JSON.stringify(extra));
      } finally {
        c.destroy();
      }
    }
  });

  test("version='1.0', or a later one (RFC 3920 4.4.1: the lower of the two), gets version='1.0' and the iq-auth/iq-register features", async () => {
    for (const version of ['1.0', '1.1', '2.0', '1.10', '01.0']) {
      const c = await open(yak, 'localhost', { version });
      try {
        assertServerHeader(c.text, 'localhost', true);
        assertXml(
          await c.next(),
          "<stream:features><auth xmlns='http://jabber.org/features/iq-auth'/>" +
            "<register xmlns='http://jabber.org/features/iq-register'/></stream:features>",
        );
      } finally {
        c.destroy();
      }
    }
  });

  test('the declaration is optional; the id is random per connection and ignores the client id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const c = await RawClient.connect(yak.port);
      try {
        c.write(clientHeader('localhost', { id: 'DEADBEEF', 'xml:lang': 'en', foo: 'bar' }, i % 2 === 0));
        await c.serverHeader();
        assertServerHeader(c.text, 'localhost');
        ids.add(c.header!.id!);
      } finally {
        c.destroy();
      }
    }
    assert.equal(ids.size, 6, `ids repeat: ${[...ids]}`);
    assert.ok(!ids.has('DEADBEEF'));
  });

  test('a declaration naming its encoding (as libraries write it) is accepted, and the stream is read as UTF-8', async () => {
    for (const declaration of ['<?xml version="1.0" encoding="UTF-8"?>', "<?xml version='1.0' encoding='utf-8'?>"]) {
      const c = await RawClient.connect(yak.port);
      try {
        c.write(declaration + clientHeader('localhost', {}, false));
        await c.serverHeader();
        assertServerHeader(c.text, 'localhost');
        c.write(FORM_GET('é☃𝄞'));
        assert.equal((await c.next()).attrs.id, 'é☃𝄞', declaration);
      } finally {
        c.destroy();
      }
    }
  });

  test('</stream:stream> is answered with </stream:stream> and the connection closes', async () => {
    const c = await open(yak);
    c.write('</stream:stream>');
    await c.whenClosed();
    const header = assertServerHeader(c.text, 'localhost');
    assert.equal(c.text, header + '</stream:stream>');
  });

  test('UTF-8 characters split across TCP writes still parse', async () => {
    const c = await RawClient.connect(yak.port);
    try {
      // Every byte its own write: each multi-byte character arrives in pieces.
      await c.writeBytewise(clientHeader('localhost'));
      await c.writeBytewise("<iq type='get' id='ü☃𝄞'><query xmlns='jabber:iq:register'/></iq>");
      assert.equal((await c.next()).attrs.id, 'ü☃𝄞');
      const name = 'Lé ☃ 𝄞 Ωmega';
      const set =
        "<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>splitter</username>" +
        `<password>sécret</password><name>${name}</name></query></iq>`;
      await c.writeBytewise(set);
      assertXml(await c.next(), "<iq type='result' id='r'/>");
      const spool = await readSpool(yak.spool, yak.host, 'splitter');
      assert.equal(spool?.records.get('jabber:iq:register')?.getChildText('name'), name);
      assert.equal(spool?.records.get('jabber:iq:auth')?.text(), 'sécret');
    } finally {
      c.destroy();
    }
  });
});

describe('stream errors', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: (cfg) => (cfg.c2s.karma = undefined) });
  });
  after(() => yak.stop());

  /** Sends `bytes` on a fresh connection and expects this stream error. */
  async function refused(bytes: string, text: string, condition: string): Promise<void> {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(bytes);
      await assertStreamError(c, text, condition);
    } finally {
      c.destroy();
    }
  }

  const H = clientHeader('localhost');
  const cases: [string, string, string, string][] = [
    ['wrong default namespace', clientHeader('localhost', { xmlns: 'jabber:server' }), 'Invalid Namespace', 'invalid-namespace'],
    ['wrong stream namespace', clientHeader('localhost', { 'xmlns:stream': 'http://example.com/streams' }), 'Invalid Stream Namespace', 'invalid-namespace'],
    // Unprefixed, the stream element makes the streams namespace the default: its stanzas would not be jabber:client.
    // Before login a stanza holds at most 1,000 elements, attributes and texts: memory goes by those, not by characters.
    ['a pre-login stanza of 1,001 elements', H + `<iq type='get' id='n'><query xmlns='jabber:iq:auth'>${'<b/>'.repeat(999)}</query></iq>`, 'Stanza Too Large', 'policy-violation'],
    // Attributes count too: each is a string and a property once parsed.
    ['a pre-login stanza of 1,000 attributes', H + `<iq type='get' id='n'><query xmlns='jabber:iq:auth' ${Array.from({ length: 1000 }, (_, i) => `a${i}='x'`).join(' ')}/></iq>`, 'Stanza Too Large', 'policy-violation'],
    // to, xmlns and xmlns:stream, and 998 more: a header holds at most 1,000 attributes, as a stanza before login.
    ['a header of 1,001 attributes', clientHeader('localhost', manyAttrs(998)), 'Stanza Too Large', 'policy-violation'],
    ['unprefixed stream element', "<stream to='localhost' xmlns='http://etherx.jabber.org/streams'>", 'Invalid Namespace', 'invalid-namespace'],
    ['root element not stream', "<stream:foo to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", 'Invalid Stream Namespace', 'invalid-namespace'],
    ['missing to', clientHeader(undefined), 'Did not specify a valid to argument', 'improper-addressing'],
    ['empty to', clientHeader(' '), 'Did not specify a valid to argument', 'improper-addressing'],
    ['unknown host', clientHeader('elsewhere.example.org'), 'Unknown Host', 'host-unknown'],
    ['invalid XML in a stanza', H + "<iq type='get'><</iq>", 'Invalid XML', 'not-well-formed'],
    ['mismatched end tag', H + '<message><body>x</message>', 'Invalid XML', 'not-well-formed'],
    ['undefined entity', H + '<message><body>&nbsp;</body></message>', 'Invalid XML', 'not-well-formed'],
    // At once: saxes alone waited for a ';' and swallowed every stanza until one came.
    ['a bare & with no ; after it', H + "<message to='a@localhost'><body>Tom & Jerry</body></message>", 'Invalid XML', 'not-well-formed'],
    ['text before the header', 'hello', 'Invalid XML', 'not-well-formed'],
    // Forwarded, it made every namespace-aware client that read it drop its connection.
    ['an unbound prefix in a message', H + "<message to='a@localhost' type='chat'><body>hi</body><x:y/></message>", 'Invalid XML', 'not-well-formed'],
    ['an unbound prefix on an attribute', H + "<message to='a@localhost'><body foo:bar='1'>hi</body></message>", 'Invalid XML', 'not-well-formed'],
    ['a prefix bound to no namespace', H + "<message to='a@localhost' xmlns:p=''><p:x/></message>", 'Invalid XML', 'not-well-formed'],
    ['DOCTYPE', "<?xml version='1.0'?><!DOCTYPE stream:stream>" + H.slice(21), 'Invalid XML', 'restricted-xml'],
    ['entity declaration', "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'b'>]>" + H.slice(21), 'Invalid XML', 'restricted-xml'],
    ['processing instruction in the stream', H + "<?foo bar?>", 'Invalid XML', 'restricted-xml'],
    ['processing instruction before the header', "<?foo bar?>" + H, 'Invalid XML', 'restricted-xml'],
    ['comment in the stream', H + '<!-- hello -->', 'Invalid XML', 'restricted-xml'],
    ['comment inside a stanza', H + '<message><!-- x --></message>', 'Invalid XML', 'restricted-xml'],
    ['comment before the header', "<?xml version='1.0'?><!-- hello -->" + H.slice(21), 'Invalid XML', 'restricted-xml'],
    // XML 1.1 would allow &#x1;: parsed as 1.0 whatever the declaration, it never reaches a spool file.
    ['a control character in an XML 1.1 stream', "<?xml version='1.1'?>" + H.slice(21) + "<message to='a@localhost'><body>x&#x1;y</body></message>", 'Invalid XML', 'not-well-formed'],
    ['ESC in an XML 1.1 stream', "<?xml version='1.1'?>" + H.slice(21) + "<iq type='get' id='r'><query xmlns='jabber:iq:register'><name>&#x1b;[31m</name></query></iq>", 'Invalid XML', 'not-well-formed'],
    // Read as UTF-8 whatever it says: a Latin-1 client was let in, then cut off at its first accented letter as "Invalid XML".
    ['an XML declaration naming ISO-8859-1', "<?xml version='1.0' encoding='ISO-8859-1'?>" + H.slice(21), 'Unsupported Encoding', 'unsupported-encoding'],
    ['an XML declaration naming UTF-16', "<?xml version='1.0' encoding='UTF-16'?>" + H.slice(21), 'Unsupported Encoding', 'unsupported-encoding'],
    // Only message, presence and iq are stanzas: anything else would be routed into someone's stream as it is.
    ['a <stream:error> sent as a stanza', H + "<stream:error to='a@localhost/r'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", 'Unsupported Stanza Type', 'unsupported-stanza-type'],
    ['a prefixed stanza', H + "<c:message xmlns:c='jabber:client' to='a@localhost'><body>x</body></c:message>", 'Unsupported Stanza Type', 'unsupported-stanza-type'],
    ['a stanza in jabber:server', H + "<message xmlns='jabber:server' to='a@localhost'><body>x</body></message>", 'Invalid Namespace', 'invalid-namespace'],
  ];
  for (const [name, bytes, text, condition] of cases) {
    test(`${name}: ${condition}`, () => refused(bytes, text, condition));
  }

  test('a client that half-closes after its requests (`... | nc`) still gets the replies, then </stream:stream>', async () => {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(
        H +
          "<iq type='set' id='hc1'><query xmlns='jabber:iq:register'><username>halfclose</username><password>pw</password></query></iq>" +
          "<iq type='get' id='hc2'><query xmlns='jabber:iq:auth'><username>halfclose</username></query></iq>",
      );
      c.socket.end();
      assert.deepEqual([(await c.next()).attrs.id, (await c.next()).attrs.id], ['hc1', 'hc2']);
      await c.whenClosed();
      assert.ok(c.text.endsWith('</stream:stream>'), c.text);
    } finally {
      c.socket.destroy();
    }
  });

  test('a header of 1,000 attributes is still a header', async () => {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(clientHeader('localhost', manyAttrs(997)) + FORM_GET('many'));
      assert.equal((await c.next()).attrs.id, 'many');
    } finally {
      c.destroy();
    }
  });

  test('a request read in the same packet as what ends the stream is carried out and answered before the stream error', async () => {
    // One write each, so the request and the bad bytes reach the server in
    // one read: the registration takes effect, so the client must learn it.
    const endings: [string, string, string][] = [
      ['<x&>', 'Invalid XML', 'not-well-formed'],
      ["<stream:error to='a@localhost'/>", 'Unsupported Stanza Type', 'unsupported-stanza-type'],
      ["<message xmlns='jabber:server' to='a@localhost'/>", 'Invalid Namespace', 'invalid-namespace'],
    ];
    for (const [i, [ending, text, condition]] of endings.entries()) {
      const name = `sameread${i}`;
      const c = await RawClient.connect(yak.port);
      try {
        c.write(H + `<iq type='set' id='r${i}'><query xmlns='jabber:iq:register'><username>${name}</username><password>pw</password></query></iq>` + ending);
        await assertStreamError(c, text, condition);
        const replies = parseXml(c.text).elements;
        assert.equal(replies.length, 2, c.text);
        assertXml(replies[0]!, `<iq type='result' id='r${i}'/>`);
        assert.equal(await yak.server.xdb.exists('localhost', name), true, `${name} was not registered`);
      } finally {
        c.destroy();
      }
    }
    // After the client's </stream:stream> the stream is over: what follows is not read, and the close is the ordinary one.
    const c = await RawClient.connect(yak.port);
    try {
      c.write(H + "<iq type='set' id='e'><query xmlns='jabber:iq:register'><username>samereadend</username><password>pw</password></query></iq></stream:stream>x");
      await c.whenClosed();
      assertXml(parseXml(c.text).elements[0]!, "<iq type='result' id='e'/>");
      assert.ok(c.text.endsWith("<iq type='result' id='e'/></stream:stream>"), c.text);
    } finally {
      c.destroy();
    }
  });

  test('a request ended by the wrong end tag is refused before it is acted on', async () => {
    const register = (name: string): string =>
      `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>${name}</username><password>pw</password></query>`;
    await refused(H + register('badclose1') + '</message>', 'Invalid XML', 'not-well-formed');
    await refused(H + register('badclose2') + '</stream:stream>', 'Invalid XML', 'not-well-formed');
    for (const name of ['badclose1', 'badclose2']) assert.equal(await yak.server.xdb.exists('localhost', name), false, `${name} was registered`);
  });

  test('bytes that are not UTF-8 end the stream: Invalid XML', async () => {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(H);
      // 0xC3 starts a two-byte character; 0x28 '(' cannot continue it.
      c.write(Buffer.from([0x3c, 0x6d, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x6d, 0x3e]));
      await assertStreamError(c, 'Invalid XML', 'not-well-formed');
    } finally {
      c.destroy();
    }
  });

  test('a request in the same packet before bytes that are not UTF-8 is carried out and answered first', async () => {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(H);
      await c.serverHeader();
      const register = "<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>utf8first</username><password>pw</password></query></iq>";
      c.write(Buffer.concat([Buffer.from(register), Buffer.from([0xff])]));
      await assertStreamError(c, 'Invalid XML', 'not-well-formed');
      assert.match(c.text, /<iq type='result' id='r1'\/><stream:error>/);
      assert.equal(await yak.server.xdb.exists('localhost', 'utf8first'), true);
    } finally {
      c.destroy();
    }
  });

  test('a character cut short by the end of the stream is not UTF-8 either: Invalid XML', async () => {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(H);
      await c.serverHeader();
      // 0xC3 starts a two-byte character; the client's FIN comes instead of the second.
      c.socket.end(Buffer.from([0xc3]));
      await assertStreamError(c, 'Invalid XML', 'not-well-formed');
    } finally {
      c.destroy();
    }
  });

  /**
   * An auth get whose username holds a real U+FFFD (EF BF BD), sent in
   * pieces cut at `cuts` (offsets from the character's first byte), with a
   * pause between them so each piece is a read of its own. Returns the reply.
   */
  async function sendWithRealReplacementChar(id: string, cuts: number[]): Promise<Element> {
    const c = await RawClient.connect(yak.port);
    try {
      c.write(H);
      // In the id, which is echoed (a username may not hold U+FFFD).
      const iq = Buffer.from(`<iq type='get' id='${id}\uFFFD'><query xmlns='jabber:iq:auth'><username>nobody</username></query></iq>`);
      const at = iq.indexOf(Buffer.from('\uFFFD'));
      let from = 0;
      for (const cut of cuts) {
        c.write(iq.subarray(from, at + cut));
        from = at + cut;
        await new Promise((r) => setTimeout(r, 50));
      }
      c.write(iq.subarray(from));
      return await c.next();
    } finally {
      c.destroy();
    }
  }

  test('a real U+FFFD split between two reads is accepted', async () => {
    const reply = await sendWithRealReplacementChar('ff', [2]);
    assert.equal(reply.attrs.id, 'ff\uFFFD', `answered, not a stream error: ${reply.toString()}`);
    assert.equal(reply.getChild('error')?.attrs.code, '401');
  });

  test('a real U+FFFD arriving one byte per read is accepted', async () => {
    const reply = await sendWithRealReplacementChar('f3', [1, 2, 3]);
    assert.equal(reply.attrs.id, 'f3\uFFFD', `answered, not a stream error: ${reply.toString()}`);
    assert.equal(reply.getChild('error')?.attrs.code, '401');
  });

  test('a stanza of 64 KiB is accepted before login, one character more is not', async () => {
    const c = await open(yak);
    try {
      c.write(paddedGet('max', 65536));
      assert.equal((await c.next()).attrs.id, 'max');
    } finally {
      c.destroy();
    }
    await refused(H + paddedGet('over', 65537), '*', 'policy-violation');
  });

  test('the size bound counts the stanza start tag too', async () => {
    // A huge attribute on the stanza element itself, never closed: must not be buffered forever.
    await refused(H + `<message to='${'x'.repeat(70000)}'`, '*', 'policy-violation');
    await refused(H + `<iq type='get' id='${'x'.repeat(70000)}'><query xmlns='jabber:iq:register'/></iq>`, '*', 'policy-violation');
  });

  test('after login the larger limit applies: a stanza of 256 KiB is accepted, one character more is not', async () => {
    const c = await openSession(yak, 'bigstanza');
    try {
      const inSession = (id: string, size: number): string =>
        paddedTo(size, (n) => `<iq type='get' id='${id}' to='localhost'><query xmlns='jabber:iq:register'><pad>${'y'.repeat(n)}</pad></query></iq>`);
      assert.equal(inSession('big', 262144).length, 262144);
      c.write(inSession('big', 262144));
      assert.equal((await c.next()).attrs.id, 'big');
      c.write(inSession('huge', 262145));
      await assertStreamError(c, '*', 'policy-violation');
    } finally {
      c.destroy();
    }
  });

  test('nesting: depth 32 (the stream counts as 1) is accepted, 33 is refused', async () => {
    // stream 1, iq 2, query 3, then k levels of <a>.
    const nested = (k: number): string => '<a>'.repeat(k) + '</a>'.repeat(k);
    const c = await open(yak);
    try {
      c.write(FORM_GET('deep', nested(29)));
      assert.equal((await c.next()).attrs.id, 'deep');
    } finally {
      c.destroy();
    }
    await refused(H + FORM_GET('deeper', nested(30)), '*', 'policy-violation');
  });

  test('pre-auth queue: 32 stanzas wait, the 33rd ends the stream', async () => {
    const c = await open(yak);
    try {
      const msg = (i: number): string => `<message to='nobody@localhost'><body>${i}</body></message>`;
      for (let i = 1; i <= 32; i++) c.write(msg(i));
      c.write(FORM_GET('alive'));
      assert.equal((await c.next()).attrs.id, 'alive');
      c.write(msg(33));
      await assertStreamError(c, '*', 'policy-violation');
    } finally {
      c.destroy();
    }
  });

  test('pre-auth queue: 64 KiB in total wait, one character more ends the stream', async () => {
    const msg = (size: number): string => paddedTo(size, (n) => `<message to='nobody@localhost'><body>${'z'.repeat(n)}</body></message>`);
    const c = await open(yak);
    try {
      c.write(msg(40000));
      c.write(msg(65536 - 40000));
      c.write(FORM_GET('alive'));
      assert.equal((await c.next()).attrs.id, 'alive');
    } finally {
      c.destroy();
    }
    await refused(H + msg(40000) + msg(65536 - 40000 + 1), '*', 'policy-violation');
  });
});

describe('stream: <alias> and <authtime>', () => {
  test('default alias: any name is served as the aliased host', async () => {
    const yak = await startYak({ tweak: (cfg) => (cfg.c2s.aliases = [{ to: 'localhost', from: undefined }]) });
    try {
      const c = await open(yak, 'chat.example.org');
      assertServerHeader(c.text, 'localhost');
      c.write(FORM_GET('f'));
      assert.equal((await c.next()).attrs.type, 'result');
      c.destroy();
    } finally {
      await yak.stop();
    }
  });

  test('default alias overrides even another served host (1.4 order); a named alias comes first', async () => {
    const yak = await startYak({
      tweak: (cfg) => {
        cfg.hosts = ['localhost', 'other.example'];
        cfg.c2s.aliases = [{ to: 'localhost', from: undefined }, { to: 'other.example', from: 'chat.example.org' }];
      },
    });
    try {
      for (const [to, host] of [['other.example', 'localhost'], ['anything.example', 'localhost'], ['chat.example.org', 'other.example']]) {
        const c = await open(yak, to!);
        assertServerHeader(c.text, host!);
        c.destroy();
      }
    } finally {
      await yak.stop();
    }
  });

  test('named alias maps one name (case-insensitively); other names stay unknown', async () => {
    const yak = await startYak({ tweak: (cfg) => (cfg.c2s.aliases = [{ to: 'localhost', from: 'chat.example.org' }]) });
    try {
      for (const to of ['chat.example.org', 'Chat.Example.ORG', 'localhost']) {
        const c = await open(yak, to);
        assertServerHeader(c.text, 'localhost');
        c.destroy();
      }
      const c = await RawClient.connect(yak.port);
      c.write(clientHeader('other.example.org'));
      await assertStreamError(c, '*', 'host-unknown');
    } finally {
      await yak.stop();
    }
  });

  test('virtual hosts: the header names the host `to` chose (case-insensitively); accounts are per host', async () => {
    const yak = await startYak({ tweak: (cfg) => (cfg.hosts = ['localhost', 'other.example']) });
    try {
      for (const [to, host] of [['other.example', 'other.example'], ['OTHER.Example', 'other.example'], ['LocalHost', 'localhost']]) {
        const c = await open(yak, to!);
        assertServerHeader(c.text, host!);
        c.destroy();
      }
      const other = await open(yak, 'other.example');
      other.write("<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>vh</username><password>pw</password></query></iq>");
      assertXml(await other.next(), "<iq type='result' id='r'/>");
      other.write(authIq('vh', 'Work', { password: 'pw' }, 'in').toString());
      assertXml(await other.next(), "<iq type='result' id='in'/>");
      other.write("<iq type='get' id='me' to='other.example'><query xmlns='jabber:iq:register'/></iq>");
      assert.equal((await other.next()).attrs.to, 'vh@other.example/Work');
      other.destroy();
      assert.ok(await readSpool(yak.spool, 'other.example', 'vh'));
      assert.equal(await readSpool(yak.spool, 'localhost', 'vh'), undefined);
      const local = await open(yak, 'localhost');
      local.write(authIq('vh', 'Work', { password: 'pw' }, 'no').toString());
      assert.equal((await local.next()).getChild('error')?.attrs.code, '401');
      local.destroy();
    } finally {
      await yak.stop();
    }
  });

  /**
   * A login whose right password comes after one free failure, so it waits
   * `waitMs` (the failed-login wait) on a server with a 1 s <authtime>:
   * still in hand when the time runs out. Asserts it is answered and that
   * the stream stays.
   */
  async function loginHeldPastAuthtime(user: string, waitMs: number): Promise<void> {
    const yak = await startYak({
      tweak: (cfg) => {
        cfg.c2s.authtime = 1;
        cfg.jsm.loginThrottle = { ...cfg.jsm.loginThrottle, free: 1, baseMs: waitMs, maxMs: waitMs, exempt: [] };
      },
    });
    try {
      await registerUser(yak, user, 'pw');
      const c = await open(yak);
      c.write(authIq(user, 'Work', { password: 'wrong' }, 'a1').toString());
      assert.equal((await c.next()).getChild('error')?.attrs.code, '401');
      c.write(authIq(user, 'Work', { password: 'pw' }, 'a2').toString());
      assertXml(await c.next(waitMs + 8_000), "<iq type='result' id='a2'/>");
      c.write("<iq type='get' id='after' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
      assert.equal((await c.next()).attrs.id, 'after', 'the stream that logged in stays');
      c.destroy();
    } finally {
      await yak.stop();
    }
  }

  test('authtime: a login in hand when the time runs out is answered, and keeps its stream once it succeeds', async () => {
    // Sent well before the 1 s limit, still being handled when it passes.
    await loginHeldPastAuthtime('late', 2000);
  });

  test('authtime: a login held back longer than the 5 s grace by <login_throttle max> still gets its whole wait', async () => {
    // Past authtime (1 s) and the plain grace (5 s more), within the throttle's 7 s.
    await loginHeldPastAuthtime('slowest', 7000);
  });

  test('authtime: a client that does not read cannot hold its stream open past the grace with requests in hand', async () => {
    const captured = captureLog('info');
    const yak = await startYak({ log: captured.log, tweak: (cfg) => ((cfg.c2s.authtime = 1), (cfg.c2s.karma = undefined)) });
    const socket = net.connect(yak.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      // Never read: the replies to this many requests fill every buffer
      // between us, and the requests still in hand wait for room.
      socket.pause();
      socket.write(clientHeader('localhost') + "<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>".repeat(60_000));
      const line = await logLine(captured, (l) => l.error === 'connection-timeout', 20_000);
      assert.equal(line.msg, 'stream error');
    } finally {
      socket.destroy();
      await yak.stop();
    }
  });

  test("authtime: 'Timeout waiting for authentication'; a logged-in stream stays", async () => {
    const yak = await startYak({ tweak: (cfg) => (cfg.c2s.authtime = 1) });
    try {
      // Logged in before the idle one even connects, so its timer would fire first.
      const session = await openSession(yak, 'quick');
      const idle = await open(yak);
      // Registering is not logging in: the clock runs on.
      const registering = await open(yak);
      registering.write("<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>slow</username><password>pw</password></query></iq>");
      assertXml(await registering.next(), "<iq type='result' id='r'/>");
      await assertStreamError(idle, 'Timeout waiting for authentication', 'connection-timeout');
      await assertStreamError(registering, 'Timeout waiting for authentication', 'connection-timeout');
      session.write(`<iq type='get' id='still' to='localhost'><query xmlns='jabber:iq:register'/></iq>`);
      assert.equal((await session.next()).attrs.id, 'still');
      session.destroy();
    } finally {
      await yak.stop();
    }
  });
});
