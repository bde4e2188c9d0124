// Tests of what the server does by monotonic time (util/time.ts,
// monotonicMs: performance.now) move that clock instead of waiting.
import type { TestContext } from 'node:test';

/**
 * Mocks performance.now for the rest of test `t`; the function returned
 * sets how far ahead of the real clock it runs (ms; 0 at first). Timers
 * are not moved: only what reads the clock sees the difference.
 */
export function leadMonotonicClock(t: TestContext): (leadMs: number) => void {
  const realNow = performance.now.bind(performance);
  let lead = 0;
  t.mock.method(performance, 'now', () => realNow() + lead);
  return (leadMs) => {
    lead = leadMs;
  };
}
