// jabberctl check: every spool file parsed, and what is wrong said: files
// that do not parse, folders that cannot be listed, files no login can
// reach, and files whose changes only the journal holds. It runs where
// AdminOps runs (in the server, or in jabberctl on the spool itself).
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { nodeprep } from '../jid.js';
import type { SessionManager } from '../jsm/session-manager.js';
import { asJournaled, hiddenLegacyFolder, hostFolderName } from '../xdb/host-folders.js';
import { hostDirName, isLongUserFileName, userFileName, userFromFileName, userFromLegacyFileName } from '../xdb/file-names.js';
import { REMOVALS_FILE, REMOVALS_UNREADABLE } from '../xdb/removal-intents.js';
import { parseSpoolXml } from '../xdb/user-doc.js';
import { NamespaceScope } from '../xml/namespace-scope.js';
import type { Element } from '../xml/element.js';
import { decodeXmlFile } from '../xml/decode.js';
import { errCode } from '../util/err-code.js';

export interface CheckReport {
  files: number;
  bad: { file: string; reason: string }[];
  /**
   * Folders of the spool that are no host of this configuration (a host
   * given with `jabberd -h`, or one since dropped): checked all the same.
   */
  unserved: string[];
  /**
   * Files no user can reach: their name is no prepared username's (copied
   * in by hand, or made for a name whose preparation has changed since),
   * with the file the user their name prepares to would have.
   */
  unreachable: { file: string; owner?: { user: string; file: string } }[];
  /**
   * 1.4's folder of a host (an IDN host, named as itself) that Yak's own
   * folder for it hides, holding files as it does: no login reaches the
   * accounts in 1.4's (see host-folders.ts). Checked all the same.
   */
  hidden: { folder: string; host: string; by: string }[];
  /**
   * Accounts whose removal has begun and is not over (SPOOL/.yak-removals,
   * see removal-intents.ts), as bare JIDs: under way in a running server,
   * or cut short by a crash or a stop and finished at the next start.
   * Until then their contacts may still list them.
   */
  removals: string[];
  /**
   * Lists of removals that were not Yak's writing, moved aside by a start
   * or a jabberctl change (none of what they name was finished): the
   * operator's to read and delete.
   */
  removalsAside: string[];
}

/** Parses every file under every host folder, reporting the ones that fail. */
export async function checkSpool(jsm: SessionManager): Promise<CheckReport> {
  const report: CheckReport = { files: 0, bad: [], unserved: [], unreachable: [], hidden: [], removals: [], removalsAside: [] };
  // A crash's journal first: it repairs torn files (a read-only store
  // only reads it, and its content is checked in their place).
  await jsm.xdb.open();
  const journaled = jsm.xdb.unreplayed();
  const spool = jsm.config.spool;
  const served = new Set<string>();
  for (const host of jsm.config.hosts) {
    const folder = hostFolderName(spool, host, journaled);
    served.add(folder);
    // Yak's name for it too, when 1.4's is used: the empty folder an earlier Yak made.
    served.add(hostDirName(host));
    await checkFolder(jsm, path.join(spool, folder), host, journaled, report);
    const legacy = hiddenLegacyFolder(spool, host, folder, journaled);
    if (legacy !== undefined) {
      served.add(legacy);
      report.hidden.push({ folder: legacy, host, by: folder });
      await checkFolder(jsm, path.join(spool, legacy), undefined, journaled, report);
    }
  }
  // Before the listing below: a writable store moves a list that is not Yak's aside as it reads it.
  const removalsFile = path.join(spool, REMOVALS_FILE);
  try {
    const removals = await jsm.xdb.listedRemovals();
    report.removals = removals.listed.map(({ host, user }) => `${user}@${host}`);
    if (removals.invalid !== undefined) {
      report.bad.push({ file: removalsFile, reason: `${removals.invalid}: the next start of the server moves it aside and finishes none of what it names` });
    }
  } catch (err) {
    // The server does not start on it either (server.ts).
    report.bad.push({ file: removalsFile, reason: (err as Error).message.replace(`${removalsFile}: `, '') });
  }
  // Every other folder holds the files of a host too (the spool holds
  // nothing else but dot files, and lost+found when it is a file system
  // of its own): a clean bill of health covers them.
  const entries = await readdir(spool, { withFileTypes: true }).catch((err: unknown) => {
    if (errCode(err) === 'ENOENT') return [];
    throw err;
  });
  report.removalsAside = entries.filter((e) => e.name.startsWith(REMOVALS_UNREADABLE)).map((e) => path.join(spool, e.name)).sort();
  for (const e of entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'lost+found' && !served.has(e.name)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    report.unserved.push(e.name);
    await checkFolder(jsm, path.join(spool, e.name), undefined, journaled, report);
  }
  // Parsed above as the journal holds them, but not in their files.
  for (const { path: file, why } of jsm.xdb.unwritable()) {
    report.bad.push({ file, reason: `cannot be written (${why}); its latest changes are only in the spool journal until it can` });
  }
  return report;
}

/** Parses the user files of one host folder (`host`: served here, so its writes in flight can be waited for). */
async function checkFolder(jsm: SessionManager, dir: string, host: string | undefined, journaled: ReadonlyMap<string, string | null>, report: CheckReport): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    // No folder yet: a host nobody registered on. Any other failure
    // (a file in its place, no permission) is no clean bill of health.
    if (errCode(err) !== 'ENOENT') {
      report.bad.push({ file: dir, reason: `cannot list the folder: ${(err as Error).message}` });
      return;
    }
    names = [];
  }
  const listed = asJournaled(names, dir, journaled);
  for (const name of [...listed].filter((n) => n.endsWith('.xml') && !n.startsWith('.')).sort()) {
    const file = path.join(dir, name);
    report.files++;
    // A hashed long name gives no user whose writes to wait for (below):
    // read at once, as the store does (user-files.ts), never from the
    // thread pool between a running server's rewrite and its truncation.
    const long = isLongUserFileName(name);
    const text = async (): Promise<string> => journaled.get(file) ?? decodeXmlFile(long ? readFileSync(file) : await readFile(file));
    let read = await readSpoolFile(file, text);
    const user = userFromFileName(name) ?? userFromLegacyFileName(name);
    if (read.reason !== undefined && user !== undefined && host !== undefined) {
      // A running server rewrites files in place: look again once the
      // user's writes in flight are done, before calling it bad.
      await jsm.xdb.exists(host, user).catch(() => undefined);
      read = await readSpoolFile(file, text);
    }
    if (read.reason !== undefined) report.bad.push({ file, reason: read.reason });
    else if (read.root !== undefined && !reachable(name, listed, read.root)) report.unreachable.push({ file, owner: ownerOf(name) });
  }
}

/**
 * Whether a login can reach the file `name` of a host folder: Yak's name
 * for a prepared username, or 1.4's for one whose Yak file is not there
 * (the store reads Yak's when both are). A long-name file (`root`, its
 * content) is the user's it records, if its name is that user's.
 */
function reachable(name: string, listed: ReadonlySet<string>, root: Element): boolean {
  if (isLongUserFileName(name)) {
    const recorded = root.attrs.user;
    return recorded !== undefined && nodeprep(recorded) === recorded && userFileName(recorded) === name;
  }
  const yak = userFromFileName(name);
  if (yak !== undefined) return nodeprep(yak) === yak;
  const legacy = userFromLegacyFileName(name);
  return legacy !== undefined && !listed.has(userFileName(legacy));
}

/**
 * The user a file no user reaches was meant for, by its name (Yak's
 * percent-encoding, or 1.4's name itself), prepared as a login would, and
 * that user's own file name.
 */
function ownerOf(name: string): { user: string; file: string } | undefined {
  // A hashed long name says nothing of whose it was.
  if (isLongUserFileName(name)) return undefined;
  let raw: string;
  try {
    raw = decodeURIComponent(name.slice(0, -4));
  } catch {
    raw = name.slice(0, -4);
  }
  const user = nodeprep(raw);
  return user === undefined ? undefined : { user, file: userFileName(user) };
}

/** Why `e` or an element in it is not namespace-well-formed, if it is not (see namespace-scope.ts). */
function namespaceProblem(e: Element, scope: NamespaceScope, depth: number): string | undefined {
  // Without declareWhereUsed, enter() only reads the attributes.
  const why = scope.enter(depth, e.name, e.attrs);
  if (why !== undefined) return why;
  for (const c of e.elements) {
    const inner = namespaceProblem(c, scope, depth + 1);
    if (inner !== undefined) return inner;
  }
  scope.leave(depth);
  return undefined;
}

/** A spool file's <xdb> root, or why it is not one; neither when it is gone. */
async function readSpoolFile(file: string, text: () => Promise<string>): Promise<{ root?: Element; reason?: string }> {
  try {
    const root = parseSpoolXml(await text(), file);
    if (root.name !== 'xdb') return { reason: `root element is <${root.name}>, not <xdb>` };
    const ns = namespaceProblem(root, new NamespaceScope(), 1);
    // Stored before streams were checked for it (1.4, or an earlier Yak):
    // served as it is, it makes a namespace-aware client drop its connection.
    if (ns !== undefined) return { reason: `holds XML that is not namespace-well-formed (${ns}): a namespace-aware client that reads it drops its connection; edit the file` };
    return { root };
  } catch (err) {
    if (errCode(err) === 'ENOENT') return {}; // deleted since the listing
    return { reason: (err as Error).message };
  }
}
