// Account removals: every trace of a user goes (sessions end, contacts are
// told, the spool file goes), one removal per name at a time, and logins
// still in flight learn of it (see RecentRemovals).
import type { Element } from '../xml/element.js';
import type { RemoveOptions } from './api.js';
import { iqResult } from './iq.js';
import { RecentRemovals } from './recent-removals.js';
import type { SessionManager } from './session-manager.js';
import type { Session } from './sessions.js';
import { asStanzaError, errorReply, stanzaError } from './stanza-errors.js';
import { SpoolClosedError } from '../xdb/xdb.js';

type Asker = NonNullable<RemoveOptions['asked']>;

/** 1.4's reason when it ended the sessions of a removed account. */
export const REMOVED = 'Removed';

/** An account removal under way. */
interface Removal {
  /** The sessions whose request it answers: a result once removed, an error if it failed. */
  askers: Asker[];
  removed: boolean;
  /**
   * Its 'user-removal-check' is running: nothing is done yet and it may
   * still be refused, so the account is not yet taken for gone.
   */
  checking: boolean;
  done: Promise<void>;
}

/**
 * How long the streams of a removed account stay open after their
 * askers' answer. Net::XMPP (Net::Jabber, the book's library) drops an
 * answer that it reads together with the stream's end, and reported every
 * removal as failed; 50 ms apart they come in separate reads.
 */
const ANSWER_FIRST_MS = 50;

export class AccountRemovals {
  /** Account removals under way, by bare JID: at most one per name. */
  private readonly removals = new Map<string, Removal>();
  /** Removals ended lately, numbered: a login notes their count when it reads the password. */
  private readonly recentRemovals = new RecentRemovals();
  /** The removal that ended each session it ended. */
  private readonly endedBy = new WeakMap<Session, Removal>();

  /** `jsm`: its sessions, storage and chains (one AccountRemovals per session manager). */
  constructor(private readonly jsm: SessionManager) {}

  /** Removals ended so far: what a login notes when it reads the password. */
  get count(): number {
    return this.recentRemovals.count;
  }

  /** Removals under way now (for the stop's log line). */
  get running(): number {
    return this.removals.size;
  }

  /** Whether `bare`'s account is being removed now (past its check). */
  underWay(bare: string): boolean {
    const removal = this.removals.get(bare);
    return removal !== undefined && !removal.checking;
  }

  /** Whether `bare`'s account is being removed, or was after a login noted `removals`. */
  removedSince(bare: string, removals: number): boolean {
    return this.underWay(bare) || this.recentRemovals.endedSince(bare, removals);
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
    const asker = opts.asked;
    // A request from a session a removal ended is that removal's, never a
    // new one: the name may be another account's by now.
    const endedBy = asker && this.endedBy.get(asker.session);
    if (endedBy) {
      if (endedBy.removed) asker.session.transport.send(iqResult(asker.iq));
      else if (this.removals.get(bare) === endedBy) endedBy.askers.push(asker);
      return endedBy.done;
    }
    const running = this.removals.get(bare);
    if (running) {
      if (asker) running.askers.push(asker);
      return running.done;
    }
    const removal: Removal = { askers: asker ? [asker] : [], removed: false, checking: opts.unread !== true, done: Promise.resolve() };
    this.removals.set(bare, removal);
    removal.done = this.remove(host, user, removal, opts.unread === true).finally(() => this.over(bare, removal));
    return removal.done;
  }

  /**
   * Finishes the removals a crash or a stop cut short (Xdb.listedRemovals),
   * in the background; call at startup, once the journal is replayed and
   * before clients are let in. One whose file is gone already (the crash
   * came after the deletion) is only struck off: the name is free. Each
   * other is under way (see underWay) once this resolves. A list that
   * cannot be read at all (a file the server may not read) rejects: the
   * start fails, saying so, rather than registering names it may hold.
   */
  async resume(): Promise<void> {
    const log = this.jsm.log;
    // One not Yak's writing is moved aside, and the store logs it.
    const { listed } = await this.jsm.xdb.listedRemovals();
    for (const { host, user } of listed) {
      const bare = `${user}@${host}`;
      if (!this.jsm.isLocalHost(host)) {
        log.warn({ user: bare }, 'an account removal cut short is left unfinished: its host is not served');
        continue;
      }
      // A file that cannot be read keeps the removal listed for a start that can.
      const exists = await this.jsm.xdb.exists(host, user).catch((err: unknown) => {
        log.error({ err, user: bare }, 'an account removal cut short is left unfinished: the account cannot be read');
        return undefined;
      });
      if (exists === undefined) continue;
      if (!exists) {
        await this.forget(host, user);
        continue;
      }
      // Struck off while exists() was read: the name is a new account's
      // (jabberctl adduser, whose create() strikes it off first).
      if (!this.jsm.xdb.removalListed(host, user)) continue;
      log.warn({ user: bare }, 'finishing an account removal that a crash or a stop cut short');
      this.removeUser(host, user).then(
        () => log.info({ user: bare }, 'account removed'),
        (err: unknown) => log.error({ err, user: bare }, 'account removal not finished; the account stays'),
      );
    }
  }

  /** Resolves once every removal under way now has ended (done or failed). */
  idle(): Promise<void> {
    return Promise.allSettled([...this.removals.values()].map((r) => r.done)).then(() => undefined);
  }

  /** Xdb.forgetRemoval, logged when it fails: the next start then finds the account gone, or finishes it. */
  private async forget(host: string, user: string): Promise<void> {
    await this.jsm.xdb.forgetRemoval(host, user).catch((err: unknown) => this.jsm.log.warn({ err, user: `${user}@${host}` }, 'account removal not struck from the list of removals under way'));
  }

  /**
   * Whether a session a removal ended may still send it a <remove/> of its
   * own, to be answered with the removal's outcome (see removeUser).
   */
  answers(session: Session): boolean {
    const by = this.endedBy.get(session);
    return by !== undefined && (by.removed || this.removals.get(session.jid.bare) === by);
  }

  /**
   * The removal is over for everyone but its own sessions: counted, so
   * that logins in flight that read the password before are refused (one
   * that failed costs them a retry), and the name is free. Called as soon
   * as the file is gone, not after the answers' pause: an account
   * registered under the name at once must take messages and logins.
   */
  private over(bare: string, removal: Removal): void {
    if (this.removals.get(bare) !== removal) return;
    // One refused by its check never took the account for gone.
    if (!removal.checking) this.recentRemovals.note(bare);
    this.removals.delete(bare);
  }

  private async remove(host: string, user: string, removal: Removal, unread: boolean): Promise<void> {
    const bare = `${user}@${host}`;
    // What would stop the removal half way (a contact's file that cannot
    // be read) refuses it first, with its sessions and every contact as
    // they were.
    if (removal.checking) {
      try {
        await this.jsm.chains.all('user-removal-check', { host, user, records: await this.jsm.xdb.getAll(host, user) });
      } catch (err) {
        const why = asStanzaError(err) ?? stanzaError('internal-server-error');
        for (const a of removal.askers) a.session.transport.send(errorReply(a.iq, why));
        // Refused and said so: one a crash had listed (resumed at start) is struck off, as a failed one is.
        if (!(err instanceof SpoolClosedError)) await this.forget(host, user);
        throw err;
      }
      removal.checking = false;
    }
    // Sessions end before the file goes: session-end handlers write to the
    // spool (mod_last's logout record) and would bring the file back. The
    // result and the streams' end come only after the file is gone: a
    // client told "removed" must not find the account again after a crash.
    // (Its session has ended by then, so the answer goes to its transport.)
    // Those whose stream closed with stanzas still in hand too: ended now,
    // what they had left is dropped, not carried out after the contacts
    // are told the account is gone.
    const sessions = [...this.jsm.sessions.of(bare), ...this.jsm.leaving.of(bare)];
    for (const s of sessions) this.endedBy.set(s, removal);
    try {
      for (const s of sessions) await this.jsm.endSession(s, REMOVED);
      const records = unread ? new Map<string, Element>() : await this.jsm.xdb.getAll(host, user);
      // Contacts are told while the file is still there: a crash in between
      // leaves an account the user was not told is gone, never a removed
      // name that contacts still hold (and its next owner would inherit).
      // Noted first, so that a removal a crash or stop cuts short, some
      // contacts told and the account's own roster still naming them, is
      // finished at the next start (see resume()).
      if (!unread) await this.jsm.xdb.noteRemoval(host, user);
      await this.jsm.chains.all('user-removing', { host, user, records });
      await this.jsm.xdb.remove(host, user);
      removal.removed = true;
      this.over(bare, removal);
      for (const a of removal.askers) a.session.transport.send(iqResult(a.iq));
      await this.forget(host, user);
      await this.jsm.chains.all('user-removed', { host, user, records });
    } catch (err) {
      // Not removed (a full disk): the askers hear why before their streams end.
      if (!removal.removed) {
        const why = asStanzaError(err) ?? stanzaError('internal-server-error');
        for (const a of removal.askers) a.session.transport.send(errorReply(a.iq, why));
        // Failed and said so: the account stays, as its user was told. Cut
        // short by the stop (the spool closing under it), it is finished at
        // the next start instead.
        if (!(err instanceof SpoolClosedError)) await this.forget(host, user);
      }
      throw err;
    } finally {
      if (removal.removed && removal.askers.length > 0) await new Promise((resolve) => setTimeout(resolve, ANSWER_FIRST_MS));
      for (const s of sessions) s.transport.close(removal.removed ? 'account-removed' : 'internal-server-error');
    }
  }
}
