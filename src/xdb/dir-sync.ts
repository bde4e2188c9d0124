// Folder fsyncs: what makes a new, renamed or deleted name survive a crash.
import { open } from 'node:fs/promises';
import { errCode } from '../util/err-code.js';

/** fsync a folder so a rename or unlink in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Platforms that cannot open or sync folders: nothing more to do there.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP', 'EBADF'].includes(errCode(err) ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}
