// What a stream has in hand (stanzas received and not yet handled, and
// its own tasks): they are handled one at a time, in arrival order, on a
// promise chain, and reading pauses while too many of them, or too heavy
// ones, wait. A base class of C2sStream rather than an object it holds:
// it costs nothing more per connection, and the stream's hot path makes
// the same calls as before.
import type { Connection } from '../net/connection.js';
import { deferred, type Deferred } from '../util/deferred.js';

/**
 * Stanzas in hand (received, not yet handled) above which reading pauses; it
 * resumes at half. Bounds what one connection can pile up (requests the
 * failed-login throttle holds back, a flood of writes) whether or not karma
 * is on; the pre-login queue bounds the rest.
 */
const MAX_IN_HAND = 64;

/**
 * The stanzas in hand may also weigh at most this much between them
 * (characters and nodes, see weigh(); reading pauses past it, and resumes
 * at half): 64 stanzas of the largest size a session may send would be
 * some 400 MB in memory, and counted in characters alone, stanzas of
 * empty elements still took 40 times what was counted.
 */
const MAX_IN_HAND_WEIGHT = 4 << 20;

/** Runs a task now; a synchronous throw becomes a rejection, as in a promise chain. */
function runNow(task: () => Promise<void>): Promise<void> {
  try {
    return task();
  } catch (err) {
    return Promise.reject(err);
  }
}

export abstract class TaskChain {
  /** The tasks enqueued so far, one after the other. */
  protected chain: Promise<void> = Promise.resolve();
  /** Tasks enqueued and not finished (the chain is settled when this is 0). */
  protected inFlight = 0;
  /** What the stanzas in flight hold, characters and nodes weighed (see weigh() and MAX_IN_HAND_WEIGHT). */
  protected inFlightWeight = 0;
  /** Tasks enqueued so far, numbering them. */
  private enqueued = 0;
  /** Tasks numbered below this, if not started by now, never start (see dropWaiting). */
  private dropBefore = 0;
  /**
   * Wakes each task waiting for room now, so that dropWaiting() drops it
   * then, not when the client reads. Each leaves the set as it wakes: a
   * promise that stayed pending for the stream's life, raced at each wait,
   * kept every wait's reaction until the stream closed. Made by the first
   * wait for room: most streams never wait.
   */
  private roomWaiters: Set<() => void> | undefined;
  /** Whether dropWaiting() was called: later tasks run room or not. */
  private dropping = false;
  /** What settled() waits on, while anyone does. */
  private idle: Deferred | undefined;
  /** Whether a task started at once is in its synchronous part (see enqueue). */
  private starting = false;
  /** Tasks enqueued from inside that part, linked once it returns. */
  private linkAfterStart: (() => void)[] | undefined;

  constructor(protected readonly conn: Connection) {}

  /** Tells the memory budget what the connection holds now: called as each task ends. */
  protected abstract chargeBudget(): void;

  /** A task threw or rejected (after its end was counted): the stream cannot go on. */
  protected abstract taskFailed(err: unknown): void;

  /**
   * `weight`: what the stanza holds, for the in-hand bound and the budgets
   * (0 for our own tasks). `kept`: never dropped by dropWaiting (a
   * session's end: see C2sStream.cleanup).
   */
  protected enqueue(task: () => Promise<void>, weight = 0, kept = false): void {
    // With nothing in flight the task starts at once instead of one
    // microtask later: most stanzas arrive on an idle stream.
    this.inFlight++;
    this.inFlightWeight += weight;
    this.updateBacklog();
    const seq = kept ? Infinity : this.enqueued;
    this.enqueued++;
    if (this.starting) {
      // The task started at once below is still in its synchronous part,
      // and not on the chain yet: this one is linked once it is.
      (this.linkAfterStart ??= []).push(() => this.link(this.chain.then(() => this.whenRoom(task, seq)), weight));
    } else if (this.inFlight === 1 && !this.conn.backedUp) {
      this.starting = true;
      const run = runNow(task);
      this.starting = false;
      this.link(run, weight);
      const later = this.linkAfterStart;
      if (later) {
        this.linkAfterStart = undefined;
        for (const linkOne of later) linkOne();
      }
    } else {
      this.link(this.chain.then(() => this.whenRoom(task, seq)), weight);
    }
  }

  /** Makes `run` the chain's last link: what comes next waits for it, and its end is counted. */
  private link(run: Promise<void>, weight: number): void {
    this.chain = run.then(
      () => this.taskDone(weight),
      (err: unknown) => {
        this.taskDone(weight);
        this.taskFailed(err);
      },
    );
  }

  /**
   * Runs `task` once what this client was sent has mostly gone out: large
   * replies to requests sent together (six big private-storage gets, a
   * run of bounced messages) must not add up past <outbuffer> and cut off
   * a client that does read. A client that does not read keeps its
   * requests waiting here, and reading stops at MAX_IN_HAND. (`seq` is
   * Infinity for a task that is never dropped.)
   */
  private whenRoom(task: () => Promise<void>, seq: number): Promise<void> {
    if (seq < this.dropBefore) return Promise.resolve();
    // Not an async function: most tasks find room, and run without a hop.
    if (!this.conn.backedUp || this.dropping) return task();
    const waiters = (this.roomWaiters ??= new Set());
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        waiters.delete(wake);
        resolve();
      };
      waiters.add(wake);
      void this.conn.whenWritable().then(wake);
    }).then(() => (seq < this.dropBefore ? undefined : task()));
  }

  /**
   * Resolves once nothing is in hand, tasks enqueued meanwhile included.
   * Told by taskDone rather than found by awaiting the chain, which tasks
   * enqueued meanwhile would make a loop.
   */
  settled(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    this.idle ??= deferred();
    return this.idle.promise;
  }

  /** Whether anything is in hand: a stanza or task waiting or running. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /**
   * The tasks waiting now are dropped, unanswered, those waiting for a
   * client that does not read included; the one running goes on to its
   * end, and tasks enqueued later, or kept (a session's end, whenever its
   * stream closed), run as usual, room or not. For a server stopping past its
   * bound: requests left to run would go on after the spool closed,
   * refused one by one with errors in the log, and each start a journal
   * the next start took for a crash's.
   */
  dropWaiting(): void {
    this.dropBefore = this.enqueued;
    this.dropping = true;
    if (this.roomWaiters) for (const wake of [...this.roomWaiters]) wake();
  }

  private taskDone(weight: number): void {
    this.inFlight--;
    this.inFlightWeight -= weight;
    if (this.inFlight === 0 && this.idle) {
      this.idle.resolve();
      this.idle = undefined;
    }
    this.updateBacklog();
    this.chargeBudget();
  }

  /** Reading pauses at either bound of what is in hand, and goes on once both are down to half. */
  private updateBacklog(): void {
    if (this.inFlight >= MAX_IN_HAND || this.inFlightWeight > MAX_IN_HAND_WEIGHT) this.conn.setBacklogged(true);
    else if (this.inFlight <= MAX_IN_HAND / 2 && this.inFlightWeight <= MAX_IN_HAND_WEIGHT / 2) this.conn.setBacklogged(false);
  }
}
