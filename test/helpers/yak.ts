// Starts a real Yak in this process on an ephemeral port with a temporary
// spool, for end-to-end tests. Stop it with stop() (also removes the spool).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import type { YakConfig } from '../../src/config/types.js';
import { ClientStream, type ConnectOptions } from '../../src/client/client-stream.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { YakServer } from '../../src/server.js';
import { AdminOps } from '../../src/admin/admin-ops.js';
import { Element } from '../../src/xml/element.js';
import type { HeldCalls } from './latch.js';

export const BUNDLED_CONFIG = fileURLToPath(new URL('../../../config/jabber.xml', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

export interface TestYakOptions {
  /** A whole jabber.xml text instead of the bundled config. */
  configText?: string;
  /** Changes to the loaded config (after port and spool are set). */
  tweak?: (config: YakConfig) => void;
  /** Use this spool folder (kept on stop) instead of a fresh temporary one. */
  spool?: string;
  /** Where the server logs (default: nowhere); see helpers/log-capture.ts. */
  log?: Logger;
}

export interface TestYak {
  server: YakServer;
  config: YakConfig;
  port: number;
  spool: string;
  host: string;
  /** A connected client stream whose header went to `host`. */
  connect(opts?: Partial<ConnectOptions>): Promise<ClientStream>;
  stop(): Promise<void>;
}

export async function startYak(opts: TestYakOptions = {}): Promise<TestYak> {
  const ownSpool = opts.spool === undefined;
  const spool = opts.spool ?? (await mkdtemp(path.join(os.tmpdir(), 'yak-test-')));
  // A config that does not load, or a server that does not start, leaves no temp folder behind.
  const start = async (): Promise<{ config: YakConfig; server: YakServer }> => {
    const config = opts.configText
      ? parseConfig(opts.configText, BUNDLED_CONFIG, { spool })
      : loadConfig(BUNDLED_CONFIG, { spool });
    config.c2s.listen = [{ port: 0, address: '127.0.0.1' }];
    config.pidfile = undefined;
    opts.tweak?.(config);
    return { config, server: await YakServer.start(config, { log: opts.log ?? silentLogger }) };
  };
  const { config, server } = await start().catch(async (err: unknown) => {
    if (ownSpool) await rm(spool, { recursive: true, force: true });
    throw err;
  });
  const port = server.ports[0]!;
  const host = config.hosts[0]!;
  const clients: ClientStream[] = [];
  return {
    server,
    config,
    port,
    spool,
    host,
    async connect(c = {}) {
      const client = await ClientStream.connect({ port, domain: host, ...c });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const c of clients) c.socket.destroy();
      await server.stop();
      if (ownSpool) await rm(spool, { recursive: true, force: true });
    },
  };
}

/** A register set for `user` with the given password and extra fields. */
export function registerIq(user: string, password: string, fields: Record<string, string> = {}, id = 'reg'): Element {
  const q = new Element('query', { xmlns: 'jabber:iq:register' });
  q.c('username').t(user);
  q.c('password').t(password);
  for (const [k, v] of Object.entries(fields)) q.c(k).t(v);
  return new Element('iq', { type: 'set', id }, [q]);
}

/** An auth set with plain password, digest or 0k hash. */
export function authIq(user: string, resource: string, cred: { password?: string; digest?: string; hash?: string }, id = 'auth'): Element {
  const q = new Element('query', { xmlns: 'jabber:iq:auth' });
  q.c('username').t(user);
  if (cred.password !== undefined) q.c('password').t(cred.password);
  if (cred.digest !== undefined) q.c('digest').t(cred.digest);
  if (cred.hash !== undefined) q.c('hash').t(cred.hash);
  q.c('resource').t(resource);
  return new Element('iq', { type: 'set', id }, [q]);
}

/** Registers `user` on a fresh connection and closes it. */
export async function registerUser(yak: TestYak, user: string, password: string, fields: Record<string, string> = {}): Promise<void> {
  const c = await yak.connect();
  const reply = await c.request(registerIq(user, password, fields));
  if (reply.attrs.type !== 'result') throw new Error(`registration of ${user} failed: ${reply.toString()}`);
  await c.close();
}

/**
 * Makes `user`'s account as `jabberctl adduser` does: the way to an
 * account whose name in-band registration refuses (an <admin> JID's).
 * No welcome message, no registration notice.
 */
export async function addUser(yak: TestYak, user: string, password: string): Promise<void> {
  await new AdminOps(yak.server.jsm).adduser(`${user}@${yak.host}`, password);
}

/** Registers (optionally) and logs in with a plain password; returns the open session stream. */
export async function loginUser(yak: TestYak, user: string, password: string, resource = 'Work'): Promise<ClientStream> {
  const c = await yak.connect();
  const reply = await c.request(authIq(user, resource, { password }));
  if (reply.attrs.type !== 'result') throw new Error(`login of ${user} failed: ${reply.toString()}`);
  return c;
}

/**
 * The middle of a race with an account removal: once `hold` has a call
 * for `user` waiting, removes the account, then lets the call go on.
 */
export async function removeWhileHeld(yak: TestYak, hold: HeldCalls, user: string): Promise<void> {
  await hold.reached;
  await yak.server.jsm.removeUser(yak.host, user);
  hold.release();
}
