// The time limits on a client stream: <authtime> to log in, counted from
// when the stream opened, then, once logged in, <limits><idle> with
// nothing read or sent; and, once the client has said goodbye, how long
// it may leave the replies owed to it unread. A base class of C2sStream (between it and
// TaskChain), for TaskChain's reason: it costs nothing more per
// connection; and the close at <authtime> goes on the stream's own chain
// of stanzas in hand, which stays closed to anyone else.
import type { YakConfig } from '../config/types.js';
import type { StreamErrorKind } from './stream-errors.js';
import { TaskChain } from './task-chain.js';
import { monotonicMs } from '../util/time.js';

/**
 * How long past <authtime> the requests in hand may still run before the
 * stream closes all the same: far more than a login held back by the
 * failed-login wait (1 s at most by default) takes; longer when
 * <login_throttle max> is (its wait and a second more).
 */
const AUTH_GRACE_MS = 5_000;

/**
 * How long a client that said goodbye may make no progress through the
 * replies still owed to it before the stream closes without them. Long:
 * progress shows only when the kernel takes more of them, which it does
 * once a third of its send buffer (megabytes on loopback) is free; a
 * client reading 40 KB/s shows some within half a minute.
 */
const GOODBYE_GRACE_MS = 30_000;

export abstract class TimeLimitedStream extends TaskChain {
  private authTimer: NodeJS.Timeout | undefined;
  private goodbyeTimer: NodeJS.Timeout | undefined;
  /** When it opened, on the monotonic clock (a SIGHUP re-arms <authtime> from it). */
  protected readonly opened = monotonicMs();
  /** The client ended its stream (`</stream:stream>`, or its FIN): it left on purpose. */
  protected saidGoodbye = false;

  /** The config, read at each arming: a reload may change <authtime> and <limits><idle>. */
  protected abstract readonly ctx: { readonly config: YakConfig };

  /** Not logged in yet (no header, or no login): <authtime> runs. */
  protected abstract get unauthed(): boolean;

  /** Ends the stream, with this stream error. */
  abstract close(error?: StreamErrorKind): void;

  /** Open, and not closed by the server. */
  abstract get writable(): boolean;

  /** Said when a client that ended its side is cut off: `dropped` waited for it (characters and bytes) and is lost. */
  protected abstract goodbyeUnread(dropped: number): void;

  /** Closes the stream <authtime> after it opened, unless it has logged in by then. */
  protected armAuthTimer(): void {
    clearTimeout(this.authTimer);
    const authtime = this.ctx.config.c2s.authtime;
    if (authtime > 0) {
      // In turn, after what the client sent before the time ran out: a
      // registration or login in hand is carried out and answered (closed at
      // once, an account could be made without its client being told), and
      // a login that succeeds keeps its stream.
      const closeIfUnauthed = (): void => {
        if (this.unauthed) this.close('connection-timeout');
      };
      const timeUp = (): void => {
        this.enqueue(async () => closeIfUnauthed());
        // What is in hand may never finish: a client that does not read
        // holds its requests back (waiting for room in its output), and
        // with them the close queued behind them. Past a grace it goes now.
        // (With nothing in hand the close has already run.)
        if (!this.unauthed) return;
        // A login held back by the failed-login wait gets its whole wait.
        const grace = Math.max(AUTH_GRACE_MS, this.ctx.config.jsm.loginThrottle.maxMs + 1000);
        this.authTimer = setTimeout(closeIfUnauthed, grace);
        this.authTimer.unref();
      };
      this.authTimer = setTimeout(timeUp, Math.max(0, this.opened + authtime * 1000 - monotonicMs()));
      this.authTimer.unref();
    }
  }

  /** Logged in, or closed: <authtime> no longer runs. */
  protected stopAuthTimer(): void {
    clearTimeout(this.authTimer);
  }

  /**
   * The client ended its side (its FIN, or </stream:stream>): the stream
   * closes in turn, once what it sent before is handled and answered. A
   * client that takes none of those replies holds them back, and the close
   * behind them (each waits for room in its output): its session would
   * stay, shown available and taking messages it will never read, for as
   * long as the connection lasted. After GOODBYE_GRACE_MS with no progress
   * it is closed, and what still waits in the server is dropped (what the
   * kernel took goes on to a client that reads at last); what it sent is
   * still carried out.
   */
  protected goodbye(): void {
    this.saidGoodbye = true;
    this.enqueue(async () => this.close());
    // Closed at once (nothing was in hand): nothing to watch.
    if (this.writable) this.watchGoodbye(this.goodbyeProgress());
  }

  /** How far the client has got: what waits for it in the server, and what the kernel has taken of its output. */
  private goodbyeProgress(): { pending: number; taken: number } {
    return { pending: this.conn.pendingOutput, taken: this.conn.socket.bytesWritten };
  }

  /** Closes the stream unless the client has made progress (see goodbyeProgress) since `before`, within GOODBYE_GRACE_MS. */
  private watchGoodbye(before: { pending: number; taken: number }): void {
    clearTimeout(this.goodbyeTimer);
    this.goodbyeTimer = setTimeout(() => {
      if (!this.writable) return;
      const now = this.goodbyeProgress();
      // Nothing waits yet (a request still in hand), or it took some: watch on.
      if (now.pending === 0 || now.pending < before.pending || now.taken > before.taken) return this.watchGoodbye(now);
      this.goodbyeUnread(now.pending);
      this.close();
      this.conn.destroy(false);
    }, GOODBYE_GRACE_MS);
    this.goodbyeTimer.unref();
  }

  /** Closed: the goodbye's grace no longer runs (a timer left armed would keep the stream in memory until it fires). */
  protected stopGoodbyeTimer(): void {
    clearTimeout(this.goodbyeTimer);
  }

  /** Closes the session after <limits><idle> with nothing read or sent (never, at 0). */
  protected armIdle(): void {
    const ms = this.ctx.config.c2s.limits.idleSeconds * 1000;
    const onIdle = (): void => {
      // Stanzas still in hand (reading paused while they are handled, no
      // reply owed): the client is waiting on us, not idle.
      if (this.inFlight > 0) this.conn.setIdleTimeout(ms, onIdle);
      else this.close('idle-timeout');
    };
    this.conn.setIdleTimeout(ms, onIdle);
  }
}
