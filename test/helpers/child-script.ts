// A client script (Perl, Ruby, ...) run as a child process by an interop
// test: what it prints is gathered and can be awaited line by line, it is
// told to go on through its stdin, and it is killed after a timeout, which
// its stderr then says.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

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
