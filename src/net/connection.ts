// One client socket: bytes in (decoded as UTF-8 across reads, so a
// character split between two TCP segments arrives whole), text out.
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';

export interface ConnectionHandlers {
  text(chunk: string): void;
  /** The socket is gone (peer closed, error, or we ended it). Called once. */
  closed(): void;
}

export class Connection {
  private readonly decoder = new StringDecoder('utf8');
  private handlers: ConnectionHandlers | undefined;
  private gone = false;
  readonly address: string;

  constructor(readonly socket: Socket) {
    this.address = socket.remoteAddress ?? 'unknown';
    socket.setNoDelay(true);
    socket.on('data', (buf: Buffer) => this.handlers?.text(this.decoder.write(buf)));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  get isOpen(): boolean {
    return !this.gone && !this.socket.destroyed;
  }

  write(text: string): void {
    if (this.isOpen) this.socket.write(text);
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
