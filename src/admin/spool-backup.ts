// jabberctl backup: a copy of the spool as it stood at one moment.
//
// A running server rewrites a user's file in place (journal.ts), so a
// reader outside it (tar, rsync, cp) can catch a file half rewritten, and
// by the time a slow copy ends, a checkpoint may have deleted the journal
// generation that could have repaired it. Inside the server the copy is
// made while the server goes on serving, in slices of a few milliseconds
// of its event loop: from the copy's start the journal keeps every
// generation (Xdb.holdJournal()); the files are copied; then the
// generations (up to their last acknowledged entry) and the list of
// account removals under way are copied in one synchronous step, during
// which nothing is appended or rewritten; and they are replayed over the
// copy, as a start replays what a crash left. Every change a file copied
// earlier missed (or, copied on the thread pool, caught half made) is in a
// kept generation, so the copy ends with every file whole, as the spool
// stood at that step. Without a server, jabberctl holds the spool's lock
// and has replayed the journal first: a plain copy.
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { FileSetSync } from '../xdb/file-set-sync.js';
import { syncDir } from '../xdb/dir-sync.js';
import { refuseUnfinishedBackup, UNFINISHED_BACKUP } from '../xdb/unfinished-backup.js';
import { isGenerationName, isJournalName, replayJournal } from '../xdb/journal-replay.js';
import type { JournalHold } from '../xdb/xdb.js';
import { silentLogger } from '../log.js';
import { LOCK_FILE } from '../xdb/spool-lock.js';
import { REMOVALS_FILE, REMOVALS_NEW } from '../xdb/removal-intents.js';
import { TimeSlices } from '../util/time-slices.js';
import { errCode } from '../util/err-code.js';
import { BackupRefused, claimTarget, realPathOf, removeCopy, within } from './backup-target.js';
import { copyLarge, copyNow, LARGE_FILE } from './file-copy.js';

/** What the spool's top folder holds that belongs to the running process, not to the data. */
const NOT_DATA = new Set([LOCK_FILE, '.jabberctl.sock', '.jabberctl.new', REMOVALS_NEW]);

/**
 * How long the copy may hold the event loop at a time. Files are copied
 * with synchronous calls in between (the server's own rewrites are
 * synchronous too, so such a copy never catches one half made): on the
 * thread pool each small file cost four times the CPU, in trips back and
 * forth (20,000 files: 11 s of CPU against 1.9, measured here).
 */
const SLICE_MS = 3;
/**
 * The copies' folders (real paths) being filled now. A copy takes its
 * time while the server serves, and one folder must not be taken by two
 * backups at once: each would see it empty, and one failing would remove
 * the other's files.
 */
const underWay = new Set<string>();

export interface BackupReport {
  dest: string;
  files: number;
  bytes: number;
  /** Names left out, relative to the spool, and why (a socket, a link to nothing). */
  skipped: string[];
}

export interface BackupOptions {
  /** A serving spool's hold on its journal (Xdb.holdJournal()); without one, nothing may write the spool meanwhile. */
  hold?: () => JournalHold;
}

/**
 * Copies `spool` to `dest` (absolute; missing or an empty folder, made
 * mode 0700), then makes the copy durable. A link to a place inside the
 * spool is made again in the copy, leading to the same place there (that
 * place is copied where it is). A link leading out of the spool is
 * followed, as the server follows it (a host folder on another disk): what
 * it leads to is copied as files and folders, each folder once however
 * many ways lead to it.
 */
export async function backupSpool(spool: string, dest: string, opts: BackupOptions = {}): Promise<BackupReport> {
  if (!path.isAbsolute(dest)) throw new BackupRefused(`the backup folder must be an absolute path, not '${dest}'`);
  // A copy of one would look finished.
  await refuseUnfinishedBackup(spool).catch((err: Error) => {
    throw new BackupRefused(err.message);
  });
  const root = realpathSync(spool);
  const target = path.resolve(dest);
  // Compared as the disk has them: through a link, a folder inside the
  // spool would be copied into itself, level after level.
  const realTarget = realPathOf(target);
  if (within(realTarget, root)) throw new BackupRefused(`the backup folder ${target} is inside the spool ${spool}`);
  for (const other of underWay) {
    if (within(realTarget, other) || within(other, realTarget)) throw new BackupRefused(`a backup into ${other} is under way`);
  }
  const made = claimTarget(target, realTarget);
  underWay.add(realTarget);
  try {
    return await copySpool(root, target, realTarget, made, opts);
  } finally {
    underWay.delete(realTarget);
  }
}

/** backupSpool()'s copy, into `target` (accepted, and its own now): the files while the server serves, then the journal, replayed into them. */
async function copySpool(root: string, target: string, realTarget: string, made: boolean, opts: BackupOptions): Promise<BackupReport> {
  const report: BackupReport = { dest: target, files: 0, bytes: 0, skipped: [] };
  const st: CopyState = {
    root,
    target,
    report,
    files: [],
    dirs: [target],
    realTarget,
    copied: new Map(),
    slices: new TimeSlices(SLICE_MS),
    stuck: new Set(),
    fileSync: new FileSetSync(target, {}, silentLogger),
  };
  let hold: JournalHold | undefined;
  try {
    // The mark, made by claimTarget(), durable before the first file: whatever cuts the copy short leaves it marked.
    await syncDir(target);
    hold = opts.hold?.();
    st.signal = hold?.signal;
    await copyFolder(root, root, target, '', st);
    givenUpIfCut(st);
    copyJournal(root, target, st, hold);
    // The copy needs the spool's generations no more; a stop can still give it up.
    hold?.freeJournal();
    await replayInto(target, st);
    // As a journal checkpoint makes its files durable: one syncfs for the
    // copy's file system where there is one to trust, else file by file.
    if (made) st.dirs.push(path.dirname(target));
    await st.fileSync.sync({ files: new Set(st.files), dirs: new Set(st.dirs), fileSystems: [target] });
    // Only now is the copy a spool.
    unlinkSync(path.join(target, UNFINISHED_BACKUP));
    await syncDir(target);
  } catch (err) {
    // Given up by a stop, the copy stays as it is (marked): a stop does
    // not wait for thousands of files to be removed.
    if (err instanceof BackupGivenUp) throw new BackupRefused(`${err.message}; ${target} holds the part copied, marked unfinished (no server or jabberctl uses it): remove it`);
    // Else nothing half made is left; a folder that was there stays.
    await removeCopy(target, made);
    throw err;
  } finally {
    hold?.release();
  }
  return report;
}

/** The hold was cut: the server stops. */
class BackupGivenUp extends Error {}

/** Throws once the hold is cut: the server stops, and the copy could no longer be made whole. */
function givenUpIfCut(st: CopyState): void {
  if (st.signal?.aborted) throw new BackupGivenUp('the server is stopping: the backup was given up');
}

/**
 * The journal's generations and the list of account removals under way,
 * in one synchronous step: no append, rewrite or checkpoint lands in
 * between, so they agree with each other and cover every change a file
 * copied before missed. A generation is copied up to its last
 * acknowledged entry: a batch after it is not yet synced, or was refused
 * (its clients told so) and is about to be cut off.
 */
function copyJournal(root: string, target: string, st: CopyState, hold: JournalHold | undefined): void {
  const acknowledged = hold?.acknowledged();
  st.stuck = hold?.stuck() ?? new Set();
  for (const name of readdirSync(root).sort()) {
    if (!isGenerationName(name) && name !== REMOVALS_FILE) continue;
    const copy = path.join(target, name);
    copyNow(path.join(root, name), copy, 0o600, acknowledged?.get(name));
    st.files.push(copy);
  }
}

/**
 * The copied generations written into the copy's files, as a start
 * would, then deleted; a slice at a time. A file the spool itself cannot
 * write (a link or a folder in its way, a read-only mode, copied as
 * such) cannot be written in the copy either: its change stays in the
 * copy's journal, carried as the spool's journal carries it, and the
 * report names it. Any other file that cannot be written fails the copy.
 */
async function replayInto(target: string, st: CopyState): Promise<void> {
  const pace = async (): Promise<void> => {
    await st.slices.pace();
    givenUpIfCut(st);
  };
  const { unwritten } = await replayJournal(target, { log: silentLogger, durable: true, readOnly: false, fileSync: st.fileSync, pace });
  // Anything else (a full disk, an I/O error) is the copy's own failure.
  const failed = unwritten.find((u) => !st.stuck.has(u.target.rel));
  if (failed) throw new BackupRefused(`cannot write ${failed.target.path} in the backup: ${failed.why ?? 'unknown reason'}`);
  for (const u of unwritten) st.report.skipped.push(`${u.target.rel} (its latest content cannot be written in the copy either, ${u.why ?? 'for an unknown reason'}: it is kept in the copy's journal, as the spool's keeps it)`);
}

interface CopyState {
  /** The spool's real path, and the copy's folder as given (made absolute; realTarget is its real path). */
  root: string;
  target: string;
  report: BackupReport;
  /** What the copy holds, to be made durable at the end. */
  files: string[];
  dirs: string[];
  realTarget: string;
  /**
   * Real path -> where in the copy it went, for every folder outside the
   * spool copied through a link: one reached again (a loop, or links
   * crossing between folders) is not copied again, once per way to it.
   */
  copied: Map<string, string>;
  /** The journal hold's: aborted when the server stops. */
  signal?: AbortSignal;
  slices: TimeSlices;
  /** The spool's files that cannot be written (a link or a folder in the way, a read-only mode), as the journal was copied. */
  stuck: ReadonlySet<string>;
  /** Makes the copy durable: the replay's files, then the whole copy (one syncfs probe for both). */
  fileSync: FileSetSync;
}

/**
 * `realFrom`: the real path of `from`, carried down (asking for it at
 * every level took time growing with the cube of the depth). The journal
 * and the removals list are left for copyJournal().
 */
async function copyFolder(from: string, realFrom: string, to: string, rel: string, st: CopyState): Promise<void> {
  const names = (await readdir(from)).sort().filter((name) => rel !== '' || !(NOT_DATA.has(name) || isJournalName(name) || name === REMOVALS_FILE));
  for (const name of names) await copyEntry(from, realFrom, to, rel, name, st);
}

async function copyEntry(from: string, realFrom: string, to: string, rel: string, name: string, st: CopyState): Promise<void> {
  await st.slices.pace();
  givenUpIfCut(st);
  const source = path.join(from, name);
  const copy = path.join(to, name);
  let stats: Stats;
  let real = path.join(realFrom, name);
  let linked = false;
  try {
    stats = lstatSync(source);
    if (stats.isSymbolicLink()) {
      linked = true;
      stats = statSync(source);
      real = realpathSync(source);
    }
  } catch (err) {
    // A file the server deleted since its folder was listed: the deletion is in the journal, copied last.
    if (errCode(err) === 'ENOENT' && !linked && within(realFrom, st.root)) return;
    // A link to nothing, or gone since the folder was listed (outside the spool: /dev/fd through a link).
    if (!['ENOENT', 'ELOOP', 'ENOTDIR'].includes(errCode(err) ?? '')) throw err;
    st.report.skipped.push(`${rel}${name} (a link to nothing, or gone while copied)`);
    return;
  }
  // A way back into the spool (a link, or a folder outside it that holds
  // the spool) is made again as a relative link: the place it leads to
  // is copied where it is, wherever the copy goes.
  if ((linked || !within(realFrom, st.root)) && within(real, st.root)) {
    symlinkSync(path.relative(to, path.join(st.target, path.relative(st.root, real))) || '.', copy);
    st.files.push(copy);
    return;
  }
  if (stats.isDirectory()) {
    if (within(real, st.realTarget)) {
      st.report.skipped.push(`${rel}${name} (the backup folder itself, or inside it)`);
      return;
    }
    const already = st.copied.get(real);
    if (already !== undefined) {
      // A second way to a folder outside the spool: a link to where the first one put it.
      symlinkSync(path.relative(to, already) || '.', copy);
      st.files.push(copy);
      return;
    }
    mkdirSync(copy, { mode: stats.mode & 0o7777 });
    st.dirs.push(copy);
    if (!within(real, st.root)) st.copied.set(real, copy);
    await copyFolder(source, real, copy, rel + name + '/', st);
  } else if (stats.isFile()) {
    let bytes: number;
    try {
      const mode = stats.mode & 0o7777;
      bytes = stats.size <= LARGE_FILE ? copyNow(source, copy, mode) : await copyLarge(source, copy, mode, () => givenUpIfCut(st));
    } catch (err) {
      // Deleted by the server since (see above).
      if (errCode(err) === 'ENOENT' && within(real, st.root) && !existsSync(source)) return;
      throw err;
    }
    st.files.push(copy);
    st.report.files++;
    st.report.bytes += bytes;
  } else {
    st.report.skipped.push(`${rel}${name} (neither a file nor a folder)`);
  }
}
