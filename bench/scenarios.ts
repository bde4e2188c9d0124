// The harness's programmatic API: run one scenario against a server that
// already listens on 127.0.0.1 (bench/run.ts starts a fresh one per run;
// the smoke test calls this directly).
import { SCENARIOS, UnsupportedError, type ScenarioName, type ScenarioResult } from './meter.js';
import { DEFAULT_OPTIONS, type ScenarioOptions } from './options.js';
import { runIdle, runMessage, runMixed } from './scenario-sessions.js';
import { runLogin, runRegister } from './scenario-short.js';
import type { Endpoint } from './setup.js';

export { SCENARIOS, UnsupportedError, type ScenarioName, type ScenarioResult, type Endpoint, type ScenarioOptions };

export function isScenario(name: string): name is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(name);
}

/**
 * Runs `scenario` once against `ep`. Rejects with UnsupportedError when
 * the server does not offer what the scenario needs, and with an Error
 * when its untimed setup fails; errors during the load itself are counted
 * in the result instead.
 */
export async function runScenario(scenario: ScenarioName, ep: Endpoint, options: Partial<ScenarioOptions> = {}): Promise<ScenarioResult> {
  const opts: ScenarioOptions = { ...DEFAULT_OPTIONS, ...options };
  switch (scenario) {
    case 'register':
      return runRegister(ep, opts);
    case 'login-plain':
      return runLogin(ep, 'plain', opts);
    case 'login-digest':
      return runLogin(ep, 'digest', opts);
    case 'login-0k':
      return runLogin(ep, '0k', opts);
    case 'idle':
      return runIdle(ep, opts);
    case 'message':
      return runMessage(ep, opts);
    case 'mixed':
      return runMixed(ep, opts);
  }
}
