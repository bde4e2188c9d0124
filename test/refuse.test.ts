// Refused connections: the refusal text reaches a client that reads it,
// and the socket never holds its descriptor long, however many refused
// peers neither read nor close.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Refusals } from '../src/c2s/refuse.js';

let server: Server;
const accepted: Socket[] = [];

before(async () => {
  // Half-open, as Yak's plain listeners are.
  server = createServer({ allowHalfOpen: true }, (s) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(() => server.close());

/** A client that reads but never closes its side, and the server's socket for it. */
async function halfOpenClient(): Promise<{ client: Socket; socket: Socket; received: () => string }> {
  const client = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  client.setEncoding('utf8').on('data', (d: string) => (text += d));
  client.on('error', () => client.destroy());
  while (accepted.length === 0) await nextTurn();
  return { client, socket: accepted.shift()!, received: () => text };
}

test('past the cap on waiting refusals, a refused socket is closed once its text is written, and the client still reads it all', async () => {
  // A grace far longer than the test: the sockets within the cap stay for all of it.
  const refusals = new Refusals(2, 60_000);
  const peers = [];
  for (let i = 0; i < 5; i++) {
    const peer = await halfOpenClient();
    refusals.refuse(peer.socket, new Set(), 'localhost');
    peers.push(peer);
  }
  try {
    await Promise.all(peers.slice(2).map((p) => (p.socket.destroyed ? undefined : once(p.socket, 'close'))));
    for (const p of peers) {
      if (!p.client.readableEnded) await once(p.client, 'end');
      assert.match(p.received(), /^<\?xml version='1\.0'\?><stream:stream .*<stream:error>Too Many Connections<policy-violation .*<\/stream:error><\/stream:stream>$/);
    }
    assert.deepEqual(
      peers.map((p) => p.socket.destroyed),
      [false, false, true, true, true],
    );
    assert.equal(refusals.lingering, 2);
  } finally {
    for (const p of peers) p.client.destroy();
  }
  // The waiting ones go when their peers close, and free their places.
  await Promise.all(peers.slice(0, 2).map((p) => (p.socket.destroyed ? undefined : once(p.socket, 'close'))));
  assert.equal(refusals.lingering, 0);
});

test('a refused socket within the cap is destroyed after its grace, though its peer never closes', async () => {
  const refusals = new Refusals(2, 50);
  const peer = await halfOpenClient();
  try {
    refusals.refuse(peer.socket, new Set(), 'localhost');
    await once(peer.client, 'end');
    assert.equal(refusals.lingering, 1);
    await once(peer.socket, 'close');
    assert.equal(refusals.lingering, 0);
  } finally {
    peer.client.destroy();
  }
});
