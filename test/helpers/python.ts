// The Python that runs an interop script: Debian's packages (slixmpp,
// Twisted) are seen only by Debian's own interpreter.
import assert from 'node:assert/strict';
import { runProgram } from './run-tool.js';

/**
 * The first Python that imports `module`: $YAK_PYTHON, then Debian's own
 * /usr/bin/python3 (a pyenv or venv python3 first on PATH does not see
 * Debian's packages), then python3. Fails with an install hint for
 * `debPackage`, never skips, when none does.
 */
export async function pythonWith(module: string, what: string, debPackage: string): Promise<string> {
  const candidates = [process.env.YAK_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const python of candidates) {
    const probe = await runProgram(python, ['-c', `import ${module}`], { timeout: 15_000 });
    if (probe.code === 0) return python;
    tried.push(`${python}: ${probe.stderr.trim().split('\n').at(-1) ?? `exit ${probe.code}`}`);
  }
  assert.fail(`${what} is not installed: install ${debPackage} (apt-get install ${debPackage}), as .ci/run does\n${tried.join('\n')}`);
}
