// The storage interface. Everything above it speaks namespaces and users;
// only the implementation (spool-store.ts and the files it hands parts to,
// all in src/xdb/) knows about files.
import type { RemovalIntent } from './removal-intents.js';
import type { Element } from '../xml/element.js';

/** Namespaces of the records the server itself keeps (SPEC section 6). */
export const NS_AUTH = 'jabber:iq:auth';
export const NS_AUTH_0K = 'jabber:iq:auth:0k';
/**
 * 1.4's mod_auth_crypt kept only this record, a hash of the password
 * (`{SHA}` and base64, or crypt(3)'s DES), and no jabber:iq:auth record:
 * read as an account all the same (see parseDoc), whose plain-text logins
 * mod_auth_plain checks against it until the password is changed.
 */
export const NS_AUTH_CRYPT = 'jabber:iq:auth:crypt';
export const NS_REGISTER = 'jabber:iq:register';
export const NS_ROSTER = 'jabber:iq:roster';
export const NS_OFFLINE = 'jabber:x:offline';
export const NS_LAST = 'jabber:iq:last';
export const NS_VCARD = 'vcard-temp';

/** Default cap on one user's spool file, in bytes (1 MiB); see SpoolStoreOptions.maxFileBytes. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;

/**
 * How much a user's file may weigh parsed (its bytes plus NODE_WEIGHT for
 * each element, attribute and text piece, see weigh() in stream-parser.ts),
 * as a multiple of the byte cap. Ordinary content weighs 9 to 11 times its
 * size (measured on 1 MiB files: a roster with names and groups 9.4, one
 * of bare `<item jid='u1@ex.org' subscription='to'/>` 11.1, chat messages
 * stored offline 8.8, short ones with chat states and events 10.7,
 * subscription requests 10.1), so such a file at the byte cap is within
 * this one too. Densely packed XML weighs up to 38 times its size (`<a/>`
 * after `<a/>`), and is refused well before the byte cap: with the default
 * 1 MiB, a file of `<a/>` now stops at 430 KB, which takes 16 MB of heap
 * and about 130 ms to parse, where a 1 MiB one took 41 MB and 250 ms (a
 * full 1 MiB roster: 7 MB and 100 ms).
 */
export const MAX_FILE_DENSITY = 16;

/**
 * A write found no such user (no jabber:iq:auth record): never there, or
 * removed after the caller looked. Nothing was written.
 */
export class NoSuchUserError extends Error {
  constructor(readonly user: string) {
    super(`no such user: ${user}`);
  }
}

/** Options of set() and update(). */
export interface WriteOptions {
  /**
   * true (the default): only for a user that exists, checked under the
   * user's lock. A write decided on an earlier look must not make a file
   * for a user removed since, nor one for a name that never had an
   * account: it rejects with NoSuchUserError instead. Accounts are made by
   * create() alone. false: write whether or not the user exists (tools and
   * tests that lay out spool files).
   */
  existing?: boolean;
}

/**
 * The store closed with setSoon() changes (logout times, renewed 0k
 * chains) it could not write (a full disk): they are lost, as they never
 * reached the journal.
 */
export class DeferredChangesLostError extends Error {
  /** `unwritten`: why spool files could not all be written either (their changes are in the journal). */
  constructor(
    readonly users: number,
    unwritten?: unknown,
  ) {
    const lost = `the deferred changes (logout times, renewed 0k chains) of ${users} ${users === 1 ? 'user' : 'users'} could not be written before the stop and are lost`;
    const files = unwritten === undefined ? '' : `; spool files not all written either (${(unwritten as Error).message}): the journal keeps those changes and the next start replays them`;
    super(lost + files, { cause: unwritten });
  }
}

/** A change asked for once the store is closing (a stopping server). */
export class SpoolClosedError extends Error {
  constructor() {
    super('the spool is closed: the server is stopping');
  }
}

/**
 * A change refused because it would grow the user's file beyond the cap:
 * its size, or its weight parsed (MAX_FILE_DENSITY times the size cap).
 * Nothing was changed or written. Callers map it to what their client
 * should see (mod_offline: 503 Offline Storage Full; anything else an iq
 * error, see stanza-errors.ts asStanzaError()).
 */
export class UserFileFullError extends Error {
  constructor(
    readonly user: string,
    /** The file's size after the change, in bytes. */
    readonly bytes: number,
    /** The cap on its size, in bytes. */
    readonly max: number,
    /** Set when it was the weight that went over: the file's weight after the change (see MAX_FILE_DENSITY). */
    readonly weight?: number,
  ) {
    super(
      weight === undefined
        ? `the change would make ${user}'s spool file ${bytes} bytes, over the cap of ${max} bytes (<maxfilesize>)`
        : `the change would make ${user}'s spool file too dense: ${bytes} bytes that weigh ${weight} parsed, over the ${max * MAX_FILE_DENSITY} allowed by its cap of ${max} bytes (<maxfilesize>)`,
    );
  }
}

/**
 * A user's spool file that is there but does not parse as an <xdb>
 * document (torn by hand, or not Yak's): nothing of it can be read, and
 * nothing is written over it. `deluser --force` is the way out.
 */
export class SpoolFileError extends Error {
  constructor(
    /** The file, absolute. */
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A hold on the journal's generations (Xdb.holdJournal()). `signal` aborts
 * when the hold is cut, the hold then released already: the store is
 * closing, or the server stops past its bound (Xdb.cutJournalHolds()).
 */
export interface JournalHold {
  readonly signal: AbortSignal;
  /** Lets the generations go; the hold can still be cut (its signal) until release(). */
  freeJournal(): void;
  release(): void;
  /** Journal.acknowledgedLengths(): how much of each generation a copy may take. */
  acknowledged(): ReadonlyMap<string, number>;
  /** The spool files that cannot be written now (see unwritable()), as `host/file` under the spool. */
  stuck(): ReadonlySet<string>;
}

/** Records to replace (an element) or delete (null), by namespace. */
export type Changes = Record<string, Element | null>;

/**
 * Records are plain elements without the on-disk `xdbns` marker; the store
 * adds it on write and strips it on read. Every element handed out is a copy
 * the caller may change freely. `user` is an already prepared (nodeprep'd)
 * username and `host` a configured host name.
 */
export interface Xdb {
  /**
   * Resolves once the store can serve: whatever a crash left half done is
   * finished. Every other method waits for it by itself; call it to read
   * the spool behind the store's back (jabberctl check).
   */
  open(): Promise<unknown>;
  /** The record stored for `ns`, or undefined. */
  get(host: string, user: string, ns: string): Promise<Element | undefined>;
  /**
   * `pick` applied to the record stored for `ns` (undefined when none), in
   * turn like get() but without its copy: for reads that only look at a
   * record that may be large (a trust check, the contacts a presence goes
   * to, in a roster of thousands). `pick` runs at once and must neither
   * change the record nor keep any part of it. A stored record is never
   * changed in place, only replaced by a new one, so what is derived from
   * it may be cached by its identity (a WeakMap: see visibleRosterText).
   */
  peek<T>(host: string, user: string, ns: string, pick: (record: Element | undefined) => T): Promise<T>;
  /** All records of a user (ns -> record); empty map when the user has no file. */
  getAll(host: string, user: string): Promise<Map<string, Element>>;
  /** Only these records (the ones present), in one read: logins need two of perhaps many. */
  getSome(host: string, user: string, namespaces: readonly string[]): Promise<Map<string, Element>>;
  /**
   * Replaces (element) or deletes (null) the records of several namespaces in one durable write.
   * Given a function, it computes them from the current records, under the
   * user's lock (a read-modify-write of several records at once): `current`
   * gives a copy of the record now stored for a namespace.
   * Every change (set, update, create) rejects with UserFileFullError when
   * it would grow the file beyond the store's cap, in size or in weight
   * parsed (MAX_FILE_DENSITY); one that does not grow the file is always
   * accepted, and remove() always is.
   */
  set(host: string, user: string, records: Changes | ((current: (ns: string) => Element | undefined) => Changes), opts?: WriteOptions): Promise<void>;
  /**
   * Like set(), for data no client was promised (a logout time): visible to
   * reads at once, written durably within a couple of seconds (and by
   * flush()), many changes to one user coalesced into one write. Ignored for
   * a user that does not exist, and (with a warning in the log) when it
   * would grow the file beyond the cap: never rejects for that reason.
   * `unchanged`: records as the caller read them (a namespace mapped to
   * undefined: none); ignored too if any of them was changed since.
   */
  setSoon(host: string, user: string, records: Record<string, Element>, unchanged?: ReadonlyMap<string, Element | undefined>): Promise<void>;
  /**
   * Read-modify-write of one record under the user's lock: `fn` gets a copy
   * of the current record and returns the new one, null to delete it, or
   * undefined to leave the file untouched. Resolves to what is now stored.
   */
  update(
    host: string,
    user: string,
    ns: string,
    fn: (current: Element | undefined) => Element | null | undefined,
    opts?: WriteOptions,
  ): Promise<Element | undefined>;
  /**
   * Creates the user with these records iff no `jabber:iq:auth` record
   * exists yet (the existence flag). False when the name is taken. Two
   * concurrent calls for one name: exactly one gets true.
   */
  create(host: string, user: string, records: Record<string, Element>): Promise<boolean>;
  /** A user exists iff its jabber:iq:auth record exists. */
  exists(host: string, user: string): Promise<boolean>;
  /** Deletes everything stored for the user (the whole file). */
  remove(host: string, user: string): Promise<void>;
  /** Prepared usernames that have a spool file under this host. */
  list(host: string): Promise<string[]>;
  /**
   * The names of list() that are accounts (see exists()), sorted, for a
   * listing of every account: files not in memory are read without being
   * kept there. A file that does not parse counts as an account.
   */
  accounts(host: string): Promise<string[]>;
  /**
   * Spool files whose content so far only the journal holds, after open():
   * path -> that content (null: the file is to go). Every other method
   * already answers with it; this is for reading the files behind the
   * store's back (jabberctl check). Empty unless a file write failed, or
   * the store was opened read-only over a journal a crash left.
   */
  unreplayed(): Map<string, string | null>;
  /**
   * The spool files a write was tried for and failed (a folder or a
   * symbolic link in the way, a file the server may not write), with why:
   * their latest changes are only in the journal until they can be written.
   */
  unwritable(): { path: string; why: string }[];
  /** Resolves when every write accepted so far is on disk. */
  flush(): Promise<void>;
  /**
   * Keeps every journal generation from now on until the hold is
   * released (see Journal.holdGenerations()): what a copy of the spool's
   * files takes meanwhile, the generations taken last and at one moment,
   * is whole once they are replayed over it. Changes go on being
   * accepted and written; the journal is not emptied meanwhile, so a hold
   * is for a bounded task (a backup: spool-backup.ts). Refused
   * (SpoolClosedError) once the store is closing.
   */
  holdJournal(): JournalHold;
  /** Cuts every hold (a stopping server that will not wait for a backup any longer). */
  cutJournalHolds(): void;
  /**
   * The account removals listed now (see removal-intents.ts): noted by
   * noteRemoval() and not forgotten since, so under way, or cut short by a
   * crash or a stop and left for the start to finish (AccountRemovals.resume)
   * and for jabberctl check to name. A list that is not Yak's writing is
   * moved aside (and said so), the list then empty; a store open read-only
   * reads the file and changes nothing: such a list is left in place and
   * said so (`invalid`). Rejects when the file cannot be read at all.
   */
  listedRemovals(): Promise<{ listed: RemovalIntent[]; invalid?: string }>;
  /**
   * Whether a removal of the account is listed, after listedRemovals():
   * false once struck off since (by create(): the name taken by a new account).
   */
  removalListed(host: string, user: string): boolean;
  /** Notes, on disk once this resolves, that the account's removal has begun. */
  noteRemoval(host: string, user: string): Promise<void>;
  /** The removal is over (done, or failed and answered so): nothing to finish at the next start. */
  forgetRemoval(host: string, user: string): Promise<void>;
}
