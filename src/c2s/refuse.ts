// A connection over a limit (rate, per address, total) gets a stream header
// and a policy-violation stream error at once, instead of a silent close,
// so the client can tell the user why.
import type { Socket } from 'node:net';
import { destroyLater } from '../net/destroy-later.js';
import { randomHex } from '../util/hash.js';
import { serverHeader } from './header.js';
import { streamError } from './stream-errors.js';

export function refuseConnection(socket: Socket, liveIds: ReadonlySet<string>, host: string): void {
  let id: string;
  do id = randomHex(4);
  while (liveIds.has(id));
  socket.on('error', () => socket.destroy());
  // Read and drop whatever comes, so the peer's close is seen and the socket goes.
  socket.resume();
  socket.end(serverHeader(id, host, false) + streamError('connection-limit').toString() + '</stream:stream>');
  destroyLater(socket);
}
