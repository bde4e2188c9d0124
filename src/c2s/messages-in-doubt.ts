// Messages written to a client that it may never have had. jabber:iq:auth
// gives a client no way to acknowledge what it got, and the kernel takes
// what is written long before the client has it: once a connection is lost
// (reset, or gone without a word and found after minutes of retransmission,
// or cut off unread), everything written to it since it last sent anything
// may be lost. 1.4 lost it without a word. Yak keeps the latest of those
// messages, bounded, and the session manager sends them again when the
// session ends so (jsm/resend-in-doubt.ts).
//
// Anything the client sends shows that it was there, and its kernel
// acknowledges what it had received by then: what was written before is
// taken as received. (A message crossing the client's last words on the
// way is taken as received too: keeping messages for a round trip more
// held every message of a busy session past the young generation's
// collections, and doubled the CPU that routing a message costs.)
import { monotonicMs } from '../util/time.js';
import type { Element } from '../xml/element.js';

/** At most this many messages are kept per connection, the latest. */
export const MAX_IN_DOUBT = 100;
/** And at most this many characters of them: the latest whole messages that fit, and always the latest one. */
export const MAX_IN_DOUBT_CHARS = 64 * 1024;
/**
 * What all connections keep between them, in characters: beyond it, the
 * record that has held messages the longest (a client that only listens,
 * most likely) drops its oldest, until the rest fits. Without it, clients
 * that only listen (bots with no keepalives of their own) would hold up
 * to MAX_IN_DOUBT_CHARS each, outside <sessionmemory>: gigabytes for tens
 * of thousands of them; and dropping from the record written to instead
 * left every other connection nothing once they had filled it.
 */
export const TOTAL_IN_DOUBT_CHARS = 32 * 1024 * 1024;

/** What every record holds now (the records of all servers in this process). */
let totalChars = 0;
/** The records that hold something, in the order they came to (a Set keeps insertion order): the first has held messages the longest. */
const holding = new Set<MessagesInDoubt>();

/** Characters all records hold (for tests: 0 once every session has ended). */
export function inDoubtTotalChars(): number {
  return totalChars;
}

/**
 * Whether a message written to a client is worth sending again should the
 * connection be lost: not an error (a bounce), nor groupchat or a headline,
 * news of the moment that offline storage does not keep either.
 */
export function mayBeResent(message: Element): boolean {
  const type = message.attrs.type;
  return type !== 'error' && type !== 'groupchat' && type !== 'headline';
}

/**
 * What the server knows of a message it writes that it had sent before,
 * marked by whoever sends it:
 * - `'stored'`: handed over by offline storage (mod_offline). Sent again,
 *   it goes back to the front of the store as it was, before the rest of
 *   the backlog, not after it.
 * - a Date: sent again after a lost connection to another session of the
 *   user (Router.again), stamped Resent with the time it was first sent.
 *   Lost again, it keeps that time.
 */
export type SentBefore = 'stored' | Date;
export const SENT_BEFORE = new WeakMap<Element, SentBefore>();

/**
 * A message in doubt: as written; when it was written to this connection
 * (on the wall clock: its jabber:x:expire counts down from then); when it
 * was first sent, for its jabber:x:delay stamp (the same, unless it had
 * been sent again before: `resent`); and whether it came from offline
 * storage.
 */
export interface MessageInDoubt {
  text: string;
  writtenAt: Date;
  sentAt: Date;
  resent: boolean;
  stored: boolean;
}

export class MessagesInDoubt {
  // A queue, oldest first: `texts[head..]` (written at `times[head..]`);
  // the dropped front is cut off once it is half the arrays.
  private texts: string[] = [];
  private times: number[] = [];
  private before: (SentBefore | undefined)[] = [];
  private head = 0;
  private chars = 0;

  /** A message was written to the client now. */
  note(text: string, before?: SentBefore, now = monotonicMs()): void {
    if (this.size === 0) holding.add(this);
    this.texts.push(text);
    this.times.push(now);
    this.before.push(before);
    this.chars += text.length;
    totalChars += text.length;
    while (this.size > MAX_IN_DOUBT || (this.chars > MAX_IN_DOUBT_CHARS && this.size > 1)) this.dropOldest();
    while (totalChars > TOTAL_IN_DOUBT_CHARS) holding.values().next().value!.dropOldest();
  }

  /**
   * The client sent something: what was written before reached it. (The
   * session's end takes or drops the record this way, whether or not the
   * connection was lost: what it holds is counted in the total till then.)
   */
  heard(): void {
    if (this.size > 0) holding.delete(this);
    totalChars -= this.chars;
    this.texts.length = 0;
    this.times.length = 0;
    this.before.length = 0;
    this.head = 0;
    this.chars = 0;
  }

  /**
   * The messages still in doubt, oldest first, but none written more than
   * `maxAgeMs` ago; the record is empty after.
   */
  take(maxAgeMs = Infinity, now = monotonicMs()): MessageInDoubt[] {
    const wall = Date.now();
    const out: MessageInDoubt[] = [];
    for (let i = this.head; i < this.texts.length; i++) {
      const age = now - this.times[i]!;
      if (age > maxAgeMs) continue;
      const writtenAt = new Date(wall - age);
      const before = this.before[i];
      const resent = before instanceof Date;
      out.push({ text: this.texts[i]!, writtenAt, sentAt: resent ? before : writtenAt, resent, stored: before === 'stored' });
    }
    this.heard();
    return out;
  }

  get size(): number {
    return this.texts.length - this.head;
  }

  private dropOldest(): void {
    const length = this.texts[this.head]!.length;
    this.chars -= length;
    totalChars -= length;
    this.texts[this.head] = '';
    this.head++;
    if (this.size === 0) {
      holding.delete(this);
      this.heard();
      return;
    }
    if (this.head >= 64 && this.head * 2 >= this.texts.length) {
      this.texts = this.texts.slice(this.head);
      this.times = this.times.slice(this.head);
      this.before = this.before.slice(this.head);
      this.head = 0;
    }
  }
}
