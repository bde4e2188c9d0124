// Delivery of a stanza whose `from` and `to` are set (SPEC section 8):
// to a host -> 'server' phase; to a user -> 'deliver' phase, then the
// user's session(s), then the 'offline' phase. Anything unhandled gets an
// error reply, except errors themselves (no loops), presence, and what a
// module routed quietly (DeliverOptions).
import { parseJid, type Jid } from '../jid.js';
import type { Logger } from '../log.js';
import type { Element } from '../xml/element.js';
import { NoSuchUserError, type Xdb } from '../xdb/xdb.js';
import { FOR_RESEND, onward, type DeliverOptions, type Delivery, type Outcome } from './api.js';
import { decided, type PhaseChains } from './phase-chains.js';
import { sendAgain } from './send-again.js';
import { settlesWithin } from '../util/settles-within.js';
import type { RequestFailures } from './request-failures.js';
import type { Session, SessionRegistry } from './sessions.js';
import { asStanzaError, errorReply, StanzaError, stanzaError, type StanzaCondition } from './stanza-errors.js';

export interface RouterDeps {
  chains: PhaseChains;
  sessions: SessionRegistry;
  xdb: Xdb;
  log: Logger;
  failures: RequestFailures;
  isLocalHost(host: string): boolean;
  /** See LeavingSessions.resendsUnderWay. */
  resendsUnderWay(bare: string): Promise<unknown> | undefined;
}

/** The options a stanza was routed with that bear on what goes back (a Delivery carries them too). */
type RoutedWith = Pick<DeliverOptions, 'quiet' | 'forResend'>;

/** How long a message sent again waits for room in the session it goes to (see takerOf). */
export const RESEND_ROOM_WAIT_MS = 10_000;

export class Router {
  /** Sessions a message sent again waited for in vain (see takerOf), until they make room. */
  private readonly stalled = new WeakSet<Session>();

  constructor(private readonly deps: RouterDeps) {}

  async route(stanza: Element, sender?: Session, opts?: DeliverOptions): Promise<void> {
    const quiet = opts?.quiet === true;
    const to = parseJid(stanza.attrs.to ?? '');
    // From a session, `from` is the session's own JID (stamped by fromSession): no need to parse it again.
    const from = sender !== undefined && stanza.attrs.from === sender.jid.toString() ? sender.jid : parseJid(stanza.attrs.from ?? '');
    if (!to || !from) return this.bounce(stanza, 'jid-malformed', opts);
    // COMPAT: no server-to-server; 1.4 would have tried dialback here.
    if (!this.deps.isLocalHost(to.host)) return this.bounce(stanza, 'remote-server-not-found', opts);
    const d: Delivery = { stanza, to, from, sender, quiet };
    // Only when set: every other delivery keeps the shape it had (a chat message's path).
    if (opts?.forResend) d.forResend = true;
    try {
      if (to.user === undefined) {
        const out = await this.deps.chains.firstFor('server', stanza.name, d);
        if (await this.settle(out, d)) return;
        return this.bounce(stanza, 'service-unavailable', opts);
      }
      // Awaited only when a handler went async: a chat message passes every
      // handler at once, and each await costs a trip through the microtask queue.
      let out = this.deps.chains.firstFor('deliver', stanza.name, d);
      if (out instanceof Promise) out = await out;
      if (decided(out) && (await this.settle(out, d))) return;
      await this.toUser(d);
    } catch (err) {
      if (opts?.throwFailures && !asStanzaError(err)) throw err;
      await this.fail(stanza, err, opts);
    }
  }

  /**
   * Sends an error reply unless the stanza is one that is never answered,
   * or was routed quietly (see DeliverOptions): then the error goes nowhere.
   */
  async bounce(stanza: Element, condition: StanzaCondition | StanzaError, opts?: RoutedWith): Promise<void> {
    if (!answerable(stanza)) return;
    const err = condition instanceof StanzaError ? condition : stanzaError(condition);
    if (opts?.quiet) {
      this.deps.log.debug({ to: stanza.attrs.to, code: err.code }, 'error not sent back: quiet delivery');
      return;
    }
    const reply = errorReply(stanza, err);
    if (!reply.attrs.to) return;
    await this.route(reply, undefined, onward(opts));
  }

  /** Turns a handler failure into an error reply: a StanzaError (or a refusal asStanzaError() knows) as is, anything else 500 and a log line. */
  async fail(stanza: Element, err: unknown, opts?: RoutedWith): Promise<void> {
    const known = asStanzaError(err);
    if (known) return this.bounce(stanza, known, opts);
    this.deps.failures.failed(err, { stanza: stanza.name, to: stanza.attrs.to }, 'handler failed');
    return this.bounce(stanza, 'internal-server-error', opts);
  }

  /** True when a handler took the stanza; a reply element is routed back, unless it came quietly. */
  private async settle(out: Outcome, d: Delivery): Promise<boolean> {
    if (!decided(out)) return false;
    const { stanza } = d;
    if (out !== 'handled' && !d.quiet) {
      out.attrs.from ??= stanza.attrs.to;
      out.attrs.to ??= stanza.attrs.from;
      await this.route(out, undefined, onward(d));
    }
    return true;
  }

  private async toUser(d: Delivery): Promise<void> {
    const { stanza, to } = d;
    const bare = to.bare;
    if (to.resource !== undefined) {
      const exact = this.deps.sessions.find(bare, to.resource);
      if (exact && !exact.ended) return exact.send(stanza);
    }
    if (stanza.name === 'message') {
      let best = this.deps.sessions.best(bare);
      if (best) return best.send(stanza);
      // After what a lost session of the user is sending again, which went before it.
      const resends = d.forResend ? undefined : this.deps.resendsUnderWay(bare);
      if (resends) {
        await resends;
        best = this.deps.sessions.best(bare);
        if (best) return best.send(stanza);
      }
      if (await this.offline(d)) return;
      return this.bounce(stanza, (await this.userExists(to)) ? 'service-unavailable' : 'item-not-found', d);
    }
    if (stanza.name === 'presence') {
      // Presence to a bare JID reaches every available session; to a
      // resource that is not there, nobody (RFC 6121 allows dropping it).
      if (to.resource === undefined) for (const s of this.deps.sessions.of(bare)) if (s.available) s.send(stanza);
      return;
    }
    return this.bounce(stanza, (await this.userExists(to)) ? 'service-unavailable' : 'item-not-found', d);
  }

  /**
   * A message that went to a session whose connection was then lost (see
   * resend-in-doubt.ts), first sent at `sentAt`: to the user's best session
   * now, or else offline, dated then; `putBack` (its place): it came from the store, and
   * goes back to its front (to a session, with its stamp from then alone).
   * As for any message to a resource that is gone, without the 'deliver'
   * phase (the user's filter rules ran at its first delivery: run again, a
   * rule that answers would answer twice). Resolves whether it went
   * somewhere. An account removed meanwhile takes nothing, and its sender
   * hears nothing of it: the message was delivered once, as far as it knew.
   */
  async again(stanza: Element, sentAt: Date, putBack?: number): Promise<boolean> {
    const to = parseJid(stanza.attrs.to ?? '');
    const from = parseJid(stanza.attrs.from ?? '');
    if (!to?.user || !from) return false;
    try {
      const best = await this.takerOf(to.bare);
      if (best) {
        sendAgain(best, stanza, sentAt, putBack !== undefined);
        return true;
      }
      if (await this.offline({ stanza, to, from, sender: undefined, sentAt, putBack })) return true;
      if (await this.userExists(to)) await this.bounce(stanza, 'service-unavailable', FOR_RESEND);
    } catch (err) {
      if (!(err instanceof NoSuchUserError)) await this.fail(stanza, err, FOR_RESEND);
    }
    return false;
  }

  /**
   * The session a message sent again goes to, once it has room for more:
   * sent many at once, they would cut off a session whose client reads,
   * with a small <outbuffer>. But not waiting for good on a client that
   * does not read: the lost session's end, and a login with its resource,
   * wait for this. After RESEND_ROOM_WAIT_MS it is sent all the same, as
   * any message would be (cut off if it overflows, and then sent again
   * from there), and so are the next ones until that session makes room:
   * waiting for each in turn, a hundred messages would hold the end for
   * a quarter of an hour.
   */
  private async takerOf(bare: string): Promise<Session | undefined> {
    const best = this.deps.sessions.best(bare);
    if (!best?.backedUp || this.stalled.has(best)) return best;
    const room = best.whenWritable();
    if (!(await settlesWithin(room, RESEND_ROOM_WAIT_MS))) {
      this.stalled.add(best);
      void room.then(() => this.stalled.delete(best));
    }
    return this.deps.sessions.best(bare);
  }

  /** Hands a stanza for a local user that no session takes to the 'offline' phase; resolves whether a module took it. */
  async offline(d: Delivery): Promise<boolean> {
    return this.settle(await this.deps.chains.firstFor('offline', d.stanza.name, d), d);
  }

  private userExists(to: Jid): Promise<boolean> {
    return this.deps.xdb.exists(to.host, to.user!);
  }
}

/**
 * Whether a stanza may get an error reply. Errors never (no loops), nor iq
 * results (RFC 6120 8.2.3: a response is not answered), nor presence: an
 * error would tell a stranger about us.
 */
export function answerable(stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type === 'error') return false;
  if (stanza.name === 'iq' && type === 'result') return false;
  return stanza.name !== 'presence';
}
