// jabber:x:delay, the legacy timestamp 1.4 put on a message that did not
// go straight from its sender to its reader (jutil_delay): stored offline,
// announced earlier, copied to the admins, or a record of when.
import { childInNamespace, Element } from '../xml/element.js';
import { legacyStamp } from '../util/time.js';

const NS_DELAY = 'jabber:x:delay';

/** `<x xmlns='jabber:x:delay' from=FROM stamp=WHEN>REASON</x>` (WHEN: now by default); without `from` when undefined, empty without a reason. */
export function delayStamp(from: string | undefined, reason: string, when: Date = new Date()): Element {
  return new Element('x', { xmlns: NS_DELAY, from, stamp: legacyStamp(when) }, reason ? [reason] : []);
}

/**
 * Adds the server's stamp to a sender's stanza kept or passed on for later:
 * at the end, as 1.4 did, unless a jabber:x:delay is already there (the
 * sender's own, or the admins' copy's), when it goes before the first of
 * those. Readers take the first (xmpp4r's Message#x, Net::XMPP's GetX): a
 * sender's `<x xmlns='jabber:x:delay' stamp='20010101T00:00:00'>Offline Storage</x>`
 * would otherwise pass for the server's, and date the message years back.
 */
export function addStamp(stanza: Element, stamp: Element): void {
  // Any child in the namespace, a prefixed `<d:x xmlns:d='jabber:x:delay'>` too: namespace-aware readers take that one as well.
  const first = childInNamespace(stanza, NS_DELAY);
  if (first < 0) stanza.children.push(stamp);
  else stanza.children.splice(first, 0, stamp);
}

/** Whether a stanza carries a jabber:x:delay stamp, however written. */
export function isDelayed(stanza: Element): boolean {
  return childInNamespace(stanza, NS_DELAY) >= 0;
}
