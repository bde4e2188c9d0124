#!/usr/bin/env node
// npm run bench -- [--scenarios a,b] [--runs N] [--duration S] [--quick]
//                  [--peers prosody,ejabberd] [--no-write] ...
//
// Starts a fresh server per scenario run (pinned to CPU 0; the generator,
// this process, to CPU 1), runs each scenario `runs` times against Yak and
// the peers asked for, in rounds (every scenario and server once per
// round), prints a table and rewrites bench/RESULTS.md.
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SCENARIOS, UnsupportedError, type ScenarioName } from './meter.js';
import { DEFAULT_MIX, DEFAULT_OPTIONS, QUICK_OPTIONS, parseMix, type Mix, type ScenarioOptions } from './options.js';
import { measureFsFloor } from './fs-floor.js';
import { canPin, fileLimit, machineInfo, pinSelf, raiseFileLimit, waitQuiet } from './proc.js';
import type { Cell, Report } from './report-data.js';
import { markdownReport, textReport } from './report.js';
import { isScenario, runScenario } from './scenarios.js';
import { deferTempDirRemoval, killAllNow, type RunningServer } from './server-process.js';
import { fmt } from './stats.js';
import { formatSelfTime, topSelfTime } from './profile-summary.js';
import { BENCH_DIR, PEERS, ROOT, TARGETS, ensurePeersInstalled, yakTarget } from './targets.js';

const SERVER_CPU = 0;
const GENERATOR_CPU = 1;
/** Before each run, wait at most this long for other work on the machine to end. */
const QUIET_WAIT_MS = 30_000;
/** The servers --profile can run under node --cpu-prof: the Node ones (the floors show what Yak adds). */
const PROFILED = new Set(['yak', 'null', 'floor']);

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function mixOption(v: string): Mix {
  try {
    return parseMix(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** A comma-separated list, each name once (a scenario named twice would make two cells the report shows as one). */
function list(v: string): string[] {
  return [...new Set(v.split(',').map((s) => s.trim()))].filter(Boolean);
}

const program = new Command('bench')
  .description('Load generator for Yak (and, with --peers, Prosody and ejabberd), all on 127.0.0.1')
  .option('--scenarios <list>', `comma-separated, from: ${SCENARIOS.join(', ')}`, list)
  .option('--runs <n>', 'runs per scenario and server (default 3; --quick: 1)', positiveInt)
  .option('--duration <seconds>', 'timed window per run (default 5; --quick: 2)', positiveNumber)
  .option('--warmup <seconds>', 'load before the timed window (default 3; --quick: 1)', positiveNumber)
  .option('--concurrency <n>', 'register/login: connections in flight (default 32)', positiveInt)
  .option('--pool <n>', 'login-*: pre-registered users (default 512)', positiveInt)
  .option('--sessions <n>', 'idle: sessions to hold (default 10000; --quick: 2000)', positiveInt)
  .option('--settle <seconds>', 'idle: quiet time after the last session opened, before the memory is read (default 120; --quick: 1, before quiet sessions have given anything back)', positiveNumber)
  .option('--pairs <n>', 'message: session pairs (default 50)', positiveInt)
  .option('--window <n>', 'message: messages in flight per direction (default 5)', positiveInt)
  .option('--mixed-sessions <n>', 'mixed: sessions (default 200; --quick: 100)', positiveInt)
  .option('--mix <weights>', `mixed: operations and weights, to see what each kind costs (default ${DEFAULT_MIX.map(([k, w]) => `${k}:${w}`).join(',')}; the mixed target is judged only with it)`, mixOption)
  .option(
    '--peers <list>',
    'also measure these: prosody, ejabberd (Debian packages, installed with apt-get when missing), null and floor (calibration servers: bench/null-server.ts)',
    list,
  )
  .option('--no-yak', 'measure only the peers')
  .option('--quick', 'one short run per scenario, smaller pools')
  .option('--no-write', 'do not rewrite bench/RESULTS.md')
  .option('--results <file>', 'where to write the markdown report', path.join(BENCH_DIR, 'RESULTS.md'))
  .option('--json <file>', 'also write every run as JSON')
  .option('--no-pin', 'do not pin server and generator to separate CPUs')
  .option('--jabberd <file>', 'the Yak daemon to measure (default: this tree\'s dist/src/cli/jabberd.js)')
  .option('--profile <dir>', 'run the Node servers (Yak, and null or floor when among the peers) under node --cpu-prof, write their profiles to DIR and print the top self-time functions')
  .option('--keep', 'keep each server run\'s temp folder (config, data, logs)')
  .helpOption('--help', 'display help');
program.parse();

interface Cli {
  scenarios?: string[];
  runs?: number;
  duration?: number;
  warmup?: number;
  concurrency?: number;
  pool?: number;
  sessions?: number;
  settle?: number;
  pairs?: number;
  window?: number;
  mixedSessions?: number;
  mix?: Mix;
  peers?: string[];
  yak: boolean;
  quick?: boolean;
  write: boolean;
  results: string;
  json?: string;
  pin: boolean;
  keep?: boolean;
  jabberd?: string;
  profile?: string;
}
const cli = program.opts<Cli>();

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function scenarioOptions(): ScenarioOptions {
  const o: ScenarioOptions = { ...DEFAULT_OPTIONS, ...(cli.quick ? QUICK_OPTIONS : {}) };
  if (cli.duration !== undefined) o.durationMs = cli.duration * 1000;
  if (cli.warmup !== undefined) o.warmupMs = cli.warmup * 1000;
  if (cli.concurrency !== undefined) o.concurrency = cli.concurrency;
  if (cli.pool !== undefined) o.pool = cli.pool;
  if (cli.sessions !== undefined) o.sessions = cli.sessions;
  if (cli.settle !== undefined) o.settleMs = cli.settle * 1000;
  if (cli.pairs !== undefined) o.pairs = cli.pairs;
  if (cli.window !== undefined) o.window = cli.window;
  if (cli.mixedSessions !== undefined) o.mixedSessions = cli.mixedSessions;
  if (cli.mix !== undefined) o.mix = cli.mix;
  return o;
}

async function main(): Promise<number> {
  deferTempDirRemoval(); // see server-process.ts: one run's cleanup must not slow the next run's file creation
  const started = new Date();
  const t0 = performance.now();
  const scenarios = (cli.scenarios ?? [...SCENARIOS]) as string[];
  if (scenarios.length === 0) {
    log(`bench: --scenarios names none (known: ${SCENARIOS.join(', ')})`);
    return 2;
  }
  const unknown = scenarios.filter((s) => !isScenario(s));
  if (unknown.length) {
    log(`bench: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
    return 2;
  }
  const peers = cli.peers ?? [];
  const badPeers = peers.filter((p) => !PEERS.includes(p));
  if (badPeers.length) {
    log(`bench: unknown peer ${badPeers.join(', ')} (known: ${PEERS.join(', ')})`);
    return 2;
  }
  if (cli.jabberd) {
    const jabberd = path.resolve(cli.jabberd);
    if (!existsSync(jabberd)) {
      log(`bench: --jabberd ${jabberd}: no such file`);
      return 2;
    }
    TARGETS.yak = yakTarget(jabberd);
  }
  const opts = scenarioOptions();
  const runs = cli.runs ?? (cli.quick ? 1 : 3);

  // Every connection is a file on both ends; idle holds `sessions` of them.
  const limit = raiseFileLimit(Math.max(4096, opts.sessions + opts.setupConcurrency + 1024));
  if (limit < opts.sessions + opts.setupConcurrency + 256) {
    log(`bench: open files limit is ${limit}; idle with ${opts.sessions} sessions will fail (raise ulimit -n or use --sessions)`);
  }
  let pinning = 'off (--no-pin)';
  let serverCpu: number | undefined;
  if (cli.pin) {
    if (canPin() && pinSelf(GENERATOR_CPU)) {
      serverCpu = SERVER_CPU;
      pinning = `server on CPU ${SERVER_CPU}, generator on CPU ${GENERATOR_CPU} (taskset)`;
    } else {
      pinning = 'off (needs taskset and 2 CPUs)';
      log(`bench: CPU pinning ${pinning}`);
    }
  }

  const fsFloor = measureFsFloor(serverCpu);
  if (fsFloor) {
    log(
      `bench: file system here (${fsFloor.fileSystem ?? 'type unknown'}): ${Math.round(fsFloor.createUs)} us of CPU to create a file, ${Math.round(fsFloor.durableUs)} us to create and fdatasync one, ` +
        `${Math.round(fsFloor.rewriteUs)} us to rewrite one in place`,
    );
  }

  const skippedPeers: Record<string, string> = {};
  if (peers.length) {
    for (const [p, why] of ensurePeersInstalled(peers, log)) {
      skippedPeers[p] = why;
      log(`bench: ${p} will not be run: ${why}`);
    }
  }
  const targets = [...(cli.yak ? ['yak'] : []), ...peers.filter((p) => !(p in skippedPeers))];
  if (targets.length === 0) {
    log('bench: no server to measure (--no-yak, and no peer that can run)');
    return 2;
  }
  const versions: Record<string, string> = {};
  const versionLabel: Record<string, string> = {
    yak: 'Yak',
    prosody: 'Prosody (Debian package)',
    ejabberd: 'ejabberd (Debian package)',
    null: 'null (calibration server)',
    floor: 'floor (calibration server that parses)',
  };
  for (const t of targets) versions[versionLabel[t] ?? t] = TARGETS[t]!.version();

  // Rounds: run i of every scenario on every server comes before run i+1
  // of any. This shared machine drifts by up to 1.8x within minutes (nine
  // back-to-back 0k runs here went 325, 416, 424, 428, 590, 553, 445, 444,
  // 417 us per login); run in blocks, a ratio between two cells measured
  // minutes apart (Yak/peer, 0k/digest) took that drift for a difference.
  // Interleaved, every cell's median comes from the same stretches of time.
  const cells: Cell[] = [];
  for (const scenario of scenarios as ScenarioName[]) {
    for (const target of targets) cells.push({ target, scenario, runs: [], failures: [] });
  }
  for (let i = 1; i <= runs; i++) {
    for (const cell of cells) {
      if (cell.unsupported) continue;
      const { target, scenario } = cell;
      const label = `[${target}] ${scenario} run ${i}/${runs}`;
      let server: RunningServer | undefined;
      const profileDir = cli.profile && PROFILED.has(target) ? path.resolve(cli.profile, `${target}-${scenario}-run${i}`) : undefined;
      const busy = await waitQuiet(QUIET_WAIT_MS);
      if (busy >= 0.15) log(`${label}: the machine is busy (${fmt(busy * 100, 2)}% of a core used by others); running anyway`);
      try {
        if (profileDir) mkdirSync(profileDir, { recursive: true });
        const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : undefined;
        server = await TARGETS[target]!.start({ cpu: serverCpu, keep: cli.keep, nodeArgs });
        const s = server;
        const result = await runScenario(scenario, { name: target, port: s.port, domain: s.domain, pids: () => s.pids(), restart: () => s.restart() }, opts);
        cell.runs.push(result);
        const mem = result.rssKiBPerSession !== undefined ? `, ${fmt(result.rssKiBPerSession)} KiB/session` : '';
        log(
          `${label}: ${fmt(result.rate)}/s, p50 ${fmt(result.p50Ms)} ms, p99 ${fmt(result.p99Ms)} ms, ` +
            `server ${fmt(result.serverCpuUsPerOp)} us/op (kernel ${fmt(result.serverSysUsPerOp ?? NaN)}; ${fmt(result.serverCpuUtil * 100, 2)}% CPU), ` +
            `generator ${fmt(result.genCpuUtil * 100, 2)}% CPU, rest of the machine ${fmt(result.otherCpuUtil * 100, 2)}% CPU, ${result.errors} errors${mem}`,
        );
      } catch (err) {
        if (err instanceof UnsupportedError) {
          cell.unsupported = err.message;
          log(`${label}: not supported: ${err.message}`);
        } else {
          const msg = (err as Error).message ?? String(err);
          cell.failures.push(msg);
          log(`${label}: failed: ${msg}`);
        }
      } finally {
        await server?.stop();
      }
      if (profileDir) {
        for (const f of existsSync(profileDir) ? readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile')) : []) {
          log(`${label}: profile ${path.join(profileDir, f)}\n${formatSelfTime(topSelfTime(path.join(profileDir, f), 15, ROOT))}`);
        }
      }
    }
  }

  const report: Report = {
    started,
    seconds: (performance.now() - t0) / 1000,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineInfo(),
    pinning,
    fileLimit: fileLimit().soft,
    fsFloor,
    versions,
    options: opts,
    runsPerScenario: runs,
    targets,
    scenarios: scenarios as ScenarioName[],
    cells,
    skippedPeers,
  };
  process.stdout.write(`${textReport(report)}\n`);
  // A run that measured nothing leaves the last report alone.
  if (!cells.some((c) => c.runs.length > 0)) {
    log(`bench: nothing was measured${cli.write ? `; ${cli.results} left as it was` : ''}`);
    return 1;
  }
  if (cli.write) {
    writeFileSync(cli.results, markdownReport(report));
    log(`bench: wrote ${cli.results}`);
  }
  if (cli.json) {
    writeFileSync(cli.json, JSON.stringify(report, null, 2));
    log(`bench: wrote ${cli.json}`);
  }
  const failed = cells.reduce((n, c) => n + c.failures.length, 0);
  if (failed > 0) log(`bench: ${failed} run${failed === 1 ? '' : 's'} failed (see above and the report)`);
  return failed > 0 ? 1 : 0;
}

// Whatever happens, no server started here outlives the harness.
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    log(`bench: ${sig}, stopping the servers`);
    killAllNow();
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`bench: ${(err as Error).stack ?? String(err)}`);
    killAllNow();
    process.exitCode = 1;
  },
);
