// The client end of a jabber:client stream: connect (TCP or TLS), exchange
// headers, send stanzas, wait for replies. Used by the tools, the tests and
// the benchmark; it depends on nothing the server does not already use.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { StringDecoder } from 'node:string_decoder';
import { Element } from '../xml/element.js';
import { StreamParser } from '../xml/stream-parser.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  /** The Jabber host named in the stream header (default: `host`). */
  domain?: string;
  tls?: boolean | tls.ConnectionOptions;
  /** Extra attributes for our header (e.g. version='1.0'). */
  headerAttrs?: Record<string, string>;
  /** Milliseconds to wait for the connection and the server header. */
  timeout?: number;
  /** The local address to connect from, plain TCP only (a machine with several). */
  localAddress?: string;
  /**
   * Called with the new stream before any byte arrives, to add listeners
   * that must not miss what comes with the server's header (features, or
   * the stream error refusing an unknown host).
   */
  setup?: (stream: ClientStream) => void;
}

/** The stream ended; carries the server's <stream:error> when it sent one first. */
export class StreamClosedError extends Error {
  constructor(
    message: string,
    readonly streamError?: Element,
  ) {
    super(streamError ? `${message}: ${streamErrorText(streamError)}` : message);
  }
}

/** No reply (or no matching stanza) arrived in time; the stream stays open. */
export class ReplyTimeoutError extends Error {}

/** Events: 'stanza' (Element), 'stream-error' (Element), 'close'. */
export class ClientStream extends EventEmitter {
  /** The server's header attributes once received. */
  header: Record<string, string> | undefined;
  /** The <stream:error> the server sent, if any (the stream ends right after it). */
  streamError: Element | undefined;
  private readonly inbox: Element[] = [];
  private waiters: { match: (e: Element) => boolean; resolve: (e: Element) => void; reject: (err: Error) => void }[] = [];
  private closedFlag = false;
  private nextId = 0;
  /** Raw text received, for tests that compare exact bytes. */
  received = '';
  keepRaw = false;

  private constructor(readonly socket: net.Socket) {
    super();
    const decoder = new StringDecoder('utf8');
    const parser = new StreamParser(
      {
        header: (attrs) => {
          this.header = attrs;
          this.emit('header', attrs);
        },
        stanza: (el) => this.onStanza(el),
        end: () => this.socket.end(),
        error: (err) => {
          this.emit('parse-error', err);
          this.socket.destroy();
        },
      },
      { stanzaBytes: 16 * 1024 * 1024, depth: 64 },
    );
    socket.on('data', (buf: Buffer) => {
      const text = decoder.write(buf);
      if (this.keepRaw) this.received += text;
      parser.write(text);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  /** Opens the socket and sends our header; resolves once the server's header arrived. */
  static connect(opts: ConnectOptions): Promise<ClientStream> {
    const host = opts.host ?? '127.0.0.1';
    const port = opts.port ?? (opts.tls ? 5223 : 5222);
    const timeout = opts.timeout ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = opts.tls
        ? tls.connect({ host, port, rejectUnauthorized: false, ...(typeof opts.tls === 'object' ? opts.tls : {}) })
        : net.connect({ host, port, localAddress: opts.localAddress });
      const stream = new ClientStream(socket);
      opts.setup?.(stream);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no stream header from ${host}:${port} within ${timeout} ms`));
      }, timeout);
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
        socket.setNoDelay(true);
        stream.sendRaw(openingHeader(opts.domain ?? host, opts.headerAttrs));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.once('header', () => {
        clearTimeout(timer);
        resolve(stream);
      });
      stream.once('close', () => {
        clearTimeout(timer);
        reject(new StreamClosedError('stream closed before the server header', stream.streamError));
      });
    });
  }

  get streamId(): string {
    return this.header?.id ?? '';
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  sendRaw(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  send(stanza: Element): void {
    this.sendRaw(stanza.toString());
  }

  /** Next received stanza matching `match` (default: any), waiting up to `timeout` ms. */
  next(match: (e: Element) => boolean = () => true, timeout = 5000): Promise<Element> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.closedFlag) return Promise.reject(new StreamClosedError('stream closed', this.streamError));
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: Element) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new ReplyTimeoutError(`no matching stanza within ${timeout} ms`));
      }, timeout);
      this.waiters.push(waiter);
    });
  }

  /** Sends an iq (an id is added when missing) and resolves with the reply carrying the same id. */
  request(iq: Element, timeout = 5000): Promise<Element> {
    const id = (iq.attrs.id ??= `yak_${++this.nextId}`);
    const reply = this.next((e) => e.name === 'iq' && e.attrs.id === id, timeout);
    this.send(iq);
    return reply;
  }

  /** Sends </stream:stream> and resolves when the server has closed too. */
  close(timeout = 5000): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      this.once('close', () => resolve());
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, timeout).unref();
    });
    this.sendRaw('</stream:stream>');
    return done;
  }

  /** Resolves when the socket is gone. */
  whenClosed(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => this.once('close', () => resolve()));
  }

  private onStanza(el: Element): void {
    if (el.name === 'stream:error') {
      this.streamError = el;
      this.emit('stream-error', el);
    }
    this.emit('stanza', el);
    const w = this.waiters.find((x) => x.match(el));
    if (w) {
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(el);
    } else this.inbox.push(el);
  }

  private onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const w of this.waiters) w.reject(new StreamClosedError('stream closed', this.streamError));
    this.waiters = [];
    this.emit('close');
  }
}

/**
 * A stream error for people: the 1.4 text, then the RFC 6120 condition in
 * parentheses when present ("Unknown Host (host-unknown)").
 */
export function streamErrorText(error: Element): string {
  const condition = error.elements.find((e) => e.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-streams' && e.name !== 'text');
  const rfcText = error.getChild('text', 'urn:ietf:params:xml:ns:xmpp-streams')?.text().trim();
  const text = error.text().trim() || rfcText || '';
  if (!condition) return text || 'stream error';
  return text ? `${text} (${condition.name})` : condition.name;
}

export function openingHeader(domain: string, extra: Record<string, string> = {}): string {
  const attrs = new Element('x', { to: domain, xmlns: 'jabber:client', 'xmlns:stream': 'http://etherx.jabber.org/streams', ...extra })
    .toString()
    .slice(2, -2);
  return `<?xml version='1.0'?><stream:stream${attrs}>`;
}
