// Running the Net::Jabber (Perl) interop scripts under test/interop/.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const INSTALL_HINT =
  'Net::Jabber is not installed: install libnet-jabber-perl (apt-get install libnet-jabber-perl), as .ci/run does';

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

/** Fails (never skips) when Perl or Net::Jabber is missing: these tests are part of the suite. */
export async function requireNetJabber(): Promise<void> {
  const probe = await perl(['-MNet::Jabber', '-e', '1']);
  assert.equal(probe.code, 0, `${INSTALL_HINT}\n${probe.stderr}`);
}
