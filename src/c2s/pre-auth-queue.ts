// Stanzas that arrive before login wait here, in order, to be processed as
// if the session sent them once it exists (SPEC section 2). Bounded in
// count and bytes so an unauthenticated client cannot grow our memory.
import type { Element } from '../xml/element.js';

interface Waiting {
  stanza: Element;
  size: number;
  weight: number;
}

export class PreAuthQueue {
  private items: Waiting[] = [];
  private bytes = 0;
  private weights = 0;
  /**
   * How many stanzas at the head have had their turn: all of them, but
   * for those that arrived behind a request still being handled (a login
   * perhaps), which wait for it first (see settle()). Those are always
   * the last ones.
   */
  private settled = 0;

  constructor(
    private maxStanzas: number,
    private maxBytes: number,
  ) {}

  /** New bounds (SIGHUP): what already waits stays; a push must fit them. */
  setBounds(maxStanzas: number, maxBytes: number): void {
    this.maxStanzas = maxStanzas;
    this.maxBytes = maxBytes;
  }

  /**
   * False when the stanza does not fit: the caller ends the stream.
   * `size`: its characters (what the bounds count); `weight`: what it is
   * taken to hold in memory (see weigh() in stream-parser.ts). `settled`
   * false: it arrived behind a request still in hand, and the caller
   * calls settle() or shift() for it when its turn comes.
   */
  push(stanza: Element, size: number, weight = size, settled = true): boolean {
    if (this.items.length + 1 > this.maxStanzas || this.bytes + size > this.maxBytes) return false;
    this.items.push({ stanza, size, weight });
    this.bytes += size;
    this.weights += weight;
    if (settled) this.settled = this.items.length;
    return true;
  }

  /** The first stanza not settled had its turn, still before login: it waits for the login now. */
  settle(): void {
    this.settled = Math.min(this.settled + 1, this.items.length);
  }

  /** Takes the first stanza out (its turn came after the login), or undefined when the queue is empty. */
  shift(): Element | undefined {
    const [stanza] = this.take(1);
    this.settled = Math.max(0, this.settled - 1);
    return stanza;
  }

  /** Takes out the stanzas that had their turn, in arrival order (at login: those that came before it). */
  drainSettled(): Element[] {
    const out = this.take(this.settled);
    this.settled = 0;
    return out;
  }

  /** Drops every stanza (the stream closed: none will be handled). */
  clear(): void {
    this.items = [];
    this.bytes = 0;
    this.weights = 0;
    this.settled = 0;
  }

  /** The first `count` stanzas, out of the queue and its bounds, in arrival order. */
  private take(count: number): Element[] {
    const out = this.items.splice(0, count);
    for (const item of out) {
      this.bytes -= item.size;
      this.weights -= item.weight;
    }
    return out.map((item) => item.stanza);
  }

  /** What the stanzas waiting are taken to hold in memory. */
  get weight(): number {
    return this.weights;
  }
}
