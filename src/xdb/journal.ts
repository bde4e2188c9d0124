// The write-ahead journal that makes in-place spool writes crash-safe.
//
// A change is acknowledged once its whole new file (or its deletion) is in
// the journal and fdatasync'd; only then is the spool file rewritten in
// place, without an fsync of its own. Changes arriving while an append is
// on its way to disk go out together in the next one (group commit), so a
// burst of changes costs one fdatasync, not two fsyncs and a new inode each
// (creating an inode alone cost up to ~1 ms of kernel CPU on the benchmark VM).
//
// Writes that only reach the page cache (the journal append, the in-place
// rewrite) are synchronous system calls on the event loop; only fdatasync,
// which waits for the device, goes to libuv's thread pool. On the benchmark
// VM each trip to the pool and back cost about 50 us of CPU in context
// switches, more than the write itself: a store update took 58-103 us this
// way against 155-202 us with open/write/close each on the pool.
//
// The journal is a series of generation files `<spool>/.yak-journal.N`.
// A checkpoint retires the current generation, waits for its file writes,
// makes those files and their folders durable (one syncfs per file system
// where the machine can, see file-set-sync.ts; else an fdatasync per file
// and folder), and only then deletes it, one generation at a time, oldest
// first. After a crash, open() replays every generation left (the latest
// state of each file wins; journal-replay.ts), so a file torn by the crash
// is rewritten before anything reads it. Each change is one entry
// (journal-entry.ts), whose checksum tells a torn tail from an acknowledged
// change.
import { open, type FileHandle } from 'node:fs/promises';
import { makeFolder, makeFolderSync } from '../util/make-folder.js';
import { basename, join } from 'node:path';
import type { Logger } from '../log.js';
import { syncDir } from './dir-sync.js';
import { encodeEntry } from './journal-entry.js';
import { replayJournal } from './journal-replay.js';
import { replaceGeneration } from './generation-file.js';
import { UnwrittenFiles, UnwrittenFilesError } from './unwritten-files.js';
import { fdatasyncOnPool, unlinkIfThere, writeAllSync, writeInPlace } from './file-writes.js';
import { FileSetSync, type CheckpointSync } from './file-set-sync.js';
import type { SyncFsOptions } from './syncfs.js';
import { errCode } from '../util/err-code.js';
import { noop } from '../util/noop.js';
import { RecentMemo } from '../util/recent-memo.js';
import { RepeatedFailure } from '../util/repeated-failure.js';

/**
 * Under sustained load (changes arrived while the last append was on its
 * way to disk) the next append waits this long for more to join it. An
 * fdatasync cost ~150 us of kernel CPU on the benchmark VM and batches
 * stayed at one or two changes without the wait; with it a 0k login, one
 * durable change, cost 724 instead of 893 us (interleaved runs, medians of
 * 4). A change reaching an idle journal goes out at once.
 */
const GATHER_MS = 3;
/** Files whose size is remembered (the ones written least lately are dropped first). */
const SIZES_REMEMBERED = 20_000;

export interface JournalOptions {
  log: Logger;
  /** false: no journal, plain in-place writes (tests of unrelated things only). */
  durable: boolean;
  /** A generation this large is retired and checkpointed. */
  maxBytes?: number;
  /** A generation with entries is checkpointed after this long. */
  checkpointMs?: number;
  /** How checkpoints find syncfs (tests); false: always one fdatasync per file. */
  syncFs?: SyncFsOptions | false;
  /**
   * Never write (jabberctl's list, show, check): open() reads what a crash
   * left without replaying it, and pending() answers with that content, so
   * readers see the spool as the replay will leave it. write() rejects.
   */
  readOnly?: boolean;
}

/** Where a spool file lives: absolute path, folder, and path under the spool. */
export interface SpoolTarget {
  path: string;
  dir: string;
  rel: string;
}

interface Generation {
  file: string;
  opened: Promise<FileHandle>;
  bytes: number;
  /** Entries assigned to it whose append or file write is not finished. */
  busy: number;
  whenIdle: (() => void) | undefined;
  files: Set<string>;
  dirs: Set<string>;
  /** Its file is being replaced by the carried generation (carryInto): whole, and not its `bytes` long. */
  carried?: boolean;
}

interface Waiting {
  target: SpoolTarget;
  entry: Buffer;
  resolve: (gen: Generation) => void;
  reject: (err: unknown) => void;
}

export interface ReplayReport {
  generations: number;
  /** Files the replay wrote or deleted; read-only: the files it would (see Journal.pending()). */
  files: string[];
  /** Bytes ignored at the end of a generation: an append the crash cut short. */
  tornBytes: number;
}

export class Journal {
  private readonly log: Logger;
  private readonly durable: boolean;
  private readonly maxBytes: number;
  private readonly checkpointMs: number;
  private nextGeneration = 1;
  private current: Generation | undefined;
  /** Retired generations not yet deleted, oldest first. */
  private readonly retired: Generation[] = [];
  private waiting: Waiting[] = [];
  private appending = false;
  private checkpoints: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** After close(): nothing is appended or checkpointed any more. */
  private isClosed = false;
  /** Files whose content only the journal holds, and the generation carrying those that cannot be written. */
  private readonly unwritten = new UnwrittenFiles();
  private appends = 0;
  /** Appends failing since the last that did not (see RepeatedFailure). */
  private readonly appendFailures = new RepeatedFailure();
  /** Sizes of files this journal wrote last (bounded): saves an fstat per rewrite. */
  private readonly sizes = new RecentMemo<string, number>(SIZES_REMEMBERED);
  private readonly readOnly: boolean;
  /** Makes a checkpoint's or a replay's files durable. */
  private readonly fileSync: FileSetSync;
  /** Holds taken by holdGenerations() and not released. */
  private holds = 0;
  /** Checkpoints waiting for the last hold to go. */
  private unheld: (() => void)[] = [];

  constructor(
    private readonly root: string,
    opts: JournalOptions,
  ) {
    this.log = opts.log;
    this.durable = opts.durable;
    this.maxBytes = opts.maxBytes ?? 16 << 20;
    this.checkpointMs = opts.checkpointMs ?? 10_000;
    this.fileSync = new FileSetSync(root, opts.syncFs ?? {}, this.log);
    this.readOnly = opts.readOnly ?? false;
  }

  /** True from the start of close() on. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** How the last checkpoint or replay made its files durable (undefined before the first). */
  get checkpointSync(): CheckpointSync | undefined {
    return this.fileSync.last;
  }

  /** fdatasyncs of the journal so far: fewer than writes when group commit works. */
  get commits(): number {
    return this.appends;
  }

  /**
   * Replays the generations a crash left: the latest content of each file
   * is written and synced, deletions are done, then the generations are
   * removed. Call once, before the first write or read.
   */
  async open(): Promise<ReplayReport> {
    const { report, unwritten, carried, nextGeneration } = await replayJournal(this.root, { log: this.log, durable: this.durable, readOnly: this.readOnly, fileSync: this.fileSync });
    this.unwritten.load(unwritten, carried);
    if (nextGeneration !== undefined) this.nextGeneration = nextGeneration;
    // Files the replay could not write are tried again, changes or not.
    if (carried) this.checkpointSoon(this.checkpointMs);
    return report;
  }

  /**
   * Makes `data` the content of the spool file (null: deletes it). Resolves
   * once the change is durable and the file is written; rejects, with
   * nothing changed, if the journal cannot take it.
   */
  async write(target: SpoolTarget, data: string | null): Promise<void> {
    if (this.readOnly) throw new Error('the spool is open read-only');
    if (!this.durable) {
      this.apply(target, data);
      return;
    }
    const gen = await this.append(target, data);
    try {
      this.apply(target, data);
      this.unwritten.written(target, data);
    } catch (err) {
      // Durable in the journal already: reads take it from here, and
      // the checkpoint retries the file before dropping the journal.
      this.unwritten.writeFailed(target, data, (err as Error).message);
      this.log.error({ err, file: target.path }, 'spool file write failed; the journal keeps the change');
    } finally {
      this.release(gen, 1);
    }
  }

  /**
   * The content a failed in-place write left only in the journal: a string,
   * null for a deleted file, undefined when the file on disk is current.
   */
  pending(path: string): string | null | undefined {
    return this.unwritten.content(path);
  }

  /** Every file pending() answers for: path -> content (null: deleted). */
  pendingFiles(): Map<string, string | null> {
    return this.unwritten.contents();
  }

  /** Files a write was tried for and failed, with why: their changes are only in the journal. */
  failedFiles(): { path: string; why: string }[] {
    return this.unwritten.failed();
  }

  /**
   * Retires the current generation and deletes every retired one whose
   * files are durable. Resolves when that is done (or rejects, keeping the
   * journal, if a file cannot be written or synced).
   */
  checkpoint(): Promise<void> {
    // Read-only: nothing was appended, and the replay's files are not ours to write.
    if (this.readOnly) return Promise.resolve();
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.current) {
      this.retired.push(this.current);
      this.current = undefined;
    }
    const run = this.checkpoints.then(() => this.dropRetired());
    this.checkpoints = run.catch(noop);
    return run;
  }

  /**
   * Keeps every generation, from now until the returned release() is
   * called, from being deleted: checkpoints wait (one already deleting
   * goes on: its files are written whole), appends go on. A copy of the
   * spool's files taken meanwhile may catch a file half rewritten, but
   * every rewrite from now on has its entry in a kept generation, so the
   * copy is whole once the generations, taken last and at one moment, are
   * replayed over it (a backup of a serving spool: spool-backup.ts).
   */
  holdGenerations(): () => void {
    this.holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.holds === 0) for (const go of this.unheld.splice(0)) go();
    };
  }

  /**
   * Each generation's name, with how many of its bytes hold acknowledged
   * entries: a batch written but not yet synced (or refused, and about to
   * be cut off) follows them. A generation not named (the carried one, or
   * one being replaced by it) is whole.
   */
  acknowledgedLengths(): Map<string, number> {
    const gens = this.current ? [...this.retired, this.current] : this.retired;
    return new Map(gens.filter((g) => !g.carried).map((g) => [basename(g.file), g.bytes]));
  }

  /** Resolves once no hold is left (see holdGenerations()). */
  private async whileHeld(): Promise<void> {
    while (this.holds > 0) await new Promise<void>((resolve) => this.unheld.push(resolve));
  }

  /**
   * Lets go of the journal files, deleted or not: call after a checkpoint
   * (one that failed leaves its generations for the next start to replay).
   */
  async close(): Promise<void> {
    this.isClosed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const gens = this.current ? [...this.retired, this.current] : [...this.retired];
    this.retired.length = 0;
    this.current = undefined;
    for (const gen of gens) await (await gen.opened.catch(() => undefined))?.close();
  }

  private checkpointSoon(ms: number): void {
    if (this.isClosed) return;
    if (this.timer && ms > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.checkpoint().catch((err: unknown) => {
        // The carried generation keeps what cannot be written (logged as such); it is tried again.
        if (err instanceof UnwrittenFilesError) this.log.error({ files: err.files }, 'spool files still cannot be written; the journal keeps their changes and tries again');
        else this.log.error({ err }, 'journal checkpoint failed; will retry');
        this.checkpointSoon(this.checkpointMs);
      });
    }, ms).unref();
  }

  /** Writes the spool file as `data` says (null: deletes it); throws if it cannot. */
  private apply(target: SpoolTarget, data: string | null): void {
    const { path } = target;
    const size = this.sizes.get(path);
    // Unknown until this write has succeeded (a failed one may leave anything).
    this.sizes.delete(path);
    if (data === null) return unlinkIfThere(path);
    let written: number;
    try {
      written = writeInPlace(path, data, size);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      // The host folder went away under us: put it back (the checkpoint syncs it).
      makeFolderSync(target.dir, 0o700);
      written = writeInPlace(path, data);
    }
    this.sizes.set(path, written);
  }

  private append(target: SpoolTarget, data: string | null): Promise<Generation> {
    // A closed journal's spool may belong to another server by now.
    if (this.isClosed) return Promise.reject(new Error('the spool journal is closed'));
    const entry = encodeEntry(target.rel, data);
    return new Promise((resolve, reject) => {
      this.waiting.push({ target, entry, resolve, reject });
      if (!this.appending) void this.appendLoop();
    });
  }

  /** One append and one fdatasync for everything that waited meanwhile (after the first, GATHER_MS more). */
  private async appendLoop(): Promise<void> {
    this.appending = true;
    let idle = true;
    while (this.waiting.length > 0) {
      if (!idle) await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
      idle = false;
      const batch = this.waiting;
      this.waiting = [];
      // Counted before any await, so a checkpoint waits for this batch.
      const gen = (this.current ??= this.startGeneration());
      gen.busy += batch.length;
      for (const w of batch) {
        gen.files.add(w.target.path);
        gen.dirs.add(w.target.dir);
      }
      try {
        const fh = await gen.opened;
        const buf = batch.length === 1 ? batch[0]!.entry : Buffer.concat(batch.map((w) => w.entry));
        writeAllSync(fh.fd, buf, null);
        // On the descriptor, not the FileHandle: its promise machinery cost
        // ~6 us more per call (31 against 24 us of CPU, tmpfs, one core).
        // The handle stays open: it is closed only once the generation is idle.
        await fdatasyncOnPool(fh.fd);
        this.appends++;
        if (this.appendFailures.times > 0) this.log.info({ failures: this.appendFailures.worked() }, 'journal appends work again');
        gen.bytes += buf.length;
        if (gen.bytes >= this.maxBytes) this.checkpointSoon(0);
        else this.checkpointSoon(this.checkpointMs);
        for (const w of batch) w.resolve(gen);
      } catch (err) {
        // Each refused change is told to its client (500; the request's own
        // failure is logged where it is handled); the journal says it when
        // appends start failing, then once a minute (a full disk: the
        // deferred writes retry every 2 s, and every user's change fails).
        const say = this.appendFailures.failed();
        if (say === 'first') this.log.error({ err, file: gen.file }, 'journal append failed; said again once a minute while appends fail');
        else if (say === 'again') this.log.error({ err: errCode(err) ?? String(err), file: gen.file, failures: this.appendFailures.times }, 'journal appends still failing');
        await this.dropRefused(gen);
        // Nothing is appended after a failed append: a replay stops at its
        // torn tail, and what follows belongs to a later generation.
        let discard = false;
        if (this.current === gen) {
          this.current = undefined;
          // One that holds nothing acknowledged goes at once: kept, every
          // refused batch on a full disk would leave one more file behind.
          if (gen.bytes === 0) discard = true;
          else this.retired.push(gen);
        }
        this.release(gen, batch.length);
        for (const w of batch) w.reject(err);
        if (discard) await this.discard(gen);
      }
    }
    this.appending = false;
  }

  /**
   * Cuts a generation back to what it held before a batch that failed: the
   * batch is refused, so none of it may come back at a replay. A write cut
   * short by a full disk leaves the batch's first entries whole, before the
   * torn one, and a replay would apply those. (Cutting a file shorter needs
   * no room. Should it fail all the same, the log says so.)
   */
  private async dropRefused(gen: Generation): Promise<void> {
    const fh = await gen.opened.catch(() => undefined);
    if (!fh) return;
    try {
      await fh.truncate(gen.bytes);
      await fdatasyncOnPool(fh.fd);
    } catch (err) {
      this.log.error({ err, file: gen.file }, 'journal could not drop a refused batch: a replay may bring it back');
    }
  }

  private startGeneration(): Generation {
    const n = this.nextGeneration++;
    const file = join(this.root, `.yak-journal.${n}`);
    const gen: Generation = {
      file,
      opened: (async () => {
        await makeFolder(this.root, 0o700);
        // Exclusive: whatever already has this name is not ours to append to.
        const fh = await open(file, 'wx', 0o600);
        // The new name must survive a crash with the entries in it.
        await syncDir(this.root);
        return fh;
      })(),
      bytes: 0,
      busy: 0,
      whenIdle: undefined,
      files: new Set(),
      dirs: new Set(),
    };
    gen.opened.catch(noop);
    return gen;
  }

  /** Closes and deletes a generation that holds no acknowledged entry (see appendLoop). */
  private async discard(gen: Generation): Promise<void> {
    const fh = await gen.opened.catch(() => undefined);
    if (!fh) return;
    await fh.close().catch(noop);
    try {
      unlinkIfThere(gen.file);
    } catch {
      // Left behind, it is only a torn generation, which a replay reads as empty.
    }
  }

  private release(gen: Generation, count: number): void {
    gen.busy -= count;
    if (gen.busy === 0) gen.whenIdle?.();
  }

  private async dropRetired(): Promise<void> {
    while (this.retired.length > 0) {
      const gen = this.retired[0]!;
      if (gen.busy > 0) await new Promise<void>((resolve) => (gen.whenIdle = resolve));
      // Looked at for each generation: one retired while an earlier one was settled is held too.
      await this.whileHeld();
      await this.settle(gen);
      this.retired.shift();
    }
    // Nothing retired since: the files that could not be written are tried again.
    if (this.unwritten.carriedFile !== undefined) {
      await this.whileHeld();
      await this.settle(undefined);
    }
    const failed = this.failedFiles();
    if (failed.length > 0) throw new UnwrittenFilesError(failed);
  }

  /**
   * Makes `gen`'s files durable, with those written again from the
   * journal, and deletes it; while some file still cannot be written, `gen`
   * is cut down to what those need instead (carryInto()), so one such file
   * never keeps every later generation, and the journal, from going.
   */
  private async settle(gen: Generation | undefined): Promise<void> {
    const retried = this.unwritten.retry(
      (u) => this.apply(u.target, u.data),
      (file) => this.log.info({ file }, 'spool file written from the journal'),
    );
    const files = new Set([...(gen?.files ?? []), ...retried.map((t) => t.path)]);
    const dirs = new Set([...(gen?.dirs ?? []), ...retried.map((t) => t.dir)]);
    if (files.size > 0) await this.fileSync.sync({ files, dirs });
    // A generation that never opened is not ours to delete (whatever has its name).
    const fh = gen && (await gen.opened.catch(() => undefined));
    if (fh) await fh.close();
    if (this.unwritten.any) {
      if (fh) {
        gen!.carried = true;
        await this.carryInto(gen!.file);
      }
      return;
    }
    // Every file is written and durable. Oldest first: the carried
    // generation, then this one.
    const carried = this.unwritten.dropCarried();
    if (carried !== undefined) {
      await syncDir(this.root);
      unlinkIfThere(carried);
      await syncDir(this.root);
    }
    if (fh) {
      // Host folders made since: durable before their journal goes. This
      // fsync also flushes the device's cache once more: syncfs on ext4
      // without a journal flushes it before its last metadata writes end.
      await syncDir(this.root);
      unlinkIfThere(gen!.file);
      // Gone for good before a newer generation goes: replaying an old one
      // after a newer one was dropped would bring old data back.
      await syncDir(this.root);
    }
  }

  /**
   * Replaces the generation `file` (all its other files durable now) by one
   * that holds only the files that cannot be written, and those the
   * carried generation before it named, each with its latest content; then
   * deletes that earlier one. Under `file`'s own number its entries replay
   * after every older generation's and before every newer one's, so no
   * file comes back older than it was (the earlier carried generation's
   * files are in it again, with what they hold now, for that reason).
   */
  private async carryInto(file: string): Promise<void> {
    const content = this.unwritten.carry();
    try {
      await replaceGeneration(file, content);
    } catch (err) {
      this.unwritten.carryFailed();
      throw err;
    }
    // The earlier one goes only now: until the new one is in place, it
    // alone holds the changes of files that were stuck before.
    const earlier = this.unwritten.carriedIn(file);
    if (earlier !== undefined) {
      unlinkIfThere(earlier);
      await syncDir(this.root);
    }
    this.log.warn({ generation: file, files: this.unwritten.paths() }, 'spool files that cannot be written: their changes are kept in the journal');
  }
}
