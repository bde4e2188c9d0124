// Why a path given as a file to read is no file that can be read: a device
// never ends (/dev/zero, /dev/urandom), so reading it whole would hang and
// fill memory; a folder holds no text. A pipe (`<(make-list)`) does end,
// and is read like a file.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** 'a device, not a file', 'a folder, not a file', or undefined when it can be read. */
export function notAFile(st: Stats): string | undefined {
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device, not a file';
  if (st.isDirectory()) return 'a folder, not a file';
  return undefined;
}

/** Why `st` is no regular file (a device, a folder, a pipe or socket), or undefined when it is one. */
export function notRegularFile(st: Stats): string | undefined {
  return st.isFile() ? undefined : (notAFile(st) ?? 'a pipe or socket, not a file');
}

/** Thrown by readRegularFile. `what`: a device or a folder (see notAFile); undefined for a pipe or a socket. */
export class NotRegularFileError extends Error {
  constructor(
    readonly what: string | undefined,
    /** What it is instead, said (see notRegularFile). */
    readonly why: string,
  ) {
    super(what ?? 'not a regular file');
  }
}

/** Thrown by readAtMost and readRegularFile: the file holds more than `max` bytes. */
export class FileTooLargeError extends Error {
  constructor(readonly max: number) {
    super(`more than ${max} bytes`);
  }
}

/**
 * The bytes of the open file `fd` up to its end, refused (FileTooLargeError)
 * once past `max`: a pipe need not end (`<(yes)`), and a regular file may
 * be replaced by a huge one, or grow while it is read.
 */
export function readAtMost(fd: number, max: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) return Buffer.concat(chunks, total);
    total += n;
    if (total > max) throw new FileTooLargeError(max);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

/**
 * The bytes of a regular file of at most `max` bytes, for a running server
 * that must not wait: opened without blocking (a FIFO nobody writes would
 * hold open(), and the whole process, for ever), then refused
 * (NotRegularFileError) unless it is a regular file, and (FileTooLargeError)
 * when larger than `max` before any of it is read. Other failures are the
 * system's errors.
 */
export function readRegularFile(path: string, max: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    const why = notRegularFile(st);
    if (why !== undefined) throw new NotRegularFileError(notAFile(st), why);
    if (st.size > max) throw new FileTooLargeError(max);
    return readAtMost(fd, max);
  } finally {
    closeSync(fd);
  }
}
