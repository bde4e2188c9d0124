// The typed surface between the session manager and its modules, after
// jabberd 1.4's JSM event chains: a module registers handlers for named
// phases in setup(); handlers run in <load> order (or by priority) and each
// either handles the stanza or passes it on.
import type { YakConfig } from '../config/types.js';
import type { Jid } from '../jid.js';
import type { Logger } from '../log.js';
import type { Element } from '../xml/element.js';
import type { Xdb } from '../xdb/xdb.js';
import type { HandlerOptions } from './phase-chains.js';
import type { Session, SessionRegistry } from './sessions.js';

/**
 * 'handled' or a reply element stops the chain; 'pass' (or nothing) goes
 * on. A reply element is sent whatever the stanza's type: a handler checks
 * for get/set first (a result or an error is never answered). The Router
 * fills in a reply's missing `from` and `to` in 'server', 'deliver' and
 * 'offline'; in 'session-out' it goes to the session as returned.
 */
export type Outcome = 'handled' | 'pass' | Element | undefined | void;

/** What modules may know about a client connection. */
export interface ClientInfo {
  streamId: string;
  host: string;
  address: string;
  /** False once the connection is gone (long waits check it). */
  alive?: () => boolean;
}

/** A pre-session jabber:iq:auth request, with the user's records read once. */
export interface AuthRequest {
  client: ClientInfo;
  iq: Element;
  query: Element;
  /** Prepared username. */
  user: string;
  /** The user's jabber:iq:auth and jabber:iq:auth:0k records (one spool read, usually from the cache). */
  records: Map<string, Element>;
}

/** A jabber:iq:register request, before a session (session undefined) or inside one. */
export interface RegisterRequest {
  client: ClientInfo;
  iq: Element;
  query: Element;
  host: string;
  session: Session | undefined;
}

/** A password the server now knows, for every auth module to store its way. */
export interface PasswordEvent {
  host: string;
  user: string;
  password: string;
  /** The user's current records, when known (lets 0k decide whether to regenerate). */
  records?: Map<string, Element>;
}

export interface UserEvent {
  host: string;
  user: string;
}

export interface UserRemovedEvent extends UserEvent {
  /** What the user's file held when the removal began (mod_roster tells the contacts); empty when deleted unread. */
  records: Map<string, Element>;
}

export interface UserCreatedEvent extends UserEvent {
  /** The registration record as stored (fields other than username/password). */
  fields: Element;
  /** The client's address, when created over the wire. */
  address?: string;
}

/** A stanza on its way to a local entity. */
export interface Delivery {
  stanza: Element;
  to: Jid;
  from: Jid;
  /** The sending session, when the stanza came from a local client. */
  sender: Session | undefined;
  /** Routed with DeliverOptions.quiet: nothing about it may go back to `from`. */
  quiet?: boolean;
  /** Sent again (Router.again): when it first went to a session whose connection was then lost. Offline storage dates it then. */
  sentAt?: Date;
  /** Sent again (Router.again), and it had come from offline storage: it goes back to the front of the store, as it was, at this place (the ones put back before it first). */
  putBack?: number;
  /** Routed with DeliverOptions.forResend. */
  forResend?: boolean;
}

export interface RemoveOptions {
  /**
   * The session whose request this answers, and that iq: its result (or
   * error) is sent once the removal is durable (or failed).
   */
  asked?: { session: Session; iq: Element };
  /**
   * The file does not parse: it is deleted unread (jabberctl deluser
   * --force), so no records are handed on and no contact is told.
   */
  unread?: boolean;
}

export interface DeliverOptions {
  /**
   * Nothing about the stanza goes back to its sender: no error reply (the
   * recipient's storage full, no such user...), no reply from a handler, no
   * automatic answer (filter rules, offline events). For copies the server
   * makes on its own, whose recipient the sender must not learn (messages
   * to the host forwarded to the admins).
   */
  quiet?: boolean;
  /**
   * A handler's failure that is no refusal (a recipient's file that cannot
   * be read or written) is thrown to the caller, not logged and answered
   * with 500: for the server's own changes that must not be taken as done
   * when one of them failed (an account removal telling its contacts).
   */
  throwFailures?: boolean;
  /**
   * Sent on the way of a message being sent again (its offline event, its
   * error, and what a handler routes on their behalf: see onward()): it
   * does not wait for what its recipient's lost sessions send again (see
   * LeavingSessions.resendsUnderWay), which may be waiting for it.
   */
  forResend?: boolean;
}

/** Options for what a resend routes on its way. */
export const FOR_RESEND: DeliverOptions = { forResend: true };

/**
 * The options for what is routed on a delivery's behalf (an error, a
 * handler's reply, a filter rule's answer or forward): forResend, which
 * it would otherwise wait on, as a session's end can wait on it.
 */
export function onward(d: Pick<DeliverOptions, 'forResend'> | undefined): DeliverOptions | undefined {
  return d?.forResend ? FOR_RESEND : undefined;
}

export interface PhaseHandlers {
  /** Pre-session auth get: add this module's marker(s) to `reply` (the query). */
  'auth-get': (req: AuthRequest, reply: Element) => void;
  /** Pre-session auth set: 'handled' = credentials accepted; throw 401 for wrong ones; 'pass' = not mine. */
  'auth-set': (req: AuthRequest) => Promise<Outcome> | Outcome;
  /** Registration get/set (before or inside a session). Policy modules hook in front with a higher priority. */
  register: (req: RegisterRequest) => Promise<Outcome> | Outcome;
  /** Returns the records this module stores for a new password (null deletes one). */
  password: (ev: PasswordEvent) => Record<string, Element | null>;
  /** A successful login with the plaintext password (0k regenerates a spent chain). */
  'password-learned': (ev: PasswordEvent) => Promise<void> | void;
  'user-created': (ev: UserCreatedEvent) => Promise<void> | void;
  /**
   * An account is about to go, nothing done yet: a module that could not
   * do its part (mod_roster: a contact whose file cannot be read) throws,
   * and the removal is refused with nothing changed.
   */
  'user-removal-check': (ev: UserRemovedEvent) => Promise<void> | void;
  /**
   * An account is going: its sessions have ended and its file is still
   * there. Others are told here (mod_roster's contacts), so that a crash
   * before the removal leaves the account, not a removed name that its
   * contacts still hold and the next owner would inherit.
   */
  'user-removing': (ev: UserRemovedEvent) => Promise<void> | void;
  /** An account was removed, durably: forget the name. */
  'user-removed': (ev: UserRemovedEvent) => Promise<void> | void;
  /**
   * A stanza from a session, before routing (roster and presence work
   * here). One with no `to` is for the user's own account: not taken here,
   * it goes to the 'deliver' phase for the bare JID, never to 'server' (a
   * module answering such a request as the server does it here, as
   * mod_agents does). A StanzaError thrown here for a stanza with no `to`
   * comes from the user's bare JID.
   */
  'session-out': (stanza: Element, session: Session) => Promise<Outcome> | Outcome;
  /** A stanza addressed to a local host (or host/resource). */
  server: (d: Delivery) => Promise<Outcome> | Outcome;
  /** A stanza addressed to a local user, before it reaches a session. */
  deliver: (d: Delivery) => Promise<Outcome> | Outcome;
  /** A stanza for a local user that no session takes. */
  offline: (d: Delivery) => Promise<Outcome> | Outcome;
  'session-start': (session: Session) => Promise<void> | void;
  'session-end': (session: Session) => Promise<void> | void;
  /** A session's first available presence (offline messages, pending requests, motd). */
  'session-available': (session: Session) => Promise<void> | void;
  /**
   * The session can now take messages for the bare JID: its first available
   * presence with priority >= 0, or its priority rising from below 0.
   */
  'session-deliverable': (session: Session) => Promise<void> | void;
}

export type Phase = keyof PhaseHandlers;
export type NotificationPhase =
  | 'user-created'
  | 'user-removal-check'
  | 'user-removing'
  | 'user-removed'
  | 'password-learned'
  | 'session-available'
  | 'session-deliverable';

export interface ModuleApi {
  readonly config: YakConfig;
  readonly xdb: Xdb;
  readonly log: Logger;
  readonly sessions: SessionRegistry;
  /** Names of the loaded modules, in <load> order. */
  readonly loaded: readonly string[];
  /**
   * Registers a handler; a higher priority runs earlier (default 0, then
   * <load> order). In a stanza phase, `stanzas` limits it to those stanza
   * names (a handler for iq queries is then never called for messages).
   */
  on<P extends Phase>(phase: P, handler: PhaseHandlers[P], opts?: HandlerOptions): void;
  /** Routes a stanza with `from` and `to` set, as the server would route it from a client. */
  deliver(stanza: Element, opts?: DeliverOptions): Promise<void>;
  /**
   * Hands a stanza for a local user that no session takes to the 'offline'
   * phase (where mod_offline keeps it); resolves whether a module took it.
   */
  offline(d: Delivery): Promise<boolean>;
  isLocalHost(host: string): boolean;
  /**
   * The records to store for a new password: every loaded auth module's,
   * merged, over an empty jabber:iq:auth existence flag.
   */
  passwordRecords(ev: PasswordEvent): Record<string, Element | null>;
  /** Runs every handler of a notification phase. */
  notify<P extends NotificationPhase>(phase: P, ev: Parameters<PhaseHandlers[P]>[0]): Promise<void>;
  /**
   * Ends the user's sessions, fires 'user-removing', deletes the spool
   * file, fires 'user-removed'. See RemoveOptions.
   */
  removeUser(host: string, user: string, opts?: RemoveOptions): Promise<void>;
  /**
   * Whether the account is being removed: its sessions are ending or have
   * ended, and its file is about to go. What others would write into it
   * now (an offline message, a subscription request) would go with the
   * file unseen, so such writes check this under the user's lock and are
   * refused as for a user that does not exist.
   */
  removing(host: string, user: string): boolean;
}

export interface JsmModule {
  name: string;
  setup(api: ModuleApi): void;
}
