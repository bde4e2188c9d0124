// A journal generation written whole and at once: the one that carries
// the changes of spool files that cannot be written (journal.ts
// carryInto(), journal-replay.ts), durable before anything relies on it.
import { closeSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { syncDir } from './dir-sync.js';
import { fdatasyncOnPool, unlinkIfThere, writeAllSync } from './file-writes.js';

/** Where replaceGeneration() writes before the rename; a crash may leave one, which the next replay removes. */
export const CARRY_SUFFIX = '.carry';

async function writeDurably(file: string, flags: string, content: Buffer): Promise<void> {
  const fd = openSync(file, flags, 0o600);
  try {
    writeAllSync(fd, content, null);
    await fdatasyncOnPool(fd);
  } finally {
    closeSync(fd);
  }
}

/** A generation under a new name (never over whatever has it). */
export async function writeNewGeneration(file: string, content: Buffer): Promise<void> {
  await writeDurably(file, 'wx', content);
  await syncDir(dirname(file));
}

/** `file` replaced by a generation holding `content`: whole before the rename, the old one until it. */
export async function replaceGeneration(file: string, content: Buffer): Promise<void> {
  const temp = file + CARRY_SUFFIX;
  unlinkIfThere(temp);
  await writeDurably(temp, 'wx', content);
  renameSync(temp, file);
  await syncDir(dirname(file));
}
