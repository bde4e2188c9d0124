// Assembles a running Yak: spool store, session manager, c2s listeners
// (net/acceptor.ts) and the streams on what they admit.
// start() refuses to run on anything it cannot serve (unwritable spool,
// port in use, live pidfile) with a message that names the problem;
// stop() shuts down in the order clients notice least.
import { constants as fsc, promises as fs } from 'node:fs';
import { makeFolder } from './util/make-folder.js';
import { errCode } from './util/err-code.js';
import { noop } from './util/noop.js';
import { heapLimit } from './util/heap-share.js';
import type net from 'node:net';
import path from 'node:path';
import type { YakConfig } from './config/types.js';
import { applyReload, type ReloadResult } from './config/reload.js';
import { C2sStream, type C2sContext } from './c2s/c2s-stream.js';
import { HeldMemoryBudget } from './c2s/held-memory-budget.js';
import { hostFolderName } from './xdb/host-folders.js';
import { hostDirName } from './xdb/file-names.js';
import { AddressLogQuota } from './net/address-log-quota.js';
import { SessionManager } from './jsm/session-manager.js';
import { MODULES } from './jsm/modules/index.js';
import type { Logger } from './log.js';
import { Acceptor } from './net/acceptor.js';
import { Connection } from './net/connection.js';
import { KARMA_HEARTBEAT_MS } from './net/karma.js';
import { ListenError, listenSpecs } from './net/listeners.js';
import { randomHex } from './util/hash.js';
import { SpoolStore } from './xdb/spool-store.js';
import { DeferredChangesLostError } from './xdb/xdb.js';
import { cleanTempFiles } from './xdb/temp-files.js';
import { refuseUnfinishedBackup } from './xdb/unfinished-backup.js';
import { acquirePidfile, refuseLivePidfile, releasePidfile } from './util/pidfile.js';
import { AdminOps } from './admin/admin-ops.js';
import { ControlSocket } from './admin/control-socket.js';
import { lockSpool, type SpoolLock } from './xdb/spool-lock.js';
import { settlesWithin } from './util/settles-within.js';

export class StartupError extends Error {}

export interface ServerOptions {
  log: Logger;
  /** fsync spool writes (default true; never turned off outside tests of unrelated things). */
  fsync?: boolean;
}

export class YakServer {
  readonly xdb: SpoolStore;
  readonly jsm: SessionManager;
  /** The listeners, and the connection limits and TLS handshakes between them and a stream. */
  private readonly acceptor: Acceptor;
  /** Client streams, open or closed with something still in hand (see startStream). */
  private readonly streams = new Set<C2sStream>();
  /** Each stream's socket (a direct-TLS stream's is the TLS one; the acceptor holds the raw one under it). */
  private readonly sockets = new Set<net.Socket>();
  private readonly streamIds = new Set<string>();
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;
  private readonly context: C2sContext;
  private control: ControlSocket | undefined;
  /** Held from before the journal replay until the store is closed. */
  private spoolLock: SpoolLock | undefined;
  /** Connections under karma, for the shared heartbeat. */
  private readonly karmaConnections = new Set<Connection>();
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    readonly config: YakConfig,
    opts: ServerOptions,
  ) {
    this.log = opts.log;
    this.xdb = new SpoolStore(config.spool, { log: opts.log, fsync: opts.fsync ?? true, maxFileBytes: config.maxFileBytes });
    this.jsm = new SessionManager(config, this.xdb, opts.log, MODULES);
    this.context = {
      config,
      jsm: this.jsm,
      log: opts.log,
      // Read at each check: a reload may change it.
      preAuth: new HeldMemoryBudget(() => config.c2s.limits.preAuthMemory),
      sessionMemory: new HeldMemoryBudget(() => config.c2s.limits.sessionMemory),
      connLog: new AddressLogQuota(opts.log),
      newStreamId: () => this.newStreamId(),
      releaseStreamId: (id) => this.streamIds.delete(id),
      // Set by stop() before any stream closes (each closes after an await).
      stopping: () => this.stopping !== undefined,
    };
    this.acceptor = new Acceptor({
      config,
      log: opts.log,
      preAuth: this.context.preAuth,
      connLog: this.context.connLog,
      streamIds: this.streamIds,
      startStream: (socket, address) => this.startStream(socket, address),
    });
  }

  /** Random (CSPRNG) 8-hex-digit ids, unique among live streams. */
  private newStreamId(): string {
    let id: string;
    do id = randomHex(4);
    while (this.streamIds.has(id));
    this.streamIds.add(id);
    return id;
  }

  static async start(config: YakConfig, opts: ServerOptions): Promise<YakServer> {
    const server = new YakServer(config, opts);
    let pidfileTaken = false;
    // Removals a crash cut short may be under way: a start failing after them waits for them, and closes the spool.
    let resumed = false;
    try {
      // Refused for a live pidfile before anything is created on disk.
      if (config.pidfile) await refuseLivePidfile(config.pidfile);
      // Before anything is made in it (SpoolStore.open() says it again).
      await refuseUnfinishedBackup(config.spool).catch((err: Error) => server.spoolFailure(err));
      await server.prepareSpool();
      // Before any recovery: a spool another process is using must be left alone.
      server.spoolLock = await lockSpool(config.spool).catch((err: Error) => server.spoolFailure(err));
      if (!server.spoolLock.held) opts.log.warn({ spool: config.spool, why: server.spoolLock.why }, 'the spool is not locked against a second Yak');
      void server.spoolLock.lost.then(() => opts.log.error({ spool: config.spool }, 'the spool lock was lost (its flock helper ended); a second Yak could now start on this spool'));
      // Only with the spool's lock held: of two servers started together,
      // the one refused never writes the pidfile, nor removes the one that
      // names the server that runs (both read it before either wrote it).
      if (config.pidfile) {
        await acquirePidfile(config.pidfile);
        pidfileTaken = true;
      }
      server.control = await ControlSocket.open(config.spool, new AdminOps(server.jsm), opts.log).catch((err: Error) => server.spoolFailure(err));
      await server.recoverSpool();
      resumed = true;
      await server.jsm.removals.resume().catch((err: Error) => server.spoolFailure(err));
      for (const spec of listenSpecs(config)) await server.acceptor.listen(spec);
    } catch (err) {
      if (err instanceof ListenError) err = new StartupError(err.message);
      await server.acceptor.close();
      await server.control?.close();
      if (resumed) {
        // Bounded as a stop bounds it: one telling many contacts must not
        // keep the reason from the operator. The spool then closes under
        // it, and it stays listed for the next start.
        if (!(await settlesWithin(server.jsm.removals.idle(), STOP_BOUND_MS))) {
          opts.log.warn({ ms: STOP_BOUND_MS }, 'start failed: an account removal it resumed is still running; the spool is closed under it, and the next start finishes it');
        }
        await server.xdb.close().catch(noop);
      }
      if (pidfileTaken) await releasePidfile(config.pidfile!, opts.log);
      await server.spoolLock?.release();
      throw err;
    }
    server.startTimers();
    for (const ignored of config.ignored) server.log.info({ section: ignored }, 'not provided by Yak; ignored');
    // The cap on open connections, which a config without <connections total> takes from the descriptor limit.
    const maxConnections = server.acceptor.limits.cfg.total || 'no cap';
    const memory = server.memoryBounds();
    server.log.info({ hosts: config.hosts, modules: server.jsm.loaded, spool: config.spool, maxConnections, memory }, 'started');
    if (memory.bounded > memory.heap * HEAP_BOUNDED_SHARE) {
      server.log.warn(memory, 'the memory bounds add up to more than this heap can spare: lower <preauthmemory> or <sessionmemory>, or give node a larger heap (--max-old-space-size)');
    }
    return server;
  }

  /**
   * What the bounded uses of memory may take, against the heap's limit
   * (bytes): the parsed files kept (see heap-share.ts, which sizes the
   * defaults to the heap), connections not logged in and sessions (0: no
   * bound, counted as none).
   */
  private memoryBounds(): { heap: number; cache: number; preAuth: number; sessions: number; bounded: number } {
    const { weight, slimWeight } = this.xdb.cacheLimits;
    const { preAuthMemory, sessionMemory } = this.config.c2s.limits;
    const cache = weight + slimWeight;
    return { heap: heapLimit(), cache, preAuth: preAuthMemory, sessions: sessionMemory, bounded: cache + preAuthMemory + sessionMemory };
  }

  /**
   * SIGHUP: takes what can change safely from a freshly loaded config
   * (see config/reload.ts) and says what needs a restart.
   */
  reload(fresh: YakConfig): ReloadResult {
    const times = (): string => `${this.config.c2s.authtime}/${this.config.c2s.limits.idleSeconds}`;
    const timesBefore = times();
    const result = applyReload(this.config, fresh);
    // A new <authtime> or <idle> holds for the streams already open too.
    if (times() !== timesBefore) for (const stream of this.streams) stream.timeLimitsChanged();
    for (const stream of this.streams) stream.sizeLimitsChanged();
    if (this.acceptor.reloadTlsKeys(fresh)) result.applied.push('TLS keys');
    this.acceptor.reloadLimits();
    this.jsm.throttle.cfg = this.config.jsm.loginThrottle;
    // A lower <preauthmemory> or <sessionmemory> applies at once, not at the next read.
    this.context.preAuth.enforce();
    this.context.sessionMemory.enforce();
    this.log.info(result, 'configuration reloaded');
    return result;
  }

  /** One karma heartbeat for every connection, and a minute's housekeeping. */
  private startTimers(): void {
    const beat = setInterval(() => {
      for (const c of this.karmaConnections) c.heartbeat();
    }, KARMA_HEARTBEAT_MS);
    const prune = setInterval(() => {
      this.acceptor.limits.prune();
      this.jsm.throttle.prune();
    }, 60_000);
    const rest = setInterval(() => this.restQuiet(), QUIET_SWEEP_MS);
    for (const t of [beat, prune, rest]) t.unref();
    this.timers.push(beat, prune, rest);
  }

  /**
   * Lets go what quiet streams can do without, and keeps the files of
   * users nobody asked for as text (see QUIET_SWEEP_MS; tests call it to
   * skip the wait). Returns how many streams rest after it.
   */
  restQuiet(): number {
    this.xdb.cool();
    let resting = 0;
    for (const s of this.streams) if (s.rest()) resting++;
    return resting;
  }

  /**
   * Connections counted against <limits><connections> (and <rate>) as open,
   * under `address`'s limit key (an IPv6 client's /64) or in total: plain
   * ones and direct-TLS ones, handshake done or not. Read-only; for tests
   * and checks.
   */
  openConnections(address?: string): number {
    return this.acceptor.limits.openCount(address);
  }

  /** Per open client stream, the stanzas it received and has not handled yet (monitoring, tests). */
  get stanzasInHand(): number[] {
    return [...this.streams].map((s) => s.inHand);
  }

  /** The plain ports actually bound (port 0 in the config means any free port). */
  get ports(): number[] {
    return this.acceptor.ports;
  }

  /** The direct-TLS ports actually bound. */
  get tlsPorts(): number[] {
    return this.acceptor.tlsPorts;
  }

  private async prepareSpool(): Promise<void> {
    for (const host of this.config.hosts) {
      // Before the journal is read: only a folder to make is chosen here
      // (the store chooses again with the journal counted, see UserFiles).
      let dir = path.join(this.config.spool, hostDirName(host));
      try {
        dir = path.join(this.config.spool, hostFolderName(this.config.spool, host, new Map()));
        await makeFolder(dir, 0o700);
        await fs.access(dir, fsc.W_OK | fsc.R_OK | fsc.X_OK);
      } catch (err) {
        throw new StartupError(`<spool>${this.config.spool}</spool>: cannot use ${dir}: ${(err as Error).message}`);
      }
    }
  }

  /** A startup step on the spool failed: the message names the <spool>. */
  private spoolFailure(err: Error): never {
    // A crash's journal is replayed into its files first: on a full disk it cannot be, and says only ENOSPC.
    const full = errCode(err) === 'ENOSPC' || errCode(err) === 'EDQUOT' ? ' (its file system is full: free some space, then start again; the journal is kept for that start)' : '';
    throw new StartupError(`<spool>${this.config.spool}</spool>: ${err.message}${full}`);
  }

  /** Finishes what a crash interrupted: replays the journal, removes temp files of older versions. */
  private async recoverSpool(): Promise<void> {
    const replay = await this.xdb.open().catch((err: Error) => this.spoolFailure(err));
    if (replay.generations > 0) {
      this.log.warn({ generations: replay.generations, files: replay.files.length }, 'replayed the spool journal left by a crash, or by a stop that could not write every file');
    }
    const leftovers = await cleanTempFiles(this.config.spool);
    for (const file of leftovers) this.log.warn({ file }, 'removed temp file left by a crash');
  }

  /** A c2s stream on an admitted socket (the raw one, or the TLS one over it). */
  private startStream(socket: net.Socket, address: string): void {
    const conn = new Connection(socket, {
      address,
      karma: this.config.c2s.karma,
      outputBytes: this.config.c2s.limits.outputBytes,
      onOverflow: (dropped) => stream.cutOff(dropped),
    });
    const stream = new C2sStream(conn, this.context);
    this.streams.add(stream);
    this.sockets.add(socket);
    if (this.config.c2s.karma) this.karmaConnections.add(conn);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.karmaConnections.delete(conn);
      // Kept until what it has in hand is done, its session's end included
      // (a connection reset with a request in hand): a stop waits for it
      // as for any stream, or drops what still waits past its bound. Let
      // go at once, it went on after the spool closed.
      void stream.settled().then(() => this.streams.delete(stream));
    });
  }

  /**
   * Graceful shutdown: stop accepting, close every stream with
   * </stream:stream>, let stanzas in hand finish, flush the spool.
   * `boundMs`: how long the stanzas in hand may take (tests shorten it).
   */
  stop(boundMs = STOP_BOUND_MS): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      const listenersClosed = this.acceptor.close();
      const streams = [...this.streams];
      // jabberctl's requests running (a deluser telling contacts, a backup)
      // are waited for as the stanzas in hand are; no new one is taken.
      // So are account removals (one a crash cut short, finished at start).
      const finished = Promise.all([...streams.map((s) => s.shutdown()), this.control?.drain(), this.jsm.removals.idle()]);
      // Bounded: a stanza stuck in a handler must not hold the shutdown
      // forever. Past the bound, what is still waiting is dropped, and what
      // is running (a write on its way to disk) gets as long again to end,
      // so that the spool closes after it, not under it.
      if (!(await settlesWithin(finished, boundMs))) {
        const busy = streams.filter((s) => s.busy).length;
        const still = { streams: busy, requests: this.control?.running ?? 0, removals: this.jsm.removals.running, ms: boundMs };
        // Named for what holds it: with no stanza in hand, nothing is dropped.
        if (busy > 0) this.log.warn(still, 'stop: stanzas still in hand past the bound; those not started are dropped unanswered');
        else this.log.warn(still, 'stop: jabberctl requests or account removals still running past the bound; they get as long again');
        for (const s of streams) s.dropWaiting();
        // A backup still copying is given up (the journal cannot be emptied
        // under it), and says so to its jabberctl within the second bound.
        this.xdb.cutJournalHolds();
        if (!(await settlesWithin(finished, boundMs))) this.log.warn({ ms: boundMs }, 'stop: a handler is still running (or waits on a client that does not read); its stream is closed as it is');
      }
      for (const s of streams) s.close();
      await this.control?.close();
      // A spool that cannot be written now (disk full) keeps its changes in
      // the journal for the next start; the rest of the shutdown goes on.
      const flushed = await this.xdb.close().then(
        () => undefined,
        (err: unknown) => err,
      );
      // Peers that did not answer our </stream:stream> are not waited for.
      this.acceptor.destroyAll();
      for (const s of this.sockets) s.destroy();
      this.context.connLog.endWindow();
      await listenersClosed;
      await this.spoolLock?.release();
      if (this.config.pidfile) await releasePidfile(this.config.pidfile, this.log);
      if (flushed instanceof DeferredChangesLostError) throw flushed;
      if (flushed !== undefined) {
        throw new Error(`spool files not all written (${(flushed as Error).message}); the journal keeps the changes and the next start replays them`, { cause: flushed });
      }
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}

/** The share of the heap the bounded uses may take together before the start warns: the rest is for connections, parsing and code. */
const HEAP_BOUNDED_SHARE = 3 / 4;

/** How long a stop waits for the stanzas in hand (and again for those running past it). */
const STOP_BOUND_MS = 5000;
/**
 * How often what is quiet gives up memory: a stream its client sent
 * nothing for one to two of these lets its parser go, and a user file
 * nobody used for as long is kept as text. Most of a server's sessions
 * are quiet most of the time; one that speaks again pays a few
 * microseconds to make its parser anew and some tens to parse its file,
 * once per sweep at most.
 */
const QUIET_SWEEP_MS = 5000;
