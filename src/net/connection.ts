// One client socket: bytes in (decoded as UTF-8 across reads, so a
// character split between two TCP segments arrives whole), text out.
// It also enforces what is per socket: the karma read budget (reading
// pauses, the client is not dropped), a bound on bytes waiting to be sent
// (a client that stops reading is cut off instead of growing our memory),
// and an optional idle timeout.
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { KarmaConfig } from '../config/types.js';
import { destroyLater } from './destroy-later.js';
import { Karma } from './karma.js';

const REPLACEMENT_BYTES = Buffer.from('\uFFFD', 'utf8');

function countChar(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

function countBytes(buf: Buffer, seq: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(seq); i >= 0; i = buf.indexOf(seq, i + 1)) n++;
  return n;
}

/** Connections with queued output, flushed together once per event-loop turn. */
let flushQueue: Connection[] = [];

function scheduleFlush(conn: Connection): void {
  if (flushQueue.length === 0) setImmediate(flushAll);
  flushQueue.push(conn);
}

function flushAll(): void {
  const conns = flushQueue;
  flushQueue = [];
  for (const c of conns) c.flush();
}

/** The share of the output cap that counts as backed up: senders of many stanzas wait below it. */
const BACKED_UP_FRACTION = 0.25;

/** Karma hands read bytes to the parser in pieces this big. */
const KARMA_SLICE = 256;

/** Without karma, reads go to the parser in pieces at most this big (see onData). */
const PARSE_SLICE = 2048;

export interface ConnectionHandlers {
  text(chunk: string): void;
  /** Bytes arrived from the peer, whether or not karma holds them back: it was there when it sent them. */
  heard?(): void;
  /** The bytes are not UTF-8 (SPEC section 1: UTF-8 only). Nothing more is read. */
  badEncoding(): void;
  /**
   * The peer will send nothing more (its FIN), and everything it sent has
   * been handed to text(). The socket can still carry replies. Called once.
   */
  ended(): void;
  /** The socket is gone (peer closed, error, or we ended it). Called once. */
  closed(): void;
  /** Karma held back bytes just read (see heldBytes): for whoever counts what a connection holds. */
  held?(): void;
  /** Karma paused reading, for the first time on this connection (said once: it may pause every heartbeat). */
  throttled?(): void;
  /**
   * Output the client has not taken stays queued, or output that was
   * counted (see heldOutput) has now gone out: for whoever counts what
   * a connection holds. Not called while nobody counts and the client
   * keeps up, which is nearly always.
   */
  outputWaiting?(): void;
}

export interface ConnectionOptions {
  karma: KarmaConfig | undefined;
  /** Bytes allowed to wait in the send buffer before the client is cut off. */
  outputBytes: number;
  /** Told once when the send buffer overflowed (for a log line), with what waited for the client and is dropped, in characters and bytes. */
  onOverflow?: (dropped: number) => void;
  /** The peer's address, when the caller already read it (each read is a getpeername call). */
  address?: string;
}

export class Connection {
  // StringDecoder keeps a character split between reads whole and is far
  // lighter per connection than a TextDecoder; bad bytes are caught below.
  // undefined while the connection rests (see rest()): made at the next read.
  private decoder: StringDecoder | undefined = new StringDecoder('utf8');
  private badBytes = false;
  /**
   * The last three bytes read (-1: none yet), the previous reads' included:
   * numbers, not a Buffer, because copying them out of every read cost
   * more than decoding a short stanza.
   */
  private last1 = -1;
  private last2 = -1;
  private last3 = -1;
  private handlers: ConnectionHandlers | undefined;
  private gone = false;
  private readonly karma: Karma | undefined;
  /** Bytes read but held back by karma, oldest first. */
  private held: Buffer[] = [];
  /** Text written during this turn of the event loop, not yet given to the socket. */
  private out = '';
  /** Reading is paused because too much of what was read is still being handled (see setBacklogged). */
  private backlogged = false;
  /** The idle timeout (0: none), renewed while karma holds the client back. */
  private idleMs = 0;
  /** The peer's FIN came; ended() goes out once karma has released what it holds. */
  private peerEnded = false;
  private endReported = false;
  private throttleReported = false;
  /** Waiting for output that stayed queued to go out (see lagging()). */
  private lagWatched = false;
  /** heldOutput was read above 0 since the output last went out: say when it has. */
  private outputCounted = false;
  readonly address: string;
  /** What the socket failed with, if it did: ETIMEDOUT when the client stopped answering (keepalive's probes, or the kernel's retransmissions), ECONNRESET for a reset. */
  failure: string | undefined;

  constructor(
    readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.address = opts.address ?? socket.remoteAddress ?? 'unknown';
    this.karma = opts.karma ? new Karma(opts.karma) : undefined;
    socket.on('data', (buf: Buffer) => this.onData(buf));
    socket.on('end', () => {
      this.peerEnded = true;
      this.reportEnd();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= err.code ?? err.message;
      socket.destroy();
    });
    socket.on('close', () => this.onClose());
  }

  /**
   * The stream is quiet (see StreamParser.rest()): the UTF-8 decoder goes,
   * unless the last read ended inside a character, whose first bytes it holds.
   */
  rest(): void {
    if (this.decoder !== undefined && incompleteTail(this.lastBytes(3)) === 0) this.decoder = undefined;
  }

  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  get isOpen(): boolean {
    return !this.gone && !this.socket.destroyed;
  }

  /** Decodes across reads (a character split between two reads arrives whole). */
  private deliver(buf: Buffer): void {
    if (this.badBytes) return;
    const text = (this.decoder ??= new StringDecoder('utf8')).write(buf);
    // Bad bytes come out as U+FFFD; a real U+FFFD arrives as EF BF BD. More
    // replacement characters than those bytes means the input was not UTF-8.
    // (A real one split between reads: count across the last two bytes before this read.)
    const hasReplacement = text.includes('\uFFFD');
    const seen = hasReplacement ? countBytes(this.withLastBytes(buf), REPLACEMENT_BYTES) : 0;
    if (hasReplacement && countChar(text, '\uFFFD') > seen) {
      // What came before the first bad byte is handled first (a request in
      // the same packet is carried out and answered, then the stream
      // error), as for bad XML.
      const before = text.slice(0, this.firstBadReplacement(text, buf));
      if (before !== '') this.handlers?.text(before);
      this.badBytes = true;
      this.handlers?.badEncoding();
      return;
    }
    this.rememberLastBytes(buf);
    this.handlers?.text(text);
  }

  /**
   * Where in `text` (decoded from `buf`) the first U+FFFD that stands for
   * bad bytes is: a real one, read as EF BF BD, may come before it. Every
   * character before that one was decoded from its own bytes, so the
   * UTF-8 length of the text before a U+FFFD says where its bytes are,
   * counted from those of a character begun in the read before.
   */
  private firstBadReplacement(text: string, buf: Buffer): number {
    const before = this.lastBytes(3);
    const bytes = Buffer.concat([Buffer.from(before), buf]);
    const lead = before.length - incompleteTail(before);
    for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) {
      const at = lead + Buffer.byteLength(text.slice(0, i));
      if (at < 0 || bytes[at] !== 0xef || bytes[at + 1] !== 0xbf || bytes[at + 2] !== 0xbd) return i;
    }
    return text.length;
  }

  /** `buf` after the last two bytes read before it. */
  private withLastBytes(buf: Buffer): Buffer {
    return Buffer.concat([Buffer.from(this.lastBytes(2)), buf]);
  }

  /** The last `count` (at most 3) bytes read, oldest first: fewer before that many came. */
  private lastBytes(count: number): number[] {
    return [this.last3, this.last2, this.last1].slice(3 - count).filter((b) => b >= 0);
  }

  private rememberLastBytes(buf: Buffer): void {
    if (buf.length >= 3) {
      this.last3 = buf[buf.length - 3]!;
      this.last2 = buf[buf.length - 2]!;
      this.last1 = buf[buf.length - 1]!;
    } else {
      for (const b of buf) {
        this.last3 = this.last2;
        this.last2 = this.last1;
        this.last1 = b;
      }
    }
  }

  private onData(buf: Buffer): void {
    this.handlers?.heard?.();
    if (!this.karma) {
      // In pieces: the parser's attribute values and texts are slices of the
      // string it was given, and V8 keeps that whole string alive for each
      // slice kept (a cached name, a stored record). Fed a 64 KiB read at
      // once, every one of them held 64 KiB.
      if (buf.length <= PARSE_SLICE) this.deliver(buf);
      else for (let i = 0; i < buf.length && !this.badBytes; i += PARSE_SLICE) this.deliver(buf.subarray(i, i + PARSE_SLICE));
      return;
    }
    this.held.push(buf);
    this.release();
    if (this.held.length > 0) {
      // What waits may be a slice of a much larger read buffer, which it
      // would keep whole (for up to <authtime> under karma): a copy frees it.
      for (let i = 0; i < this.held.length; i++) {
        const b = this.held[i]!;
        if (b.length < b.buffer.byteLength / 2) {
          // Its own memory (Buffer.from would take a slice of the shared pool).
          const copy = Buffer.allocUnsafeSlow(b.length);
          b.copy(copy);
          this.held[i] = copy;
        }
      }
      this.handlers?.held?.();
    }
  }

  /** Bytes read that karma holds back, not yet parsed. */
  get heldBytes(): number {
    let n = 0;
    for (const b of this.held) n += b.length;
    return n;
  }

  /** What the socket holds that the kernel has not taken yet (not counting text queued this turn, which goes out at its end). */
  get unsent(): number {
    return this.socket.writableLength;
  }

  /** Bytes written that the client has not taken yet (queued this turn, or in the socket's buffer). */
  get pendingOutput(): number {
    return this.out.length + this.socket.writableLength;
  }

  /**
   * What the socket's buffer holds that the client has not taken, for
   * whoever counts what a connection holds: text queued this turn goes out
   * at its end, so only what stays after that counts. Whoever reads a count
   * above 0 is told again (outputWaiting) once it has gone out.
   */
  get heldOutput(): number {
    const n = this.socket.writableLength;
    if (n > 0) this.outputCounted = true;
    return n;
  }

  /**
   * Hands held bytes to the parser in small slices while karma allows, so a
   * big read cannot slip past the budget in one piece; the rest waits for
   * the next heartbeat, with the socket paused meanwhile.
   */
  private release(): void {
    const karma = this.karma!;
    while (this.held.length > 0 && !karma.paused && !this.gone) {
      const buf = this.held[0]!;
      const slice = buf.subarray(0, KARMA_SLICE);
      if (slice.length === buf.length) this.held.shift();
      else this.held[0] = buf.subarray(KARMA_SLICE);
      karma.read(slice.length);
      this.deliver(slice);
    }
    if (karma.paused && !this.throttleReported && !this.gone) {
      this.throttleReported = true;
      this.handlers?.throttled?.();
    }
    this.pauseOrResume();
    this.reportEnd();
  }

  private reportEnd(): void {
    if (!this.peerEnded || this.endReported || this.held.length > 0 || this.gone) return;
    this.endReported = true;
    // The first bytes of a character the end cut short: not UTF-8 either.
    if (!this.badBytes && this.decoder !== undefined && this.decoder.end() !== '') {
      this.badBytes = true;
      this.handlers?.badEncoding();
    }
    this.handlers?.ended();
  }

  private pauseOrResume(): void {
    if (this.held.length > 0 || this.karma?.paused || this.backlogged) this.socket.pause();
    else if (this.isOpen) this.socket.resume();
  }

  /**
   * Stops reading while the stream has too much in hand (and goes on when
   * it has caught up): what a client sends faster than it is handled then
   * waits in the kernel's buffers and its own, not in this process.
   */
  setBacklogged(on: boolean): void {
    if (this.backlogged === on) return;
    this.backlogged = on;
    this.pauseOrResume();
  }

  /** The 2-second karma heartbeat (driven by the server for all connections at once). */
  heartbeat(): void {
    if (!this.karma) return;
    // A client karma holds back is not idle: what it sent waits here, or in
    // the kernel while reading is paused, and the socket sees no reads.
    if (this.idleMs > 0 && this.isOpen && (this.held.length > 0 || this.karma.paused)) this.socket.setTimeout(this.idleMs);
    this.karma.heartbeat();
    if (this.isOpen) this.release();
  }

  /**
   * Queues text for the socket. What a connection is sent during one turn
   * of the event loop goes out in one write after the turn's reads were all
   * handled: one syscall instead of one per stanza (socket writes were the
   * biggest cost when routing messages).
   */
  write(text: string): void {
    if (!this.isOpen) return;
    if (this.out === '') scheduleFlush(this);
    this.out += text;
    const waiting = this.out.length + this.socket.writableLength;
    if (waiting > this.opts.outputBytes) {
      this.opts.onOverflow?.(waiting);
      this.destroy();
    }
  }

  /** @internal Hands the queued text to the socket (see write()). */
  flush(): void {
    const text = this.out;
    this.out = '';
    if (text !== '' && this.isOpen) {
      this.socket.write(text);
      if (this.socket.writableLength > 0) this.lagging();
      else if (this.outputCounted && !this.lagWatched) this.outputGone();
    }
  }

  /**
   * What was written stays queued: said now, and again once all of it has
   * gone out ('drain' alone would not say so: it comes only after a write
   * past the socket's high-water mark).
   */
  private lagging(): void {
    this.handlers?.outputWaiting?.();
    if (this.lagWatched) return;
    this.lagWatched = true;
    void this.whenWritable(0).then(() => {
      this.lagWatched = false;
      this.outputGone();
    });
  }

  /** Output someone counted (see heldOutput) has all gone out: they are told, once. */
  private outputGone(): void {
    this.outputCounted = false;
    this.handlers?.outputWaiting?.();
  }

  /** More than a quarter of the output cap waits to be sent (see whenWritable). */
  get backedUp(): boolean {
    return this.out.length + this.socket.writableLength > this.opts.outputBytes * BACKED_UP_FRACTION;
  }

  /** True while text written now would still go out (open, and not ending). */
  get writable(): boolean {
    return this.isOpen && !this.socket.writableEnded;
  }

  /**
   * Resolves true once what waits to be sent (text queued this turn plus
   * the socket's buffer) is at most `fraction` of the output cap, false
   * once the connection is gone or ending. For a sender of many stanzas
   * (a stored backlog): sending in batches and waiting here in between
   * keeps a client that reads under the cap write() enforces.
   */
  whenWritable(fraction = BACKED_UP_FRACTION): Promise<boolean> {
    const room = this.opts.outputBytes * fraction;
    const socket = this.socket;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        socket.off('drain', check);
        socket.off('close', check);
        resolve(ok);
      };
      const check = (): void => {
        timer = undefined;
        immediate = undefined;
        if (!this.writable) return finish(false);
        if (this.out.length + socket.writableLength <= room) return finish(true);
        // Queued text reaches the socket after this turn (flushAll); the
        // socket says 'drain' only after a write() that returned false,
        // otherwise look again a little later.
        if (this.out !== '') immediate = setImmediate(check);
        else if (!socket.writableNeedDrain) timer = setTimeout(check, 10);
      };
      socket.on('drain', check);
      socket.on('close', check);
      check();
    });
  }

  /** Closes the socket when nothing was read or written for `ms` (0 = never). */
  setIdleTimeout(ms: number, onIdle: () => void): void {
    this.idleMs = ms;
    this.socket.setTimeout(ms);
    this.socket.removeAllListeners('timeout');
    if (ms > 0) this.socket.once('timeout', onIdle);
  }

  /** Flushes what was written, then closes. */
  end(text?: string): void {
    if (!this.isOpen) return;
    const out = this.out + (text ?? '');
    this.out = '';
    if (out !== '') this.socket.end(out);
    else this.socket.end();
    // Nothing more is parsed; reading on lets the peer's close be seen even under karma.
    this.held = [];
    this.socket.resume();
    destroyLater(this.socket);
  }

  /**
   * Cuts the client off, dropping what waits for it here. `reset` (a
   * client that does not read): the kernel drops what it took too, where a
   * close would leave it holding that, megabytes, for minutes, trying to
   * deliver it to a client that takes nothing (or is gone). A TLS socket,
   * whose handle is not the TCP one, is closed without. So is one whose
   * shutdown is under way (end() called, its writes all taken by the
   * kernel, which keeps them as at any close): libuv refuses a reset then
   * (EINVAL), and Node drops the socket without closing it: no 'close'
   * ever, the descriptor held for good, the process unable to exit.
   */
  destroy(reset = true): void {
    this.out = '';
    const socket = this.socket;
    if (!reset || (socket.writableEnded && socket.writableLength === 0 && !socket.writableFinished)) {
      socket.destroy();
      return;
    }
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.handlers?.closed();
  }
}

/**
 * How many of `tail`'s last bytes are a character not ended yet: its lead
 * byte and the continuation bytes after it, fewer than the lead asks for.
 */
function incompleteTail(tail: readonly number[]): number {
  for (let k = 1; k <= tail.length; k++) {
    const b = tail[tail.length - k]!;
    if ((b & 0xc0) === 0x80) continue;
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return length > k ? k : 0;
  }
  return 0;
}
