// A failure that repeats while its cause lasts (a full disk: a write
// retried every 2 s, every user's change refused): said when it starts,
// then at most once a minute while it goes on, with how many times it
// failed, and once when it works again. A line per failure filled the
// log, and on the spool's own disk took whatever space was freed.
import { monotonicMs } from './time.js';

/** How long a failure that goes on is not said again. */
const SAID_AGAIN_MS = 60_000;

export class RepeatedFailure {
  private spell: { times: number; saidAt: number } | undefined;

  /**
   * One more failure: 'first' when a spell of them starts (say it, with
   * the error), 'again' when a minute has passed since it was last said
   * (say it, with `times`), else undefined (say nothing).
   */
  failed(): 'first' | 'again' | undefined {
    const now = monotonicMs();
    if (!this.spell) {
      this.spell = { times: 1, saidAt: now };
      return 'first';
    }
    this.spell.times++;
    if (now - this.spell.saidAt < SAID_AGAIN_MS) return undefined;
    this.spell.saidAt = now;
    return 'again';
  }

  /** Failures in the spell so far (0 when none). */
  get times(): number {
    return this.spell?.times ?? 0;
  }

  /** It worked: the spell's failures, to say it is over, or 0 when it was not failing. */
  worked(): number {
    const times = this.times;
    this.spell = undefined;
    return times;
  }
}
