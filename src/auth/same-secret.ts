// Comparing secrets (passwords, digests, hashes) in constant time.
import { timingSafeEqual } from 'node:crypto';

/** Constant-time string comparison, so the reply time says nothing about the match. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
