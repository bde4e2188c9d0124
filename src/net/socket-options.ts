// The TCP options of client connections, set on the listening socket,
// whose connections inherit them when accepted (Linux copies the options):
// set on each connection instead, they cost 7.5 us (keepalive: four
// setsockopt calls) and 2.7 us (no delay) per accept here, together some
// 4% of a login. Node has no public call for a listener; its handle's
// setKeepAlive and setNoDelay are what net.Socket's own calls use
// (libuv's uv_tcp_keepalive and uv_tcp_nodelay). An open connection (at
// SIGHUP) is set through its handle too: Node's own record of an option
// does not know what the socket inherited, and would take turning it off
// for no change.
//
// Keepalive (<limits><keepalive>), so that a client gone without a word
// (its machine off, its network lost, a NAT that forgot it) is found.
// Otherwise its session stays for good when nothing is written to it:
// shown available to its contacts, and taking their messages into a socket
// nobody reads instead of offline storage. After <keepalive> seconds
// without a packet from the client the kernel probes it, 1 s apart, 10
// times (libuv sets those two), and the socket fails with ETIMEDOUT if none
// is answered. A client that is there answers in its kernel, unseen. While
// replies wait unacknowledged there are no probes: the kernel's
// retransmission gives up instead, later.
//
// No delay (TCP_NODELAY): a reply goes out at once, not held back by
// Nagle's algorithm until the client acknowledges the one before (which
// it may delay by up to 40 ms).
import type net from 'node:net';

interface OptionHandle {
  /** 0 when set. */
  setKeepAlive(enable: boolean, seconds: number): number;
  /** 0 when set. */
  setNoDelay(enable: boolean): number;
}

function handleOf(target: net.Server | net.Socket, method: keyof OptionHandle): OptionHandle | undefined {
  const handle = (target as unknown as { _handle?: Partial<OptionHandle> | null })._handle;
  return typeof handle?.[method] === 'function' ? (handle as OptionHandle) : undefined;
}

/**
 * Sets keepalive after `seconds` of silence (0: off) on a listener, for the
 * connections it accepts from now on, or on an open connection. False when
 * it could not be set that way: a listener's connections then need it each
 * (a socket falls back to Node's public call by itself).
 */
export function setKeepalive(target: net.Server | net.Socket, seconds: number): boolean {
  const handle = handleOf(target, 'setKeepAlive');
  if (handle) return handle.setKeepAlive(seconds > 0, seconds) === 0;
  if ('setKeepAlive' in target) {
    target.setKeepAlive(seconds > 0, seconds * 1000);
    return true;
  }
  return false;
}

/** Turns Nagle's algorithm off, as setKeepalive sets keepalive: on a listener for what it accepts, or on one socket. */
export function setNoDelay(target: net.Server | net.Socket): boolean {
  const handle = handleOf(target, 'setNoDelay');
  if (handle) return handle.setNoDelay(true) === 0;
  if ('setNoDelay' in target) {
    target.setNoDelay(true);
    return true;
  }
  return false;
}
