import assert from 'node:assert/strict';
import test from 'node:test';
import { RequestFailures } from '../src/jsm/request-failures.js';
import { captureLog } from './helpers/log-capture.js';
import { leadMonotonicClock } from './helpers/monotonic-clock.js';

const systemError = (code: string): Error => Object.assign(new Error(`${code}: it failed`), { code });

test('a system error is logged in full the first time it fails a request, then not for each request; each code has its own spell; other failures are logged each time', async () => {
  const captured = captureLog();
  const failures = new RequestFailures(captured.log);
  for (let i = 0; i < 5; i++) failures.failed(systemError('ENOSPC'), { stanza: 'iq' }, 'handler failed');
  failures.failed(systemError('EROFS'), {}, 'pre-session handler failed');
  for (let i = 0; i < 2; i++) failures.failed(new Error('a bug'), {}, 'handler failed');
  for (let i = 0; i < 2; i++) failures.failed(Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' }), {}, 'handler failed');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    captured.lines.map((l) => l.msg),
    [
      'handler failed; said again once a minute while requests fail with ENOSPC',
      'pre-session handler failed; said again once a minute while requests fail with EROFS',
      'handler failed',
      'handler failed',
      'handler failed',
      'handler failed',
    ],
  );
  assert.equal(captured.lines[0]!.stanza, 'iq');
  assert.match(String((captured.lines[0]!.err as { message: string }).message), /ENOSPC: it failed/);
});

test('a spell of a system error: said again with its count at a failure a minute after it was last said; a minute without a failure ends it, and the next one is said in full', async (t) => {
  const lead = leadMonotonicClock(t);
  const captured = captureLog();
  const failures = new RequestFailures(captured.log);
  const at = (seconds: number): void => {
    lead(seconds * 1000);
    failures.failed(systemError('ENOSPC'), {}, 'handler failed');
  };
  at(0);
  at(30);
  at(61);
  // Quiet for more than a minute: the spell is over.
  at(125);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    captured.lines.map((l) => [l.msg, l.failures]),
    [
      ['handler failed; said again once a minute while requests fail with ENOSPC', undefined],
      ['requests still failing', 3],
      ['handler failed; said again once a minute while requests fail with ENOSPC', undefined],
    ],
  );
});
