// Small helpers for building iq replies, so modules never juggle to/from/id.
import { Element, type Node } from '../xml/element.js';

/** A result to `iq`: same id, to/from swapped, with the given children. */
export function iqResult(iq: Element, ...children: Node[]): Element {
  return new Element('iq', { type: 'result', id: iq.attrs.id, to: iq.attrs.from, from: iq.attrs.to }, children);
}

/** The iq's payload: its first child element (the query), if any. */
export function iqPayload(iq: Element): Element | undefined {
  return iq.elements[0];
}

export function isRequest(stanza: Element): boolean {
  return stanza.name === 'iq' && (stanza.attrs.type === 'get' || stanza.attrs.type === 'set');
}
