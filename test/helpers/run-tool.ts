// Runs a program as a child process (one of our command-line tools, or
// another project's) and collects what it printed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** dist/src/cli/NAME.js, the compiled tool. */
export function toolPath(name: string): string {
  return fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url));
}

export function runTool(script: string, args: string[], opts: { input?: string | Buffer; timeout?: number } = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeout ?? 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

export interface ProgramOptions {
  /** Written to its stdin, which is then closed (closed at once without). */
  input?: string;
  /** SIGKILL after this many ms (default 30 s), said at the end of stderr. */
  timeout?: number;
  env?: NodeJS.ProcessEnv;
  /** SIGTERM once stderr matches: for a program that would otherwise wait for its timeout. */
  stopWhen?: RegExp;
}

/**
 * Runs any program once (another project's client, a system tool) and
 * collects what it printed. Never rejects: a program that cannot start
 * gives code null and the reason at the end of stderr, so that the
 * caller's assertion shows it with the rest.
 */
export function runProgram(command: string, args: string[], opts: ProgramOptions = {}): Promise<ToolRun> {
  const timeout = opts.timeout ?? 30_000;
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.stopWhen?.test(stderr)) child.kill('SIGTERM');
    });
    const timer = setTimeout(() => {
      stderr += `\n(killed: still running after ${timeout} ms)`;
      child.kill('SIGKILL');
    }, timeout);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}\n${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // exited before reading: the exit status tells
    child.stdin.end(opts.input ?? '');
  });
}
