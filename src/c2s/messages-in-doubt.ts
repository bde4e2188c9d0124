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
 * Whether a message written to a client is worth sending again should the
 * connection be lost: not an error (a bounce), nor groupchat or a headline,
 * news of the moment that offline storage does not keep either.
 */
export function mayBeResent(message: Element): boolean {
  const type = message.attrs.type;
  return type !== 'error' && type !== 'groupchat' && type !== 'headline';
}

/** A message in doubt: as written, and when (on the wall clock, for its jabber:x:delay stamp). */
export interface MessageInDoubt {
  text: string;
  sentAt: Date;
}

export class MessagesInDoubt {
  // A queue, oldest first: `texts[head..]` (written at `times[head..]`);
  // the dropped front is cut off once it is half the arrays.
  private texts: string[] = [];
  private times: number[] = [];
  private head = 0;
  private chars = 0;

  /** A message was written to the client now. */
  note(text: string, now = monotonicMs()): void {
    this.texts.push(text);
    this.times.push(now);
    this.chars += text.length;
    while (this.size > MAX_IN_DOUBT || (this.chars > MAX_IN_DOUBT_CHARS && this.size > 1)) this.dropOldest();
  }

  /** The client sent something: what was written before reached it. */
  heard(): void {
    this.texts.length = 0;
    this.times.length = 0;
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
      if (age <= maxAgeMs) out.push({ text: this.texts[i]!, sentAt: new Date(wall - age) });
    }
    this.heard();
    return out;
  }

  get size(): number {
    return this.texts.length - this.head;
  }

  private dropOldest(): void {
    this.chars -= this.texts[this.head]!.length;
    this.texts[this.head] = '';
    this.head++;
    if (this.head >= 64 && this.head * 2 >= this.texts.length) {
      this.texts = this.texts.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}
