// Runs a helper's function in a user and network namespace of its own
// (util-linux's unshare -rn), where it may take the loopback down or
// change the namespace's TCP settings without touching the host's, and
// gives back what it returned (as JSON). Only exports.
import assert from 'node:assert/strict';
import { runProgram } from './run-tool.js';

/** Calls `fn(...args)` of the helper module named (relative to test/helpers/) in its own network namespace. */
export async function inOwnNetwork<T>(helper: string, fn: string, args: unknown[], timeoutMs: number): Promise<T> {
  const url = new URL(`./${helper}`, import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(url)});
    console.log(JSON.stringify(await m[${JSON.stringify(fn)}](...${JSON.stringify(args)})));`;
  const run = await runProgram('unshare', ['-rn', process.execPath, '--input-type=module', '-e', script], { timeout: timeoutMs });
  assert.equal(run.code, 0, `unshare (util-linux) and ip (iproute2) must run ${helper}: ${run.stderr}`);
  return JSON.parse(run.stdout.trim()) as T;
}
