// Makes a set of rewritten files and their folders durable, for a journal
// checkpoint or a replay: one syncfs per file system where the machine has
// one to trust (syncfs.ts), else an fdatasync per file and an fsync per folder.
import type { Logger } from '../log.js';
import { syncDir } from './dir-sync.js';
import { datasyncIfThere } from './file-writes.js';
import { probeSyncFs, type FileSystemSync, type SyncFsOptions } from './syncfs.js';
import { eachLimited } from '../util/each-limited.js';

/** Files fdatasync'd at once during a checkpoint: leaves libuv threads for logins. */
const CHECKPOINT_SYNCS = 2;

/** How the last checkpoint or replay made its files durable. */
export type CheckpointSync = 'syncfs' | 'fdatasync';

/** Files written (absolute paths) and the folders holding them. */
export interface FileSet {
  files: Set<string>;
  dirs: Set<string>;
  /**
   * Folders that name every file system the set lies on, for syncfs (by
   * default `dirs`): a backup's thousands of folders, all on one file
   * system, would make one long command line of them.
   */
  fileSystems?: readonly string[];
}

export class FileSetSync {
  /** Probed at the first sync. */
  private syncFs: Promise<FileSystemSync | undefined> | undefined;
  private lastSync: CheckpointSync | undefined;

  constructor(
    /** The spool: where syncfs is probed. */
    private readonly root: string,
    /** How to find syncfs (tests); false: always one fdatasync per file. */
    private readonly syncFsOptions: SyncFsOptions | false,
    private readonly log: Logger,
  ) {}

  /** How the last sync made its files durable (undefined before the first). */
  get last(): CheckpointSync | undefined {
    return this.lastSync;
  }

  /** The files and folders `set` covers, on disk to stay. */
  async sync(set: FileSet): Promise<void> {
    if (this.syncFsOptions !== false) {
      const syncFs = await (this.syncFs ??= this.findSyncFs(this.syncFsOptions));
      if (syncFs) {
        try {
          const fileSystems = set.fileSystems ?? [...set.dirs];
          if (fileSystems.length > 0) await syncFs(fileSystems);
          this.lastSync = 'syncfs';
          return;
        } catch (err) {
          // fdatasync says, file by file, whether the data is on disk.
          this.log.warn({ err }, 'syncfs failed at a checkpoint; syncing each file instead');
        }
      }
    }
    await eachLimited(set.files, CHECKPOINT_SYNCS, datasyncIfThere);
    for (const dir of set.dirs) await syncDir(dir);
    this.lastSync = 'fdatasync';
  }

  private async findSyncFs(opts: SyncFsOptions): Promise<FileSystemSync | undefined> {
    const syncFs = await probeSyncFs(this.root, opts);
    if (syncFs) this.log.info('journal checkpoints flush the file system with sync -f (syncfs)');
    else this.log.info('journal checkpoints sync each file: no syncfs to trust here');
    return syncFs;
  }
}
