// Builds one of the interop tests' C programs (test/interop/*.c) with gcc,
// its flags from pkg-config, into a folder of the test's own. A missing
// library or compiler fails the test with the packages to install: an
// interop test never skips.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr: stderr + (err && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

/**
 * Compiles `source` against the pkg-config `modules` into `dir`; returns
 * the binary's path. `packages` are the Debian packages that provide them.
 */
export async function buildCProgram(source: string, dir: string, modules: string[], packages: string): Promise<string> {
  const hint = `cannot build ${path.basename(source)}: install ${packages} (apt-get install ${packages}), as .ci/run does`;
  const flags = await run('pkg-config', ['--cflags', '--libs', ...modules]);
  if (flags.code !== 0) assert.fail(`${hint}\npkg-config --cflags --libs ${modules.join(' ')}: ${flags.stderr.trim() || `exit ${flags.code}`}`);
  const binary = path.join(dir, path.basename(source, '.c'));
  const gcc = await run('gcc', ['-Wall', '-o', binary, source, ...flags.stdout.trim().split(/\s+/)]);
  if (gcc.code !== 0) assert.fail(`${hint}\ngcc: ${gcc.stderr.trim() || `exit ${gcc.code}`}`);
  return binary;
}
