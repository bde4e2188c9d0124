// Element.equals: what the store uses to skip a change that changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { el } from '../src/xml/element.js';
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
