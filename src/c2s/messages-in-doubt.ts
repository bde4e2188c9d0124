// Messages written to a client that it may never have had. jabber:iq:auth
// gives a client no way to acknowledge what it got, and the kernel takes
// what is written long before the client has it: once a connection is lost
// (reset, or gone without a word and found after minutes of retransmission,
// or cut off unread), everything written to it since it was last heard from
// may be lost. 1.4 lost it without a word. Yak keeps the latest of those
// messages, bounded, and the session manager sends them again when the
// session ends so (resend-in-doubt.ts).
//
// Anything the client sends shows that it was there, and its kernel
// acknowledges what it had received by then: messages written well before
// (CONFIRM_MS: a round trip, even on a slow mobile link) are taken as
// received. Those written since are in doubt: sent again, a few may reach
// the client twice, which beats losing them.
import { monotonicMs } from '../util/time.js';
import type { Element } from '../xml/element.js';

/** Written this long before the client was heard from: taken as received. */
export const CONFIRM_MS = 5000;
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
  // the taken front is cut off once it is half the arrays.
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

  /** The client sent something now: what was written CONFIRM_MS before reached it. */
  heard(now = monotonicMs()): void {
    const before = now - CONFIRM_MS;
    while (this.size > 0 && this.times[this.head]! <= before) this.dropOldest();
  }

  /** The messages still in doubt, oldest first; the record is empty after. */
  take(now = monotonicMs()): MessageInDoubt[] {
    const wall = Date.now();
    const out: MessageInDoubt[] = [];
    for (let i = this.head; i < this.texts.length; i++) out.push({ text: this.texts[i]!, sentAt: new Date(wall - (now - this.times[i]!)) });
    this.texts = [];
    this.times = [];
    this.head = 0;
    this.chars = 0;
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
