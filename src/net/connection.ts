// One client socket: bytes in (decoded as UTF-8 across reads, so a
// character split between two TCP segments arrives whole), text out.
// It also enforces what is per socket: the karma read budget (reading
// pauses, the client is not dropped), a bound on bytes waiting to be sent
// (a client that stops reading is cut off instead of growing our memory),
// and an optional idle timeout.
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { KarmaConfig } from '../config/types.js';
import { Karma } from './karma.js';

export interface ConnectionHandlers {
  text(chunk: string): void;
  /** The socket is gone (peer closed, error, or we ended it). Called once. */
  closed(): void;
}

export interface ConnectionOptions {
  karma: KarmaConfig | undefined;
  /** Bytes allowed to wait in the send buffer before the client is cut off. */
  outputBytes: number;
  /** Told once when the send buffer overflowed (for a log line). */
  onOverflow?: () => void;
}

export class Connection {
  private readonly decoder = new StringDecoder('utf8');
  private handlers: ConnectionHandlers | undefined;
  private gone = false;
  private readonly karma: Karma | undefined;
  readonly address: string;

  constructor(
    readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.address = socket.remoteAddress ?? 'unknown';
    this.karma = opts.karma ? new Karma(opts.karma) : undefined;
    socket.setNoDelay(true);
    socket.on('data', (buf: Buffer) => this.onData(buf));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  get isOpen(): boolean {
    return !this.gone && !this.socket.destroyed;
  }

  /** True while karma has reading paused. */
  get throttled(): boolean {
    return this.karma?.paused ?? false;
  }

  private onData(buf: Buffer): void {
    // The chunk already read is still handled; only further reads wait.
    if (this.karma?.read(buf.length)) this.socket.pause();
    this.handlers?.text(this.decoder.write(buf));
  }

  /** The 2-second karma heartbeat (driven by the server for all connections at once). */
  heartbeat(): void {
    if (this.karma?.heartbeat() && this.isOpen) this.socket.resume();
  }

  write(text: string): void {
    if (!this.isOpen) return;
    this.socket.write(text);
    if (this.socket.writableLength > this.opts.outputBytes) {
      this.opts.onOverflow?.();
      this.socket.destroy();
    }
  }

  /** Closes the socket when nothing was read or written for `ms` (0 = never). */
  setIdleTimeout(ms: number, onIdle: () => void): void {
    this.socket.setTimeout(ms);
    this.socket.removeAllListeners('timeout');
    if (ms > 0) this.socket.once('timeout', onIdle);
  }

  /** Flushes what was written, then closes. */
  end(text?: string): void {
    if (!this.isOpen) return;
    if (text !== undefined) this.socket.end(text);
    else this.socket.end();
    // A peer that never reads must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.handlers?.closed();
  }
}
