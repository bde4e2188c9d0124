#!/usr/bin/env node
// jabberctl: account administration on the spool of a configuration.
// With the server running it talks to the server's control socket (so the
// server's locks and cache see every change); otherwise it opens the spool
// itself: to change it under its lock, or, for list, show and check, only
// to read it (read access is all they need). Exit status: 0 done, 1
// refused (no such user, bad spool file...), 2 usage or configuration
// errors.
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { YAK_VERSION } from '../version.js';
import { parseJid } from '../jid.js';
import { addressFormRefusal, AdminError, AdminOps, checkPassword, refusalBeforeSpool, MAX_PASSWORD, type BackupReport, type CheckReport, type DeluserResult, type UserInfo } from '../admin/admin-ops.js';
import { controlSocketPath, FORCE, runControl, type ControlReply, type ControlRequest } from '../admin/control-socket.js';
import { withSocketAddress } from '../admin/socket-address.js';
import { loadConfig } from '../config/load.js';
import { ConfigError, type YakConfig } from '../config/types.js';
import { SessionManager } from '../jsm/session-manager.js';
import { MODULES } from '../jsm/modules/index.js';
import { silentLogger } from '../log.js';
import { SpoolStore } from '../xdb/spool-store.js';
import { LOCK_FILE, lockSpool, lockSpoolShared, SpoolBusyError, SpoolLockDenied } from '../xdb/spool-lock.js';
import { refuseUnfinishedBackup } from '../xdb/unfinished-backup.js';
import { NotUtf8Error, readSecret, readSecretFile, TooLongError, UnreadableFileError, UnreadableInputError } from './read-secret.js';
import { errCode } from '../util/err-code.js';
import { spoolPathProblem } from './path-problems.js';
import { onStdoutFailure } from './stdout-failure.js';
import { secondsOptionMs } from './seconds-option.js';
import { printable, userReport } from './user-report.js';

onStdoutFailure('jabberctl', 1);

class UsageError extends Error {}

/** Commands that only read: they need read access to the spool, nothing more. */
const READS: ReadonlySet<ControlRequest['cmd']> = new Set(['list', 'show', 'check']);

/**
 * The server's socket exists but we may not use it (it is the server
 * user's, mode 0600); or, `unseen`, the spool folder may not be entered, so
 * whether a server listens there cannot be told at all.
 */
class SocketDenied extends Error {
  constructor(
    message: string,
    readonly unseen = false,
  ) {
    super(message);
  }
}

/**
 * How long a running server's answer is waited for (--timeout): as long as
 * the server itself keeps a silent control connection (CONTROL_IDLE_MS in
 * control-socket.ts), so nothing it would still answer is given up on.
 */
let answerWaitMs = 60_000;
/** A note on stderr after this long without an answer, so the wait is not taken for a hang. */
const WAITING_NOTE_MS = 5_000;

/** Sends the request to a running server; undefined when none is listening. */
function viaServer(config: YakConfig, req: ControlRequest): Promise<ControlReply | undefined> {
  const socket = controlSocketPath(config.spool);
  return withSocketAddress(socket, (address) => ask(address, req, answerWaitMs)).catch((err: unknown) => {
    // A long spool path is reached through its folder: no folder, no server.
    if (errCode(err) === 'ENOENT') return undefined;
    if (errCode(err) === 'EACCES') {
      // The socket is there and not ours to use, or the spool folder itself
      // may not be entered: not "no server", which would let a read go on
      // past a live server's journal (readLocally decides).
      const seen = isSocket(socket);
      if (seen === false) return undefined;
      if (seen === undefined) throw new SocketDenied(`cannot look into the spool folder for the server's control socket: permission denied`, true);
      throw new SocketDenied(`cannot use the server's control socket ${socket}: permission denied (run jabberctl as the user the server runs as)`);
    }
    throw err;
  });
}

/** Whether `file` is a socket; undefined when its folder may not be looked into. */
function isSocket(file: string): boolean | undefined {
  try {
    return statSync(file).isSocket();
  } catch (err) {
    return errCode(err) === 'EACCES' ? undefined : false;
  }
}

/** One request, and its reply, over the socket at `address`, waited for at most `waitMs`. */
function ask(address: string, req: ControlRequest, waitMs: number): Promise<ControlReply | undefined> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(address);
    // A server that took the connection and never answers (stopped with
    // SIGSTOP, or hung) would otherwise be waited for forever.
    const note =
      waitMs > WAITING_NOTE_MS
        ? setTimeout(() => process.stderr.write(`jabberctl: waiting for the server to answer on ${address} (giving up after ${waitMs / 1000} s)\n`), WAITING_NOTE_MS)
        : undefined;
    const limit = setTimeout(() => {
      reject(new NoAnswer(address, waitMs, req.cmd));
      sock.destroy();
    }, waitMs);
    let buf = '';
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlReply);
      } catch {
        reject(new GarbledAnswer(address));
      }
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      // Closed before the request was written (EPIPE) or with it unread (a
      // reset: a server that read its one line and then died closes
      // cleanly): a server out of file descriptors closes what it accepts.
      // Nothing was asked of it.
      else if (err.code === 'EPIPE' || err.code === 'ECONNRESET') reject(new ClosedUnasked(address));
      else reject(err);
    });
    // A server that dies (or stops) after taking the request closes without
    // a word: said, never taken for success (a settled promise ignores it).
    sock.once('close', () => {
      clearTimeout(note);
      clearTimeout(limit);
      reject(new LostAnswer());
    });
  });
}

/** The server took the request and did not answer in time. */
class NoAnswer extends Error {
  constructor(address: string, waitMs: number, cmd: ControlRequest['cmd']) {
    const change =
      cmd === 'backup'
        ? ': it may still be copying (the copy holds .yak-backup-unfinished until it is done); its log line `spool backed up` says when the copy is complete'
        : READS.has(cmd)
          ? ''
          : ': a change asked for may or may not have been made; look with show or list once it answers';
    super(`no answer from the server on ${address} within ${waitMs / 1000} s (is it stopped, or hung?)${change}`);
  }
}

/** The server closed the connection before the request reached it. */
class ClosedUnasked extends Error {
  constructor(address: string) {
    super(`the server closed the control connection on ${address} before taking the request, so nothing was carried out: it may be out of file descriptors (its log says); try again`);
  }
}

/** What answered at the socket is not Yak (another program bound the name). */
class GarbledAnswer extends Error {
  constructor(address: string) {
    super(`the control socket ${address} answered something that is not Yak's: is another program listening there? Nothing was asked of the spool; a change asked for may or may not have been made by whatever it is`);
  }
}

/** The server took the request and closed without answering. */
class LostAnswer extends Error {
  constructor() {
    super('the server closed the control connection without answering (it stopped or crashed): a change asked for may or may not have been made; look with show or list');
  }
}

/**
 * No server: run the same operations here, on the spool directly, holding
 * its lock (a server starting meanwhile, or another jabberctl, is refused,
 * and so are we while one of them holds it). The journal a crash left is
 * replayed first.
 */
async function locally(config: YakConfig, req: ControlRequest): Promise<ControlReply> {
  // Refused whatever the spool holds: nothing is made or locked for it.
  const refused = refusalBeforeSpool(config.hosts, req.cmd, req.args ?? []);
  if (refused !== undefined) return { ok: false, error: refused };
  const existed = existsSync(config.spool);
  // Nobody to change or remove in a spool that is not there (a typo in -s).
  if (!existed && (req.cmd === 'passwd' || req.cmd === 'deluser')) {
    return { ok: false, error: `no such user: ${parseJid(req.args?.[0] ?? '')!.bare}` };
  }
  if (!existed && req.cmd === 'backup') return { ok: false, error: `<spool>${config.spool}</spool> does not exist: nothing to back up` };
  // Before the lock file is made in it.
  await refuseUnfinishedBackup(config.spool);
  const lock = await lockSpool(config.spool).catch((err: unknown) => {
    if (['EACCES', 'EPERM', 'EROFS'].includes(errCode(err) ?? '')) {
      throw new Error(`<spool>${config.spool}</spool>: ${req.cmd}${req.cmd === 'check' ? ' --repair' : ''} needs write access to the spool (${(err as Error).message})`);
    }
    throw err;
  });
  // A relative <spool> (the bundled ./spool) run from another folder, or a
  // typo in -s, would otherwise get an account the server never sees.
  if (!existed) {
    process.stderr.write(`jabberctl: note: the spool folder ${path.resolve(config.spool)} did not exist and was made: a server using another spool will not see this change\n`);
  }
  try {
    const xdb = new SpoolStore(config.spool, {
      log: silentLogger,
      maxFileBytes: config.maxFileBytes,
      removalsMovedAside: (message) => process.stderr.write(`jabberctl: note: ${message}\n`),
    });
    const ops = new AdminOps(new SessionManager(config, xdb, silentLogger, MODULES));
    const reply = await runControl(ops, req);
    // A change the journal took is durable even when its file cannot be
    // written yet (a full disk): done, and said, not reported as failed.
    await xdb.close().catch((err: unknown) => {
      process.stderr.write(`jabberctl: spool files not all written (${(err as Error).message}); the journal keeps the changes and the next start replays them\n`);
    });
    return reply;
  } finally {
    await lock.release();
  }
}

/**
 * A read on the spool directly that writes nothing: no folder, lock file
 * or journal is made, and a crash's journal is read, not replayed, its
 * changes shown as the replay will leave them (and said so). A shared
 * lock, where the lock file can be opened, keeps a writer out meanwhile.
 * `socketDenied`: the server's socket is there but not ours to use. A
 * server may then be running as another user, and its spool is only read
 * here if the lock says no writer holds it: read past a live server, the
 * files lag behind its journal and a rewrite may be caught half done.
 */
async function readLocally(config: YakConfig, req: ControlRequest, socketDenied: boolean): Promise<ControlReply> {
  if (!existsSync(config.spool)) {
    process.stderr.write(`jabberctl: note: <spool>${config.spool}</spool> does not exist yet: nothing is stored there\n`);
  }
  const asServerUser = 'run jabberctl as the user the server runs as';
  const lock = await lockSpoolShared(config.spool).catch((err: unknown) => {
    if (err instanceof SpoolBusyError && socketDenied) {
      throw new Error(`a server is using this spool, and its control socket is not yours to use: ${asServerUser}`);
    }
    if (!(err instanceof SpoolLockDenied)) throw err;
    if (socketDenied) {
      throw new Error(`cannot tell whether a server is using this spool: its control socket and ${LOCK_FILE} are not yours to use; ${asServerUser}`);
    }
    // No server answers on the socket: no writer to keep out.
    return undefined;
  });
  try {
    const xdb = new SpoolStore(config.spool, { log: silentLogger, maxFileBytes: config.maxFileBytes, readOnly: true });
    const replay = await xdb.open();
    if (replay.files.length > 0) {
      process.stderr.write(
        `jabberctl: note: the spool journal holds changes to ${replay.files.length === 1 ? '1 file' : `${replay.files.length} files`} not yet written to them (after a crash, or a full disk); ` +
          'they are shown as they will be. The next start of the server, a jabberctl change or `jabberctl check --repair` writes them\n',
      );
    }
    const ops = new AdminOps(new SessionManager(config, xdb, silentLogger, MODULES));
    const reply = await runControl(ops, req);
    await xdb.close();
    return reply;
  } finally {
    await lock?.release();
  }
}

/** `repair`: a read that may write (check --repair replays the journal). */
async function run(config: YakConfig, req: ControlRequest, opts: { repair?: boolean } = {}): Promise<unknown> {
  const reads = READS.has(req.cmd) && !opts.repair;
  let reply: ControlReply | undefined;
  let socketDenied = false;
  try {
    reply = await viaServer(config, req);
  } catch (err) {
    // One who may only read the spool may not use the socket either: a
    // read goes on without it where no server holds the spool (readLocally).
    if (!(err instanceof SocketDenied)) throw err;
    // A change on a spool it cannot enter goes on to locally(), whose lock
    // says that it needs write access.
    if (!reads && !err.unseen) throw err;
    socketDenied = true;
  }
  reply ??= reads ? await readLocally(config, req, socketDenied) : await locally(config, req);
  if (!reply.ok) {
    process.stderr.write(`jabberctl: ${reply.error}\n`);
    process.exit(1);
  }
  return reply.result;
}

async function password(opts: { passwordFile?: string }): Promise<string> {
  let secret: string;
  try {
    // Read no further than the longest password: a device or a pipe may never end.
    secret = opts.passwordFile ? await readSecretFile(opts.passwordFile, MAX_PASSWORD) : await readSecret('Password: ', MAX_PASSWORD);
  } catch (err) {
    if (err instanceof NotUtf8Error || err instanceof TooLongError) throw new AdminError(err.message);
    // Standard input as an unreadable --password-file is.
    if (err instanceof UnreadableInputError || err instanceof UnreadableFileError) throw new UsageError(err.message);
    throw err;
  }
  // Checked here too: a password too big for the control socket would only show as a dropped connection.
  checkPassword(secret);
  return secret;
}

const program = new Command('jabberctl')
  .description('administer the accounts of a Yak (jabberd 1.4) spool')
  .option('-c, --config <file>', 'configuration file', 'jabber.xml')
  .option('-s, --spool <dir>', 'spool folder (replaces <jabberd:cmdline flag="s">, or <spool> without one)')
  .option('-h, --host <name>', 'host name, as given to jabberd -h (replaces <jabberd:cmdline flag="h">)')
  .option('--timeout <seconds>', 'how long to wait for a running server to answer', '60')
  .version(`jabberctl (Yak) ${YAK_VERSION}`, '-v, --version', 'print the version')
  .helpOption('--help', 'display help')
  // Thrown, not process.exit(): --help or --version written to a full disk
  // must still be said and fail (stdout-failure.ts). Caught below.
  .exitOverride()
  .hook('preAction', () => {
    // Checked before any command reads a password or touches the spool.
    const given = program.opts<{ timeout: string }>().timeout;
    const ms = secondsOptionMs(given);
    if (ms === undefined) throw new UsageError(`--timeout must be a number of seconds (such as 30 or 0.5), at least 0.001 and at most 2147483, not "${given}"`);
    answerWaitMs = ms;
  });

/**
 * An address that is no USER@HOST is said before the password is asked
 * for, not after it has been typed. (Whether its host is served is for the
 * running server to say, whose hosts count: it may have been started with
 * another -h.)
 */
function addressFirst(jid: string): void {
  const wrong = addressFormRefusal(jid);
  if (wrong !== undefined) throw new AdminError(wrong);
}

function configOf(): YakConfig {
  const o = program.opts<{ config: string; spool?: string; host?: string }>();
  let config: YakConfig;
  try {
    config = loadConfig(o.config, { spool: o.spool, host: o.host });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  // As jabberd says them (a -h the config has no place for, a typo in what Yak reads).
  for (const warning of config.warnings) process.stderr.write(`jabberctl: warning: ${warning}\n`);
  // Said here, before the socket or the lock would fail on it with a bare errno.
  const problem = spoolPathProblem(config.spool);
  if (problem !== undefined) throw new UsageError(problem);
  return config;
}

program
  .command('adduser <jid>')
  .description('create USER@HOST (password from a prompt without echo, or --password-file)')
  .option('--password-file <file>', 'read the password from the first line of FILE')
  .action(async (jid: string, o: { passwordFile?: string }) => {
    const config = configOf();
    addressFirst(jid);
    console.log(`added ${String(await run(config, { cmd: 'adduser', args: [jid, await password(o)] }))}`);
  });

program
  .command('passwd <jid>')
  .description("change USER@HOST's password (every auth module re-stores it)")
  .option('--password-file <file>', 'read the password from the first line of FILE')
  .action(async (jid: string, o: { passwordFile?: string }) => {
    const config = configOf();
    addressFirst(jid);
    console.log(`password changed for ${String(await run(config, { cmd: 'passwd', args: [jid, await password(o)] }))}`);
  });

program
  .command('deluser <jid>')
  .description('remove USER@HOST and everything stored for it; its sessions end')
  .option('--force', 'also remove a user whose spool file does not parse (deleted unread)')
  .action(async (jid: string, o: { force?: boolean }) => {
    const args = o.force ? [jid, FORCE] : [jid];
    const result = (await run(configOf(), { cmd: 'deluser', args })) as DeluserResult;
    if (result.unread !== undefined) {
      process.stderr.write(`jabberctl: warning: ${result.unread}; removed unread, so the contacts in its roster were not told\n`);
    }
    console.log(`removed ${printable(result.jid)}`);
  });

program
  .command('list <host>')
  .description('list the users of HOST, one per line')
  .action(async (host: string) => {
    const users = (await run(configOf(), { cmd: 'list', args: [host] })) as string[];
    if (users.length) process.stdout.write(users.map(printable).join('\n') + '\n');
  });

program
  .command('show <jid>')
  .description('registration fields, stored auth data, last logout (never the password)')
  .action(async (jid: string) => {
    process.stdout.write(userReport((await run(configOf(), { cmd: 'show', args: [jid] })) as UserInfo));
  });

program
  .command('backup <folder>')
  .description('copy the spool as it stands at one moment into FOLDER (missing or empty); a running server makes the copy')
  .action(async (folder: string) => {
    // Absolute: a running server resolves nothing against our folder.
    const r = (await run(configOf(), { cmd: 'backup', args: [path.resolve(folder)] })) as BackupReport;
    for (const name of r.skipped) process.stderr.write(`jabberctl: note: not copied: ${printable(name)}\n`);
    console.log(`backed up ${r.files} files (${r.bytes} bytes) to ${printable(r.dest)}`);
  });

program
  .command('check')
  .description('parse every spool file; report the ones that fail')
  .option('--repair', 'first write what a crash left in the journal (needs write access; the server does it at start)')
  .action(async (o: { repair?: boolean }) => {
    // A server started before a list was added to the report sends none of it: each is read as empty.
    type Lists = 'unserved' | 'unreachable' | 'hidden' | 'removals' | 'removalsAside';
    const sent = (await run(configOf(), { cmd: 'check', args: [] }, { repair: o.repair })) as Omit<CheckReport, Lists> & Partial<Pick<CheckReport, Lists>>;
    const report: CheckReport = { unserved: [], unreachable: [], hidden: [], removals: [], removalsAside: [], ...sent };
    for (const dir of report.unserved) {
      process.stderr.write(`jabberctl: note: ${dir}/ in the spool is no host of this configuration (checked all the same; give jabberctl the -h the server was started with)\n`);
    }
    for (const h of report.hidden) {
      process.stderr.write(
        `jabberctl: note: ${h.folder}/ is 1.4's folder for the host ${h.host}, hidden by Yak's ${h.by}/, which holds files too: nobody can log in to the accounts in it (move them into ${h.by}/, or empty that one; a running server sees the change at its next start)\n`,
      );
    }
    for (const jid of report.removals) {
      process.stderr.write(
        `jabberctl: note: the removal of ${printable(jid)} has begun and is not over: it is under way, or a crash or a stop cut it short and the server's next start finishes it; until then its contacts may still list it\n`,
      );
    }
    for (const file of report.removalsAside) {
      process.stderr.write(
        `jabberctl: note: ${printable(file)} is a list of account removals that was not Yak's writing, set aside: none of the removals it names was finished (remove those accounts again with deluser if need be, then delete the file)\n`,
      );
    }
    for (const u of report.unreachable) {
      const owner = u.owner ? `its name is for the user '${u.owner.user}', whose file is ${u.owner.file}` : 'its name is no username';
      process.stderr.write(`jabberctl: note: ${u.file} is no user's file (${owner}); nobody can log in to it\n`);
    }
    for (const b of report.bad) console.log(`BAD ${b.file}: ${b.reason}`);
    const unreachable = report.unreachable.length ? `, ${report.unreachable.length} no user's` : '';
    console.log(`${report.files} files checked, ${report.bad.length} bad${unreachable}`);
    if (report.bad.length) process.exitCode = 1;
  });

program.parseAsync().catch((err: unknown) => {
  // Commander has said what it had to (help, version, or the usage error).
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  process.stderr.write(`jabberctl: ${(err as Error).message}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
