// One client stream: header -> unauthed -> authed -> closed.
// The pre-auth gate lives here and only here: before login, only iq
// requests in jabber:iq:register and jabber:iq:auth are served; everything
// else waits in the bounded PreAuthQueue. Stanzas are handled one at a time,
// in arrival order, on a promise chain (see TaskChain). The time to log in
// and the idle time are TimeLimitedStream's.
import { TLSSocket } from 'node:tls';
import type { YakConfig } from '../config/types.js';
import type { PreSessionResult } from '../jsm/pre-session.js';
import { TooManySessionsError, type SessionManager } from '../jsm/session-manager.js';
import type { Session, SessionTransport } from '../jsm/sessions.js';
import type { Logger } from '../log.js';
import type { AddressLogQuota } from '../net/address-log-quota.js';
import type { Connection } from '../net/connection.js';
import { limitKey } from '../net/peer-address.js';
import { hostRetransmissionTimeMs } from '../net/retransmission-time.js';
import type { Element } from '../xml/element.js';
import { StreamParseError, StreamParser, weigh, type StreamLimits } from '../xml/stream-parser.js';
import { checkHeader, legacyFeatures, serverHeader } from './header.js';
import { OVER_BUDGET_LOG, SESSION_UNCOUNTED, type BudgetHolder, type HeldMemoryBudget } from './held-memory-budget.js';
import { SENT_BEFORE, mayBeResent, MessagesInDoubt, type MessageInDoubt } from './messages-in-doubt.js';
import { PreAuthQueue } from './pre-auth-queue.js';
import { PRE_AUTH_NODES, presenceTooLarge, presenceTooLargeBounce, SESSION_NODES, STANZAS } from './stanza-bounds.js';
import { traceStanza } from './stanza-trace.js';
import { PARSE_STREAM_ERRORS, streamError, type StreamErrorKind } from './stream-errors.js';
import { TimeLimitedStream } from './time-limited-stream.js';
import { monotonicMs } from '../util/time.js';
import { trimXmlSpace } from '../xml/chars.js';

const PRE_SESSION_NS = new Set(['jabber:iq:register', 'jabber:iq:auth']);

/** What a stream error's log line quotes of the parser's reason at most. */
const MAX_REASON_CHARS = 200;

/** What every stream shares: config, the session manager, the memory budgets, the live stream ids. */
export interface C2sContext {
  config: YakConfig;
  jsm: SessionManager;
  log: Logger;
  /** What connections not logged in hold between them (see held-memory-budget.ts). */
  preAuth: HeldMemoryBudget;
  /** What logged-in connections hold between them. */
  sessionMemory: HeldMemoryBudget;
  /** Where lines about connections not logged in go, each address held to its share. */
  connLog: AddressLogQuota;
  newStreamId(): string;
  releaseStreamId(id: string): void;
  /** The server is stopping: the sessions it ends get 1.4's reason for that. */
  stopping(): boolean;
}

/**
 * What a direct-TLS connection's tunnel holds once its handshake is done
 * (Node's and OpenSSL's buffers and state): 31-39 KB each, measured over
 * connections silent before login, against 8 KB for a plain one. Counted
 * with <preauthmemory> until login, so that handshakes finished and then
 * left idle from many addresses cannot add up to any amount either.
 */
const TLS_TUNNEL_WEIGHT = 32 * 1024;

type State = 'header' | 'unauthed' | 'authed' | 'closed';

/** 1.4's reason for the sessions a stopping server ends (jsm_shutdown). */
const JSM_SHUTDOWN = 'JSM shutdown';

export class C2sStream extends TimeLimitedStream implements SessionTransport, BudgetHolder {
  private state: State = 'header';
  readonly streamId: string;
  private host: string | undefined;
  private headerSent = false;
  private readonly parser: StreamParser;
  private readonly queue: PreAuthQueue;
  /** What the budget of its kind was last told this connection holds (see chargeBudget). */
  private charged = 0;
  private session: Session | undefined;
  /** cleanup() has run once (it runs again when the socket goes): the log line and the id are done. */
  private cleanedUp = false;
  /** -D: a line per stanza in and out (see stanza-trace.ts; the level cannot change while running). */
  private readonly traced: boolean;
  /** See BudgetHolder: the client's address as the per-address limits count it. */
  readonly budgetKey: string;
  /** Direct TLS: before login it counts TLS_TUNNEL_WEIGHT more. */
  private readonly encrypted: boolean;
  /** Messages written that the client may not have had yet (made at the first). */
  private inDoubt: MessagesInDoubt | undefined;
  /** Cut off while output waited for it, unread: what waited is lost. */
  private cutUnread = false;

  constructor(
    conn: Connection,
    protected readonly ctx: C2sContext,
  ) {
    super(conn);
    const limits = ctx.config.c2s.limits;
    this.traced = ctx.log.isLevelEnabled('debug');
    this.budgetKey = limitKey(conn.address);
    this.encrypted = conn.socket instanceof TLSSocket;
    this.streamId = ctx.newStreamId();
    this.queue = new PreAuthQueue(limits.queueStanzas, limits.queueBytes);
    this.parser = new StreamParser(
      {
        header: (attrs, name) => this.onHeader(name, attrs),
        stanza: (el, size, nodes) => this.onStanza(el, size, nodes),
        // Requests sent just before </stream:stream> are still answered.
        end: () => this.goodbye(),
        error: (err) => this.onParseError(err),
      },
      this.parserLimits(),
      true,
    );
    conn.attach({
      text: (t) => {
        this.parser.write(t);
        this.chargeBudget();
      },
      // What was written before reached the client, unless part of it still
      // waits here, refused by the kernel: then the client is behind, and
      // nothing counts as had. (Text queued this turn is not looked at: it
      // crossed the client's words, taken as had like any message on the
      // way; looked at, it kept every busy session's messages for longer,
      // which cost a quarter more per message routed.)
      heard: () => {
        if (this.inDoubt?.size && this.conn.unsent === 0) this.inDoubt.heard();
      },
      held: () => this.chargeBudget(),
      throttled: () => this.logAt('info', { user: this.session?.jid.toString() }, 'karma: reading paused'),
      outputWaiting: () => this.chargeBudget(),
      // Through the parser, which ignores it once stopped (bad XML before it, a close under way).
      badEncoding: () => this.parser.fail(new StreamParseError('xml', 'invalid UTF-8')),
      // A client that half-closes (`... | nc host 5222`) still gets its
      // replies, then </stream:stream>, as for an explicit end of stream.
      ended: () => this.goodbye(),
      closed: () => this.onClosed(),
    });
    this.armAuthTimer();
    // A TLS tunnel holds its weight from the start, before anything is read.
    if (this.encrypted) this.chargeBudget();
  }

  /**
   * SIGHUP changed <authtime> or <limits><idle>, and the new value holds
   * for this stream too: an operator who sets them because idle
   * connections pile up means those already there. The time to log in
   * counts from when the stream opened, the idle time from now.
   */
  timeLimitsChanged(): void {
    if (this.unauthed) this.armAuthTimer();
    else if (this.state === 'authed') this.armIdle();
  }

  /**
   * SIGHUP: the <limits> on what a client sends (stanza size, depth, the
   * queue before login) are read where they are used, and a stream
   * already open takes them at once, for the stanza being read too: an
   * operator who lowers them because of a client means the one connected
   * now.
   */
  sizeLimitsChanged(): void {
    const limits = this.ctx.config.c2s.limits;
    this.parser.limits = this.parserLimits();
    this.queue.setBounds(limits.queueStanzas, limits.queueBytes);
  }

  /** A few seconds apart: what a quiet stream can do without goes (its parser, see StreamParser.rest(), and its connection's decoder). True when resting. */
  rest(): boolean {
    if (!this.parser.rest()) return false;
    this.conn.rest();
    return true;
  }

  /** What the parser allows a stanza: before login, or in a session. */
  private parserLimits(): StreamLimits {
    const limits = this.ctx.config.c2s.limits;
    return this.state === 'authed'
      ? { stanzaBytes: limits.stanzaBytes, depth: limits.depth, nodes: SESSION_NODES }
      : { stanzaBytes: limits.preAuthStanzaBytes, depth: limits.depth, nodes: PRE_AUTH_NODES };
  }

  /** See TimeLimitedStream. */
  protected override get unauthed(): boolean {
    return this.state === 'header' || this.state === 'unauthed';
  }

  get address(): string {
    return this.conn.address;
  }

  /** Stanzas received and not yet handled. */
  get inHand(): number {
    return this.inFlight;
  }

  send(stanza: Element, text?: string): void {
    if (this.state === 'closed') return;
    if (this.traced) traceStanza(this.ctx.log, this.streamId, 'out', stanza);
    const out = text ?? stanza.toString();
    this.conn.write(out);
    if (stanza.name === 'message' && mayBeResent(stanza)) (this.inDoubt ??= new MessagesInDoubt()).note(out, SENT_BEFORE.get(stanza));
  }

  /** See SessionTransport.lost: the connection failed before the client's goodbye, or was cut off with output unread. */
  get lost(): boolean {
    return this.cutUnread || (this.conn.failure !== undefined && !this.saidGoodbye);
  }

  /**
   * See SessionTransport.takeInDoubt. A message written long before the
   * kernel would have given up retransmitting it reached the client's
   * kernel if the connection still lived then, unless it is still waiting
   * here (a client cut off unread): without that bound, a client that only
   * listens had messages of days before sent again. Long: twice the give-up
   * time Linux computes, and two minutes more. The kernel only looks at it
   * when a retransmission is due (up to two minutes late), and counts it
   * from a longer base on links whose round trip is long.
   */
  takeInDoubt(): MessageInDoubt[] {
    const maxAge = this.cutUnread ? Infinity : 2 * hostRetransmissionTimeMs() + 120_000;
    const messages = this.inDoubt?.take(maxAge) ?? [];
    this.inDoubt = undefined;
    return messages;
  }

  /** See SessionTransport.writable. */
  get writable(): boolean {
    return this.state !== 'closed' && this.conn.writable;
  }

  /** See SessionTransport.backedUp. */
  get backedUp(): boolean {
    return this.conn.backedUp;
  }

  /** See SessionTransport.whenWritable. */
  async whenWritable(): Promise<boolean> {
    if (this.state === 'closed') return false;
    return (await this.conn.whenWritable()) && this.writable;
  }

  /**
   * The server stops: nothing more is read, what is in hand is handled and
   * answered (the client learns what was done), then </stream:stream>.
   * Resolves once the stream's session has ended too.
   */
  async shutdown(): Promise<void> {
    this.parser.stop();
    await this.chain;
    this.close();
    await this.chain;
  }

  /** Ends the stream: optional error, then </stream:stream>, then the socket. */
  override close(error?: StreamErrorKind, logged = false): void {
    if (this.state === 'closed') return;
    if (error) {
      this.sendHeader(this.host ?? this.ctx.config.hosts[0]!, false);
      if (!logged) this.logAt('info', { error }, 'stream error');
    }
    this.state = 'closed';
    this.parser.stop();
    this.conn.end((error ? streamError(error).toString() : '') + (this.headerSent ? '</stream:stream>' : ''));
    this.cleanup();
  }

  private sendHeader(from: string, modern: boolean): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.conn.write(serverHeader(this.streamId, from, modern));
  }

  private onHeader(name: string, attrs: Record<string, string>): void {
    const { config, jsm } = this.ctx;
    const check = checkHeader(name, attrs, config.hosts, config.c2s.aliases);
    if (check.error || !check.host) {
      // The client still gets a header first, so it can read the error.
      this.sendHeader((attrs.to === undefined ? '' : trimXmlSpace(attrs.to)) || config.hosts[0]!, check.modern);
      return this.close(check.error ?? 'host-unknown');
    }
    this.host = check.host;
    this.sendHeader(check.host, check.modern);
    if (check.modern) this.conn.write(legacyFeatures(jsm.registrationEnabled));
    this.state = 'unauthed';
  }

  /**
   * Ends the stream for what the client sent, once what it sent before is
   * handled and answered: a request read in the same packet as the bad
   * bytes (a registration, a login) is carried out, so its reply must
   * reach the client before the error, as at </stream:stream>. Nothing
   * more is read meanwhile.
   */
  private closeInTurn(error: StreamErrorKind, logged = false): void {
    this.parser.stop();
    this.enqueue(async () => this.close(error, logged));
  }

  /**
   * The stream error's log line is written now, with the reason: the close
   * waits its turn, and a client that resets the connection meanwhile
   * would leave no trace of it. The reason is cut short: it may quote a
   * name the client sent, 64 KiB long.
   */
  private onParseError(err: StreamParseError): void {
    const error = PARSE_STREAM_ERRORS[err.kind];
    const reason = err.message.length > MAX_REASON_CHARS ? `${err.message.slice(0, MAX_REASON_CHARS)}...` : err.message;
    this.logAt('info', { error, reason: `bad xml: ${reason}` }, 'stream error');
    this.closeInTurn(error, true);
  }

  private onStanza(el: Element, size: number, nodes: number): void {
    if (this.traced) traceStanza(this.ctx.log, this.streamId, 'in', el);
    if (!STANZAS.has(el.name)) return this.closeInTurn('unsupported-stanza-type');
    const ns = el.attrs.xmlns;
    if (ns !== undefined) {
      // The stream's own namespace said again is harmless; another one
      // (jabber:server) would reach the recipient's stream with it.
      if (ns !== 'jabber:client') return this.closeInTurn('invalid-namespace');
      el.setAttr('xmlns', undefined);
    }
    if (el.name === 'presence' && presenceTooLarge(el, size, nodes)) {
      // In turn with the stanzas before it, like any reply; without the
      // content, which would only come back as large as it went. Addressed
      // as its turn finds the stream: from the session, or before login none.
      const attrs = el.attrs;
      this.enqueue(async () => this.send(presenceTooLargeBounce(attrs, this.session?.jid.toString())));
      return;
    }
    if (this.state === 'authed') {
      const session = this.session!;
      this.enqueue(() => this.ctx.jsm.fromSession(session, el), weigh(size, nodes));
      return;
    }
    if (this.state !== 'unauthed') return;
    const query = el.name === 'iq' ? el.elements[0] : undefined;
    const type = el.attrs.type;
    // A request of another type (none, 'GET') is answered now, 400 as after
    // login: queued, it waited for a login a client that only registers
    // never makes. Results and errors are never answered.
    if (query && PRE_SESSION_NS.has(query.attrs.xmlns ?? '') && type !== 'result' && type !== 'error') {
      this.enqueue(() => this.preSession(el, query), weigh(size, nodes));
      return;
    }
    // Behind a request still in hand (a login perhaps), the stanza waits
    // for its turn in the chain: had it gone to the queue as it is, a
    // login would hand it to the session before the register or auth
    // requests sent between the two, and a client pipelining requests
    // behind its login would get the replies out of order (SPEC section 2:
    // processed in order). It counts against the queue's bounds at once.
    const behind = this.inFlight > 0;
    if (!this.queue.push(el, size, weigh(size, nodes), !behind)) return this.closeInTurn('queue-full');
    if (behind) this.enqueue(() => this.queuedTurn());
  }

  /** The turn of the first stanza queued behind a request (see onStanza). */
  private async queuedTurn(): Promise<void> {
    // Still before login: it waits in the queue, now for the login.
    if (this.state === 'unauthed') return this.queue.settle();
    // Logged in meanwhile: it is the session's, in its turn. (Closed: the queue was dropped.)
    const stanza = this.queue.shift();
    if (stanza && this.state === 'authed') await this.ctx.jsm.fromSession(this.session!, stanza);
  }

  /**
   * Tells the shared budget of its kind (not logged in, or sessions) what
   * this connection holds now: the stanza being read, those queued or in
   * hand (characters and nodes weighed), what karma holds back unread and
   * the replies the client has not taken yet.
   */
  protected override chargeBudget(): void {
    if (this.state === 'closed') return;
    const authed = this.state === 'authed';
    let weight = this.heldWeight();
    if (authed && weight < SESSION_UNCOUNTED) weight = 0;
    if (weight === this.charged) return;
    this.charged = weight;
    (authed ? this.ctx.sessionMemory : this.ctx.preAuth).set(this, weight);
  }

  private heldWeight(): number {
    const held = this.parser.pendingWeight + this.queue.weight + this.inFlightWeight + this.conn.heldBytes + this.conn.heldOutput;
    return this.state === 'authed' || !this.encrypted ? held : held + TLS_TUNNEL_WEIGHT;
  }

  /** See TaskChain. */
  protected override taskFailed(err: unknown): void {
    this.logAt('error', { err }, 'stanza handling failed');
    this.close('internal-server-error');
  }

  /** See BudgetHolder: the connections of its kind hold too much between them, and this one is the one to go. */
  overBudget(): void {
    this.charged = 0;
    const held = this.heldWeight();
    const authed = this.state === 'authed';
    const budget = authed ? this.ctx.sessionMemory : this.ctx.preAuth;
    const limits = this.ctx.config.c2s.limits;
    // `total`: with this one, which the budget no longer counts.
    const fields = { held, total: budget.used + held, limit: authed ? limits.sessionMemory : limits.preAuthMemory };
    if (authed) this.logAt('warn', { ...fields, user: this.session?.jid.toString() }, OVER_BUDGET_LOG.sessions);
    else this.logAt('warn', fields, OVER_BUDGET_LOG.preAuth);
    // Replies still waiting for the client: it is not reading, and would
    // keep all it holds (its requests in hand too) for the grace period of
    // an ended socket. It could not read the error anyway.
    const unread = this.conn.pendingOutput > 0;
    if (unread) this.cutUnread = true;
    this.close(authed ? 'session-memory' : 'pre-auth-memory');
    if (unread) this.conn.destroy();
  }

  private async preSession(iq: Element, query: Element): Promise<void> {
    if (this.state !== 'unauthed') {
      // Logged in meanwhile (pipelined requests): now it is a session stanza.
      if (this.state === 'authed') await this.ctx.jsm.fromSession(this.session!, iq);
      return;
    }
    const client = {
      streamId: this.streamId,
      host: this.host!,
      address: this.conn.address,
      alive: () => this.state !== 'closed',
    };
    const result = await this.ctx.jsm.preSession.serve(client, iq, query);
    if (this.state !== 'unauthed') return;
    if (!result.login) return this.send(result.reply);
    await this.startSession(iq, result.login, result.reply);
  }

  private async startSession(iq: Element, login: NonNullable<PreSessionResult['login']>, reply: Element): Promise<void> {
    const { jsm, config } = this.ctx;
    let session: Session | undefined;
    try {
      session = await jsm.openSession(this.host!, login.user, login.resource, this, login.removals);
    } catch (err) {
      if (!(err instanceof TooManySessionsError)) throw err;
      if (this.state === 'unauthed') this.send(jsm.preSession.tooManySessions(iq, err, this.conn.address));
      return;
    }
    if (!session) {
      // The account was removed while this login was checked: as if the password had been wrong.
      if (this.state === 'unauthed') this.send(jsm.preSession.loginRefused(iq, this.host!, login.user, this.conn.address, login.method));
      return;
    }
    jsm.preSession.loginOk(this.host!, login.user, this.conn.address, login.method, this.streamId);
    if (this.state !== 'unauthed') {
      // Closed while the session was opening: cleanup() found no session to end.
      await jsm.endSession(session);
      return;
    }
    this.session = session;
    this.state = 'authed';
    // From the pre-login budget to the sessions' one.
    this.ctx.preAuth.release(this);
    this.charged = 0;
    this.chargeBudget();
    this.stopAuthTimer();
    this.parser.limits = this.parserLimits();
    if (config.c2s.limits.idleSeconds > 0) this.armIdle();
    this.send(reply);
    // `session`, not this.session: a close while these run clears the field.
    // Those that came before the login; the ones behind it come in their turn (queuedTurn).
    for (const stanza of this.queue.drainSettled()) await jsm.fromSession(session, stanza);
  }

  /** The connection was cut off, its client not reading: `dropped` waited for it (characters and bytes) and is lost. */
  cutOff(dropped: number): void {
    this.cutUnread = true;
    this.logAt('warn', { user: this.session?.jid.toString(), dropped }, 'client stopped reading; send buffer full, disconnected');
  }

  protected goodbyeUnread(dropped: number): void {
    this.logAt('info', { user: this.session?.jid.toString(), dropped }, 'client ended its stream and read nothing more; cut off');
  }

  private onClosed(): void {
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.parser.stop();
    }
    this.cleanup();
  }

  /**
   * Log lines carry the stream id and address (no child logger: it would
   * cost per connection). Those of a connection not logged in are held to
   * its address's share (net/address-log-quota.ts).
   */
  private logAt(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
    const line = { stream: this.streamId, address: this.conn.address, ...fields };
    if (level === 'error' || this.session) this.ctx.log[level](line, msg);
    else this.ctx.connLog.write(level, this.conn.address, line, msg);
  }

  private cleanup(): void {
    if (!this.cleanedUp) {
      // The one line per connection: who, how long, as whom.
      this.cleanedUp = true;
      const seconds = Math.round((monotonicMs() - this.opened) / 1000);
      this.logAt('info', { user: this.session?.jid.toString(), seconds, error: this.conn.failure }, 'connection closed');
      // Once: by the second run (the socket gone after close()) a new
      // stream may have been given the same id, and must keep it.
      this.ctx.releaseStreamId(this.streamId);
    }
    this.stopAuthTimer();
    this.stopGoodbyeTimer();
    this.queue.clear();
    this.ctx.preAuth.release(this);
    this.ctx.sessionMemory.release(this);
    const session = this.session;
    this.session = undefined;
    if (session) {
      // Out of routing now: what arrives for it goes elsewhere or offline.
      // What it sent before closing is still handled, then the session ends.
      this.ctx.jsm.detach(session);
      const reason = this.ctx.stopping() ? JSM_SHUTDOWN : undefined;
      // Kept even by a stop past its bound (dropWaiting): dropped, the
      // session would never end (no logout time, its contacts not told),
      // and a login with its full JID would wait for that end for ever.
      this.enqueue(() => this.ctx.jsm.endSession(session, reason), 0, true);
    }
  }
}
