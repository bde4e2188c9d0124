// Issue 5's targets as the report judges them: what each asks, what a
// server's results in this run show, and the verdict, for Yak and for each
// calibration server that ran beside it (see targetTable).
import type { ScenarioName } from './meter.js';
import { describeMix, isDefaultMix, type ScenarioOptions } from './options.js';
import { cellOf, ratio, saturated, summarize, type Report, type Summary } from './report-data.js';
import { fmt } from './stats.js';

/** A server's summaries in this run, by scenario; undefined where it did not run. */
type Results = (sc: ScenarioName) => Summary | undefined;

/** One of the issue's targets: what it asks, what a server's results show, and whether they meet it. */
interface Target {
  asks: string;
  /** `ej` is ejabberd's results in the same run (targets are relative to it). */
  measured(s: Results, ej: Results): string | undefined;
  /**
   * `bound`: the results are a calibration server's, a bound on what any
   * server can do here: it meets a target when any of its measures does
   * (its rate, or its CPU per operation), so that missing one says out of
   * reach only when it truly is. Yak's CPU per operation stands in for its
   * rate only when the generator saturated.
   */
  met(s: Results, ej: Results, bound: boolean): boolean | undefined;
  /** What a floor column adds about work the calibration servers do not do. */
  floorNote?: string;
}

/**
 * At least `k` times ejabberd's rate. A saturated generator caps the rate
 * it measures, so then server CPU per operation decides instead (at most
 * 1/k of ejabberd's): the fair figure when the generator is the bottleneck.
 */
function outpaces(x: Summary, ej: Summary, k: number, bound: boolean): boolean {
  return x.rate.median >= k * ej.rate.median || ((bound || saturated(x)) && x.cpuUs.median * k <= ej.cpuUs.median);
}

/** `; 1.37x ejabberd's 1,485` when ejabberd ran too, and CPU per op beside it when the generator saturated. */
function vsEjabberd(s: Summary, ej: Summary | undefined): string {
  if (!ej) return '';
  const cpu = saturated(s) ? ` (generator saturated; CPU per op ${ratio(s.cpuUs.median, ej.cpuUs.median)})` : '';
  return `; ${ratio(s.rate.median, ej.rate.median)} ejabberd's ${fmt(ej.rate.median)}${cpu}`;
}

function loginTarget(sc: 'login-digest' | 'login-plain'): Target {
  return {
    asks: `${sc}: >= 3.5x ejabberd in the same run, and >= 5,000 logins/s or <= 200 us server CPU per login`,
    measured: (s, ej) => {
      const x = s(sc);
      return x && `${fmt(x.rate.median)} logins/s, ${fmt(x.cpuUs.median)} us/login` + vsEjabberd(x, ej(sc));
    },
    met: (s, ej, bound) => {
      const x = s(sc);
      if (!x) return undefined;
      if (x.rate.median < 5000 && x.cpuUs.median > 200) return false;
      // Without ejabberd in the run, the 3.5x is not measured.
      const e = ej(sc);
      return e && outpaces(x, e, 3.5, bound);
    },
  };
}

/** The targets; idle's depends on how many sessions the run held, mixed's on its mix. */
function issueTargets(options: ScenarioOptions): Target[] {
  const { sessions } = options;
  // Another mix measures something else: its figures are shown, never judged.
  const targetMix = isDefaultMix(options.mix);
  return [
    loginTarget('login-digest'),
    loginTarget('login-plain'),
    {
      asks: 'login-0k: server CPU per login within 1.3x of digest',
      measured: (s) => {
        const [zk, dg] = [s('login-0k'), s('login-digest')];
        return zk && dg && `${fmt(zk.cpuUs.median)} vs ${fmt(dg.cpuUs.median)} us (${ratio(zk.cpuUs.median, dg.cpuUs.median)})`;
      },
      met: (s) => {
        const [zk, dg] = [s('login-0k'), s('login-digest')];
        return zk && dg && zk.cpuUs.median <= 1.3 * dg.cpuUs.median;
      },
    },
    {
      asks: 'register: >= 2,000 registrations/s (durable)',
      measured: (s) => {
        const x = s('register');
        return x && `${fmt(x.rate.median)}/s, ${fmt(x.cpuUs.median)} us/registration`;
      },
      // 2,000 a second is 500 us of server CPU each, for a calibration server.
      met: (s, _ej, bound) => {
        const x = s('register');
        return x && (x.rate.median >= 2000 || (bound && x.cpuUs.median <= 500));
      },
      // The start-of-run file probe is not added: its folder is not the
      // spool's, and on ext4 what a new file costs depends on where it goes
      // (it has put a file at 700-880 us while Yak made users at 520 us).
      floorNote: '; it stores nothing',
    },
    {
      asks: 'idle: <= 8 KB (8,000 bytes, 7.81 KiB) per session at 10,000 sessions',
      measured: (s) => {
        const x = s('idle');
        return x && `${fmt(x.kibPerSession.median)} KiB/session at ${sessions.toLocaleString('en-US')} sessions`;
      },
      // Fewer sessions than the target names measure something else.
      met: (s) => {
        const x = s('idle');
        return x && sessions >= 10_000 ? x.kibPerSession.median * 1024 <= 8000 : undefined;
      },
    },
    // The issue asks for 3x ejabberd in the same run ("about 80,000" was its
    // author's estimate from a faster ejabberd measurement); without ejabberd
    // in the run, that estimate is the bar.
    {
      asks: "message: >= 3x ejabberd's msgs/s in the same run (about 80,000 without ejabberd), p99 <= 20 ms",
      measured: (s, ej) => {
        const x = s('message');
        return x && `${fmt(x.rate.median)} msgs/s, p99 ${fmt(x.p99.median)} ms` + vsEjabberd(x, ej('message'));
      },
      met: (s, ej, bound) => {
        const x = s('message');
        const e = ej('message');
        return x && x.p99.median <= 20 && (e ? outpaces(x, e, 3, bound) : x.rate.median >= 80_000);
      },
    },
    {
      asks: "mixed: >= 4x ejabberd (rate; server CPU per op <= 1/4 of ejabberd's when the generator saturates)",
      measured: (s, ej) => {
        const [x, e] = [s('mixed'), ej('mixed')];
        if (!x) return undefined;
        if (!targetMix) return `${fmt(x.rate.median)} ops/s, ${fmt(x.cpuUs.median)} us/op with another mix (${describeMix(options.mix)})`;
        if (!e) return `${fmt(x.rate.median)} ops/s (ejabberd not run)`;
        return (
          `${fmt(x.rate.median)} vs ${fmt(e.rate.median)} ops/s (${ratio(x.rate.median, e.rate.median)}); CPU per op ${ratio(x.cpuUs.median, e.cpuUs.median)}` +
          (saturated(x) ? '; generator saturated' : '')
        );
      },
      met: (s, ej, bound) => {
        const [x, e] = [s('mixed'), ej('mixed')];
        return targetMix ? x && e && outpaces(x, e, 4, bound) : undefined;
      },
    },
  ];
}

function resultsOf(r: Report, target: string): Results {
  return (sc) => {
    const c = cellOf(r, target, sc);
    return c && c.runs.length ? summarize(c.runs) : undefined;
  };
}

/** The calibration servers a run may hold: their column heads, and what missing a target there says. */
const FLOORS = [
  { name: 'null', header: 'null server, same run (the floor for Node)', beyond: 'out of reach for a Node server here' },
  {
    name: 'floor',
    header: "parsing floor, same run (Yak's parser, password check and log lines; no storage)",
    beyond: 'out of reach for a server on this parser and logger here',
  },
];

/**
 * A calibration server's results, a floor for Yak's; 0k is left out (it
 * has none). Its idle memory is a connection's and, for the parsing floor,
 * a stream parser's besides: what any server here holds per session.
 */
function floorOf(r: Report, name: string): Results {
  const floor = resultsOf(r, name);
  return (sc) => (sc === 'login-0k' ? undefined : floor(sc));
}

const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : 'not met');

/**
 * The issue's targets for Yak, with what this run measured. For each
 * calibration server that ran too, a column applies each target to it: a
 * target the null server misses is out of reach for any server written in
 * Node on this machine, and one the parsing floor misses for any server
 * that parses and logs as Yak does, which the issue asks the report to show.
 */
export function targetTable(r: Report): { header: string[]; rows: string[][] } {
  const yak = resultsOf(r, 'yak');
  const ej = resultsOf(r, 'ejabberd');
  const floors = FLOORS.filter((f) => r.targets.includes(f.name));
  const header = ['target', 'measured', 'verdict', ...floors.map((f) => f.header)];
  const targets = issueTargets(r.options);
  const rows = targets.map((t) => {
    const row = [t.asks, t.measured(yak, ej) ?? '-', verdict(t.met(yak, ej, false))];
    for (const f of floors) {
      const floor = floorOf(r, f.name);
      const m = t.measured(floor, ej);
      const ok = t.met(floor, ej, true);
      row.push(m === undefined ? '-' : m + (ok === false ? `: ${f.beyond}` : '') + (t.floorNote ?? ''));
    }
    return row;
  });
  const idle = targets.findIndex((t) => t.asks.startsWith('idle'));
  if (r.options.sessions < 10_000 && resultsOf(r, 'yak')('idle')) rows[idle]![2] += ' (fewer sessions than the target names)';
  return { header, rows };
}
