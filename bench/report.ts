// The report: a table per run of the harness (stdout) and bench/RESULTS.md
// (the same table with machine, versions, command and how to read it).
import type { FsFloor } from './fs-floor.js';
import { targetTable } from './issue-targets.js';
import type { ScenarioName } from './meter.js';
import { describeMix, type ScenarioOptions } from './options.js';
import { cellOf, ratio, saturated, summarize, type Report } from './report-data.js';
import { fmt, fmtSpread, spread } from './stats.js';

const UNIT: Record<ScenarioName, string> = {
  register: 'registrations/s',
  'login-plain': 'logins/s',
  'login-digest': 'logins/s',
  'login-0k': 'logins/s',
  idle: 'sessions opened/s',
  message: 'msgs delivered/s',
  mixed: 'ops/s',
};

function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const MAIN_HEADER = ['scenario', 'server', 'rate (median, min-max)', 'p50 ms', 'p99 ms', 'server CPU us/op', 'of it kernel', 'server CPU %', 'gen CPU %', 'errors', 'KiB/session'];

function mainRows(r: Report): string[][] {
  const rows: string[][] = [];
  for (const scenario of r.scenarios) {
    for (const target of r.targets) {
      const c = cellOf(r, target, scenario);
      if (!c) continue;
      if (c.unsupported) {
        rows.push([scenario, target, `not supported: ${c.unsupported}`, '', '', '', '', '', '', '', '']);
        continue;
      }
      if (c.runs.length === 0) {
        rows.push([scenario, target, `failed: ${c.failures[0] ?? 'no run completed'}`.slice(0, 160), '', '', '', '', '', '', '', '']);
        continue;
      }
      const s = summarize(c.runs);
      const gen = fmtSpread(s.genUtil, 2) + (saturated(s) ? ' (saturated)' : '');
      rows.push([
        scenario,
        target,
        `${fmtSpread(s.rate)} ${UNIT[scenario]}`,
        fmtSpread(s.p50, 2),
        fmtSpread(s.p99, 2),
        fmtSpread(s.cpuUs),
        Number.isNaN(s.sysUs.median) ? '' : fmt(s.sysUs.median),
        fmtSpread(s.cpuUtil, 2),
        gen,
        String(s.errors) + (c.failures.length ? ` (+${c.failures.length} failed runs)` : ''),
        scenario === 'idle' ? fmtSpread(s.kibPerSession) : '',
      ]);
    }
  }
  return rows;
}

function ratioRows(r: Report): { header: string[]; rows: string[][] } | undefined {
  const peers = r.targets.filter((t) => t !== 'yak');
  if (peers.length === 0 || !r.targets.includes('yak')) return undefined;
  const header = ['scenario', ...peers.flatMap((p) => [`rate Yak/${p}`, `CPU per op Yak/${p}`])];
  const rows: string[][] = [];
  for (const scenario of r.scenarios) {
    const y = cellOf(r, 'yak', scenario);
    const ys = y && y.runs.length ? summarize(y.runs) : undefined;
    const row: string[] = [scenario];
    for (const p of peers) {
      const c = cellOf(r, p, scenario);
      if (c?.unsupported) {
        row.push(`${p}: not supported`, '');
        continue;
      }
      const ps = c && c.runs.length ? summarize(c.runs) : undefined;
      if (!ys || !ps) {
        row.push('-', '-');
        continue;
      }
      if (scenario === 'idle') {
        row.push(ratio(ys.rate.median, ps.rate.median), `memory/session ${ratio(ys.kibPerSession.median, ps.kibPerSession.median)}`);
      } else {
        row.push(ratio(ys.rate.median, ps.rate.median), ratio(ys.cpuUs.median, ps.cpuUs.median));
      }
    }
    rows.push(row);
  }
  return { header, rows };
}

function saturationNotes(r: Report): string[] {
  const out: string[] = [];
  for (const c of r.cells) {
    if (c.runs.length === 0) continue;
    const s = summarize(c.runs);
    if (saturated(s)) {
      out.push(
        `${c.target} ${c.scenario}: the generator was busy ${fmt(s.genUtil.median, 2)}% of its core while the server used ${fmt(s.cpuUtil.median, 2)}% of its own; ` +
          `the rate is a floor for the server, compare server CPU per op instead.`,
      );
    }
  }
  return out;
}

/** A run where the rest of the machine used this much of a core was disturbed by something else. */
export const OTHER_LOAD = 0.25;

function detailNotes(r: Report): string[] {
  const out: string[] = [];
  for (const c of r.cells) {
    const busy = c.runs.filter((x) => x.otherCpuUtil >= OTHER_LOAD);
    if (busy.length) {
      out.push(
        `${c.target} ${c.scenario}: in ${busy.length} of ${c.runs.length} runs the rest of the machine (other processes, kernel network work) ` +
          `used ${busy.map((x) => `${fmt(x.otherCpuUtil * 100, 2)}%`).join(', ')} of a core: treat those runs with care.`,
      );
    }
  }
  for (const c of r.cells) {
    const kinds = [...new Set(c.runs.flatMap((x) => Object.keys(x.byKind ?? {})))];
    if (kinds.length) {
      const parts = kinds.map((k) => {
        const p50 = spread(c.runs.map((x) => x.byKind?.[k]?.p50Ms ?? NaN)).median;
        const p99 = spread(c.runs.map((x) => x.byKind?.[k]?.p99Ms ?? NaN)).median;
        const ops = spread(c.runs.map((x) => x.byKind?.[k]?.ops ?? NaN)).median;
        return `${k} ${fmt(p50, 2)} / ${fmt(p99, 2)} ms (${fmt(ops)} ops)`;
      });
      out.push(`${c.target} ${c.scenario}: p50 / p99 by operation (medians of the runs): ${parts.join('; ')}`);
    }
    const notes = new Set(c.runs.flatMap((x) => x.notes));
    for (const n of notes) out.push(`${c.target} ${c.scenario}: ${n}`);
    const errs = new Map<string, number>();
    for (const run of c.runs) for (const e of run.errorSamples) errs.set(e, (errs.get(e) ?? 0) + 1);
    for (const [e] of [...errs].slice(0, 5)) out.push(`${c.target} ${c.scenario}: error ${e}`);
    for (const f of c.failures) out.push(`${c.target} ${c.scenario}: run failed: ${f.split('\n')[0]!.slice(0, 300)}`);
  }
  for (const [p, why] of Object.entries(r.skippedPeers)) out.push(`${p}: not run: ${why}`);
  return out;
}

/** The plain-text report for stdout. */
export function textReport(r: Report): string {
  const parts = [textTable(MAIN_HEADER, mainRows(r))];
  const ratios = ratioRows(r);
  if (ratios) parts.push('', 'Yak / peer (rate: higher is better for Yak; CPU per op and memory: lower is better for Yak)', textTable(ratios.header, ratios.rows));
  if (r.targets.includes('yak')) {
    const t = targetTable(r);
    parts.push('', 'Issue 5 targets (Yak)', textTable(t.header, t.rows));
  }
  const notes = [...saturationNotes(r), ...detailNotes(r)];
  if (notes.length) parts.push('', 'Notes', ...notes.map((n) => `- ${n}`));
  return parts.join('\n');
}

function describeOptions(o: ScenarioOptions, runs: number): string[] {
  return [
    `runs per scenario: ${runs} (each on a freshly started server with an empty data folder), in rounds: run 1 of every scenario on every server, then run 2, and so on; timed window ${o.durationMs / 1000} s after ${o.warmupMs / 1000} s of warmup`,
    `register, login-*: ${o.concurrency} connections in flight; login pool ${o.pool} users (registered untimed, split between the connections)`,
    `idle: ${o.sessions.toLocaleString('en-US')} sessions opened ${o.setupConcurrency} at a time, memory read ${o.settleMs / 1000} s after the last`,
    `message: ${o.pairs} pairs, ${o.window} messages in flight per direction`,
    `mixed: ${o.mixedSessions} sessions in a ring of mutual subscriptions; each does one operation at a time: ${describeMix(o.mix)}`,
    `an operation slower than ${o.opTimeoutMs / 1000} s counts as an error`,
  ];
}

function fsFloorLine(f: FsFloor): string {
  return (
    `- file system (measured at the start, on the server's core, in ${f.dir}${f.fileSystem ? `, ${f.fileSystem}` : ''}): ${fmt(f.createUs, 3)} us of CPU to create a ` +
    `700-byte file, ${fmt(f.durableUs, 3)} us to create one and fdatasync it, ${fmt(f.rewriteUs, 3)} us to rewrite one in place ` +
    `(register makes a spool file per user durable; in the spool's own folders a new file may cost more or less, see the README)`
  );
}

/** bench/RESULTS.md. */
export function markdownReport(r: Report): string {
  const m = r.machine;
  const lines: string[] = [
    '# Yak benchmark results',
    '',
    '_Written by `npm run bench` (bench/run.ts); rerun it to refresh. Do not edit by hand._',
    '',
    `Run on ${r.started.toISOString().replace('T', ' ').slice(0, 16)} UTC, ${Math.round(r.seconds)} s in all, with:`,
    '',
    '```',
    r.command,
    '```',
    '',
    '## Results',
    '',
    mdTable(MAIN_HEADER, mainRows(r)),
  ];
  const ratios = ratioRows(r);
  if (ratios) {
    lines.push('', '### Yak / peer', '', 'Rate: higher is better for Yak. CPU per operation and memory per session: lower is better for Yak.', '', mdTable(ratios.header, ratios.rows));
  }
  if (r.targets.includes('yak')) {
    const t = targetTable(r);
    lines.push('', '### Issue 5 targets (Yak)', '', mdTable(t.header, t.rows));
  }
  const notes = [...saturationNotes(r), ...detailNotes(r)];
  if (notes.length) lines.push('', '### Notes', '', ...notes.map((n) => `- ${n}`));
  lines.push(
    '',
    '## Machine and versions',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memory}`,
    `- OS: ${m.os}, kernel ${m.kernel}; Node ${m.node}`,
    `- CPU pinning: ${r.pinning}`,
    `- open files limit: ${r.fileLimit}`,
    ...(r.fsFloor ? [fsFloorLine(r.fsFloor)] : []),
    ...Object.entries(r.versions).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '## Settings',
    '',
    ...describeOptions(r.options, r.runsPerScenario).map((l) => `- ${l}`),
    '- Yak: bench/yak-bench.xml (karma, connection rate and caps, registration rate policy off; log lines to a file)',
    '- Prosody: bench/peers/prosody.cfg.lua; ejabberd: bench/peers/ejabberd.yml and bench/peers/ejabberdctl.cfg (legacy auth and in-band registration on, throttles and shapers off, plaintext password storage)',
    '',
    '## How to read it',
    '',
    '- **rate**: operations completed in the timed window per second; median of the runs, with the lowest and highest run in parentheses. ' +
      'register: connect, header, register set, close. login-*: connect, header, auth get, auth set, close. idle: sessions opened (login plus initial presence). ' +
      'message: messages delivered to the partner session. mixed: operations of any kind completed.',
    '- **p50 / p99**: latency of one operation in ms (login and register: from connect to the last reply; message: from send to delivery; mixed: roster reply, delivery of the message or presence to the neighbour, or the login).',
    '- **server CPU us/op**: user + system CPU of the server\'s processes (from /proc/PID/stat) in the window, divided by the operations. The fair comparison when the generator, not the server, limits the rate.',
    "- **of it kernel**: the median system time in server CPU us/op (from stime in /proc/PID/stat): the kernel's work for the server's sockets and files. The rest is the server's own code; for the null server, nearly all of it is kernel.",
    '- **server CPU % / gen CPU %**: share of one core used by the server and by the load generator in the window. A server near 100% is the bottleneck; a generator near 100% (marked saturated) means the rate is only a floor.',
    '- **KiB/session** (idle): growth of the server\'s resident memory (VmRSS from /proc/PID/status) from before the sessions were opened (on the server restarted on the accounts registered for them) to after they stayed quiet for the time the run names above, divided by the sessions held.',
    '- **errors**: failed operations (error replies, timeouts, dropped connections) over all runs; a correct run has none.',
    '- **rest of the machine**: CPU used in the window by everything but the server and the generator (other processes, kernel network work, from /proc/stat); runs where it reached a quarter of a core are listed in the notes.',
    "- **Issue 5 targets**: a target set as a multiple of ejabberd compares rates; where the generator saturated, the rate is only a floor and server CPU per operation decides instead (at most ejabberd's divided by the multiple). The null server's and the parsing floor's columns apply the same rules to them.",
    '- **null** (only with `--peers null`): bench/null-server.ts, a Node process that answers every request without parsing, storing or logging anything. Its CPU per operation is what the kernel and Node sockets alone cost on this machine, a floor under any Node server, and its rates are near the generator\'s ceiling.',
    "- **floor** (only with `--peers floor`): the same server with `--parse`: the stream goes through Yak's parser (saxes, with Yak's limits), passwords and digests are checked, the client's address is looked up and a login writes Yak's two log lines (login, session end) through Yak's pino setup. No storage, no modules, no JIDs. What a target it misses needs is less than parsing and logging cost here.",
    '',
    'The generator is one Node process with a lean client (pre-serialized requests, a scanner that cuts replies out of the stream without building a DOM); replies are checked with the real XML parser outside the timed window. The server and the generator are pinned to different cores with taskset.',
    '',
  );
  return lines.join('\n');
}
