// What a run of the harness measured, and the summaries every part of the
// report reads it through (report.ts, issue-targets.ts).
import type { ScenarioName, ScenarioResult } from './meter.js';
import type { ScenarioOptions } from './options.js';
import type { MachineInfo } from './proc.js';
import type { FsFloor } from './fs-floor.js';
import { fmt, spread, type Spread } from './stats.js';

/** Everything measured for one server and one scenario. */
export interface Cell {
  target: string;
  scenario: ScenarioName;
  runs: ScenarioResult[];
  /** Why the server cannot run this scenario, when it cannot. */
  unsupported?: string;
  /** Runs that failed in setup (server did not start, ...). */
  failures: string[];
}

export interface Report {
  started: Date;
  seconds: number;
  command: string;
  machine: MachineInfo;
  pinning: string;
  fileLimit: number;
  /** Measured at the start of the run; undefined if the probe failed. */
  fsFloor?: FsFloor;
  versions: Record<string, string>;
  options: ScenarioOptions;
  runsPerScenario: number;
  targets: string[];
  scenarios: ScenarioName[];
  cells: Cell[];
  /** Peers asked for but not run, with the reason. */
  skippedPeers: Record<string, string>;
}

/** A generator busier than this (share of its core) may be what limits the rate. */
const GEN_SATURATED = 0.85;

export const saturated = (x: Summary): boolean => x.genUtil.median >= GEN_SATURATED * 100;

export interface Summary {
  rate: Spread;
  p50: Spread;
  p99: Spread;
  cpuUs: Spread;
  sysUs: Spread;
  cpuUtil: Spread;
  genUtil: Spread;
  errors: number;
  ops: number;
  kibPerSession: Spread;
}

export function summarize(runs: ScenarioResult[]): Summary {
  const s = (f: (r: ScenarioResult) => number | undefined): Spread => spread(runs.map((r) => f(r) ?? NaN));
  return {
    rate: s((r) => r.rate),
    p50: s((r) => r.p50Ms),
    p99: s((r) => r.p99Ms),
    cpuUs: s((r) => r.serverCpuUsPerOp),
    sysUs: s((r) => r.serverSysUsPerOp),
    cpuUtil: s((r) => r.serverCpuUtil * 100),
    genUtil: s((r) => r.genCpuUtil * 100),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    ops: runs.reduce((a, r) => a + r.ops, 0),
    kibPerSession: s((r) => r.rssKiBPerSession),
  };
}

export function cellOf(r: Report, target: string, scenario: ScenarioName): Cell | undefined {
  return r.cells.find((c) => c.target === target && c.scenario === scenario);
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-';
  return `${fmt(a / b, 3)}x`;
}
