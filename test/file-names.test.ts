import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hostDirName,
  isLongUserFileName,
  legacyHostDirName,
  legacyUserFileName,
  userFileName,
  userFromFileName,
  userFromLegacyFileName,
} from '../src/xdb/file-names.js';
import { nodeprep } from '../src/jid.js';

test('plain ASCII names map to name.xml as in jabberd 1.4', () => {
  for (const n of ['dj', 'leslie', 'joseph.adams', 'a_b', 'a-b', 'a+b', '007', 'x.', 'a..b', 'foo.xml']) {
    assert.equal(userFileName(n), n + '.xml');
    assert.equal(userFromFileName(n + '.xml'), n);
  }
  assert.equal(hostDirName('localhost'), 'localhost');
  assert.equal(hostDirName('jabber.example.org'), 'jabber.example.org');
});

test('unsafe names are percent-encoded and round-trip', () => {
  const expected: [string, string][] = [
    ['.', '%2E.xml'],
    ['..', '%2E..xml'],
    ['.hidden', '%2Ehidden.xml'],
    ['%', '%25.xml'],
    ['100%', '100%25.xml'],
    ['%2e', '%252e.xml'],
    ['é', '%C3%A9.xml'],
    ['日本', '%E6%97%A5%E6%9C%AC.xml'],
    ['😀', '%F0%9F%98%80.xml'],
    ['Upper', '%55pper.xml'], // never produced by nodeprep, but still one-to-one
    ['a/b', 'a%2Fb.xml'],
    ['a\u0000b', 'a%00b.xml'],
    ['a\\b', 'a%5Cb.xml'],
    ['~', '%7E.xml'],
  ];
  for (const [name, file] of expected) {
    assert.equal(userFileName(name), file, name);
    assert.equal(userFromFileName(file), name, file);
  }
  assert.equal(hostDirName('[::1]'), '%5B%3A%3A1%5D');
  assert.equal(hostDirName('..'), '%2E.');
});

test('no name ever yields a path separator, NUL or a dot file', () => {
  const samples = ['.', '..', '...', '/', '\\', '/..', '../x', 'a/../../etc/passwd', '\u0000', '%2F', ':', 'C:',
    'a\u2215b', '\uff0f', ' ', 'é/é'];
  for (let cp = 0; cp < 0x3000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    samples.push(String.fromCodePoint(cp), 'a' + String.fromCodePoint(cp));
  }
  for (const s of samples) {
    for (const f of [userFileName(s), hostDirName(s)]) {
      assert.ok(!f.includes('/') && !f.includes('\\') && !f.includes('\u0000'), JSON.stringify(s));
      assert.ok(!f.startsWith('.'), JSON.stringify(s));
      assert.match(f, /^[A-Za-z0-9._+%-]+$/);
    }
    assert.equal(userFromFileName(userFileName(s)), s);
  }
});

test('foreign and non-canonical file names are not users', () => {
  for (const f of ['dj', 'dj.XML', '.xml', '.dj.xml.123.4.tmp', '.dj.xml', '%2e.xml', '%61.xml', '%.xml',
    '%4.xml', '%C3.xml', '%FF.xml', 'DJ.xml', 'a b.xml', 'é.xml', 'dj.xml~', '%2E', 'a%2fb.xml']) {
    assert.equal(userFromFileName(f), undefined, f);
  }
});

test('empty names and lone surrogates are refused', () => {
  assert.throws(() => userFileName(''));
  assert.throws(() => hostDirName(''));
  assert.throws(() => userFileName('a\ud800'));
});

test('names too long for the file system get a hashed file name', () => {
  // Longest legal usernames: 1023 bytes, ASCII or multibyte.
  for (const n of ['a'.repeat(1023), 'é'.repeat(511), '日'.repeat(341), 'a'.repeat(197)]) {
    assert.equal(nodeprep(n), n);
    const f = userFileName(n);
    assert.ok(Buffer.byteLength(f) <= 200, `${f.length}`);
    assert.ok(isLongUserFileName(f));
    assert.equal(userFromFileName(f), undefined);
    assert.ok(!f.includes('/') && !f.startsWith('.'));
  }
  assert.equal(userFileName('a'.repeat(196)), 'a'.repeat(196) + '.xml');
  assert.ok(!isLongUserFileName(userFileName('a'.repeat(196))));
  // Distinct names, distinct files, even with a shared prefix; no %XX split.
  assert.notEqual(userFileName('é'.repeat(300) + 'a'), userFileName('é'.repeat(300) + 'b'));
  assert.match(userFileName('é'.repeat(300)), /^(%C3%A9)+~[0-9a-f]{64}\.xml$/);
  // Whichever way the triplets fall against the cut, none is split (a character's bytes may be).
  for (const lead of ['', 'a', 'ab']) {
    assert.match(userFileName(lead + 'é'.repeat(300)), new RegExp(`^${lead}(%C3|%A9)+~[0-9a-f]{64}\\.xml$`), lead);
  }
});

test("1.4's own file names for names Yak encodes: the name itself, where that is safe and unambiguous", () => {
  for (const n of ['joe!x', 'jos\u00e9', '\u65e5\u672c', 'a=b', 'x~y']) {
    assert.equal(nodeprep(n), n);
    assert.equal(legacyUserFileName(n), `${n}.xml`, n);
    assert.equal(userFromLegacyFileName(`${n}.xml`), n, n);
    assert.notEqual(userFileName(n), `${n}.xml`, 'Yak names these differently');
  }
  // Yak's name already is 1.4's; a dot file, '%', '/', NUL or an oversized name never was one.
  for (const n of ['dj', 'a.b', '.hidden!', 'a%41', 'a/b', 'a\0b', '\u00e9'.repeat(130)]) assert.equal(legacyUserFileName(n), undefined, n);
  // Only prepared names: 1.4 stored them lowercase too.
  assert.equal(userFromLegacyFileName('Joe!x.xml'), undefined);
  assert.equal(userFromLegacyFileName('dj.xml'), undefined, "Yak's own names are read by userFromFileName");
  assert.equal(userFromLegacyFileName('joe!x.txt'), undefined);
});

test('a host whose encoded name is too long for a folder name gets a hashed one; any DNS name fits as it is', () => {
  const dns = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  assert.equal(dns.length, 253);
  assert.equal(hostDirName(dns), dns);
  // 104 bytes of UTF-8, 302 characters percent-encoded: over NAME_MAX (255).
  const idn = '\u65e5\u672c\u8a9e\u30c9\u30e1\u30a4\u30f3\u540d\u4f8b\u3067\u3059.'.repeat(3) + 'jp';
  const dir = hostDirName(idn);
  assert.match(dir, /^[%0-9A-F.]+~[0-9a-f]{64}$/);
  assert.ok(dir.length <= 255, `${dir.length}`);
  assert.notEqual(hostDirName(idn.replace('jp', 'jq')), dir);
  // 1.4 named its folder after the host itself, which fits.
  assert.equal(legacyHostDirName(idn), idn);
});

test("1.4's folder name for a host Yak percent-encodes is the name itself, when it can be one", () => {
  assert.equal(hostDirName('b\u00fccher.test'), 'b%C3%BCcher.test');
  assert.equal(legacyHostDirName('b\u00fccher.test'), 'b\u00fccher.test');
  // Yak's own name already, or a name 1.4's could not be (or be mistaken for Yak's).
  for (const host of ['localhost', 'jabber.example.org', '.h\u00e9', 'h\u00e9%', 'a/\u00e9', '\u00e9'.repeat(200)]) {
    assert.equal(legacyHostDirName(host), undefined, host);
  }
});
