// Helpers for the SPEC section 1-5 transcript tests: a raw socket client
// that writes exactly the bytes a test gives it (split wherever the test
// likes) and keeps every character the server sends, plus spool file
// readers and a seeded PRNG for reproducible random splits.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { YakConfig } from '../../src/config/types.js';
import { Element } from '../../src/xml/element.js';
import { parseXml } from '../../src/xml/parse.js';
import { StreamParser } from '../../src/xml/stream-parser.js';
import { hostDirName, userFileName } from '../../src/xdb/file-names.js';
import { FIXTURES } from './yak.js';
import { assertXml } from './xml-assert.js';

export const NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
export const NS_STREAM = 'http://etherx.jabber.org/streams';

/** A client stream header; `to` undefined leaves the attribute out. */
export function clientHeader(to: string | undefined, extra: Record<string, string> = {}, declaration = true): string {
  const attrs = new Element('x', { to, xmlns: 'jabber:client', 'xmlns:stream': NS_STREAM, ...extra }).toString().slice(2, -2);
  return `${declaration ? "<?xml version='1.0'?>" : ''}<stream:stream${attrs}>`;
}

/**
 * For tests that fail logins on purpose: the failed-login throttle would
 * space out every later login from 127.0.0.1 (the throttle has tests of its own).
 */
export function noLoginThrottle(config: YakConfig): void {
  config.jsm.loginThrottle.exempt.push('127.0.0.1', '::ffff:127.0.0.1');
}

/** Deterministic PRNG (mulberry32): a failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/**
 * A TCP client with no stream logic of its own: the test writes the header
 * itself. Everything received is kept in `text`; complete stanzas are also
 * parsed and handed out in arrival order by next().
 */
export class RawClient {
  text = '';
  header: Record<string, string> | undefined;
  private readonly inbox: Element[] = [];
  private wakers: (() => void)[] = [];
  private readonly closedP: Promise<void>;
  private isClosed = false;

  private constructor(readonly socket: net.Socket) {
    const decoder = new StringDecoder('utf8');
    const parser = new StreamParser(
      {
        header: (attrs) => {
          this.header = attrs;
          this.notify();
        },
        stanza: (el) => {
          this.inbox.push(el);
          this.notify();
        },
        end: () => {},
        error: () => {},
      },
      { stanzaBytes: 16 * 1024 * 1024, depth: 64 },
    );
    socket.setNoDelay(true);
    socket.on('data', (buf: Buffer) => {
      const t = decoder.write(buf);
      this.text += t;
      parser.write(t);
    });
    socket.on('error', () => socket.destroy());
    this.closedP = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.notify();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Writes `data` as separate TCP writes cut at these byte offsets, pausing between them. */
  async writeAt(data: string | Buffer, cuts: number[]): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let from = 0;
    for (const cut of [...cuts, buf.length].sort((a, b) => a - b)) {
      if (cut <= from) continue;
      this.socket.write(buf.subarray(from, cut));
      from = cut;
      await pause();
    }
  }

  /** Writes `data` cut at `pieces - 1` random byte offsets (anywhere, also inside UTF-8 characters). */
  writeSplit(data: string | Buffer, rand: () => number, pieces = 6): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const cuts = Array.from({ length: pieces - 1 }, () => 1 + Math.floor(rand() * (buf.length - 1)));
    return this.writeAt(buf, cuts);
  }

  /** Every byte in its own write. */
  writeBytewise(data: string | Buffer): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.writeAt(buf, Array.from({ length: buf.length }, (_, i) => i));
  }

  private notify(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  private async waitFor<T>(get: () => T | undefined, what: string, timeout: number): Promise<T> {
    const loop = async (): Promise<T> => {
      for (;;) {
        const v = get();
        if (v !== undefined) return v;
        if (this.isClosed) throw new Error(`connection closed while waiting for ${what}; received: ${this.text}`);
        await new Promise<void>((r) => this.wakers.push(r));
      }
    };
    return within(loop(), timeout, `no ${what}`);
  }

  /** The server's header attributes. */
  serverHeader(timeout = 5000): Promise<Record<string, string>> {
    return this.waitFor(() => this.header, 'stream header', timeout);
  }

  /** The next stanza received, in arrival order. */
  next(timeout = 5000): Promise<Element> {
    return this.waitFor(() => this.inbox.shift(), 'stanza', timeout);
  }

  /** Resolves once the server closed the connection. */
  whenClosed(timeout = 5000): Promise<void> {
    return within(this.closedP, timeout, 'connection not closed');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Our header, checked byte-exactly except for attribute order: declaration, single quotes, 8 uppercase hex id. */
export function assertServerHeader(text: string, from: string, modern = false): string {
  const m = /^<\?xml version='1\.0'\?><stream:stream((?: [a-z:]+='[^'<>]*')+)>/.exec(text);
  assert.ok(m, `not a 1.4-style server header: ${text}`);
  const attrs = Object.fromEntries([...m[1]!.matchAll(/ ([a-z:]+)='([^']*)'/g)].map((a) => [a[1]!, a[2]!]));
  const expected: Record<string, string> = { 'xmlns:stream': NS_STREAM, id: attrs.id ?? '', xmlns: 'jabber:client', from };
  if (modern) expected.version = '1.0';
  assert.deepEqual(attrs, expected);
  assert.match(attrs.id!, /^[0-9A-F]{8}$/);
  return m[0];
}

/**
 * The connection ended with this stream error: the server's header (with
 * the declaration), the error (the 1.4 text, '*' when SPEC fixes none, and
 * the RFC condition), then </stream:stream>, then the socket closed.
 */
export async function assertStreamError(c: RawClient, text: string, condition: string): Promise<void> {
  await c.whenClosed();
  // SPEC 1: the server's header always comes with the declaration, a refused one too.
  assert.ok(c.text.startsWith("<?xml version='1.0'?><stream:stream "), `no declaration and header first: ${c.text}`);
  assert.ok(c.text.endsWith('</stream:stream>'), `no </stream:stream> at the end of: ${c.text}`);
  const stream = parseXml(c.text);
  assert.equal(stream.name, 'stream:stream');
  const last = stream.elements.at(-1);
  assert.ok(last, `no stream error in: ${c.text}`);
  assertXml(last, `<stream:error>${text}<${condition} xmlns='${NS_STREAMS}'/></stream:error>`);
  if (text === '*') assert.notEqual(last.text(), '', 'stream error without text');
}

/** The same for a ClientStream-like pair: the stream:error element and the raw text received. */
export function assertStreamErrorElement(err: Element, text: string, condition: string): void {
  assertXml(err, `<stream:error>${text}<${condition} xmlns='${NS_STREAMS}'/></stream:error>`);
  if (text === '*') assert.notEqual(err.text(), '', 'stream error without text');
}

/** The records of a user's spool file by xdbns, and its raw text; undefined when there is no file. */
export async function readSpool(
  spool: string,
  host: string,
  user: string,
): Promise<{ text: string; records: Map<string, Element> } | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(spool, hostDirName(host), userFileName(user)), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const root = parseXml(text);
  assert.equal(root.name, 'xdb');
  const records = new Map<string, Element>();
  for (const rec of root.elements) {
    const ns = rec.attrs.xdbns;
    assert.ok(ns, `record without xdbns: ${rec.toString()}`);
    assert.ok(!records.has(ns), `two records for ${ns}`);
    records.set(ns, rec);
  }
  return { text, records };
}

/** A temporary spool holding a copy of test/fixtures/spool14 (the 1.4 files). */
export async function fixtureSpool(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-spool14-'));
  await cp(path.join(FIXTURES, 'spool14'), dir, { recursive: true });
  return dir;
}

/** An error reply as the server sends it: the query echoed, then <error code type>. */
export function errorReplyXml(attrs: string, query: string, code: number, type: string, text = '*'): string {
  return `<iq type='error'${attrs}>${query}<error code='${code}' type='${type}'>${text}</error></iq>`;
}
