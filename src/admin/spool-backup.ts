// jabberctl backup: a copy of the spool as it stood at one moment.
//
// A running server rewrites a user's file in place (journal.ts), so a
// reader outside it (tar, rsync, cp) can catch a file half rewritten, and
// by the time a slow copy ends, a checkpoint may have deleted the journal
// generation that could have repaired it. Inside the server the copy is
// made in one synchronous pass: every rewrite, journal append and
// checkpoint deletion runs on the event loop, so none can land while it
// runs, and the copy is what a crash at that moment would have left: every
// file whole, and the journal generations a start replays (a refused or
// unfinished append at a generation's end is ignored by the replay). The
// server serves nothing while it copies. Without a server, jabberctl holds
// the spool's lock and has replayed the journal first: a plain copy.
import { constants, copyFileSync, lstatSync, mkdirSync, readdirSync, realpathSync, rmdirSync, statSync, symlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { unlinkIfThere } from '../xdb/file-writes.js';
import { FileSetSync } from '../xdb/file-set-sync.js';
import { silentLogger } from '../log.js';
import { LOCK_FILE } from '../xdb/spool-lock.js';
import { REMOVALS_NEW } from '../xdb/removal-intents.js';
import { errCode } from '../util/err-code.js';

/** What the spool's top folder holds that belongs to the running process, not to the data. */
const NOT_DATA = new Set([LOCK_FILE, '.jabberctl.sock', '.jabberctl.new', REMOVALS_NEW]);

export interface BackupReport {
  dest: string;
  files: number;
  bytes: number;
  /** Names left out, relative to the spool, and why (a socket, a link to nothing). */
  skipped: string[];
}

/** A backup refused before anything was copied (the message says why). */
export class BackupRefused extends Error {}

/**
 * Copies `spool` to `dest` (absolute; missing or an empty folder, made
 * mode 0700), then makes the copy durable. Only the copy is synchronous.
 * A link to a place inside the spool is made again in the copy, leading to
 * the same place there (that place is copied where it is). A link leading
 * out of the spool is followed, as the server follows it (a host folder on
 * another disk): what it leads to is copied as files and folders, each
 * folder once however many ways lead to it.
 */
export async function backupSpool(spool: string, dest: string): Promise<BackupReport> {
  if (!path.isAbsolute(dest)) throw new BackupRefused(`the backup folder must be an absolute path, not '${dest}'`);
  const root = realpathSync(spool);
  const target = path.resolve(dest);
  // Compared as the disk has them: through a link, a folder inside the
  // spool would be copied into itself, level after level.
  const realTarget = realPathOf(target);
  if (within(realTarget, root)) throw new BackupRefused(`the backup folder ${target} is inside the spool ${spool}`);
  const made = prepareTarget(target);
  const report: BackupReport = { dest: target, files: 0, bytes: 0, skipped: [] };
  const files: string[] = [];
  const dirs = [target];
  try {
    copyFolder(root, root, target, '', { root, target, report, files, dirs, realTarget, copied: new Map() });
  } catch (err) {
    // Nothing half made is left to be taken for a backup; a folder that was there stays.
    removeCopied(files, dirs, made ? undefined : target);
    throw err;
  }
  // As a journal checkpoint makes its files durable: one syncfs for the
  // copy's file system where there is one to trust, else file by file.
  if (made) dirs.push(path.dirname(target));
  await new FileSetSync(target, {}, silentLogger).sync({ files: new Set(files), dirs: new Set(dirs), fileSystems: [target] });
  return report;
}

/** Whether `p` is `folder` or inside it (both real paths). */
function within(p: string, folder: string): boolean {
  return p === folder || p.startsWith(folder.endsWith(path.sep) ? folder : folder + path.sep);
}

/** The real path of `p`, which may not exist yet: its nearest existing folder's, and the rest as written. */
function realPathOf(p: string): string {
  const rest: string[] = [];
  let at = p;
  for (;;) {
    try {
      return path.join(realpathSync(at), ...rest.reverse());
    } catch (err) {
      const parent = path.dirname(at);
      if (errCode(err) !== 'ENOENT' || parent === at) throw err;
      rest.push(path.basename(at));
      at = parent;
    }
  }
}

/** Makes `target` if it is missing (true), accepts an empty folder or a link to one (false); refuses anything else. */
function prepareTarget(target: string): boolean {
  let stats: Stats;
  try {
    stats = statSync(target);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
    try {
      mkdirSync(target, { mode: 0o700 });
    } catch (e) {
      throw new BackupRefused(`cannot make the backup folder ${target}: ${(e as Error).message}`);
    }
    return true;
  }
  if (!stats.isDirectory()) throw new BackupRefused(`${target} is not a folder`);
  if (readdirSync(target).length > 0) throw new BackupRefused(`the backup folder ${target} is not empty`);
  return false;
}

interface CopyState {
  /** The spool's real path, and the copy's folder as given (made absolute; realTarget is its real path). */
  root: string;
  target: string;
  report: BackupReport;
  files: string[];
  dirs: string[];
  realTarget: string;
  /**
   * Real path -> where in the copy it went, for every folder outside the
   * spool copied through a link: one reached again (a loop, or links
   * crossing between folders) is not copied again, once per way to it.
   */
  copied: Map<string, string>;
}

/** `realFrom`: the real path of `from`, carried down (asking for it at every level took time growing with the cube of the depth). */
function copyFolder(from: string, realFrom: string, to: string, rel: string, st: CopyState): void {
  for (const name of readdirSync(from).sort()) {
    if (rel === '' && NOT_DATA.has(name)) continue;
    const source = path.join(from, name);
    const copy = path.join(to, name);
    let stats: Stats;
    let real = path.join(realFrom, name);
    let linked = false;
    try {
      stats = lstatSync(source);
      if (stats.isSymbolicLink()) {
        stats = statSync(source);
        real = realpathSync(source);
        linked = true;
      }
    } catch (err) {
      // Gone since the folder was listed (only outside the spool: /dev/fd through a link), or a link to nothing.
      if (!['ENOENT', 'ELOOP', 'ENOTDIR'].includes(errCode(err) ?? '')) throw err;
      st.report.skipped.push(`${rel}${name} (a link to nothing, or gone while copied)`);
      continue;
    }
    // A way back into the spool (a link, or a folder outside it that holds
    // the spool) is made again as a relative link: the place it leads to
    // is copied where it is, wherever the copy goes.
    if ((linked || !within(realFrom, st.root)) && within(real, st.root)) {
      st.files.push(copy);
      symlinkSync(path.relative(to, path.join(st.target, path.relative(st.root, real))) || '.', copy);
      continue;
    }
    if (stats.isDirectory()) {
      if (within(real, st.realTarget)) {
        st.report.skipped.push(`${rel}${name} (the backup folder itself, or inside it)`);
        continue;
      }
      const already = st.copied.get(real);
      if (already !== undefined) {
        // A second way to a folder outside the spool: a link to where the first one put it.
        st.files.push(copy);
        symlinkSync(path.relative(to, already) || '.', copy);
        continue;
      }
      mkdirSync(copy, { mode: stats.mode & 0o7777 });
      st.dirs.push(copy);
      if (!within(real, st.root)) st.copied.set(real, copy);
      copyFolder(source, real, copy, rel + name + '/', st);
    } else if (stats.isFile()) {
      st.files.push(copy); // before the copy: a failed one may leave part of it
      // FICLONE: a reflink where the file system has them, else a copy. The copy keeps the mode.
      copyFileSync(source, copy, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      st.report.files++;
      st.report.bytes += stats.size;
    } else {
      st.report.skipped.push(`${rel}${name} (neither a file nor a folder)`);
    }
  }
}

/** Undoes a copy that failed part way: its files, then its folders, deepest first (`keep`: one that was there before). */
function removeCopied(files: string[], dirs: string[], keep: string | undefined): void {
  // Each on its own: one that cannot be removed (the failed copy's own name, too long) does not keep the rest.
  for (const f of files) {
    try {
      unlinkIfThere(f);
    } catch {
      // left
    }
  }
  for (const d of [...dirs].reverse()) {
    if (d === keep) continue;
    try {
      rmdirSync(d);
    } catch {
      // left
    }
  }
}
