// What jabberctl can do to the spool. The same code runs inside the server
// (behind the control socket, so it shares the server's locks and cache)
// and, when no server is running, inside jabberctl itself.
import { nameprep, parseJid } from '../jid.js';
import { newAccountRecords } from '../jsm/accounts.js';
import { ContactUnreadableError } from '../jsm/modules/roster-subscriptions.js';
import type { SessionManager } from '../jsm/session-manager.js';
import { NS_AUTH, NS_AUTH_0K, NS_AUTH_CRYPT, NS_LAST, NS_OFFLINE, NS_REGISTER, NS_ROSTER, NoSuchUserError, SpoolClosedError, SpoolFileError } from '../xdb/xdb.js';
import { cryptRecordKind } from '../auth/crypt-record.js';
import { withoutKeptPassword } from '../jsm/accounts.js';
import { NOT_REGISTRATION_FIELDS } from '../config/sessions.js';
import { hasNonXmlChar } from '../xml/chars.js';
import type { Element } from '../xml/element.js';
import { checkSpool, type CheckReport } from './spool-check.js';
import { BackupRefused } from './backup-target.js';
import { backupSpool, type BackupReport } from './spool-backup.js';
import { errCode } from '../util/err-code.js';
import { storedCount } from '../util/whole-number.js';

export type { CheckReport } from './spool-check.js';
export type { BackupReport } from './spool-backup.js';

/** A refusal jabberctl prints as is (exit 1). */
export class AdminError extends Error {}

/** The longest password jabberctl takes: far more than anyone types, far less than a request may hold. */
export const MAX_PASSWORD = 1023;

export function checkPassword(password: string): void {
  if (password === '') throw new AdminError('the password must not be empty');
  if (password.length > MAX_PASSWORD) throw new AdminError(`the password is longer than ${MAX_PASSWORD} characters`);
  // A NUL or another control character could never be stored in an XML file.
  if (hasNonXmlChar(password)) throw new AdminError('the password holds a control character (NUL, ...) that cannot be stored');
}

export interface UserInfo {
  jid: string;
  fields: Record<string, string>;
  plaintextStored: boolean;
  /** The hash a 1.4 mod_auth_crypt account still logs in with (see crypt-record.ts), if the file holds one. */
  cryptHash?: 'SHA-1' | 'DES' | 'unusable';
  /** The 0k chain's sequence; null when it holds none a login could use (`stored`: what it holds). */
  zerok: { sequence: number | null; stored?: string } | null;
  /**
   * Unix time and status of the last logout (or registration). `time` is
   * null when the record holds none a date can be made of (no `last`
   * attribute, `abc`, a time past the year 275760); `stored` is then the
   * attribute as it is, if there is one.
   */
  last: { time: number | null; stored?: string; status: string } | null;
  rosterItems: number;
  offlineMessages: number;
  online: string[];
}

/**
 * The jabber:iq:last record as show reports it. A hand-edited or damaged
 * one may hold no usable time: the rest of show must not be lost for it.
 */
function lastLogout(record: Element): NonNullable<UserInfo['last']> {
  const stored = record.attrs.last;
  // As the server reads it (mod_last): what it answers as no time is shown as none.
  const time = storedCount(stored);
  // new Date() takes at most 8.64e15 ms either side of 1970.
  if (time === undefined || Number.isNaN(new Date(time * 1000).getTime())) return { time: null, stored, status: record.text() };
  return { time, status: record.text() };
}

/** The 0k sequence as show reports it: as mod_auth_0k reads it, and what the file holds when that is none. */
function zerokSequence(stored: string | undefined): NonNullable<UserInfo['zerok']> {
  const sequence = storedCount(stored);
  return sequence === undefined ? { sequence: null, stored: stored ?? '' } : { sequence };
}

export interface DeluserResult {
  jid: string;
  /** Set when the user's file did not parse and was removed unread (--force): why it did not parse. */
  unread?: string;
}


/** The account a USER@HOST names, if `served` serves its host. */
function accountOf(jid: string, served: (host: string) => boolean): { host: string; user: string } {
  const parsed = parseJid(jid);
  if (!parsed || parsed.user === undefined || parsed.resource !== undefined) {
    throw new AdminError(`'${jid}' is not a USER@HOST address`);
  }
  if (!served(parsed.host)) throw new AdminError(`host '${parsed.host}' is not served by this configuration`);
  return { host: parsed.host, user: parsed.user };
}

/** Why `jid` is no USER@HOST address at all, or undefined (whatever hosts are served). */
export function addressFormRefusal(jid: string): string | undefined {
  try {
    accountOf(jid, () => true);
    return undefined;
  } catch (err) {
    if (err instanceof AdminError) return err.message;
    throw err;
  }
}

/** The prepared host name, if `served` serves it. */
function servedHost(host: string, served: (host: string) => boolean): string {
  const h = nameprep(host.trim());
  if (h === undefined || !served(h)) throw new AdminError(`host '${host}' is not served by this configuration`);
  return h;
}

/**
 * Why a request is refused whatever the spool holds (a malformed or
 * unserved address, a password jabberctl never takes), or undefined:
 * checked before jabberctl makes, locks or replays anything, so a refused
 * request leaves no spool folder behind.
 */
export function refusalBeforeSpool(hosts: readonly string[], cmd: string, args: readonly string[]): string | undefined {
  const served = (h: string): boolean => hosts.includes(h);
  const [a = '', b = ''] = args;
  try {
    if (cmd === 'adduser' || cmd === 'passwd') checkPassword(b);
    if (cmd === 'adduser' || cmd === 'passwd' || cmd === 'deluser' || cmd === 'show') accountOf(a, served);
    if (cmd === 'list') servedHost(a, served);
  } catch (err) {
    if (err instanceof AdminError) return err.message;
    throw err;
  }
  return undefined;
}

export class AdminOps {
  constructor(private readonly jsm: SessionManager) {}

  /**
   * Resolves once a crash's journal is replayed (or read, read-only): where
   * a user's file is, Yak's or 1.4's and in which host folder, depends on
   * it, and the store remembers the first answer. The server's control
   * socket takes requests while that replay still runs at startup.
   */
  async spoolReady(): Promise<void> {
    await this.jsm.xdb.open();
  }

  private account(jid: string): { host: string; user: string } {
    return accountOf(jid, (h) => this.jsm.isLocalHost(h));
  }

  private async existing(jid: string): Promise<{ host: string; user: string }> {
    const a = this.account(jid);
    if (!(await this.jsm.xdb.exists(a.host, a.user))) throw new AdminError(`no such user: ${a.user}@${a.host}`);
    return a;
  }

  async adduser(jid: string, password: string): Promise<string> {
    checkPassword(password);
    const { host, user } = this.account(jid);
    const records = newAccountRecords((ev) => this.jsm.passwordRecords(ev), host, user, password);
    if (!(await this.jsm.xdb.create(host, user, records))) throw new AdminError(`user ${user}@${host} exists already`);
    this.jsm.log.info({ user, host, by: 'jabberctl' }, 'registered');
    return `${user}@${host}`;
  }

  async passwd(jid: string, password: string): Promise<string> {
    checkPassword(password);
    const { host, user } = await this.existing(jid);
    try {
      // Checked again under the user's lock: a deluser in between must not bring the account back.
      await this.jsm.xdb.set(host, user, (current) => {
        const changes = this.jsm.passwordRecords({ host, user, password });
        // A password an older Yak kept with the registration fields goes too.
        const scrubbed = withoutKeptPassword(current(NS_REGISTER));
        return scrubbed ? { ...changes, [NS_REGISTER]: scrubbed } : changes;
      });
    } catch (err) {
      if (err instanceof NoSuchUserError) throw new AdminError(`no such user: ${user}@${host}`);
      throw err;
    }
    this.jsm.log.info({ user, host, by: 'jabberctl' }, 'password changed');
    return `${user}@${host}`;
  }

  /**
   * Removes the user. A file that does not parse is refused unless `force`:
   * then it is deleted unread (that file, and a 1.4-named one beside it:
   * nothing else), and the result says why, for the admin to know its
   * contacts were not told.
   */
  async deluser(jid: string, force = false): Promise<DeluserResult> {
    const { host, user } = this.account(jid);
    const bare = `${user}@${host}`;
    let exists: boolean;
    try {
      exists = await this.jsm.xdb.exists(host, user);
    } catch (err) {
      if (!(err instanceof SpoolFileError)) throw err;
      if (!force) throw new AdminError(`${err.message}; deluser --force removes it unread`);
      // No records to hand on: mod_roster has no contacts to tell; sessions end, others forget the name.
      await this.jsm.removeUser(host, user, { unread: true });
      this.jsm.log.warn({ user, host, by: 'jabberctl', file: err.file }, 'unregistered; its spool file did not parse and was removed unread');
      return { jid: bare, unread: err.message };
    }
    if (!exists) throw new AdminError(`no such user: ${bare}`);
    try {
      await this.jsm.removeUser(host, user);
    } catch (err) {
      // Its contacts are told before the account goes, so each must be readable; nothing was changed.
      if (!(err instanceof ContactUnreadableError)) throw err;
      const way = err.reason instanceof SpoolFileError ? `repair that file, or remove ${err.contact} with deluser --force` : `make the spool file of ${err.contact} readable`;
      const why = err.reason instanceof Error ? err.reason.message : String(err.reason);
      throw new AdminError(`${bare} was not removed (nothing was changed): ${err.message}: ${why}; ${way}, then remove ${bare} again`);
    }
    this.jsm.log.info({ user, host, by: 'jabberctl' }, 'unregistered');
    return { jid: bare };
  }

  async list(host: string): Promise<string[]> {
    const h = servedHost(host, (h) => this.jsm.isLocalHost(h));
    return this.jsm.xdb.accounts(h);
  }

  async show(jid: string): Promise<UserInfo> {
    const { host, user } = await this.existing(jid);
    const records = await this.jsm.xdb.getAll(host, user);
    const fields: Record<string, string> = {};
    for (const f of records.get(NS_REGISTER)?.elements ?? []) {
      // A password an older Yak kept here (a <register> listing <password/>) is not shown.
      if (f.name !== 'x' && !NOT_REGISTRATION_FIELDS.has(f.name)) fields[f.name] = f.text();
    }
    const zerok = records.get(NS_AUTH_0K);
    const crypt = records.get(NS_AUTH_CRYPT);
    const last = records.get(NS_LAST);
    const bare = `${user}@${host}`;
    return {
      jid: bare,
      fields,
      plaintextStored: (records.get(NS_AUTH)?.text() ?? '') !== '',
      cryptHash: crypt ? cryptRecordKind(crypt.text()) : undefined,
      zerok: zerok ? zerokSequence(zerok.getChildText('sequence')) : null,
      last: last ? lastLogout(last) : null,
      rosterItems: records.get(NS_ROSTER)?.getChildren('item').length ?? 0,
      offlineMessages: records.get(NS_OFFLINE)?.getChildren('message').length ?? 0,
      online: this.jsm.sessions.of(bare).map((s) => s.resource),
    };
  }

  /** A copy of the spool as it stands now, in `dest` (an absolute path; see spool-backup.ts). */
  async backup(dest: string): Promise<BackupReport> {
    let report: BackupReport;
    try {
      // Taken only once the folder is accepted; a store already closing refuses it (SpoolClosedError).
      report = await backupSpool(this.jsm.config.spool, dest, { hold: () => this.jsm.xdb.holdJournal() });
    } catch (err) {
      // Logged too: a jabberctl that stopped waiting learns nothing, and is told to look at the log.
      this.jsm.log.warn({ dest, reason: (err as Error).message, by: 'jabberctl' }, 'spool backup failed');
      if (err instanceof BackupRefused) throw new AdminError(err.message);
      if (err instanceof SpoolClosedError) throw new AdminError('the server is stopping: backup not made');
      // A full disk, a folder not ours: said to the admin, not a server failure.
      if (errCode(err) !== undefined) throw new AdminError(`backup to ${dest} failed: ${(err as Error).message}`);
      throw err;
    }
    const { files, bytes, skipped } = report;
    this.jsm.log.info({ dest: report.dest, files, bytes, skipped: skipped.length, by: 'jabberctl' }, 'spool backed up');
    return report;
  }

  /** Parses every file under every host folder, reporting the ones that fail (spool-check.ts). */
  check(): Promise<CheckReport> {
    return checkSpool(this.jsm);
  }
}
