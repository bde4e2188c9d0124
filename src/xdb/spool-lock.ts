// One process at a time on a spool. The server holds this lock from before
// its journal replay until it exits, and so does jabberctl while it works
// on the spool itself: two stores on one spool would replay each other's
// journal and interleave rewrites of the same file.
//
// The lock is a Linux abstract unix socket. Binding a name that a live
// process holds fails at once (EADDRINUSE), and the kernel frees the name
// when its process ends, however it ends: a crash leaves nothing stale, so
// there is no check-then-remove for two starting processes to race on
// (the control socket's file alone had that window). The name is a random
// id kept in the spool (SPOOL/.yak-lock-id, mode 0600): only who can read
// the spool can learn it, so nobody else can squat it to keep Yak from
// starting. Abstract names belong to a network namespace: processes in
// separate namespaces (containers) sharing a spool do not see each
// other's lock. Other systems have no abstract sockets and get no lock.
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errCode } from '../util/err-code.js';

export const LOCK_ID_FILE = '.yak-lock-id';
const ID = /^[0-9a-f]{32}$/;

/** The spool is held by another live process. */
export class SpoolBusyError extends Error {}

export interface SpoolLock {
  release(): Promise<void>;
}

/** The spool's lock id, made (atomically: whole, or someone else's) if there is none yet. */
async function lockId(spool: string): Promise<string> {
  const file = path.join(spool, LOCK_ID_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const id = (await readFile(file, 'utf8')).trim();
      if (ID.test(id)) return id;
      throw new Error(`${file} does not hold a lock id; remove it while no Yak runs on this spool`);
    } catch (err) {
      if (errCode(err) !== 'ENOENT' || attempt > 0) throw err;
    }
    // Written under a name of its own, then linked: the id file appears
    // whole or not at all, and of two racing processes exactly one link wins.
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, randomBytes(16).toString('hex') + '\n', { mode: 0o600 });
    try {
      await link(temp, file);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
    } finally {
      await unlink(temp);
    }
  }
}

/** Holds the spool for this process; throws SpoolBusyError when another one does. */
export async function lockSpool(spool: string): Promise<SpoolLock> {
  if (process.platform !== 'linux') return { release: async () => undefined };
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const id = await lockId(spool);
  // Nothing is served: a connection (from anyone who learnt the id) is dropped.
  const holder = net.createServer((conn) => conn.destroy());
  await new Promise<void>((resolve, reject) => {
    holder.once('error', (err) => {
      if (errCode(err) === 'EADDRINUSE') reject(new SpoolBusyError('another Yak (a server, or jabberctl) is using this spool'));
      else reject(err);
    });
    holder.listen({ path: `\0yak-spool-${id}` }, resolve);
  });
  // The lock alone must not keep a finished process alive.
  holder.unref();
  return { release: () => new Promise<void>((resolve) => holder.close(() => resolve())) };
}
