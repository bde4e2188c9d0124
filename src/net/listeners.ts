// Opening the client listeners: plain TCP (5222) and direct TLS (5223),
// which behave identically once the TLS tunnel is up (SPEC section 1).
import { constants as cryptoConstants } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { YakConfig } from '../config/types.js';
import { tlsKeyFor } from '../config/c2s.js';
import { errCode } from '../util/err-code.js';
import { FileTooLargeError, NotRegularFileError, readRegularFile } from '../util/not-a-file.js';

export class ListenError extends Error {}

/**
 * The 1.4 way: one PEM file holding the private key and the certificate
 * chain, from <io><ssl><key ip='ADDRESS'>file.pem</key></ssl></io>.
 */
function loadTlsOptions(pemFile: string, where: string): tls.TlsOptions {
  let pem: string;
  try {
    // A FIFO in the key's place would stop the server (at a SIGHUP, every
    // client) until someone wrote it; a device (/dev/zero) never ends.
    pem = readRegularFile(pemFile, MAX_PEM_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFileError) throw new ListenError(`${where}: ${pemFile} is not a regular file`);
    if (err instanceof FileTooLargeError) throw new ListenError(`${where}: ${pemFile} is larger than 1 MiB, which no key and certificate need`);
    throw new ListenError(`${where}: cannot read ${pemFile}: ${errCode(err) ?? (err as Error).message}`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new ListenError(`${where}: ${pemFile} holds no private key`);
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) throw new ListenError(`${where}: ${pemFile} holds no certificate`);
  try {
    tls.createSecureContext({ key: pem, cert: pem });
  } catch (err) {
    throw new ListenError(`${where}: ${pemFile} is not a usable key and certificate: ${(err as Error).message}`);
  }
  return { key: pem, cert: pem, secureOptions: NO_RENEGOTIATION };
}

/** A key and its certificate chain take a few kilobytes; a SIGHUP must not read a huge file put in their place. */
const MAX_PEM_BYTES = 1 << 20;

/**
 * No client-initiated renegotiation (TLS 1.2; 1.3 has none): Node lets a
 * client start three new handshakes per connection every ten minutes, each
 * costing the server a private-key operation, and under no deadline and no
 * budget (its ClientHello alone may make OpenSSL hold 128 KiB for as long
 * as the session lasts). No Jabber client renegotiates; OpenSSL answers
 * one that tries with a no_renegotiation alert.
 */
const NO_RENEGOTIATION = cryptoConstants.SSL_OP_NO_RENEGOTIATION;

export interface ListenSpec {
  port: number;
  address: string | undefined;
  /** Present for a direct-TLS listener. */
  tls?: tls.TlsOptions;
  /** How the config names it, for error messages. */
  where: string;
}

/**
 * Plain listeners first, then TLS, each named as the config names it; the
 * TLS keys are read and tried here (jabberd --check uses this too).
 */
export function listenSpecs(config: Pick<YakConfig, 'c2s' | 'tlsKeys'>): ListenSpec[] {
  const { c2s, tlsKeys } = config;
  const specs: ListenSpec[] = c2s.listen.map((l) => ({ ...l, where: `<ip port='${l.port}'>${l.address ?? ''}</ip>` }));
  for (const l of c2s.ssl) {
    const where = `<ssl port='${l.port}'>${l.address ?? ''}</ssl>`;
    const key = tlsKeyFor(tlsKeys, l.address);
    if (!key) throw new ListenError(`${where}: no <io><ssl><key> for this address`);
    specs.push({ ...l, where, tls: loadTlsOptions(key.pem, key.where) });
  }
  return specs;
}

/**
 * The longest a direct-TLS connection may take from TCP accept to a finished
 * handshake. A handshake is two or three round trips and some key work:
 * well under a few seconds even on a slow mobile or satellite link, so 20 s
 * leaves room for a loaded server without letting a client that never sends
 * a ClientHello hold its slot (and a file descriptor) for long. Node's own
 * handshakeTimeout is not relied on: it is an inactivity timer, which a
 * client dribbling a byte now and then keeps from firing, and on its own it
 * only reports (tlsClientError) without closing anything (seen on Node 20:
 * the 30 s it was set to left silent connections open for good). This one
 * is a deadline from accept.
 */
const TLS_HANDSHAKE_MAX_MS = 20_000;

/**
 * The handshake deadline for the current config: <authtime> when shorter,
 * since it already says how long an unauthenticated connection may stay,
 * and one still in its handshake is that (<authtime> restarts after it).
 */
export function tlsHandshakeMs(authtimeSeconds: number): number {
  return authtimeSeconds > 0 ? Math.min(authtimeSeconds * 1000, TLS_HANDSHAKE_MAX_MS) : TLS_HANDSHAKE_MAX_MS;
}

/**
 * The TLS side of a direct-TLS listener: a tls.Server that never listens.
 * The listener itself is plain TCP (openListener), so a connection is
 * counted against the limits, and refused, at accept, before any handshake
 * work; an admitted one whose ClientHello passed (see PendingHandshake) is
 * handed over with emit('connection', socket) (the documented way to inject
 * a connection) and comes back to `onSecure` once its handshake is done. A
 * failed handshake ends in a destroyed socket.
 *
 * Through its handshake a TLS socket closes with its peer (see
 * openListener); once the handshake is done it is half-open, as a plain
 * one is: the client's end (close_notify or FIN) is its end of stream,
 * and the replies to what it sent before are still written, then
 * </stream:stream>. Node reads allowHalfOpen when the peer's end comes,
 * and nothing is read before onSecure attaches the stream, so no end can
 * come before the switch.
 */
export function tlsHandshaker(
  options: tls.TlsOptions,
  onSecure: (socket: tls.TLSSocket) => void,
  onFailure: (socket: tls.TLSSocket, err: Error) => void,
): tls.Server {
  const server = tls.createServer(options, (socket) => {
    socket.allowHalfOpen = true;
    onSecure(socket);
  });
  server.on('tlsClientError', (err, socket) => {
    onFailure(socket, err);
    socket.destroy();
  });
  return server;
}

/**
 * Opens one listener, always plain TCP (a TLS one hands its admitted
 * sockets to a tlsHandshaker); rejects with a message naming the config element.
 */
export function openListener(spec: ListenSpec, onSocket: (s: net.Socket) => void): Promise<net.Server> {
  // Plain TCP is half-open: a client's FIN is its end of stream
  // (Connection's ended()), not our cue to close before its replies are
  // written. A direct-TLS socket keeps Node's default, closing with the
  // peer, until its handshake is done (tlsHandshaker): one still in its
  // handshake has no stream to finish, and half-open it would hold its
  // place until the handshake deadline.
  const server = net.createServer({ allowHalfOpen: spec.tls === undefined }, onSocket);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ListenError(`${spec.where}: cannot listen: ${err.code === 'EADDRINUSE' ? 'port in use' : err.message}`));
    });
    server.listen({ port: spec.port, host: spec.address }, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}
