// Which folder of the spool holds a host's files: Yak's name for the host
// (file-names.ts), or the one jabberd 1.4 gave it when only that one is
// there, so that a 1.4 spool for an IDN host reads unchanged.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hostDirName, legacyHostDirName } from './file-names.js';

/** The name of the host's folder under `spool` (which need not exist yet: Yak's name then). */
export function hostFolderName(spool: string, host: string): string {
  const own = hostDirName(host);
  const legacy = legacyHostDirName(host);
  if (legacy !== undefined && !existsSync(join(spool, own)) && existsSync(join(spool, legacy))) return legacy;
  return own;
}
