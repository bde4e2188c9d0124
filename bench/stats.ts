// Latency samples and the summaries the report prints.

/**
 * Latencies in milliseconds. Keeps every sample up to `cap`, then a
 * uniform reservoir of `cap` samples, so percentiles stay honest without
 * unbounded memory.
 */
export class Latencies {
  private samples: Float64Array;
  private n = 0;
  /** Samples offered, kept or not. */
  count = 0;

  constructor(private readonly cap = 2_000_000) {
    this.samples = new Float64Array(Math.min(cap, 65_536));
  }

  add(ms: number): void {
    this.count++;
    if (this.n < this.samples.length) {
      this.samples[this.n++] = ms;
      return;
    }
    if (this.n < this.cap) {
      const grown = new Float64Array(Math.min(this.cap, this.samples.length * 2));
      grown.set(this.samples);
      this.samples = grown;
      this.samples[this.n++] = ms;
      return;
    }
    const j = Math.floor(Math.random() * this.count);
    if (j < this.cap) this.samples[j] = ms;
  }

  /** Percentiles (0-100) in ms; NaN when there is no sample. */
  percentiles(ps: number[]): number[] {
    if (this.n === 0) return ps.map(() => NaN);
    const sorted = this.samples.slice(0, this.n).sort();
    return ps.map((p) => sorted[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))]!);
  }
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of the finite values; NaN everywhere when there are none. */
export function spread(values: number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]! };
}

/** A number for a table: 3 significant digits, thousands grouped; '-' for NaN. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '-';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 10 ** digits) return Math.round(x).toLocaleString('en-US');
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return x.toFixed(Math.min(decimals, 6));
}

/** "median (min-max)", or just the median when all runs agree or there is one run. */
export function fmtSpread(s: Spread, digits = 3): string {
  if (!Number.isFinite(s.median)) return '-';
  const m = fmt(s.median, digits);
  const lo = fmt(s.min, digits);
  const hi = fmt(s.max, digits);
  return lo === hi ? m : `${m} (${lo}-${hi})`;
}
