// The default cap on connections open at once, taken from the process's
// file descriptor limit. Without one, clients from enough addresses (each
// within <connections perip>) could take every descriptor: new clients
// then got a TCP reset with no log line saying why (libuv's answer to
// EMFILE at accept), and spool and log writes failed with EMFILE. With it,
// a client over the cap gets 1.4's `Too Many Connections` and a warning
// is logged, and descriptors are left for the files.
import { readFileSync } from 'node:fs';

/**
 * The cap for a limit of `openFiles` descriptors: all but those kept back
 * from clients, an eighth of the limit and at least 256, yet never under
 * 16 clients (a tiny limit still lets a few in). The ones kept back serve
 * the spool (a descriptor per user file being written or read, the
 * journal), the log file, listeners, the control socket, and refused
 * connections while their error goes out (see Refusals).
 */
export function connectionCapFor(openFiles: number): number {
  return Math.max(16, openFiles - Math.max(256, Math.ceil(openFiles / 8)));
}

/**
 * The soft limit on open files (`Max open files` in /proc/self/limits;
 * Node raises it to the hard limit as it starts), or undefined where it
 * cannot be read or is unlimited.
 */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * The cap on connections open at once: `configured` when the config gives
 * one (0: no cap), otherwise one from the descriptor limit `openFiles`
 * (see openFileLimit; none where it is not known).
 */
export function connectionTotal(configured: number | undefined, openFiles: number | undefined): number {
  if (configured !== undefined) return configured;
  return openFiles === undefined ? 0 : connectionCapFor(openFiles);
}
