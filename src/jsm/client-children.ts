// The children of a stanza in its own namespace, jabber:client: <body>,
// <subject>, <thread>, <priority>, <show>. A client may write one with a
// prefix (<b:body xmlns:b='jabber:client'>), and a namespace-aware client
// library (xmpp4r, slixmpp) reads that as the body, and does not read a
// <body xmlns='urn:other'> as one. What the server decides on (a filter
// rule, the priority it routes by) must be what the client reads.
import { isNamed, type Element, type Node } from '../xml/element.js';

export const NS_CLIENT = 'jabber:client';

/** Whether a child of a stanza is its `local` element (in jabber:client, however written). */
export function isClientChild(c: Node, local: string): c is Element {
  return typeof c !== 'string' && isNamed(c, local, NS_CLIENT, NS_CLIENT);
}

/** The stanza's first `local` child, however written. */
export function clientChild(stanza: Element, local: string): Element | undefined {
  for (const c of stanza.children) if (isClientChild(c, local)) return c;
  return undefined;
}

/** That child's text, or undefined when there is none. */
export function clientChildText(stanza: Element, local: string): string | undefined {
  return clientChild(stanza, local)?.text();
}
