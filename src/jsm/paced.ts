// Sending a long run of stanzas to one session (a stored offline backlog,
// pending subscription requests shown again at login, a contact's sessions'
// presences to a new subscriber) without overflowing
// its connection's send buffer (<limits><outbuffer>): in batches of at most
// sendBudget() characters, waiting for the connection to drain
// (Session.whenWritable) between batches. Sending it all at once cut off a
// client that was reading, as if it had stopped, and what had been taken
// out of the spool for it was lost.
import type { YakConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Element } from '../xml/element.js';
import type { Session } from './sessions.js';

/**
 * The most serialized text one batch holds (a batch always holds at least
 * one stanza, however big): 256 KiB, and at most half the <outbuffer> cap, since
 * whenWritable lets the next batch go once a quarter of it is left queued.
 */
export function sendBudget(config: YakConfig): number {
  return Math.max(1, Math.min(256 * 1024, Math.floor(config.c2s.limits.outputBytes / 2)));
}

/**
 * Sends `s` one batch: the stanza `make` gives for each item in turn (none:
 * the item is skipped), while they fit in `budget` characters (the first
 * always does); `sent` hears of each item sent. True when one did not fit.
 */
export function sendWithin<T>(
  s: Session,
  budget: number,
  items: Iterable<T>,
  make: (item: T) => Element | undefined,
  sent: (item: T) => void,
): boolean {
  let used = 0;
  for (const item of items) {
    const stanza = make(item);
    if (!stanza) continue;
    const text = stanza.toString();
    if (used > 0 && used + text.length > budget) return true;
    sent(item);
    used += text.length;
    s.send(stanza, text);
  }
  return false;
}

/**
 * Sends in batches: `batch` sends one and says whether more is left. The
 * first batch is awaited (a short run goes out in one go, as before, ahead
 * of what the client's next stanza causes); the rest is sent in the
 * background, a batch each time the connection can take more while
 * `keepGoing()` holds, so the session's own stanzas are not held up
 * meanwhile and a client that stops reading holds up only this. One run
 * per session and `key` at a time: a second call while one runs does
 * nothing (the running one goes on). `ended` is told when the run ends,
 * however it ends: what the caller keeps on the session for the run goes
 * then (a session may live for months).
 */
export async function sendPaced(
  s: Session,
  key: string,
  log: Logger,
  batch: () => Promise<boolean>,
  keepGoing: () => boolean = () => true,
  ended?: () => void,
): Promise<void> {
  if (s.data.has(key)) return;
  s.data.set(key, true);
  const end = (): void => {
    s.data.delete(key);
    ended?.();
  };
  let more: boolean;
  try {
    more = await batch();
  } catch (err) {
    end();
    throw err;
  }
  if (!more) {
    end();
    return;
  }
  void (async () => {
    try {
      // No await between the last check and the delete below: a new call
      // either finds this run going on or starts its own.
      while ((await s.whenWritable()) && keepGoing() && (await batch()));
    } catch (err) {
      log.error({ err, jid: s.jid.toString(), what: key }, 'paced delivery failed');
    } finally {
      end();
    }
  })();
}
