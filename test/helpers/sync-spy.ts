// Records the durability calls the spool journal makes: fdatasync (on a
// descriptor), fsync of folders (FileHandle.sync, see dir-sync.ts) and
// unlinkSync, each with the path it was about, in the order made.
//
// Import this module before anything that imports src/xdb/journal.ts:
// file-writes.ts, which the journal imports, binds fdatasync (promisified)
// when it is first evaluated, so the patch must be in node:fs's exports by
// then.
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

/** 'datasync PATH', 'dirsync PATH' or 'unlink PATH', while recording. */
export const syncEvents: string[] = [];
let recording = false;

const pathOf = (fd: number): string => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd ${fd}`;
  }
};

const fdatasync = fs.fdatasync;
const unlinkSync = fs.unlinkSync;
/** A held fdatasync (see holdDatasync): which files, and how it is let go. */
let hold: { match: (path: string) => boolean; reached: () => void; released: Promise<void> } | undefined;

fs.fdatasync = ((fd: number, cb: fs.NoParamCallback) => {
  if (recording) syncEvents.push(`datasync ${pathOf(fd)}`);
  const held = hold;
  if (held?.match(pathOf(fd))) {
    hold = undefined;
    held.reached();
    void held.released.then(() => fdatasync(fd, cb));
    return;
  }
  return fdatasync(fd, cb);
}) as typeof fs.fdatasync;
fs.unlinkSync = ((path: fs.PathLike) => {
  if (recording) syncEvents.push(`unlink ${String(path)}`);
  return unlinkSync(path);
}) as typeof fs.unlinkSync;
syncBuiltinESMExports();

let handlePatched = false;

/** Starts recording (from an empty list); FileHandle.sync is patched on first use. */
export async function recordSyncs(): Promise<string[]> {
  if (!handlePatched) {
    const fh = await open('/', 'r');
    const proto = Object.getPrototypeOf(fh) as { sync(this: { fd: number }): Promise<void> };
    await fh.close();
    const sync = proto.sync;
    proto.sync = function (this: { fd: number }) {
      if (recording) syncEvents.push(`${fs.fstatSync(this.fd).isDirectory() ? 'dirsync' : 'sync'} ${pathOf(this.fd)}`);
      return sync.call(this);
    };
    handlePatched = true;
  }
  syncEvents.length = 0;
  recording = true;
  return syncEvents;
}

export function stopRecording(): void {
  recording = false;
}

/**
 * Holds the next fdatasync of a file `match` accepts until release() is
 * called: a slow disk, at a chosen moment. `reached` resolves once it is held.
 */
export function holdDatasync(match: (path: string) => boolean): { reached: Promise<void>; release(): void } {
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const released = new Promise<void>((r) => (release = r));
  hold = { match, reached, released };
  return { reached: reachedP, release };
}
