// A pino logger whose JSON lines the test can read back (startYak's own
// logger is silent): for asserting that something was logged, and that
// nothing secret was.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';

export interface CapturedLog {
  log: Logger;
  /** Every line so far, parsed. */
  lines: Record<string, unknown>[];
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

/** The first captured line matching, waiting up to `timeout` ms for it. */
export async function logLine(
  log: CapturedLog,
  match: (l: Record<string, unknown>) => boolean,
  timeout = 5_000,
): Promise<Record<string, unknown>> {
  const end = Date.now() + timeout;
  for (;;) {
    const found = log.lines.find(match);
    if (found) return found;
    if (Date.now() > end) assert.fail(`no matching log line within ${timeout} ms:\n${log.lines.map((l) => JSON.stringify(l)).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The account events logged so far, in order: "registered USER", "login ok USER METHOD", "login failed USER METHOD". */
export function accountEvents(log: CapturedLog): string[] {
  return log.lines
    .filter((l) => l.msg === 'registered' || l.msg === 'login ok' || l.msg === 'login failed')
    .map((l) => `${String(l.msg)} ${String(l.user)}${l.method ? ` ${String(l.method)}` : ''}`);
}
