// Steps the wall clock, as NTP at boot or a resumed VM does, for code that
// reads it through `new Date()` or `Date.now()`; the monotonic clock
// (performance.now) is left alone, as such a step leaves it.

/** Moves the wall clock by `ms` (negative: back) until the returned function is called. */
export function stepWallClock(ms: number): () => void {
  const RealDate = Date;
  class SteppedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + ms);
      else super(...(args as [string | number | Date]));
    }

    static override now(): number {
      return RealDate.now() + ms;
    }
  }
  globalThis.Date = SteppedDate as DateConstructor;
  return () => {
    globalThis.Date = RealDate;
  };
}
