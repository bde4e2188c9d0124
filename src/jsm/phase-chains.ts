// Ordered handler lists per phase. Handlers run by priority (higher first),
// then in registration order, which is the config's <load> order.
import type { Outcome, Phase, PhaseHandlers } from './api.js';

interface Entry<P extends Phase> {
  handler: PhaseHandlers[P];
  priority: number;
  module: string;
}

export class PhaseChains {
  private readonly chains = new Map<Phase, Entry<Phase>[]>();

  add<P extends Phase>(phase: P, module: string, handler: PhaseHandlers[P], priority = 0): void {
    const list = this.chains.get(phase) ?? [];
    list.push({ handler, priority, module } as Entry<Phase>);
    // Stable sort keeps <load> order among equal priorities.
    list.sort((a, b) => b.priority - a.priority);
    this.chains.set(phase, list);
  }

  handlers<P extends Phase>(phase: P): PhaseHandlers[P][] {
    return (this.chains.get(phase) ?? []).map((e) => e.handler as PhaseHandlers[P]);
  }

  has(phase: Phase): boolean {
    return (this.chains.get(phase)?.length ?? 0) > 0;
  }

  /** Runs a stanza phase until a handler returns something other than 'pass'. */
  async first<P extends Phase>(phase: P, ...args: Parameters<PhaseHandlers[P]>): Promise<Outcome> {
    for (const h of this.handlers(phase)) {
      const out = await (h as (...a: Parameters<PhaseHandlers[P]>) => Outcome | Promise<Outcome>)(...args);
      if (out !== undefined && out !== 'pass') return out;
    }
    return 'pass';
  }

  /** Runs every handler of a notification phase, in order. */
  async all<P extends Phase>(phase: P, ...args: Parameters<PhaseHandlers[P]>): Promise<void> {
    for (const h of this.handlers(phase)) {
      await (h as (...a: Parameters<PhaseHandlers[P]>) => unknown)(...args);
    }
  }
}
