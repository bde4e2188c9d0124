// Element.equals (what the store uses to skip a change that changes
// nothing), the attribute copies every forwarded stanza goes through, the
// namespace helpers the server's guards read a child with (however it is
// written), and trimXmlSpace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trimXmlSpace } from '../src/xml/chars.js';
import { attrsWith, childInNamespace, el, isNamed, localName, namespaceOf } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';

test('equal: same name, attributes in the same order, same children', () => {
  const parsed = parseXml("<query xmlns='jabber:iq:roster'><item jid='a@b' name='A'><group>G</group></item>text</query>");
  const built = el('query', { xmlns: 'jabber:iq:roster' }, el('item', { jid: 'a@b', name: 'A' }, el('group', {}, 'G')), 'text');
  assert.ok(parsed.equals(built));
  assert.ok(built.equals(parsed));
  assert.ok(parsed.equals(parsed.clone()));
});

test('different: any name, attribute, order, text or child', () => {
  const base = (): ReturnType<typeof el> => el('item', { jid: 'a@b', name: 'A' }, el('group', {}, 'G'));
  const variants = [
    el('items', { jid: 'a@b', name: 'A' }, el('group', {}, 'G')),
    el('item', { jid: 'a@b', name: 'B' }, el('group', {}, 'G')),
    el('item', { name: 'A', jid: 'a@b' }, el('group', {}, 'G')),
    el('item', { jid: 'a@b' }, el('group', {}, 'G')),
    el('item', { jid: 'a@b', name: 'A', extra: '' }, el('group', {}, 'G')),
    el('item', { jid: 'a@b', name: 'A' }, el('group', {}, 'H')),
    el('item', { jid: 'a@b', name: 'A' }, el('group', {}, 'G'), el('group', {}, 'G')),
    el('item', { jid: 'a@b', name: 'A' }, 'G'),
    el('item', { jid: 'a@b', name: 'A' }),
  ];
  for (const v of variants) {
    assert.equal(base().equals(v), false, v.toString());
    assert.equal(v.equals(base()), false, v.toString());
  }
  // A text node against an element in the same place.
  assert.equal(el('a', {}, 'x').equals(el('a', {}, el('x'))), false);
  assert.equal(el('a', {}, el('x')).equals(el('a', {}, 'x')), false);
});

test("attrsWith: the attributes a spread would give, in a spread's order", () => {
  const base = parseXml("<presence to='a@b' id='p1' type='away' from='c@d/R'/>").attrs;
  const cases: Record<string, string | undefined>[] = [
    { from: 'x@y/Z', to: 'u@v' },
    { to: undefined, from: undefined },
    { id: undefined, show: 'dnd' },
    {},
    { constructor: 'c', toString: 't', __proto__x: 'p' },
  ];
  for (const changes of cases) {
    const spread = el('presence', { ...base, ...changes }).toString();
    assert.equal(el('presence', attrsWith(base, changes)).toString(), spread, JSON.stringify(changes));
  }
  // Names that an object inherits count only when they are the element's own.
  assert.deepEqual(attrsWith({ a: '1' }, { toString: undefined }), { a: '1' });
  assert.deepEqual(Object.keys(attrsWith({ constructor: 'c' }, { b: '2' })), ['constructor', 'b']);
  // The base is left as it was.
  assert.equal(base.to, 'a@b');
});

test('setAttr: undefined removes the attribute and keeps the order of the rest', () => {
  const e = parseXml("<item jid='a@b' ask='subscribe' name='A' subscription='none'/>");
  const before = e.attrs;
  e.setAttr('ask', undefined).setAttr('missing', undefined).setAttr('subscription', 'to');
  assert.equal(e.toString(), "<item jid='a@b' name='A' subscription='to'/>");
  assert.equal(before.ask, 'subscribe', 'a copy was made, the old attributes object is not changed');
  assert.equal(e.clone().toString(), e.toString());
});

test('an attribute named __proto__ is an attribute like any other: parsed, set, copied and written out', () => {
  const e = parseXml("<message __proto__='p' constructor='c'><body __proto__='b'>hi</body></message>");
  assert.equal(e.toString(), "<message __proto__='p' constructor='c'><body __proto__='b'>hi</body></message>");
  assert.equal(e.attr('__proto__'), 'p');
  assert.equal(Object.getPrototypeOf(e.attrs), Object.prototype, 'the prototype is left alone');
  assert.equal(e.clone().toString(), e.toString());
  assert.equal(el('m', attrsWith(e.attrs, { from: 'a@b' })).toString(), "<m __proto__='p' constructor='c' from='a@b'/>");
  assert.equal(el('m', attrsWith({ a: '1' }, JSON.parse('{"__proto__":"q"}') as Record<string, string>)).toString(), "<m a='1' __proto__='q'/>");
  assert.equal(el('m').setAttr('__proto__', 's').toString(), "<m __proto__='s'/>");
  assert.equal(e.setAttr('__proto__', undefined).toString(), "<message constructor='c'><body __proto__='b'>hi</body></message>");
});

test('trimXmlSpace takes only XML white space (space, tab, CR, LF) from the ends, in time linear in the input', { timeout: 20_000 }, () => {
  for (const [input, trimmed] of [
    [' a ', 'a'],
    ['\t\r\n a b \n', 'a b'],
    ['   ', ''],
    ['', ''],
    ['\u00a0a\u3000', '\u00a0a\u3000'],
    ['\ufeff x \ufeff', '\ufeff x \ufeff'],
  ]) {
    assert.equal(trimXmlSpace(input!), trimmed, JSON.stringify(input));
  }
  // A run of spaces not at the end: a regular expression took quadratic time
  // (60,000 in a username held the server 3.6 s; this many, many minutes).
  const long = `a${' '.repeat(1_000_000)}b`;
  assert.equal(trimXmlSpace(` ${long}\n`), long);
});

// Elements as the stream parser gives them: a prefixed one carries its
// prefix's declaration (see namespace-scope.ts).
test('namespaceOf, localName, isNamed: by the prefix, else the own xmlns, else where the element stands', () => {
  const plain = el('body', {}, 'hi');
  const own = el('body', { xmlns: 'urn:other' }, 'hi');
  const prefixed = el('b:body', { 'xmlns:b': 'jabber:client' }, 'hi');
  // A default xmlns on a prefixed element is not its namespace: the prefix's is.
  const both = el('b:body', { 'xmlns:b': 'urn:other', xmlns: 'jabber:client' }, 'hi');
  assert.deepEqual(
    [plain, own, prefixed, both].map((e) => [namespaceOf(e, 'jabber:client'), localName(e), isNamed(e, 'body', 'jabber:client', 'jabber:client')]),
    [
      ['jabber:client', 'body', true],
      ['urn:other', 'body', false],
      ['jabber:client', 'body', true],
      ['urn:other', 'body', false],
    ],
  );
  assert.equal(namespaceOf(plain, undefined), undefined);
  assert.equal(isNamed(el('b:subject', { 'xmlns:b': 'jabber:client' }), 'body', 'jabber:client', 'jabber:client'), false);
});

test('childInNamespace: any child in the namespace, first or not, by xmlns or by prefix', () => {
  const ns = 'jabber:iq:roster';
  assert.equal(childInNamespace(el('iq', {}, el('query', { xmlns: ns })), ns), 0);
  assert.equal(childInNamespace(el('iq', {}, 'text', el('x', { xmlns: 'urn:decoy' }), el('r:query', { 'xmlns:r': ns })), ns), 2);
  // A reader matching the xmlns attribute takes this one too, whatever its prefix says.
  assert.equal(childInNamespace(el('iq', {}, el('r:query', { 'xmlns:r': 'urn:other', xmlns: ns })), ns), 0);
  assert.equal(childInNamespace(el('iq', {}, el('query', { xmlns: 'urn:other' }), el('r:query', { 'xmlns:r': 'urn:other' })), ns), -1);
});
