// The account removals that ended lately, numbered, for logins still in
// flight: a login reads the password, then opens its session a while
// later, and an account removed in between (perhaps registered again by
// someone else since) must not get that session. A login notes the count
// when it reads the password; openSession asks whether the name's removal
// ended after it (AccountRemovals.removedSince).

/** Names whose removal is remembered for logins still in flight (see endedSince). */
const REMEMBERED_REMOVALS = 10_000;

export class RecentRemovals {
  /** Removals ended so far. */
  private removalCount = 0;
  /** The count each recently removed name's removal ended with (the last REMEMBERED_REMOVALS). */
  private readonly removedAt = new Map<string, number>();
  /** A login that read its password before this count may have lost its account to a removal no longer remembered. */
  private forgottenBefore = 0;

  /** Removals ended so far: what a login notes when it reads the password. */
  get count(): number {
    return this.removalCount;
  }

  /** Whether a removal of `bare` ended (or may have: see forgottenBefore) after a login noted `removals`. */
  endedSince(bare: string, removals: number): boolean {
    if (removals < this.forgottenBefore) return true;
    return (this.removedAt.get(bare) ?? 0) > removals;
  }

  /** Counts a removal of `bare` ending now, for logins in flight (endedSince). */
  note(bare: string): void {
    const n = ++this.removalCount;
    this.removedAt.delete(bare);
    this.removedAt.set(bare, n);
    if (this.removedAt.size > REMEMBERED_REMOVALS) {
      const [oldest, at] = this.removedAt.entries().next().value!;
      this.removedAt.delete(oldest);
      this.forgottenBefore = at;
    }
  }
}
