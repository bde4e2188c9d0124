// The parsed-file cache on its own: files nobody used since the sweep but
// one are kept as their text (DocCache.cool()) and read back as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../src/log.js';
import { COOL_AT_ONCE, COOL_UP_TO_WEIGHT, DocCache } from '../src/xdb/doc-cache.js';
import { parseDoc, serialize, type UserDoc } from '../src/xdb/user-doc.js';

function doc(text: string): UserDoc {
  return parseDoc(text, '/spool/x.xml', silentLogger).doc;
}

/** A small account's file, a little different per `i`. */
function account(i: number): UserDoc {
  return doc(`<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw${i}</password><query xmlns='jabber:iq:last' xdbns='jabber:iq:last' last='${i}'/></xdb>`);
}

/** Whether the cache holds `path` parsed: the same document at each get(), where a file kept as text is parsed anew each time. */
function parsed(cache: DocCache, path: string): boolean {
  const a = cache.get(path);
  return a !== undefined && a !== null && a === cache.get(path);
}

test('a file kept as text reads back as it was: records in order, extras, duplicates, size and weight', () => {
  // A file as an admin may leave it: a comment, white space between
  // records, a second record of one namespace, a child of none, text
  // that needs escaping, characters beyond Latin-1; and a long user name's
  // attribute, which the kept text leaves out but the size still counts.
  const text =
    "<xdb user='a-long-name'>\n <!-- note -->\n" +
    "<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='b@x' name='B &amp; &lt;C&gt; \u00e9\u4e2d\u{1F600}'><group>Fr\u00e9res</group></item></query>\n" +
    "<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>s&apos;cret</password>" +
    "<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='old@x'/></query>" +
    "<foo><bar a='1'>  spaced  </bar></foo>" +
    '</xdb>';
  const original = doc(text);
  const cache = new DocCache({});
  cache.remember('/spool/a.xml', original);
  cache.cool();
  cache.cool();
  assert.ok(!parsed(cache, '/spool/a.xml'), 'kept as text');
  const back = cache.get('/spool/a.xml')!;
  assert.notEqual(back, original);
  assert.deepEqual([...back.records.keys()], [...original.records.keys()]);
  for (const [ns, rec] of original.records) assert.equal(back.records.get(ns)!.toString(), rec.toString(), ns);
  assert.deepEqual(back.extras.map(String), original.extras.map(String));
  assert.equal(back.bytes, original.bytes);
  assert.equal(back.weight, original.weight);
  assert.equal(serialize(back, 'a-long-name'), serialize(original, 'a-long-name'));
  // 1.4 mod_auth_crypt's account: the password record made up on reading stays one.
  const crypt = doc("<xdb><crypt xmlns='jabber:iq:auth:crypt' xdbns='jabber:iq:auth:crypt'>ab01234567890</crypt></xdb>");
  cache.remember('/spool/c.xml', crypt);
  cache.cool();
  cache.cool();
  assert.ok(!parsed(cache, '/spool/c.xml'));
  assert.deepEqual([...cache.get('/spool/c.xml')!.records.keys()], [...crypt.records.keys()]);
});

test('a file becomes text only when unused from one call to the next; a use the store remembers keeps it parsed, a mere read does not', () => {
  const cache = new DocCache({});
  cache.remember('/s/a.xml', account(1));
  cache.remember('/s/b.xml', account(2));
  cache.remember('/s/none.xml', null);
  cache.cool();
  // Remembered since the only call: still parsed.
  assert.ok(parsed(cache, '/s/a.xml') && parsed(cache, '/s/b.xml'));
  // a is used (the store remembers what it loads), b is not.
  cache.remember('/s/a.xml', cache.get('/s/a.xml')!);
  cache.cool();
  assert.ok(parsed(cache, '/s/a.xml'));
  assert.ok(!parsed(cache, '/s/b.xml'));
  assert.equal(cache.get('/s/none.xml'), null, 'no file stays known as none');
  // Read without being remembered (a listing of accounts): still text.
  assert.ok(!parsed(cache, '/s/b.xml'));
  // Remembered once read: parsed again until it goes unused again.
  cache.remember('/s/b.xml', cache.get('/s/b.xml')!);
  assert.ok(parsed(cache, '/s/b.xml'));
  cache.cool();
  assert.ok(parsed(cache, '/s/b.xml'));
  cache.cool();
  assert.ok(!parsed(cache, '/s/a.xml') && !parsed(cache, '/s/b.xml'));
});

test('heavy files stay parsed; a call makes at most COOL_AT_ONCE files text, the next the rest', () => {
  const cache = new DocCache({});
  const heavy = doc(`<xdb><query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'>${"<item jid='x@y'/>".repeat(300)}</query></xdb>`);
  assert.ok(heavy.weight > COOL_UP_TO_WEIGHT);
  cache.remember('/s/heavy.xml', heavy);
  const n = COOL_AT_ONCE + 50;
  for (let i = 0; i < n; i++) cache.remember(`/s/u${i}.xml`, account(i));
  cache.cool();
  cache.cool();
  const stillParsed = (): number => Array.from({ length: n }, (_, i) => parsed(cache, `/s/u${i}.xml`)).filter(Boolean).length;
  assert.equal(stillParsed(), 50);
  cache.cool();
  assert.equal(stillParsed(), 0);
  assert.equal(cache.get('/s/heavy.xml'), heavy);
});

test('the mark takes no place among the files kept; files kept as text weigh what their text does', () => {
  const two = new DocCache({ users: 2 });
  two.remember('/s/a.xml', account(1));
  two.remember('/s/b.xml', account(2));
  two.cool();
  two.remember('/s/c.xml', account(3));
  assert.equal(two.get('/s/a.xml'), undefined, 'the oldest went');
  assert.ok(two.get('/s/b.xml') && two.get('/s/c.xml'), 'two kept beside the mark');
  // Files kept as text count as files, and go first.
  two.cool();
  two.cool();
  two.remember('/s/d.xml', account(4));
  assert.equal(two.get('/s/b.xml'), undefined);
  assert.ok(two.get('/s/c.xml') && two.get('/s/d.xml'));
  // By weight: room for two parsed files; kept as text, many more.
  const w = account(0).weight;
  const light = new DocCache({ weight: 2 * w + 10, fileWeight: w + 10 });
  light.remember('/s/a.xml', account(1));
  light.remember('/s/b.xml', account(2));
  light.cool();
  light.cool();
  for (let i = 3; i < 6; i++) light.remember(`/s/u${i}.xml`, account(i));
  assert.equal(light.get('/s/a.xml'), undefined, 'three parsed files push out the oldest text');
  const roomy = new DocCache({ weight: 2 * w + 10, fileWeight: w + 10 });
  roomy.remember('/s/a.xml', account(1));
  roomy.remember('/s/b.xml', account(2));
  roomy.cool();
  roomy.cool();
  roomy.remember('/s/c.xml', account(3));
  assert.ok(roomy.get('/s/a.xml') && roomy.get('/s/b.xml') && roomy.get('/s/c.xml'), 'two as text and one parsed fit where two parsed did');
  // Parsed again, a file weighs what it did before.
  const again = new DocCache({ weight: 2 * w + 10, fileWeight: w + 10 });
  again.remember('/s/a.xml', account(1));
  again.remember('/s/b.xml', account(2));
  again.cool();
  again.cool();
  again.remember('/s/a.xml', again.get('/s/a.xml')!);
  again.remember('/s/b.xml', again.get('/s/b.xml')!);
  assert.ok(parsed(again, '/s/a.xml') && parsed(again, '/s/b.xml'), 'two parsed files fit, as before');
  again.remember('/s/c.xml', account(3));
  assert.equal(again.get('/s/a.xml'), undefined, 'three parsed files do not fit where two did');
  // The mark, oldest of all once everything was used since, goes with an eviction: the next call makes nothing text.
  const marked = new DocCache({ users: 1 });
  marked.cool();
  marked.remember('/s/a.xml', account(1));
  marked.remember('/s/b.xml', account(2));
  assert.equal(marked.get('/s/a.xml'), undefined);
  marked.cool();
  assert.ok(parsed(marked, '/s/b.xml'));
});
