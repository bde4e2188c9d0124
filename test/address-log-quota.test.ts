// AddressLogQuota (src/net/address-log-quota.ts): lines about connections
// not logged in are written up to a share per address and window, the rest
// counted and summed up in one line when the window ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressLogQuota } from '../src/net/address-log-quota.js';
import { captureLog } from './helpers/log-capture.js';

test('each address writes its share of a window; the rest is summed up when it ends, and the next window starts afresh', async () => {
  const { log, lines } = captureLog('info');
  const quota = new AddressLogQuota(log, 3, 60_000);
  const write = (address: string, n: number): void => {
    for (let i = 0; i < n; i++) quota.write('info', address, { address, i }, 'connection closed');
  };
  write('192.0.2.1', 5);
  // Two addresses of one IPv6 /64 share its share, as every per-address limit counts them.
  write('2001:db8:1:2::1', 2);
  write('2001:db8:1:2::99', 3);
  write('192.0.2.2', 1);
  // Loopback (local tools, benchmarks) is not held back.
  write('127.0.0.1', 10);
  await new Promise((resolve) => setImmediate(resolve));
  const written = (address: string): number => lines.filter((l) => l.msg === 'connection closed' && l.address === address).length;
  assert.equal(written('192.0.2.1'), 3);
  assert.equal(written('2001:db8:1:2::1') + written('2001:db8:1:2::99'), 3);
  assert.equal(written('192.0.2.2'), 1);
  assert.equal(written('127.0.0.1'), 10);
  quota.endWindow();
  await new Promise((resolve) => setImmediate(resolve));
  const summaries = lines.filter((l) => l.msg === 'connection log lines left out').map((l) => [l.address, l.network, l.leftOut, l.level]);
  assert.deepEqual(summaries, [
    ['192.0.2.1', undefined, 2, 40],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64', 2, 40],
  ]);
  write('192.0.2.1', 1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(written('192.0.2.1'), 4);
  quota.endWindow();
});

test('a window ends by itself, with its summary', async () => {
  const { log, lines } = captureLog('info');
  const quota = new AddressLogQuota(log, 1, 50);
  for (let i = 0; i < 4; i++) quota.write('warn', '192.0.2.7', { address: '192.0.2.7' }, 'connection refused');
  await new Promise((resolve) => setTimeout(resolve, 150));
  const summary = lines.find((l) => l.msg === 'connection log lines left out');
  assert.deepEqual([summary?.address, summary?.leftOut, summary?.seconds], ['192.0.2.7', 3, 0.05]);
});

test('a network is named as people write it (compressed); a link-local address, counted alone, is named no network', async () => {
  const { log, lines } = captureLog('info');
  const quota = new AddressLogQuota(log, 1, 60_000);
  for (const address of ['2001:db8::5', '2001:db8::6', 'fe80::1%eth0', 'fe80::1%eth0']) quota.write('info', address, { address }, 'connection closed');
  quota.endWindow();
  await new Promise((resolve) => setImmediate(resolve));
  const summaries = lines.filter((l) => l.msg === 'connection log lines left out').map((l) => [l.address, l.network]);
  assert.deepEqual(summaries, [
    ['2001:db8::5', '2001:db8::/64'],
    ['fe80::1%eth0', undefined],
  ]);
});
