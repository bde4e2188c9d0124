// The changes setSoon() takes (a logout's time and status): held in memory
// and written within SOON_MS, all at once, so that a logout does not wait
// for the disk and a burst of them costs the journal a few appends.
import type { Logger } from '../log.js';
import { RepeatedFailure } from '../util/repeated-failure.js';
import type { Journal } from './journal.js';
import type { UserDoc } from './user-doc.js';
import type { UserFile } from './user-files.js';

/** How long setSoon() changes may wait before they are written. */
const SOON_MS = 2000;

export class DeferredWrites {
  /** Users changed by setSoon() and not written yet: their latest document. */
  private readonly dirty = new Map<string, { f: UserFile; doc: UserDoc }>();
  private soonTimer: NodeJS.Timeout | undefined;
  /** Paths whose last write failed (a full disk): lost at a stop, unlike one merely held too late to be written. */
  private readonly refused = new Set<string>();
  /** Rounds of writes failing since the last that did not. */
  private readonly failing = new RepeatedFailure();

  constructor(
    private readonly log: Logger,
    private readonly journal: Journal,
    /** Runs `fn` in the user's turn, after everything queued earlier for them. */
    private readonly inTurn: (f: UserFile, fn: () => Promise<void>) => Promise<void>,
    /** Makes a held document durable (it was checked against the size cap when held). */
    private readonly commit: (f: UserFile, doc: UserDoc) => Promise<void>,
  ) {}

  /** The document held for the file at `path`, if a change to it waits. */
  doc(path: string): UserDoc | undefined {
    return this.dirty.get(path)?.doc;
  }

  /** Whether a change to the file at `path` waits to be written. */
  has(path: string): boolean {
    return this.dirty.has(path);
  }

  /** Holds `doc` as the user's latest document until writeAll() writes it. */
  hold(f: UserFile, doc: UserDoc): void {
    this.dirty.set(f.path, { f, doc });
  }

  /** Forgets what waits for `path` (a durable change took it along, or the file is gone). */
  delete(path: string): void {
    this.dirty.delete(path);
    this.refused.delete(path);
  }

  /**
   * writeAll() within SOON_MS, unless one is due already or the store is
   * closed (its journal closed, even by a failed close(): no more writes,
   * retries included).
   */
  writeSoon(): void {
    if (!this.journal.closed) this.soonTimer ??= setTimeout(() => void this.writeAll(), SOON_MS);
  }

  /**
   * Writes every setSoon() change durably, each user under its lock, all at
   * once: the journal then takes them in a few appends (group commit).
   */
  async writeAll(): Promise<void> {
    clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    const paths = [...this.dirty.keys()];
    let failed = 0;
    let firstError: unknown;
    await Promise.all(
      paths.map((path) =>
        this.inTurn(this.dirty.get(path)!.f, async () => {
          // A durable write since then may have taken it along already.
          const entry = this.dirty.get(path);
          if (!entry) return;
          await this.commit(entry.f, entry.doc).then(
            () => this.refused.delete(path),
            (err: unknown) => {
              this.refused.add(path);
              failed++;
              firstError ??= err;
            },
          );
        }),
      ),
    );
    if (failed > 0) {
      this.failed(failed, firstError);
      this.writeSoon();
    } else if (this.failing.times > 0) {
      // Nothing left to write (durable writes took the rest along): over, without a word.
      const rounds = this.failing.worked();
      if (paths.length > 0) this.log.info({ rounds }, 'deferred spool writes written again');
    }
  }

  /**
   * Said once when rounds start failing, then at most once a minute while
   * they go on: a line per file per round (every 2 s, a full disk) filled
   * the log, and on the spool's own disk took what space was freed.
   */
  private failed(files: number, err: unknown): void {
    const say = this.failing.failed();
    if (say === 'first') {
      this.log.error({ err, files }, `deferred spool writes (such as logout times) failed; retried every ${SOON_MS / 1000} s, said again once a minute while they fail`);
    } else if (say === 'again') {
      this.log.error({ err, files, rounds: this.failing.times }, 'deferred spool writes still failing');
    }
  }

  /**
   * For a stopping store, after its last writeAll(): no retry armed, and
   * what is still held is said to be lost. Returns how many users' changes
   * were lost because writing them failed (a full disk); those held only
   * after the last write (a session that ended past the stop's bounds)
   * are no failure of the store.
   */
  stop(): number {
    // A write that failed during the flush armed a retry: the journal
    // keeps that change for the next start, which may already be running.
    clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    // What never reached the journal is not kept: say so, not "will retry".
    const failed = [...this.dirty.keys()].filter((path) => this.refused.has(path)).length;
    const late = this.dirty.size - failed;
    if (failed > 0) this.log.error({ users: failed }, 'deferred spool changes (such as logout times) could not be written before the stop; they are lost');
    if (late > 0) this.log.warn({ users: late }, 'deferred spool changes (such as logout times) came after the stop\'s last write; they are lost');
    return failed;
  }
}
