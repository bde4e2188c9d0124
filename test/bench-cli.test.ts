// `npm run bench` refuses what would measure nothing, before it starts a
// server, and never overwrites the last report then (an audit found
// each of these ran, wrote an empty or failed report and exited 0).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const RUN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'run.js');

function bench(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
    });
  });
}

for (const [what, args, says] of [
  ['an empty scenario list', ['--scenarios', ','], /--scenarios names none/],
  ['a --jabberd that is not there', ['--jabberd', '/nonexistent/jabberd.js', '--scenarios', 'register'], /--jabberd \/nonexistent\/jabberd\.js: no such file/],
  ['--no-yak without peers', ['--no-yak', '--scenarios', 'register'], /no server to measure/],
] as const) {
  test(`bench refuses ${what}: exit 2, and no report written`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yak-bench-cli-'));
    try {
      const results = path.join(dir, 'RESULTS.md');
      const r = await bench([...args, '--results', results]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, says);
      assert.equal(existsSync(results), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
