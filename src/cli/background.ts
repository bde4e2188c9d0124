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

/** The arguments without -B, or undefined when -B is not among them. */
export function withoutBackground(args: readonly string[]): string[] | undefined {
  return args.includes('-B') ? args.filter((a) => a !== '-B') : undefined;
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
