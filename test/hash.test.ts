// The hashes of SPEC section 5 against their test vectors, and the fast
// SHA-1 chain against node's own SHA-1.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { digestFor, randomHex, sha1hex, zerokHash, zerokIterate, zerokSeed } from '../src/util/hash.js';
import { sha1HexIterate } from '../src/util/sha1-chain.js';

test('digest: the XEP-0078 vector', () => {
  assert.equal(digestFor('3EE948B0', 'Calli0pe'), '48fc78be9ec8f86d8ce1c39c320c97c21d62334d');
});

test('zero-knowledge: the book vector, as client and as server', () => {
  assert.equal(zerokHash('secret', 'ABCDE', 400), '01945b9b2c3207c4cce5dc99e50605779f570077');
  // The server held sequence 401 and this hash; sha1 of the client's answer must match it.
  assert.equal(zerokHash('secret', 'ABCDE', 401), '3b0bd4a08c8338d422a1a91b3f36386a2696e8ca');
  assert.equal(sha1hex('01945b9b2c3207c4cce5dc99e50605779f570077'), '3b0bd4a08c8338d422a1a91b3f36386a2696e8ca');
});

test('the fast chain equals repeated createHash for any input and count', () => {
  const slow = (hex: string, n: number): string => {
    let h = hex;
    for (let i = 0; i < n; i++) h = createHash('sha1').update(h).digest('hex');
    return h;
  };
  for (let i = 0; i < 300; i++) {
    const start = sha1hex(`seed-${i}`);
    const n = i % 13;
    assert.equal(sha1HexIterate(start, n), slow(start, n), `input ${i}, ${n} times`);
  }
  const h0 = zerokSeed('pässwörd', 'TOKEN123');
  assert.equal(sha1HexIterate(h0, 500), slow(h0, 500));
  assert.equal(sha1HexIterate(h0, 1000), slow(h0, 1000));
  assert.equal(sha1HexIterate(h0, 0), h0);
  assert.throws(() => sha1HexIterate('ABC', 1), RangeError);
  assert.throws(() => sha1HexIterate(h0, -1), RangeError);
  assert.throws(() => sha1HexIterate(h0, 1.5), RangeError);
  // SPEC: the chain works on the lowercase hex string, whatever case it came in.
  assert.equal(zerokIterate(h0.toUpperCase(), 3), slow(h0, 3));
});

test('without WebAssembly (node --jitless) the chain falls back to createHash, same results', () => {
  const h0 = zerokSeed('secret', 'ABCDE');
  const moduleUrl = new URL('../src/util/sha1-chain.js', import.meta.url).href;
  const script = `import { sha1HexIterate } from ${JSON.stringify(moduleUrl)};
    process.stdout.write(String(typeof WebAssembly) + ' ' + sha1HexIterate(${JSON.stringify(h0)}, 400));`;
  const out = execFileSync(process.execPath, ['--jitless', '--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8' });
  // The book's vector: sequence 400 of password "secret", token ABCDE.
  assert.equal(out, 'undefined 01945b9b2c3207c4cce5dc99e50605779f570077');
});

test('randomHex: uppercase hex of the asked length, different every time', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = randomHex(4);
    assert.match(id, /^[0-9A-F]{8}$/);
    seen.add(id);
  }
  assert.ok(seen.size > 1990);
  assert.match(randomHex(20), /^[0-9A-F]{40}$/);
  assert.match(randomHex(5000), /^[0-9A-F]{10000}$/);
});
