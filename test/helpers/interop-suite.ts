// The frame of an interop test that runs a client script against an
// in-process Yak: the server starts before the suite's tests, with its log
// captured, no welcome message and no karma (neither is what these tests
// are about); after them the script is killed if it still runs, our own
// clients close, and the server stops.
import { after, before } from 'node:test';
import type { LoggedScript } from './child-script.js';
import { captureLog, type CapturedLog } from './log-capture.js';
import { closeAll, plain, type Client } from './session.js';
import { startYak, type TestYak } from './yak.js';

export interface InteropSuite {
  /** Set once the suite's before hook has run. */
  yak: TestYak;
  log: CapturedLog;
  /** The running script, killed after the suite. */
  script?: LoggedScript;
  /** Our own clients, closed after the suite. */
  clients: Client[];
}

/** Registers the suite's before and after hooks; call inside describe(). */
export function interopSuite(): InteropSuite {
  const suite = { clients: [] } as unknown as InteropSuite;
  before(async () => {
    suite.log = captureLog();
    suite.yak = await startYak({ log: suite.log.log, tweak: plain });
  });
  after(async () => {
    suite.script?.kill();
    await closeAll(...suite.clients);
    await suite.yak?.stop();
  });
  return suite;
}
