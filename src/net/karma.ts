// jabberd 1.4 "karma": a per-connection read budget (SPEC section 7).
// A connection may read karma x 100 bytes per 2-second heartbeat; going over
// costs `dec` karma, and at zero the karma drops to `penalty` (negative)
// and reading pauses until the heartbeats (+inc each) bring it back to 0,
// when it jumps to `restore`. The connection is never dropped for it.
import type { KarmaConfig } from '../config/types.js';

export const KARMA_HEARTBEAT_MS = 2000;
const BYTES_PER_KARMA = 100;

export class Karma {
  private value: number;
  private bytes = 0;

  constructor(private readonly cfg: KarmaConfig) {
    this.value = cfg.init;
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
    while (this.bytes > this.value * BYTES_PER_KARMA) {
      this.bytes -= Math.max(this.value, 1) * BYTES_PER_KARMA;
      this.value -= this.cfg.dec;
      if (this.value <= 0) {
        this.value = this.cfg.penalty < 0 ? this.cfg.penalty : -1;
        this.bytes = 0;
        return true;
      }
    }
    return false;
  }

  /** One heartbeat: the window's byte count resets and karma grows; true when reading may resume. */
  heartbeat(): boolean {
    const wasPaused = this.paused;
    this.bytes = 0;
    this.value = Math.min(this.cfg.max, this.value + this.cfg.inc);
    if (wasPaused && this.value >= 0) this.value = Math.min(this.cfg.max, Math.max(this.cfg.restore, this.value));
    return wasPaused && !this.paused;
  }
}
