// Child process of test/log.test.ts: Yak's logger as the daemon makes it
// without a <log><file> (lines to stderr), writing `lines` lines while its
// parent does not read stderr. It then prints its heap (after a collection)
// on stdout and, told to on stdin, one more line after a pause; or, with
// `stop`, does what a stopped daemon does (closing()) and has nothing left
// to run, so it ends unless stderr holds it up.
// Without arguments (the test runner loads every file under test/) it does nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/log.js';

const [lines, then] = process.argv.slice(2);
if (lines) {
  const { log, closing } = createLogger({});
  for (let i = 0; i < Number(lines); i++) {
    log.info({ stream: 'DB20DA6A', address: '192.0.2.1', seconds: 0 }, 'connection closed');
    // A turn now and then, as a server's lines come: sonic-boom retries its writes in between.
    if (i % 1000 === 0) await sleep(1);
  }
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`heap ${process.memoryUsage().heapUsed}\n`);
  if (then === 'stop') {
    log.info('stopped');
    closing();
  } else process.stdin.once('data', async () => {
    // stderr is read from now on: once what waited has gone, a line goes out as usual.
    await sleep(500);
    log.info('after the reader came back');
    await sleep(500);
    process.exit(0);
  });
}
