// The stream parser on its own: what it hands on, and when, for input cut
// into reads at awkward places (end tags that do not match, keepalives,
// white space inside stanzas and tags, an oversized header).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamParser, type StreamLimits } from '../src/xml/stream-parser.js';

const HEADER = "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/** In parse()'s chunks: a call to rest() in place of a write, noted as 'rested' when the parser rests after it. */
const REST = Symbol('rest');

/** Feeds `chunks` one write each; returns the events in order (`messages`: an error's message, not only its kind). */
function parse(chunks: (string | typeof REST)[], limits: StreamLimits = { stanzaBytes: 10_000, depth: 10 }, declareWhereUsed = true, messages = false): string[] {
  const events: string[] = [];
  const parser = new StreamParser(
    {
      header: () => events.push('header'),
      stanza: (el) => events.push(el.toString()),
      end: () => events.push('end'),
      error: (err) => events.push(messages ? `error ${err.message}` : `error ${err.kind}`),
    },
    limits,
    declareWhereUsed,
  );
  for (const c of chunks) {
    if (c !== REST) parser.write(c);
    else if (parser.rest()) events.push('rested');
  }
  return events;
}

test('a stanza ended by the wrong end tag is never handed on, only the error', () => {
  const register = "<iq type='set' id='z'><query xmlns='jabber:iq:register'><username>u</username><password>p</password></query>";
  assert.deepEqual(parse([HEADER, register + '</message>']), ['header', 'error xml']);
  // The same when the wrong end tag closes the stream, or comes in a read of its own.
  assert.deepEqual(parse([HEADER, register + '</stream:stream>']), ['header', 'error xml']);
  assert.deepEqual(parse([HEADER, register, '</message>']), ['header', 'error xml']);
  // A wrong end tag for the stream itself is no clean end either.
  assert.deepEqual(parse([HEADER, '</foo>']), ['header', 'error xml']);
});

test('stanzas before the bad one, in the same read, are handed on', () => {
  assert.deepEqual(parse([HEADER, "<message id='1'/><presence id='2'></presence><iq id='3'></message>"]), [
    'header',
    "<message id='1'/>",
    "<presence id='2'/>",
    'error xml',
  ]);
  assert.deepEqual(parse([HEADER, "<message id='1'/></stream:stream>"]), ['header', "<message id='1'/>", 'end']);
});

test('keepalives between stanzas do not count toward the next stanza, however many', () => {
  const limits = { stanzaBytes: 100, depth: 10 };
  const spaces = Array.from({ length: 50 }, (_, i) => (i % 2 ? ' \n' : '\t      \r\n'));
  const stanza = `<message to='a@localhost'><body>${'x'.repeat(50)}</body></message>`;
  assert.deepEqual(parse([HEADER, ...spaces, stanza, ...spaces, stanza], limits), ['header', stanza, stanza]);
  // White space in the read that ends a stanza, then more reads of it.
  assert.deepEqual(parse([HEADER, stanza + '  ', ...spaces, ' ' + stanza], limits), ['header', stanza, stanza]);
});

test('other text between stanzas still counts, so it cannot grow without bound', () => {
  const limits = { stanzaBytes: 100, depth: 10 };
  assert.deepEqual(parse([HEADER, ...Array.from({ length: 20 }, () => 'junk text ')], limits), ['header', 'error too-big']);
});

test('white space read on its own inside a stanza or a start tag is kept', () => {
  assert.deepEqual(parse([HEADER, '<message><body>a', '   ', 'b</body></message>']), ['header', '<message><body>a   b</body></message>']);
  assert.deepEqual(parse([HEADER, '<message', '  ', "to='x'/>"]), ['header', "<message to='x'/>"]);
  // A stanza's start tag begun in the read that ended the previous stanza.
  assert.deepEqual(parse([HEADER, "<presence/><message", ' ', "to='x'/>"]), ['header', '<presence/>', "<message to='x'/>"]);
  assert.deepEqual(parse([HEADER, "<presence/> <", ' ', "message to='x'/>"]), ['header', '<presence/>', 'error xml']);
});

test('a header over the size bound is refused, also when it comes in one read', () => {
  const big = HEADER.replace('>', ` x='${'y'.repeat(200)}'>`);
  assert.deepEqual(parse([big], { stanzaBytes: 150, depth: 10 }), ['error too-big']);
  assert.deepEqual(parse([HEADER], { stanzaBytes: 150, depth: 10 }), ['header']);
});

test('elements and texts in one stanza are bounded, each stanza counted afresh', () => {
  const limits = { stanzaBytes: 100_000, depth: 10, nodes: 10 };
  // 1 <message> + 8 <b/> + 1 text = 10: at the bound; one more <b/> is past it.
  const at = `<message>${'<b/>'.repeat(8)}x</message>`;
  assert.deepEqual(parse([HEADER, at, at], limits), ['header', at, at]);
  assert.deepEqual(parse([HEADER, `<message>${'<b/>'.repeat(9)}x</message>`], limits), ['header', 'error too-big']);
  // Without a bound, as before.
  assert.equal(parse([HEADER, `<message>${'<b/>'.repeat(1000)}</message>`], { stanzaBytes: 100_000, depth: 10 }).length, 2);
});

test("a bare '&' fails the stream at once, not at some later ';'; references cut between reads still parse", () => {
  const iq = "<iq type='get' id='t'><query xmlns='jabber:iq:time'/></iq>";
  assert.deepEqual(parse([HEADER, "<message><body>Tom & Jerry</body></message>" + iq]), ['header', 'error xml']);
  assert.deepEqual(parse([HEADER, "<message><body>Tom &", ' Jerry</body></message>', iq]), ['header', 'error xml']);
  assert.deepEqual(parse([HEADER, "<message to='a&b'/>", iq]), ['header', 'error xml']);
  // A name that runs on and on is no reference either.
  assert.deepEqual(parse([HEADER, '<message><body>&' + 'a'.repeat(40)]), ['header', 'error xml']);
  assert.deepEqual(parse([HEADER, "<message><body>R&amp;B &#x", '1F600; &#0000', "65; &a", "pos;</body></message>"]), [
    'header',
    "<message><body>R&amp;B \u{1F600} A &apos;</body></message>",
  ]);
});

test('names must be namespace-well-formed: an unbound or reserved prefix ends the stream before the stanza is handed on', () => {
  const bad = [
    "<message to='a@localhost'><body>hi</body><x:y/></message>", // unbound element prefix
    "<message to='a@localhost'><body foo:bar='1'>hi</body></message>", // unbound attribute prefix
    "<iq type='set' id='r'><q:query xmlns='jabber:iq:register'/></iq>", // unbound, on a request
    "<message xmlns:p=''><p:x/></message>", // a prefix bound to no namespace
    "<message xmlns:a='u:1' xmlns:b='u:1'><x a:z='1' b:z='2'/></message>", // one attribute twice once expanded
    "<message><a:b:c xmlns:a='u:1'/></message>", // two colons
    "<message xmlns:xmlns='u:1'/>", // the xmlns prefix declared
    "<message><xmlns:x/></message>", // ...or used
    "<message xmlns:xml='u:1'/>", // xml bound elsewhere
    "<message xmlns:x='http://www.w3.org/XML/1998/namespace'/>", // the XML namespace under another prefix
    "<message><:x/></message>", // an empty prefix
    "<message><x xmlns='http://www.w3.org/XML/1998/namespace'/></message>", // a reserved namespace as the default
    "<message><x xmlns='http://www.w3.org/2000/xmlns/'/></message>",
  ];
  for (const stanza of bad) assert.deepEqual(parse([HEADER, "<presence id='before'/>" + stanza]), ['header', "<presence id='before'/>", 'error xml'], stanza);
});

test('a declaration holds inside its element only', () => {
  assert.deepEqual(parse([HEADER, "<message xmlns:x='u:1'><x:y/></message><message><x:y/></message>"]), [
    'header',
    "<message xmlns:x='u:1'><x:y xmlns:x='u:1'/></message>",
    'error xml',
  ]);
});

test('an element that uses a prefix declared above it gets the declaration too, so any part of a stanza can be handed on alone', () => {
  const events = parse([
    HEADER,
    "<iq type='set' id='v' xmlns:x='u:1'><vCard xmlns='vcard-temp'><x:y x:a='1' xml:lang='en'><x:z/></x:y></vCard></iq>",
    "<message xmlns:x='u:1'><x:y xmlns:x='u:2'/></message>",
    '<message><stream:error/></message>',
  ]);
  assert.deepEqual(events, [
    'header',
    "<iq type='set' id='v' xmlns:x='u:1'><vCard xmlns='vcard-temp'><x:y x:a='1' xml:lang='en' xmlns:x='u:1'><x:z xmlns:x='u:1'/></x:y></vCard></iq>",
    // Its own declaration wins over the one above it.
    "<message xmlns:x='u:1'><x:y xmlns:x='u:2'/></message>",
    // The header's own declaration is in scope too.
    "<message><stream:error xmlns:stream='http://etherx.jabber.org/streams'/></message>",
  ]);
  // A client's parser checks, but hands on what it is sent as it is.
  assert.deepEqual(parse([HEADER, "<message xmlns:x='u:1'><x:y/></message>"], undefined, false), ['header', "<message xmlns:x='u:1'><x:y/></message>"]);
});

test('the xml prefix needs no declaration, on elements too', () => {
  const stanza = "<message><xml:foo xml:lang='en'/></message>";
  assert.deepEqual(parse([HEADER, stanza]), ['header', stanza]);
});

test('declarations copied onto the elements that use them count toward the stanza size: one long one used thousands of times is refused', () => {
  const uri = 'u:' + 'x'.repeat(2000);
  const stanza = `<message xmlns:a='${uri}'>${'<a:b/>'.repeat(100)}</message>`;
  // 2 KB sent; written out with a copy on every <a:b/>, 200 KB.
  assert.ok(stanza.length < 10_000);
  assert.deepEqual(parse([HEADER, stanza]), ['header', 'error too-big']);
  // Used a few times, it fits.
  const few = `<message xmlns:a='${uri}'>${'<a:b/>'.repeat(3)}</message>`;
  assert.equal(parse([HEADER, few])[1]!.split(uri).length - 1, 4);
  // A client's parser copies nothing, so nothing is counted.
  assert.deepEqual(parse([HEADER, stanza], undefined, false), ['header', stanza]);
});

test('a quiet stream rests its parser at the second call with nothing read between, and reads on as before', () => {
  const msg = "<message to='a@localhost'><body>hi</body></message>";
  // Written since the last call: busy, not resting; then quiet.
  assert.deepEqual(parse([HEADER, msg, REST, REST, msg, REST, msg, REST, REST, REST, '</stream:stream>']), [
    'header',
    msg,
    'rested',
    msg,
    msg,
    'rested',
    'rested',
    'end',
  ]);
  // Keepalives do not wake it; a wrong end tag for the stream still fails it.
  assert.deepEqual(parse([HEADER, REST, REST, ' \n', '\t', REST, '</foo>']), ['header', 'rested', 'rested', 'error xml']);
  // The header's declarations hold after a rest.
  assert.deepEqual(parse([HEADER, REST, REST, '<message><stream:error/></message>']), [
    'header',
    'rested',
    "<message><stream:error xmlns:stream='http://etherx.jabber.org/streams'/></message>",
  ]);
});

test('a parser in the middle of a stanza, a tag or a reference never rests', () => {
  for (const [part, rest] of [
    ['<message><body>h', 'i</body></message>'],
    ['<message', "><body>hi</body></message>"],
    ['<message><body>&am', 'p;</body></message>'],
    ['<message/>junk', ''],
  ]) {
    const events = parse([HEADER, part!, REST, REST, REST, rest!]);
    assert.ok(!events.includes('rested'), `${part}: ${events.join(' ')}`);
  }
  assert.deepEqual(parse([HEADER, '<message><body>h', REST, REST, 'i</body></message>']), ['header', '<message><body>hi</body></message>']);
});

test('after a rest, stanzas are bounded as before, keepalives not counted; error messages go on with the line', () => {
  // Longer than the header, which the same bound holds.
  const stanza = `<message to='a@localhost'><body>${'x'.repeat(150)}</body></message>`;
  const at = { stanzaBytes: stanza.length, depth: 10 };
  assert.deepEqual(parse([HEADER, stanza + ' \n', REST, REST, '  ' + stanza, REST, REST, stanza], at), ['header', stanza, 'rested', stanza, 'rested', stanza]);
  const over = { stanzaBytes: stanza.length - 1, depth: 10 };
  assert.deepEqual(parse([HEADER, REST, REST, stanza], over), ['header', 'rested', 'error too-big']);
  assert.deepEqual(parse([HEADER, REST, REST, '<a><b><c/></b></a>'], { stanzaBytes: 1000, depth: 3 }), ['header', 'rested', 'error too-deep']);
  // The same bad stanza on the third line, read with or without a rest before it.
  const lines = [HEADER + '\n', '<message/>\n', "<message to='a' to='b'/>"];
  const straight = parse(lines, undefined, true, true);
  const rested = parse([lines[0]!, lines[1]!, REST, REST, lines[2]!], undefined, true, true);
  assert.match(straight[2]!, /^error 3:\d+: /);
  assert.deepEqual(rested, [straight[0], straight[1], 'rested', straight[2]]);
});
