// The traditional Unix crypt(3) password hash: DES, a 2-character salt and
// a 13-character result, as glibc and libxcrypt compute `crypt(pw, "ab")`.
//
// It is here only to check the records jabberd 1.4's mod_auth_crypt left in
// spools: it stored crypt(password, salt) of the password's UTF-8 bytes with
// a 2-character salt. Node has no crypt(3) and no DES we could rely on (the
// OpenSSL 3 "legacy" provider may be missing), so the cipher is written out
// here from FIPS 46-3. Nothing new should ever be hashed this way: only the
// first 8 bytes of a password count, and only 7 bits of each.
//
// The algorithm: the key is the password's first 8 bytes, each shifted left
// by one (the top bit is lost, the low bit is DES's unused parity bit), zero
// padded. The 12 salt bits perturb DES's E expansion: salt bit i swaps bits i
// and i+24 of its 48-bit output. An all-zero block is encrypted 25 times
// with that key, and the 64 result bits plus two zero bits are written out,
// 6 bits a character, after the salt.
//
// Inputs libc refuses: crypt() then returns a "failure token" that no hash
// equals, not NULL, and so do we (see failureToken below).

/** The 64 characters of crypt's base 64, in value order. */
const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// --- FIPS 46-3 tables. Bit positions are 1-based, bit 1 the leftmost. ---

/** IP^-1, the final permutation: output bit i is input bit FP[i-1]. */
const FP = [
  40, 8, 48, 16, 56, 24, 64, 32,
  39, 7, 47, 15, 55, 23, 63, 31,
  38, 6, 46, 14, 54, 22, 62, 30,
  37, 5, 45, 13, 53, 21, 61, 29,
  36, 4, 44, 12, 52, 20, 60, 28,
  35, 3, 43, 11, 51, 19, 59, 27,
  34, 2, 42, 10, 50, 18, 58, 26,
  33, 1, 41, 9, 49, 17, 57, 25,
];
// IP itself is never applied: IP of the all-zero first block is zero, and
// between two of the 25 encryptions the one's IP^-1 and the next's IP cancel.
// So the state stays in "inside the rounds" form and FP is applied once.

// E, the expansion, is not written as a table: its 8 groups of 6 bits are
// R's bits 32,1..5 / 4..9 / 8..13 / ... / 28..32,1, i.e. group j is the 6
// bits ending at bit 4j+5 of R taken cyclically, which a rotation gives (see
// feistel below).

/** P, the permutation after the S-boxes: output bit i is input bit P[i-1]. */
const P = [
  16, 7, 20, 21, 29, 12, 28, 17,
  1, 15, 23, 26, 5, 18, 31, 10,
  2, 8, 24, 14, 32, 27, 3, 9,
  19, 13, 30, 6, 22, 11, 4, 25,
];

/** The S-boxes: row (outer bits of the 6-bit input) by column (inner 4 bits). */
const S = [
  [
    14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
    0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
    4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
    15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
  ],
  [
    15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
    3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
    0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
    13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
  ],
  [
    10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
    13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
    13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
    1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
  ],
  [
    7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
    13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
    10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
    3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
  ],
  [
    2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
    14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
    4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
    11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
  ],
  [
    12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
    10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
    9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
    4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
  ],
  [
    4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
    13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
    1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
    6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
  ],
  [
    13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
    1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
    7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
    2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
  ],
];

/** PC-1: the 56 key bits (of 64) that make up C (first 28) and D (last 28). */
const PC1 = [
  57, 49, 41, 33, 25, 17, 9,
  1, 58, 50, 42, 34, 26, 18,
  10, 2, 59, 51, 43, 35, 27,
  19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15,
  7, 62, 54, 46, 38, 30, 22,
  14, 6, 61, 53, 45, 37, 29,
  21, 13, 5, 28, 20, 12, 4,
];

/**
 * PC-2: the 48 bits of CD that make a round key. The first 24 all come
 * from C (bits 1-28) and the last 24 from D (29-56), which lets the round
 * key be kept as two 24-bit halves that line up with E's two halves.
 */
const PC2 = [
  14, 17, 11, 24, 1, 5,
  3, 28, 15, 6, 21, 10,
  23, 19, 12, 4, 26, 8,
  16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55,
  30, 40, 51, 45, 33, 48,
  44, 49, 39, 56, 34, 53,
  46, 42, 50, 36, 29, 32,
];

/** How far C and D rotate left before each of the 16 rounds. */
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/**
 * The S-boxes and P folded together, as is usual for speed: SP[64*s + v] is
 * P applied to S-box s's output for the 6-bit input v, placed where S-box s
 * writes in the 32-bit word. A round's f is then 8 look-ups XORed.
 */
const SP = buildSP();

function buildSP(): Int32Array {
  const sp = new Int32Array(8 * 64);
  for (let s = 0; s < 8; s++) {
    for (let v = 0; v < 64; v++) {
      // The outer bits (first and last) pick the row, the inner four the column.
      const row = ((v >>> 4) & 2) | (v & 1);
      const col = (v >>> 1) & 15;
      const out = S[s]![row * 16 + col]! << (28 - 4 * s); // bits 4s+1..4s+4
      let permuted = 0;
      for (let i = 0; i < 32; i++) {
        permuted |= ((out >>> (32 - P[i]!)) & 1) << (31 - i);
      }
      sp[64 * s + v] = permuted;
    }
  }
  return sp;
}

// --- The public function. ---

/**
 * crypt(3) with a traditional DES setting: `desCrypt(password, salt)` is what
 * glibc/libxcrypt's `crypt(password, salt)` returns when `salt` starts with
 * two characters of `./0-9A-Za-z` (the 13-character hash, those two first).
 * `password` is bytes (1.4 hashed UTF-8), read like a C string: it ends at
 * its first zero byte, and only its first 8 bytes count.
 *
 * Settings and passwords libxcrypt refuses give its failure token, `*0`
 * (`*1` if the setting starts with `*0`), which never equals a real hash —
 * see failureToken. Nothing is thrown.
 */
export function desCrypt(password: Buffer, salt: string): string {
  // C strings: both end at a NUL.
  const setting = cutAtNul(salt);
  let length = password.indexOf(0);
  if (length < 0) length = password.length;
  const refused = failureToken(setting, length);
  if (refused !== null) return refused;

  const saltMask = saltSwapMask(ALPHABET.indexOf(setting[0]!) | (ALPHABET.indexOf(setting[1]!) << 6));
  const keys = keySchedule(password, length);

  // The state is L and R as 32-bit words, bit 1 the most significant. The
  // zero block, IP applied, is zero.
  let l = 0;
  let r = 0;
  for (let n = 0; n < 25; n++) {
    for (let round = 0; round < 16; round++) {
      const t = l ^ feistel(r, keys[2 * round]!, keys[2 * round + 1]!, saltMask);
      l = r;
      r = t;
    }
    // DES ends by swapping the halves (R16 L16) before IP^-1; the next
    // encryption's IP undoes IP^-1, so that swap is all that happens between.
    const t = l;
    l = r;
    r = t;
  }

  const [hi, lo] = permute64(l, r, FP);
  // 64 bits plus two zero bits: 11 characters of 6 bits, high bits first.
  let out = setting.slice(0, 2);
  for (let c = 0; c < 11; c++) {
    let v = 0;
    for (let b = 0; b < 6; b++) {
      const pos = 6 * c + b; // 0-based; 64 and 65 are the padding zeros
      const bit = pos < 32 ? (hi >>> (31 - pos)) & 1 : pos < 64 ? (lo >>> (63 - pos)) & 1 : 0;
      v = (v << 1) | bit;
    }
    out += ALPHABET[v];
  }
  return out;
}

/**
 * What libxcrypt (Debian's libcrypt1 4.4.33, tried through perl's crypt)
 * returns instead of a hash, or null when it computes one. It refuses
 *  - a setting with any character that is a control, space, DEL or non-ASCII
 *    (code <= 0x20 or >= 0x7f) or one of `! * : ; \`, anywhere in it, even
 *    after the two salt characters;
 *  - a setting whose first two characters are not both in the alphabet (an
 *    empty or 1-character one too; a `$` or `_` prefix, which libc would
 *    take for another method, MD5 and so on, is not DES and refused here);
 *  - a password of 512 bytes or more (up to its NUL).
 * Then it returns "*0", or "*1" when the setting starts with "*0", so that
 * a stored "*0" never matches its own re-hash. Characters after the first
 * two are otherwise ignored, so the whole stored hash can be the salt.
 */
function failureToken(setting: string, passwordLength: number): string | null {
  let ok = passwordLength < 512 && setting.length >= 2
    && ALPHABET.includes(setting[0]!) && ALPHABET.includes(setting[1]!);
  for (let i = 0; ok && i < setting.length; i++) {
    const code = setting.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f || '!*:;\\'.includes(setting[i]!)) ok = false;
  }
  if (ok) return null;
  return setting.startsWith('*0') ? '*1' : '*0';
}

function cutAtNul(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/**
 * The 12 salt bits as a mask over the 24-bit halves of E's output: salt
 * bit i (value 1 << i) stands for E bit i+1 (0-based i), the i-th bit from
 * the left of the first half, and its partner i+24 in the second half.
 */
function saltSwapMask(salt: number): number {
  let mask = 0;
  for (let i = 0; i < 12; i++) {
    if (salt & (1 << i)) mask |= 1 << (23 - i);
  }
  return mask;
}

/**
 * The 16 round keys as 32 numbers: for each round its first 24 bits, then
 * its last 24, each half as a 24-bit number with the leftmost bit highest.
 */
function keySchedule(password: Buffer, length: number): Int32Array {
  // The key's bytes: each password byte shifted left by one, dropping bit 7.
  let k0 = 0;
  let k1 = 0;
  for (let i = 0; i < 8; i++) {
    const byte = i < length ? (password[i]! << 1) & 0xff : 0;
    if (i < 4) k0 |= byte << (24 - 8 * i);
    else k1 |= byte << (56 - 8 * i);
  }
  // PC-1 into C (28 bits) and D (28 bits).
  let c = 0;
  let d = 0;
  for (let i = 0; i < 56; i++) {
    const p = PC1[i]!;
    const bit = p <= 32 ? (k0 >>> (32 - p)) & 1 : (k1 >>> (64 - p)) & 1;
    if (i < 28) c = (c << 1) | bit;
    else d = (d << 1) | bit;
  }
  const keys = new Int32Array(32);
  for (let round = 0; round < 16; round++) {
    const s = SHIFTS[round]!;
    c = ((c << s) | (c >>> (28 - s))) & 0xfffffff;
    d = ((d << s) | (d >>> (28 - s))) & 0xfffffff;
    let left = 0;
    let right = 0;
    for (let i = 0; i < 24; i++) {
      left = (left << 1) | ((c >>> (28 - PC2[i]!)) & 1);
      right = (right << 1) | ((d >>> (56 - PC2[i + 24]!)) & 1);
    }
    keys[2 * round] = left;
    keys[2 * round + 1] = right;
  }
  return keys;
}

/** DES's f(R, K), with the salt's swaps made in E's output before the key. */
function feistel(r: number, keyLeft: number, keyRight: number, saltMask: number): number {
  // E: group j (0-7) is the 6 bits of R ending at bit 4j+5 (1-based,
  // cyclic), which sits at shift 27-4j from the right; groups 0 and 7 wrap.
  let left =
    ((((r >>> 27) | (r << 5)) & 63) << 18) |
    (((r >>> 23) & 63) << 12) |
    (((r >>> 19) & 63) << 6) |
    ((r >>> 15) & 63);
  let right =
    (((r >>> 11) & 63) << 18) |
    (((r >>> 7) & 63) << 12) |
    (((r >>> 3) & 63) << 6) |
    (((r << 1) | (r >>> 31)) & 63);
  // Swap the bit pairs the salt selects: where the halves differ, flip both.
  const diff = (left ^ right) & saltMask;
  left ^= diff ^ keyLeft;
  right ^= diff ^ keyRight;
  return (
    SP[left >>> 18]! ^
    SP[64 + ((left >>> 12) & 63)]! ^
    SP[128 + ((left >>> 6) & 63)]! ^
    SP[192 + (left & 63)]! ^
    SP[256 + (right >>> 18)]! ^
    SP[320 + ((right >>> 12) & 63)]! ^
    SP[384 + ((right >>> 6) & 63)]! ^
    SP[448 + (right & 63)]!
  );
}

/** A 64-bit permutation on a (high word, low word) pair. */
function permute64(hi: number, lo: number, table: readonly number[]): [number, number] {
  let outHi = 0;
  let outLo = 0;
  for (let i = 0; i < 64; i++) {
    const p = table[i]!;
    const bit = p <= 32 ? (hi >>> (32 - p)) & 1 : (lo >>> (64 - p)) & 1;
    if (i < 32) outHi = (outHi << 1) | bit;
    else outLo = (outLo << 1) | bit;
  }
  return [outHi >>> 0, outLo >>> 0];
}
