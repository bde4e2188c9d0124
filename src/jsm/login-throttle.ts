// Slows password guessing (SPEC section 5): failed logins are counted per
// account (the username at its host: `dj` on two hosts is two accounts)
// and per source address, and each key gets a growing wait before
// its next attempt is even looked at. A right password still gets in once
// the wait has passed. Unknown usernames are counted the same way, so the
// timing of a 401 says nothing about whether the user exists.
import type { LoginThrottleSettings } from '../config/types.js';
import { limitKey } from '../net/peer-address.js';
import { monotonicMs } from '../util/time.js';

/**
 * free: failed attempts that are not slowed (the attempt after them waits
 * baseMs); baseMs doubles per further failure up to maxMs; forgetMs: a
 * key's failures are forgotten this long after its last; exempt: addresses
 * never slowed. Defaults and config: config/policy.ts.
 */
export type LoginThrottleConfig = LoginThrottleSettings;

/**
 * An address's key: its limitKey (an IPv6 client's /64), so guesses from
 * many addresses of one network are counted together. <exempt> still
 * names exact addresses.
 */
function addressKey(address: string): string {
  return `a:${limitKey(address)}`;
}

/**
 * Keys kept at most. Each failure from a new address or for a new username
 * adds one for forgetMs (15 min): without a cap, a flood of failures would
 * grow the map for as long as it lasts, between prunes and past them.
 */
const MAX_KEYS = 100_000;

/**
 * A flat copy of `s`. A username is cut out of the socket's read, and V8
 * may keep it (and a key built from it by concatenation) as a slice of
 * that whole string: kept for 15 minutes, it would keep the read alive.
 * Slicing or concatenating does not copy; decoding bytes does.
 */
function copyString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/** What gate() found: the attempt went on at once, went on after a wait, or its client went away. */
export type GateOutcome = 'now' | 'waited' | 'gone';

interface KeyState {
  failures: number;
  /** No attempt for this key is looked at before this time. */
  notBefore: number;
  lastFailure: number;
}

export class LoginThrottle {
  /** Oldest failure first: failed() re-inserts each key it counts. */
  private readonly keys = new Map<string, KeyState>();

  constructor(
    /** Replaced on SIGHUP; counts already kept stay. */
    public cfg: LoginThrottleConfig,
    private readonly now: () => number = monotonicMs,
    private readonly maxKeys: number = MAX_KEYS,
  ) {}

  /** Keys kept now (forgotten ones included until the next prune). */
  get size(): number {
    return this.keys.size;
  }

  private keysFor(account: string, address: string): string[] {
    return this.cfg.exempt.includes(address) ? [] : [`u:${account}`, addressKey(address)];
  }

  private state(key: string): KeyState | undefined {
    const s = this.keys.get(key);
    if (s && this.now() - s.lastFailure > this.cfg.forgetMs) {
      this.keys.delete(key);
      return undefined;
    }
    return s;
  }

  /**
   * Milliseconds an attempt for (account, address) arriving now would wait at
   * first: the later of the two keys' times. (An inspection for tests and
   * tools; gate() keeps to the user's time as it was when the attempt came.)
   */
  waitFor(account: string, address: string): number {
    let until = 0;
    for (const k of this.keysFor(account, address)) until = Math.max(until, this.state(k)?.notBefore ?? 0);
    return Math.max(0, until - this.now());
  }

  /**
   * Waits until both keys let the attempt through: the user's time as it
   * stood when the attempt came, and the address's as it is now (it moves,
   * see below). Then, when the address is already being
   * slowed, takes its next slot, so many connections from one address
   * guessing at once are spaced out like one connection guessing in a row.
   * The user's own key neither takes slots nor moves: an attempt waits for
   * it only as long as it said when the attempt came (at most maxMs).
   * Failures landing meanwhile, strangers guessing from elsewhere, would
   * otherwise push the real user's attempt back again and again, for as
   * long as they keep guessing. 'gone' when the client went away meanwhile
   * (the attempt is dropped, no slot taken); 'waited' when it was slowed.
   */
  async gate(account: string, address: string, alive: () => boolean = () => true): Promise<GateOutcome> {
    const exempt = this.cfg.exempt.includes(address);
    const userReady = exempt ? 0 : (this.state(`u:${account}`)?.notBefore ?? 0);
    const wait = (): number => Math.max(userReady - this.now(), exempt ? 0 : (this.state(addressKey(address))?.notBefore ?? 0) - this.now(), 0);
    let outcome: GateOutcome = 'now';
    for (let ms = wait(); ms > 0; ms = wait()) {
      await new Promise((r) => setTimeout(r, ms));
      if (!alive()) return 'gone';
      outcome = 'waited';
    }
    const t = this.now();
    const s = exempt ? undefined : this.state(addressKey(address));
    const slot = s ? this.delay(s.failures) : 0;
    if (slot > 0) s!.notBefore = t + slot;
    return outcome;
  }

  /**
   * The wait before the next attempt of a key with this many failures:
   * none while within `free`, then baseMs, doubling. (free 0 and 1 both
   * slow the attempt after the first failure: nothing comes before it.)
   */
  private delay(failures: number): number {
    const over = failures - Math.max(this.cfg.free, 1);
    return over >= 0 ? Math.min(this.cfg.maxMs, this.cfg.baseMs * 2 ** Math.min(over, 30)) : 0;
  }

  failed(account: string, address: string): void {
    const t = this.now();
    for (const k of this.keysFor(account, address)) {
      const s = this.state(k) ?? { failures: 0, notBefore: 0, lastFailure: t };
      s.failures++;
      s.lastFailure = t;
      const wait = this.delay(s.failures);
      if (wait > 0) s.notBefore = Math.max(s.notBefore, t + wait);
      // Moved to the end, so the map stays in order of last failure.
      this.keys.delete(k);
      if (this.keys.size >= this.maxKeys) this.makeRoom();
      this.keys.set(copyString(k), s);
    }
  }

  /**
   * Frees one place: forgotten keys first, which are all at the front (the
   * map is in order of last failure), then the key whose last failure is
   * oldest. Walking only the front keeps this cheap when nothing is stale.
   * A dropped key's count starts over, but a flood needs as many failures
   * as the cap, each throttled by its address, to push a key out.
   */
  private makeRoom(): void {
    const t = this.now();
    for (const [k, s] of this.keys) {
      if (this.keys.size < this.maxKeys && t - s.lastFailure <= this.cfg.forgetMs) break;
      this.keys.delete(k);
    }
  }

  /** A success clears the user's count (not the address's: one good account must not launder guesses). */
  succeeded(account: string): void {
    this.keys.delete(`u:${account}`);
  }

  /** Drops forgotten keys (called now and then, so the map stays small). */
  prune(): void {
    for (const k of [...this.keys.keys()]) this.state(k);
  }
}
