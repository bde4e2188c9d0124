// What the harness reads about processes from /proc (Linux): CPU seconds
// of a server's whole process tree, its resident memory, and the machine.
// Also the two process-wide settings a load test needs: CPU pinning
// (taskset) and the open-file limit (prlimit).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

/** Clock ticks per second of utime/stime in /proc/PID/stat. */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

interface StatFields {
  ppid: number;
  /** utime + stime + cutime + cstime, seconds. */
  cpu: number;
  /** stime + cstime: the part spent in the kernel, seconds. */
  sys: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15, and
  // cutime 16, cstime 17: children it has waited for, such as the `sync`
  // Yak's checkpoints run, which are part of what the server costs.
  const user = Number(rest[11]) + Number(rest[13]);
  const sys = Number(rest[12]) + Number(rest[14]);
  return { ppid: Number(rest[1]), cpu: (user + sys) / CLK_TCK, sys: sys / CLK_TCK };
}

/** `root` and every live descendant of it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0 && out.length < 10_000) {
    const pid = todo.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) todo.push(c);
  }
  return out;
}

/** CPU seconds used so far by these processes together: all (user + system), and system alone. */
export function cpuSeconds(pids: readonly number[]): { total: number; sys: number } {
  let total = 0;
  let sys = 0;
  for (const pid of pids) {
    const st = readStat(pid);
    total += st?.cpu ?? 0;
    sys += st?.sys ?? 0;
  }
  return { total, sys };
}

/** Resident set size in KiB of these processes together (VmRSS from /proc/PID/status). */
export function rssKiB(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

/** CPU seconds the whole machine has been busy (all CPUs, from /proc/stat; idle and iowait excluded). */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * Waits (up to `maxMs`) until the machine is nearly idle (below `threshold`
 * cores busy over half a second), so that a run does not start while
 * something else computes. Returns the last busy level seen, in cores.
 */
export async function waitQuiet(maxMs: number, threshold = 0.15): Promise<number> {
  const until = Date.now() + maxMs;
  let busy = NaN;
  do {
    const a = machineBusySeconds();
    await new Promise((r) => setTimeout(r, 500));
    busy = (machineBusySeconds() - a) / 0.5;
    if (!(busy >= threshold)) return busy;
  } while (Date.now() < until);
  return busy;
}

/** This process's CPU seconds (all its threads). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Whether `taskset` exists and the machine has at least two CPUs to split between server and generator. */
export function canPin(): boolean {
  return os.cpus().length >= 2 && spawnSync('taskset', ['--version']).status === 0;
}

/** Pins every thread of this process (and so the children it starts later) to `cpu`. */
export function pinSelf(cpu: number): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** The command prefix that starts a program pinned to `cpu` (empty when pinning is off). */
export function pinnedCommand(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  if (cpu === undefined) return [command, args];
  return ['taskset', ['-c', String(cpu), command, ...args]];
}

/** The soft and hard open-file limits of a process. */
export function fileLimit(pid: number = process.pid): { soft: number; hard: number } {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const n = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
    return { soft: n(m?.[1]), hard: n(m?.[2]) };
  } catch {
    return { soft: 1024, hard: 1024 };
  }
}

/**
 * Raises this process's open-file limit to at least `want` (the children
 * it starts afterwards inherit it). Raises the hard limit too when running
 * as root; otherwise goes as far as the hard limit. Returns the soft limit
 * in force afterwards.
 */
export function raiseFileLimit(want: number): number {
  const { soft, hard } = fileLimit();
  if (soft >= want) return soft;
  const root = process.getuid?.() === 0;
  const target = root ? Math.max(want, hard === Infinity ? want : hard) : Math.min(want, hard);
  const hardArg = root && (hard === Infinity || hard < target) ? String(target) : hard === Infinity ? 'unlimited' : String(hard);
  spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${hardArg}`], { stdio: 'ignore' });
  return fileLimit().soft;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  os: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  let osName = `${os.type()} ${os.release()}`;
  if (existsSync('/etc/os-release')) {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) osName = m[1]!;
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    // os.cpus(), not availableParallelism(): the latter shrinks once this process is pinned.
    cores: os.cpus().length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: os.release(),
    os: osName,
    node: process.version,
  };
}
