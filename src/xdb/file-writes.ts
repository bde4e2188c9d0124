// The file system calls the journal writes with. Those that only reach the
// page cache (an append, an in-place rewrite, an unlink) are synchronous
// calls on the event loop; only fdatasync, which waits for the device, goes
// to libuv's thread pool (journal.ts says what each way cost).
import { closeSync, constants, fdatasync, fstatSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { errCode } from '../util/err-code.js';

/** All of `buf` at `position` (null: at the file's end). */
export function writeAllSync(fd: number, buf: Buffer, position: number | null): void {
  for (let done = 0; done < buf.length; ) {
    done += writeSync(fd, buf, done, buf.length - done, position === null ? null : position + done);
  }
}

/**
 * Rewrites the file in place (no new inode), creating it if needed, and
 * returns its new size. `size` is what the file held before, if known:
 * ftruncate, which cost more than the write in measurements, is only done
 * when the file shrinks.
 */
export function writeInPlace(path: string, data: string, size?: number): number {
  // Never through a symbolic link: a user file that is one (planted in the
  // spool, or on shared storage) would have us write wherever it points.
  // The write fails (ELOOP) and the journal keeps the change.
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    const buf = Buffer.from(data, 'utf8');
    const before = size ?? fstatSync(fd).size;
    writeAllSync(fd, buf, 0);
    if (before > buf.length) ftruncateSync(fd, buf.length);
    return buf.length;
  } finally {
    closeSync(fd);
  }
}

/** A name removal, like the writes it goes with, is a synchronous system call. */
export function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
  }
}

export const fdatasyncOnPool = promisify(fdatasync);

/** Only the fdatasync waits for the disk, so only it goes to the thread pool. */
export async function datasyncIfThere(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return; // deleted since: its folder sync covers it
    throw err;
  }
  try {
    await fdatasyncOnPool(fd);
  } finally {
    closeSync(fd);
  }
}
