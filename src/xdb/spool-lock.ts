// One process at a time on a spool. The server holds this lock from before
// its journal replay until it exits, and so does jabberctl while it works
// on the spool itself: two stores on one spool would replay each other's
// journal and interleave rewrites of the same file.
//
// The lock is flock(2) on SPOOL/.yak-lock. Taking it fails (after a
// second's wait) while another process holds it, and the kernel frees it
// when its holder ends, however it ends: a crash leaves nothing stale, so
// there is no check-then-remove for two starting processes to race on (the
// control socket's file alone had that window). The file is in the spool,
// so only who may write the spool can take the lock and keep Yak from
// starting. jabberctl's reads take it shared where the file is there and
// they may open it: beside each other, never beside a writer, and without
// writing anything (lockSpoolShared). Node has no flock binding: for a
// writer, util-linux's flock(1) takes the lock and hands it to a `cat`
// reading a pipe from this process. When this process ends, even by
// SIGKILL, the pipe closes, cat exits, the lock is free.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { makeFolder } from '../util/make-folder.js';
import path from 'node:path';
import { errCode } from '../util/err-code.js';

export const LOCK_FILE = '.yak-lock';
/**
 * How long a taker waits for a holder to let go. A holder that just died
 * frees the lock a moment later, when its helper sees the pipe close: a
 * server restarted at once after a crash must not be refused for that.
 */
const WAIT_S = 1;
/** flock's exit status when another process still holds the lock (EX_TEMPFAIL). */
const BUSY = 75;
/** The shell's exit status for a command it cannot find (no flock here). */
const NOT_FOUND = 127;
const LOCKED = 'locked\n';
/** Run by /bin/sh with the lock file as $0. */
const HELPER = `trap '' TERM INT HUP; exec flock --exclusive --wait ${WAIT_S} --conflict-exit-code ${BUSY} "$0" /bin/sh -c 'echo locked; exec cat'`;

/** The spool is held by another live process. */
export class SpoolBusyError extends Error {}

export interface SpoolLock {
  /** False where flock could not lock (see `why`): nothing is locked. */
  readonly held: boolean;
  /** Why nothing is locked, when it is not. */
  readonly why?: string;
  /** Settles if the lock goes before release() (its helper was killed). */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

const never = new Promise<void>(() => undefined);

function unlocked(why: string): SpoolLock {
  return { held: false, why, lost: never, release: async () => undefined };
}

/** The lock file is there, but this process may not open it: a reader cannot tell whether a writer holds it. */
export class SpoolLockDenied extends Error {}

/**
 * What a flock(1) (or its helper shell) that ended without the lock says
 * by its exit status: another holder, no flock(1) here, or a failure.
 */
function flockFailure(code: number | null, stderr: string): SpoolBusyError | string {
  if (code === BUSY) return new SpoolBusyError('another Yak (a server, or jabberctl) is using this spool');
  if (code === NOT_FOUND) return 'no flock(1) here';
  return `flock failed: ${stderr.trim() || `exit status ${code}`}`;
}

/**
 * A reader's lock (jabberctl list, show, check): held beside other
 * readers, refused (SpoolBusyError) while a writer holds the spool, and
 * taken without writing or making anything. The lock file is opened here,
 * read-only and without O_CREAT (flock(1) given a path would make it, with
 * the umask's mode, had it gone meanwhile), and flock(1) locks that
 * descriptor, which this process holds: the lock lasts until release() or
 * this process's end. No lock file: nothing is locked (`why` says so); one
 * that cannot be opened: SpoolLockDenied.
 */
export async function lockSpoolShared(spool: string): Promise<SpoolLock> {
  const file = path.join(spool, LOCK_FILE);
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return unlocked(`no ${LOCK_FILE} in the spool`);
    if (code === 'EACCES' || code === 'EPERM') throw new SpoolLockDenied(`cannot open ${file}: permission denied`);
    throw err;
  }
  const child = spawn('flock', ['--shared', '--wait', String(WAIT_S), '--conflict-exit-code', String(BUSY), '3'], {
    stdio: ['ignore', 'ignore', 'pipe', handle.fd],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const outcome = await new Promise<'locked' | SpoolBusyError | string>((resolve) => {
    child.once('error', (err) => resolve(errCode(err) === 'ENOENT' ? 'no flock(1) here' : `cannot run flock: ${err.message}`));
    child.once('exit', (code) => resolve(code === 0 ? 'locked' : flockFailure(code, stderr)));
  });
  if (outcome !== 'locked') {
    await handle.close();
    if (outcome instanceof SpoolBusyError) throw outcome;
    return unlocked(outcome);
  }
  return { held: true, lost: never, release: () => handle.close() };
}

/** Holds the spool for this process (a writer); throws SpoolBusyError when another one does. */
export async function lockSpool(spool: string): Promise<SpoolLock> {
  const file = path.join(spool, LOCK_FILE);
  await makeFolder(spool, 0o700);
  // Made here, owner only, rather than by flock with the umask's mode.
  await writeFile(file, '', { flag: 'a', mode: 0o600 });
  // The helper ignores the signals a terminal or a service manager sends
  // the whole group at a stop (ignored signals stay ignored across exec):
  // it must hold the lock until this process has finished its shutdown.
  const child = spawn('/bin/sh', ['-c', HELPER, file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // 'locked', a SpoolBusyError, or why flock could not lock at all.
  const outcome = await new Promise<'locked' | SpoolBusyError | string>((resolve) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out === LOCKED) resolve('locked');
    });
    child.once('error', (err) => resolve(`cannot run /bin/sh: ${err.message}`));
    child.once('exit', (code) => resolve(flockFailure(code, stderr)));
  });
  if (outcome instanceof SpoolBusyError) throw outcome;
  // A file system without locks (some network ones) must not keep the
  // spool from being used: the caller says that nothing is locked.
  if (outcome !== 'locked') return unlocked(outcome);
  let releasing = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A helper killed meanwhile closed its end: ending ours must not throw.
  child.stdin.on('error', () => undefined);
  // The holder must not keep a finished process alive; release() ends it.
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref(): void }).unref();
  child.unref();
  return {
    held: true,
    lost: exited.then(() => (releasing ? never : undefined)),
    release: async () => {
      releasing = true;
      child.ref(); // the wait for its exit must keep this process alive
      child.stdin.end();
      await exited;
    },
  };
}
