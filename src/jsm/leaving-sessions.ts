// Sessions whose stream has closed but whose end has not run yet. The
// stream takes its session out of routing at once (what arrives for it
// goes to another session or offline), and ends it only once the stanzas
// it sent before closing are handled (C2sStream.cleanup), which can take a
// while: a spool write, a broadcast. Meanwhile the session is in no
// registry, yet it still acts: its goodbye presence is still to go out,
// and its stanzas in hand still change its roster and reach its contacts.
// So a login with the same full JID waits for that end (or the goodbye
// would follow the new session's presence, and its contacts would see it
// offline while it is online), and a removal of the account ends these
// sessions with the others (or what they still had in hand would reach
// contacts after they were told the account is gone). And a message for
// the account that no session takes waits, before going into offline
// storage, for the ends under way that send again what a lost connection
// may not have delivered (see resendsUnderWay).
import type { Jid } from '../jid.js';
import type { Session } from './sessions.js';
import { deferred, type Deferred } from '../util/deferred.js';

interface Leaving extends Deferred {
  /** Its end sends again the messages its connection may not have delivered. */
  resends: boolean;
}

export class LeavingSessions {
  /** By bare JID: each leaving session and what its end resolves. */
  private readonly byBare = new Map<string, Map<Session, Leaving>>();

  /**
   * The session's stream closed: it leaves once its end has run (see
   * ended). `resends`: its end, under way, sends again what its connection
   * may not have delivered (a session that had not closed leaves too).
   */
  add(s: Session, resends = false): void {
    let leaving = this.byBare.get(s.jid.bare);
    if (!leaving) this.byBare.set(s.jid.bare, (leaving = new Map()));
    const known = leaving.get(s);
    if (known) known.resends ||= resends;
    else leaving.set(s, { ...deferred(), resends });
  }

  /** The session's end has run (or it never was leaving): whoever waited for it goes on. */
  ended(s: Session): void {
    const leaving = this.byBare.get(s.jid.bare);
    const entry = leaving?.get(s);
    if (!entry) return;
    leaving!.delete(s);
    if (leaving!.size === 0) this.byBare.delete(s.jid.bare);
    entry.resolve();
  }

  /** The account's sessions still leaving. */
  of(bare: string): Session[] {
    return [...(this.byBare.get(bare)?.keys() ?? [])];
  }

  /**
   * Resolves once no session of this account is ending with messages to
   * send again; undefined when none is, which is nearly always. Stored
   * while those are still to be sent, a message would come before them in
   * the store, which orders what is sent again by its stamps, in whole
   * seconds (see placeOf in mod_offline). Marked when the end starts, not
   * when the stream closed: the stanzas a closed session still has in hand
   * may be messages for this very account (an error coming back), which
   * would wait for the end that waits for them.
   */
  resendsUnderWay(bare: string): Promise<unknown> | undefined {
    const leaving = this.byBare.get(bare);
    if (!leaving) return undefined;
    const ends = [...leaving.values()].filter((l) => l.resends).map((l) => l.promise);
    return ends.length > 0 ? Promise.all(ends) : undefined;
  }

  /** Resolves once no session with this full JID is leaving. */
  async gone(jid: Jid): Promise<void> {
    for (const [s, end] of this.byBare.get(jid.bare) ?? []) if (s.resource === jid.resource) await end.promise;
  }
}
