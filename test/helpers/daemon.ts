// Runs the real daemon (dist/src/cli/jabberd.js) as a child process, for
// tests of what only a separate process shows: kill -9, signals, exit codes,
// startup refusals, log lines, interop with clients in other languages.
// The config is the bundled jabber.xml with the listener moved to an
// ephemeral port on 127.0.0.1; the port is read from the 'listening' line.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_CONFIG } from './yak.js';

export const JABBERD = fileURLToPath(new URL('../../src/cli/jabberd.js', import.meta.url));

const BUNDLED_LISTENER = "<ip port='5222'>127.0.0.1</ip>";

/** The bundled jabber.xml text, listening on 127.0.0.1 with the given port (0 = any free one). */
export function bundledConfigText(port = 0): string {
  const text = readFileSync(BUNDLED_CONFIG, 'utf8');
  if (!text.includes(BUNDLED_LISTENER)) throw new Error(`${BUNDLED_CONFIG} no longer contains ${BUNDLED_LISTENER}`);
  return text.replace(BUNDLED_LISTENER, `<ip port='${port}'>127.0.0.1</ip>`);
}

/** A pino line from the daemon's stderr. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface DaemonOptions {
  /** A whole jabber.xml text (default: bundledConfigText()). */
  configText?: string;
  /** Spool folder passed with -s (default: DIR/spool, inside the helper's own temp folder). */
  spool?: string;
  /** More command-line arguments. */
  args?: string[];
  /** Milliseconds to wait for the 'listening' line. */
  timeout?: number;
  /** More environment variables for the process. */
  env?: NodeJS.ProcessEnv;
  /** A command the daemon runs under, e.g. ['prlimit', '--nofile=300', '--'] (it must exec it, keeping the pid). */
  wrap?: string[];
  /** Called with the process as soon as it is spawned, before it listens. */
  onSpawn?: (child: ChildProcess) => void;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Daemon {
  port: number;
  child: ChildProcess;
  spool: string;
  /** The helper's temp folder (config file, and the spool unless one was given). */
  dir: string;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** The stderr lines that are JSON (pino), parsed. */
  logLines(): LogLine[];
  /** Resolves with the first log line matching `match`, waiting up to `timeout` ms. */
  waitForLog(match: (l: LogLine) => boolean, timeout?: number): Promise<LogLine>;
  exited: Promise<Exit>;
  /** SIGTERM, then the exit status (SIGKILL after `timeout` ms, which then throws). */
  stop(timeout?: number): Promise<Exit>;
  /** SIGKILL, then the exit status. */
  kill(): Promise<Exit>;
  /** Kills the process if it still runs and removes the temp folder. Safe to call twice. */
  dispose(): Promise<void>;
}

function watchExit(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

function parseLogLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // A line cut short by kill -9: not a log line we can read.
    }
  }
  return out;
}

/** Starts the daemon and resolves once it listens; rejects with its stderr if it exits or stays silent. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-daemon-'));
  const spool = opts.spool ?? path.join(dir, 'spool');
  const configFile = path.join(dir, 'jabber.xml');
  await writeFile(configFile, opts.configText ?? bundledConfigText());
  const command = [...(opts.wrap ?? []), process.execPath, JABBERD, '-c', configFile, '-s', spool, ...(opts.args ?? [])];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: dir,
    env: opts.env ? { ...process.env, ...opts.env } : undefined,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = watchExit(child);
  opts.onSpawn?.(child);
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
    for (const l of [...listeners]) l();
  });

  const stderrDone = new Promise<void>((resolve) => child.stderr!.once('close', () => resolve()));

  const waitForLog = (match: (l: LogLine) => boolean, timeout = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, line?: LogLine): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        listeners.delete(check);
        if (err) reject(err);
        else resolve(line!);
      };
      const check = (): void => {
        const found = parseLogLines(stderr).find(match);
        if (found) finish(undefined, found);
      };
      const timer = setTimeout(
        () => finish(new Error(`no matching log line within ${timeout} ms; stderr:\n${stderr}`)),
        timeout,
      );
      listeners.add(check);
      check();
      // Once stderr is closed (the daemon exited) nothing more can come.
      void stderrDone.then(() => {
        check();
        finish(new Error(`daemon closed stderr without the expected log line; stderr:\n${stderr}`));
      });
    });

  let disposed = false;
  const kill = async (): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  const daemon: Daemon = {
    port: 0,
    child,
    spool,
    dir,
    stderr: () => stderr,
    logLines: () => parseLogLines(stderr),
    waitForLog,
    exited,
    async stop(timeout = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeout)));
      const out = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (out === 'late') {
        await kill();
        throw new Error(`daemon did not exit within ${timeout} ms of SIGTERM; stderr:\n${stderr}`);
      }
      return out;
    },
    kill,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    const line = await waitForLog((l) => l.msg === 'listening' && typeof l.port === 'number', opts.timeout);
    daemon.port = line.port as number;
  } catch (err) {
    await daemon.dispose();
    throw err;
  }
  return daemon;
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/**
 * Runs jabberd with `args` to completion (for refusals and --check). A run
 * that is still going after `timeout` ms is killed and reported as such, so
 * a daemon that wrongly starts fails the test instead of hanging it.
 */
export function runJabberd(args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<RunResult> {
  const timeout = opts.timeout ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [JABBERD, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jabberd ${args.join(' ')} still running after ${timeout} ms; stderr:\n${stderr}`));
    }, timeout);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'close' comes after both pipes are drained.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
