// Which folder of the spool holds a host's files: Yak's name for the host
// (file-names.ts), or the one jabberd 1.4 gave it when only that one is
// there, so that a 1.4 spool for an IDN host reads unchanged.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errCode } from '../util/err-code.js';
import { hostDirName, legacyHostDirName } from './file-names.js';

/**
 * The name of the host's folder under `spool` (which need not exist yet:
 * Yak's name then). 1.4's when it is there and Yak's is missing or empty:
 * a Yak before this one made its own folder at every start, beside 1.4's.
 */
export function hostFolderName(spool: string, host: string): string {
  const own = hostDirName(host);
  const legacy = legacyHostDirName(host);
  if (legacy !== undefined && existsSync(join(spool, legacy)) && isMissingOrEmpty(join(spool, own))) return legacy;
  return own;
}

function isMissingOrEmpty(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return true;
    throw err;
  }
}
