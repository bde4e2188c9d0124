// <pidfile>: refuse to start while it names a live process; remove it on exit.
import { promises as fs } from 'node:fs';
import { errCode } from './err-code.js';
import { FileTooLargeError, NotRegularFileError, readRegularFile } from './not-a-file.js';
import type { Logger } from '../log.js';

export class PidfileError extends Error {}

/**
 * A pidfile holds a number. A larger file at the path is something else
 * (a path mistyped in the config), which acquirePidfile would overwrite.
 */
export const MAX_PIDFILE_BYTES = 4096;

/** What is said of a file over MAX_PIDFILE_BYTES at the pidfile's path. */
export function notAPidfile(file: string): string {
  return `<pidfile>${file}</pidfile>: a file of more than ${MAX_PIDFILE_BYTES} bytes is there, no pidfile: is the path right?`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errCode(err) === 'EPERM';
  }
}

/**
 * Refuses while the pidfile names a live process other than this one. Run
 * first at startup, so that a server refused for it has touched nothing
 * (not even created the spool folder); `acquirePidfile` checks again.
 */
export async function refuseLivePidfile(file: string): Promise<void> {
  let text: string | undefined;
  try {
    // Without waiting: a pipe in its place held the start up for good.
    text = readRegularFile(file, MAX_PIDFILE_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFileError) throw new PidfileError(`<pidfile>${file}</pidfile>: ${err.why}`);
    if (err instanceof FileTooLargeError) throw new PidfileError(notAPidfile(file));
    if (errCode(err) !== 'ENOENT') throw new PidfileError(`<pidfile>${file}</pidfile>: ${(err as Error).message}`);
  }
  const pid = Number(text?.trim());
  if (text !== undefined && Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
    throw new PidfileError(`<pidfile>${file}</pidfile>: another server is running (pid ${pid})`);
  }
}

export async function acquirePidfile(file: string): Promise<void> {
  await refuseLivePidfile(file);
  try {
    await fs.writeFile(file, `${process.pid}\n`, { mode: 0o644 });
  } catch (err) {
    throw new PidfileError(`<pidfile>${file}</pidfile>: cannot write: ${(err as Error).message}`);
  }
}

/**
 * Removes the pidfile if it still names this process. One already gone is
 * fine; one that cannot be read or removed (its folder made read-only) is
 * logged, since the next start will find it and must be told it is stale.
 */
export async function releasePidfile(file: string, log: Logger): Promise<void> {
  try {
    const text = readRegularFile(file, MAX_PIDFILE_BYTES).toString('utf8');
    if (Number(text.trim()) === process.pid) await fs.unlink(file);
  } catch (err) {
    // Too large to be a pidfile: not ours (put there since), left alone.
    if (err instanceof FileTooLargeError) return;
    if (errCode(err) !== 'ENOENT') log.warn({ pidfile: file, err: (err as Error).message }, 'the pidfile could not be removed');
  }
}
