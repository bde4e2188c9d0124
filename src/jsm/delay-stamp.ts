// jabber:x:delay, the legacy timestamp 1.4 put on a message that did not
// go straight from its sender to its reader (jutil_delay): stored offline,
// announced earlier, copied to the admins, or a record of when.
import { childInNamespace, Element } from '../xml/element.js';
import { legacyStamp, legacyStampTime } from '../util/time.js';

const NS_DELAY = 'jabber:x:delay';
const NS_DELAY_XEP0203 = 'urn:xmpp:delay';

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
  // The same for XEP-0203's delay, which 1.4 did not know and newer
  // clients read first (slixmpp, libpurple): a sender's own
  // `<delay xmlns='urn:xmpp:delay' from='HOST' stamp='2001-...'>` passed for
  // the server's. Only then is the server's given in that form too: a
  // stanza without one goes out as 1.4 sent it.
  const modern = childInNamespace(stanza, NS_DELAY_XEP0203);
  if (modern >= 0) stanza.children.splice(modern, 0, xep0203Stamp(stamp));
}

/**
 * Takes away the stamp addStamp put on a stanza: its first jabber:x:delay,
 * and the XEP-0203 delay that says the same when there is one (addStamp
 * added it before the sender's own). For a message the server stamped and
 * then has to stamp again as it was.
 */
export function removeStamp(stanza: Element): void {
  const i = childInNamespace(stanza, NS_DELAY);
  if (i < 0) return;
  const twin = xep0203Stamp(stanza.children[i] as Element);
  stanza.children.splice(i, 1);
  const modern = childInNamespace(stanza, NS_DELAY_XEP0203);
  if (modern >= 0 && (stanza.children[modern] as Element).equals(twin)) stanza.children.splice(modern, 1);
}

/** The legacy stamp as XEP-0203 writes it: the same from, time (UTC, `YYYY-MM-DDTHH:MM:SSZ`) and reason. */
function xep0203Stamp(legacy: Element): Element {
  const t = legacy.attrs.stamp!;
  const stamp = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9)}Z`;
  return new Element('delay', { xmlns: NS_DELAY_XEP0203, from: legacy.attrs.from, stamp }, legacy.children.slice());
}

/** Whether a stanza carries a jabber:x:delay stamp, however written. */
export function isDelayed(stanza: Element): boolean {
  return childInNamespace(stanza, NS_DELAY) >= 0;
}

/** When the first jabber:x:delay stamp of a stanza says (the server's, on what the store keeps: see addStamp), in ms; undefined without one. */
export function firstStampTime(stanza: Element): number | undefined {
  const i = childInNamespace(stanza, NS_DELAY);
  if (i < 0) return undefined;
  const stamp = (stanza.children[i] as Element).attrs.stamp;
  return stamp === undefined ? undefined : legacyStampTime(stamp);
}
