// Requests that fail for a reason outside them: a system call's error (a
// full disk, ENOSPC; a file system remounted read-only, EROFS) fails
// every client's change alike while its cause lasts, at karma's pace per
// client. Each such error code is logged in full when it first fails a
// request, then, at a failure a minute or more after it was last said,
// again with how many have failed in the spell; a minute without one ends
// the spell. (The journal says its own failure the same way:
// repeated-failure.ts.) Anything else is a failure of its own, and logged
// each time.
import type { Logger } from '../log.js';
import { errCode } from '../util/err-code.js';
import { RepeatedFailure } from '../util/repeated-failure.js';
import { monotonicMs } from '../util/time.js';

/** An errno name (ENOSPC, EROFS...); Node's own codes (ERR_...) are bugs, each worth its line. */
const SYSTEM_ERROR = /^E[A-Z0-9]+$/;
/** A spell of one error ends after this long without it. */
const SPELL_ENDS_MS = 60_000;

export class RequestFailures {
  private readonly spells = new Map<string, { failures: RepeatedFailure; lastAt: number }>();

  constructor(private readonly log: Logger) {}

  /** A request failed with `err`: logged as `msg` with `fields`, or counted (see the top of this file). */
  failed(err: unknown, fields: Record<string, unknown>, msg: string): void {
    const code = errCode(err);
    if (code === undefined || !SYSTEM_ERROR.test(code)) return this.log.error({ err, ...fields }, msg);
    const now = monotonicMs();
    let spell = this.spells.get(code);
    if (spell && now - spell.lastAt > SPELL_ENDS_MS) spell.failures.worked();
    if (!spell) this.spells.set(code, (spell = { failures: new RepeatedFailure(), lastAt: now }));
    spell.lastAt = now;
    const say = spell.failures.failed();
    if (say === 'first') this.log.error({ err, ...fields }, `${msg}; said again once a minute while requests fail with ${code}`);
    else if (say === 'again') this.log.error({ code, failures: spell.failures.times, ...fields }, 'requests still failing');
  }
}
