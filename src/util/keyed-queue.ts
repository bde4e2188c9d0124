// Tasks serialized per key: those for one key run one after another, in
// the order they were queued; those for different keys run side by side.
import { noop } from './noop.js';

export class KeyedQueue {
  /** Tail of each key's queue; never rejects. Gone once the key is idle. */
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `fn` after every task queued earlier for `key`; a key with none
   * waits for `first` instead, if given (it rejecting rejects the task).
   * Nothing is awaited before the task joins the queue, so calls keep their order.
   */
  run<T>(key: string, fn: () => Promise<T>, first?: Promise<unknown>): Promise<T> {
    const prev = this.tails.get(key) ?? first;
    const run = prev ? prev.then(fn) : fn();
    const tail = run.then(noop, noop);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  /** Resolves once every task queued so far has settled. */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
