// Stringprep's bidirectional rule (RFC 3454 section 6) in nodeprep,
// nameprep and resourceprep, and the tables it uses checked against
// Python's stringprep module, which holds RFC 3454's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameprep, nodeprep, resourceprep, parseJid } from '../src/jid.js';
import { L_CAT, RAND_AL_CAT } from '../src/jid-bidi-tables.js';
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
  // A dot between two right-to-left labels of a host.
  assert.equal(nameprep(`${HEBREW}.${ARABIC}`), `${HEBREW}.${ARABIC}`);
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
  }
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

test('tables D.1 and D.2 are exactly those of Python\'s stringprep module', { timeout: 60_000 }, async () => {
  const python = await pythonWith('stringprep', 'Python 3', 'python3');
  const script = `
import json, stringprep
def ranges(in_table):
    found = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or not in_table(chr(cp)):
            continue
        if found and found[-1][1] == cp - 1:
            found[-1][1] = cp
        else:
            found.append([cp, cp])
    return found
print(json.dumps({"d1": ranges(stringprep.in_table_d1), "d2": ranges(stringprep.in_table_d2)}))
`;
  const run = await runProgram(python, ['-c', script], { timeout: 50_000 });
  assert.equal(run.code, 0, run.stderr);
  const expected = JSON.parse(run.stdout) as { d1: [number, number][]; d2: [number, number][] };
  assert.deepEqual(rangesOf((c) => RAND_AL_CAT.test(c)), expected.d1);
  assert.deepEqual(rangesOf((c) => L_CAT.test(c)), expected.d2);
  assert.equal(expected.d1.length, 34); // as RFC 3454 lists them
});
