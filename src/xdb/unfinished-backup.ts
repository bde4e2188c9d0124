// The mark of a backup copy not finished (admin/spool-backup.ts): made
// in the copy, durable, before its first file, and removed only once all
// of it is durable. A copy a stop gave up, or a crash cut short, still
// has it, and a store refuses to open such a folder as a spool: it lacks
// files, and the changes its journal was to bring.
import { access } from 'node:fs/promises';
import path from 'node:path';

export const UNFINISHED_BACKUP = '.yak-backup-unfinished';

/** Rejects when `spool` is a backup copy that was never finished. */
export async function refuseUnfinishedBackup(spool: string): Promise<void> {
  try {
    await access(path.join(spool, UNFINISHED_BACKUP));
  } catch {
    // Not there; or the folder cannot be looked into, which what comes
    // next (the lock, the replay) says in its own, clearer words.
    return;
  }
  throw new Error(`${spool} is a backup copy that was never finished (it holds ${UNFINISHED_BACKUP}): files and changes are missing from it; remove it, and use another backup`);
}
