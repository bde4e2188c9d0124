// Edges of the connection layer: direct TLS before and after its
// handshake, the budgets that bound what remote clients can make the
// server hold, and SIGHUP reloads that must leave a running server
// serving the hosts it serves; and the stream ids live streams hold.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { ClientStream } from '../src/client/client-stream.js';
import { parseConfig } from '../src/config/load.js';
import { clientHelloProgress } from '../src/net/client-hello.js';
import { bundledConfigText } from './helpers/daemon.js';
import { captureLog, logLine } from './helpers/log-capture.js';
import { makeTestKey } from './helpers/tls-key.js';
import { authIq, BUNDLED_CONFIG, registerIq, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertStreamErrorElement } from './helpers/transcript.js';

let dir: string;
let pem: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'yak-conn-edges-'));
  pem = makeTestKey(dir).pem;
});
after(() => rm(dir, { recursive: true, force: true }));

function withTls(more?: (c: TestYak['config']) => void) {
  return (c: TestYak['config']): void => {
    c.c2s.ssl = [{ port: 0, address: '127.0.0.1' }];
    c.tlsKeys = new Map([['127.0.0.1', pem]]);
    more?.(c);
  };
}

/** Raw connections a test opened, destroyed before its server stops. */
const raw: net.Socket[] = [];

/** A raw TCP connection from `localAddress`, open; `first` is sent at once. */
function rawConnection(port: number, localAddress: string, first?: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => {
      if (first) s.write(first);
      resolve(s);
    });
    raw.push(s);
    s.on('error', () => s.destroy());
    s.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** Resolves once the server has closed `s`; rejects after a generous `ms` (a hang, not a timing check). */
function closedBy(s: net.Socket, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    s.resume();
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Waits (bounded) until `ok()` holds. */
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stopAfterRaw(yak: TestYak): Promise<void> {
  for (const s of raw.splice(0)) s.destroy();
  await yak.stop();
}

/**
 * The first 9 bytes of a TLS ClientHello record whose handshake header
 * claims a message of `length` bytes. OpenSSL allocates (and zeroes) a
 * buffer of that size for it at once: 128 KiB for these 9 bytes.
 */
function helloHeader(length: number): Buffer {
  return Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff]);
}

describe('direct TLS: connections still in their handshake', () => {
  test('count against <preauthmemory>: past it the address holding the most loses them, and a client elsewhere still logs in', async () => {
    const { log, lines } = captureLog();
    // The smallest budget there is, and no deadline soon (<authtime> 0: 20 s).
    const yak = await startYak({ log, tweak: withTls((c) => ((c.c2s.limits.preAuthMemory = 1 << 20), (c.c2s.authtime = 0))) });
    const port = yak.server.tlsPorts[0]!;
    try {
      await registerUser(yak, 'dj', 'secret');
      // 40 handshakes that never go on, each after a ClientHello's first bytes.
      const stuck = await Promise.all(Array.from({ length: 40 }, () => rawConnection(port, '127.0.0.2', helloHeader(1000))));
      await until('the budget closed some of them', () => stuck.some((s) => s.destroyed));
      await logLine({ log, lines }, (l) => l.msg === 'connections not logged in hold too much: closing the largest from the address holding the most' && l.address === '127.0.0.2');
      assert.ok(yak.server.openConnections('127.0.0.2') < 20, `${yak.server.openConnections('127.0.0.2')} handshakes still held`);
      const c = await ClientStream.connect({ port, domain: 'localhost', tls: { localAddress: '127.0.0.3' } as tls.ConnectionOptions });
      assert.equal((await c.request(authIq('dj', 'tls', { password: 'secret' }))).attrs.type, 'result');
      await c.close();
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('a ClientHello claiming more than a real one ever needs is refused at once, not held until the deadline', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({ log, tweak: withTls((c) => (c.c2s.authtime = 0)) });
    const port = yak.server.tlsPorts[0]!;
    try {
      const big = await rawConnection(port, '127.0.0.2', helloHeader(0x20100));
      await closedBy(big);
      await logLine({ log, lines }, (l) => l.msg === 'not a TLS handshake we take: closed' && l.address === '127.0.0.2' && /ClientHello/.test(String(l.reason)));
      // Plain XML on the TLS port: closed at once too, with the reason logged.
      const plain = await rawConnection(port, '127.0.0.2', Buffer.from("<stream:stream to='localhost'>"));
      await closedBy(plain);
      await until('both places given back', () => yak.server.openConnections() === 0);
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('a handshake that never finishes gets one log line with why: refused by OpenSSL, past its deadline, or closed by the client', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({ log, tweak: withTls((c) => (c.c2s.authtime = 1)) });
    const port = yak.server.tlsPorts[0]!;
    const failed = (address: string, reason: RegExp) =>
      logLine({ log, lines }, (l) => l.msg === 'TLS handshake failed: closed' && l.address === address && reason.test(String(l.reason)));
    try {
      // A TLS 1.0 client: OpenSSL answers with a protocol_version alert.
      const old = tls.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2', minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false } as tls.ConnectionOptions);
      await new Promise<void>((resolve) => old.once('error', () => resolve()).once('close', () => resolve()));
      await failed('127.0.0.2', /PROTOCOL|VERSION/i);
      // Silent past the deadline (<authtime> 1 s here).
      await closedBy(await rawConnection(port, '127.0.0.3'));
      await failed('127.0.0.3', /^not finished within 1 s$/);
      // Opened and closed before a ClientHello.
      (await rawConnection(port, '127.0.0.4')).destroy();
      await failed('127.0.0.4', /^closed by the client$/);
      // One line each.
      await until('every place given back', () => yak.server.openConnections() === 0);
      assert.equal(lines.filter((l) => l.msg === 'TLS handshake failed: closed').length, 3, JSON.stringify(lines.filter((l) => /TLS/.test(String(l.msg)))));
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('handshakes the stop cuts short are said before `stopped`, within the address\'s share of the log', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({ log, tweak: withTls((c) => (c.c2s.authtime = 0)) });
    const port = yak.server.tlsPorts[0]!;
    try {
      // 25 from one address: 20 lines, and the other 5 counted.
      for (let i = 0; i < 25; i++) await rawConnection(port, '127.0.0.2');
      await until('all admitted', () => yak.server.openConnections('127.0.0.2') === 25);
    } finally {
      await yak.stop();
      for (const s of raw.splice(0)) s.destroy();
    }
    const stopped = lines.findIndex((l) => l.msg === 'stopped');
    const said = lines.slice(0, stopped).filter((l) => l.msg === 'TLS handshake failed: closed' && l.reason === 'the server stopped');
    assert.equal(said.length, 20, JSON.stringify(lines.slice(-5)));
    assert.ok(lines.slice(0, stopped).some((l) => l.address === '127.0.0.2' && l.leftOut === 5), 'the lines left out were not counted before the stop');
  });

  test('once its handshake is done, a TLS connection counts what its tunnel holds until it logs in', async () => {
    const yak = await startYak({ tweak: withTls((c) => (c.c2s.karma = undefined)) });
    const preAuth = (yak.server as unknown as { context: { preAuth: { used: number } } }).context.preAuth;
    try {
      await registerUser(yak, 'tunnel', 'secret');
      // Handshakes done, nothing sent yet: each tunnel counts all the same.
      const idle = await Promise.all(
        [1, 2].map(
          () =>
            new Promise<tls.TLSSocket>((resolve, reject) => {
              const t = tls.connect({ port: yak.server.tlsPorts[0]!, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(t));
              t.once('error', reject);
            }),
        ),
      );
      await until('the idle tunnels counted', () => preAuth.used === 2 * 32 * 1024);
      for (const t of idle) t.destroy();
      await until('closed tunnels no longer counted', () => preAuth.used === 0);
      const c = await ClientStream.connect({ port: yak.server.tlsPorts[0]!, domain: 'localhost', tls: true });
      // The header is answered: the stream counts the tunnel and what it holds, the handshake no longer.
      await until('the tunnel counted', () => preAuth.used >= 32 * 1024);
      assert.ok(preAuth.used < 64 * 1024, `${preAuth.used}`);
      assert.equal((await c.request(authIq('tunnel', 'r', { password: 'secret' }))).attrs.type, 'result');
      await until('a session no longer counted before login', () => preAuth.used === 0);
      await c.close();
    } finally {
      await yak.stop();
    }
  });

  test('a ClientHello that arrives a few bytes at a time still makes a session', async () => {
    const yak = await startYak({ tweak: withTls() });
    const port = yak.server.tlsPorts[0]!;
    // A proxy that passes the client's first 600 bytes on in 7-byte writes, then everything as it comes.
    const proxy = net.createServer((inbound) => {
      const out = net.connect({ port, host: '127.0.0.1' });
      out.setNoDelay(true);
      let passed = 0;
      inbound.on('data', (d: Buffer) => {
        for (let i = 0; i < d.length; ) {
          const n = passed < 600 ? 7 : d.length - i;
          out.write(d.subarray(i, i + n));
          i += n;
          passed += n;
        }
      });
      out.pipe(inbound);
      inbound.on('error', () => out.destroy());
      out.on('error', () => inbound.destroy());
      inbound.on('close', () => out.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      await registerUser(yak, 'slow', 'secret');
      const c = await ClientStream.connect({ port: (proxy.address() as net.AddressInfo).port, domain: 'localhost', tls: true });
      assert.equal((await c.request(authIq('slow', 'r', { password: 'secret' }))).attrs.type, 'result');
      await c.close();
    } finally {
      proxy.close();
      await yak.stop();
    }
  });
});

describe('direct TLS: after the handshake', () => {
  test('a client cannot renegotiate (a new handshake no deadline or budget covers)', async () => {
    const yak = await startYak({ tweak: withTls() });
    const port = yak.server.tlsPorts[0]!;
    try {
      await registerUser(yak, 'reneg', 'secret');
      const c = await ClientStream.connect({ port, domain: 'localhost', tls: { maxVersion: 'TLSv1.2' } });
      const socket = c.socket as tls.TLSSocket;
      const outcome = await new Promise<Error | null>((resolve) => {
        socket.once('error', resolve);
        socket.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err ?? null));
      });
      assert.ok(outcome instanceof Error, 'the renegotiation went through');
      // The server goes on serving others.
      const d = await ClientStream.connect({ port, domain: 'localhost', tls: true });
      assert.equal((await d.request(authIq('reneg', 'r', { password: 'secret' }))).attrs.type, 'result');
      await d.close();
    } finally {
      await yak.stop();
    }
  });
});

describe('SIGHUP and hosts', () => {
  test('an alias to a host the same reload adds (hosts need a restart) waits for the restart too: users of the served host can still log in', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({ log });
    try {
      await registerUser(yak, 'dj', 'secret');
      // The operator adds a host and makes it the default alias.
      const text = bundledConfigText()
        .replace('<host><jabberd:cmdline', '<host>example.org</host><host><jabberd:cmdline')
        .replace("<ip port='0'>127.0.0.1</ip>", "<ip port='0'>127.0.0.1</ip><alias to='example.org'/>");
      const result = yak.server.reload(parseConfig(text, BUNDLED_CONFIG, { spool: yak.spool }));
      assert.ok(result.needsRestart.includes('hosts'), JSON.stringify(result));
      assert.ok(result.needsRestart.some((s) => s.startsWith('<alias>')), JSON.stringify(result));
      assert.ok(!result.applied.includes('<alias>'), JSON.stringify(result));
      const c = await ClientStream.connect({ port: yak.port, domain: 'localhost' });
      assert.equal(c.header?.from, 'localhost');
      assert.equal((await c.request(authIq('dj', 'r', { password: 'secret' }))).attrs.type, 'result');
      await c.close();
      assert.ok(lines.some((l) => l.msg === 'configuration reloaded'));
    } finally {
      await yak.stop();
    }
  });
});

describe('SIGHUP and connections already open', () => {
  test('an <authtime> set by SIGHUP reaches connections that were waiting without one (counted from when they opened)', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.authtime = 0) });
    try {
      const idle = await yak.connect();
      const text = bundledConfigText().replace('<authtime>120</authtime>', '<authtime>1</authtime>');
      assert.ok(yak.server.reload(parseConfig(text, BUNDLED_CONFIG, { spool: yak.spool })).applied.includes('<authtime>'));
      const err = await idle.next((e) => e.name === 'stream:error', 10_000);
      assert.equal(err.text(), 'Timeout waiting for authentication');
      await idle.whenClosed();
    } finally {
      await yak.stop();
    }
  });

  test('counted on a clock that only moves forward: a wall clock stepped forward an hour closes nobody at the reload', async () => {
    const yak = await startYak({ tweak: (c) => (c.c2s.authtime = 0) });
    const realNow = Date.now;
    let step = 0;
    Date.now = () => realNow() + step;
    try {
      const waiting = await yak.connect();
      step = 3_600_000;
      const text = bundledConfigText().replace('<authtime>120</authtime>', '<authtime>60</authtime>');
      assert.ok(yak.server.reload(parseConfig(text, BUNDLED_CONFIG, { spool: yak.spool })).applied.includes('<authtime>'));
      // Still open a second later, and still able to log in.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal((await waiting.request(registerIq('stepped', 'secret'))).attrs.type, 'result');
    } finally {
      Date.now = realNow;
      await yak.stop();
    }
  });

  test('an <idle> set by SIGHUP reaches sessions already logged in', async () => {
    const yak = await startYak();
    try {
      await registerUser(yak, 'quiet', 'secret');
      const c = await yak.connect();
      assert.equal((await c.request(authIq('quiet', 'r', { password: 'secret' }))).attrs.type, 'result');
      const text = bundledConfigText().replace("<ip port='0'>127.0.0.1</ip>", "<ip port='0'>127.0.0.1</ip><limits><idle>1</idle></limits>");
      assert.ok(yak.server.reload(parseConfig(text, BUNDLED_CONFIG, { spool: yak.spool })).applied.includes('<limits>'));
      const err = await c.next((e) => e.name === 'stream:error', 10_000);
      // 1.4's text, with the RFC 3920 condition a newer client goes by.
      assertStreamErrorElement(err, 'Idle Timeout', 'connection-timeout');
      await c.whenClosed();
    } finally {
      await yak.stop();
    }
  });
});

describe('SIGHUP and the sizes a client may send', () => {
  const lowered = (limits: string): string => bundledConfigText().replace("<ip port='0'>127.0.0.1</ip>", `<ip port='0'>127.0.0.1</ip><limits>${limits}</limits>`);

  test('a lower <stanza> or <depth> reaches sessions already logged in, at their next stanza', async () => {
    const yak = await startYak();
    try {
      await registerUser(yak, 'big', 'secret');
      await registerUser(yak, 'deep', 'secret');
      const big = await yak.connect();
      const deep = await yak.connect();
      assert.equal((await big.request(authIq('big', 'r', { password: 'secret' }))).attrs.type, 'result');
      assert.equal((await deep.request(authIq('deep', 'r', { password: 'secret' }))).attrs.type, 'result');
      assert.ok(yak.server.reload(parseConfig(lowered('<stanza>200</stanza><depth>4</depth>'), BUNDLED_CONFIG, { spool: yak.spool })).applied.includes('<limits>'));
      big.sendRaw(`<message to='deep@localhost/r'><body>${'x'.repeat(400)}</body></message>`);
      assertStreamErrorElement(await big.next((e) => e.name === 'stream:error'), 'Stanza Too Large', 'policy-violation');
      deep.sendRaw("<message to='big@localhost/r'><body><a><b><c>x</c></b></a></body></message>");
      assertStreamErrorElement(await deep.next((e) => e.name === 'stream:error'), 'Stanza Nested Too Deeply', 'policy-violation');
      await Promise.all([big.whenClosed(), deep.whenClosed()]);
    } finally {
      await yak.stop();
    }
  });

  test('a lower <preauthstanza> or <queue> reaches connections not logged in yet', async () => {
    const yak = await startYak();
    try {
      const big = await yak.connect();
      const queued = await yak.connect();
      const text = lowered("<preauthstanza>200</preauthstanza><queue stanzas='1' bytes='65536'/>");
      assert.ok(yak.server.reload(parseConfig(text, BUNDLED_CONFIG, { spool: yak.spool })).applied.includes('<limits>'));
      big.sendRaw(`<message to='dj@localhost'><body>${'x'.repeat(400)}</body></message>`);
      assertStreamErrorElement(await big.next((e) => e.name === 'stream:error'), 'Stanza Too Large', 'policy-violation');
      // Two messages before login: the second does not fit a queue of one.
      queued.sendRaw("<message to='dj@localhost'><body>1</body></message><message to='dj@localhost'><body>2</body></message>");
      assertStreamErrorElement(await queued.next((e) => e.name === 'stream:error'), 'Too Many Packets Before Authentication', 'policy-violation');
      await Promise.all([big.whenClosed(), queued.whenClosed()]);
    } finally {
      await yak.stop();
    }
  });
});

describe('stream ids', () => {
  /** Reads from `s` until `re` matches what came so far; the match. */
  function readUntil(s: net.Socket, re: RegExp): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`no ${re} within 10 s; got ${text}`)), 10_000);
      const onData = (d: Buffer): void => {
        text += d.toString('utf8');
        const m = text.match(re);
        if (!m) return;
        clearTimeout(timer);
        s.off('data', onData);
        resolve(m);
      };
      s.on('data', onData);
    });
  }
  const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>";

  test('an id freed when its stream ends is not freed again when the socket goes: a new stream given it meanwhile keeps it', async () => {
    const yak = await startYak();
    // What the test reaches into: the live ids, the id maker, the streams open.
    const server = yak.server as unknown as { streamIds: Set<string>; newStreamId(): string; streams: Set<unknown> };
    try {
      const a = await rawConnection(yak.port, '127.0.0.1');
      a.write(HEADER);
      const id = (await readUntil(a, / id='([0-9A-F]{8})'/))[1]!;
      // a ends its stream but keeps its socket open: the server frees the id now.
      a.write('</stream:stream>');
      await readUntil(a, /<\/stream:stream>/);
      assert.equal(server.streamIds.has(id), false);
      // The next id drawn happens to be the same one (1 in 2^32 at random).
      const draw = server.newStreamId;
      server.newStreamId = () => {
        server.newStreamId = draw;
        server.streamIds.add(id);
        return id;
      };
      const b = await rawConnection(yak.port, '127.0.0.1');
      b.write(HEADER);
      assert.equal((await readUntil(b, / id='([0-9A-F]{8})'/))[1], id);
      // Now a's socket goes.
      a.end();
      for (let i = 0; server.streams.size > 1; i++) {
        assert.ok(i < 1000, 'the server did not see the first socket go');
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(server.streamIds.has(id), true, "the second stream's id was freed with the first one's socket");
    } finally {
      await yak.stop();
    }
  });
});

describe('clientHelloProgress', () => {
  /** A handshake record carrying `body`. */
  const record = (body: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, body.length >> 8, body.length & 0xff]), body]);
  const hello = (length: number): Buffer => Buffer.concat([Buffer.from([0x01, 0, length >> 8, length & 0xff]), Buffer.alloc(length, 7)]);

  test('a ClientHello in one record, or split over two, is whole once its last byte is in', () => {
    const one = record(hello(300));
    assert.deepEqual(clientHelloProgress(one), { done: true, bytes: one.length });
    assert.deepEqual(clientHelloProgress(one.subarray(0, 100)), { done: false, need: one.length });
    const msg = hello(300);
    const two = Buffer.concat([record(msg.subarray(0, 2)), record(msg.subarray(2))]);
    assert.deepEqual(clientHelloProgress(two.subarray(0, 7)), { done: false, need: 12 });
    assert.deepEqual(clientHelloProgress(two), { done: true, bytes: two.length });
  });

  test('plain text, another handshake message, or a ClientHello over 16 KiB is refused from its first bytes', () => {
    assert.ok('refused' in clientHelloProgress(Buffer.from('<')));
    assert.ok('refused' in clientHelloProgress(record(Buffer.from([0x02, 0, 0, 1, 0]))));
    assert.ok('refused' in clientHelloProgress(record(Buffer.from([0x01, 0, 0x40, 0x01])).subarray(0, 9)));
    assert.ok('refused' in clientHelloProgress(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])), 'a record over 16 KiB');
  });
});
