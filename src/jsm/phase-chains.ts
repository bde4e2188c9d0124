// Ordered handler lists per phase. Handlers run by priority (higher first),
// then in registration order, which is the config's <load> order. A handler
// of a stanza phase may name the stanzas it is for (`stanzas: ['iq']`): it
// is then never called for the others, so a chat message does not walk
// past every iq module on its way.
import type { Outcome, Phase, PhaseHandlers } from './api.js';
import type { Element } from '../xml/element.js';

export interface HandlerOptions {
  priority?: number;
  /** Stanza phases only: the stanza names (message, presence, iq) this handler is for; default all. */
  stanzas?: readonly string[];
}

interface Entry {
  handler: (...args: never[]) => unknown;
  priority: number;
  module: string;
  stanzas: readonly string[] | undefined;
}

type AnyHandler = (...args: unknown[]) => Outcome | Promise<Outcome>;

/** Only these names get a remembered list; anything else is filtered per call. */
const COMMON_STANZAS = new Set(['message', 'presence', 'iq']);

/** True when a handler took the stanza (anything but 'pass' or nothing). */
export function decided(out: Outcome): out is 'handled' | Element {
  return out !== undefined && out !== 'pass';
}

export class PhaseChains {
  private readonly chains = new Map<Phase, Entry[]>();
  /** Per phase, per common stanza name, the handlers that take it (rebuilt after add). */
  private readonly forStanza = new Map<Phase, Map<string, AnyHandler[]>>();

  add<P extends Phase>(phase: P, module: string, handler: PhaseHandlers[P], opts: HandlerOptions = {}): void {
    const list = this.chains.get(phase) ?? [];
    list.push({ handler, priority: opts.priority ?? 0, module, stanzas: opts.stanzas });
    // Stable sort keeps <load> order among equal priorities.
    list.sort((a, b) => b.priority - a.priority);
    this.chains.set(phase, list);
    this.forStanza.clear();
  }

  handlers<P extends Phase>(phase: P): PhaseHandlers[P][] {
    return (this.chains.get(phase) ?? []).map((e) => e.handler as PhaseHandlers[P]);
  }

  /** Runs a phase until a handler returns something other than 'pass'. */
  first<P extends Phase>(phase: P, ...args: Parameters<PhaseHandlers[P]>): Outcome | Promise<Outcome> {
    return runUntilDecided(this.handlers(phase) as AnyHandler[], args, 0);
  }

  /** Same as first(), with only the handlers that take stanzas named `stanza`. */
  firstFor<P extends Phase>(phase: P, stanza: string, ...args: Parameters<PhaseHandlers[P]>): Outcome | Promise<Outcome> {
    return runUntilDecided(this.handlersFor(phase, stanza), args, 0);
  }

  /** Runs every handler of a notification phase, in order. */
  async all<P extends Phase>(phase: P, ...args: Parameters<PhaseHandlers[P]>): Promise<void> {
    for (const h of this.handlers(phase)) {
      await (h as (...a: Parameters<PhaseHandlers[P]>) => unknown)(...args);
    }
  }

  private handlersFor(phase: Phase, stanza: string): AnyHandler[] {
    let byName = this.forStanza.get(phase);
    const known = byName?.get(stanza);
    if (known) return known;
    const list = (this.chains.get(phase) ?? [])
      .filter((e) => e.stanzas === undefined || e.stanzas.includes(stanza))
      .map((e) => e.handler as AnyHandler);
    if (COMMON_STANZAS.has(stanza)) {
      if (!byName) this.forStanza.set(phase, (byName = new Map()));
      byName.set(stanza, list);
    }
    return list;
  }
}

/** Calls handlers in order from `i`; awaits only those that return a promise. */
function runUntilDecided(list: AnyHandler[], args: unknown[], i: number): Outcome | Promise<Outcome> {
  for (; i < list.length; i++) {
    const out = list[i]!(...args);
    if (out instanceof Promise) {
      const next = i + 1;
      return out.then((o: Outcome) => (decided(o) ? o : runUntilDecided(list, args, next)));
    }
    if (decided(out)) return out;
  }
  return 'pass';
}
