// What stands at the spool's path and the log file's, checked before a
// tool uses them (and by jabberd --check): a file named by -s or <spool>,
// or standing where the log's folder belongs, would otherwise surface as a
// bare errno (ENOTDIR from a socket connect, EEXIST from a mkdir) far from
// the option that caused it.
import { lstatSync, readlinkSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errCode } from '../util/err-code.js';
import { notRegularFile } from '../util/not-a-file.js';
import { MAX_PIDFILE_BYTES, notAPidfile } from '../util/pidfile.js';

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
 * Why `file` cannot be the pidfile, as `<pidfile>PATH</pidfile>: why`, or
 * undefined when it can: something there other than a file (a pipe would
 * hold the start up until someone wrote it; a device might never end), or
 * a file too large to be a pidfile (which the start would overwrite).
 */
export function pidfilePathProblem(file: string): string | undefined {
  let st;
  try {
    st = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    // A folder on the way it may not enter, a file where a folder belongs.
    return `<pidfile>${file}</pidfile>: ${(err as Error).message}`;
  }
  if (st === undefined) return undefined;
  const why = notRegularFile(st);
  if (why !== undefined) return `<pidfile>${file}</pidfile>: ${why}`;
  return st.size > MAX_PIDFILE_BYTES ? notAPidfile(file) : undefined;
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
    if (code === 'ENOENT') return danglingLink(dir, where, subject) ?? pseudoFileSystem(dir, where);
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

/** Linux's pseudo file systems (statfs types), where no folder can be made. */
const PSEUDO_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
]);

/**
 * A folder to be made on /proc or sysfs: mkdir fails there with ENOENT,
 * which Node's recursive mkdir takes for a missing parent and tries again,
 * for ever, at full CPU: the start would hang.
 */
function pseudoFileSystem(dir: string, where: string): string | undefined {
  let existing = resolve(dir);
  while (!statSync(existing, { throwIfNoEntry: false }) && dirname(existing) !== existing) existing = dirname(existing);
  const kind = PSEUDO_FILE_SYSTEMS.get(Number(statfsSync(existing).type));
  return kind === undefined ? undefined : `${where}: ${existing} is on the ${kind} file system, where no folder can be made`;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
