// Changes to a subscription between two users of this server, one at a
// time for the pair: a subscription presence either of them sends, or a
// roster removal (which cancels both directions). Each changes both users'
// rosters (the sender's, then the contact's as it arrives); two at the
// same moment otherwise each met the other's half done, and the rosters
// could disagree for good (a request pending on one side that the other
// no longer asked, 'from' on one side and 'none' on the other).
import { KeyedQueue } from '../util/keyed-queue.js';

export class SubscriptionPairs {
  private readonly queue = new KeyedQueue();

  /**
   * Runs `fn` once no earlier change between `user` and any of `contacts`
   * (bare JIDs of this server) is running. The pairs are taken in one
   * order for everybody, so two changes that share several never wait on
   * each other; one at a time, in a loop (a removal set may name
   * thousands, and taking each inside the last overflowed the stack).
   * `fn` must not call run() itself.
   */
  async run<T>(user: string, contacts: Iterable<string>, fn: () => Promise<T>): Promise<T> {
    const keys = [...new Set([...contacts].filter((c) => c !== user).map((c) => (c < user ? `${c} ${user}` : `${user} ${c}`)))].sort();
    if (keys.length === 1) return this.queue.run(keys[0]!, fn);
    const releases: (() => void)[] = [];
    try {
      for (const key of keys) {
        await new Promise<void>((taken) => {
          void this.queue.run(
            key,
            () =>
              new Promise<void>((release) => {
                releases.push(release);
                taken();
              }),
          );
        });
      }
      return await fn();
    } finally {
      for (const release of releases) release();
    }
  }
}
