// TCP keepalive on client connections (<limits><keepalive>), so that a
// client gone without a word (its machine off, its network lost, a NAT
// that forgot it) is found. Otherwise its session stays for good when
// nothing is written to it: shown available to its contacts, and taking
// their messages into a socket nobody reads instead of offline storage.
//
// After <keepalive> seconds without a packet from the client the kernel
// probes it, 1 s apart, 10 times (libuv sets those two), and the socket
// fails with ETIMEDOUT if none is answered. A client that is there answers
// in its kernel, unseen. While replies wait unacknowledged there are no
// probes: the kernel's retransmission gives up instead, later.
//
// It is set on the listening socket, whose connections inherit it when
// accepted (Linux copies the options): set on each connection instead, it
// cost 7.5 us per accept here (four setsockopt calls), some 3% of a login.
// Node has no public call for a listener; its handle's setKeepAlive is what
// net.Socket's own setKeepAlive calls (libuv's uv_tcp_keepalive), in
// seconds. An open connection (at SIGHUP) is set through its handle too:
// Node's own record of the option does not know what it inherited, and
// would take turning it off for no change.
import type net from 'node:net';

interface KeepaliveHandle {
  /** 0 when set. */
  setKeepAlive(enable: boolean, seconds: number): number;
}

function handleOf(target: net.Server | net.Socket): KeepaliveHandle | undefined {
  const handle = (target as unknown as { _handle?: Partial<KeepaliveHandle> | null })._handle;
  return typeof handle?.setKeepAlive === 'function' ? (handle as KeepaliveHandle) : undefined;
}

/**
 * Sets keepalive after `seconds` of silence (0: off) on a listener, for the
 * connections it accepts from now on, or on an open connection. False when
 * it could not be set that way: a listener's connections then need it each
 * (a socket falls back to Node's public call by itself).
 */
export function setKeepalive(target: net.Server | net.Socket, seconds: number): boolean {
  const handle = handleOf(target);
  if (handle) return handle.setKeepAlive(seconds > 0, seconds) === 0;
  if ('setKeepAlive' in target) {
    target.setKeepAlive(seconds > 0, seconds * 1000);
    return true;
  }
  return false;
}
