// What the file system costs here, measured once per bench run: the CPU
// to create a small file and to rewrite one in place, on the server's core,
// in the folder the servers' spools go to. Creating a file is the floor
// for anything that makes one per operation (register: a spool file per
// user), and on some VMs it alone costs a millisecond.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pinnedCommand } from './proc.js';
import { discardTempDir } from './server-process.js';

export interface FsFloor {
  /** CPU microseconds (all threads, kernel included) per new 700-byte file. */
  createUs: number;
  /** The same per in-place rewrite of an existing file. */
  rewriteUs: number;
  /**
   * The same per new file written and fdatasync'd: what a server that keeps
   * each user in a file of its own pays, at the least, to make a new user
   * durable (Yak's journal batches the sync of the change, but the user's
   * file must itself reach the disk before the journal can let it go).
   */
  durableUs: number;
  dir: string;
  /** The folder's file system, e.g. "ext4 without a journal" (Linux; undefined where unknown). */
  fileSystem?: string;
}

/** One /proc/self/mountinfo line: mount point, device number, type. */
interface Mount {
  point: string;
  device: string;
  type: string;
}

function mounts(): Mount[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(' - '))
    .map((line) => {
      const [before, after] = line.split(' - ') as [string, string];
      const f = before.split(' ');
      return { point: unescape(f[4]!), device: f[2]!, type: after.split(' ')[0]! };
    });
}

/**
 * What file system `dir` is on. For ext3/ext4, whether it has a journal
 * matters here: without one, the kernel skips inodes freed in the last
 * minutes when it allocates (see the README), so creating files costs
 * several times more after many deletions.
 */
export function describeFileSystem(dir: string): string | undefined {
  try {
    const real = realpathSync(dir);
    const within = (p: string): boolean => p === '/' || real === p || real.startsWith(p + '/');
    // The deepest mount point over `dir`; of two at the same point, the
    // later one (mounted over the first) is the one in use.
    let mount: Mount | undefined;
    for (const m of mounts()) if (within(m.point) && (!mount || m.point.length >= mount.point.length)) mount = m;
    if (!mount) return undefined;
    if (mount.type !== 'ext3' && mount.type !== 'ext4') return mount.type;
    // jbd2 lists each journal as <block device>-<inode>.
    const bdev = path.basename(readlinkSync(`/sys/dev/block/${mount.device}`));
    const journaled = existsSync('/proc/fs/jbd2') && readdirSync('/proc/fs/jbd2').some((n) => n.startsWith(`${bdev}-`));
    return `${mount.type} ${journaled ? 'with' : 'without'} a journal`;
  } catch {
    return undefined;
  }
}

// Run in a child so that only this work is on the clock. Synchronous
// calls, as Yak's journal makes them (src/xdb/file-writes.ts), so the figure is
// the file system's cost without trips to libuv's thread pool.
const PROBE = `
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
const [dir, n] = [process.argv[1], Number(process.argv[2])];
const data = Buffer.alloc(700, 120);
function timed(fn, count = n) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) fn(i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / count;
}
const createUs = timed((k) => { const fd = openSync(dir + '/f' + k, 'wx', 0o600); writeSync(fd, data); closeSync(fd); });
const rewriteUs = timed((k) => { const fd = openSync(dir + '/f' + k, 'r+'); writeSync(fd, data, 0, data.length, 0); closeSync(fd); });
// Fewer of these: each waits for the disk.
const durableUs = timed((k) => { const fd = openSync(dir + '/d' + k, 'wx', 0o600); writeSync(fd, data); fdatasyncSync(fd); closeSync(fd); }, Math.min(n, 500));
process.stdout.write(JSON.stringify({ createUs, rewriteUs, durableUs }));
`;

export function measureFsFloor(cpu: number | undefined, files = 3000): FsFloor | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yak-bench-fs-'));
  try {
    const [cmd, args] = pinnedCommand(cpu, process.execPath, ['--input-type=module', '-e', PROBE, dir, String(files)]);
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) return undefined;
    const costs = JSON.parse(r.stdout) as { createUs: number; rewriteUs: number; durableUs: number };
    return { ...costs, dir: os.tmpdir(), fileSystem: describeFileSystem(os.tmpdir()) };
  } finally {
    discardTempDir(dir);
  }
}
