// A --timeout in seconds, as both CLIs take it: a decimal number (`30`,
// `0.5`), never what Number() would also read (`0x10`, `1e-300`, `+5`,
// `Infinity`), at least a millisecond and at most what setTimeout can wait
// (a longer wait fires at once).

/** The most a timer can wait, in ms (2^31 - 1). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The option's value in ms, or undefined when it is no such number. */
export function secondsOptionMs(given: string): number | undefined {
  const t = given.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return undefined;
  // Down, so that what is refused is what the message says: below 0.001 s.
  const ms = Math.floor(Number(t) * 1000);
  return ms >= 1 && ms <= MAX_TIMER_MS ? ms : undefined;
}
