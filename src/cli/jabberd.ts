#!/usr/bin/env node
// jabberd's entry point: jabberd -c jabber.xml [-s spool] [-h host] [-D] [-B] [--check].
// It catches SIGHUP first, and only then loads the daemon (daemon.ts), so
// that a SIGHUP while the modules load cannot kill it (see hangups.ts).
// With -B it only starts the daemon in the background (background.ts).
import { fileURLToPath } from 'node:url';
import { startedInBackground, startInBackground, withoutBackground } from './background.js';
import { catchHangupsEarly } from './hangups.js';
import { onStdoutFailure } from './stdout-failure.js';

// --check, --version, --help and -B's pid line are what it prints.
onStdoutFailure('jabberd', 1);

const foreground = withoutBackground(process.argv.slice(2));
/**
 * What only prints and exits runs here, whatever -B says: a child in the
 * background has no terminal to print to (`jabberd -B -v` printed nothing).
 * `-v` may be grouped with the other flags that take no value (-Dv).
 */
const printsOnly = (args: string[]): boolean =>
  args.some((a) => a === '--check' || a === '--help' || a === '--version' || /^-[BDv]*v[BDv]*$/.test(a));
if (foreground !== undefined && !printsOnly(foreground)) {
  process.exitCode = await startInBackground(fileURLToPath(import.meta.url), foreground);
} else {
  if (foreground !== undefined) process.argv = [...process.argv.slice(0, 2), ...foreground];
  catchHangupsEarly();
  // Its stderr is a pipe to the `jabberd -B` that started it, which leaves
  // once it is ready (or dies before): writes then fail with EPIPE, which
  // must not be fatal. (What is lost is what 1.4 lost too.)
  if (startedInBackground()) process.stderr.on('error', () => undefined);
  await import('./daemon.js');
}
