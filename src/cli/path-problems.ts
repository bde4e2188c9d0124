// What stands at the spool's path and the log file's, checked before a
// tool uses them (and by jabberd --check): a file named by -s or <spool>,
// or standing where the log's folder belongs, would otherwise surface as a
// bare errno (ENOTDIR from a socket connect, EEXIST from a mkdir) far from
// the option that caused it.
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errCode } from '../util/err-code.js';

/**
 * Why `spool` cannot be a spool folder, as `<spool>PATH</spool>: why`, or
 * undefined when it can (a folder, or nothing yet: it is made on first use).
 */
export function spoolPathProblem(spool: string): string | undefined {
  return folderPathProblem(spool, `<spool>${spool}</spool>`, '');
}

/**
 * Why the log file cannot be opened where `file` says, as
 * `<log><file>PATH</file>: why`, or undefined when nothing stands in the
 * way (it and its folders are made as needed; permissions are the start's).
 */
export function logFilePathProblem(file: string): string | undefined {
  const where = `<log><file>${file}</file>`;
  if (isFolder(file)) return `${where}: a folder, not a file`;
  const dir = dirname(file);
  return folderPathProblem(dir, where, `${dir} `);
}

/**
 * Why `dir` cannot be (or be made as) a folder, or undefined; `subject`
 * names it in the message ('' when `where` already does).
 */
function folderPathProblem(dir: string, where: string, subject: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return `${where}: ${subject}${subject ? 'is ' : ''}not a folder (a file is in its place)`;
    return undefined;
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return danglingLink(dir, where, subject);
    if (code !== 'ENOTDIR') return `${where}: cannot use ${dir}: ${(err as Error).message}`;
  }
  // ENOTDIR: a file stands where a folder above it should be. Looked for
  // from the top down, so each stat sees only folders above it.
  const above: string[] = [];
  for (let p = dirname(dir); p !== dirname(p); p = dirname(p)) above.unshift(p);
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
function danglingLink(dir: string, where: string, subject: string): string | undefined {
  if (!lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
  return `${where}: ${subject}${subject ? 'is ' : ''}a symbolic link to ${readlinkSync(dir)}, which does not exist`;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
