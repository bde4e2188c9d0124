// Where each user's spool file is, and which users a host folder holds.
// A user's file is Yak's name for it, or the one jabberd 1.4 gave a name
// Yak percent-encodes (file-names.ts); the journal's content for a file
// counts as on disk already, so a failed write or a read-only look at a
// crash's journal sees the spool as it will be.
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeprep } from '../jid.js';
import type { Logger } from '../log.js';
import { parseDoc, spoolText } from './user-doc.js';
import type { Journal, SpoolTarget } from './journal.js';
import { isLongUserFileName, legacyUserFileName, userFileName, userFromFileName, userFromLegacyFileName } from './file-names.js';
import { errCode } from '../util/err-code.js';
import { asJournaled, hostFolderName } from './host-folders.js';
import { RecentMemo } from '../util/recent-memo.js';

export interface UserFile extends SpoolTarget {
  user: string;
  file: string;
  /** Hashed file name: the username is kept in a `user` attribute of <xdb>. */
  long: boolean;
}

/** Users per host whose file location is remembered (the least lately used are dropped first). */
const FILE_NAMES_REMEMBERED = 20_000;

export class UserFiles {
  /**
   * host -> user -> where the file is. Two lookups cost less than one on a
   * joined key, which is a new string to build and hash on every call.
   */
  private readonly files = new Map<string, RecentMemo<string, UserFile>>();
  /** host -> its folder's name, found once (see hostFolderName). */
  private readonly hostFolders = new Map<string, string>();

  constructor(
    private readonly root: string,
    private readonly journal: Journal,
    private readonly log: Logger,
  ) {}

  /** Where a user's file lives (remembered: path building showed in login profiles). */
  fileOf(host: string, user: string): UserFile {
    let byUser = this.files.get(host);
    let f = byUser?.get(user);
    if (f) return f;
    const dirName = this.hostFolder(host);
    const dir = join(this.root, dirName);
    let file = userFileName(user);
    // A name Yak percent-encodes may have a file from 1.4 under the name
    // itself (`josé.xml`): used as it is, unless Yak's own file exists.
    const legacy = legacyUserFileName(user);
    if (legacy !== undefined && !this.present(join(dir, file)) && this.present(join(dir, legacy))) file = legacy;
    f = { user, dir, file, path: join(dir, file), rel: dirName + '/' + file, long: isLongUserFileName(file) };
    if (!byUser) this.files.set(host, (byUser = new RecentMemo(FILE_NAMES_REMEMBERED)));
    byUser.set(user, f);
    return f;
  }

  /** The user's other file, when Yak's and 1.4's both exist (f is Yak's then). */
  otherFileOf(f: UserFile): UserFile[] {
    const legacy = legacyUserFileName(f.user);
    if (legacy === undefined || legacy === f.file) return [];
    const path = join(f.dir, legacy);
    if (!this.present(path)) return [];
    return [{ ...f, file: legacy, path, rel: f.rel.slice(0, f.rel.length - f.file.length) + legacy, long: false }];
  }

  /** Forgets where the user's file is: the name's next file is Yak's. */
  forget(host: string, user: string): void {
    this.files.get(host)?.delete(user);
  }

  /** The users with a file in the host's folder, sorted. */
  async list(host: string): Promise<string[]> {
    const dir = join(this.root, this.hostFolder(host));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      names = [];
    }
    const listed = asJournaled(names, dir, this.journal.pendingFiles());
    // A Set: a user may have both Yak's file and 1.4's (fileOf() uses Yak's).
    const users = new Set<string>();
    for (const name of listed) {
      const user =
        userFromFileName(name) ?? (isLongUserFileName(name) ? this.longFileUser(dir, name) : userFromLegacyFileName(name));
      // Only names a user could have: `x%41.xml` decodes to `xA`, which
      // nodeprep would make `xa`; `x%2F.xml` to `x/`, which it refuses.
      if (user !== undefined && nodeprep(user) === user) users.add(user);
    }
    return [...users].sort();
  }

  /** The name of the host's folder: Yak's, or 1.4's when Yak's is missing or empty (see hostFolderName). */
  private hostFolder(host: string): string {
    let name = this.hostFolders.get(host);
    if (name === undefined) this.hostFolders.set(host, (name = hostFolderName(this.root, host, this.journal.pendingFiles())));
    return name;
  }

  /** Whether the file is there, or will be once the journal's content for it is written. */
  private present(path: string): boolean {
    const journaled = this.journal.pending(path);
    return journaled === undefined ? existsSync(path) : journaled !== null;
  }

  /**
   * The username recorded in a long-name file, if it really belongs there.
   * Read synchronously, like every rewrite (journal.ts): a read on the
   * thread pool could land between a shrinking rewrite's write and its
   * truncation, see junk after </xdb> and leave the user out of the list.
   */
  private longFileUser(dir: string, name: string): string | undefined {
    const path = join(dir, name);
    try {
      const { root } = parseDoc(this.journal.pending(path) ?? spoolText(readFileSync(path), path), path, this.log);
      const user = root.attrs.user;
      if (user !== undefined && user !== '' && userFileName(user) === name) return user;
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      this.log.warn({ file: path, err: (err as Error).message }, 'spool file skipped in user list');
    }
    return undefined;
  }
}
