// Why a path given as a file to read is no file that can be read: a device
// never ends (/dev/zero, /dev/urandom), so reading it whole would hang and
// fill memory; a folder holds no text. A pipe (`<(make-list)`) does end,
// and is read like a file.
import type { Stats } from 'node:fs';

/** 'a device, not a file', 'a folder, not a file', or undefined when it can be read. */
export function notAFile(st: Stats): string | undefined {
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device, not a file';
  if (st.isDirectory()) return 'a folder, not a file';
  return undefined;
}
