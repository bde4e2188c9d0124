// The children of a stanza in its own namespace, jabber:client: <body>,
// <subject>, <thread>, <priority>, <show>. A client may write one with a
// prefix (<b:body xmlns:b='jabber:client'>), which slixmpp and xmpp4r read
// as the body. Readers differ on a <body xmlns='urn:other'>: slixmpp skips
// it, xmpp4r and libstrophe take the first element named body whatever its
// namespace. What the server decides on (a filter rule, the priority it
// routes by) must hold for every reading (see shownTexts, mod_presence).
import { isNamed, localName, type Element, type Node } from '../xml/element.js';

export const NS_CLIENT = 'jabber:client';

/** Whether a child of a stanza is the element `local` in `ns`, however written (unprefixed, it stands in jabber:client). */
export function isStanzaChild(c: Node, local: string, ns: string): c is Element {
  return typeof c !== 'string' && isNamed(c, local, ns, NS_CLIENT);
}

/** Whether a child of a stanza is its `local` element (in jabber:client, however written). */
export function isClientChild(c: Node, local: string): c is Element {
  return isStanzaChild(c, local, NS_CLIENT);
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

/** Whether a child has the local name `local`, in whatever namespace. */
export function hasLocalName(c: Node, local: string): c is Element {
  return typeof c !== 'string' && localName(c) === local;
}

/**
 * The texts a client may show as the stanza's `local` (body, subject): the
 * jabber:client one however written, and the first of that name in any
 * namespace (xmpp4r's and libstrophe's reading), when they differ.
 */
export function shownTexts(stanza: Element, local: string): string[] {
  const texts: string[] = [];
  const own = clientChild(stanza, local);
  if (own) texts.push(own.text());
  const first = stanza.children.find((c): c is Element => hasLocalName(c, local));
  if (first && first !== own) texts.push(first.text());
  return texts;
}
