// Live sessions, indexed by bare JID. A session is one logged-in resource.
import type { Jid } from '../jid.js';
import type { Element } from '../xml/element.js';
import type { StreamErrorKind } from '../c2s/stream-errors.js';
import type { MessageInDoubt } from '../c2s/messages-in-doubt.js';
import { monotonicMs } from '../util/time.js';

/** What a session needs from the connection that carries it. */
export interface SessionTransport {
  /** `text`: the stanza already serialized, by a sender that had to measure it. */
  send(stanza: Element, text?: string): void;
  /** Ends the stream with this error (or a plain close) and drops the connection. */
  close(error?: StreamErrorKind): void;
  readonly address: string;
  /** True while what is sent now still reaches the connection (not closed or closing). */
  readonly writable: boolean;
  /** Enough waits to be sent that a sender of many stanzas should wait (whenWritable) before more. */
  readonly backedUp: boolean;
  /**
   * Resolves true once the connection's queued output is low enough for
   * another batch (see sendBudget in paced.ts), false if the stream closed.
   * Whoever sends many stanzas at once waits here between batches, so a
   * client that reads is never cut off for a full send buffer.
   */
  whenWritable(): Promise<boolean>;
  /**
   * The connection was lost: it failed (a reset, a client gone without a
   * word) before the client said goodbye, or was cut off with output unread.
   * What was written to it lately may never have reached the client.
   */
  readonly lost: boolean;
  /** The messages written that the client may not have had (see messages-in-doubt.ts), oldest first; each is given once. */
  takeInDoubt(): MessageInDoubt[];
}

let nextSerial = 0;

export class Session {
  /** When it started, on the monotonic clock (for how long it has run). */
  readonly started = monotonicMs();
  /** Orders sessions for "newest on ties" without trusting the clock. */
  readonly serial = ++nextSerial;
  /** Last presence the client broadcast (undefined = never seen: no visible available presence yet). */
  presence: Element | undefined;
  /** When `presence` was sent (ms since the epoch): its jabber:x:delay stamp (kept-presence.ts). */
  presenceAt = 0;
  priority = 0;
  /** Sent available presence and has not gone unavailable since. */
  available = false;
  /** Fetched its roster at least once: gets roster pushes. */
  rosterInterested = false;
  /** Set once the session is ending, so nothing is routed to it any more. */
  ended = false;
  /** Why it ended (1.4's reason: 'Disconnected', 'Replaced by new connection'), once it has. */
  endReason: string | undefined;
  /** Per-module state, keyed by module name. */
  readonly data = new Map<string, unknown>();
  /** Stanzas the client sent, and stanzas sent to it (1.4's c_out and c_in, shown to admins). */
  stanzasIn = 0;
  stanzasOut = 0;

  constructor(
    readonly jid: Jid,
    readonly transport: SessionTransport,
  ) {}

  get user(): string {
    return this.jid.user!;
  }

  get host(): string {
    return this.jid.host;
  }

  get resource(): string {
    return this.jid.resource!;
  }

  send(stanza: Element, text?: string): void {
    if (this.ended) return;
    this.stanzasOut++;
    this.transport.send(stanza, text);
  }

  /** True while send() still hands stanzas to an open connection. */
  get writable(): boolean {
    return !this.ended && this.transport.writable;
  }

  /** See SessionTransport.backedUp. */
  get backedUp(): boolean {
    return this.transport.backedUp;
  }

  /** See SessionTransport.whenWritable; false once the session ended. */
  async whenWritable(): Promise<boolean> {
    if (this.ended) return false;
    return (await this.transport.whenWritable()) && !this.ended;
  }
}

export class SessionRegistry {
  private readonly byBare = new Map<string, Session[]>();

  add(s: Session): void {
    const list = this.byBare.get(s.jid.bare);
    if (list) list.push(s);
    else this.byBare.set(s.jid.bare, [s]);
  }

  remove(s: Session): void {
    const list = this.byBare.get(s.jid.bare);
    if (!list) return;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byBare.delete(s.jid.bare);
  }

  /** All live sessions of a bare JID (a copy, safe to iterate while changing). */
  of(bare: string): Session[] {
    return [...(this.byBare.get(bare) ?? [])];
  }

  /** Whether the bare JID has any session (available or not). */
  has(bare: string): boolean {
    return this.byBare.has(bare);
  }

  find(bare: string, resource: string): Session | undefined {
    return this.byBare.get(bare)?.find((s) => s.resource === resource);
  }

  /**
   * The session a bare-JID message goes to: highest non-negative priority
   * among available sessions, newest on ties; undefined when none qualifies.
   */
  best(bare: string): Session | undefined {
    let best: Session | undefined;
    for (const s of this.byBare.get(bare) ?? []) {
      if (!s.available || s.priority < 0 || s.ended) continue;
      if (!best || s.priority > best.priority || (s.priority === best.priority && s.serial > best.serial)) best = s;
    }
    return best;
  }

  all(): Session[] {
    const out: Session[] = [];
    for (const list of this.byBare.values()) out.push(...list);
    return out;
  }

  get size(): number {
    let n = 0;
    for (const list of this.byBare.values()) n += list.length;
    return n;
  }
}
