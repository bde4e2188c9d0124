// A promise and the function that resolves it: for holding a race's window
// open in a test (a wrapped store call waits on one, the test opens it).
import { deferred } from '../../src/util/deferred.js';

export interface Latch {
  promise: Promise<void>;
  open: () => void;
}

/** src/util/deferred.ts's, named for what a test does with it. */
export function latch(): Latch {
  const { promise, resolve } = deferred();
  return { promise, open: resolve };
}

/** A method held by holdCalls(). */
export interface HeldCalls {
  /** Resolves once a matching call is held. */
  reached: Promise<void>;
  /** Lets the held calls (and later ones) go on. */
  release(): void;
  /** What the matching calls returned once they went on, in order. */
  results: Promise<unknown>[];
  /** Puts the method back. */
  restore(): void;
}

/**
 * Holds the calls of `obj[method]` that `match` picks until release(),
 * the window of a race: the test does what must land inside it meanwhile.
 */
export function holdCalls<T extends object, K extends keyof T>(
  obj: T,
  method: K,
  match: T[K] extends (...args: infer A) => unknown ? (...args: A) => boolean : never,
): HeldCalls {
  const original = obj[method] as (...args: unknown[]) => unknown;
  const reached = latch();
  const released = latch();
  const results: Promise<unknown>[] = [];
  const wrapper = async (...args: unknown[]): Promise<unknown> => {
    if (!(match as (...a: unknown[]) => boolean)(...args)) return original.apply(obj, args);
    reached.open();
    await released.promise;
    const result = Promise.resolve(original.apply(obj, args));
    results.push(result);
    return result;
  };
  obj[method] = wrapper as T[K];
  return { reached: reached.promise, release: released.open, results, restore: () => (obj[method] = original as T[K]) };
}

/** holdCalls() for the first matching call only: later ones go on at once. */
export function holdFirstCall<T extends object, K extends keyof T>(
  obj: T,
  method: K,
  match: T[K] extends (...args: infer A) => unknown ? (...args: A) => boolean : never,
): HeldCalls {
  let first = true;
  const once = (...args: unknown[]): boolean => {
    if (!first || !(match as (...a: unknown[]) => boolean)(...args)) return false;
    first = false;
    return true;
  };
  return holdCalls(obj, method, once as typeof match);
}
