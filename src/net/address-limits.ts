// Connection limits per source address: 1.4's <rate points time/> (done
// right: per address, not 1.4's single "last address"), and caps on
// connections open at once, per address and in total. "Per address" is
// per limitKey(): an IPv6 client's whole /64 counts as one address.
import { limitKey } from './peer-address.js';
import { monotonicMs } from '../util/time.js';
export interface AddressLimitsConfig {
  /** At most `points` new connections per `time` seconds from one address. */
  rate: { points: number; time: number } | undefined;
  /** Connections open at once from one address (0 = no cap). */
  perAddress: number;
  /** Connections open at once in total (0 = no cap). */
  total: number;
}

export type Refusal = 'rate' | 'per-address' | 'total';

export class AddressLimits {
  private readonly open = new Map<string, number>();
  private openTotal = 0;
  private readonly recent = new Map<string, number[]>();

  constructor(
    /** Replaced on SIGHUP; open counts and rate history stay. */
    public cfg: AddressLimitsConfig,
    /** A clock that only moves forward (see monotonicMs). */
    private readonly now: () => number = monotonicMs,
  ) {}

  /** Admits a new connection (and counts it) or says why not. */
  admit(address: string): Refusal | undefined {
    const key = limitKey(address);
    if (this.cfg.total > 0 && this.openTotal >= this.cfg.total) return 'total';
    const openHere = this.open.get(key) ?? 0;
    if (this.cfg.perAddress > 0 && openHere >= this.cfg.perAddress) return 'per-address';
    if (this.cfg.rate) {
      const t = this.now();
      const windowStart = t - this.cfg.rate.time * 1000;
      const times = (this.recent.get(key) ?? []).filter((x) => x > windowStart);
      if (times.length >= this.cfg.rate.points) {
        this.recent.set(key, times);
        return 'rate';
      }
      times.push(t);
      this.recent.set(key, times);
    }
    this.open.set(key, openHere + 1);
    this.openTotal++;
    return undefined;
  }

  /** A connection admitted earlier has closed. */
  release(address: string): void {
    const key = limitKey(address);
    const n = this.open.get(key) ?? 0;
    if (n <= 1) this.open.delete(key);
    else this.open.set(key, n - 1);
    if (this.openTotal > 0) this.openTotal--;
  }

  /** Connections counted as open under `address`'s key, or in total without one (read-only, for tests and checks). */
  openCount(address?: string): number {
    return address === undefined ? this.openTotal : (this.open.get(limitKey(address)) ?? 0);
  }

  /** Forgets rate history older than the window (called now and then, so the map stays small). */
  prune(): void {
    if (!this.cfg.rate) return;
    const windowStart = this.now() - this.cfg.rate.time * 1000;
    for (const [key, times] of this.recent) {
      const kept = times.filter((x) => x > windowStart);
      if (kept.length === 0) this.recent.delete(key);
      else this.recent.set(key, kept);
    }
  }
}
