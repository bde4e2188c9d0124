// Times of recent events between two users (bare JIDs), counted over a
// window, in memory only: a restart forgets them. Two uses:
// - mod_offline: messages that expired unread count towards their
//   sender's share of the recipient's store for an hour after they were
//   stored. An expired message is dropped from the file when the next one
//   is stored, so it takes no room; but counted nowhere, it let a stranger
//   send messages that expire at once, each one a rewrite of the
//   recipient's whole file, without end: the share never filled.
// - subscription requests a contact stored with a user (see
//   roster-subscriptions.ts): a request and its withdrawal in turn were a
//   rewrite of the user's whole file each, without end.

/** Pairs remembered at most; the least recently touched go first. */
const MAX_PAIRS = 10_000;

export class RecentPairEvents {
  /** "recipient sender" -> when each event happened (seconds, on whatever clock the caller counts: Unix time for mod_offline's stored times, the monotonic clock for the requests' window). */
  private readonly times = new Map<string, number[]>();

  /** `windowSeconds`: how long after it happened an event still counts. */
  constructor(private readonly windowSeconds: number) {}

  /** Notes an event between `recipient` and `sender` at `at`. */
  note(recipient: string, sender: string, at: number, now: number): void {
    if (!this.counted(at, now)) return;
    const key = `${recipient} ${sender}`;
    const times = this.recent(key, now);
    times.push(at);
    // Re-inserted: the Map's order is then the order of last use.
    this.times.delete(key);
    this.times.set(key, times);
    if (this.times.size > MAX_PAIRS) this.times.delete(this.times.keys().next().value!);
  }

  /**
   * How many events between `recipient` and `sender` still count at
   * `now`: those noted, and of `more` (when each happened: events not
   * noted yet) those within the window.
   */
  count(recipient: string, sender: string, now: number, more: readonly number[] = []): number {
    const key = `${recipient} ${sender}`;
    const times = this.recent(key, now);
    if (times.length === 0) this.times.delete(key);
    return times.length + more.filter((t) => this.counted(t, now)).length;
  }

  private recent(key: string, now: number): number[] {
    return (this.times.get(key) ?? []).filter((t) => this.counted(t, now));
  }

  private counted(at: number, now: number): boolean {
    return now - at < this.windowSeconds;
  }
}
