// The errno code of a failed system call (ENOENT, EISDIR, ...), if it is one.
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
