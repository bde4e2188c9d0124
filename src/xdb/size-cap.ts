// <maxfilesize>: the cap on one user's file, in bytes as written and in
// weight parsed (MAX_FILE_DENSITY times as much). Every change rewrites
// and journals the whole file, so this bounds what one change can cost.
import type { Logger } from '../log.js';
import { MAX_FILE_DENSITY, UserFileFullError } from './xdb.js';
import type { UserDoc } from './user-doc.js';
import type { UserFile } from './user-files.js';

/** What the log says a refused change would exceed, beyond the size cap itself. */
const OVER_WHAT = { bytes: '', weight: ' (too many elements, attributes and texts for its size)' } as const;

/** Which cap a change would exceed. */
export type OverCap = keyof typeof OVER_WHAT;

export class FileSizeCap {
  /** Cap on its weight parsed (MAX_FILE_DENSITY times maxFileBytes); 0 = none. */
  private readonly maxFileWeight: number;
  /** Files a change was refused for since their last write: logged once each, not once per refusal. */
  private readonly fullWarned = new Set<string>();

  constructor(
    /** Cap on one user's file in bytes; 0 = none. */
    private readonly maxFileBytes: number,
    private readonly log: Logger,
  ) {
    this.maxFileWeight = this.maxFileBytes * MAX_FILE_DENSITY;
  }

  /**
   * Why a change to a file of `bytes` and `weight` must be refused, if it
   * must: over a cap, and larger than the file is now by that measure. A
   * change that does not grow the file is always accepted, so a file over
   * a cap (made by 1.4, or before the cap was lowered) can still be edited
   * down, and used meanwhile. `current`: the document now (null: no file).
   */
  over(bytes: number, weight: number, current: UserDoc | null): OverCap | undefined {
    if (this.maxFileBytes <= 0) return undefined;
    if (bytes > this.maxFileBytes && bytes > (current?.bytes ?? 0)) return 'bytes';
    if (weight > this.maxFileWeight && weight > (current?.weight ?? 0)) return 'weight';
    return undefined;
  }

  /** Rejects a change over the cap with UserFileFullError, warning once per file until its next write. */
  refuse(f: UserFile, bytes: number, weight: number, over: OverCap): never {
    if (!this.fullWarned.has(f.path)) {
      this.fullWarned.add(f.path);
      this.log.warn({ file: f.path, bytes, weight, max: this.maxFileBytes }, 'change refused: the user file would exceed its size cap' + OVER_WHAT[over]);
    }
    throw new UserFileFullError(f.user, bytes, this.maxFileBytes, over === 'weight' ? weight : undefined);
  }

  /** Warns that a deferred change over the cap was dropped: nobody waits for it to reject. */
  dropped(f: UserFile, doc: UserDoc, over: OverCap, namespaces: string[]): void {
    this.log.warn({ file: f.path, bytes: doc.bytes, weight: doc.weight, max: this.maxFileBytes, namespaces }, 'deferred spool change dropped: the user file would exceed its size cap' + OVER_WHAT[over]);
  }

  /** The file was written or removed: a refusal is worth a warning again. */
  written(path: string): void {
    this.fullWarned.delete(path);
  }
}
