// Before a session exists: the two namespaces a client may use then
// (jabber:iq:register and jabber:iq:auth), the login with its failed-login
// throttle, and the replies to a login that openSession then refused, all
// without an address (see unaddressed).
import { attrsWith, Element } from '../xml/element.js';
import { NS_REGISTER } from '../xdb/xdb.js';
import type { AccountRemovals } from './account-removals.js';
import type { ClientInfo } from './api.js';
import { authGet, authSet, methodOf, usernameOf } from './auth.js';
import type { GateOutcome } from './login-throttle.js';
import type { SessionManager, TooManySessionsError } from './session-manager.js';
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

/** A reply before a session exists: no to and no from (the client has no address yet), in one copy of its attributes. */
export function unaddressed(reply: Element): Element {
  reply.attrs = attrsWith(reply.attrs, { to: undefined, from: undefined });
  return reply;
}

export class PreSession {
  /** `jsm`: its chains, storage, log and throttle; `removals`: its account removals, counted at each login. */
  constructor(
    private readonly jsm: SessionManager,
    private readonly removals: AccountRemovals,
  ) {}

  /**
   * Serves an iq before a session exists. Only jabber:iq:register and
   * jabber:iq:auth get here (the c2s gate queues everything else). Replies
   * carry no to/from and keep the client's id.
   */
  async serve(client: ClientInfo, iq: Element, query: Element): Promise<PreSessionResult> {
    const ns = query.attrs.xmlns;
    const type = iq.attrs.type;
    try {
      // As after login: a request of no type or another is malformed,
      // whatever serves (or does not serve) its namespace.
      if (type !== 'get' && type !== 'set') throw stanzaError('bad-request');
      if (ns === NS_REGISTER) {
        return { reply: unaddressed((await this.jsm.register(client, iq, query, undefined))!) };
      }
      return await this.auth(client, iq, query);
    } catch (err) {
      return { reply: this.errorFor(iq, err) };
    }
  }

  /** The log line of a login that got its session (openSession). */
  loginOk(host: string, user: string, address: string, method: string | undefined, stream: string): void {
    this.jsm.log.info({ stream, user, host, address, method }, 'login ok');
  }

  /** The reply to a login refused by openSession for TooManySessionsError. */
  tooManySessions(iq: Element, err: TooManySessionsError, address: string): Element {
    this.jsm.log.warn({ user: err.bare, address, max: err.max }, 'login refused: the account has as many sessions as it may');
    return this.errorFor(iq, stanzaError('resource-constraint', 'Too Many Sessions'));
  }

  /**
   * The reply to a login openSession refused (its account went after the
   * password was accepted): a wrong password's. Logged like a failed login.
   */
  loginRefused(iq: Element, host: string, user: string, address: string, method: string | undefined): Element {
    this.jsm.log.warn({ user, host, address, method }, 'login refused: the account was removed after its password was accepted');
    return this.errorFor(iq, stanzaError('not-authorized'));
  }

  private errorFor(iq: Element, err: unknown): Element {
    let known = asStanzaError(err);
    if (!known) {
      this.jsm.failures.failed(err, {}, 'pre-session handler failed');
      known = stanzaError('internal-server-error');
    }
    return unaddressed(errorReply(iq, known));
  }

  private async auth(client: ClientInfo, iq: Element, query: Element): Promise<PreSessionResult> {
    const { chains, xdb, throttle, log } = this.jsm;
    const type = iq.attrs.type;
    if (type === 'get') {
      const q = await authGet(chains, xdb, client, iq, query);
      return { reply: new Element('iq', { type: 'result', id: iq.attrs.id }, [q]) };
    }
    // A set, then: serve() answered any other type.
    // COMPAT: 1.4's pthsock_client gave an auth set without an id this one,
    // and its replies (result or error) carry it back.
    iq.attrs.id ??= 'pthsock_client_auth_ID';
    const method = methodOf(query);
    // 406 for a missing username comes before any waiting.
    const user = usernameOf(query);
    // Counted per account: the same name on another host is someone else.
    const account = `${user}@${client.host}`;
    // Called by authSet once the user's file is read (see there).
    let gone = false;
    const gate = async (): Promise<GateOutcome> => {
      const outcome = await throttle.gate(account, client.address, () => client.alive?.() ?? true);
      gone = outcome === 'gone';
      return outcome;
    };
    try {
      const removals = this.removals.count;
      const ok = await authSet(chains, xdb, client, iq, query, gate);
      throttle.succeeded(account);
      return { reply: new Element('iq', { type: 'result', id: iq.attrs.id }), login: { user: ok.user, resource: ok.resource, removals, method } };
    } catch (err) {
      // A client gone while it waited made no attempt: nothing to count.
      if (err instanceof StanzaError && err.code === 401 && !gone) {
        throttle.failed(account, client.address);
        log.warn({ user, host: client.host, address: client.address, method }, 'login failed');
      }
      throw err;
    }
  }
}
