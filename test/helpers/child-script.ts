// A client script (Perl, Ruby, ...) run as a child process by an interop
// test: what it prints is gathered and can be awaited line by line, it is
// told to go on through its stdin, and it is killed after a timeout, which
// its stderr then says. LoggedScript: one that drives an in-process Yak,
// whose failures show the script's output and the server's log.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { CapturedLog } from './log-capture.js';

export class ChildScript {
  stdout = '';
  stderr = '';
  /** Its exit code; null when it was killed or could not start (stderr says which). */
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly timer: NodeJS.Timeout;

  constructor(command: string, args: string[], timeout: number) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.child.stdin.on('error', () => undefined); // gone already: its exit status tells
    this.timer = setTimeout(() => {
      this.stderr += `\n(killed: still running after ${timeout} ms)`;
      this.child.kill('SIGKILL');
    }, timeout);
    this.exited = new Promise<number | null>((resolve) => {
      this.child.once('error', (err) => {
        this.stderr += `\n${err.message}`;
        resolve(null);
      });
      this.child.once('close', (code) => resolve(code));
    }).finally(() => clearTimeout(this.timer));
  }

  /** What it printed so far, a line each, empty lines left out. */
  get lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  /** Resolves once it has printed `line` (and never, if it does not). */
  printed(line: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.lines.includes(line)) {
          this.child.stdout.off('data', check);
          resolve();
        }
      };
      this.child.stdout.on('data', check);
      check();
    });
  }

  /** Resolves once it has printed `line`; rejects if it ends first. */
  async line(line: string): Promise<void> {
    const ended = this.exited.then((code) => {
      throw new Error(`the script ended (exit ${code}) before printing "${line}"`);
    });
    await Promise.race([this.printed(line), ended]);
  }

  /** Writes `line` to its stdin; `last`: and closes its stdin after it. */
  tell(line: string, last = false): void {
    if (last) this.child.stdin.end(`${line}\n`);
    else this.child.stdin.write(`${line}\n`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** A ChildScript run against an in-process Yak whose log is captured: each failure shows both. */
export class LoggedScript extends ChildScript {
  constructor(
    /** Names the script in transcripts ("xmpp4r script"). */
    readonly label: string,
    command: string,
    args: string[],
    timeout: number,
    readonly log: CapturedLog,
  ) {
    super(command, args, timeout);
  }

  transcript(): string {
    const server = this.log.lines.map((l) => JSON.stringify(l)).join('\n');
    return `${this.label} stdout:\n${this.stdout}\nstderr:\n${this.stderr}\nserver log:\n${server}`;
  }

  /** What `step` resolves to; fails with the transcript if the script ends first or `step` fails. */
  async during<T>(what: string, step: Promise<T>): Promise<T> {
    const done = step.then((value) => ({ value }));
    const ended = this.exited.then((code) => ({ code }));
    let first: { value: T } | { code: number | null };
    try {
      first = await Promise.race([done, ended]);
    } catch (err) {
      assert.fail(`waiting for ${what}: ${err instanceof Error ? err.message : String(err)}\n${this.transcript()}`);
    }
    if ('code' in first) assert.fail(`the script ended (exit ${first.code}) before ${what}\n${this.transcript()}`);
    return first.value;
  }

  /** Resolves once the script has printed `line`; fails with the transcript if it ends first. */
  async expectLine(line: string): Promise<void> {
    await this.during(`the line "${line}"`, this.printed(line));
  }

  /** Waits for the script to end and asserts it succeeded and printed exactly `lines`. */
  async expectSuccess(lines: string[]): Promise<void> {
    const code = await this.exited;
    assert.equal(code, 0, `the ${this.label} must succeed\n${this.transcript()}`);
    assert.deepEqual(this.lines, lines, this.transcript());
  }
}
