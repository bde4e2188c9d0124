// A journal generation written whole and at once: the one that carries
// the changes of spool files that cannot be written (journal.ts
// carryInto(), journal-replay.ts), durable before anything relies on it.
import { closeSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { syncDir } from './dir-sync.js';
import { fdatasyncOnPool, unlinkIfThere, writeAllSync } from './file-writes.js';

/** Where replaceGeneration() writes before the rename; a crash may leave one, which the next replay removes. */
export const CARRY_SUFFIX = '.carry';

/**
 * Creates `file` (never over an existing one) holding `content`, durable.
 * When the write fails (a full disk), what it holds goes: nothing relies
 * on a part, and on a full disk it holds space until the next start.
 */
async function writeDurably(file: string, content: Buffer): Promise<void> {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeAllSync(fd, content, null);
    await fdatasyncOnPool(fd);
  } catch (err) {
    closeSync(fd);
    discard(file);
    throw err;
  }
  closeSync(fd);
}

/** Removes a part-written file; when even that fails, the next start's replay does (the error that matters is the write's). */
function discard(file: string): void {
  try {
    unlinkIfThere(file);
  } catch {
    // Left for the replay.
  }
}

/** A generation under a new name (never over whatever has it). */
export async function writeNewGeneration(file: string, content: Buffer): Promise<void> {
  await writeDurably(file, content);
  await syncDir(dirname(file));
}

/** `file` replaced by a generation holding `content`: whole before the rename, the old one until it. */
export async function replaceGeneration(file: string, content: Buffer): Promise<void> {
  const temp = file + CARRY_SUFFIX;
  unlinkIfThere(temp);
  await writeDurably(temp, content);
  try {
    renameSync(temp, file);
  } catch (err) {
    discard(temp);
    throw err;
  }
  await syncDir(dirname(file));
}
