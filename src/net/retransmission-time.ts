// How long Linux keeps retransmitting data a peer does not acknowledge
// before it gives the connection up (ETIMEDOUT): net.ipv4.tcp_retries2
// retransmissions, counted as the kernel does (tcp_model_timeout: the
// timeout doubling from 200 ms up to 120 s, then 120 s each). With the
// default 15, 924.6 s. A message written well before that to a
// connection still open then reached the client's kernel. (Well before:
// the kernel looks only when a retransmission is due, and on a link with
// a long round trip counts from a longer base.)
import { readFileSync } from 'node:fs';

const RTO_MIN_MS = 200;
const RTO_MAX_MS = 120_000;
const DEFAULT_RETRIES2 = 15;

/** The give-up time for `retries` retransmissions (tcp_retries2). */
export function retransmissionTimeMs(retries: number): number {
  const thresh = Math.floor(Math.log2(RTO_MAX_MS / RTO_MIN_MS));
  if (retries <= thresh) return ((2 << retries) - 1) * RTO_MIN_MS;
  return ((2 << thresh) - 1) * RTO_MIN_MS + (retries - thresh) * RTO_MAX_MS;
}

let cached: number | undefined;

/** This host's give-up time, read once (the default's where /proc does not say). */
export function hostRetransmissionTimeMs(): number {
  if (cached === undefined) {
    let retries = DEFAULT_RETRIES2;
    try {
      const n = Number(readFileSync('/proc/sys/net/ipv4/tcp_retries2', 'utf8').trim());
      if (Number.isSafeInteger(n) && n >= 0 && n <= 255) retries = n;
    } catch {
      // Not Linux, or no /proc: the default.
    }
    cached = retransmissionTimeMs(retries);
  }
  return cached;
}
