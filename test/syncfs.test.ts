// syncfs for checkpoints (src/xdb/syncfs.ts): when it is trusted, and what
// the flush it returns does with folders that are there and that are not.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { probeSyncFs, syncfsReportsErrors } from '../src/xdb/syncfs.js';

const LINUX = { platform: 'linux', release: '6.1.0' } as const;

test('syncfs is trusted from Linux 5.8 on, where it reports writeback errors', () => {
  for (const r of ['5.8.0', '5.10.0-28-amd64', '6.18.44-fc-v782', '10.0']) assert.equal(syncfsReportsErrors(r), true, r);
  for (const r of ['5.7.19', '4.19.0-27-amd64', '3.10', '', 'unknown']) assert.equal(syncfsReportsErrors(r), false, r);
});

test('probeSyncFs: a flush through sync -f where it works, rejecting for a folder that is not there', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'yak-syncfs-'));
  const syncFs = await probeSyncFs(dir, LINUX);
  assert.ok(syncFs, 'coreutils sync -f works on Linux');
  await syncFs([dir, dir]);
  await assert.rejects(syncFs([join(dir, 'missing')]), /sync -f failed/);
  await rm(dir, { recursive: true });
});

test('probeSyncFs: none on other systems, older kernels, or without a sync that takes -f', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'yak-syncfs-'));
  assert.equal(await probeSyncFs(dir, { ...LINUX, platform: 'darwin' }), undefined);
  assert.equal(await probeSyncFs(dir, { ...LINUX, release: '5.4.0' }), undefined);
  assert.equal(await probeSyncFs(dir, { ...LINUX, command: '/bin/false' }), undefined);
  assert.equal(await probeSyncFs(dir, { ...LINUX, command: join(dir, 'no-such-sync') }), undefined);
  await rm(dir, { recursive: true });
});
