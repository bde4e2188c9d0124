// Work over many items with a bound on how much runs at once: a few lanes,
// each taking the next item when its last one is done.

/**
 * Runs `fn` over `items`, at most `width` at a time (in lanes, each taking
 * the next item in turn). After a failure no lane takes another item, and
 * the first failure is thrown only once the calls already running are
 * over: the caller never hears "failed" while its work still goes on.
 */
export async function eachLimited<T>(items: Iterable<T>, width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failure) {
      const r = it.next();
      if (r.done) return;
      try {
        await fn(r.value);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
  if (failure) throw failure.err;
}
