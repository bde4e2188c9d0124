// Connection's output: what one turn of the event loop writes to a client
// leaves in one socket write, in order, and nothing is lost at end().
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Connection } from '../src/net/connection.js';

let server: Server;
const accepted: Socket[] = [];

before(async () => {
  server = createServer((s) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(() => server.close());

/** A server-side Connection whose socket.write calls are recorded, and the client socket reading it. */
async function pair(outputBytes = 1 << 20, onOverflow?: () => void): Promise<{ conn: Connection; writes: string[]; client: Socket; received: () => string }> {
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  let text = '';
  client.setEncoding('utf8').on('data', (d: string) => (text += d));
  while (accepted.length === 0) await nextTurn();
  const socket = accepted.shift()!;
  const writes: string[] = [];
  const write = socket.write.bind(socket) as (chunk: string) => boolean;
  socket.write = ((chunk: string) => {
    writes.push(chunk);
    return write(chunk);
  }) as typeof socket.write;
  const conn = new Connection(socket, { karma: undefined, outputBytes, onOverflow });
  conn.attach({ text: () => {}, badEncoding: () => {}, closed: () => {} });
  return { conn, writes, client, received: () => text };
}

test('writes made in one turn go out as one socket write, in order', async () => {
  const { conn, writes, client, received } = await pair();
  conn.write('<a/>');
  conn.write('<b/>');
  conn.write('<c/>');
  assert.deepEqual(writes, [], 'nothing is written before the turn ends');
  await nextTurn();
  assert.deepEqual(writes, ['<a/><b/><c/>']);
  conn.write('<d/>');
  await nextTurn();
  assert.deepEqual(writes, ['<a/><b/><c/>', '<d/>']);
  while (received().length < 16) await nextTurn();
  assert.equal(received(), '<a/><b/><c/><d/>');
  client.destroy();
});

test('end() sends what is still queued before its own text', async () => {
  const { conn, client, received } = await pair();
  conn.write('<message/>');
  conn.end('</stream:stream>');
  await once(client, 'end');
  assert.equal(received(), '<message/></stream:stream>');
  client.destroy();
});

test('more queued output than the bound cuts the client off', async () => {
  let overflowed = 0;
  const { conn, client } = await pair(100, () => overflowed++);
  conn.write('x'.repeat(60));
  assert.equal(conn.isOpen, true);
  conn.write('x'.repeat(60));
  assert.equal(overflowed, 1);
  assert.equal(conn.isOpen, false);
  await once(client, 'close');
});
