// A session's kept presence as others get it later: 1.4's mod_presence_out
// stamped each presence it kept with jabber:x:delay (from the session, at
// the time it was sent), so a probe's answer, the user's other resources at
// login, a new subscriber and an admin's who show since when it holds.
// The stamp is made when the copy is, from Session.presenceAt: kept on
// every idle session, a stamp element would cost each a few hundred bytes.
import { Element } from '../xml/element.js';
import { delayStamp } from './delay-stamp.js';
import type { Session } from './sessions.js';

/** The session's kept presence with its stamp, `from` the session and `to` as given (none when undefined). */
export function keptPresence(s: Session, presence: Element, to: string | undefined): Element {
  const from = s.jid.toString();
  return new Element('presence', { ...presence.attrs, from, to }, [...presence.children, delayStamp(from, '', new Date(s.presenceAt))]);
}
