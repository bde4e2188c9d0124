// Which folder of the spool holds a host's files: Yak's name for the host
// (file-names.ts), or the one jabberd 1.4 gave it when only that one is
// there, so that a 1.4 spool for an IDN host reads unchanged. Folders are
// seen as they will be once the journal's content is written.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errCode } from '../util/err-code.js';
import { hostDirName, legacyHostDirName } from './file-names.js';

/**
 * The name of the host's folder under `spool` (which need not exist yet:
 * Yak's name then). 1.4's when it is there and Yak's is missing or empty,
 * the journal's content counted (`journaled`, see asJournaled): a Yak
 * before this one made its own folder at every start, beside 1.4's.
 */
export function hostFolderName(spool: string, host: string, journaled: ReadonlyMap<string, string | null>): string {
  const own = hostDirName(host);
  const legacy = legacyHostDirName(host);
  if (legacy !== undefined && existsSync(join(spool, legacy)) && isEmpty(join(spool, own), journaled)) return legacy;
  return own;
}

/**
 * 1.4's folder of the host when Yak's hides it (`chosen`, what
 * hostFolderName gave, is Yak's): both hold files (or will, once the
 * journal is written), and no login reaches the accounts in 1.4's.
 */
export function hiddenLegacyFolder(spool: string, host: string, chosen: string, journaled: ReadonlyMap<string, string | null>): string | undefined {
  const legacy = legacyHostDirName(host);
  if (legacy === undefined || chosen === legacy) return undefined;
  return existsSync(join(spool, legacy)) && !isEmpty(join(spool, legacy), journaled) ? legacy : undefined;
}

/** Whether folder `dir` holds nothing, or nothing once the journal is written (a missing one holds nothing). */
function isEmpty(dir: string, journaled: ReadonlyMap<string, string | null>): boolean {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
    names = [];
  }
  return asJournaled(names, dir, journaled).size === 0;
}

/**
 * The file names of folder `dir` as they will be once the journal's
 * content is written (`journaled`: path -> content, null: deleted): what
 * the journal holds and the folder does not show yet (read-only over a
 * crash's journal, or a write that failed).
 */
export function asJournaled(names: Iterable<string>, dir: string, journaled: ReadonlyMap<string, string | null>): Set<string> {
  const listed = new Set(names);
  for (const [path, data] of journaled) {
    if (dirname(path) !== dir) continue;
    if (data === null) listed.delete(basename(path));
    else listed.add(basename(path));
  }
  return listed;
}
