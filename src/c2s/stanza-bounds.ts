// What a client may send beyond the configured limits (<limits> sets the
// characters and the depth): which stanzas, how many nodes one may have,
// and how large a presence may be (and the error one over it gets).
import { unaddressed } from '../jsm/pre-session.js';
import { errorReply, stanzaError } from '../jsm/stanza-errors.js';
import { attrsWith, Element } from '../xml/element.js';

/** What a client may send: anything else (a <stream:error>, a prefixed name) would be routed to someone's stream as is. */
export const STANZAS = new Set(['message', 'presence', 'iq']);

/**
 * Elements and text pieces one stanza may have, before and after login.
 * The character bounds alone let a client make the server hold 30 times
 * their size (a stanza of 16,000 `<b/>`): a login or registration needs a
 * few dozen; a session's largest (a vCard with a photo, private storage
 * of many bookmarks) a few thousand.
 */
export const PRE_AUTH_NODES = 1000;
export const SESSION_NODES = 20_000;
/**
 * The largest presence a session may send, in characters and nodes: the
 * server keeps each session's last one and hands it to every contact that
 * probes, and a client's contacts' presences all come at its login at
 * once. A status line, a priority, an avatar hash or a signature take a
 * few hundred characters; 1.4 set no bound.
 */
const MAX_PRESENCE_CHARS = 16 * 1024;
const MAX_PRESENCE_NODES = 200;
/**
 * Whether a presence is over the bounds, as received or as it will be
 * sent: escaped, a character may take six (`'` is `&apos;`), so one that
 * could have grown past the bound is measured serialized.
 */
export function presenceTooLarge(presence: Element, size: number, nodes: number): boolean {
  if (size > MAX_PRESENCE_CHARS || nodes > MAX_PRESENCE_NODES) return true;
  return size * 6 > MAX_PRESENCE_CHARS && presence.toString().length > MAX_PRESENCE_CHARS;
}

/**
 * The error for a presence over the bounds, from its attributes alone,
 * addressed as its turn finds the stream: `from`, the session's full JID,
 * as the session manager's errors are (the client's own `from` is never
 * echoed); before login (no `from`), with no address at all, as every
 * reply before a session (SPEC section 2).
 */
export function presenceTooLargeBounce(attrs: Record<string, string>, from: string | undefined): Element {
  const bounce = errorReply(new Element('presence', attrsWith(attrs, { from })), stanzaError('not-acceptable', 'Presence Too Large'));
  return from ? bounce : unaddressed(bounce);
}
