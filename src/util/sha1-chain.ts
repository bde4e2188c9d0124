// SHA-1 applied many times to a 40-character lowercase hex string, as the
// zero-knowledge chain needs (SPEC section 5: 500 iterations per password,
// at every registration and password change).
//
// Why not createHash: it costs microseconds per call, mostly object set-up,
// and a 40-byte message is a single SHA-1 block. Why WebAssembly: the
// chain was a quarter to two fifths of a registration's CPU with the best
// JavaScript version (one reused Int32Array, four 20-round loops), and the
// same rounds fully unrolled as WebAssembly, with the five state words
// renamed from round to round instead of shifted, run 2.5-2.9x faster
// (taskset microbenchmark, 500-step chains, alternating). The code is
// written out below by TypeScript, once, when this module loads.
//
// Each step hashes the previous digest's 40 lowercase hex digits: those
// are the block's first ten big-endian words (two bytes of digest make one
// word of four ASCII digits, looked up in a table), followed by the fixed
// padding of a 40-byte message.
import { createHash } from 'node:crypto';
import { FunctionCode, moduleWith } from './wasm-code.js';

// Memory: the first ten words of the first block, the hex table, the result.
const START = 0;
const HEX_TABLE = 64; // 256 entries of 2 bytes: a byte's two ASCII hex digits as (high << 8) | low
const RESULT = HEX_TABLE + 512; // h0..h4

// Locals: 0 is the parameter (steps left), then the state, the digest and
// the 16-word message schedule (a ring).
const STEPS = 0;
const STATE = [1, 2, 3, 4, 5];
const DIGEST = [6, 7, 8, 9, 10];
const SCHEDULE = 11;
const LOCALS = 10 + 16;

const IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];
const K = [0x5a827999, 0x6ed9eba1, 0x8f1bbcdc | 0, 0xca62c1d6 | 0];
/** Words 10-15 of every block: 0x80 after the 40 bytes, zeros, the length in bits (320). */
const PADDING = [0x80000000 | 0, 0, 0, 0, 0, 320];

/** Leaves message word `t` (0-79) of the current block on the stack, or nothing when it is a known zero. */
function pushWord(f: FunctionCode, t: number): boolean {
  const known = (i: number): number | undefined => (i >= 10 && i < 16 ? PADDING[i - 10] : undefined);
  // Word i from the ring (for i < 16, the slot is i itself) or, for the padding, as a constant.
  const ring = (i: number): void => {
    const k = known(i);
    if (k !== undefined) f.const(k);
    else f.get(SCHEDULE + (i & 15));
  };
  if (t < 16) {
    if (known(t) === 0) return false;
    ring(t);
    return true;
  }
  // w[t] = rotl(w[t-3] ^ w[t-8] ^ w[t-14] ^ w[t-16], 1), kept in the ring for later words.
  ring(t - 3);
  ring(t - 8);
  f.op('i32.xor');
  ring(t - 14);
  f.op('i32.xor');
  ring(t - 16);
  f.op('i32.xor').const(1).op('i32.rotl').tee(SCHEDULE + (t & 15));
  return true;
}

/** One block's 80 rounds, leaving the new digest in the DIGEST locals. */
function compress(f: FunctionCode): void {
  let [a, b, c, d, e] = STATE as [number, number, number, number, number];
  for (let i = 0; i < 5; i++) f.const(IV[i]!).set(STATE[i]!);
  for (let t = 0; t < 80; t++) {
    const round = Math.floor(t / 20);
    // e += rotl(a, 5) + f(b, c, d) + K + w[t]; b = rotl(b, 30); then the names move on.
    const hasWord = pushWord(f, t);
    f.get(a).const(5).op('i32.rotl');
    if (hasWord) f.op('i32.add');
    if (round === 0) f.get(b).get(c).op('i32.and').get(b).const(-1).op('i32.xor').get(d).op('i32.and').op('i32.or');
    else if (round === 2) f.get(b).get(c).op('i32.and').get(b).get(d).op('i32.and').op('i32.or').get(c).get(d).op('i32.and').op('i32.or');
    else f.get(b).get(c).op('i32.xor').get(d).op('i32.xor');
    f.op('i32.add').get(e).op('i32.add').const(K[round]!).op('i32.add').set(e);
    f.get(b).const(30).op('i32.rotl').set(b);
    [a, b, c, d, e] = [e, a, b, c, d];
  }
  [a, b, c, d, e].forEach((local, i) => f.get(local).const(IV[i]!).op('i32.add').set(DIGEST[i]!));
}

/** The digest's hex digits as the next block's first ten words. */
function digestToWords(f: FunctionCode): void {
  const hexOfByte = (shift: number, h: number): void => {
    f.get(h);
    if (shift) f.const(shift).op('i32.shr_u');
    if (shift !== 24) f.const(255).op('i32.and');
    f.const(1).op('i32.shl').load16u(HEX_TABLE);
  };
  DIGEST.forEach((h, i) => {
    hexOfByte(24, h);
    f.const(16).op('i32.shl');
    hexOfByte(16, h);
    f.op('i32.or').set(SCHEDULE + 2 * i);
    hexOfByte(8, h);
    f.const(16).op('i32.shl');
    hexOfByte(0, h);
    f.op('i32.or').set(SCHEDULE + 2 * i + 1);
  });
}

function build(): { run: (steps: number) => void; memory: ArrayBuffer } {
  const f = new FunctionCode();
  for (let i = 0; i < 10; i++) f.const(0).load(START + 4 * i).set(SCHEDULE + i);
  f.doWhile(
    () => {
      compress(f);
      digestToWords(f);
    },
    () => f.get(STEPS).const(1).op('i32.sub').tee(STEPS),
  );
  DIGEST.forEach((h, i) => f.const(0).get(h).store(RESULT + 4 * i));
  const instance = moduleWith({ name: 'chain', params: 1, locals: LOCALS, code: f }, 'memory');
  const exports = instance.exports as { chain: (steps: number) => void; memory: WebAssembly.Memory };
  return { run: exports.chain, memory: exports.memory.buffer };
}

/**
 * The chain and its memory as words, or undefined where this Node runs
 * without WebAssembly (`node --jitless`): there sha1HexRepeat does the
 * steps, slowly but with the same result.
 */
function setUp(): { run: (steps: number) => void; words: Int32Array } | undefined {
  if (typeof WebAssembly !== 'object') return undefined;
  const { run, memory } = build();
  const table = new Uint16Array(memory, HEX_TABLE, 256);
  const digit = (n: number): number => (n < 10 ? 48 + n : 87 + n);
  for (let b = 0; b < 256; b++) table[b] = (digit(b >> 4) << 8) | digit(b & 15);
  return { run, words: new Int32Array(memory) };
}

const chain = setUp();

const HEX = /^[0-9a-f]{40}$/;

/** sha1hex applied `times` times to any string, one createHash a step: the plain route. */
export function sha1HexRepeat(s: string, times: number): string {
  let h = s;
  for (let i = 0; i < times; i++) h = createHash('sha1').update(h, 'utf8').digest('hex');
  return h;
}

/** sha1hex applied `times` times to `hex` (40 lowercase hex digits). */
export function sha1HexIterate(hex: string, times: number): string {
  if (!HEX.test(hex)) throw new RangeError('expected 40 lowercase hex digits');
  if (!Number.isInteger(times) || times < 0 || times > 0x7fffffff) throw new RangeError('expected a count from 0 to 2^31-1');
  if (times === 0) return hex;
  if (!chain) return sha1HexRepeat(hex, times);
  const { words } = chain;
  for (let i = 0; i < 10; i++) {
    const at = i * 4;
    words[START / 4 + i] = (hex.charCodeAt(at) << 24) | (hex.charCodeAt(at + 1) << 16) | (hex.charCodeAt(at + 2) << 8) | hex.charCodeAt(at + 3);
  }
  chain.run(times);
  let out = '';
  for (let i = 0; i < 5; i++) out += (words[RESULT / 4 + i]! >>> 0).toString(16).padStart(8, '0');
  return out;
}
