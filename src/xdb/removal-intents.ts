// Account removals under way, kept in SPOOL/.yak-removals so that one a
// crash (or a stop past its bound) cut short is finished at the next
// start. Such a removal had told some contacts that the account is gone
// while the account's own roster still named them as subscribed; left so,
// the two sides disagreed for good. The file exists only while a removal
// runs (or one is left to finish): a clean spool is plain xdb_file.
import { lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errCode } from '../util/err-code.js';
import { noop } from '../util/noop.js';
import { syncDir } from './dir-sync.js';

/** The file, in the spool's top folder. */
export const REMOVALS_FILE = '.yak-removals';
/** Written whole, then renamed over REMOVALS_FILE: a crash leaves one or the other. */
export const REMOVALS_NEW = '.yak-removals.new';
/** Where a REMOVALS_FILE that is not Yak's writing is moved (with a number when taken), so that removals go on (see read()). */
export const REMOVALS_UNREADABLE = '.yak-removals.unreadable';

/** An account whose removal has begun: a configured host and a prepared username. */
export interface RemovalIntent {
  host: string;
  user: string;
}

/** REMOVALS_FILE held what Yak does not write (edited by hand): it was moved aside, and the message says where. */
export class RemovalIntentsError extends Error {}

export class RemovalIntents {
  /** By `host user`: neither a prepared username nor a host name holds a space. */
  private readonly pending = new Map<string, RemovalIntent>();
  /** The file read, once, before the first change or look: a change writes the whole list, never only this process's part of it. */
  private loaded: Promise<RemovalIntentsError | undefined> | undefined;
  /** The file's writes, one after another, each of the set as it is when it runs. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly root: string,
    /** fdatasync the file and fsync the folder: off only in tests and benchmarks that turn the spool's off. */
    private readonly fsync: boolean,
    /** Told when the file was moved aside (see read()), however it came to be read. */
    private readonly movedAside: (err: RemovalIntentsError) => void = noop,
  ) {}

  /** Whether a removal of the account is listed (after unfinished()): one struck off meanwhile is not. */
  listed(host: string, user: string): boolean {
    return this.pending.has(`${host} ${user}`);
  }

  /**
   * Those the file names: removals a crash or stop cut short. Rejects with
   * RemovalIntentsError when the file was not Yak's writing (it is moved
   * to REMOVALS_UNREADABLE; the list is then empty, and removals go on).
   */
  async unfinished(): Promise<RemovalIntent[]> {
    const unreadable = await this.load();
    if (unreadable) throw unreadable;
    return [...this.pending.values()];
  }

  /**
   * The list, for a look that changes nothing (jabberctl check on a spool
   * it only reads): as loaded, or else the file as it is, one that is not
   * Yak's writing left where it is and said so (`invalid`).
   */
  async peek(): Promise<{ listed: RemovalIntent[]; invalid?: string }> {
    if (this.loaded) {
      // One not Yak's was moved aside as it was loaded (and said so then): nothing is listed.
      await this.loaded;
      return { listed: [...this.pending.values()] };
    }
    const text = await this.readText();
    if (text === undefined) return { listed: [] };
    const list = parseList(text);
    if (!list) return { listed: [], invalid: NOT_A_LIST };
    return { listed: list.map(([host, user]) => ({ host, user })) };
  }

  /** On disk once this resolves: before any contact is told. */
  async note(host: string, user: string): Promise<void> {
    await this.load();
    this.pending.set(`${host} ${user}`, { host, user });
    return this.save();
  }

  /** The removal is over (done, failed and answered so, or the name taken by a new account): nothing to finish at the next start. */
  async forget(host: string, user: string): Promise<void> {
    await this.load();
    if (!this.pending.delete(`${host} ${user}`)) return;
    return this.save();
  }

  /** Resolves once the writes asked for so far are done (or failed). */
  idle(): Promise<void> {
    return this.writes;
  }

  /** read(), once; one that failed (a file the server may not read) is tried again next time, never taken for an empty list. */
  private load(): Promise<RemovalIntentsError | undefined> {
    this.loaded ??= this.read().then(
      (unreadable) => {
        if (unreadable) this.movedAside(unreadable);
        return unreadable;
      },
      (err: unknown) => {
        this.loaded = undefined;
        throw err;
      },
    );
    return this.loaded;
  }

  private async read(): Promise<RemovalIntentsError | undefined> {
    // A write a crash cut short, before its rename: the file it was to replace holds the list.
    await unlink(path.join(this.root, REMOVALS_NEW)).catch(noop);
    const file = path.join(this.root, REMOVALS_FILE);
    const text = await this.readText();
    if (text === undefined) return undefined;
    const list = parseList(text);
    if (!list) {
      // Never over one moved aside before.
      let aside = path.join(this.root, REMOVALS_UNREADABLE);
      for (let n = 1; await exists(aside); n++) aside = path.join(this.root, `${REMOVALS_UNREADABLE}.${n}`);
      await rename(file, aside);
      return new RemovalIntentsError(`${file}: ${NOT_A_LIST}; moved to ${aside}, and none of what it names is finished`);
    }
    for (const [host, user] of list) this.pending.set(`${host} ${user}`, { host, user });
    return undefined;
  }

  /** The file's text; undefined when there is none. */
  private async readText(): Promise<string | undefined> {
    const file = path.join(this.root, REMOVALS_FILE);
    return readFile(file, 'utf8').catch((err: unknown) => {
      if (errCode(err) === 'ENOENT') return undefined;
      // Node names no path for some (EISDIR): the start's message, and check's, must.
      throw new Error(`${file}: cannot be read (${(err as Error).message})`, { cause: err });
    });
  }

  private save(): Promise<void> {
    const run = this.writes.then(() => this.write());
    this.writes = run.catch(noop);
    return run;
  }

  private async write(): Promise<void> {
    const file = path.join(this.root, REMOVALS_FILE);
    if (this.pending.size === 0) {
      await unlink(file).catch((err: unknown) => {
        if (errCode(err) !== 'ENOENT') throw err;
      });
    } else {
      const fresh = path.join(this.root, REMOVALS_NEW);
      const fh = await open(fresh, 'w', 0o600);
      try {
        try {
          await fh.writeFile(JSON.stringify([...this.pending.values()].map(({ host, user }) => [host, user])) + '\n');
          if (this.fsync) await fh.datasync();
        } finally {
          await fh.close();
        }
        await rename(fresh, file);
      } catch (err) {
        // A full disk: the temp file goes, or a clean stop would leave it in the spool.
        await unlink(fresh).catch(noop);
        throw err;
      }
    }
    if (this.fsync) await syncDir(this.root);
  }
}

const NOT_A_LIST = 'not a list of account removals as Yak writes it';

/** The file's [host, user] pairs, or undefined when it is not Yak's writing. */
function parseList(text: string): [string, string][] | undefined {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return undefined;
  }
  const valid = Array.isArray(list) && list.every((e) => Array.isArray(e) && e.length === 2 && e.every((s) => typeof s === 'string' && s !== ''));
  return valid ? (list as [string, string][]) : undefined;
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    (err: unknown) => {
      if (errCode(err) === 'ENOENT') return false;
      throw err;
    },
  );
}
