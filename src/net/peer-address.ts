// The client's address as limits, policies and log lines use it.
import { isIPv4, isIPv6, SocketAddress, type Socket } from 'node:net';

/** An IPv4 address in IPv6 form, as a dual-stack listener reports its IPv4 clients. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The peer's address, with an IPv4 client of a listener on all addresses
 * (`::ffff:a.b.c.d`) given as `a.b.c.d`: the form an admin writes in
 * <allow> or <exempt>, and the one log lines show.
 */
export function peerAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown';
  return IPV4_MAPPED.exec(address)?.[1] ?? address;
}

/** The eight 16-bit groups of a valid IPv6 address without zone id (`::` and a dotted IPv4 tail expanded). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  if (rest === undefined) return front;
  const back = parse(rest);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/**
 * The key a client is counted under by every per-address limit (open
 * connections, <rate>, registrations, failed logins). IPv4 addresses are
 * their own key, mapped ones (`::ffff:a.b.c.d`) included. An IPv6 client is
 * keyed by its /64: one host or one home network is normally given a whole
 * /64 and may use any address in it, so counting each address on its own
 * would let it step around every limit. Link-local addresses (fe80::/10)
 * stay exact, zone id included: every host on a link shares the same /64
 * there, so that key would put a whole LAN under one limit. Anything that
 * is not an IP address (no address known) is its own key. Log lines show
 * the address itself, never this key.
 */
export function limitKey(address: string): string {
  if (isIPv4(address)) return address;
  const zoneAt = address.indexOf('%');
  const bare = zoneAt >= 0 ? address.slice(0, zoneAt) : address;
  if (!isIPv6(bare)) return address;
  const g = ipv6Groups(bare);
  const hex = (groups: number[]): string => groups.map((x) => x.toString(16)).join(':');
  // An IPv4 client in IPv6 form: mapped (::ffff:0:0/96), or through a
  // NAT64 translator's well-known prefix (64:ff9b::/96, RFC 6052), where
  // the /64 would put every IPv4 client of the translator under one key.
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0);
  if (mapped || nat64) return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join('.');
  // Teredo (2001:0::/32, RFC 4380): the /64 is the Teredo server's, shared
  // by all its clients; each client's own IPv4 address is in the last 32
  // bits, every bit inverted.
  if (g[0] === 0x2001 && g[1] === 0) return [(~g[6]! >> 8) & 0xff, ~g[6]! & 0xff, (~g[7]! >> 8) & 0xff, ~g[7]! & 0xff].join('.');
  // 6to4 (2002::/16, RFC 3056): a whole /48 belongs to the one IPv4 host
  // in bits 16-47, which could otherwise show up as 65,536 /64s.
  if (g[0] === 0x2002) return [g[1]! >> 8, g[1]! & 0xff, g[2]! >> 8, g[2]! & 0xff].join('.');
  // In the form peerAddress() gives (compressed, lowercase): the key of a
  // link-local address is that address, and a log line names a /64 as
  // people write it (`2001:db8::/64`, not `2001:db8:0:0::/64`).
  if ((g[0]! & 0xffc0) === 0xfe80) return canonicalAddress(hex(g))! + (zoneAt >= 0 ? address.slice(zoneAt) : '');
  return `${canonicalAddress(`${hex(g.slice(0, 4))}::`)!}/64`;
}

/**
 * An address as written in the config (<allow>, <exempt>) in the form
 * peerAddress() gives a client's, so the two compare as strings: IPv6
 * lowercased and compressed (`2001:DB8:0::5` is `2001:db8::5`), mapped
 * IPv4 dotted, a zone id kept. Undefined for text that is no IP address.
 */
export function canonicalAddress(text: string): string | undefined {
  const zoneAt = text.indexOf('%');
  const bare = zoneAt >= 0 ? text.slice(0, zoneAt) : text;
  const family = isIPv4(bare) ? 'ipv4' : isIPv6(bare) ? 'ipv6' : undefined;
  if (family === undefined || (family === 'ipv4' && zoneAt >= 0)) return undefined;
  const canonical = new SocketAddress({ address: bare, family }).address;
  return (IPV4_MAPPED.exec(canonical)?.[1] ?? canonical) + (zoneAt >= 0 ? text.slice(zoneAt) : '');
}
