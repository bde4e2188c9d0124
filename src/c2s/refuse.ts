// A connection over a limit (rate, per address, total) gets a stream header
// and a policy-violation stream error at once, instead of a silent close,
// so the client can tell the user why.
//
// The refused socket must not then hold its file descriptor for long: a
// flood of connections that neither read nor close would otherwise keep
// one descriptor each for the whole grace an ordinary logout gets, and the
// total cap would bound nothing while the flood lasts.
import type { Socket } from 'node:net';
import { destroyLater } from '../net/destroy-later.js';
import { randomHex } from '../util/hash.js';
import { serverHeader } from './header.js';
import { streamError } from './stream-errors.js';

/**
 * How long a refused socket waits for its peer to close. A client that
 * reads the refusal closes within a round trip or two of getting it; the
 * wait is only there so that what it sent meanwhile (its stream header)
 * is read, not left unread at the close, which makes the kernel reset the
 * connection and can cost the client the refusal text.
 */
const REFUSAL_GRACE_MS = 1000;

/**
 * Refused sockets that may wait out the grace at once. Past this (a flood),
 * a refused socket is closed as soon as its refusal is handed to the
 * kernel, which still sends it: the descriptor goes at once, and only a
 * client whose data arrives after the close may miss the text.
 */
const MAX_LINGERING_REFUSALS = 64;

export class Refusals {
  private waiting = 0;

  constructor(
    private readonly maxLingering = MAX_LINGERING_REFUSALS,
    private readonly graceMs = REFUSAL_GRACE_MS,
  ) {}

  /** Refused sockets now waiting for their peer (read-only, for tests and checks). */
  get lingering(): number {
    return this.waiting;
  }

  /** Writes the refusal to `socket` and ends it; the socket is destroyed soon after, whatever the peer does. */
  refuse(socket: Socket, liveIds: ReadonlySet<string>, host: string): void {
    let id: string;
    do id = randomHex(4);
    while (liveIds.has(id));
    socket.on('error', () => socket.destroy());
    // Read and drop whatever comes, so the peer's close is seen and the socket goes.
    socket.resume();
    socket.end(serverHeader(id, host, false) + streamError('connection-limit').toString() + '</stream:stream>');
    if (this.waiting >= this.maxLingering) {
      // 'finish': the text and our FIN are with the kernel.
      socket.once('finish', () => socket.destroy());
      return;
    }
    this.waiting++;
    socket.once('close', () => this.waiting--);
    destroyLater(socket, this.graceMs);
  }
}
