// Small helpers for iqs: building replies, so modules never juggle
// to/from/id, and finding what a request is (isRequest), which module it is
// for (payloadIn: 1.4's rule, the first namespaced child's `xmlns`) and
// whose account it addresses (forAccount).
import type { Jid } from '../jid.js';
import { Element, type Node } from '../xml/element.js';
import type { SessionRegistry } from './sessions.js';

/** A result to `iq`: same id, to/from swapped, with the given children. */
export function iqResult(iq: Element, ...children: Node[]): Element {
  return new Element('iq', { type: 'result', id: iq.attrs.id, to: iq.attrs.from, from: iq.attrs.to }, children);
}

/**
 * Whether an iq's type is one of RFC 3920 9.2.3's four. Compared one by
 * one: it runs for every iq a client sends.
 */
export function isIqType(type: string | undefined): boolean {
  return type === 'get' || type === 'set' || type === 'result' || type === 'error';
}

/**
 * The iq's payload when it is in `ns`: its first child that names a
 * namespace, whatever that child is called, as 1.4 took it (jpacket's
 * `p->iq`, which each module's NSCHECK looked at). A later child in another
 * module's namespace does not make the iq that module's. With `name`, the
 * child must also be called that (the roster's <query>, whose items it reads).
 */
export function payloadIn(stanza: Element, ns: string, name?: string): Element | undefined {
  for (const c of stanza.children) {
    if (typeof c !== 'string' && c.attrs.xmlns !== undefined) return c.attrs.xmlns === ns && (name === undefined || c.name === name) ? c : undefined;
  }
  return undefined;
}

export function isRequest(stanza: Element): boolean {
  return stanza.name === 'iq' && (stanza.attrs.type === 'get' || stanza.attrs.type === 'set');
}

/**
 * Whether a request to a local user's `to` is for the account to answer
 * (last, browse): addressed to the bare JID, or to a resource that has no
 * session. COMPAT: 1.4 handed a stanza for a resource not connected to its
 * offline chain, where those modules answered, so a client asking with the
 * full JID of a chat partner who has since logged off gets the answer, not
 * a 503. A connected resource gets the request itself, as in 1.4. (vCard
 * does not use this: 1.4 answered it on the session's chain too.)
 */
export function forAccount(sessions: SessionRegistry, to: Jid): boolean {
  return to.resource === undefined || sessions.find(to.bare, to.resource) === undefined;
}
