// Copying one file into a backup (spool-backup.ts): read until the file
// ends, whatever its size does meanwhile, within one slice of the event
// loop for a small file, a chunk at a time on the thread pool for a large
// one.
import { closeSync, fchmodSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { writeAllSync } from '../xdb/file-writes.js';

/**
 * Files larger than this are copied on the thread pool, a chunk at a
 * time, not within one slice (one not in the page cache would hold the
 * event loop for as long as the disk takes).
 */
export const LARGE_FILE = 256 << 10;
/** What one read takes of a file copied within a slice. */
const chunk = Buffer.allocUnsafe(64 << 10);

/**
 * Copies `source` to a new file `copy` with `mode`, reading until the
 * file ends, whatever its size does meanwhile (fs.copyFile, libuv 1.46,
 * loops for ever on a file that shrinks under it). `length`: at most
 * that many bytes. Returns the bytes copied.
 */
export function copyNow(source: string, copy: string, mode: number, length = Infinity): number {
  const from = openSync(source, 'r');
  try {
    const to = openSync(copy, 'wx', mode);
    try {
      let total = 0;
      while (total < length) {
        const n = readSync(from, chunk, 0, Math.min(chunk.length, length - total), null);
        if (n === 0) break;
        writeAllSync(to, chunk.subarray(0, n), null);
        total += n;
      }
      // The mode the file has, not what the umask leaves of it.
      fchmodSync(to, mode);
      return total;
    } finally {
      closeSync(to);
    }
  } finally {
    closeSync(from);
  }
}

/** copyNow() for a large file: a chunk at a time on the thread pool, `check` (a stop) before each. */
export async function copyLarge(source: string, copy: string, mode: number, check: () => void): Promise<number> {
  const from = await open(source, 'r');
  try {
    const to = await open(copy, 'wx', mode);
    try {
      const buf = Buffer.allocUnsafe(LARGE_FILE);
      let total = 0;
      for (;;) {
        check();
        const { bytesRead } = await from.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        for (let at = 0; at < bytesRead; ) at += (await to.write(buf, at, bytesRead - at)).bytesWritten;
        total += bytesRead;
      }
      await to.chmod(mode);
      return total;
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}
