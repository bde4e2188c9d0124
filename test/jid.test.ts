import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Jid, makeJid, nameprep, nodeprep, parseJid, resourceprep } from '../src/jid.js';

test('nodeprep folds case and compatibility forms', () => {
  assert.equal(nodeprep('DJ'), 'dj');
  assert.equal(nodeprep('Leslie.Hawke'), 'leslie.hawke');
  assert.equal(nodeprep('ＤＪ'), 'dj'); // fullwidth letters
  assert.equal(nodeprep('ﬁsh'), 'fish'); // ligature
  assert.equal(nodeprep('Ǆ'), 'dž'); // NFKC then lowercase
  assert.equal(nodeprep('ÉCOLE'), 'école');
  assert.equal(nodeprep('e\u0301cole'), 'école'); // combining accent composes
  assert.equal(nodeprep('ΣΊΣΥΦΟΣ'), 'σίσυφοσ'); // final sigma folds to σ (B.2)
  assert.equal(nodeprep('ὀδυσσεύς'), nodeprep('ὀδυσσεύσ'));
  assert.equal(nodeprep('Straße'), 'strasse');
  assert.equal(nodeprep('STRAẞE'), 'strasse');
  assert.equal(nodeprep('ß'), 'ss');
  assert.equal(nodeprep('日本'), '日本');
  assert.equal(nodeprep('a_b-c+d.e'), 'a_b-c+d.e');
  // Lowercasing can leave a letter and a mark that compose only in
  // lowercase (there is no precomposed J-caron): normalized again, J̌ and ǰ are one name.
  assert.equal(nodeprep('J\u030c'), '\u01f0');
  assert.equal(nodeprep('\u01f0'), '\u01f0');
  // The Greek iota subscript folds to ι (B.2), written precomposed, in
  // capitals (prosgegrammeni), or as the combining mark: one name each.
  assert.equal(nodeprep('ᾳ'), 'αι');
  assert.equal(nodeprep('ᾼ'), 'αι');
  assert.equal(nodeprep('\u03b1\u0345'), 'αι');
  assert.equal(nodeprep('ᾈδης'), 'ἀιδησ');
  assert.equal(nodeprep('ᾷ'), 'ᾶι');
  // Old Cyrillic letter variants fold to the letter (B.2).
  assert.equal(nodeprep('\u1c80\u1c82'), 'во');
});

test('nodeprep folds as full Unicode case folding does, beyond what toLowerCase() covers', () => {
  // Every letter of the Greek Extended block (ᾀ-ῼ): its fold, that is
  // the fold of its decomposition with U+0345 made ι, is also the fold of
  // its uppercase, and prepared once is prepared for good.
  for (let cp = 0x1f00; cp <= 0x1fff; cp++) {
    const c = String.fromCodePoint(cp);
    const n = nodeprep(c);
    if (n === undefined) continue;
    assert.doesNotMatch(n, /\u0345/, `U+${cp.toString(16)}`);
    assert.equal(nodeprep(n), n, `U+${cp.toString(16)}`);
    assert.equal(nodeprep(c.toUpperCase()), n, `U+${cp.toString(16)} and its uppercase`);
  }
});

test('nodeprep refuses every forbidden character', () => {
  for (const c of ['"', '&', "'", '/', ':', '<', '>', '@']) {
    assert.equal(nodeprep(`a${c}b`), undefined, JSON.stringify(c));
  }
  // Fullwidth forms that NFKC maps onto forbidden ones.
  for (const c of ['＠', '／', '：', '＜', '＞', '＆', '＂', '＇']) {
    assert.equal(nodeprep(`a${c}b`), undefined, c);
  }
  const spaces = [' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u2003', '\u200a',
    '\u2028', '\u2029', '\u202f', '\u205f', '\u3000'];
  for (const c of spaces) assert.equal(nodeprep(`a${c}b`), undefined, `U+${c.codePointAt(0)!.toString(16)}`);
  const controls = ['\u0000', '\u0001', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f'];
  for (const c of controls) assert.equal(nodeprep(`a${c}b`), undefined, `U+${c.codePointAt(0)!.toString(16)}`);
  const others = ['\ufffe', '\uffff', '\ufdd0', '\u{1fffe}', '\ue000', '\u{f0000}', '\ud800', '\udc00',
    '\u200b', '\u200d', '\u202e', '\ufeff',
    // default-ignorable: combining grapheme joiner, variation selectors, Mongolian FVS, Hangul fillers
    '\u034f', '\ufe00', '\ufe0f', '\u180b', '\u115f', '\u3164', '\uffa0', '\u{e0100}',
    // stringprep maps U+1806 to nothing (table B.1); tables C.6 and C.7 prohibit the rest
    '\u1806', '\ufff9', '\ufffc', '\ufffd', '\u2ff0', '\u2ffb'];
  for (const c of others) {
    assert.equal(nodeprep(`a${c}b`), undefined, `U+${c.codePointAt(0)!.toString(16)}`);
    assert.equal(nodeprep(c), undefined, `U+${c.codePointAt(0)!.toString(16)} alone`);
  }
  assert.equal(nodeprep(''), undefined);
});

test('nodeprep length limit is 1023 UTF-8 bytes', () => {
  assert.equal(nodeprep('a'.repeat(1023)), 'a'.repeat(1023));
  assert.equal(nodeprep('a'.repeat(1024)), undefined);
  // é is 2 bytes: 511 of them + 1 = 1023 bytes.
  assert.equal(nodeprep('é'.repeat(511) + 'a'), 'é'.repeat(511) + 'a');
  assert.equal(nodeprep('é'.repeat(512)), undefined);
  // 日 is 3 bytes: 341 = 1023 bytes.
  assert.equal(nodeprep('日'.repeat(341)), '日'.repeat(341));
  assert.equal(nodeprep('日'.repeat(341) + 'a'), undefined);
  // 4-byte characters (a surrogate pair each in JS).
  assert.equal(nodeprep('😀'.repeat(255) + 'abc'), '😀'.repeat(255) + 'abc');
  assert.equal(nodeprep('😀'.repeat(256)), undefined);
  // The limit applies after folding: 'ﬃ' (3 bytes) becomes 'ffi' (3 bytes), ㎒ (3) becomes 'mhz'.
  assert.equal(nodeprep('㎒'.repeat(341)), 'mhz'.repeat(341));
});

test('resourceprep keeps case and spaces, refuses controls', () => {
  assert.equal(resourceprep('Work'), 'Work');
  assert.equal(resourceprep('My Laptop/2 @home'), 'My Laptop/2 @home');
  assert.equal(resourceprep('Ｗork'), 'Work');
  assert.equal(resourceprep(''), undefined);
  // Stringprep's B.1 is mapped to nothing: invisible, it would make look-alike or empty-looking resources.
  assert.equal(resourceprep('Wo\u200Brk\uFEFF'), 'Work');
  assert.equal(resourceprep('\u00ADHome\u2060'), 'Home');
  assert.equal(resourceprep('\u200B'), undefined);
  assert.equal(resourceprep('\u200C\u200D\uFE0F'), undefined);
  assert.equal(resourceprep('a\u0000'), undefined);
  assert.equal(resourceprep('a\nb'), undefined);
  assert.equal(resourceprep('a\u007f'), undefined);
  assert.equal(resourceprep('a\u0085'), undefined);
  assert.equal(resourceprep('a'.repeat(1023))?.length, 1023);
  assert.equal(resourceprep('a'.repeat(1024)), undefined);
});

test('resourceprep refuses what RFC 3920 resourceprep prohibits and anything else invisible, alone or among text', () => {
  const hex = (c: string): string => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`;
  const refused = [
    // C.8 bidi marks, embeddings and overrides (after NFKC U+0340/0341 are U+0300/0301), and the Arabic letter mark
    '\u200E', '\u200F', '\u202A', '\u202E', '\u206A', '\u206F', '\u061C',
    // C.9 tags, which show nothing
    '\u{E0001}', '\u{E0020}', '\u{E007F}',
    // C.2.2 non-ASCII controls that are format characters or separators
    '\u2061', '\u2062', '\u2063', '\u06DD', '\u070F', '\u180E', '\u2028', '\u2029', '\u{1D173}', '\u{1D17A}',
    // C.1.2 non-ASCII spaces NFKC leaves as they are
    '\u1680',
    // C.3 private use, C.6, C.7
    '\uE000', '\uF8FF', '\u{F0000}', '\u{10FFFD}', '\uFFF9', '\uFFFB', '\uFFFC', '\uFFFD', '\u2FF0', '\u2FFB',
    // Default-ignorable: Hangul fillers (U+FFA0 is U+3164 after NFKC), Khmer inherent vowels
    '\u3164', '\uFFA0', '\u115F', '\u1160', '\u17B4',
  ];
  for (const c of refused) {
    assert.equal(resourceprep(c), undefined, `${hex(c)} alone`);
    assert.equal(resourceprep(`Wo${c}rk`), undefined, `${hex(c)} among text`);
  }
  // Still any visible text, and the spaces NFKC makes ASCII ones.
  assert.equal(resourceprep('Café Laptop'), 'Café Laptop');
  assert.equal(resourceprep('Cafe\u0301'), 'Café');
  assert.equal(resourceprep('日本語 한국어 Ελληνικά'), '日本語 한국어 Ελληνικά');
  assert.equal(resourceprep('عربي'), 'عربي'); // right-to-left alone: jid-bidi.test.ts
  assert.equal(resourceprep('😀 🇫🇷 📱'), '😀 🇫🇷 📱');
  assert.equal(resourceprep('\u00A0Home\u3000'), ' Home ');
});

test('nameprep lowercases hosts and refuses unsafe characters', () => {
  assert.equal(nameprep('Yak'), 'yak');
  assert.equal(nameprep('Jabber.Example.ORG'), 'jabber.example.org');
  assert.equal(nameprep('ｌｏｃａｌｈｏｓｔ'), 'localhost');
  assert.equal(nameprep('bücher.example'), 'bücher.example');
  assert.equal(nameprep('[::1]'), '[::1]');
  for (const c of ['/', '@', '<', '>', "'", '"', '&', ' ', '\t', '\\', '\u0000', '\u00a0', '%', '?', '#', '*']) {
    assert.equal(nameprep(`a${c}b`), undefined, JSON.stringify(c));
  }
  // Invisible or look-alike characters outside ASCII: spoofing, as in usernames.
  for (const c of ['\u200b', '\u200d', '\u202e', '\u2028', '\ufeff', '\u00ad', '\ue000', '\u034f', '\ufe0f',
    '\u1806', '\ufffc', '\ufffd', '\u2ff0']) {
    assert.equal(nameprep(`a${c}b`), undefined, `U+${c.codePointAt(0)!.toString(16)}`);
  }
  assert.equal(nameprep(''), undefined);
  assert.equal(nameprep('a'.repeat(1024)), undefined);
});

test('parseJid splits per RFC 3920', () => {
  const cases: [string, string | undefined, string, string | undefined][] = [
    ['yak', undefined, 'yak', undefined],
    ['dj@yak', 'dj', 'yak', undefined],
    ['DJ@Yak/Work', 'dj', 'yak', 'Work'],
    ['yak/announce/online', undefined, 'yak', 'announce/online'],
    ['dj@yak/a@b/c', 'dj', 'yak', 'a@b/c'], // '@' after the first '/' is resource
    ['yak/dj@home', undefined, 'yak', 'dj@home'],
    ['ＤＪ@ｙａｋ/Ｗ', 'dj', 'yak', 'W'],
  ];
  for (const [s, user, host, resource] of cases) {
    const j = parseJid(s);
    assert.ok(j, s);
    assert.equal(j.user, user, s);
    assert.equal(j.host, host, s);
    assert.equal(j.resource, resource, s);
  }
  for (const bad of ['', '@yak', 'dj@', 'dj@/r', 'yak/', 'dj@yak/', '/r', 'a@b@yak', 'a b@yak', 'dj@ya k', 'dj@yak/\u0000']) {
    assert.equal(parseJid(bad), undefined, JSON.stringify(bad));
  }
  assert.equal(Jid.parse('dj@yak')?.bare, 'dj@yak');
});

test('Jid methods', () => {
  const j = parseJid('DJ@yak/Work')!;
  assert.equal(j.bare, 'dj@yak');
  assert.equal(j.toString(), 'dj@yak/Work');
  assert.equal(`${j}`, 'dj@yak/Work');
  assert.equal(j.bareJid().toString(), 'dj@yak');
  assert.equal(j.bareJid().resource, undefined);
  assert.equal(j.withResource('Home').toString(), 'dj@yak/Home');
  assert.equal(j.withResource().toString(), 'dj@yak');
  assert.equal(j.withResource('Ｈome').resource, 'Home');
  assert.throws(() => j.withResource(''), RangeError);
  assert.ok(j.equals(parseJid('dj@YAK/Work')!));
  assert.ok(!j.equals(parseJid('dj@yak/work')!));
  assert.ok(!j.equals(j.bareJid()));
  const host = parseJid('yak')!;
  assert.equal(host.bare, 'yak');
  assert.equal(host.user, undefined);
  assert.equal(makeJid(undefined, 'Yak', 'echo')?.toString(), 'yak/echo');
  assert.equal(makeJid('Leslie', 'yak')?.toString(), 'leslie@yak');
  assert.equal(makeJid('a/b', 'yak'), undefined);
  assert.equal(makeJid('a', 'y k'), undefined);
  assert.equal(makeJid('a', 'yak', ''), undefined);
});

test('parseJid keeps an address in steady use while a flood of new ones passes through its memo', () => {
  const hot = parseJid('steady@example.com/home');
  assert.ok(hot);
  for (let i = 0; i < 50_000; i++) {
    assert.equal(parseJid(`flood${i}@example.com`)?.user, `flood${i}`);
    // The same object each time: the hot address was never parsed again.
    if (i % 1_000 === 0) assert.equal(parseJid('steady@example.com/home'), hot, `after ${i} new addresses`);
  }
});
