// Work over many items with a bound on how much runs at once: a few lanes,
// each taking the next item when its last one is done.

/** Runs `fn` over `items`, at most `width` at a time (in lanes, each taking the next item in turn). */
export async function eachLimited<T>(items: Iterable<T>, width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  const lane = async (): Promise<void> => {
    for (let r = it.next(); !r.done; r = it.next()) await fn(r.value);
  };
  await Promise.all(Array.from({ length: width }, lane));
}
