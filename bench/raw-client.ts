// A lean jabber:client connection for the load generator. The hot path
// never builds a DOM: requests are pre-serialized strings, and replies are
// cut out of the byte stream by a small scanner that only tracks tag depth
// (enough for what servers send: no CDATA, no comments, '>' escaped in
// attribute values). Correctness is checked with the real parser outside
// the timed part (parseXml in setup.ts), never on every stanza.
import net from 'node:net';

/** Our stream header (no version attribute: the 1.4 / legacy-auth dialect every peer also speaks). */
export function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

export const STREAM_CLOSE = '</stream:stream>';

/** Escapes text for use inside an element or a single-quoted attribute. */
export function esc(s: string): string {
  return s.replace(/[&<>'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The value of attribute `name` in the start tag at the beginning of
 * `stanza` (either quote style), or undefined.
 */
export function attr(stanza: string, name: string): string | undefined {
  const tagEnd = stanza.indexOf('>');
  const limit = tagEnd < 0 ? stanza.length : tagEnd;
  let i = stanza.indexOf(` ${name}=`);
  while (i >= 0 && i < limit) {
    const q = stanza.charAt(i + name.length + 2);
    if (q === "'" || q === '"') {
      const start = i + name.length + 3;
      const end = stanza.indexOf(q, start);
      if (end > 0) return stanza.slice(start, end);
    }
    i = stanza.indexOf(` ${name}=`, i + 1);
  }
  return undefined;
}

/** The text of the first <name>...</name> child anywhere in `stanza`, or undefined. */
export function childText(stanza: string, name: string): string | undefined {
  const open = stanza.indexOf(`<${name}>`);
  if (open < 0) return undefined;
  const start = open + name.length + 2;
  const end = stanza.indexOf(`</${name}>`, start);
  return end < 0 ? undefined : stanza.slice(start, end);
}

/** Whether the start tag says type='result' (either quote style). */
export function isResult(stanza: string): boolean {
  const t = attr(stanza, 'type');
  return t === 'result';
}

/**
 * End (exclusive) of the complete top-level element that starts at the
 * first '<' at or after `from`, or -1 when it has not fully arrived.
 * A closing tag at depth 0 (the server's </stream:stream>) counts as an
 * element of its own.
 */
export function stanzaEnd(s: string, from: number): number {
  let i = s.indexOf('<', from);
  if (i < 0) return -1;
  let depth = 0;
  for (;;) {
    const gt = s.indexOf('>', i);
    if (gt < 0) return -1;
    const c = s.charCodeAt(i + 1);
    if (c === 47 /* / */) depth--;
    else if (c !== 63 /* ? */ && c !== 33 /* ! */ && s.charCodeAt(gt - 1) !== 47) depth++;
    if (depth <= 0) return gt + 1;
    i = s.indexOf('<', gt + 1);
    if (i < 0) return -1;
  }
}

export type StanzaHandler = (conn: RawConn, stanza: string) => void;

/**
 * One TCP connection to 127.0.0.1. Text arrives as latin1 (one char per
 * byte, the cheapest decoding; everything the benchmark sends and looks
 * at is ASCII). In stanza mode (the default) the header is consumed first,
 * then every complete top-level element goes to `onStanza`. In chunk mode
 * (`onChunk` set) the raw text goes there instead, for scenarios that only
 * count.
 */
export class RawConn {
  readonly sock: net.Socket;
  /** The server's stream header start tag once received. */
  header: string | undefined;
  streamId = '';
  closed = false;
  /** Why the connection failed, when it did. */
  failure: string | undefined;
  onHeader: ((conn: RawConn) => void) | undefined;
  onStanza: StanzaHandler | undefined;
  onChunk: ((conn: RawConn, text: string) => void) | undefined;
  onClose: ((conn: RawConn) => void) | undefined;
  /** Free for the scenario (state machine position, owner, ...). */
  tag: unknown;
  private buf = '';

  constructor(port: number, domain: string, opts: { sendHeader?: boolean } = {}) {
    this.sock = net.connect({ host: '127.0.0.1', port });
    this.sock.setNoDelay(true);
    this.sock.setEncoding('latin1');
    if (opts.sendHeader !== false) this.sock.write(streamHeader(domain), 'latin1');
    this.sock.on('data', (text: string) => this.onData(text));
    this.sock.on('error', (err) => {
      this.failure ??= err.message;
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.onClose?.(this);
    });
  }

  send(text: string): void {
    if (!this.closed) this.sock.write(text, 'latin1');
  }

  /** Sends </stream:stream> and, with `halfClose`, our FIN right behind it (the server answers and closes; 'close' follows). */
  end(halfClose = false): void {
    if (this.closed) return;
    if (halfClose) this.sock.end(STREAM_CLOSE, 'latin1');
    else this.send(STREAM_CLOSE);
  }

  destroy(reason?: string): void {
    if (reason) this.failure ??= reason;
    this.sock.destroy();
  }

  private onData(text: string): void {
    if (this.header === undefined) {
      this.buf += text;
      const start = this.buf.indexOf('<stream:stream');
      const gt = start < 0 ? -1 : this.buf.indexOf('>', start);
      if (gt < 0) {
        if (this.buf.indexOf('<stream:error') >= 0 || this.buf.length > 65_536) this.destroy(`bad stream header: ${this.buf.slice(0, 300)}`);
        return;
      }
      this.header = this.buf.slice(start, gt + 1);
      this.streamId = attr(this.header, 'id') ?? '';
      text = this.buf.slice(gt + 1);
      this.buf = '';
      this.onHeader?.(this);
      if (text === '') return;
    }
    if (this.onChunk) {
      this.onChunk(this, text);
      return;
    }
    this.buf = this.buf === '' ? text : this.buf + text;
    let pos = 0;
    for (;;) {
      const end = stanzaEnd(this.buf, pos);
      if (end < 0) break;
      const lt = this.buf.indexOf('<', pos);
      const stanza = this.buf.slice(lt, end);
      pos = end;
      this.onStanza?.(this, stanza);
      if (this.closed) return;
    }
    this.buf = pos >= this.buf.length ? '' : this.buf.slice(pos);
    if (this.buf.length > 4 * 1024 * 1024) this.destroy('unparsed input over 4 MiB');
  }
}

/** Resolves once `conn` has the server's header; rejects if it closes first or after `timeoutMs`. */
export function whenHeader(conn: RawConn, timeoutMs: number): Promise<void> {
  if (conn.header !== undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.destroy('no stream header in time');
      reject(new Error(`no stream header within ${timeoutMs} ms`));
    }, timeoutMs);
    const prevHeader = conn.onHeader;
    const prevClose = conn.onClose;
    conn.onHeader = (c) => {
      clearTimeout(timer);
      conn.onHeader = prevHeader;
      conn.onClose = prevClose;
      prevHeader?.(c);
      resolve();
    };
    conn.onClose = (c) => {
      clearTimeout(timer);
      conn.onHeader = prevHeader;
      conn.onClose = prevClose;
      prevClose?.(c);
      reject(new Error(`closed before the stream header${c.failure ? `: ${c.failure}` : ''}`));
    };
  });
}

/**
 * For the untimed parts (setup, verification): stanzas are queued and
 * awaited with a predicate.
 */
export class Inbox {
  readonly items: string[] = [];
  private waiters: { match: (s: string) => boolean; resolve: (s: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];

  constructor(readonly conn: RawConn) {
    conn.onStanza = (_c, s) => this.push(s);
    const prevClose = conn.onClose;
    conn.onClose = (c) => {
      prevClose?.(c);
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`connection closed${c.failure ? `: ${c.failure}` : ''}`));
      }
    };
  }

  private push(s: string): void {
    const i = this.waiters.findIndex((w) => w.match(s));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      w!.resolve(s);
    } else this.items.push(s);
  }

  /** Next stanza matching `match` (queued or future), within `timeoutMs`. */
  next(match: (s: string) => boolean, timeoutMs: number): Promise<string> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    if (this.conn.closed) return Promise.reject(new Error(`connection closed${this.conn.failure ? `: ${this.conn.failure}` : ''}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`no matching stanza within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ match, resolve, reject, timer });
    });
  }

  /** Sends `stanza` and waits for the iq reply with `id`. */
  request(stanza: string, id: string, timeoutMs: number): Promise<string> {
    const reply = this.next((s) => s.startsWith('<iq') && attr(s, 'id') === id, timeoutMs);
    this.conn.send(stanza);
    return reply;
  }

  /** Detaches: later stanzas go to nobody until the caller sets a handler. */
  detach(): void {
    this.conn.onStanza = undefined;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('inbox detached'));
    }
  }
}
