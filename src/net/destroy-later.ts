// An ended socket waits for the peer to close its side; a peer that never
// does (or never reads what is left) must not keep it forever.
import type { Socket } from 'node:net';

/** How long an ended socket may wait for the peer before it is destroyed. */
const END_GRACE_MS = 5000;

/**
 * Destroys `socket` if it has not closed within `ms`. The timer is cleared
 * when the socket closes: left armed, it would keep the socket, and through
 * its listeners the whole connection (parser, session state), in memory for
 * the full grace period after every ordinary logout.
 */
export function destroyLater(socket: Socket, ms = END_GRACE_MS): void {
  const timer = setTimeout(() => socket.destroy(), ms).unref();
  socket.once('close', () => clearTimeout(timer));
}
