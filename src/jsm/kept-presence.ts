// A session's kept presence as others get it later: 1.4's mod_presence_out
// stamped each presence it kept with jabber:x:delay (from the session, at
// the time it was sent), so a probe's answer, the user's other resources at
// login, a new subscriber and an admin's who show since when it holds.
// The stamp is made when the copy is, from Session.presenceAt: kept on
// every idle session, a stamp element would cost each a few hundred bytes.
import { attrsWith, Element } from '../xml/element.js';
import { addStamp, delayStamp } from './delay-stamp.js';
import type { Session } from './sessions.js';
import { clientChildText } from './client-children.js';

/**
 * The status the session's presence had when it ended, as 1.4's
 * js_session_end left it: the client's own goodbye's (undefined when it had
 * none), or, for a session still there, the reason it ended ("Disconnected",
 * "Replaced by new connection"...). Undefined for a session never seen, or
 * still invisible, which 1.4 kept no presence for.
 */
export function endStatus(s: Session): string | undefined {
  if (s.presence === undefined) return undefined;
  if (s.presence.attrs.type === 'unavailable') return clientChildText(s.presence, 'status');
  return s.data.get('invisible') ? undefined : s.endReason;
}

/** The session's kept presence with its stamp, `from` the session and `to` as given (none when undefined). */
export function keptPresence(s: Session, presence: Element, to: string | undefined): Element {
  const from = s.jid.toString();
  const kept = new Element('presence', attrsWith(presence.attrs, { from, to }), [...presence.children]);
  // Before any stamp the client put in its presence, where readers look first (see addStamp).
  addStamp(kept, delayStamp(from, '', new Date(s.presenceAt)));
  return kept;
}
