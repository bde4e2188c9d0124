// From a bound port to a socket ready for a stream: the client listeners,
// the connection limits every new TCP connection is admitted against
// (before any TLS work), the refusal of one over them, and a direct-TLS
// connection's handshake. What is admitted goes to startStream (see
// AcceptorContext); the server wires it to a c2s stream.
import type net from 'node:net';
import type tls from 'node:tls';
import { Refusals } from '../c2s/refuse.js';
import type { HeldMemoryBudget } from '../c2s/held-memory-budget.js';
import type { YakConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { AddressLimits, type AddressLimitsConfig } from './address-limits.js';
import type { AddressLogQuota } from './address-log-quota.js';
import { connectionTotal, openFileLimit } from './descriptor-limit.js';
import { ListenError, listenSpecs, openListener, tlsHandshakeMs, tlsHandshaker, type ListenSpec } from './listeners.js';
import { peerAddress } from './peer-address.js';
import { setKeepalive, setNoDelay } from './socket-options.js';
import { monotonicMs } from '../util/time.js';
import { PendingHandshake } from './pending-handshake.js';

/** What the acceptor needs of the server. */
export interface AcceptorContext {
  /** Read live: a reload changes the limits (see reloadLimits) and <authtime> (the handshake deadline). */
  config: YakConfig;
  log: Logger;
  /** What connections not logged in hold between them: a handshake counts there. */
  preAuth: HeldMemoryBudget;
  /** Where lines about connections not logged in go, each address held to its share. */
  connLog: AddressLogQuota;
  /** The live stream ids, which a refusal's own id must not repeat. */
  streamIds: ReadonlySet<string>;
  /** An admitted socket (the raw one, or the TLS one over it once its handshake is done) becomes a stream. */
  startStream(socket: net.Socket, address: string): void;
}

/** How long after a listener starts, or a SIGHUP changes <keepalive>, connections get their options each (see settlingUntil). */
const SETTLING_MS = 1000;

export class Acceptor {
  /** Counts every admitted connection until its socket closes. */
  readonly limits: AddressLimits;
  private readonly servers: net.Server[] = [];
  private readonly tlsServers = new Map<net.Server, boolean>();
  /**
   * The direct-TLS listeners' handshakers, by their config name
   * (ListenSpec.where), with the key each serves: several under one name
   * when the config has port-0 listeners on one address, which all take
   * the same key.
   */
  private readonly handshakers = new Map<string, { handshaker: tls.Server; key: unknown }[]>();
  /** Admitted sockets still open, as accepted (for direct TLS, the raw one under the TLS socket). */
  private readonly sockets = new Set<net.Socket>();
  /** Plain connections refused at accept, closed soon whatever the peer does. */
  private readonly refusals = new Refusals();
  /** Direct-TLS connections admitted but not yet through their handshake, by socketKey(). */
  private readonly handshaking = new Map<string, PendingHandshake>();
  /** A listener took no <keepalive>, or no TCP_NODELAY, for the connections it accepts: each gets it at accept (see socket-options.ts). */
  private keepaliveEach = false;
  private noDelayEach = false;
  /** The <keepalive> the listeners have, to leave them and the open connections alone at a SIGHUP that keeps it. */
  private keepaliveSet: number | undefined;
  /**
   * Until then (monotonic ms), connections accepted get the options each
   * too: one whose handshake the kernel finished in the moment between a
   * listener's start, or a SIGHUP, and its options being set has the
   * listener's options of before.
   */
  private settlingUntil = 0;
  /** close() was called: nothing more is admitted or handed on. */
  private closed = false;

  constructor(private readonly ctx: AcceptorContext) {
    this.limits = new AddressLimits(addressLimitsConfig(ctx.config));
  }

  /** The plain ports actually bound (port 0 in the config means any free port). */
  get ports(): number[] {
    return this.servers.filter((s) => !this.tlsServers.get(s)).map((s) => (s.address() as net.AddressInfo).port);
  }

  /** The direct-TLS ports actually bound. */
  get tlsPorts(): number[] {
    return this.servers.filter((s) => this.tlsServers.get(s)).map((s) => (s.address() as net.AddressInfo).port);
  }

  async listen(spec: ListenSpec): Promise<void> {
    const handshaker = spec.tls
      ? tlsHandshaker(
          spec.tls,
          (socket) => this.secured(socket),
          (socket, err) => this.handshaking.get(socketKey(socket))?.failed(err),
        )
      : undefined;
    if (handshaker) {
      const named = this.handshakers.get(spec.where) ?? [];
      named.push({ handshaker, key: spec.tls!.key });
      this.handshakers.set(spec.where, named);
    }
    const server = await openListener(spec, (socket) => this.accept(socket, handshaker));
    server.on('error', (err) => this.ctx.log.error({ err }, 'listener error'));
    this.keepaliveSet = this.ctx.config.c2s.limits.keepaliveSeconds;
    this.keepaliveEach ||= !setKeepalive(server, this.keepaliveSet);
    this.noDelayEach ||= !setNoDelay(server);
    this.settlingUntil = monotonicMs() + SETTLING_MS;
    this.servers.push(server);
    this.tlsServers.set(server, spec.tls !== undefined);
    const bound = server.address() as net.AddressInfo;
    this.ctx.log.info({ address: bound.address, port: bound.port, tls: spec.tls !== undefined }, 'listening');
  }

  /** Stops accepting: new connections and handshakes finished from now on are dropped; resolves once the listeners are closed. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Destroys every admitted socket still open (the stop: peers that did not answer are not waited for). */
  destroyAll(): void {
    for (const p of this.handshaking.values()) p.stop();
    for (const s of this.sockets) s.destroy();
  }

  /** SIGHUP: the connection limits as the config says now (the open counts and rate history stay), <keepalive> for open connections too. */
  reloadLimits(): void {
    this.limits.cfg = addressLimitsConfig(this.ctx.config);
    const seconds = this.ctx.config.c2s.limits.keepaliveSeconds;
    if (seconds === this.keepaliveSet) return;
    this.keepaliveSet = seconds;
    for (const server of this.servers) this.keepaliveEach ||= !setKeepalive(server, seconds);
    this.settlingUntil = monotonicMs() + SETTLING_MS;
    for (const socket of this.sockets) setKeepalive(socket, seconds);
  }

  /**
   * Reads the TLS key files again, the new config's paths for the listeners
   * already open, and has new handshakes use a key and certificate that
   * changed: a certificate renewed in place (certbot) needs no restart.
   * Connections already up keep theirs. Nothing changes unless every file
   * is usable; one that is not is logged, and the old keys stay. True when
   * a listener got a new key.
   */
  reloadTlsKeys(fresh: YakConfig): boolean {
    const { config, log } = this.ctx;
    if (this.handshakers.size === 0) return false;
    let specs: ListenSpec[];
    try {
      specs = listenSpecs({ c2s: config.c2s, tlsKeys: fresh.tlsKeys });
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      log.error({ err: err.message }, 'TLS keys not reloaded: the old ones stay');
      return false;
    }
    let changed = false;
    for (const spec of specs) {
      if (!spec.tls) continue;
      for (const live of this.handshakers.get(spec.where) ?? []) {
        if (spec.tls.key === live.key) continue;
        live.handshaker.setSecureContext(spec.tls);
        live.key = spec.tls.key;
        changed = true;
      }
    }
    config.tlsKeys = fresh.tlsKeys;
    return changed;
  }

  /**
   * A new TCP connection, plain or direct TLS (`handshaker` given): counted
   * against the limits here, before any TLS work, and released when this
   * socket closes, once, whatever became of it (refused handshake, deadline,
   * logout, reset).
   */
  private accept(socket: net.Socket, handshaker: tls.Server | undefined): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const address = peerAddress(socket);
    const refusal = this.limits.admit(address);
    if (refusal) {
      this.ctx.connLog.write('warn', address, { address, limit: refusal }, 'connection refused');
      // A TLS client could not read a stream error sent in the clear, and
      // sending one inside TLS would cost the handshake the limit is there
      // to spare: the connection is just closed.
      if (handshaker) socket.destroy();
      else this.refusals.refuse(socket, this.ctx.streamIds, this.ctx.config.hosts[0]!);
      return;
    }
    this.sockets.add(socket);
    const settling = monotonicMs() < this.settlingUntil;
    if (this.keepaliveEach || settling) setKeepalive(socket, this.ctx.config.c2s.limits.keepaliveSeconds);
    if (this.noDelayEach || settling) setNoDelay(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.limits.release(address);
    });
    if (handshaker) this.handshake(socket, address, handshaker);
    else this.ctx.startStream(socket, address);
  }

  /**
   * Takes an admitted direct-TLS connection to its handshake: its
   * ClientHello is read and checked first, and only then handed to
   * `handshaker`; all under a deadline (see tlsHandshakeMs) and counted
   * with the connections not logged in (see PendingHandshake).
   */
  private handshake(raw: net.Socket, address: string, handshaker: tls.Server): void {
    const key = socketKey(raw);
    const pending = new PendingHandshake(raw, address, {
      handshaker,
      deadlineMs: tlsHandshakeMs(this.ctx.config.c2s.authtime),
      budget: this.ctx.preAuth,
      log: this.ctx.connLog,
    });
    this.handshaking.set(key, pending);
    raw.once('close', () => {
      if (this.handshaking.get(key) === pending) this.handshaking.delete(key);
    });
  }

  /**
   * The handshake is done. The TLS socket is matched to its raw socket by
   * addresses and ports (unique among open connections; tls.Server gives no
   * public link); one not found is already gone.
   */
  private secured(socket: tls.TLSSocket): void {
    const pending = this.handshaking.get(socketKey(socket));
    if (!pending || this.closed) {
      // Finished as the server stops: said as such, not as the client's close.
      pending?.stop();
      socket.destroy();
      return;
    }
    this.handshaking.delete(socketKey(socket));
    // From here the stream counts what it holds itself.
    pending.secured();
    this.ctx.startStream(socket, pending.address);
  }
}

/**
 * The connection limits of `config`: <rate>, <connections perip> and the
 * total cap, which without <connections total> comes from the descriptor
 * limit as /proc/self/limits gives it now (at start, and at each reload).
 */
function addressLimitsConfig(config: YakConfig): AddressLimitsConfig {
  const l = config.c2s.limits;
  return { rate: config.c2s.rate, perAddress: l.connectionsPerAddress, total: connectionTotal(l.connectionsTotal, openFileLimit()) };
}

/** A connection's local and remote address and port: unique among open connections. */
function socketKey(s: net.Socket): string {
  return `${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
}
