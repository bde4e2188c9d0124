// The measuring side of a scenario run: a warmup, then a timed window in
// which completed operations and their latencies count, CPU seconds of the
// server's process tree and of the generator read at both ends of the
// window, and errors counted from the first operation to the last.
import { cpuSeconds, machineBusySeconds, selfCpuSeconds } from './proc.js';
import { Latencies } from './stats.js';

export type ScenarioName = 'register' | 'login-plain' | 'login-digest' | 'login-0k' | 'idle' | 'message' | 'mixed';

export const SCENARIOS: readonly ScenarioName[] = ['register', 'login-plain', 'login-digest', 'login-0k', 'idle', 'message', 'mixed'];

export interface ScenarioResult {
  scenario: ScenarioName;
  /** Operations completed in the timed window (idle: sessions established). */
  ops: number;
  /** Failed operations (timeouts, error replies, dropped connections), warmup included. */
  errors: number;
  /** Length of the timed window. */
  seconds: number;
  /** ops / seconds. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds of the server's processes in the window. */
  serverCpuSec: number;
  /** serverCpuSec per operation, microseconds. */
  serverCpuUsPerOp: number;
  /**
   * The kernel's part of serverCpuUsPerOp (system time: sockets, files):
   * what the server's own code can only reduce by asking less of the kernel.
   * Absent in reports written before it was measured.
   */
  serverSysUsPerOp?: number;
  /** serverCpuSec / seconds (1 = one core busy all the time). */
  serverCpuUtil: number;
  /** Generator CPU seconds / seconds, for all its threads. */
  genCpuUtil: number;
  /**
   * CPU the rest of the machine used in the window (kernel softirq work
   * for loopback traffic included), in cores: a large value means
   * something else competed with the run.
   */
  otherCpuUtil: number;
  /** idle only: server resident memory per held session, KiB. */
  rssKiBPerSession?: number;
  rssBeforeKiB?: number;
  rssAfterKiB?: number;
  /** mixed only: latency by kind of operation. */
  byKind?: Record<string, { ops: number; p50Ms: number; p99Ms: number }>;
  /** A few error reasons with counts. */
  errorSamples: string[];
  notes: string[];
}

/** The server does not offer what the scenario needs (a login method, registration, ...). */
export class UnsupportedError extends Error {}

export type Phase = 'setup' | 'warmup' | 'measure' | 'done';

export class Meter {
  phase: Phase = 'setup';
  ops = 0;
  errors = 0;
  readonly latencies = new Latencies();
  readonly notes: string[] = [];
  private readonly reasons = new Map<string, number>();
  private t0 = 0;
  private t1 = 0;
  private srv0 = { total: 0, sys: 0 };
  private srv1 = { total: 0, sys: 0 };
  private gen0 = 0;
  private gen1 = 0;
  private all0 = 0;
  private all1 = 0;
  private sweepers: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly scenario: ScenarioName,
    private readonly serverPids: () => number[],
  ) {}

  /** A completed operation that took `ms`; counts only inside the timed window. */
  ok(ms: number): void {
    if (this.phase !== 'measure') return;
    this.ops++;
    this.latencies.add(ms);
  }

  /** A failed operation (counted in any phase but setup, where failures throw instead). */
  fail(reason: string): void {
    this.errors++;
    const key = reason.replace(/\s+/g, ' ').slice(0, 160);
    if (this.reasons.size < 20 || this.reasons.has(key)) this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
  }

  /** Registers a check run every 250 ms while load runs (timeouts). */
  sweep(fn: () => void): void {
    this.sweepers.push(fn);
    this.sweepTimer ??= setInterval(() => {
      for (const f of this.sweepers) f();
    }, 250);
  }

  startMeasure(): void {
    this.phase = 'measure';
    this.srv0 = cpuSeconds(this.serverPids());
    this.gen0 = selfCpuSeconds();
    this.all0 = machineBusySeconds();
    this.t0 = performance.now();
  }

  stopMeasure(): void {
    this.t1 = performance.now();
    this.gen1 = selfCpuSeconds();
    this.all1 = machineBusySeconds();
    this.srv1 = cpuSeconds(this.serverPids());
    this.phase = 'done';
  }

  /** Warmup, then the timed window; resolves when the window has closed. */
  async window(warmupMs: number, durationMs: number): Promise<void> {
    this.phase = 'warmup';
    await sleep(warmupMs);
    this.startMeasure();
    await sleep(durationMs);
    this.stopMeasure();
  }

  stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepers = [];
  }

  result(extra: Partial<ScenarioResult> = {}): ScenarioResult {
    this.stopSweeping();
    const seconds = Math.max(1e-9, (this.t1 - this.t0) / 1000);
    const [p50, p99] = this.latencies.percentiles([50, 99]);
    const serverCpuSec = Math.max(0, this.srv1.total - this.srv0.total);
    const serverSysSec = Math.max(0, this.srv1.sys - this.srv0.sys);
    return {
      scenario: this.scenario,
      ops: this.ops,
      errors: this.errors,
      seconds,
      rate: this.ops / seconds,
      p50Ms: p50!,
      p99Ms: p99!,
      serverCpuSec,
      serverCpuUsPerOp: this.ops > 0 ? (serverCpuSec / this.ops) * 1e6 : NaN,
      serverSysUsPerOp: this.ops > 0 ? (serverSysSec / this.ops) * 1e6 : NaN,
      serverCpuUtil: serverCpuSec / seconds,
      genCpuUtil: (this.gen1 - this.gen0) / seconds,
      otherCpuUtil: Math.max(0, this.all1 - this.all0 - serverCpuSec - (this.gen1 - this.gen0)) / seconds,
      errorSamples: [...this.reasons].map(([r, n]) => `${n}x ${r}`),
      notes: this.notes,
      ...extra,
    };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every `everyMs` until it holds or `timeoutMs` passed; returns whether it held. */
export async function waitFor(cond: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() >= until) return false;
    await sleep(everyMs);
  }
  return true;
}
