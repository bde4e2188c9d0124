// What the file system costs here, measured once per bench run: the CPU
// to create a small file and to rewrite one in place, on the server's core,
// in the folder the servers' spools go to. Creating a file is the floor
// for anything that makes one per operation (register: a spool file per
// user), and on some VMs it alone costs a millisecond.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pinnedCommand } from './proc.js';
import { discardTempDir } from './server-process.js';

export interface FsFloor {
  /** CPU microseconds (all threads, kernel included) per new 700-byte file. */
  createUs: number;
  /** The same per in-place rewrite of an existing file. */
  rewriteUs: number;
  dir: string;
}

// Run in a child so that only this work is on the clock; 32 in flight, as the bench's register does.
const PROBE = `
import { open } from 'node:fs/promises';
const [dir, n] = [process.argv[1], Number(process.argv[2])];
const data = Buffer.alloc(700, 120);
async function timed(fn) {
  let i = 0;
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: 32 }, async () => { while (i < n) await fn(i++); }));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}
const createUs = await timed(async (k) => { const fh = await open(dir + '/f' + k, 'wx'); await fh.write(data); await fh.close(); });
const rewriteUs = await timed(async (k) => { const fh = await open(dir + '/f' + k, 'r+'); await fh.write(data, 0, data.length, 0); await fh.close(); });
process.stdout.write(JSON.stringify({ createUs, rewriteUs }));
`;

export function measureFsFloor(cpu: number | undefined, files = 3000): FsFloor | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yak-bench-fs-'));
  try {
    const [cmd, args] = pinnedCommand(cpu, process.execPath, ['--input-type=module', '-e', PROBE, dir, String(files)]);
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) return undefined;
    return { ...(JSON.parse(r.stdout) as { createUs: number; rewriteUs: number }), dir: os.tmpdir() };
  } finally {
    discardTempDir(dir);
  }
}
