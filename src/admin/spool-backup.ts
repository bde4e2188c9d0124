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
import { constants, copyFileSync, lstatSync, mkdirSync, readdirSync, rmdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { datasyncIfThere, unlinkIfThere } from '../xdb/file-writes.js';
import { syncDir } from '../xdb/dir-sync.js';
import { LOCK_FILE } from '../xdb/spool-lock.js';
import { errCode } from '../util/err-code.js';

/** What the spool's top folder holds that belongs to the running process, not to the data. */
const NOT_DATA = new Set([LOCK_FILE, '.jabberctl.sock', '.jabberctl.new']);

export interface BackupReport {
  dest: string;
  files: number;
  bytes: number;
  /** Names left out that are neither files nor folders (a symbolic link, a socket), relative to the spool. */
  skipped: string[];
}

/** A backup refused before anything was copied (the message says why). */
export class BackupRefused extends Error {}

/**
 * Copies `spool` to `dest` (absolute; missing or an empty folder, made
 * mode 0700), then makes the copy durable. Only the copy is synchronous.
 */
export async function backupSpool(spool: string, dest: string): Promise<BackupReport> {
  const root = path.resolve(spool);
  if (!path.isAbsolute(dest)) throw new BackupRefused(`the backup folder must be an absolute path, not '${dest}'`);
  const target = path.resolve(dest);
  if (target === root || target.startsWith(root + path.sep)) throw new BackupRefused(`the backup folder ${target} is inside the spool ${root}`);
  const made = prepareTarget(target);
  const report: BackupReport = { dest: target, files: 0, bytes: 0, skipped: [] };
  const files: string[] = [];
  const dirs = [target];
  try {
    copyFolder(root, target, '', report, files, dirs);
  } catch (err) {
    // Nothing half made is left to be taken for a backup; a folder that was there stays.
    removeCopied(files, dirs, made ? undefined : target);
    throw err;
  }
  for (const f of files) await datasyncIfThere(f);
  for (const d of dirs) await syncDir(d);
  if (made) await syncDir(path.dirname(target));
  return report;
}

/** Makes `target` if it is missing (true), accepts an empty folder (false); refuses anything else. */
function prepareTarget(target: string): boolean {
  let stats: Stats;
  try {
    stats = lstatSync(target);
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

function copyFolder(from: string, to: string, rel: string, report: BackupReport, files: string[], dirs: string[]): void {
  for (const name of readdirSync(from).sort()) {
    if (rel === '' && NOT_DATA.has(name)) continue;
    const source = path.join(from, name);
    const copy = path.join(to, name);
    const stats = lstatSync(source);
    if (stats.isDirectory()) {
      mkdirSync(copy, { mode: stats.mode & 0o7777 });
      dirs.push(copy);
      copyFolder(source, copy, rel + name + '/', report, files, dirs);
    } else if (stats.isFile()) {
      // FICLONE: a reflink where the file system has them, else a copy. The copy keeps the mode.
      files.push(copy); // before the copy: a failed one may leave part of it
      copyFileSync(source, copy, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      report.files++;
      report.bytes += stats.size;
    } else {
      report.skipped.push(rel + name);
    }
  }
}

/** Undoes a copy that failed part way: its files, then its folders, deepest first (`keep`: one that was there before). */
function removeCopied(files: string[], dirs: string[], keep: string | undefined): void {
  try {
    for (const f of files) unlinkIfThere(f);
    for (const d of [...dirs].reverse()) if (d !== keep) rmdirSync(d);
  } catch {
    // Left as it is: the error that stopped the copy is the one to report.
  }
}
