// jabber:x:delay, the legacy timestamp 1.4 put on a message that did not
// go straight from its sender to its reader (jutil_delay): stored offline,
// announced earlier, copied to the admins, or a record of when.
import { Element } from '../xml/element.js';
import { legacyStamp } from '../util/time.js';

const NS_DELAY = 'jabber:x:delay';

/** `<x xmlns='jabber:x:delay' from=FROM stamp=WHEN>REASON</x>` (WHEN: now by default); without `from` when undefined, empty without a reason. */
export function delayStamp(from: string | undefined, reason: string, when: Date = new Date()): Element {
  return new Element('x', { xmlns: NS_DELAY, from, stamp: legacyStamp(when) }, reason ? [reason] : []);
}

/** Whether a stanza carries a jabber:x:delay stamp. */
export function isDelayed(stanza: Element): boolean {
  return stanza.getChild('x', NS_DELAY) !== undefined;
}
