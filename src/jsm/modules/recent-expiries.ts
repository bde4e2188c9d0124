// The offline messages that expired unread lately, per recipient and
// sender, for the sender's share of the recipient's store (mod_offline).
// An expired message is dropped from the file when the next one is stored,
// so it takes no room from anyone; but counted nowhere, it let a stranger
// send messages that expire at once, each one a rewrite of the recipient's
// whole file (a megabyte for a short message), without end: the share never
// filled. Remembered here, such messages count towards their sender's share
// for an hour after they were stored. In memory only: a restart forgets
// them, which costs at most one more share's worth of writes.

/** How long after it was stored an expired message still counts towards its sender's share. */
const EXPIRED_COUNTED_SECONDS = 3600;

/** Recipient and sender pairs remembered at most; the least recently touched go first. */
const MAX_PAIRS = 10_000;

export class RecentExpiries {
  /** "recipient sender" (bare JIDs) -> when each expired message was stored (Unix seconds). */
  private readonly stored = new Map<string, number[]>();

  /** Notes that `sender`'s message to `recipient`, stored at `storedAt`, expired unread. */
  note(recipient: string, sender: string, storedAt: number, now: number): void {
    if (!counted(storedAt, now)) return;
    const key = `${recipient} ${sender}`;
    const times = this.recent(key, now);
    times.push(storedAt);
    // Re-inserted: the Map's order is then the order of last use.
    this.stored.delete(key);
    this.stored.set(key, times);
    if (this.stored.size > MAX_PAIRS) this.stored.delete(this.stored.keys().next().value!);
  }

  /**
   * How many of `sender`'s messages to `recipient` expired unread within
   * the hour after they were stored: those noted, and of `more` (when each
   * was stored: the ones found expired in the store being changed, noted
   * only once that change is written) those within the hour.
   */
  count(recipient: string, sender: string, now: number, more: readonly number[] = []): number {
    const key = `${recipient} ${sender}`;
    const times = this.recent(key, now);
    if (times.length === 0) this.stored.delete(key);
    return times.length + more.filter((t) => counted(t, now)).length;
  }

  private recent(key: string, now: number): number[] {
    return (this.stored.get(key) ?? []).filter((t) => counted(t, now));
  }
}

/** Whether a message stored at `storedAt` that expired unread still counts at `now`. */
function counted(storedAt: number, now: number): boolean {
  return now - storedAt < EXPIRED_COUNTED_SECONDS;
}
