// At most `max` tasks at a time, the others waiting in the order they came.
// For work that holds something scarce while it runs: the store's file
// reads each hold a file descriptor from open to close.

export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Runs `fn` once fewer than `max` others are running. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running < this.max) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // Handed straight to the next in line: its place is this one's.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
