// What the journal (journal.ts) holds for spool files that are not in
// their files: those a write failed for (a file root owns, a symbolic
// link, a folder in the way), and, read-only, those a crash's journal
// would replay. Reads are served from here. While a file cannot be
// written, one journal generation carries its content (see carry()), so
// that one such file never keeps every later generation from going.
import { encodeEntry } from './journal-entry.js';
import type { SpoolTarget } from './journal.js';

/** A file the journal holds content for that is not (yet) in the file. */
export interface Unwritten {
  target: SpoolTarget;
  data: string | null;
  /** Why the last write failed (none: read-only, the replay was not tried). */
  why?: string;
}

/**
 * The generation kept for files that cannot be written: its file, and for
 * each path in it the content it holds, which is kept as the file's latest
 * known content while it exists.
 */
export interface Carried {
  file: string;
  entries: Map<string, Unwritten>;
}

/** Spool files the journal could not write: their changes are kept in the journal, and served from memory, until they can be. */
export class UnwrittenFilesError extends Error {
  constructor(readonly files: { path: string; why: string }[]) {
    const first = files[0]!;
    super(`${files.length} spool file${files.length === 1 ? '' : 's'} cannot be written (${first.path}: ${first.why}${files.length > 1 ? ', ...' : ''}); the journal keeps their changes`);
  }
}

/** The journal entries that give each file its content: a carried generation's bytes. */
export function encodeEntries(files: Iterable<Unwritten>): Buffer {
  return Buffer.concat([...files].map((u) => encodeEntry(u.target.rel, u.data)));
}

export class UnwrittenFiles {
  /**
   * path -> journaled content. File writes are synchronous, so a retry
   * never interleaves with a newer write, and a newer write that succeeds
   * removes the entry.
   */
  private readonly files = new Map<string, Unwritten>();
  private carried: Carried | undefined;
  /**
   * What a carried generation being written (carry() until carriedIn())
   * will say: writes landing meanwhile must reach it too, or it would be
   * adopted with content older than theirs, and a later carry would write
   * that older content over the generation that holds theirs.
   */
  private next: Map<string, Unwritten> | undefined;

  /** What a replay left: files it could not write (or, read-only, did not), and the generation carrying them. */
  load(unwritten: Unwritten[], carried: Carried | undefined): void {
    for (const u of unwritten) this.files.set(u.target.path, u);
    this.carried = carried;
  }

  /** Whether some file is not in its file. */
  get any(): boolean {
    return this.files.size > 0;
  }

  /** The carried generation's file, while there is one. */
  get carriedFile(): string | undefined {
    return this.carried?.file;
  }

  /** The content only the journal holds: a string, null for a deleted file, undefined when the file on disk is current. */
  content(path: string): string | null | undefined {
    return this.files.get(path)?.data;
  }

  /** Every file content() answers for: path -> content (null: deleted). */
  contents(): Map<string, string | null> {
    return new Map([...this.files].map(([path, { data }]) => [path, data]));
  }

  /** Files a write was tried for and failed, with why. */
  failed(): { path: string; why: string }[] {
    return [...this.files].filter(([, u]) => u.why !== undefined).map(([path, u]) => ({ path, why: u.why! }));
  }

  /** A write of `data`, durable in the journal, did not reach its file. */
  writeFailed(target: SpoolTarget, data: string | null, why: string): void {
    this.files.set(target.path, { target, data, why });
  }

  /** The file now holds `data`: nothing to serve from here for it, and that is what a carried generation must say of it. */
  written(target: SpoolTarget, data: string | null): void {
    this.files.delete(target.path);
    for (const entries of [this.carried?.entries, this.next]) {
      if (entries?.has(target.path)) entries.set(target.path, { target, data });
    }
  }

  /** Tries `apply` again for every file not written; returns those it wrote (written() is called for them). */
  retry(apply: (u: Unwritten) => void, wrote: (path: string) => void): SpoolTarget[] {
    const done: SpoolTarget[] = [];
    for (const [path, u] of [...this.files]) {
      try {
        apply(u);
      } catch (err) {
        u.why = (err as Error).message;
        continue;
      }
      this.written(u.target, u.data);
      done.push(u.target);
      wrote(path);
    }
    return done;
  }

  /**
   * The content of a generation replacing the carried one: every file not
   * written, and every file the carried one named, each with its latest
   * content (the carried one's files are said again, with what they hold
   * now, so none comes back older once it is gone). Call carriedIn() once
   * it is durable, or carryFailed() if it could not be written.
   */
  carry(): Buffer {
    const entries = new Map(this.carried?.entries);
    for (const [path, u] of this.files) entries.set(path, u);
    this.next = entries;
    return encodeEntries(entries.values());
  }

  /**
   * `file` now carries what carry() wrote (with what was written since
   * noted: it is in newer generations too); returns the generation it
   * replaced, if another.
   */
  carriedIn(file: string): string | undefined {
    const earlier = this.carried?.file;
    this.carried = { file, entries: this.next! };
    this.next = undefined;
    return earlier !== file ? earlier : undefined;
  }

  /** The generation carry() made could not be written: the carried one stays as it was. */
  carryFailed(): void {
    this.next = undefined;
  }

  /** Every file is written: the carried generation (returned, to delete) is needed no more. */
  dropCarried(): string | undefined {
    const file = this.carried?.file;
    this.carried = undefined;
    return file;
  }

  /** Paths of the files not written (for the log). */
  paths(): string[] {
    return [...this.files.keys()];
  }
}
