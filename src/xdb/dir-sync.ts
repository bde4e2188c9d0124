// Folder fsyncs, shared: one fsync of a folder makes every rename done in
// it before the fsync started durable. So callers that arrive while one is
// running wait for the next one, which then serves all of them: under load
// a burst of writes costs two folder fsyncs instead of one each.
import { open } from 'node:fs/promises';

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** fsync a folder so a rename or unlink in it survives a crash. */
export async function syncDirNow(dir: string): Promise<void> {
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

interface DirState {
  running: Promise<void> | undefined;
  next: Promise<void> | undefined;
}

export class DirSyncer {
  private readonly dirs = new Map<string, DirState>();

  /** Resolves once a folder fsync that started after this call has finished. */
  sync(dir: string): Promise<void> {
    let st = this.dirs.get(dir);
    if (!st) {
      st = { running: undefined, next: undefined };
      this.dirs.set(dir, st);
    }
    const state = st;
    if (!state.running) return this.start(dir, state);
    // One is running: it may have started before our rename, so join the next.
    state.next ??= state.running.then(
      () => this.start(dir, state),
      () => this.start(dir, state),
    );
    return state.next;
  }

  private start(dir: string, st: DirState): Promise<void> {
    st.next = undefined;
    const run = syncDirNow(dir);
    st.running = run;
    const clear = (): void => {
      if (st.running === run) st.running = undefined;
      if (!st.running && !st.next) this.dirs.delete(dir);
    };
    run.then(clear, clear);
    return run;
  }
}
