// desCrypt against the system's crypt(3) (glibc/libxcrypt, reached through
// perl's crypt), on fixed vectors and on thousands of random passwords and
// salts, valid and not.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { desCrypt } from '../src/auth/des-crypt.js';
import { prng } from './helpers/transcript.js';

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * crypt(password, setting) by libc for each pair, in one perl run. Both go
 * over as hex so that any byte (newlines, NULs, UTF-8) reaches crypt as is;
 * the setting as its UTF-8 bytes.
 */
function systemCrypt(pairs: ReadonlyArray<readonly [Buffer, string]>): string[] {
  const input = pairs
    .map(([password, setting]) => `${password.toString('hex')} ${Buffer.from(setting, 'utf8').toString('hex')}\n`)
    .join('');
  const script =
    'binmode STDIN; binmode STDOUT; while (my $line = <STDIN>) { chomp $line; ' +
    'my ($p, $s) = split / /, $line, -1; my $r = crypt(pack("H*", $p), pack("H*", $s)); ' +
    'print defined $r ? $r : "(undef)", "\\n"; }';
  const run = spawnSync('perl', ['-e', script], { input, encoding: 'latin1', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, `perl failed: ${run.stderr}`);
  const lines = run.stdout.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, pairs.length);
  return lines;
}

const SEED = 0x5eed_0de5;

/** Passwords of 0-12 bytes: any bytes, high bytes, or UTF-8 text. */
function randomPassword(rand: () => number): Buffer {
  const length = Math.floor(rand() * 13);
  const kind = Math.floor(rand() * 4);
  if (kind === 0) {
    // Any byte, NUL included (libc stops there, so must desCrypt).
    return Buffer.from(Array.from({ length }, () => Math.floor(rand() * 256)));
  }
  if (kind === 1) {
    // No NUL; half of them with the top bit set, which crypt drops.
    return Buffer.from(Array.from({ length }, () => 1 + Math.floor(rand() * 255) | (rand() < 0.5 ? 0x80 : 0)));
  }
  if (kind === 2) {
    return Buffer.from(Array.from({ length }, () => 0x20 + Math.floor(rand() * 95)));
  }
  // UTF-8 text of 1- to 4-byte characters, cut to the length (perhaps in
  // the middle of a character, as a byte count would).
  const ranges: Array<[number, number]> = [[0x21, 0x7e], [0xa0, 0x7ff], [0x800, 0xd7ff], [0x10000, 0x1ffff]];
  let text = '';
  while (Buffer.byteLength(text) < length) {
    const [lo, hi] = ranges[Math.floor(rand() * ranges.length)]!;
    text += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return Buffer.from(text, 'utf8').subarray(0, length);
}

function randomSalt(rand: () => number): string {
  let salt = ALPHABET[Math.floor(rand() * 64)]! + ALPHABET[Math.floor(rand() * 64)]!;
  // Sometimes a whole stored hash as the setting, as callers of crypt do.
  if (rand() < 0.2) {
    for (let i = 0; i < 11; i++) salt += ALPHABET[Math.floor(rand() * 64)]!;
  }
  return salt;
}

describe('desCrypt', () => {
  test('fixed vectors (checked against perl crypt)', () => {
    // The empty password: a zero key.
    assert.equal(desCrypt(Buffer.alloc(0), 'ab'), 'abmF1QH4PEr.E');
    assert.equal(desCrypt(Buffer.alloc(0), 'Zz'), 'Zz6qI0EVQ1ir.');
    assert.equal(desCrypt(Buffer.from('password'), 'ab'), 'abJnggxhB/yWI');
    assert.equal(desCrypt(Buffer.from('password'), 'Zz'), 'ZziFATVXHo2.6');
    assert.equal(desCrypt(Buffer.from('pw'), './'), './Pkhn1tKbCbc');
    assert.equal(desCrypt(Buffer.from('pw'), 'zz'), 'zzUY6Qtlt705M');
    assert.equal(desCrypt(Buffer.from('pw'), '..'), '..BM9atuun6Gs');
    assert.equal(desCrypt(Buffer.from('a'.repeat(511)), 'ab'), 'abBUNZY4cR2mg');
  });

  test('only the first 8 bytes count', () => {
    assert.equal(desCrypt(Buffer.from('password1'), 'ab'), 'abJnggxhB/yWI');
    assert.equal(desCrypt(Buffer.from('password and more'), 'ab'), 'abJnggxhB/yWI');
    // UTF-8: "pässwört" is 10 bytes; its first 8 are "pässwö".
    assert.equal(desCrypt(Buffer.from('pässwört', 'utf8'), 'ab'), 'abzp3RXJm5gNA');
    assert.equal(desCrypt(Buffer.from('pässwö', 'utf8'), 'ab'), 'abzp3RXJm5gNA');
  });

  test('each byte loses its top bit', () => {
    // 0x80 becomes a zero key byte: the same key as the empty password...
    assert.equal(desCrypt(Buffer.from([0x80]), 'ab'), 'abmF1QH4PEr.E');
    // ...and 0xe1 the same as 'a' (0x61).
    assert.equal(desCrypt(Buffer.from([0xe1]), 'ab'), 'abxxB7HlIeckU');
    assert.equal(desCrypt(Buffer.from('a'), 'ab'), 'abxxB7HlIeckU');
    assert.equal(desCrypt(Buffer.alloc(8, 0xff), 'ab'), 'ab4EDcrfIZc5E');
    assert.equal(desCrypt(Buffer.alloc(8, 0x7f), 'ab'), 'ab4EDcrfIZc5E');
  });

  test('the password ends at its first zero byte, but not at 0x80', () => {
    // A NUL ends the C string: "x\0z" is "x".
    assert.equal(desCrypt(Buffer.from([0x78, 0x00, 0x7a]), 'ab'), 'abiQ6Ep3EYTHc');
    assert.equal(desCrypt(Buffer.from('x'), 'ab'), 'abiQ6Ep3EYTHc');
    // 0x80 only becomes a zero key byte: the 'z' after it still counts.
    assert.equal(desCrypt(Buffer.from([0x78, 0x80, 0x7a]), 'ab'), 'abMiXkfWT52.g');
    assert.equal(desCrypt(Buffer.from([0x00]), 'ab'), 'abmF1QH4PEr.E');
  });

  test('only the first two characters of the setting are salt', () => {
    assert.equal(desCrypt(Buffer.from('password'), 'abJnggxhB/yWI'), 'abJnggxhB/yWI');
    assert.equal(desCrypt(Buffer.from('password'), 'abc'), 'abJnggxhB/yWI');
    assert.equal(desCrypt(Buffer.from('password'), 'ab$$'), 'abJnggxhB/yWI');
    // The setting is a C string too.
    assert.equal(desCrypt(Buffer.from('password'), 'ab\0!!'), 'abJnggxhB/yWI');
  });

  test('refused settings and passwords give the failure token, as libxcrypt does', () => {
    const pw = Buffer.from('password');
    for (const setting of ['', 'a', '!b', 'a!', '{b', 'a~', ':b', 'a b', 'a\n', '$1', '$1$abc$', '_J9..CCCC', 'a$', '\0ab',
      'ab\n', 'ab:xyz', 'ab\u00e9', 'ab!', 'ab;', 'ab\\', 'ab*', 'ab\x7f', 'abJnggxhB/yWI\t', '*', '*1']) {
      assert.equal(desCrypt(pw, setting), '*0', JSON.stringify(setting));
    }
    // A setting that is itself "*0..." gets "*1", so it never matches itself.
    for (const setting of ['*0', '*0ab', '*00']) assert.equal(desCrypt(pw, setting), '*1', setting);
    // libxcrypt refuses passwords of 512 bytes or more.
    assert.equal(desCrypt(Buffer.from('a'.repeat(512)), 'ab'), '*0');
    assert.equal(desCrypt(Buffer.from('a'.repeat(600)), 'ab'), '*0');
  });

  test('agrees with the system crypt on 2,500 random passwords and salts', () => {
    const rand = prng(SEED);
    const pairs: Array<[Buffer, string]> = [];
    for (let i = 0; i < 2500; i++) pairs.push([randomPassword(rand), randomSalt(rand)]);
    // Make sure the generator covered what it is meant to.
    assert.ok(pairs.some(([p]) => p.includes(0)), 'some NUL');
    assert.ok(pairs.some(([p]) => p.some((b) => b >= 0x80)), 'some high bytes');
    assert.ok(pairs.some(([p]) => p.length > 8 && !p.subarray(0, 8).includes(0)), 'some longer than 8');
    assert.ok(pairs.some(([p]) => p.length === 0), 'some empty');
    const expected = systemCrypt(pairs);
    pairs.forEach(([password, salt], i) => {
      assert.match(expected[i]!, /^[./0-9A-Za-z]{13}$/);
      assert.equal(desCrypt(password, salt), expected[i], `case ${i} (seed ${SEED}): ${password.toString('hex')} ${salt}`);
    });
  });

  test('agrees with the system crypt on 1,000 random settings, mostly invalid', () => {
    const rand = prng(SEED + 1);
    const pool = [...ALPHABET, '!', '*', ':', ';', '\\', '$', '_', ' ', '\t', '\n', '\x7f', '\0', 'é', '€', '0', '*0'];
    const pairs: Array<[Buffer, string]> = [];
    for (let i = 0; i < 1000; i++) {
      let setting = '';
      const length = Math.floor(rand() * 5);
      for (let j = 0; j < length; j++) {
        // Lean on the odd characters, so both outcomes are common.
        setting += rand() < 0.6 ? pool[Math.floor(rand() * pool.length)]! : ALPHABET[Math.floor(rand() * 64)]!;
      }
      pairs.push([randomPassword(rand), setting]);
    }
    const expected = systemCrypt(pairs);
    let refused = 0;
    pairs.forEach(([password, setting], i) => {
      // A "$1$x"-like setting is another method's (MD5, ...) to libc; not ours.
      if (/^[$_]/.test(expected[i]!)) return;
      if (expected[i]!.startsWith('*')) refused++;
      assert.equal(desCrypt(password, setting), expected[i], `case ${i}: ${password.toString('hex')} ${JSON.stringify(setting)}`);
    });
    assert.ok(refused > 200 && refused < 900, `${refused} of 1000 refused`);
  });
});
