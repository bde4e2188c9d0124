// Direct TLS on the <ssl> listener: the same stream inside the tunnel,
// with our client library and with `openssl s_client`; connections counted
// against the limits from TCP accept, before any handshake, and a deadline
// on the handshake; clear startup errors for a missing or unusable key file.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { ClientStream } from '../src/client/client-stream.js';
import { Element } from '../src/xml/element.js';
import { captureLog } from './helpers/log-capture.js';
import { makeTestKey } from './helpers/tls-key.js';
import { keptAlive } from './helpers/proc-net-tcp.js';
import { authIq, registerUser, startYak, type TestYak } from './helpers/yak.js';

let dir: string;
let pem: string;


function withTls(file: string, more?: (c: TestYak['config']) => void) {
  return (c: TestYak['config']): void => {
    c.c2s.ssl = [{ port: 0, address: '127.0.0.1' }];
    c.tlsKeys = new Map([['127.0.0.1', file]]);
    more?.(c);
  };
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'yak-tls-'));
  pem = makeTestKey(dir).pem;
});
after(() => rm(dir, { recursive: true, force: true }));

describe('direct TLS listener', () => {
  let yak: TestYak;
  let tlsPort: number;
  before(async () => {
    yak = await startYak({ tweak: withTls(pem) });
    tlsPort = yak.server.tlsPorts[0]!;
    await registerUser(yak, 'dj', 'secret');
  });
  after(() => yak.stop());

  test('the client library logs in over TLS exactly as over TCP', async () => {
    const c = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
    assert.match(c.streamId, /^[0-9A-F]{8}$/);
    const reply = await c.request(authIq('dj', 'tls', { password: 'secret' }));
    assert.equal(reply.attrs.type, 'result');
    const wrong = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
    const refused = await wrong.request(authIq('dj', 'tls2', { password: 'nope' }));
    assert.equal(refused.getChild('error')?.attrs.code, '401');
    await c.close();
    await wrong.close();
  });

  test('kept alive as a plain connection is (<keepalive>, on the TCP connection under the tunnel)', async () => {
    // Past the first second after the start, when each connection gets the options itself: this one has the listener's.
    await new Promise((r) => setTimeout(r, 1100));
    const c = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
    try {
      const timer = await keptAlive(tlsPort, c.socket.localPort!);
      assert.equal(timer.timer, 'keepalive');
      assert.ok(timer.seconds! > 100 && timer.seconds! <= 120, JSON.stringify(timer));
    } finally {
      await c.close();
    }
  });

  test('stream errors end the stream inside the tunnel as over TCP: header, error, </stream:stream>, close', async () => {
    const cases: [string, string][] = [
      ["<stream:stream to='elsewhere.example' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", 'Unknown Host<host-unknown'],
      ["<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq><</iq>", 'Invalid XML<not-well-formed'],
    ];
    for (const [sent, error] of cases) {
      const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
      socket.setEncoding('utf8');
      let got = '';
      socket.on('data', (d: string) => (got += d));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
      socket.write(sent);
      await closed;
      assert.match(got, /^<\?xml version='1\.0'\?><stream:stream [^>]*>/);
      assert.ok(got.endsWith(`<stream:error>${error} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`), got);
    }
  });

  test('digest inside the tunnel hashes the id of the header sent in it', async () => {
    const c = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
    const digest = crypto.createHash('sha1').update(c.streamId + 'secret').digest('hex');
    assert.equal((await c.request(authIq('dj', 'tlsdigest', { digest }))).attrs.type, 'result');
    await c.close();
  });

  test('openssl s_client can open a stream and log in', async () => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-quiet'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const seen = (re: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re}; got: ${out}`)), 10_000);
        const check = (): void => {
          if (re.test(out)) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            resolve();
          }
        };
        const onData = (d: string): void => {
          out += d;
          check();
        };
        child.stdout.on('data', onData);
        check();
      });
    try {
      child.stdin.write("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
      await seen(/<stream:stream [^>]*from='localhost'/);
      child.stdin.write(authIq('dj', 'openssl', { password: 'secret' }, 'o1').toString());
      await seen(/<iq type='result' id='o1'\/>/);
      child.stdin.write('</stream:stream>');
      await seen(/<\/stream:stream>$/);
    } finally {
      child.kill();
    }
  });
});

/** What a TLS client reads, until the server closes, after sending `text` and ending its side (close_notify, then FIN). */
async function halfClose(port: number, text: string): Promise<string> {
  // Half-open TCP underneath: the TLS socket takes it over, and stays readable after its own end.
  const tcp = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const socket = tls.connect({ socket: tcp, rejectUnauthorized: false });
  try {
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    let got = '';
    socket.setEncoding('utf8').on('data', (d: string) => (got += d));
    const ended = new Promise<void>((resolve, reject) => socket.once('end', resolve).once('error', reject));
    socket.end(text);
    await ended;
    return got;
  } finally {
    socket.destroy();
    tcp.destroy();
  }
}

describe('a direct-TLS client that half-closes', () => {
  let yak: TestYak;
  let tlsPort: number;
  before(async () => {
    // Every failed login after the first waits 300 ms: its reply is written
    // well after the client's end of stream has arrived.
    yak = await startYak({
      tweak: withTls(pem, (c) => (c.jsm.loginThrottle = { free: 0, baseMs: 300, maxMs: 300, forgetMs: 60_000, exempt: [] })),
    });
    tlsPort = yak.server.tlsPorts[0]!;
  });
  after(() => yak.stop());

  const HEADER = "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
  const guess = (id: string): string => authIq('nobody', 'r', { password: 'guess' }, id).toString();
  const refused = (id: string): string =>
    `<iq type='error' id='${id}'><query xmlns='jabber:iq:auth'><username>nobody</username><password>guess</password><resource>r</resource></query>` +
    "<error code='401' type='auth'>Unauthorized</error></iq>";

  test('gets the replies to what it sent, then </stream:stream>, as over TCP', async () => {
    const got = await halfClose(tlsPort, HEADER + guess('g1') + guess('g2'));
    assert.ok(got.endsWith(refused('g1') + refused('g2') + '</stream:stream>'), got);
  });

  test('gets them too when it sent </stream:stream> first', async () => {
    const got = await halfClose(tlsPort, HEADER + guess('g3') + '</stream:stream>');
    assert.ok(got.endsWith(refused('g3') + '</stream:stream>'), got);
  });
});

/** The raw connections a test opened, closed from our side before the server stops. */
const raw: net.Socket[] = [];

/** A raw TCP connection that never says anything (no ClientHello), open. */
function silentConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    raw.push(s);
    s.on('error', () => s.destroy());
    s.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** Milliseconds until `s` is closed by the server, or a rejection after `ms`. */
function closedWithin(s: net.Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    s.resume();
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

/** Waits (bounded) until the server counts `n` open connections. */
async function counted(yak: TestYak, n: number, address?: string): Promise<void> {
  const until = Date.now() + 3000;
  while (yak.server.openConnections(address) !== n) {
    if (Date.now() > until) assert.fail(`open connections: ${yak.server.openConnections(address)}, expected ${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Stops the server with the test's raw connections closed first (without
 * the fix a pending handshake held stop() forever). Whether stop() waits
 * for those is checked on its own below.
 */
async function stopAfterRaw(yak: TestYak): Promise<void> {
  for (const s of raw.splice(0)) s.destroy();
  await yak.stop();
}

describe('direct TLS and the connection limits', () => {
  test('connections that never start the handshake count against perip from accept; plain ones too; closing them frees the places', async () => {
    const { log, lines } = captureLog();
    const yak = await startYak({ log, tweak: withTls(pem, (c) => (c.c2s.limits.connectionsPerAddress = 3)) });
    const tlsPort = yak.server.tlsPorts[0]!;
    try {
      const held = [await silentConnection(tlsPort), await silentConnection(tlsPort), await silentConnection(tlsPort)];
      await counted(yak, 3, '127.0.0.1');
      // The fourth, TLS or plain, is over the limit: closed at once, not after a handshake timeout.
      const fourth = await silentConnection(tlsPort);
      await closedWithin(fourth, 2000);
      const plain = await ClientStream.connect({ port: yak.port, domain: 'localhost' });
      const err = await plain.next((e) => e.name === 'stream:error');
      assert.equal(err.text(), 'Too Many Connections');
      await plain.whenClosed();
      const refusals = lines.filter((l) => l.msg === 'connection refused');
      assert.equal(refusals.length, 2);
      for (const r of refusals) assert.deepEqual([r.address, r.limit], ['127.0.0.1', 'per-address']);
      await counted(yak, 3, '127.0.0.1');

      for (const s of held) s.destroy();
      await counted(yak, 0);
      const c = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
      const p = await ClientStream.connect({ port: yak.port, domain: 'localhost' });
      assert.equal(c.closed || p.closed, false);
      await counted(yak, 2, '127.0.0.1');
      await c.close();
      await p.close();
      await counted(yak, 0);
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('<rate> counts direct-TLS connections at accept too', async () => {
    const yak = await startYak({ tweak: withTls(pem, (c) => (c.c2s.rate = { points: 2, time: 60 })) });
    const tlsPort = yak.server.tlsPorts[0]!;
    try {
      const a = await silentConnection(tlsPort);
      const b = await silentConnection(tlsPort);
      await counted(yak, 2);
      await closedWithin(await silentConnection(tlsPort), 2000);
      a.destroy();
      b.destroy();
      await counted(yak, 0);
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('a connection that never finishes its handshake is dropped at the deadline (<authtime> when shorter), even when it trickles bytes', async () => {
    const yak = await startYak({ tweak: withTls(pem, (c) => (c.c2s.authtime = 1)) });
    const tlsPort = yak.server.tlsPorts[0]!;
    try {
      const silent = await silentConnection(tlsPort);
      // The start of a TLS record, one byte every 200 ms: activity that an idle timer would take for progress.
      const trickler = await silentConnection(tlsPort);
      const record = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
      let i = 0;
      const drip = setInterval(() => trickler.writable && trickler.write(record.subarray(i, ++i)), 200);
      try {
        const [silentMs, tricklerMs] = await Promise.all([closedWithin(silent, 4000), closedWithin(trickler, 4000)]);
        assert.ok(silentMs > 500 && tricklerMs > 500, `dropped too early: ${silentMs} ms, ${tricklerMs} ms`);
      } finally {
        clearInterval(drip);
      }
      await counted(yak, 0);
      // A real client still gets in, and keeps its stream past the deadline.
      const c = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(c.closed, false);
      await c.close();
      await counted(yak, 0);
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('failed handshakes and finished sessions all give their places back', async () => {
    const yak = await startYak({ tweak: withTls(pem) });
    const tlsPort = yak.server.tlsPorts[0]!;
    try {
      const garbage = await Promise.all(Array.from({ length: 5 }, () => silentConnection(tlsPort)));
      for (const s of garbage) s.write("<stream:stream to='localhost'>");
      await Promise.all(garbage.map((s) => closedWithin(s, 3000)));
      const sessions = await Promise.all(Array.from({ length: 5 }, () => ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true })));
      const reset = await silentConnection(tlsPort);
      await counted(yak, 6);
      reset.resetAndDestroy();
      await Promise.all(sessions.map((c) => c.close()));
      await counted(yak, 0);
    } finally {
      await stopAfterRaw(yak);
    }
  });

  test('stop() closes a connection still in its handshake instead of waiting for it', async () => {
    const yak = await startYak({ tweak: withTls(pem) });
    const pending = await silentConnection(yak.server.tlsPorts[0]!);
    await new Promise((r) => setTimeout(r, 100));
    const stopped = yak.stop();
    const inTime = await Promise.race([stopped.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 8000))]);
    pending.destroy();
    await stopped;
    assert.ok(inTime, 'stop() waited for a pending handshake');
    assert.equal(yak.server.openConnections(), 0);
  });
});

describe('TLS keys on SIGHUP', () => {
  /** The SHA-256 fingerprint of the certificate a new connection gets. */
  function served(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.destroy();
      });
      s.on('error', reject);
    });
  }

  test('a key and certificate renewed in place are served to new connections; sessions already up go on', async () => {
    const own = await mkdtemp(path.join(dir, 'renew-'));
    const live = path.join(own, 'live.pem');
    await copyFile(pem, live);
    const yak = await startYak({ tweak: withTls(live) });
    try {
      const port = yak.server.tlsPorts[0]!;
      await registerUser(yak, 'renew', 'secret');
      const before = await served(port);
      const session = await ClientStream.connect({ port, domain: 'localhost', tls: true });
      assert.equal((await session.request(authIq('renew', 'r', { password: 'secret' }))).attrs.type, 'result');

      // Nothing changed: nothing applied.
      assert.doesNotMatch(yak.server.reload({ ...yak.server.config }).applied.join(), /TLS/);
      // certbot's way: a new file at the same path.
      const renewed = makeTestKey(await mkdtemp(path.join(dir, 'new-')));
      await copyFile(renewed.pem, live);
      const result = yak.server.reload({ ...yak.server.config });
      assert.deepEqual(result.applied, ['TLS keys']);
      assert.deepEqual(result.needsRestart, []);
      const after = await served(port);
      assert.notEqual(after, before);
      assert.equal(after, new crypto.X509Certificate(await readFile(renewed.cert)).fingerprint256);
      const roster = new Element('iq', { type: 'get', id: 'r2' }, [new Element('query', { xmlns: 'jabber:iq:roster' })]);
      assert.equal((await session.request(roster)).attrs.type, 'result', 'the session already up still answers');
      await session.close();
    } finally {
      await yak.stop();
    }
  });

  test('two listeners under one name (port 0 twice on one address) both serve the renewed key', async () => {
    const own = await mkdtemp(path.join(dir, 'twice-'));
    const live = path.join(own, 'live.pem');
    await copyFile(pem, live);
    const yak = await startYak({ tweak: withTls(live, (c) => (c.c2s.ssl = [{ port: 0, address: '127.0.0.1' }, { port: 0, address: '127.0.0.1' }])) });
    try {
      const ports = yak.server.tlsPorts;
      assert.equal(ports.length, 2);
      const renewed = makeTestKey(await mkdtemp(path.join(dir, 'new-')));
      await copyFile(renewed.pem, live);
      assert.deepEqual(yak.server.reload({ ...yak.server.config }).applied, ['TLS keys']);
      const expected = new crypto.X509Certificate(await readFile(renewed.cert)).fingerprint256;
      for (const port of ports) assert.equal(await served(port), expected, `port ${port} kept the old key`);
    } finally {
      await yak.stop();
    }
  });

  test('a key file that cannot be used at reload is logged, and the old key stays', { timeout: 60_000 }, async () => {
    const own = await mkdtemp(path.join(dir, 'broken-'));
    const live = path.join(own, 'live.pem');
    await copyFile(pem, live);
    const { log, lines } = captureLog();
    const yak = await startYak({ log, tweak: withTls(live) });
    try {
      const port = yak.server.tlsPorts[0]!;
      const before = await served(port);
      await writeFile(live, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
      assert.deepEqual(yak.server.reload({ ...yak.server.config }).applied, []);
      assert.ok(lines.some((l) => l.msg === 'TLS keys not reloaded: the old ones stay' && /holds no certificate/.test(String(l.err))), JSON.stringify(lines.slice(-3)));
      assert.equal(await served(port), before);
      // A FIFO in its place: refused without waiting for a writer. (One
      // writes it 3 s on, so a read that waits fails this test, not hangs it.)
      await rm(live);
      execFileSync('mkfifo', [live]);
      const writer = spawn('sh', ['-c', `sleep 3; printf x > '${live}'`], { stdio: 'ignore' });
      try {
        assert.deepEqual(yak.server.reload({ ...yak.server.config }).applied, []);
      } finally {
        writer.kill('SIGKILL');
      }
      assert.ok(lines.some((l) => l.msg === 'TLS keys not reloaded: the old ones stay' && /live\.pem is not a regular file/.test(String(l.err))), JSON.stringify(lines.slice(-3)));
      assert.equal(await served(port), before);
      // A new path in the config is taken too.
      const moved = makeTestKey(await mkdtemp(path.join(dir, 'moved-')));
      const result = yak.server.reload({ ...yak.server.config, tlsKeys: new Map([['127.0.0.1', moved.pem]]) });
      assert.deepEqual(result.applied, ['TLS keys']);
      assert.equal(await served(port), new crypto.X509Certificate(await readFile(moved.cert)).fingerprint256);
    } finally {
      await yak.stop();
    }
  });
});

describe('TLS startup errors', () => {
  test('a missing key file stops startup with a message naming <key>', async () => {
    await assert.rejects(startYak({ tweak: withTls(path.join(dir, 'absent.pem')) }), /<key ip='127\.0\.0\.1'>: cannot read .*absent\.pem/);
  });

  test('a device in the key file\'s place is refused, not read', { timeout: 60_000 }, async () => {
    await assert.rejects(startYak({ tweak: withTls('/dev/zero') }), /<key ip='127\.0\.0\.1'>: \/dev\/zero is not a regular file/);
  });

  test('a huge file in the key file\'s place is refused by its size, not read (3 GB, sparse)', { timeout: 60_000 }, async () => {
    const huge = path.join(dir, 'huge.pem');
    execFileSync('truncate', ['-s', '3G', huge]);
    try {
      await assert.rejects(startYak({ tweak: withTls(huge) }), /<key ip='127\.0\.0\.1'>: .*huge\.pem is larger than 1 MiB, which no key and certificate need/);
    } finally {
      await rm(huge);
    }
  });

  test('a file without a private key is refused', async () => {
    const certOnly = path.join(dir, 'cert.pem');
    await assert.rejects(startYak({ tweak: withTls(certOnly) }), /holds no private key/);
  });

  test('a corrupt key is refused', async () => {
    const bad = path.join(dir, 'bad.pem');
    await writeFile(bad, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await assert.rejects(startYak({ tweak: withTls(bad) }), /not a usable key and certificate/);
  });
});
