// jabberd 1.4 "karma": a per-connection read budget (SPEC section 7).
// A connection may read karma x 100 bytes per 2-second heartbeat on
// average; going over costs `dec` karma (and what it read over carries into
// the next heartbeat), and at zero the karma drops to `penalty` (negative)
// and reading pauses until the heartbeats (+inc each) bring it back to 0,
// when it jumps to `restore`. The connection is never dropped for it.
import type { KarmaConfig } from '../config/types.js';

export const KARMA_HEARTBEAT_MS = 2000;
const BYTES_PER_KARMA = 100;

export class Karma {
  private value: number;
  /**
   * Bytes read this heartbeat, plus what earlier ones read beyond their
   * budget: an overrun is not forgiven at the next heartbeat. Were it
   * forgiven, a sender just under twice the budget would lose a point of
   * karma each window and get it back at the next, never paused.
   */
  private bytes = 0;
  /** This window's budget: karma x 100 bytes, karma as the window began. */
  private budget: number;
  /** How far `bytes` may go before the next point of karma is lost. */
  private limit: number;

  constructor(private readonly cfg: KarmaConfig) {
    this.value = cfg.init;
    this.budget = this.limit = Math.max(this.value, 0) * BYTES_PER_KARMA;
  }

  /** Current karma (negative while paused). */
  get karma(): number {
    return this.value;
  }

  get paused(): boolean {
    return this.value < 0;
  }

  /** Accounts `n` bytes read; true when reading must pause now. */
  read(n: number): boolean {
    if (this.paused) return true;
    this.bytes += n;
    // Past the budget each point of karma lost buys karma x 100 bytes
    // more, at the karma left: a burst pays for its size, however the
    // socket happened to split it (10 karma: 1,000 + 900 + ... + 100).
    while (this.bytes > this.limit) {
      this.value -= this.cfg.dec;
      if (this.value <= 0) {
        this.value = this.cfg.penalty < 0 ? this.cfg.penalty : -1;
        this.bytes = 0;
        return true;
      }
      this.limit += this.value * BYTES_PER_KARMA;
    }
    return false;
  }

  /**
   * One heartbeat: the window's budget is used up, what was read beyond it
   * carries over (see `bytes`), and karma grows. True when reading may
   * resume. On average a connection reads its budget per heartbeat, no more.
   */
  heartbeat(): boolean {
    const wasPaused = this.paused;
    this.bytes = Math.max(0, this.bytes - this.budget);
    this.value = Math.min(this.cfg.max, this.value + this.cfg.inc);
    if (wasPaused && this.value >= 0) this.value = Math.min(this.cfg.max, Math.max(this.cfg.restore, this.value));
    this.budget = this.limit = Math.max(this.value, 0) * BYTES_PER_KARMA;
    return wasPaused && !this.paused;
  }
}
