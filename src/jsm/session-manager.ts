// The session manager (jabberd's JSM): loads the modules named in <load>,
// owns the sessions and hands stanzas from sessions to the router. The
// two pre-session namespaces are served in pre-session.ts, account removal
// is in account-removals.ts.
import type { YakConfig } from '../config/types.js';
import { registrationOffered } from '../config/sessions.js';
import { makeJid, parseJid, type Jid } from '../jid.js';
import type { Logger } from '../log.js';
import { Element } from '../xml/element.js';
import { NS_AUTH, NS_AUTH_CRYPT, NS_REGISTER, type Xdb } from '../xdb/xdb.js';
import type { ClientInfo, JsmModule, ModuleApi, PasswordEvent, PhaseHandlers, Phase, RemoveOptions } from './api.js';
import { AccountRemovals, REMOVED } from './account-removals.js';
import { isIqType, isRequest, payloadIn } from './iq.js';
import { LoginThrottle } from './login-throttle.js';
import { PhaseChains, type HandlerOptions } from './phase-chains.js';
import { PreSession } from './pre-session.js';
import { REGISTER_POLICIES } from './modules/register-policies.js';
import { answerable, Router } from './router.js';
import { LeavingSessions } from './leaving-sessions.js';
import { RequestFailures } from './request-failures.js';
import { resendInDoubt } from './resend-in-doubt.js';
import { Session, SessionRegistry, type SessionTransport } from './sessions.js';
import { asStanzaError, errorReply, stanzaError } from './stanza-errors.js';
import { KeyedQueue } from '../util/keyed-queue.js';

/** openSession: the account already has <limits><sessions> sessions, none with this resource. */
export class TooManySessionsError extends Error {
  constructor(
    readonly bare: string,
    readonly max: number,
  ) {
    super(`${bare} already has ${max} sessions`);
  }
}

/** 1.4's reason for a session that a login with the same resource replaced. */
const REPLACED = 'Replaced by new connection';

export class SessionManager {
  readonly chains = new PhaseChains();
  readonly sessions = new SessionRegistry();
  readonly router: Router;
  readonly loaded: string[] = [];
  private readonly hosts: Set<string>;
  /** Sessions being replaced by a login with the same resource, by bare JID: their places are kept (see openSession). */
  private readonly replacing = new Map<string, number>();
  /**
   * Logins opening a session, one at a time per full JID, in the order
   * they came (see openSession).
   */
  private readonly opening = new KeyedQueue();
  /** Sessions whose stream closed, with their end still to run (see detach). */
  readonly leaving = new LeavingSessions();
  /** Account removals under way, and those ended lately for logins in flight. */
  readonly removals = new AccountRemovals(this);
  /** Register and auth requests before a session exists, and the outcome of a login. */
  readonly preSession = new PreSession(this, this.removals);
  /** Slows password guessing; shared by every connection. */
  readonly throttle: LoginThrottle;
  /** Where a request's failure is logged (those of a full disk once a minute). */
  readonly failures: RequestFailures;

  constructor(
    readonly config: YakConfig,
    readonly xdb: Xdb,
    readonly log: Logger,
    available: ReadonlyMap<string, JsmModule>,
  ) {
    this.hosts = new Set(config.hosts);
    this.throttle = new LoginThrottle(config.jsm.loginThrottle);
    this.failures = new RequestFailures(log);
    this.router = new Router({
      chains: this.chains,
      sessions: this.sessions,
      xdb,
      log,
      failures: this.failures,
      isLocalHost: (h) => this.hosts.has(h),
      resendsUnderWay: (bare) => this.leaving.resendsUnderWay(bare),
    });
    for (const name of config.jsm.modules) {
      const mod = available.get(name);
      if (!mod) {
        log.warn({ module: name }, 'module named in <load> is not provided by Yak; ignored');
        continue;
      }
      mod.setup(this.apiFor(name));
      this.loaded.push(name);
    }
    // Registration policies guard mod_register wherever it is loaded (they run first by priority).
    if (this.loaded.includes('mod_register')) for (const p of REGISTER_POLICIES) p.setup(this.apiFor(p.name));
  }

  private apiFor(module: string): ModuleApi {
    return {
      config: this.config,
      xdb: this.xdb,
      log: this.log.child({ module }),
      sessions: this.sessions,
      loaded: this.loaded,
      on: <P extends Phase>(phase: P, handler: PhaseHandlers[P], opts?: HandlerOptions) =>
        this.chains.add(phase, module, handler, opts),
      deliver: (stanza: Element, opts) => this.router.route(stanza, undefined, opts),
      offline: (d) => this.router.offline(d),
      removeUser: (host: string, user: string, opts?: RemoveOptions) => this.removeUser(host, user, opts),
      removing: (host: string, user: string) => this.removals.underWay(`${user}@${host}`),
      passwordRecords: (ev) => this.passwordRecords(ev),
      notify: (phase, ev) => this.chains.all(phase, ...([ev] as unknown as Parameters<PhaseHandlers[typeof phase]>)),
      isLocalHost: (h: string) => this.hosts.has(h),
    };
  }

  isLocalHost(host: string): boolean {
    return this.hosts.has(host);
  }

  /** See registrationOffered (read live: SIGHUP may add or remove <register>). */
  get registrationEnabled(): boolean {
    return registrationOffered(this.config.jsm);
  }

  passwordRecords(ev: PasswordEvent): Record<string, Element | null> {
    // Without mod_auth_plain the existence flag is an empty jabber:iq:auth
    // record. A 1.4 crypt hash goes: it would go on taking the old password.
    const records: Record<string, Element | null> = { [NS_AUTH]: new Element('password', { xmlns: NS_AUTH }), [NS_AUTH_CRYPT]: null };
    for (const h of this.chains.handlers('password')) Object.assign(records, h(ev));
    return records;
  }

  /**
   * Registration before or inside a session; 501 whenever it is disabled
   * (Yak precedence). Undefined when a module answered by itself (removal).
   */
  async register(
    client: ClientInfo,
    iq: Element,
    query: Element,
    session: Session | undefined,
  ): Promise<Element | undefined> {
    if (!this.registrationEnabled) throw stanzaError('feature-not-implemented');
    const out = await this.chains.first('register', { client, iq, query, host: client.host, session });
    if (out === 'handled' && session) return undefined;
    if (!(out instanceof Element)) throw stanzaError('feature-not-implemented');
    return out;
  }

  /**
   * Opens a session for a logged-in connection. Another session with the
   * same resource is replaced: it gets unavailable presence and a conflict
   * stream error first. `removals` is the count the login noted when it
   * read the password. Resolves to undefined, and opens nothing, when the
   * account was removed since (or is being removed), whoever owns the name
   * now.
   *
   * Logins with one full JID open their sessions one after another, in the
   * order they came, so the newest wins and each earlier one is replaced in
   * turn: while a replaced session ends it is out of the registry, and a
   * login finding the place empty then would add a second session with the
   * same full JID, one that replies meant for it never reach.
   */
  openSession(host: string, user: string, resource: string, transport: SessionTransport, removals: number): Promise<Session | undefined> {
    const jid = makeJid(user, host, resource)!;
    return this.opening.run(jid.toString(), () => this.openInTurn(jid, transport, removals));
  }

  private async openInTurn(jid: Jid, transport: SessionTransport, removals: number): Promise<Session | undefined> {
    const resource = jid.resource!;
    // A session with this full JID whose stream closed ends first: its
    // goodbye presence must not follow this one's (see LeavingSessions).
    await this.leaving.gone(jid);
    // Before replacing anything: a session ended for a login that is then
    // refused could be the one whose <remove/> waits for its answer.
    if (this.removals.removedSince(jid.bare, removals)) return undefined;
    const old = this.sessions.find(jid.bare, resource);
    const max = this.config.c2s.limits.sessionsPerUser;
    if (old) {
      old.send(
        new Element('presence', { type: 'unavailable', to: old.jid.toString(), from: old.jid.toString() }, [
          new Element('status', {}, [REPLACED]),
        ]),
      );
      // The old session's place is kept for this one while it ends (it
      // leaves the registry at once, and its end takes a while): a login
      // with another resource meanwhile must not take it. (One with this
      // resource waits for its turn, see openSession.)
      this.replacing.set(jid.bare, (this.replacing.get(jid.bare) ?? 0) + 1);
      try {
        await this.endSession(old, REPLACED);
      } finally {
        const n = this.replacing.get(jid.bare)! - 1;
        if (n > 0) this.replacing.set(jid.bare, n);
        else this.replacing.delete(jid.bare);
      }
      old.transport.close('conflict');
      if (this.removals.removedSince(jid.bare, removals)) return undefined;
    } else if (max > 0 && this.sessions.of(jid.bare).length + (this.replacing.get(jid.bare) ?? 0) >= max) {
      // Checked with no await before the add below: logins racing each other cannot all pass.
      throw new TooManySessionsError(jid.bare, max);
    }
    // No await between the check and this: a removal that starts later finds the session and ends it.
    const session = new Session(jid, transport);
    this.sessions.add(session);
    await this.chains.all('session-start', session);
    return session;
  }

  /**
   * Ends a session: out of routing at once, then every session-end handler
   * runs. `reason` is 1.4's: the status of the unavailable presence its
   * contacts get, and of its logout record, when the client had not said
   * goodbye itself.
   */
  async endSession(session: Session, reason = 'Disconnected'): Promise<void> {
    if (session.ended) return;
    session.endReason = reason;
    // Out of routing before the handlers run: they write to the spool and
    // broadcast, which takes a while, and a message arriving meanwhile must
    // go to another session or to offline storage, not to a closed stream.
    session.ended = true;
    this.sessions.remove(session);
    // What a lost connection may not have delivered goes again: after the
    // handlers, with the session out of routing and gone to its contacts,
    // and before a login with its full JID may open (see LeavingSessions),
    // which then finds it stored. A session replaced by a login with its
    // resource is most often a client back after losing its connection
    // without a word, the old one not yet found dead. Taken whatever the
    // end, so that it is no longer counted (see TOTAL_IN_DOUBT_CHARS).
    const inDoubt = session.transport.takeInDoubt();
    const resend = inDoubt.length > 0 && (reason === REPLACED || session.transport.lost);
    // Until they have gone, a message for the user that no session takes
    // waits, to be stored after them (see LeavingSessions.resendsUnderWay).
    if (resend) this.leaving.add(session, true);
    // Each handler runs whatever the others did: one that cannot read the
    // user's file (deluser --force) must not keep contacts from hearing
    // that the session went, nor its log line from being written.
    for (const handler of this.chains.handlers('session-end')) {
      try {
        await handler(session);
      } catch (err) {
        this.log.error({ err, jid: session.jid.toString() }, 'session-end handler failed');
      }
    }
    if (resend) {
      try {
        await resendInDoubt(session, inDoubt, this.router, this.log);
      } catch (err) {
        this.log.error({ err, jid: session.jid.toString() }, 'messages in doubt not sent again');
      }
    }
    this.leaving.ended(session);
  }

  /**
   * A session whose stream closed: out of routing at once, so that what
   * arrives for it goes to another session or offline; its end
   * (endSession) comes once what it sent before closing is handled, and
   * until then it is leaving (see LeavingSessions).
   */
  detach(session: Session): void {
    this.sessions.remove(session);
    if (!session.ended) this.leaving.add(session);
  }

  /**
   * A stanza from a session: `from` is always stamped with the session's full
   * JID (a client cannot forge it), no `to` means the user's own account.
   */
  async fromSession(session: Session, stanza: Element): Promise<void> {
    // COMPAT: an empty `to` is no `to`, as 1.4's jid_new("") was NULL
    // (Net::Jabber::Loudmouth puts to='' on every stanza it builds).
    if (stanza.attrs.to === '') stanza.setAttr('to', undefined);
    if (session.ended && !this.joinsRemoval(session, stanza)) return;
    session.stanzasIn++;
    stanza.attrs.from = session.jid.toString();
    try {
      if (stanza.attrs.to !== undefined && !parseJid(stanza.attrs.to)) {
        // Straight back to the session: a reply from an address that does
        // not parse could not be routed (it was lost), so it carries none.
        if (!answerable(stanza)) return;
        const reply = errorReply(stanza, stanzaError('jid-malformed'));
        reply.setAttr('from', undefined);
        return session.send(reply);
      }
      if (stanza.name === 'iq' && !isIqType(stanza.attrs.type)) {
        // RFC 3920 9.2.3: refused here, once, before any module or client
        // sees it (each chain tests get/set only: a roster query took it
        // silently, a client got it as sent). Straight back to the
        // session, from whom it was for: its own account when no `to`.
        const reply = errorReply(stanza, stanzaError('bad-request'));
        reply.attrs.from ??= session.jid.bare;
        return session.send(reply);
      }
      const query = isRequest(stanza) ? payloadIn(stanza, NS_REGISTER) : undefined;
      if (query && this.isOwnAccountOrHost(stanza, session)) {
        // Answered straight to the session: the iq may have no `to` to route a reply by.
        try {
          const reply = await this.register(this.clientOf(session), stanza, query, session);
          if (reply) session.send(reply);
        } catch (err) {
          const known = asStanzaError(err);
          if (!known) throw err;
          session.send(errorReply(stanza, known));
        }
        return;
      }
      let out = this.chains.firstFor('session-out', stanza.name, stanza, session);
      if (out instanceof Promise) out = await out;
      if (out === 'handled') return;
      if (out instanceof Element) return session.send(out);
      if (stanza.attrs.to === undefined) {
        // Presence without `to` is a broadcast; with nobody to handle it there is nobody to tell.
        if (stanza.name === 'presence') return;
        stanza.attrs.to = session.jid.bare;
      }
      await this.router.route(stanza, session);
    } catch (err) {
      // A stanza without `to` was for the user's own account: its error
      // comes from there (a reply without `from` could not be routed back).
      stanza.attrs.to ??= session.jid.bare;
      await this.router.fail(stanza, err);
    }
  }

  /**
   * Whether a stanza from an ended session still goes on: a <remove/> of
   * its own account, sent as that account's removal (another resource's
   * <remove/>, jabberctl deluser) was ending the session. It is one with
   * that removal and gets its answer when it ends, as the request that
   * started it does (the removal answers by the transport). Anything else
   * from an ended session goes nowhere.
   */
  private joinsRemoval(session: Session, stanza: Element): boolean {
    if (session.endReason !== REMOVED || stanza.name !== 'iq' || stanza.attrs.type !== 'set') return false;
    if (!this.removals.answers(session)) return false;
    return payloadIn(stanza, NS_REGISTER)?.getChild('remove') !== undefined && this.isOwnAccountOrHost(stanza, session);
  }

  private isOwnAccountOrHost(stanza: Element, session: Session): boolean {
    const to = stanza.attrs.to;
    if (to === undefined) return true;
    const jid = parseJid(to);
    return jid !== undefined && jid.resource === undefined && (jid.bare === session.host || jid.bare === session.jid.bare);
  }

  private clientOf(session: Session): ClientInfo {
    return { streamId: '', host: session.host, address: session.transport.address };
  }

  /** Removes every trace of a user (see AccountRemovals.removeUser). */
  removeUser(host: string, user: string, opts?: RemoveOptions): Promise<void> {
    return this.removals.removeUser(host, user, opts);
  }
}
