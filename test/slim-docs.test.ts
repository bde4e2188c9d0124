// SlimDocs (src/xdb/slim-docs.ts): the light records of heavy user files,
// kept after the file left the parsed-file cache. What it must never do:
// keep the whole file alive with them, or answer for a record it did not
// keep. (The store's use of it: spool-store.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SlimDocs } from '../src/xdb/slim-docs.js';
import type { UserDoc } from '../src/xdb/user-doc.js';
import { el, type Element } from '../src/xml/element.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A parsed file: a light password record, a light vCard, and `heavy` records of 20,000 elements (3 MB parsed each). */
function heavyDoc(heavy = 1, more: Record<string, Element> = {}): UserDoc {
  const records = new Map<string, Element>([
    ['jabber:iq:auth', el('password', { xmlns: 'jabber:iq:auth' }, 'pw')],
    ['vcard-temp', el('vCard', { xmlns: 'vcard-temp' }, el('FN', {}, 'Dense'))],
    ...Object.entries(more),
  ]);
  for (let i = 0; i < heavy; i++) records.set(`x:dense${i}`, el('query', { xmlns: `x:dense${i}` }, ...Array.from({ length: 20_000 }, () => el('a'))));
  return { records, extras: [], bytes: 100_000 * heavy, weight: 3_100_000 * heavy };
}

test('answers for its light records and for records the file lacks; never for one it left out', () => {
  const slims = new SlimDocs();
  slims.remember('/s/dense.xml', heavyDoc());
  assert.equal(slims.get('/s/dense.xml', ['vcard-temp'])?.records.get('vcard-temp')?.getChildText('FN'), 'Dense');
  assert.equal(slims.get('/s/dense.xml', ['jabber:iq:last'])?.records.get('jabber:iq:last'), undefined);
  assert.equal(slims.get('/s/dense.xml', ['vcard-temp', 'x:dense0']), undefined);
  // A light file needs none; a new document replaces the entry; none for a removed file.
  slims.remember('/s/light.xml', { records: new Map(), extras: [], bytes: 10, weight: 500 });
  assert.equal(slims.get('/s/light.xml', []), undefined);
  slims.remember('/s/dense.xml', heavyDoc(1, { 'vcard-temp': el('vCard', { xmlns: 'vcard-temp' }, el('FN', {}, 'Again')) }));
  assert.equal(slims.get('/s/dense.xml', ['vcard-temp'])?.records.get('vcard-temp')?.getChildText('FN'), 'Again');
  slims.remember('/s/dense.xml', null);
  assert.equal(slims.get('/s/dense.xml', ['vcard-temp']), undefined);
});

test('keeps nothing of a file but its light records: the whole document is free to go', async () => {
  const slims = new SlimDocs();
  let doc: UserDoc | undefined = heavyDoc();
  const whole = new WeakRef(doc);
  const heavyRecord = new WeakRef(doc.records.get('x:dense0')!);
  slims.remember('/s/dense.xml', doc);
  doc = undefined;
  for (let i = 0; i < 3 && (whole.deref() || heavyRecord.deref()); i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.equal(whole.deref(), undefined, 'the whole document is still held');
  assert.equal(heavyRecord.deref(), undefined, 'a heavy record is still held');
  assert.ok(slims.get('/s/dense.xml', ['vcard-temp']), 'the light records are gone too');
});

test("only the records a stranger's read asks for are kept: a file of thousands of records costs no more", () => {
  const slims = new SlimDocs();
  const many: Record<string, Element> = {};
  for (let i = 0; i < 3000; i++) many[`x:ns${i}`] = el('query', { xmlns: `x:ns${i}` }, 'x'.repeat(600));
  slims.remember('/s/many.xml', heavyDoc(1, many));
  assert.equal(slims.get('/s/many.xml', ['vcard-temp', 'jabber:iq:auth', 'jabber:iq:roster'])?.records.size, 2);
  assert.equal(slims.get('/s/many.xml', ['x:ns5']), undefined, 'a record it does not keep');
  assert.equal(slims.get('/s/many.xml', ['x:absent']), undefined, 'a namespace it knows nothing of');
});

test('the limit it is given (a share of a small heap) is what it keeps, the least recently used going first', () => {
  // Each entry weighs 1 KiB plus its two light records: three fit under 4,000, not four.
  const slims = new SlimDocs(4000);
  const doc = heavyDoc(0);
  const heavy: UserDoc = { ...doc, weight: 3_100_000 };
  for (const name of ['a', 'b', 'c', 'd']) slims.remember(`/s/${name}.xml`, heavy);
  assert.equal(slims.get('/s/a.xml', ['vcard-temp']), undefined, 'kept beyond its limit');
  assert.ok(slims.get('/s/d.xml', ['vcard-temp']));
});
