// Stringprep's bidirectional rule (RFC 3454 section 6) in nodeprep,
// nameprep and resourceprep, and the tables it uses checked against
// Python's stringprep module, which holds RFC 3454's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameprep, nodeprep, resourceprep, parseJid } from '../src/jid.js';
import { BIDI_UNICODE_VERSION, L_CAT, RAND_AL_CAT } from '../src/jid-bidi-tables.js';
import { pythonWith } from './helpers/python.js';
import { runProgram } from './helpers/run-tool.js';

const HEBREW = 'שלום';
const ARABIC = 'سلام';

test('a name in one right-to-left script, with digits and marks inside, is accepted', () => {
  for (const prep of [nodeprep, nameprep, resourceprep]) {
    assert.equal(prep(HEBREW), HEBREW, prep.name);
    assert.equal(prep(ARABIC), ARABIC, prep.name);
    // European and Arabic-Indic digits (classes EN, AN) between right-to-left letters.
    assert.equal(prep('ש12ם'), 'ש12ם', prep.name);
    assert.equal(prep('س١٢م'), 'س١٢م', prep.name);
    // Right-to-left letters of two scripts together: both are table D.1.
    assert.equal(prep(HEBREW + ARABIC), HEBREW + ARABIC, prep.name);
  }
  // Letters Unicode assigned after 3.2: Arabic Supplement (4.1), N'Ko (5.0), Adlam (9.0, beyond the BMP).
  for (const s of ['\u0628\u0750', '\u07CA\u07CB', '\u{1E922}\u{1E923}']) assert.equal(nodeprep(s), s, s);
  // A host is prepared label by label, as IDNA does: a Hebrew or Arabic name under `.com` is one.
  assert.equal(nameprep(`${HEBREW}.${ARABIC}`), `${HEBREW}.${ARABIC}`);
  assert.equal(nameprep(`${ARABIC}.com`), `${ARABIC}.com`);
  assert.equal(nameprep(`example.${HEBREW}`), `example.${HEBREW}`);
  // IDNA's other dots (RFC 3490 3.1) end a label for the rule too; the
  // ideographic ones are kept as they are (a host stored with one keeps
  // naming the host it named), the fullwidth one folds to a dot.
  assert.equal(nameprep(`${ARABIC}\uFF0Ecom`), `${ARABIC}.com`);
  assert.equal(nameprep(`${ARABIC}\u3002com`), `${ARABIC}\u3002com`);
  assert.equal(nameprep(`${ARABIC}\uFF61com`), `${ARABIC}\u3002com`);
  assert.equal(nameprep('a\u3002b'), 'a\u3002b');
});

test('a name mixing right-to-left with left-to-right letters, or not beginning and ending right-to-left, is refused', () => {
  const refused = [
    `ab${HEBREW}`, // left-to-right letters (table D.2) beside right-to-left ones
    `${HEBREW}ab`,
    `${ARABIC}é`,
    `${HEBREW}日本`,
    `${HEBREW}1`, // must end with a right-to-left letter
    `1${HEBREW}`, // and begin with one
    `-${ARABIC}`,
    `${ARABIC}_`,
  ];
  for (const prep of [nodeprep, nameprep, resourceprep]) {
    for (const s of refused) assert.equal(prep(s), undefined, `${prep.name}(${JSON.stringify(s)})`);
    // Right-to-left letters Unicode assigned after 3.2 beside Latin ones, or at one end only.
    for (const s of ['ab\u0750', '\u07CAab', 'a\u{1E922}', '\u{1E922}1']) assert.equal(prep(s), undefined, `${prep.name}(${JSON.stringify(s)})`);
  }
  // In a host, within a label.
  assert.equal(nameprep(`ab${HEBREW}.com`), undefined);
  assert.equal(nameprep(`com.${ARABIC}1`), undefined);
  // Resources may have spaces: a space at either end is not a right-to-left letter either.
  assert.equal(resourceprep(`Work ${HEBREW}`), undefined);
  assert.equal(resourceprep(`${HEBREW} `), undefined);
  assert.equal(resourceprep(`${HEBREW} ${HEBREW}`), `${HEBREW} ${HEBREW}`);
  // Folding comes first: a fullwidth Latin letter is still a Latin one.
  assert.equal(nodeprep(`${HEBREW}Ａ${HEBREW}`), undefined);
  // The rule holds for each part on its own: a Latin user on a Hebrew host is fine.
  assert.equal(parseJid(`dj@${HEBREW}/Work`)?.toString(), `dj@${HEBREW}/Work`);
  assert.equal(parseJid(`${HEBREW}@yak/${ARABIC}`)?.toString(), `${HEBREW}@yak/${ARABIC}`);
  assert.equal(parseJid(`${HEBREW}@yak/Work ${ARABIC}`), undefined);
});

test('scripts written left to right only are untouched by the rule', () => {
  for (const s of ['dj', 'école', '日本', 'Ελληνικά', '한국어', '😀']) {
    assert.equal(resourceprep(s), s, s);
  }
  assert.equal(resourceprep('日本語 한국어 Ελληνικά'), '日本語 한국어 Ελληνικά');
  assert.equal(nodeprep('a1-b'), 'a1-b');
});

/** The code points `has` says yes to, as [first, last] ranges. */
function rangesOf(has: (c: string) => boolean): [number, number][] {
  const found: [number, number][] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (!has(String.fromCodePoint(cp))) continue;
    const last = found.at(-1);
    if (last && last[1] === cp - 1) last[1] = cp;
    else found.push([cp, cp]);
  }
  return found;
}

test('the tables: RFC 3454\'s D.1 and D.2 where Unicode 3.2 assigned a code point, the bidi classes of Python\'s unicodedata where it did not', { timeout: 60_000 }, async () => {
  const python = await pythonWith('stringprep', 'Python 3', 'python3');
  const script = `
import json, stringprep, unicodedata
from unicodedata import ucd_3_2_0
def ranges(test):
    found = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or not test(chr(cp)):
            continue
        if found and found[-1][1] == cp - 1:
            found[-1][1] = cp
        else:
            found.append([cp, cp])
    return found
old = lambda ch: ucd_3_2_0.category(ch) != 'Cn'
print(json.dumps({
    "version": unicodedata.unidata_version,
    "d1": ranges(lambda ch: old(ch) and stringprep.in_table_d1(ch)),
    "d2": ranges(lambda ch: old(ch) and stringprep.in_table_d2(ch)),
    "newRandAL": ranges(lambda ch: not old(ch) and unicodedata.bidirectional(ch) in ('R', 'AL')),
    "newL": ranges(lambda ch: not old(ch) and unicodedata.bidirectional(ch) == 'L'),
    "assigned32": ranges(old),
}))
`;
  const run = await runProgram(python, ['-c', script], { timeout: 50_000 });
  assert.equal(run.code, 0, run.stderr);
  type Ranges = [number, number][];
  const py = JSON.parse(run.stdout) as { version: string; d1: Ranges; d2: Ranges; newRandAL: Ranges; newL: Ranges; assigned32: Ranges };
  const assigned32 = new Set<number>();
  for (const [lo, hi] of py.assigned32) for (let cp = lo; cp <= hi; cp++) assigned32.add(cp);
  const old = (c: string): boolean => assigned32.has(c.codePointAt(0)!);
  // What Unicode 3.2 assigned: exactly stringprep's tables, whatever Python's version.
  assert.deepEqual(rangesOf((c) => old(c) && RAND_AL_CAT.test(c)), py.d1);
  assert.deepEqual(rangesOf((c) => old(c) && L_CAT.test(c)), py.d2);
  assert.equal(py.d1.length, 34); // as RFC 3454 lists them
  const newRandAL = rangesOf((c) => !old(c) && RAND_AL_CAT.test(c));
  const newL = rangesOf((c) => !old(c) && L_CAT.test(c));
  if (py.version === BIDI_UNICODE_VERSION) {
    // The Unicode the tables were made from: exactly its classes.
    assert.deepEqual(newRandAL, py.newRandAL);
    assert.deepEqual(newL, py.newL);
  } else {
    // Another Python: every code point of ours has its class there too
    // (Unicode keeps a character's bidi class), and this test says which.
    const within = (outer: Ranges) => (cp: number) => outer.some(([lo, hi]) => lo <= cp && cp <= hi);
    for (const [ours, theirs] of [[newRandAL, py.newRandAL], [newL, py.newL]] as const) {
      const inTheirs = within(theirs);
      for (const [lo, hi] of ours) for (let cp = lo; cp <= hi; cp++) assert.ok(inTheirs(cp), `U+${cp.toString(16)}: tables of Unicode ${BIDI_UNICODE_VERSION}, Python's ${py.version}`);
    }
  }
  assert.ok(newRandAL.length > 0 && newL.length > 0);
});
