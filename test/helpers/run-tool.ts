// Runs one of our command-line tools as a child process and collects what it printed.
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
