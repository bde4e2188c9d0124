// The harness's way out (bench/server-process.ts): a bench interrupted
// while a server is being stopped (ejabberd takes seconds) still kills
// that server and removes its temp folder.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { freePort, killAllNow, launch, tempDir } from '../bench/server-process.js';

test('a server that ignores SIGTERM, interrupted in its stop: killed, and its folder removed', async () => {
  const dir = await tempDir('yak-test-stop-');
  const port = await freePort();
  // Listens, and ignores the SIGTERM the stop sends first (the stop then waits up to 15 s).
  const script = `process.on('SIGTERM', () => {}); require('node:net').createServer().listen(${port}, '127.0.0.1');`;
  const server = await launch({ name: 'stubborn', command: process.execPath, args: ['-e', script], dir, port, domain: 'localhost', readyTimeoutMs: 10_000 });
  const [pid] = server.pids();
  assert.ok(pid, 'no process to stop');
  const stopping = server.stop();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok(existsSync(dir), 'the folder went before the server did');
  // What the harness's SIGINT handler and 'exit' handler do.
  killAllNow();
  assert.equal(existsSync(dir), false, `${dir} was left behind`);
  await stopping;
  assert.throws(() => process.kill(pid, 0), 'the server still runs');
});
