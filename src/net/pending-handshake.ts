// A direct-TLS connection from TCP accept to a finished handshake: under a
// deadline (see tlsHandshakeMs), counted in the budget of what connections
// not logged in hold, its ClientHello read and checked here first (see
// client-hello.ts), then handed to the TLS side.
import type net from 'node:net';
import type tls from 'node:tls';
import { OVER_BUDGET_LOG, type BudgetHolder, type HeldMemoryBudget } from '../c2s/held-memory-budget.js';
import type { AddressLogQuota } from './address-log-quota.js';
import { clientHelloProgress } from './client-hello.js';
import { limitKey } from './peer-address.js';
import { monotonicMs } from '../util/time.js';

/**
 * What one handshake is taken to hold besides its ClientHello: Node's and
 * OpenSSL's state for a handshake stalled after a small ClientHello (read
 * buffers, the server's flight, key shares) measured 62 KiB on Node 20 with
 * OpenSSL 3.0. Unlike a plain connection's, this is not small: counted
 * with the rest of <preauthmemory>, stalled handshakes from many addresses
 * can no longer add up to any amount (the per-address limit alone let one
 * address hold 1,000 of them).
 */
const HANDSHAKE_WEIGHT = 64 * 1024;

export interface HandshakeContext {
  /** The tls.Server that does the handshake (see tlsHandshaker). */
  handshaker: tls.Server;
  /** From accept to a finished handshake (see tlsHandshakeMs). */
  deadlineMs: number;
  /** What connections not logged in hold between them. */
  budget: HeldMemoryBudget;
  /** Lines about a connection not logged in: each address held to its share. */
  log: AddressLogQuota;
}

export class PendingHandshake implements BudgetHolder {
  readonly budgetKey: string;
  private readonly deadline: NodeJS.Timeout;
  /** The bytes read before the ClientHello was whole: `got` of `buf`. */
  private buf: Buffer | undefined;
  private got = 0;
  /** Look at the bytes again once this many have come (see clientHelloProgress). */
  private need = 1;
  private readonly onData = (chunk: Buffer): void => this.read(chunk);
  private readonly opened = monotonicMs();
  /** The handshake finished: the stream takes over, and logs the connection's end. */
  private finished = false;
  /** Why it failed, once known: said in the one line a failed handshake gets. */
  private why: string | undefined;
  /** That line is written already (a refused ClientHello, the budget). */
  private said = false;

  constructor(
    readonly raw: net.Socket,
    readonly address: string,
    private readonly ctx: HandshakeContext,
  ) {
    this.budgetKey = limitKey(address);
    raw.on('error', (err) => {
      this.why ??= (err as NodeJS.ErrnoException).code ?? err.message;
      raw.destroy();
    });
    this.deadline = setTimeout(() => {
      this.why ??= `not finished within ${ctx.deadlineMs / 1000} s`;
      raw.destroy();
    }, ctx.deadlineMs);
    raw.once('close', () => this.closed());
    raw.on('data', this.onData);
    ctx.budget.set(this, HANDSHAKE_WEIGHT);
  }

  /** The handshake is done: neither deadline nor budget holds it any more. */
  secured(): void {
    this.finished = true;
    this.release();
  }

  /** OpenSSL refused the handshake (a protocol version, no shared cipher, the client's alert). */
  failed(err: Error): void {
    this.why ??= (err as NodeJS.ErrnoException).code ?? err.message;
  }

  /**
   * The server stops: its line is written now, within the log's window for
   * the address (the stop ends that window before the socket's close
   * comes), and the socket closed.
   */
  stop(): void {
    this.why ??= 'the server stopped';
    this.sayFailed();
    this.raw.destroy();
  }

  /**
   * The socket is gone: one line for a handshake that never finished, as a
   * plain connection that never logs in gets (`connection closed`), held
   * to the address's share of the log.
   */
  private closed(): void {
    this.sayFailed();
    this.release();
  }

  private sayFailed(): void {
    if (this.finished || this.said) return;
    this.said = true;
    const seconds = Math.round((monotonicMs() - this.opened) / 1000);
    const reason = this.why ?? 'closed by the client';
    this.ctx.log.write('info', this.address, { address: this.address, reason, seconds }, 'TLS handshake failed: closed');
  }

  private release(): void {
    clearTimeout(this.deadline);
    this.ctx.budget.release(this);
  }

  /** See BudgetHolder. A TLS client could not read a stream error sent in the clear: it is closed. */
  overBudget(): void {
    this.said = true;
    this.ctx.log.write(
      'warn',
      this.address,
      { address: this.address, held: HANDSHAKE_WEIGHT + this.got, handshake: true },
      OVER_BUDGET_LOG.preAuth,
    );
    this.raw.destroy();
  }

  private read(chunk: Buffer): void {
    if (this.got === 0 && chunk.length >= this.need) this.buf = chunk;
    else this.keep(chunk);
    if (this.buf === chunk) this.got = chunk.length;
    if (this.got < this.need) return;
    const data = this.buf!.subarray(0, this.got);
    const progress = clientHelloProgress(data);
    if ('refused' in progress) {
      this.said = true;
      this.ctx.log.write('info', this.address, { address: this.address, reason: progress.refused }, 'not a TLS handshake we take: closed');
      this.raw.destroy();
      return;
    }
    // OpenSSL keeps a copy of the ClientHello until the handshake is done.
    this.ctx.budget.set(this, HANDSHAKE_WEIGHT + this.got);
    if (this.raw.destroyed) return;
    if (!progress.done) {
      this.need = progress.need;
      return;
    }
    // The bytes go back to the socket, where the TLS socket taking it over reads them first.
    this.raw.off('data', this.onData);
    this.raw.pause();
    this.raw.unshift(data);
    this.buf = undefined;
    this.ctx.handshaker.emit('connection', this.raw);
  }

  /** Appends `chunk` to what was read so far (a ClientHello that came in pieces). */
  private keep(chunk: Buffer): void {
    const size = this.got + chunk.length;
    if (!this.buf || this.buf.length < size) {
      // Its own memory, grown by doubling: a client dribbling a byte at a time costs no copy per byte.
      const grown = Buffer.allocUnsafeSlow(Math.max(size, 2 * (this.buf?.length ?? 0), 512));
      this.buf?.copy(grown, 0, 0, this.got);
      this.buf = grown;
    }
    chunk.copy(this.buf, this.got);
    this.got = size;
  }
}
