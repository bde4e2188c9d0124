// Sizes of a scenario run. The defaults make the full default run (Yak
// only: 7 scenarios x 3 runs) take a few minutes on the 2-core machine.

/** The operations of the mixed scenario. */
export type MixKind = 'message' | 'presence' | 'roster' | 'login';
const MIX_KINDS: readonly MixKind[] = ['message', 'presence', 'roster', 'login'];

/** Operation weights of the mixed scenario (they sum to 1). */
export type Mix = readonly (readonly [MixKind, number])[];

/** The mix the mixed target is measured with. */
export const DEFAULT_MIX: Mix = [
  ['message', 0.4],
  ['presence', 0.25],
  ['roster', 0.25],
  ['login', 0.1],
];

export interface ScenarioOptions {
  /** Timed window, ms. */
  durationMs: number;
  /**
   * Load before the window, ms; not counted. Yak needs about 3 s after its
   * pool was registered to reach its steady state (JIT, caches, the writes
   * and garbage the registrations leave behind): with 1 s its login rate
   * came out 30-40% lower.
   */
  warmupMs: number;
  /** register / login: connections in flight. */
  concurrency: number;
  /** login-*: pre-registered users (split between the workers). */
  pool: number;
  /** idle: sessions to hold. */
  sessions: number;
  /** Parallel connections when registering pools and opening sessions (untimed). */
  setupConcurrency: number;
  /** message: session pairs. */
  pairs: number;
  /** message: messages in flight per direction of a pair. */
  window: number;
  /** mixed: sessions (in a ring of mutual subscriptions). */
  mixedSessions: number;
  /** mixed: the operations and their weights. */
  mix: Mix;
  /** Any single operation slower than this is an error. */
  opTimeoutMs: number;
  /**
   * idle: wait after the last session opened before reading the server's
   * memory. Two minutes: what a server holds for quiet sessions once it
   * is done with the burst of logins. A Node server's heap is given back
   * by V8's memory reducer, which in Yak's runs came 33 to 55 s after the
   * last session opened, once beyond 60 s, and which V8 forces at the
   * latest 100 s after the last full collection (its watchdog); Yak lets
   * go of what quiet sessions hold after 5 to 10 s, and turns their users'
   * files to text over 25 s more at 10,000 sessions (see QUIET_SWEEP_MS in
   * src/server.ts).
   */
  settleMs: number;
  /** Upper bound on operations started in one run (a safety net; never reached at sane speeds). */
  maxOps: number;
}

export const DEFAULT_OPTIONS: ScenarioOptions = {
  durationMs: 5000,
  warmupMs: 3000,
  concurrency: 32,
  pool: 512,
  sessions: 10_000,
  setupConcurrency: 64,
  pairs: 50,
  window: 5,
  mixedSessions: 200,
  mix: DEFAULT_MIX,
  opTimeoutMs: 10_000,
  settleMs: 120_000,
  maxOps: 50_000_000,
};

/** --quick: one short run of each scenario, smaller pools. */
export const QUICK_OPTIONS: Partial<ScenarioOptions> = {
  durationMs: 2000,
  warmupMs: 1000,
  pool: 256,
  sessions: 2000,
  mixedSessions: 100,
  settleMs: 1000,
};

/** The smoke test's sizes: about a second per scenario. */
export const SMOKE_OPTIONS: Partial<ScenarioOptions> = {
  durationMs: 700,
  warmupMs: 100,
  concurrency: 4,
  pool: 16,
  sessions: 50,
  setupConcurrency: 16,
  pairs: 4,
  window: 2,
  mixedSessions: 8,
  opTimeoutMs: 5000,
  settleMs: 100,
};

/**
 * `--mix message:2,login:1` -> weights that sum to 1. A kind left out is
 * not done; a kind named twice, an unknown kind or a weight that is not a
 * positive number is an error (thrown, with what was wrong).
 */
export function parseMix(text: string): Mix {
  const seen = new Map<MixKind, number>();
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*:\s*([0-9]*\.?[0-9]+)\s*$/.exec(part);
    if (!m) throw new Error(`"${part.trim()}" is not KIND:WEIGHT (such as message:2)`);
    const kind = m[1] as MixKind;
    if (!MIX_KINDS.includes(kind)) throw new Error(`unknown operation "${m[1]}" (known: ${MIX_KINDS.join(', ')})`);
    if (seen.has(kind)) throw new Error(`"${kind}" is named twice`);
    const weight = Number(m[2]);
    if (!(weight > 0)) throw new Error(`the weight of "${kind}" must be above 0`);
    seen.set(kind, weight);
  }
  const total = [...seen.values()].reduce((a, b) => a + b, 0);
  return [...seen].map(([k, w]) => [k, w / total] as const);
}

/** True when `mix` is the (the mixed target is judged only then). */
export function isDefaultMix(mix: Mix): boolean {
  return mix.length === DEFAULT_MIX.length && mix.every(([k, w], i) => DEFAULT_MIX[i]![0] === k && Math.abs(DEFAULT_MIX[i]![1] - w) < 1e-9);
}

/** "message 40%, presence 25%, ...": the mix as the report states it. */
export function describeMix(mix: Mix): string {
  return mix.map(([k, w]) => `${k === 'roster' ? 'roster get' : k} ${Number((w * 100).toFixed(1))}%`).join(', ');
}
