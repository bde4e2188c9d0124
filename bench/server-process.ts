// Starting and stopping a server under test as a child process: a fresh
// temp folder per run, a free loopback port, "ready" meaning the port
// accepts connections, and a stop that ends the whole process tree the
// harness started (SIGTERM, then SIGKILL), nothing else.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './meter.js';
import { pinnedCommand, processTree } from './proc.js';

export interface RunningServer {
  name: string;
  port: number;
  domain: string;
  /** The run's temp folder (config, data, logs). */
  dir: string;
  /** The server's processes now (the started process and its descendants). */
  pids(): number[];
  /** Ends every process of the server and removes the temp folder. */
  stop(): Promise<void>;
  /** Ends every process of the server and starts it again on the same folder, port and data. */
  restart(): Promise<void>;
}

export interface StartOptions {
  /** CPU to pin the server to (undefined: no pinning). */
  cpu?: number;
  /** Keep the temp folder after stop (for looking at logs). */
  keep?: boolean;
  /** Yak only: extra node options for the daemon (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface ServerTarget {
  /** 'yak', 'prosody', 'ejabberd'. */
  name: string;
  /** Version string for the report. */
  version(): string;
  start(opts: StartOptions): Promise<RunningServer>;
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

// The bench removes its temp folders when it ends, not after each run: on
// ext4 without a journal (this VM's root) the inode allocator skips inodes
// freed in the last 60-300 s, looking each one up, so a run that deleted
// thousands of spool files made the next run's file creation cost ~1 ms of
// kernel CPU instead of ~50 us (perf: recently_deleted in ext4_create),
// whichever server that next run measured. Other users of this module (the
// smoke test) have their folders removed at once.
const removeAtEnd: string[] = [];
let deferRemoval = false;

/** From now on, discarded temp folders wait for removeTempDirsNow(). */
export function deferTempDirRemoval(): void {
  deferRemoval = true;
}

/** Removes `dir`, now or (after deferTempDirRemoval()) when the bench ends. */
export function discardTempDir(dir: string): void {
  if (deferRemoval) removeAtEnd.push(dir);
  else rmSync(dir, { recursive: true, force: true });
}

/** Removes every folder whose removal was deferred. Synchronous, for 'exit' handlers. */
export function removeTempDirsNow(): void {
  for (const dir of removeAtEnd.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      // One folder that cannot go must not keep the others.
      process.stderr.write(`bench: could not remove ${dir}: ${(err as Error).message}\n`);
    }
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Whether the process still runs: a zombie (ended, not yet reaped) has gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Waits, blocking, until these processes have gone or `ms` have passed:
 * for 'exit' handlers, where the event loop no longer runs (so the
 * harness's own children stay zombies, which alive() counts as gone).
 */
function waitGoneSync(pids: number[], ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const until = performance.now() + ms;
  while (pids.some(alive) && performance.now() < until) Atomics.wait(cell, 0, 0, 10);
}

function tail(file: string, chars = 2000): string {
  try {
    const t = readFileSync(file, 'utf8');
    return t.length > chars ? `...${t.slice(-chars)}` : t;
  } catch {
    return '';
  }
}

const running = new Set<RunningServer>();
const keepDirs = new WeakSet<RunningServer>();

/**
 * When the harness ends, however it ends: SIGKILL every process of every
 * server still running (a normal end has stopped them all already) and
 * remove the temp folders. Synchronous, for process 'exit' handlers.
 */
export function killAllNow(): void {
  const killed: number[] = [];
  for (const s of running) {
    for (const p of s.pids()) {
      try {
        process.kill(p, 'SIGKILL');
        killed.push(p);
      } catch {
        // Already gone.
      }
    }
    if (!keepDirs.has(s)) discardTempDir(s.dir);
  }
  running.clear();
  // A folder removed while its server still writes into it (SIGKILL is
  // not instant) would not come out empty, or would come back in part.
  waitGoneSync(killed, 3000);
  removeTempDirsNow();
}

export interface LaunchSpec {
  name: string;
  command: string;
  args: string[];
  cpu?: number;
  dir: string;
  port: number;
  domain: string;
  /** How long the server may take to listen. */
  readyTimeoutMs: number;
  spawnOptions?: Pick<SpawnOptions, 'uid' | 'gid' | 'env'>;
  /** Files whose end is shown when the server fails to start. */
  logFiles?: string[];
  keep?: boolean;
}

/** Spawns the server (stdout and stderr to DIR/console.log) and waits until its port answers. */
export async function launch(spec: LaunchSpec): Promise<RunningServer> {
  const consoleLog = path.join(spec.dir, 'console.log');
  // The process tree of the server's current start (restart() makes another).
  let child: ChildProcess;
  let exited = false;
  let spawnError: Error | undefined;
  let exit: Promise<void>;
  let rootPid: number | undefined;
  // The tree is remembered as it grows, so ending it still finds processes
  // whose parent has already gone.
  let known = new Set<number>();
  const pids = (): number[] => {
    if (rootPid === undefined) return [];
    for (const p of processTree(rootPid)) known.add(p);
    return [...known].filter(alive);
  };
  const spawnOnce = (): void => {
    const fd = openSync(consoleLog, 'a');
    const [cmd, args] = pinnedCommand(spec.cpu, spec.command, spec.args);
    try {
      child = spawn(cmd, args, { cwd: spec.dir, stdio: ['ignore', fd, fd], ...spec.spawnOptions });
    } finally {
      closeSync(fd);
    }
    exited = false;
    spawnError = undefined;
    const started = child;
    started.once('error', (err) => (spawnError = err));
    exit = new Promise<void>((resolve) => started.once('exit', () => ((exited = true), resolve())));
    rootPid = started.pid;
    known = new Set<number>(rootPid ? [rootPid] : []);
  };
  /** Ends the current process tree: SIGTERM, then SIGKILL after 15 s. */
  const end = async (): Promise<void> => {
    for (const p of pids()) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    const until = performance.now() + 15_000;
    while (performance.now() < until && (!exited || pids().length > 0)) await sleep(100);
    for (const p of pids()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (!exited) await Promise.race([exit, sleep(5000)]);
  };
  const stop = async (): Promise<void> => {
    // The server stays among the running until it has gone: a harness
    // interrupted during the stop (ejabberd takes seconds) still kills it
    // and removes its folder.
    await end();
    running.delete(server);
    if (!spec.keep) discardTempDir(spec.dir);
  };
  /** The end of the console log and the server's own logs, for a failed start. */
  const logs = (): string => {
    const text = [consoleLog, ...(spec.logFiles ?? [])].map((f) => tail(f)).filter(Boolean).join('\n');
    return text ? `:\n${text}` : '';
  };
  const ready = async (): Promise<void> => {
    const until = performance.now() + spec.readyTimeoutMs;
    for (;;) {
      if (spawnError || exited) {
        const why = spawnError?.message ?? `exited with code ${child.exitCode}`;
        const seen = logs();
        await stop();
        throw new Error(`${spec.name} did not start (${why})${seen}`);
      }
      pids();
      if (await portAnswers(spec.port)) return;
      if (performance.now() > until) {
        const seen = logs();
        await stop();
        throw new Error(`${spec.name} did not listen on 127.0.0.1:${spec.port} within ${spec.readyTimeoutMs} ms${seen}`);
      }
      await sleep(100);
    }
  };
  const restart = async (): Promise<void> => {
    await end();
    spawnOnce();
    await ready();
  };
  const server: RunningServer = { name: spec.name, port: spec.port, domain: spec.domain, dir: spec.dir, pids, stop, restart };
  running.add(server);
  if (spec.keep) keepDirs.add(server);
  spawnOnce();
  await ready();
  return server;
}
