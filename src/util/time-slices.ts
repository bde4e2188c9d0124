// Long work on the event loop cut into slices: the worker awaits pace()
// between its steps, which lets the event loop run (I/O first) once the
// slice so far has taken `sliceMs`. For work done while the server serves
// (a backup), so that no client waits on it for more than about a slice.
import { performance } from 'node:perf_hooks';

export class TimeSlices {
  private started = performance.now();

  constructor(private readonly sliceMs: number) {}

  async pace(): Promise<void> {
    if (performance.now() - this.started < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.started = performance.now();
  }
}
