// The server's control socket: jabberctl sends one JSON request per line
// and gets one JSON reply per line. It lives in the spool folder (mode
// 0600, owner only), so whoever may touch the spool may use it, and
// nobody else. Running the operations here, in the server, means they
// share its per-user locks and cache: no lost or torn writes, and the
// next login sees the change.
import { chmod, lstat, mkdir, rename, rm, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../log.js';
import { AdminError, type AdminOps } from './admin-ops.js';
import { withSocketAddress } from './socket-address.js';
import { SpoolFileError, UserFileFullError } from '../xdb/xdb.js';

const CONTROL_SOCKET_NAME = '.jabberctl.sock';

/**
 * The folder, mode 0700, the socket is made in before it moves to its
 * name: bound there, under whatever umask, it is already the owner's
 * alone when anyone can reach it (bound in the spool, another local user
 * could connect between the bind and the chmod, and keep the connection).
 */
const BINDING_FOLDER = '.jabberctl.new';

export function controlSocketPath(spool: string): string {
  return path.join(spool, CONTROL_SOCKET_NAME);
}

export interface ControlRequest {
  cmd: 'adduser' | 'passwd' | 'deluser' | 'list' | 'show' | 'check' | 'backup';
  args: string[];
}

/** The second argument of a deluser request that removes a file that does not parse. */
export const FORCE = 'force';

export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string };

/** An object with a string `cmd` and, if any, an array of strings as `args`. */
function isRequest(v: unknown): v is ControlRequest {
  if (typeof v !== 'object' || v === null) return false;
  const { cmd, args } = v as Record<string, unknown>;
  return typeof cmd === 'string' && (args === undefined || (Array.isArray(args) && args.every((a) => typeof a === 'string')));
}

/** Runs one request against `ops`; refusals become { ok: false }. */
export async function runControl(ops: AdminOps, req: ControlRequest): Promise<ControlReply> {
  const [a = '', b = ''] = req.args ?? [];
  try {
    await ops.spoolReady();
    switch (req.cmd) {
      case 'adduser':
        return { ok: true, result: await ops.adduser(a, b) };
      case 'passwd':
        return { ok: true, result: await ops.passwd(a, b) };
      case 'deluser':
        return { ok: true, result: await ops.deluser(a, b === FORCE) };
      case 'list':
        return { ok: true, result: await ops.list(a) };
      case 'show':
        return { ok: true, result: await ops.show(a) };
      case 'check':
        return { ok: true, result: await ops.check() };
      case 'backup':
        return { ok: true, result: await ops.backup(a) };
      default:
        return { ok: false, error: `unknown command '${String(req.cmd)}'` };
    }
  } catch (err) {
    // A file that does not parse is the spool's state, not the server's failure.
    if (err instanceof AdminError || err instanceof UserFileFullError || err instanceof SpoolFileError) return { ok: false, error: err.message };
    throw err;
  }
}

/** True when a live server answers on the socket. */
function socketIsLive(file: string): Promise<boolean> {
  return withSocketAddress(
    file,
    (address) =>
      new Promise((resolve) => {
        const s = net.connect(address);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
  );
}

/**
 * A control connection with nothing sent for this long, and no request in
 * hand, is closed (jabberctl sends at once; a request may take longer, a
 * check of a large spool on a slow disk).
 */
const CONTROL_IDLE_MS = 60_000;

/** The longest request line; a longer one ends the connection. */
const MAX_REQUEST_CHARS = 1 << 20;

/**
 * Requests read and not yet answered on one connection: past this, reading
 * waits (jabberctl sends one). Without a bound, lines sent without reading
 * the replies piled up as work that outlived the connection and the
 * server's stop, and took gigabytes.
 */
const MAX_REQUESTS_IN_HAND = 16;

/** What a request not yet started is answered once the server stops. */
export const STOPPING_REPLY: ControlReply = { ok: false, error: 'the server is stopping: request not carried out' };

/** What the connections of one socket share: whether the server stops, and the requests running. */
interface ServeState {
  stopping: boolean;
  /** Each settles once its request is answered (or its connection gone). */
  running: Set<Promise<void>>;
}

export class ControlSocket {
  private constructor(
    private readonly server: net.Server,
    readonly file: string,
    /** Open connections: close() ends them, or server.close() would wait for each. */
    private readonly conns: Set<net.Socket>,
    private readonly state: ServeState,
  ) {}

  /** Requests running now (for the stop's log line). */
  get running(): number {
    return this.state.running.size;
  }

  /**
   * The server stops: no new connection is taken, a request read from now
   * on is answered STOPPING_REPLY, not carried out, and the promise settles
   * once the requests running are answered. A request is work on the spool
   * (a deluser telling contacts, a backup), so the stop waits for it as it
   * waits for the stanzas in hand, within the same bound.
   */
  drain(): Promise<void> {
    this.state.stopping = true;
    this.server.close();
    return Promise.all(this.state.running).then(() => undefined);
  }

  /**
   * Listens on the spool's socket; refuses when another live server owns
   * it. The caller holds the spool's lock: no other server binds meanwhile.
   */
  static async open(spool: string, ops: AdminOps, log: Logger, idleMs = CONTROL_IDLE_MS): Promise<ControlSocket> {
    const file = controlSocketPath(spool);
    if (await socketIsLive(file)) throw new Error(`${file}: another server is using this spool`);
    const inTheWay = await lstat(file).catch(() => undefined);
    if (inTheWay?.isDirectory()) throw new Error(`${file}: a folder is in the way of the control socket; move it elsewhere`);
    const folder = path.join(spool, BINDING_FOLDER);
    // One a crash left between the bind and the move.
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder, { mode: 0o700 });
    const bound = path.join(folder, CONTROL_SOCKET_NAME);
    const conns = new Set<net.Socket>();
    const state: ServeState = { stopping: false, running: new Set() };
    // Half-open allowed: a client that ends its side once it has sent its
    // request (`nc -N`, `socat`) still gets the reply.
    const server = net.createServer({ allowHalfOpen: true }, (conn) => {
      conns.add(conn);
      conn.once('close', () => conns.delete(conn));
      serve(conn, ops, log, idleMs, state);
    });
    try {
      await withSocketAddress(
        bound,
        (address) =>
          new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(address, () => resolve());
          }),
      );
    } catch (err) {
      await rm(folder, { recursive: true, force: true });
      throw err;
    }
    const control = new ControlSocket(server, file, conns, state);
    try {
      await chmod(bound, 0o600);
      // Over a stale socket (or file) of the name, in one step.
      await rename(bound, file);
      await rm(folder, { recursive: true, force: true });
    } catch (err) {
      // A socket that is not the owner's alone must not stay (nor keep a
      // failed start's process alive).
      await control.close();
      await rm(folder, { recursive: true, force: true });
      throw err;
    }
    return control;
  }

  async close(): Promise<void> {
    this.state.stopping = true;
    const closed = new Promise<void>((r) => (this.server.listening ? this.server.close(() => r()) : r()));
    // A stopping server does not wait for a jabberctl (or anyone) holding
    // a connection open; one whose request was in hand hears nothing and
    // says so (it may or may not have been done).
    for (const conn of this.conns) conn.destroy();
    await closed;
    await unlink(this.file).catch(() => undefined);
  }
}

function serve(conn: net.Socket, ops: AdminOps, log: Logger, idleMs: number, state: ServeState): void {
  /** The start of a line not ended yet. */
  let buffer = '';
  const lines: string[] = [];
  let busy = false;
  let ended = false;
  const idle = (): void => void conn.setTimeout(idleMs);
  conn.on('timeout', () => conn.destroy());
  idle();
  conn.setEncoding('utf8');
  conn.on('error', () => conn.destroy());
  conn.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    if (buffer.length > MAX_REQUEST_CHARS) return conn.destroy();
    if (lines.length >= MAX_REQUESTS_IN_HAND) conn.pause();
    void answerAll();
  });
  conn.on('end', () => {
    ended = true;
    if (!busy) conn.end();
  });

  /**
   * Answers the requests in hand one at a time, so replies come back in
   * order, each written before the next starts (a client that does not
   * read holds the rest up). A connection gone, or closed by the server's
   * stop, drops what is left.
   */
  async function answerAll(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      while (lines.length > 0 && !conn.destroyed) {
        // The server's work is not the client's silence; a reply the
        // client does not read is (it is closed after the idle time).
        conn.setTimeout(0);
        // Running (see ControlSocket.drain) until its reply has left for
        // the client: a stop closes the connection after it, and would
        // drop what the socket still held of a long reply (a list).
        const line = lines.shift()!;
        const answered = state.stopping ? Promise.resolve(STOPPING_REPLY) : handle(line);
        // The client's silence counts again once the reply is out (one it does not read closes it).
        const running = answered.then((reply) => {
          idle();
          return writtenOrClosed(conn, JSON.stringify(reply) + '\n');
        });
        state.running.add(running);
        await running.finally(() => state.running.delete(running));
        if (conn.destroyed) break;
        if (lines.length < MAX_REQUESTS_IN_HAND / 2 && !ended) conn.resume();
      }
    } finally {
      busy = false;
      if (ended) conn.end();
    }
  }

  async function handle(line: string): Promise<ControlReply> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: 'malformed request' };
    }
    // Whoever may open the socket can send anything: `null`, `{"args":{}}`.
    if (!isRequest(req)) return { ok: false, error: 'malformed request' };
    try {
      return await runControl(ops, req);
    } catch (err) {
      log.error({ err, cmd: req.cmd }, 'control request failed');
      return { ok: false, error: (err as Error).message };
    }
  }
}

/** Writes `text` and resolves once it has left for the peer, or `conn` is gone. */
function writtenOrClosed(conn: net.Socket, text: string): Promise<void> {
  if (conn.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      conn.off('close', done);
      resolve();
    };
    conn.on('close', done);
    conn.write(text, done);
  });
}
