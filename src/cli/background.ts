// jabberd -B, 1.4's "run in the background", which its init scripts pass
// (FreeBSD's runs `jabberd -B -h $HOSTNAME`): the command returns once the
// server listens, and the server goes on alone. Node cannot fork, so the
// command starts the server again as a detached process of its own (no -B)
// and waits: it passes on what the server writes to stderr until the
// server says it is ready, and exits 0 then, or with the server's status
// if it stops first (a config error, a port in use), so a script still
// sees a start that failed.
import { spawn } from 'node:child_process';

/** Set in the server's environment: tell the starting command when ready (see readyInBackground). */
const BACKGROUND_ENV = 'YAK_BACKGROUND_START';

/** What the server tells the command once it listens. */
interface ReadyMessage {
  ready: true;
  /** Whether its log goes to stderr only: that goes nowhere once the command is gone. */
  logsToStderrOnly: boolean;
}

/** jabberd's short options that take a value (daemon.ts): -c FILE, -s DIR, -h HOST. */
const SHORT_WITH_VALUE = new Set(['c', 's', 'h']);
/** Its short options that take none, which may share one argument (-DB). */
const SHORT_FLAGS = new Set(['B', 'D', 'v']);
/** Its long options that take a value as the next argument. */
const LONG_WITH_VALUE = new Set(['--config', '--spool', '--host']);

/**
 * The arguments without -B, or undefined when -B is not among them. The
 * arguments are read as commander reads them in daemon.ts, since 1.4 took
 * -B in a group too (-DB, -Bc FILE): in a group, flags are taken until one
 * that takes a value, whose value is the rest of the group, or the next
 * argument when the group ends with it (-c -B names a file "-B"). What it
 * does not know (-x, -DxB) is left for commander to refuse.
 */
export function withoutBackground(args: readonly string[]): string[] | undefined {
  let background = false;
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    let valueNext = LONG_WITH_VALUE.has(arg);
    if (/^-[^-]/.test(arg)) {
      let kept = '-';
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        if (c === 'B') {
          background = true;
          continue;
        }
        kept += c;
        if (SHORT_FLAGS.has(c)) continue;
        if (SHORT_WITH_VALUE.has(c) && j === arg.length - 1) valueNext = true;
        kept += arg.slice(j + 1);
        break;
      }
      // A group that was all -B is gone; -DB leaves -D, -Bc leaves -c.
      if (kept !== '-') out.push(kept);
    } else {
      out.push(arg);
    }
    if (valueNext && i + 1 < args.length) out.push(args[++i]!);
  }
  return background ? out : undefined;
}

/** Starts `script args` detached and resolves with the exit status for this command. */
export function startInBackground(script: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, [BACKGROUND_ENV]: '1' },
  });
  child.stderr!.pipe(process.stderr, { end: false });
  return new Promise((resolve) => {
    child.once('message', (m: ReadyMessage) => {
      if (!m?.ready) return;
      if (m.logsToStderrOnly) process.stderr.write('jabberd: note: running in the background with no <log><file>: its log lines go nowhere\n');
      process.stdout.write(`jabberd: started in the background, pid ${child.pid}\n`);
      // Let go of it: the pipe, the channel, and this process's wait on it.
      child.stderr!.unpipe(process.stderr);
      child.stderr!.destroy();
      child.disconnect();
      child.unref();
      resolve(0);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.once('error', (err) => {
      process.stderr.write(`jabberd: cannot start in the background: ${err.message}\n`);
      resolve(1);
    });
  });
}

/** Whether this process is a server a `jabberd -B` started (and may have left already). */
export function startedInBackground(): boolean {
  return process.env[BACKGROUND_ENV] === '1';
}

/**
 * Called by the server once it listens: when a `jabberd -B` started it,
 * tells that command, if it is still there to hear it (it may have been
 * killed, or stopped with Ctrl-C, while the server started).
 */
export function readyInBackground(logsToStderrOnly: boolean): void {
  if (!startedInBackground()) return;
  delete process.env[BACKGROUND_ENV];
  if (!process.send || !process.connected) return;
  const message: ReadyMessage = { ready: true, logsToStderrOnly };
  process.send(message, () => {
    if (process.connected) process.disconnect();
  });
}
