// The stream parser on its own: what it hands on, and when, for input cut
// into reads at awkward places (end tags that do not match, keepalives,
// white space inside stanzas and tags, an oversized header).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamParser, type StreamLimits } from '../src/xml/stream-parser.js';

const HEADER = "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/** Feeds `chunks` one write each; returns the events in order. */
function parse(chunks: string[], limits: StreamLimits = { stanzaBytes: 10_000, depth: 10 }): string[] {
  const events: string[] = [];
  const parser = new StreamParser(
    {
      header: () => events.push('header'),
      stanza: (el) => events.push(el.toString()),
      end: () => events.push('end'),
      error: (err) => events.push(`error ${err.kind}`),
    },
    limits,
  );
  for (const c of chunks) parser.write(c);
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
