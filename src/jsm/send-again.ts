// Handing a message sent again after a lost connection (Router.again) to
// a session of its user, whichever way it found that session: the Router
// at once, or offline storage when one became able to take it meanwhile.
import { SENT_BEFORE } from '../c2s/messages-in-doubt.js';
import type { Element } from '../xml/element.js';
import { addStamp, delayStamp } from './delay-stamp.js';
import type { Session } from './sessions.js';

/**
 * Sends `message`, first sent at `sentAt`, to `session`: stamped Resent
 * with that time, or, one that had come from offline storage (`fromStore`),
 * with its stamp from there alone. Marked so that, should this session's
 * connection be lost too, it is sent again the same way.
 */
export function sendAgain(session: Session, message: Element, sentAt: Date, fromStore: boolean): void {
  if (!fromStore) addStamp(message, delayStamp(session.jid.bare, 'Resent', sentAt));
  SENT_BEFORE.set(message, fromStore ? 'stored' : sentAt);
  session.send(message);
}
