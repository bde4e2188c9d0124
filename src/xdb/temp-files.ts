// Temp files an older Yak (before the journal) wrote each change to before
// renaming it over the user file: a crash could leave them behind.
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errCode } from '../util/err-code.js';

// `.dj.xml.1234.7.tmp`, written by Yak before the journal: the leading dot
// keeps it from ever being a user file.
const TEMP_FILE = /^\..+\.\d+\.\d+\.tmp$/;

/**
 * Deletes temp files a crash of a Yak before the journal left in the host
 * folders under `root` and returns their paths. Call at startup, before
 * any store writes.
 */
export async function cleanTempFiles(root: string): Promise<string[]> {
  const removed: string[] = [];
  let hosts;
  try {
    hosts = await readdir(root, { withFileTypes: true });
  } catch (err) {
    if (errCode(err) === 'ENOENT') return removed;
    throw err;
  }
  for (const host of hosts) {
    if (!host.isDirectory()) continue;
    const dir = join(root, host.name);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile() || !TEMP_FILE.test(entry.name)) continue;
      const path = join(dir, entry.name);
      await unlink(path);
      removed.push(path);
    }
  }
  return removed;
}
