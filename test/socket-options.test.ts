// The TCP options of client connections (src/net/socket-options.ts), set
// on the listeners. TCP keepalive (<limits><keepalive>, Yak): a client gone
// without a word (machine off, network lost) is found and its session
// ended, so that its contacts stop seeing it and messages for it go to
// offline storage instead of into a socket nobody reads. No delay: replies
// are not held back by Nagle's algorithm.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { setKeepalive, setNoDelay } from '../src/net/socket-options.js';
import { tcpOptions } from './helpers/tcp-options.js';
import { keptAlive, type KeepaliveTimer } from './helpers/proc-net-tcp.js';
import { inOwnNetwork } from './helpers/own-network.js';
import type { VanishReport } from './helpers/vanishing-client.js';
import { assertXml } from './helpers/xml-assert.js';
import { BUNDLED_CONFIG, startYak } from './helpers/yak.js';

const within = (t: KeepaliveTimer, low: number, high: number): boolean => t.timer === 'keepalive' && t.seconds! > low && t.seconds! <= high;

test('every client connection is kept alive as <keepalive> says, by default after 120 s without a packet; SIGHUP changes it on open ones, and back', async () => {
  const yak = await startYak();
  try {
    assert.equal(yak.config.c2s.limits.keepaliveSeconds, 120);
    const client = await yak.connect();
    const first = await keptAlive(yak.port, client.socket.localPort!);
    assert.ok(within(first, 100, 120), JSON.stringify(first));

    const fresh = loadConfig(BUNDLED_CONFIG, { spool: yak.spool });
    fresh.c2s.listen = yak.config.c2s.listen;
    fresh.pidfile = undefined;
    fresh.c2s.limits.keepaliveSeconds = 30;
    assert.deepEqual(yak.server.reload(fresh).applied, ['<limits>']);
    const shorter = await keptAlive(yak.port, client.socket.localPort!);
    assert.ok(within(shorter, 10, 30), JSON.stringify(shorter));
    // A connection opened after the reload takes the new time too, from the listener (past the settling second).
    await new Promise((r) => setTimeout(r, 1100));
    const later = await keptAlive(yak.port, (await yak.connect()).socket.localPort!);
    assert.ok(within(later, 10, 30), JSON.stringify(later));

    // And back: open connections and new ones take the old time again.
    fresh.c2s.limits = { ...fresh.c2s.limits, keepaliveSeconds: 120 };
    yak.server.reload(fresh);
    assert.ok(within(await keptAlive(yak.port, client.socket.localPort!), 100, 120));
    const back = await keptAlive(yak.port, (await yak.connect()).socket.localPort!);
    assert.ok(within(back, 100, 120), JSON.stringify(back));

    fresh.c2s.limits = { ...fresh.c2s.limits, keepaliveSeconds: 0 };
    yak.server.reload(fresh);
    assert.deepEqual(await keptAlive(yak.port, client.socket.localPort!), { timer: 'none' });
    assert.deepEqual(await keptAlive(yak.port, (await yak.connect()).socket.localPort!), { timer: 'none' });
  } finally {
    await yak.stop();
  }
});

test('the server\'s end of a client connection: no delay, and keepalive probes 1 s apart, 10 of them, as README says', async () => {
  const yak = await startYak();
  try {
    // Past the first second, when connections get the options each (Acceptor's settlingUntil): these come from the listener.
    await new Promise((r) => setTimeout(r, 1100));
    const client = await yak.connect();
    // The acceptor's own record of the sockets it admitted: the test's only way to the server's end.
    const admitted = (yak.server as unknown as { acceptor: { sockets: Set<net.Socket> } }).acceptor.sockets;
    const end = [...admitted].find((s) => s.remotePort === client.socket.localPort);
    assert.ok(end, 'the acceptor holds the connection');
    assert.deepEqual(await tcpOptions(end), { nodelay: 1, keepalive: 1, idle: 120, interval: 1, probes: 10 });
  } finally {
    await yak.stop();
  }
});

test('a logged-in client that vanishes without a word is found: the session ends (logged as ETIMEDOUT), and a message sent to it meanwhile waits offline', { timeout: 90_000 }, async () => {
  // In a network namespace of its own, whose loopback the helper may take down.
  const report = await inOwnNetwork<VanishReport>('vanishing-client.js', 'vanishingClient', [1], 80_000);
  assert.equal(report.closed.error, 'ETIMEDOUT', JSON.stringify(report));
  assert.equal(report.delivered.length, 1);
  assertXml(
    report.delivered[0]!,
    "<message to='ghost@localhost' id='m1' from='friend@localhost/Work'><body>still there?</body>" +
      "<x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Offline Storage</x></message>",
  );
});

test('a client that vanishes while a message is on its way to it: the retransmission gives up, the session ends, and the message waits offline with the later one', { timeout: 90_000 }, async () => {
  const report = await inOwnNetwork<VanishReport>('vanishing-client.js', 'vanishingClient', [60, true], 80_000);
  // Found long before keepalive's 60 s would: by the retransmission.
  assert.ok(report.foundAfterMs < 40_000, JSON.stringify(report));
  assert.ok(report.closed.error !== undefined, JSON.stringify(report));
  assert.equal(report.delivered.length, 2, JSON.stringify(report));
  assertXml(
    report.delivered[0]!,
    "<message from='friend@localhost/Work' to='ghost@localhost/Work' id='m0'><body>lost on the way?</body>" +
      "<x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Offline Storage</x></message>",
  );
  assertXml(report.delivered[1]!, "<message to='ghost@localhost' id='m1' from='friend@localhost/Work'><body>still there?</body><x xmlns='jabber:x:delay' from='ghost@localhost' stamp='*'>Offline Storage</x></message>");
});

test('setKeepalive and setNoDelay: on a listener, what it accepts from then on inherits them; on an open socket they change that one', async () => {
  const server = net.createServer();
  assert.equal(setKeepalive(server, 40), false, 'a listener not listening yet has nothing to set it on');
  assert.equal(setNoDelay(server), false);
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const connect = async (): Promise<net.Socket> => {
    const c = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => c.once('connect', resolve));
    while (accepted.length === 0 || accepted.at(-1)!.remotePort !== c.localPort) await new Promise((r) => setTimeout(r, 5));
    return c;
  };
  const clients: net.Socket[] = [];
  try {
    clients.push(await connect());
    assert.deepEqual(await keptAlive(port, clients[0]!.localPort!), { timer: 'none' });
    assert.equal((await tcpOptions(accepted[0]!)).nodelay, 0);
    assert.equal(setKeepalive(server, 40), true);
    assert.equal(setNoDelay(server), true);
    clients.push(await connect());
    assert.ok(within(await keptAlive(port, clients[1]!.localPort!), 30, 40));
    assert.deepEqual(await tcpOptions(accepted[1]!), { nodelay: 1, keepalive: 1, idle: 40, interval: 1, probes: 10 });
    assert.equal((await tcpOptions(accepted[0]!)).nodelay, 0, 'one accepted before keeps what it had');
    assert.equal(setNoDelay(accepted[0]!), true);
    assert.equal((await tcpOptions(accepted[0]!)).nodelay, 1);
    assert.deepEqual(await keptAlive(port, clients[0]!.localPort!), { timer: 'none' }, 'one accepted before keeps what it had');
    assert.equal(setKeepalive(accepted[0]!, 20), true);
    assert.ok(within(await keptAlive(port, clients[0]!.localPort!), 10, 20));
    // Off again, on a socket Node's own record says was never on.
    assert.equal(setKeepalive(accepted[1]!, 0), true);
    assert.deepEqual(await keptAlive(port, clients[1]!.localPort!), { timer: 'none' });
  } finally {
    for (const c of [...clients, ...accepted]) c.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
