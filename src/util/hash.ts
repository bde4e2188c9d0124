// The hashes of jabber:iq:auth (XEP-0078) and the zero-knowledge scheme.
import * as crypto from 'node:crypto';
import { sha1HexIterate, sha1HexRepeat } from './sha1-chain.js';

// crypto.hash() (Node 20.12 and later) hashes without a Hash object: 0.5
// against 1.6 us a call here, and a digest login makes one. Earlier
// Node 20 releases lack it and take createHash.
export const sha1hex: (s: string) => string =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('sha1', s, 'hex')
    : (s) => crypto.createHash('sha1').update(s, 'utf8').digest('hex');

/** Digest auth: sha1hex(stream id + password). */
export function digestFor(streamId: string, password: string): string {
  return sha1hex(streamId + password);
}

/** Zero-knowledge h0 = sha1hex(sha1hex(password) + token). */
export function zerokSeed(password: string, token: string): string {
  return sha1hex(sha1hex(password) + token);
}

/** sha1hex applied `times` times to a 40-char hex string (SPEC: in lowercase). */
export function zerokIterate(hash: string, times: number): string {
  const lower = hash.toLowerCase();
  // The fast path needs 40 hex digits; anything else takes the plain route.
  if (/^[0-9a-f]{40}$/.test(lower)) return sha1HexIterate(lower, times);
  return sha1HexRepeat(hash, times);
}

/** The hash a client sends when the server announces `sequence`. */
export function zerokHash(password: string, token: string, sequence: number): string {
  return zerokIterate(zerokSeed(password, token), sequence);
}

// Random bytes are drawn from the CSPRNG 4 KiB at a time: one call per
// stream id cost more than the rest of the header exchange.
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/** n random bytes (from the CSPRNG) as uppercase hex (stream ids, 0k tokens, keys). */
export function randomHex(bytes: number): string {
  if (bytes > POOL_SIZE) return crypto.randomBytes(bytes).toString('hex').toUpperCase();
  if (poolAt + bytes > pool.length) {
    pool = crypto.randomBytes(POOL_SIZE);
    poolAt = 0;
  }
  const out = pool.toString('hex', poolAt, poolAt + bytes).toUpperCase();
  poolAt += bytes;
  return out;
}
