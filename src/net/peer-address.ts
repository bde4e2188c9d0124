// The client's address as limits, policies and log lines use it.
import type { Socket } from 'node:net';

/** An IPv4 address in IPv6 form, as a dual-stack listener reports its IPv4 clients. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The peer's address, with an IPv4 client of a listener on all addresses
 * (`::ffff:a.b.c.d`) given as `a.b.c.d`: the form an admin writes in
 * <allow> or <exempt>, and one key per client for the per-address limits.
 */
export function peerAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown';
  return IPV4_MAPPED.exec(address)?.[1] ?? address;
}
