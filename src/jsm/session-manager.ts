// The session manager (jabberd's JSM): loads the modules named in <load>,
// serves the two pre-session namespaces, owns the sessions and hands
// stanzas from sessions to the router.
import type { YakConfig } from '../config/types.js';
import { registrationOffered } from '../config/sessions.js';
import { makeJid, parseJid } from '../jid.js';
import type { Logger } from '../log.js';
import { Element } from '../xml/element.js';
import { NS_AUTH, NS_REGISTER, type Xdb } from '../xdb/xdb.js';
import type { ClientInfo, JsmModule, ModuleApi, PasswordEvent, PhaseHandlers, Phase, RemoveOptions } from './api.js';
import { authGet, authSet, methodOf, usernameOf } from './auth.js';
import { iqResult, isRequest } from './iq.js';
import { LoginThrottle } from './login-throttle.js';
import { PhaseChains, type HandlerOptions } from './phase-chains.js';
import { REGISTER_POLICIES } from './modules/register-policies.js';
import { RecentRemovals } from './recent-removals.js';
import { answerable, Router } from './router.js';
import { Session, SessionRegistry, type SessionTransport } from './sessions.js';
import { asStanzaError, errorReply, StanzaError, stanzaError } from './stanza-errors.js';

/** The result of a pre-session request: the reply, and the new session after a login. */
export interface PreSessionResult {
  reply: Element;
  /**
   * `removals`: the removal count when the password was read (pass it to
   * openSession). `method`: how the password was given, for loginOk().
   */
  login?: { user: string; resource: string; removals: number; method: string | undefined };
}

type Asker = NonNullable<RemoveOptions['asked']>;

/** An account removal under way. */
interface Removal {
  /** The sessions whose request it answers: a result once removed, an error if it failed. */
  askers: Asker[];
  removed: boolean;
  done: Promise<void>;
}

/** openSession: the account already has <limits><sessions> sessions, none with this resource. */
export class TooManySessionsError extends Error {
  constructor(
    readonly bare: string,
    readonly max: number,
  ) {
    super(`${bare} already has ${max} sessions`);
  }
}

export class SessionManager {
  readonly chains = new PhaseChains();
  readonly sessions = new SessionRegistry();
  readonly router: Router;
  readonly loaded: string[] = [];
  private readonly hosts: Set<string>;
  /** Sessions being replaced by a login with the same resource, by bare JID: their places are kept (see openSession). */
  private readonly replacing = new Map<string, number>();
  /** Account removals under way, by bare JID: at most one per name. */
  private readonly removals = new Map<string, Removal>();
  /** Removals ended lately, numbered: a login notes their count when it reads the password. */
  private readonly recentRemovals = new RecentRemovals();
  /** Slows password guessing; shared by every connection. */
  readonly throttle: LoginThrottle;

  constructor(
    readonly config: YakConfig,
    readonly xdb: Xdb,
    readonly log: Logger,
    available: ReadonlyMap<string, JsmModule>,
  ) {
    this.hosts = new Set(config.hosts);
    this.throttle = new LoginThrottle(config.jsm.loginThrottle);
    this.router = new Router({
      chains: this.chains,
      sessions: this.sessions,
      xdb,
      log,
      isLocalHost: (h) => this.hosts.has(h),
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
      removeUser: (host: string, user: string, opts?: RemoveOptions) => this.removeUser(host, user, opts),
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
    // Without mod_auth_plain the existence flag is an empty jabber:iq:auth record.
    const records: Record<string, Element | null> = { [NS_AUTH]: new Element('password', { xmlns: NS_AUTH }) };
    for (const h of this.chains.handlers('password')) Object.assign(records, h(ev));
    return records;
  }

  /**
   * Serves an iq before a session exists. Only jabber:iq:register and
   * jabber:iq:auth get here (the c2s gate queues everything else). Replies
   * carry no to/from and keep the client's id.
   */
  async preSession(client: ClientInfo, iq: Element, query: Element): Promise<PreSessionResult> {
    const ns = query.attrs.xmlns;
    try {
      if (ns === NS_REGISTER) {
        const reply = (await this.register(client, iq, query, undefined))!;
        delete reply.attrs.to;
        delete reply.attrs.from;
        return { reply };
      }
      return await this.auth(client, iq, query);
    } catch (err) {
      return { reply: this.errorFor(iq, err) };
    }
  }

  /** The log line of a login that got its session (openSession). */
  loginOk(host: string, user: string, address: string, method: string | undefined): void {
    this.log.info({ user, host, address, method }, 'login ok');
  }

  /** The reply to a login refused by openSession for TooManySessionsError. */
  tooManySessions(iq: Element, err: TooManySessionsError, address: string): Element {
    this.log.warn({ user: err.bare, address, max: err.max }, 'login refused: the account has as many sessions as it may');
    return this.errorFor(iq, stanzaError('resource-constraint', 'Too Many Sessions'));
  }

  /**
   * The reply to a login openSession refused (its account went after the
   * password was accepted): a wrong password's. Logged like a failed login.
   */
  loginRefused(iq: Element, host: string, user: string, address: string, method: string | undefined): Element {
    this.log.warn({ user, host, address, method }, 'login refused: the account was removed after its password was accepted');
    return this.errorFor(iq, stanzaError('not-authorized'));
  }

  private errorFor(iq: Element, err: unknown): Element {
    let known = asStanzaError(err);
    if (!known) {
      this.log.error({ err }, 'pre-session handler failed');
      known = stanzaError('internal-server-error');
    }
    const reply = errorReply(iq, known);
    delete reply.attrs.to;
    delete reply.attrs.from;
    return reply;
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

  private async auth(client: ClientInfo, iq: Element, query: Element): Promise<PreSessionResult> {
    const type = iq.attrs.type;
    if (type === 'get') {
      const q = await authGet(this.chains, this.xdb, client, iq, query);
      return { reply: new Element('iq', { type: 'result', id: iq.attrs.id }, [q]) };
    }
    if (type !== 'set') throw stanzaError('bad-request');
    // COMPAT: 1.4's pthsock_client gave an auth set without an id this one,
    // and its replies (result or error) carry it back.
    iq.attrs.id ??= 'pthsock_client_auth_ID';
    const method = methodOf(query);
    // 406 for a missing username comes before any waiting.
    const user = usernameOf(query);
    if (!(await this.throttle.gate(user, client.address, () => client.alive?.() ?? true))) {
      throw stanzaError('not-authorized');
    }
    try {
      const removals = this.recentRemovals.count;
      const ok = await authSet(this.chains, this.xdb, client, iq, query);
      this.throttle.succeeded(ok.user);
      return { reply: new Element('iq', { type: 'result', id: iq.attrs.id }), login: { ...ok, removals, method } };
    } catch (err) {
      if (err instanceof StanzaError && err.code === 401) {
        this.throttle.failed(user, client.address);
        this.log.warn({ user, host: client.host, address: client.address, method }, 'login failed');
      }
      throw err;
    }
  }

  /**
   * Opens a session for a logged-in connection. Another session with the
   * same resource is replaced: it gets unavailable presence and a conflict
   * stream error first. `removals` is the count the login noted when it
   * read the password. Resolves to undefined, and opens nothing, when the
   * account was removed since (or is being removed), whoever owns the name
   * now.
   */
  async openSession(host: string, user: string, resource: string, transport: SessionTransport, removals: number): Promise<Session | undefined> {
    const jid = makeJid(user, host, resource)!;
    // Before replacing anything: a session ended for a login that is then
    // refused could be the one whose <remove/> waits for its answer.
    if (this.removedSince(jid.bare, removals)) return undefined;
    const old = this.sessions.find(jid.bare, resource);
    const max = this.config.c2s.limits.sessionsPerUser;
    if (old) {
      old.send(
        new Element('presence', { type: 'unavailable', to: old.jid.toString(), from: old.jid.toString() }, [
          new Element('status', {}, ['Replaced by new connection']),
        ]),
      );
      // The old session's place is kept for this one while it ends (it
      // leaves the registry at once, and its end takes a while): another
      // login meanwhile must not take it.
      this.replacing.set(jid.bare, (this.replacing.get(jid.bare) ?? 0) + 1);
      try {
        await this.endSession(old);
      } finally {
        const n = this.replacing.get(jid.bare)! - 1;
        if (n > 0) this.replacing.set(jid.bare, n);
        else this.replacing.delete(jid.bare);
      }
      old.transport.close('conflict');
      if (this.removedSince(jid.bare, removals)) return undefined;
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

  /** Whether `bare`'s account is being removed, or was after a login noted `removals`. */
  private removedSince(bare: string, removals: number): boolean {
    return this.removals.has(bare) || this.recentRemovals.endedSince(bare, removals);
  }

  async endSession(session: Session): Promise<void> {
    if (session.ended) return;
    // Out of routing before the handlers run: they write to the spool and
    // broadcast, which takes a while, and a message arriving meanwhile must
    // go to another session or to offline storage, not to a closed stream.
    session.ended = true;
    this.sessions.remove(session);
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
  }

  /**
   * A stanza from a session: `from` is always stamped with the session's full
   * JID (a client cannot forge it), no `to` means the user's own account.
   */
  async fromSession(session: Session, stanza: Element): Promise<void> {
    if (session.ended) return;
    stanza.attrs.from = session.jid.toString();
    // COMPAT: an empty `to` is no `to`, as 1.4's jid_new("") was NULL
    // (Net::Jabber::Loudmouth puts to='' on every stanza it builds).
    if (stanza.attrs.to === '') delete stanza.attrs.to;
    try {
      if (stanza.attrs.to !== undefined && !parseJid(stanza.attrs.to)) {
        // Straight back to the session: a reply from an address that does
        // not parse could not be routed (it was lost), so it carries none.
        if (!answerable(stanza)) return;
        const reply = errorReply(stanza, stanzaError('jid-malformed'));
        delete reply.attrs.from;
        return session.send(reply);
      }
      const query = isRequest(stanza) ? stanza.getChildByNs(NS_REGISTER) : undefined;
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

  private isOwnAccountOrHost(stanza: Element, session: Session): boolean {
    const to = stanza.attrs.to;
    if (to === undefined) return true;
    const jid = parseJid(to);
    return jid !== undefined && jid.resource === undefined && (jid.bare === session.host || jid.bare === session.jid.bare);
  }

  private clientOf(session: Session): ClientInfo {
    return { streamId: '', host: session.host, address: session.transport.address };
  }

  /**
   * Removes every trace of a user: sessions end, contacts are told, the
   * spool file goes. One removal per name at a time: a second request
   * while one runs (the user's <remove/> and jabberctl deluser at once)
   * gets that removal's outcome, and never removes again, which could
   * take an account registered under the name since.
   */
  removeUser(host: string, user: string, opts: RemoveOptions = {}): Promise<void> {
    const bare = `${user}@${host}`;
    const running = this.removals.get(bare);
    if (running) {
      if (opts.asked) {
        if (running.removed) opts.asked.session.transport.send(iqResult(opts.asked.iq));
        else running.askers.push(opts.asked);
      }
      return running.done;
    }
    const removal: Removal = { askers: opts.asked ? [opts.asked] : [], removed: false, done: Promise.resolve() };
    this.removals.set(bare, removal);
    // Counted when it ends: logins in flight that read the password before
    // then are refused (a removal that failed costs them a retry).
    removal.done = this.remove(host, user, removal, opts.unread === true).finally(() => {
      this.recentRemovals.note(bare);
      this.removals.delete(bare);
    });
    return removal.done;
  }

  private async remove(host: string, user: string, removal: Removal, unread: boolean): Promise<void> {
    const bare = `${user}@${host}`;
    // Sessions end before the file goes: session-end handlers write to the
    // spool (mod_last's logout record) and would bring the file back. The
    // result and the streams' end come only after the file is gone: a
    // client told "removed" must not find the account again after a crash.
    // (Its session has ended by then, so the answer goes to its transport.)
    const sessions = this.sessions.of(bare);
    try {
      for (const s of sessions) await this.endSession(s);
      const records = unread ? new Map<string, Element>() : await this.xdb.getAll(host, user);
      // Contacts are told while the file is still there: a crash in between
      // leaves an account the user was not told is gone, never a removed
      // name that contacts still hold (and its next owner would inherit).
      await this.chains.all('user-removing', { host, user, records });
      await this.xdb.remove(host, user);
      removal.removed = true;
      for (const a of removal.askers) a.session.transport.send(iqResult(a.iq));
      await this.chains.all('user-removed', { host, user, records });
    } catch (err) {
      // Not removed (a full disk): the askers hear why before their streams end.
      if (!removal.removed) {
        const why = asStanzaError(err) ?? stanzaError('internal-server-error');
        for (const a of removal.askers) a.session.transport.send(errorReply(a.iq, why));
      }
      throw err;
    } finally {
      for (const s of sessions) s.transport.close(removal.removed ? 'account-removed' : 'internal-server-error');
    }
  }
}
