// What stands at the spool's path, checked before a tool uses it: a file
// named by -s or <spool> would otherwise surface as a bare errno (ENOTDIR
// from a socket connect or a mkdir) far from the option that caused it.
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errCode } from '../util/err-code.js';

/**
 * Why `spool` cannot be a spool folder, as `<spool>PATH</spool>: why`, or
 * undefined when it can (a folder, or nothing yet: it is made on first use).
 */
export function spoolPathProblem(spool: string): string | undefined {
  const where = `<spool>${spool}</spool>`;
  try {
    if (!statSync(spool).isDirectory()) return `${where}: not a folder (a file is in its place)`;
    return undefined;
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return danglingLink(spool, where);
    if (code !== 'ENOTDIR') return `${where}: cannot use it: ${(err as Error).message}`;
  }
  // ENOTDIR: a file stands where a folder above the spool should be. Looked
  // for from the top down, so each stat sees only folders above it.
  const above: string[] = [];
  for (let p = dirname(spool); p !== dirname(p); p = dirname(p)) above.unshift(p);
  for (const p of above) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) return `${where}: ${p} is a file, not a folder`;
  }
  return `${where}: a part of the path is not a folder`;
}

/**
 * Nothing at the path may still be a symbolic link whose target is gone:
 * following it, mkdir fails with an errno far from the cause.
 */
function danglingLink(spool: string, where: string): string | undefined {
  if (!lstatSync(spool, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
  return `${where}: a symbolic link to ${readlinkSync(spool)}, which does not exist`;
}
