// Sizes of a scenario run. The defaults make the full default run (Yak
// only: 7 scenarios x 3 runs) take a few minutes on the 2-core machine.

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
  /** Any single operation slower than this is an error. */
  opTimeoutMs: number;
  /** idle: wait after the last session opened before reading the server's memory. */
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
  opTimeoutMs: 10_000,
  settleMs: 2000,
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
