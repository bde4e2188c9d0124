// Log lines about connections that never logged in (refused, closed, ended
// for bad XML or a bad header, not a TLS handshake) are written at most
// LINES_PER_WINDOW per address in each window of WINDOW_MS; beyond that
// they are counted, and one line at the window's end says how many were
// left out. Nothing else bounded them: one client opening and dropping
// connections as fast as it could wrote a line for each, 1.5 MB of log a
// second, and a full disk then refused registrations. Counted per
// limitKey (an IPv6 client's /64), as every per-address limit is.
// Loopback (127.0.0.1, ::1) is not counted, as in <register_policy>: local
// tools, benchmarks and proxies. Lines about sessions are never held back.
import type { Logger } from '../log.js';
import { limitKey } from './peer-address.js';

const LINES_PER_WINDOW = 20;
const WINDOW_MS = 10_000;
/** Keys counted in one window at most; lines from further ones are left out too, and counted together. */
const MAX_KEYS = 10_000;
const LOOPBACK = new Set(['127.0.0.1', '::1']);
/** The summary line's message. */
const LEFT_OUT = 'connection log lines left out';

interface Count {
  /** The address of the first line, the form log lines show (the key may be a /64). */
  address: string;
  written: number;
  leftOut: number;
}

export class AddressLogQuota {
  private readonly counts = new Map<string, Count>();
  /** Lines left out from keys beyond MAX_KEYS in this window. */
  private othersLeftOut = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly linesPerWindow = LINES_PER_WINDOW,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Writes the line unless `address` has had its share of this window. */
  write(level: 'info' | 'warn', address: string, fields: Record<string, unknown>, msg: string): void {
    if (this.allowed(address)) this.log[level](fields, msg);
  }

  /** Says what the window left out now (a stopping server), and counts afresh. */
  endWindow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const seconds = this.windowMs / 1000;
    for (const [key, c] of this.counts) {
      if (c.leftOut === 0) continue;
      const network = key === c.address ? undefined : key;
      this.log.warn({ address: c.address, network, leftOut: c.leftOut, seconds }, LEFT_OUT);
    }
    if (this.othersLeftOut > 0) {
      this.log.warn({ address: `any beyond the first ${MAX_KEYS}`, leftOut: this.othersLeftOut, seconds }, LEFT_OUT);
    }
    this.counts.clear();
    this.othersLeftOut = 0;
  }

  private allowed(address: string): boolean {
    if (LOOPBACK.has(address)) return true;
    const key = limitKey(address);
    let c = this.counts.get(key);
    if (!c) {
      if (this.counts.size >= MAX_KEYS) {
        this.othersLeftOut++;
        return false;
      }
      c = { address, written: 0, leftOut: 0 };
      this.counts.set(key, c);
      if (!this.timer) this.timer = setTimeout(() => this.endWindow(), this.windowMs).unref();
    }
    if (c.written < this.linesPerWindow) {
      c.written++;
      return true;
    }
    c.leftOut++;
    return false;
  }
}
