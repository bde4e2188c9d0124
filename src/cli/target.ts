// reguser's host[:port] argument. Kept apart from reguser.ts (which runs on
// import) so that a test can check the parsing without connecting anywhere.
import { isIP } from 'node:net';

export interface Target {
  host: string;
  port: number;
  /** host:port for messages; an IPv6 host in brackets, as it must be written with a port. */
  display: string;
}

/**
 * The target, or undefined when `server` is not host[:port]. An IPv6
 * address takes a port only in brackets (`[::1]:5222`); once a bracket
 * opens, anything but a port after it is a typo, as `host:abc` is, and so
 * is anything but an IPv6 address inside. Without brackets, a string with
 * colons is a host only when it is an IPv6 address.
 */
export function parseTarget(server: string, tls: boolean): Target | undefined {
  const m = server.startsWith('[') ? /^\[([^\]]+)\](?::(\d+))?$/.exec(server) : /^([^:]+)(?::(\d+))?$/.exec(server);
  if (!m && (server.startsWith('[') || isIP(server) !== 6)) return undefined;
  const host = m ? m[1]! : server;
  const portText = m?.[2];
  const port = portText === undefined ? (tls ? 5223 : 5222) : Number(portText);
  if (host === '' || (server.startsWith('[') && isIP(host) !== 6) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { host, port, display: `${shown}:${port}` };
}
