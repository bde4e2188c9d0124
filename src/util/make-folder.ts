// mkdir with { recursive: true }, with the real reason when it fails.
// Node's recursive mkdir reports any failure to make a missing folder as
// ENOENT ("no such file or directory", naming the folder it could not
// make): on a read-only file system (EROFS), out of inodes, or full, an
// admin read that the spool's own folder did not exist. Made again one
// level at a time, the first folder that cannot be made says why.
import { lstatSync, mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errCode } from './err-code.js';

/** As mkdir(dir, { recursive: true, mode }): the first folder made, or undefined when `dir` was there. */
export async function makeFolder(dir: string, mode: number): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true, mode });
  } catch (err) {
    throw errCode(err) === 'ENOENT' ? realReason(dir, mode, err) : err;
  }
}

/** The same, synchronously. */
export function makeFolderSync(dir: string, mode: number): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw errCode(err) === 'ENOENT' ? realReason(dir, mode, err) : err;
  }
}

/**
 * The error a plain mkdir of the highest missing folder on the way to
 * `dir` gives; `fallback` when there is none or it succeeds (then the
 * folder is made, as the recursive mkdir would have made it).
 */
function realReason(dir: string, mode: number, fallback: unknown): unknown {
  let missing: string | undefined;
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      // lstat: a link whose target is missing is there, and mkdir below it says so (ENOENT).
      lstatSync(d);
      break;
    } catch {
      if (dirname(d) === d) return fallback;
      missing = d;
    }
  }
  if (missing === undefined) return fallback;
  try {
    mkdirSync(missing, { mode });
  } catch (err) {
    return err;
  }
  return fallback;
}
