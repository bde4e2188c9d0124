// The folder a backup copies into (spool-backup.ts): claimed for this one
// backup, marked unfinished until the copy is whole, and emptied again
// when the copy fails.
import { existsSync, mkdirSync, readdirSync, realpathSync, rmdirSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { UNFINISHED_BACKUP } from '../xdb/unfinished-backup.js';
import { errCode } from '../util/err-code.js';
import { noop } from '../util/noop.js';

/** A backup refused, or given up part way (the message says why, and what of the copy is left). */
export class BackupRefused extends Error {}

/** Whether `p` is `folder` or inside it (both real paths). */
export function within(p: string, folder: string): boolean {
  return p === folder || p.startsWith(folder.endsWith(path.sep) ? folder : folder + path.sep);
}

/** The real path of `p`, which may not exist yet: its nearest existing folder's, and the rest as written. */
export function realPathOf(p: string): string {
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

/**
 * Takes `target` for this backup: makes it if it is missing (true), or
 * accepts an empty folder or a link to one (false), and puts the
 * unfinished mark in it; refuses anything else, leaving it as it was.
 * The mark is made exclusively, and the folder looked at again once it is
 * ours: of two processes backing up into one folder (or one inside the
 * other's) at the same moment, the one that did not get it leaves without
 * removing anything of the other's.
 */
export function claimTarget(target: string, realTarget: string): boolean {
  refuseInsideUnfinished(target, realTarget);
  let made = false;
  try {
    mkdirSync(target, { mode: 0o700 });
    made = true;
  } catch (err) {
    // There already (or made by another backup this moment): looked at below.
    const cannot = new BackupRefused(`cannot make the backup folder ${target}: ${(err as Error).message}`);
    if (errCode(err) !== 'EEXIST') throw cannot;
    let stats: Stats;
    try {
      stats = statSync(target);
    } catch {
      throw cannot; // a link to nothing
    }
    if (!stats.isDirectory()) throw new BackupRefused(`${target} is not a folder`);
    refuseUnlessEmpty(target, readdirSync(target));
  }
  const mark = path.join(target, UNFINISHED_BACKUP);
  try {
    writeFileSync(mark, 'made by jabberctl backup: this copy is not finished\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if (errCode(err) === 'EEXIST') refuseUnlessEmpty(target, [UNFINISHED_BACKUP]);
    if (made) bestEffort(() => rmdirSync(target));
    throw new BackupRefused(`cannot write in the backup folder ${target}: ${(err as Error).message}`);
  }
  try {
    // Another process may have put files in it, or claimed a folder around it, meanwhile.
    let names: string[];
    try {
      names = readdirSync(target);
    } catch (err) {
      throw new BackupRefused(`cannot list the backup folder ${target}: ${(err as Error).message}`);
    }
    refuseUnlessEmpty(target, names.filter((n) => n !== UNFINISHED_BACKUP));
    refuseInsideUnfinished(target, realTarget);
  } catch (err) {
    // Only what this backup made goes: its mark, and the folder if it made it and it is empty.
    bestEffort(() => unlinkSync(mark));
    if (made) bestEffort(() => rmdirSync(target));
    throw err;
  }
  return made;
}

/** Undoes what a refused claim made, if it can: the refusal says why, whatever is left. */
function bestEffort(undo: () => void): void {
  try {
    undo();
  } catch {
    // Left: a mark left keeps the folder from being taken for a spool.
  }
}

/** Refuses a backup folder holding `names`. */
function refuseUnlessEmpty(target: string, names: string[]): void {
  if (names.length === 0) return;
  if (names.length === 1 && names[0] === UNFINISHED_BACKUP) {
    throw new BackupRefused(`the backup folder ${target} is not empty: it holds ${UNFINISHED_BACKUP} (a backup under way into it, or one never finished)`);
  }
  throw new BackupRefused(`the backup folder ${target} is not empty`);
}

/**
 * Refuses a backup folder inside another backup's copy, marked unfinished
 * (another process may be filling it): its copy would meet this one's
 * folder and fail, and remove it with its own.
 */
function refuseInsideUnfinished(target: string, realTarget: string): void {
  for (let dir = path.dirname(realTarget); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, UNFINISHED_BACKUP))) {
      throw new BackupRefused(`the backup folder ${target} is inside ${dir}, a backup copy that is not finished (it holds ${UNFINISHED_BACKUP})`);
    }
    if (path.dirname(dir) === dir) return;
  }
}

/**
 * Undoes a copy that failed part way: what `target` holds (it was empty),
 * the unfinished mark last, and `target` itself when the backup made it.
 * Cut short (a crash), or leaving something it cannot remove, it leaves
 * the mark with the rest.
 */
export async function removeCopy(target: string, made: boolean): Promise<void> {
  let left = false;
  // Each on its own: one that cannot be removed (a name too long) does not keep the rest.
  const names = await readdir(target).catch(() => {
    left = true;
    return [];
  });
  for (const name of names) {
    if (name === UNFINISHED_BACKUP) continue;
    await rm(path.join(target, name), { recursive: true, force: true }).catch(() => (left = true));
  }
  if (left) return;
  await rm(path.join(target, UNFINISHED_BACKUP), { force: true }).catch(noop);
  if (made) await rmdir(target).catch(noop);
}
