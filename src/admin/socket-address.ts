// Unix socket addresses for paths of any length. A socket address holds at
// most 107 bytes of path, and Node 20's libuv cuts a longer one short
// without a word: a spool deep in the file system got its control socket
// under a truncated name in a parent folder. On Linux the folder can be
// reached through /proc/self/fd/N, N an open descriptor of it, which keeps
// the address short whatever the folder's path.
import { closeSync, existsSync, openSync } from 'node:fs';
import path from 'node:path';

/** Bytes of path a Unix socket address holds (108 with its NUL). */
const SOCKET_PATH_MAX = 107;

/**
 * Runs `use` with an address that binds or connects to `file`. Throws,
 * before any socket is made, when the path is too long and there is no
 * /proc to shorten it.
 */
export async function withSocketAddress<T>(file: string, use: (address: string) => Promise<T>): Promise<T> {
  const bytes = Buffer.byteLength(file);
  if (bytes <= SOCKET_PATH_MAX) return use(file);
  const dir = openSync(path.dirname(file), 'r');
  try {
    const viaProc = `/proc/self/fd/${dir}`;
    if (process.platform !== 'linux' || !existsSync(viaProc)) {
      throw new Error(`${file}: too long for a Unix socket (${bytes} bytes, at most ${SOCKET_PATH_MAX} without /proc); use a shorter spool path`);
    }
    return await use(`${viaProc}/${path.basename(file)}`);
  } finally {
    closeSync(dir);
  }
}
