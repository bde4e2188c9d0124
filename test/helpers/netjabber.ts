// Running the Perl interop scripts under test/interop/ (Net::Jabber and
// the other Perl client libraries).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** test/interop/NAME, in the source tree (the scripts are not compiled). */
export function interopScript(name: string): string {
  return fileURLToPath(new URL(`../../../test/interop/${name}`, import.meta.url));
}

export interface PerlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs perl with `args` to completion (killed after `timeout` ms). */
export function perl(args: string[], timeout = 25_000): Promise<PerlRun> {
  return new Promise((resolve) => {
    execFile('perl', args, { timeout, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr: stderr + (err && typeof err.code !== 'number' ? `\n${err.message}` : '') });
    });
  });
}

/** Fails (never skips) when Perl or `module` (from the Debian package `debPackage`) is missing: these tests are part of the suite. */
export async function requirePerlModule(module: string, debPackage: string): Promise<void> {
  const probe = await perl([`-M${module}`, '-e', '1']);
  const hint = `${module} is not installed: install ${debPackage} (apt-get install ${debPackage}), as .ci/run does`;
  assert.equal(probe.code, 0, `${hint}\n${probe.stderr}`);
}

export function requireNetJabber(): Promise<void> {
  return requirePerlModule('Net::Jabber', 'libnet-jabber-perl');
}
