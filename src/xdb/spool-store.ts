// The spool-file store: jabberd 1.4's xdb_file layout, written durably.
//
//   <root>/<host>/<user>.xml = <xdb><REC xmlns='NS' xdbns='NS'>...</REC>...</xdb>
//
// Every operation on one user runs in that user's queue (a promise chain),
// so a read-modify-write never interleaves with another one. A change is
// durable once it is in the journal (journal.ts), which then rewrites the
// file in place. Parsed files are kept in an LRU cache (doc-cache.ts) that
// is only ever set from what was read from disk or after a change became
// durable: it never runs ahead of what a restart would find. Where a user's
// file is: user-files.ts; setSoon()'s batching: deferred-writes.ts.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { makeFolder } from '../util/make-folder.js';
import { dirname, relative } from 'node:path';
import { silentLogger, type Logger } from '../log.js';
import { Element } from '../xml/element.js';
import { hasNonXmlChar } from '../xml/chars.js';
import { weigh } from '../xml/stream-parser.js';
import { DEFAULT_MAX_FILE_BYTES, DeferredChangesLostError, NoSuchUserError, NS_AUTH, SpoolClosedError, type Changes, type JournalHold, type WriteOptions, type Xdb } from './xdb.js';
import { syncDir } from './dir-sync.js';
import { docNodes, intake, isAccount, parseDoc, serialize, spoolText, withRecords, type Draft, type UserDoc } from './user-doc.js';
import { DocCache } from './doc-cache.js';
import { Journal, type ReplayReport } from './journal.js';
import { refuseUnfinishedBackup } from './unfinished-backup.js';
import { UserFiles, type UserFile } from './user-files.js';
import { DeferredWrites } from './deferred-writes.js';
import { FileSizeCap } from './size-cap.js';
import { errCode } from '../util/err-code.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import { noop } from '../util/noop.js';
import { RemovalIntents, RemovalIntentsError, type RemovalIntent } from './removal-intents.js';
import { eachLimited } from '../util/each-limited.js';
import { Limiter } from '../util/limiter.js';

export interface SpoolStoreOptions {
  log?: Logger;
  /** Parsed user files kept in memory (LRU); 0 disables the cache. */
  cacheUsers?: number;
  /**
   * Total weight of the documents the cache holds: what they take parsed,
   * their files' bytes plus NODE_WEIGHT for each element, attribute and
   * text piece (see weigh() in stream-parser.ts). The oldest go first
   * beyond it. Default CACHE_WEIGHT (doc-cache.ts).
   */
  cacheWeight?: number;
  /**
   * A document weighing more than this is never cached: it is read again
   * when needed. Default: a sixteenth of cacheWeight (24 MiB), which keeps
   * every file within the default <maxfilesize> cacheable.
   */
  cacheFileWeight?: number;
  /** Journal and fsync every change (default true; tests may turn it off). */
  fsync?: boolean;
  /** A journal generation with entries is checkpointed after this long. */
  checkpointMs?: number;
  /**
   * Largest size of one user's file in bytes (UTF-8, as written); 0 = no
   * cap. Default DEFAULT_MAX_FILE_BYTES. Every change rewrites and journals
   * the whole file, so this bounds what one change can cost; see commit().
   * It caps the file's weight parsed too, at MAX_FILE_DENSITY times this.
   */
  maxFileBytes?: number;
  /**
   * Never write anything, not even a crash's journal: reads see the spool
   * as its replay will leave it (see JournalOptions.readOnly); every change
   * rejects. jabberctl's list, show and check, which may run with read
   * access only.
   */
  readOnly?: boolean;
  /**
   * Told that SPOOL/.yak-removals was not Yak's writing and was moved
   * aside (the message names both files). Default: an error in the log;
   * jabberctl, which logs nowhere, says it on stderr.
   */
  removalsMovedAside?: (message: string) => void;
}

/** User files read at once, by anyone (see SpoolStore.reads): four times libuv's default thread pool, a sliver of the descriptors the connection cap keeps back. */
const FILE_READS_AT_ONCE = 16;

/** Files a listing of every account reads at once (see accounts()): twice libuv's default thread pool. */
const LISTING_READS_AT_ONCE = 8;

export class SpoolStore implements Xdb {
  private readonly log: Logger;
  private readonly cap: FileSizeCap;
  private readonly fsync: boolean;
  private readonly cache: DocCache;
  private readonly files: UserFiles;
  /** Each user's operations, one at a time; keyed by file path. */
  private readonly queues = new KeyedQueue();
  private readonly knownDirs = new Set<string>();
  private readonly journal: Journal;
  private replay: Promise<ReplayReport> | undefined;
  /** Until the replay has succeeded, what every operation waits for first (rejected if it failed). */
  private gate: Promise<unknown> | undefined;
  private readonly deferred: DeferredWrites;
  private readonly readOnly: boolean;
  /** close() has begun: every change is refused (see close()). */
  private sealed = false;
  private readonly removals: RemovalIntents;
  /**
   * The user files being read, each holding a descriptor from its open to
   * its close: a few at once keep the thread pool busy (it has 4 threads),
   * and many (every client logging in again after a restart) took the
   * descriptors the connection cap keeps back for the spool and the
   * journal, failing logins and writes with EMFILE.
   */
  private readonly reads = new Limiter(FILE_READS_AT_ONCE);
  /** Holds on the journal not released yet, each cut by its own function (see holdJournal()). */
  private readonly holds = new Set<() => void>();

  constructor(
    readonly root: string,
    opts: SpoolStoreOptions = {},
  ) {
    this.log = opts.log ?? silentLogger;
    this.cache = new DocCache({ users: opts.cacheUsers, weight: opts.cacheWeight, fileWeight: opts.cacheFileWeight });
    this.fsync = opts.fsync ?? true;
    this.cap = new FileSizeCap(opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, this.log);
    this.readOnly = opts.readOnly ?? false;
    this.journal = new Journal(root, { log: this.log, durable: this.fsync, checkpointMs: opts.checkpointMs, readOnly: this.readOnly });
    this.files = new UserFiles(root, this.journal, this.log);
    // Checked against the cap when setSoon() took it: not again here.
    this.deferred = new DeferredWrites(this.log, this.journal, (f, fn) => this.withFile(f, fn), (f, doc) => this.commit(f, doc, undefined));
    const movedAside = opts.removalsMovedAside ?? ((message: string) => this.log.error({ err: message }, 'account removals to finish cannot be read'));
    this.removals = new RemovalIntents(root, this.fsync, (err) => movedAside(err.message));
  }

  /** What the parsed files kept in memory may weigh (see DocCache.limits). */
  get cacheLimits(): { weight: number; slimWeight: number } {
    return this.cache.limits;
  }

  /** A few seconds apart: files nobody used since the call before are kept as text (see DocCache.cool()). */
  cool(): void {
    this.cache.cool();
  }

  /** See Xdb.listedRemovals(). */
  async listedRemovals(): Promise<{ listed: RemovalIntent[]; invalid?: string }> {
    if (this.readOnly) return this.removals.peek();
    // Moved aside, and told to removalsMovedAside, if it is not Yak's: the list is then empty.
    const listed = await this.removals.unfinished().catch((err: unknown) => {
      if (err instanceof RemovalIntentsError) return [];
      throw err;
    });
    return { listed };
  }

  /** See Xdb.noteRemoval(). */
  noteRemoval(host: string, user: string): Promise<void> {
    if (this.sealed) return Promise.reject(new SpoolClosedError());
    if (this.readOnly) return Promise.reject(new Error('the spool is open read-only'));
    return this.removals.note(host, user);
  }

  /** See Xdb.removalListed(). */
  removalListed(host: string, user: string): boolean {
    return this.removals.listed(host, user);
  }

  /** See Xdb.forgetRemoval(). Also once the store is closing: a removal that ended as it closed is over. */
  forgetRemoval(host: string, user: string): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    return this.removals.forget(host, user);
  }

  /**
   * Replays what a crash left in the journal. Runs by itself before the
   * first operation; the server calls it at startup to report it. Whoever
   * may find a journal should call it first: where a user's file is (Yak's
   * name or 1.4's, and the host's folder) is looked up, and remembered,
   * as an operation is queued, which is before that replay.
   */
  open(): Promise<ReplayReport> {
    if (!this.replay) {
      this.replay = refuseUnfinishedBackup(this.root).then(() => this.journal.open());
      const gate: Promise<unknown> = this.replay.then(() => {
        if (this.gate === gate) this.gate = undefined;
      });
      gate.catch(noop);
      this.gate = gate;
    }
    return this.replay;
  }

  /** Files whose content only the journal has (path -> content, null: deleted): see Xdb.unreplayed(). */
  unreplayed(): Map<string, string | null> {
    return this.journal.pendingFiles();
  }

  /** See Xdb.unwritable(). */
  unwritable(): { path: string; why: string }[] {
    return this.journal.failedFiles();
  }

  /** fdatasyncs of the journal so far (group commit makes them fewer than writes). */
  get journalCommits(): number {
    return this.journal.commits;
  }

  get(host: string, user: string, ns: string): Promise<Element | undefined> {
    return this.read(host, user, (doc) => doc?.records.get(ns)?.clone(), [ns]);
  }

  peek<T>(host: string, user: string, ns: string, pick: (record: Element | undefined) => T): Promise<T> {
    return this.read(host, user, (doc) => pick(doc?.records.get(ns)), [ns]);
  }

  getAll(host: string, user: string): Promise<Map<string, Element>> {
    return this.read(host, user, (doc) => {
      const out = new Map<string, Element>();
      if (doc) for (const [ns, rec] of doc.records) out.set(ns, rec.clone());
      return out;
    });
  }

  getSome(host: string, user: string, namespaces: readonly string[]): Promise<Map<string, Element>> {
    return this.read(
      host,
      user,
      (doc) => {
        const out = new Map<string, Element>();
        for (const ns of namespaces) {
          const rec = doc?.records.get(ns);
          if (rec) out.set(ns, rec.clone());
        }
        return out;
      },
      namespaces,
    );
  }

  set(host: string, user: string, records: Changes | ((current: (ns: string) => Element | undefined) => Changes), opts: WriteOptions = {}): Promise<void> {
    if (this.sealed) return Promise.reject(new SpoolClosedError());
    return this.withUser(host, user, async (f) => {
      const doc = await this.load(f);
      this.checkExisting(doc, user, opts);
      // Only the records the function asks for are copied (an offline box may be large).
      if (typeof records === 'function') records = records((ns) => doc?.records.get(ns)?.clone());
      const next = new Map(doc?.records);
      const durable = this.isDurable(f);
      let changed = false;
      for (const [ns, rec] of Object.entries(records)) {
        if (rec !== null) {
          const incoming = intake(rec);
          if (durable && next.get(ns)?.equals(incoming)) continue;
          next.set(ns, incoming);
        } else if (!next.delete(ns)) continue;
        changed = true;
      }
      if (changed) await this.commit(f, { records: next, extras: doc?.extras ?? [] }, doc);
    });
  }

  setSoon(host: string, user: string, records: Record<string, Element>, unchanged?: ReadonlyMap<string, Element | undefined>): Promise<void> {
    return this.withUser(host, user, async (f) => {
      // Refused now: a deferred write would fail, and be retried, forever.
      this.refuseIfReadOnly();
      const doc = await this.load(f);
      // Only for users that exist: a late logout record must not bring a removed user back.
      if (!isAccount(doc)) return;
      // Nor a change made from what has changed since (a chain from a replaced password).
      for (const [ns, was] of unchanged ?? []) {
        const now = doc.records.get(ns);
        if (now === undefined ? was !== undefined : was === undefined || !now.equals(was)) return;
      }
      const changed = withRecords(doc, records);
      // Refused like any change, but nobody is waiting for this one to
      // report an error to, and a deferred write that failed would be
      // retried every 2 s forever: a change that would grow the file beyond
      // the cap is dropped here, once, with a warning. (The logout time is
      // small, but its status text is the user's own and may be large; a
      // change that does not grow the file, such as a new logout time over
      // the old one, is kept even for a file already over the cap.)
      const over = this.cap.over(changed.bytes, changed.weight, doc);
      if (over) {
        this.cap.dropped(f, changed, over, Object.keys(records));
        return;
      }
      this.deferred.hold(f, changed);
      this.cache.remember(f.path, changed);
      this.deferred.writeSoon();
    });
  }

  update(
    host: string,
    user: string,
    ns: string,
    fn: (current: Element | undefined) => Element | null | undefined,
    opts: WriteOptions = {},
  ): Promise<Element | undefined> {
    if (this.sealed) return Promise.reject(new SpoolClosedError());
    return this.withUser(host, user, async (f) => {
      const doc = await this.load(f);
      this.checkExisting(doc, user, opts);
      const current = doc?.records.get(ns);
      const result = fn(current?.clone());
      if (result === undefined) return current?.clone();
      const next = new Map(doc?.records);
      if (result === null) {
        if (!next.delete(ns)) return undefined;
      } else {
        const incoming = intake(result);
        if (this.isDurable(f) && current?.equals(incoming)) return current.clone();
        next.set(ns, incoming);
      }
      await this.commit(f, { records: next, extras: doc?.extras ?? [] }, doc);
      return next.get(ns)?.clone();
    });
  }

  /**
   * Whether what load() gives for the user is on disk (in the journal at
   * least): not while a deferred change (setSoon) waits. A change to a
   * record equal to the one stored is skipped only then: there is nothing
   * to make durable.
   */
  private isDurable(f: UserFile): boolean {
    return !this.deferred.has(f.path);
  }

  /** See WriteOptions.existing. */
  private checkExisting(doc: UserDoc | null, user: string, opts: WriteOptions): void {
    if (opts.existing !== false && !isAccount(doc)) throw new NoSuchUserError(user);
  }

  create(host: string, user: string, records: Record<string, Element>): Promise<boolean> {
    if (this.sealed) return Promise.reject(new SpoolClosedError());
    return this.withUser(host, user, async (f) => {
      const doc = await this.load(f);
      if (isAccount(doc)) return false;
      this.refuseIfReadOnly();
      // A removal of the name still listed (it ended as a crash came, or
      // its file went by other means) is not this account's: struck off
      // first, or the next start would remove the new account.
      await this.removals.forget(host, user);
      // A new user starts from a clean file: leftovers of a file without an
      // auth record (never written by Yak itself) must not leak to the new owner.
      const next = new Map<string, Element>();
      for (const [ns, rec] of Object.entries(records)) next.set(ns, intake(rec));
      // The auth record is the existence flag; without it the name would stay free.
      if (!next.has(NS_AUTH)) next.set(NS_AUTH, new Element('password', { xmlns: NS_AUTH }));
      await this.commit(f, { records: next, extras: [] }, doc);
      return true;
    });
  }

  exists(host: string, user: string): Promise<boolean> {
    return this.read(host, user, isAccount, [NS_AUTH]);
  }

  remove(host: string, user: string): Promise<void> {
    if (this.sealed) return Promise.reject(new SpoolClosedError());
    return this.withUser(host, user, async (f) => {
      this.refuseIfReadOnly();
      // A user may have both Yak's file and 1.4's (fileOf() uses Yak's):
      // both go, or the account would come back from the other one.
      for (const target of [f, ...this.files.otherFileOf(f)]) {
        await this.journal.write(target, null);
        this.deferred.delete(target.path);
        this.cap.written(target.path);
        this.cache.remember(target.path, null);
      }
      // Neither file is there now: the name's next file is Yak's.
      this.files.forget(host, user);
    });
  }

  async list(host: string): Promise<string[]> {
    await this.open();
    return this.files.list(host);
  }

  async accounts(host: string): Promise<string[]> {
    const found: string[] = [];
    // Read side by side: one after another, each file's trips to the
    // thread pool made a listing of 100,000 accounts take minutes. A few
    // more than the pool's threads keep it busy without making everyone
    // else's reads wait behind a long queue.
    await eachLimited(await this.list(host), LISTING_READS_AT_ONCE, async (user) => {
      // A file that does not parse still holds its name (`jabberctl check` says what is wrong with it).
      const account = await this.withUser(host, user, async (f) => isAccount(await this.load(f, [NS_AUTH], false))).catch(() => true);
      if (account) found.push(user);
    });
    return found.sort();
  }

  /** Everything accepted so far written, the spool files synced, the journal emptied. */
  async flush(): Promise<void> {
    await this.open();
    // A setSoon() still in its user's queue (its file being read) is held
    // only once it runs: writeAll() must come after it.
    await this.queues.idle();
    await this.deferred.writeAll();
    await this.queues.idle();
    await this.journal.checkpoint();
  }

  /** See Xdb.holdJournal(). */
  holdJournal(): JournalHold {
    if (this.sealed) throw new SpoolClosedError();
    const cut = new AbortController();
    const release = this.journal.holdGenerations();
    const end = (): void => {
      this.holds.delete(cutHold);
      release();
    };
    const cutHold = (): void => {
      end();
      cut.abort(new Error('the spool is closing'));
    };
    this.holds.add(cutHold);
    return {
      signal: cut.signal,
      freeJournal: release,
      release: end,
      acknowledged: () => this.journal.acknowledgedLengths(),
      stuck: () => new Set(this.journal.failedFiles().map((f) => relative(this.root, f.path))),
    };
  }

  /** See Xdb.cutJournalHolds(). */
  cutJournalHolds(): void {
    for (const cutHold of [...this.holds]) cutHold();
  }

  /**
   * flush(), then lets go of the journal's files even if it failed (a
   * stopping server). A change asked for once close() has begun is refused
   * (SpoolClosedError): one that slipped in after the last checkpoint
   * would start a journal generation nobody writes out, and the stop would
   * say all was written while a replay waits for the next start. (A
   * setSoon() then is not written either, as its writer stops here, but
   * resolves: a session's logout record after the stop's bound is no
   * failure of the session's end.)
   */
  async close(): Promise<void> {
    this.sealed = true;
    // The last checkpoint must not wait for a backup.
    this.cutJournalHolds();
    let lost = 0;
    let flushFailure: { err: unknown } | undefined;
    try {
      await this.flush();
    } catch (err) {
      flushFailure = { err };
    } finally {
      lost = this.deferred.stop();
      await this.removals.idle();
      await this.journal.close();
    }
    // Nobody was promised them, but a clean close means that every change
    // made is written: those the disk refused make it no clean one.
    if (lost > 0) throw new DeferredChangesLostError(lost, flushFailure?.err);
    if (flushFailure) throw flushFailure.err;
  }

  /**
   * `pick` applied to the user's document, in turn after the writes queued
   * before it. (Answering cached reads at once, past the writes, was tried:
   * logins then ran on during write-behind flushes, competing with the file
   * threads for the one core, and the benchmark lost a quarter of its rate.)
   */
  /** `namespaces`: the only records `pick` reads, when it reads no others (see load()). */
  private read<T>(host: string, user: string, pick: (doc: UserDoc | null) => T, namespaces?: readonly string[]): Promise<T> {
    return this.withUser(host, user, async (f) => pick(await this.load(f, namespaces)));
  }

  /** Runs `fn` after everything queued earlier for this user. */
  private async withUser<T>(host: string, user: string, fn: (f: UserFile) => Promise<T>): Promise<T> {
    // async: a name with no file name rejects instead of throwing at the caller.
    return this.withFile(this.files.fileOf(host, user), fn);
  }


  private refuseIfReadOnly(): void {
    if (this.readOnly) throw new Error('the spool is open read-only');
  }

  private withFile<T>(f: UserFile, fn: (f: UserFile) => Promise<T>): Promise<T> {
    if (!this.replay) void this.open();
    return this.queues.run(f.path, () => fn(f), this.gate);
  }

  /**
   * The user's parsed file (null when there is none), from memory or disk.
   * `namespaces`: a read of those records only, which a heavy file's light
   * records kept in memory may answer (never a change: it needs them all).
   * `keep` false: a file read from disk is not kept in memory, nor one
   * found there made more recent (a listing of every account, which would
   * push the users in use out of the cache).
   */
  private async load(f: UserFile, namespaces?: readonly string[], keep = true): Promise<UserDoc | null> {
    const pending = this.deferred.doc(f.path);
    if (pending) return pending;
    // The cache is never behind the journal: every change is remembered once journaled.
    const cached = this.cache.get(f.path);
    if (cached !== undefined) {
      if (keep) this.cache.remember(f.path, cached);
      return cached;
    }
    const slim = namespaces && this.cache.slim(f.path, namespaces);
    if (slim) return slim;
    const journaled = this.journal.pending(f.path);
    if (journaled !== undefined) {
      const doc = journaled === null ? null : parseDoc(journaled, f.path, this.log).doc;
      if (keep) this.cache.remember(f.path, doc);
      return doc;
    }
    // Most misses are names without a file (a registration, a stanza for
    // an unknown user). A synchronous stat answers those with one lookup,
    // without the trip to the thread pool and the ENOENT Error object that
    // cost register about a tenth of its CPU; files that exist are read off
    // the event loop.
    if (!statSync(f.path, { throwIfNoEntry: false })) {
      if (keep) this.cache.remember(f.path, null);
      return null;
    }
    let bytes: Buffer;
    try {
      bytes = await this.reads.run(() => readFile(f.path));
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      if (keep) this.cache.remember(f.path, null);
      return null;
    }
    const { doc } = parseDoc(spoolText(bytes, f.path), f.path, this.log);
    if (keep) this.cache.remember(f.path, doc);
    return doc;
  }

  /**
   * Makes the change durable (journal) and writes the file, then (only
   * then) caches it. `before` is the document the change was made to
   * (null: no file), or undefined for a change checked already: the one
   * place the size cap is enforced. A refused change rejects with
   * UserFileFullError before anything is written or cached.
   */
  private async commit(f: UserFile, draft: Draft, before: UserDoc | null | undefined): Promise<void> {
    this.refuseIfReadOnly();
    const data = serialize(draft, f.long ? f.user : undefined);
    // The last guard: a file that would not parse is never written (the parsers refuse such text already).
    if (hasNonXmlChar(data)) throw new Error(`refused to write ${f.path}: a character XML 1.0 does not allow`);
    const bytes = Buffer.byteLength(data);
    // New records (fresh copies, see intake()) are walked here once; the others' counts are kept.
    const weight = weigh(bytes, docNodes(draft));
    const over = before === undefined ? undefined : this.cap.over(bytes, weight, before);
    if (over) this.cap.refuse(f, bytes, weight, over);
    const doc: UserDoc = { records: draft.records, extras: draft.extras, bytes, weight };
    await this.ensureDir(f.dir);
    await this.journal.write(f, data);
    // The document written is the latest, deferred changes included.
    this.deferred.delete(f.path);
    this.cap.written(f.path);
    this.cache.remember(f.path, doc);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    const made = await makeFolder(dir, 0o700);
    if (made !== undefined && this.fsync) {
      // Make every new folder's entry durable in its parent.
      for (let d = dir; dirname(d) !== d; d = dirname(d)) {
        await syncDir(dirname(d));
        if (d === made) break;
      }
    }
    this.knownDirs.add(dir);
  }
}
