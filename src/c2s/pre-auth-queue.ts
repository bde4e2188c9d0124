// Stanzas that arrive before login wait here, in order, to be processed as
// if the session sent them once it exists (SPEC section 2). Bounded in
// count and bytes so an unauthenticated client cannot grow our memory.
import type { Element } from '../xml/element.js';

export class PreAuthQueue {
  private items: Element[] = [];
  private bytes = 0;
  private weights = 0;

  constructor(
    private readonly maxStanzas: number,
    private readonly maxBytes: number,
  ) {}

  /**
   * False when the stanza does not fit: the caller ends the stream.
   * `size`: its characters (what the bounds count); `weight`: what it is
   * taken to hold in memory (see weigh() in stream-parser.ts).
   */
  push(stanza: Element, size: number, weight = size): boolean {
    if (this.items.length + 1 > this.maxStanzas || this.bytes + size > this.maxBytes) return false;
    this.items.push(stanza);
    this.bytes += size;
    this.weights += weight;
    return true;
  }

  /** Empties the queue, returning its stanzas in arrival order. */
  drain(): Element[] {
    const out = this.items;
    this.items = [];
    this.bytes = 0;
    this.weights = 0;
    return out;
  }

  get length(): number {
    return this.items.length;
  }

  /** What the stanzas waiting are taken to hold in memory. */
  get weight(): number {
    return this.weights;
  }
}
