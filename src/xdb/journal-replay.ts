// Replaying the generations a crash left (Journal.open()): the latest
// content of each file is written and synced, deletions are done, then the
// generations are removed. Read-only, nothing is written: the content is
// handed back for the journal to serve from memory. A file that cannot be
// written (a file root owns, a symbolic link) does not stop the start: its
// content is carried into a new generation of its own, served from memory
// and tried again at each checkpoint.
import { readdir, readFile, unlink } from 'node:fs/promises';
import { makeFolder } from '../util/make-folder.js';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { syncDir } from './dir-sync.js';
import type { FileSetSync } from './file-set-sync.js';
import { unlinkIfThere, writeInPlace } from './file-writes.js';
import { CARRY_SUFFIX, writeNewGeneration } from './generation-file.js';
import { generationEntries } from './journal-entry.js';
import type { ReplayReport } from './journal.js';
import { encodeEntries, type Carried, type Unwritten } from './unwritten-files.js';
import { errCode } from '../util/err-code.js';

const GENERATION_FILE = /^\.yak-journal\.([1-9][0-9]{0,15})$/;

/** Whether `name`, in the spool's top folder, is a journal generation. */
export function isGenerationName(name: string): boolean {
  return GENERATION_FILE.test(name);
}

/** Whether `name`, in the spool's top folder, belongs to the journal: a generation, or one being replaced. */
export function isJournalName(name: string): boolean {
  return isGenerationName(name.endsWith(CARRY_SUFFIX) ? name.slice(0, -CARRY_SUFFIX.length) : name);
}
/**
 * One path segment as the store names host folders and user files: no
 * separator, no NUL, no leading dot (`..`, hidden files). A backslash is
 * an ordinary character on this system and in 1.4's own file names
 * (`x\y.xml`, kept in place, see legacyUserFileName).
 */
const SEGMENT = /^[^/\0.][^/\0]*$/;

export interface ReplayOptions {
  log: Logger;
  /** false: the files are written but not synced (see JournalOptions.durable). */
  durable: boolean;
  /** Nothing written (see JournalOptions.readOnly). */
  readOnly: boolean;
  /** Makes the rewritten files durable, as a checkpoint does. */
  fileSync: FileSetSync;
  /** Awaited before each entry taken and each file written (a replay into a backup, while the server serves). */
  pace?: () => Promise<void>;
}

export interface Replayed {
  report: ReplayReport;
  /**
   * Read-only: each file's content the replay would have written (null:
   * deleted); else the files it could not write, with why.
   */
  unwritten: Unwritten[];
  /** The generation that now holds the files the replay could not write. */
  carried?: Carried;
  /** The number the next generation takes, once the replayed ones are deleted. */
  nextGeneration?: number;
}

export async function replayJournal(root: string, opts: ReplayOptions): Promise<Replayed> {
  const report: ReplayReport = { generations: 0, files: [], tornBytes: 0 };
  const replay: Replayed = { report, unwritten: [] };
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return replay;
    throw err;
  }
  const gens = names
    .map((name) => ({ name, n: Number(GENERATION_FILE.exec(name)?.[1] ?? NaN) }))
    .filter((g) => Number.isSafeInteger(g.n))
    .sort((a, b) => a.n - b.n);
  // What a crash left of a carried generation being replaced (the old one is whole beside it).
  if (!opts.readOnly) {
    for (const name of names) if (name.endsWith(CARRY_SUFFIX) && isJournalName(name)) unlinkIfThere(join(root, name));
  }
  if (gens.length === 0) return replay;
  const latest = new Map<string, string | null>();
  for (const g of gens) {
    const buf = await readFile(join(root, g.name)).catch((err: Error) => {
      // Whoever cannot read it must not be shown the files it would change as they are.
      throw new Error(`cannot read the spool journal ${join(root, g.name)}, which holds changes not yet in their files: ${err.message}`, { cause: err });
    });
    const read = { used: 0 };
    for (const e of generationEntries(buf, read)) {
      if (opts.pace) await opts.pace();
      const parts = e.rel.split('/');
      if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p))) {
        throw new Error(`journal ${join(root, g.name)} names ${JSON.stringify(e.rel)}, which is not a spool file`);
      }
      latest.delete(e.rel); // keep replay order = order of the last change
      latest.set(e.rel, e.data);
    }
    if (read.used < buf.length) {
      report.tornBytes += buf.length - read.used;
      opts.log.warn({ file: join(root, g.name), ignoredBytes: buf.length - read.used }, 'journal ends in an incomplete entry; ignored');
    }
  }
  report.generations = gens.length;
  if (opts.readOnly) {
    // Nothing written: what the replay would write is served from memory.
    for (const [rel, data] of latest) {
      const [dirName] = rel.split('/') as [string];
      const path = join(root, rel);
      replay.unwritten.push({ target: { path, dir: join(root, dirName), rel }, data });
      report.files.push(path);
    }
    return replay;
  }
  // Written like a checkpoint's files, then made durable the same way:
  // one syncfs where it can be trusted, not an fdatasync per file (3,000
  // rewritten files took 2.0-2.4 s that way here, 0.25 s this way).
  const replayed = { files: new Set<string>(), dirs: new Set<string>() };
  const made = new Set<string>();
  for (const [rel, data] of latest) {
    if (opts.pace) await opts.pace();
    const [dirName] = rel.split('/') as [string];
    const dir = join(root, dirName);
    const path = join(root, rel);
    try {
      if (data === null) {
        unlinkIfThere(path);
      } else {
        if (!made.has(dir)) await makeFolder(dir, 0o700);
        made.add(dir);
        writeInPlace(path, data);
        replayed.files.add(path);
      }
    } catch (err) {
      const why = (err as Error).message;
      opts.log.error({ err, file: path }, 'spool file cannot be written; the journal keeps its change');
      replay.unwritten.push({ target: { path, dir, rel }, data, why });
      continue;
    }
    replayed.dirs.add(dir);
    report.files.push(path);
  }
  if (opts.durable) {
    await opts.fileSync.sync(replayed);
    // Host folders the replay made: durable before the journal goes.
    await syncDir(root);
  }
  let next = gens[gens.length - 1]!.n + 1;
  if (replay.unwritten.length > 0) {
    // After every replayed generation, so its content is the latest for
    // those files whatever is deleted below, and before any new change.
    const file = join(root, `.yak-journal.${next++}`);
    await writeNewGeneration(file, encodeEntries(replay.unwritten));
    replay.carried = { file, entries: new Map(replay.unwritten.map((u) => [u.target.path, u])) };
  }
  // Oldest first: a crash in between replays what is left, its latest content each file already has.
  for (const g of gens) await unlink(join(root, g.name));
  if (opts.durable) await syncDir(root);
  replay.nextGeneration = next;
  return replay;
}
