// The benchmark report's table of issue 5's targets, from hand-made
// results: the verdicts, and the null server's column, which must call a
// target out of reach only when the do-nothing server itself misses it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ScenarioName, ScenarioResult } from '../bench/meter.js';
import { DEFAULT_OPTIONS, parseMix } from '../bench/options.js';
import type { Cell, Report } from '../bench/report-data.js';
import { markdownReport, textReport } from '../bench/report.js';

function run(scenario: ScenarioName, rate: number, cpuUs: number, extra: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    scenario,
    ops: rate * 10,
    errors: 0,
    seconds: 10,
    rate,
    p50Ms: 2,
    p99Ms: 10,
    serverCpuSec: (rate * 10 * cpuUs) / 1e6,
    serverCpuUsPerOp: cpuUs,
    serverCpuUtil: 0.99,
    genCpuUtil: 0.5,
    otherCpuUtil: 0,
    errorSamples: [],
    notes: [],
    ...extra,
  };
}

function cell(target: string, scenario: ScenarioName, rate: number, cpuUs: number, extra?: Partial<ScenarioResult>): Cell {
  return { target, scenario, runs: [run(scenario, rate, cpuUs, extra)], failures: [] };
}

function report(targets: string[], cells: Cell[], durableUs?: number, options = DEFAULT_OPTIONS): Report {
  return {
    started: new Date(0),
    seconds: 1,
    command: 'npm run bench',
    machine: { cpu: 'test', cores: 2, memory: '1 GiB', kernel: 'k', os: 'o', node: 'v20' },
    pinning: 'none',
    fileLimit: 1024,
    fsFloor: durableUs === undefined ? undefined : { createUs: durableUs / 2, rewriteUs: 50, durableUs, dir: '/tmp', fileSystem: 'ext4 without a journal' },
    versions: {},
    options,
    runsPerScenario: 1,
    targets,
    scenarios: [...new Set(cells.map((c) => c.scenario))],
    cells,
    skippedPeers: {},
  };
}

/** The row of the targets table whose first column starts with `name`, split into cells. */
function targetRow(text: string, name: string): string {
  const section = text.slice(text.indexOf('Issue 5 targets'));
  const line = section.split('\n').find((l) => l.startsWith(name));
  assert.ok(line, `no row for ${name} in:\n${section}`);
  return line;
}

describe('bench report: issue 5 targets', () => {
  test('login: 3.5x ejabberd and <= 200 us decide the verdict', () => {
    const met = textReport(report(['yak', 'ejabberd'], [cell('yak', 'login-digest', 5000, 190), cell('ejabberd', 'login-digest', 1000, 900)]));
    assert.match(targetRow(met, 'login-digest'), /5,000 logins\/s, 190 us\/login; 5.00x ejabberd's 1,000\s+met$/);
    const notMet = textReport(report(['yak', 'ejabberd'], [cell('yak', 'login-digest', 3000, 190), cell('ejabberd', 'login-digest', 1000, 900)]));
    assert.match(targetRow(notMet, 'login-digest'), /3.00x ejabberd's 1,000\s+not met$/);
  });

  test('without the null server there is no floor column', () => {
    const text = textReport(report(['yak'], [cell('yak', 'login-plain', 2000, 500)]));
    assert.doesNotMatch(text, /null server, same run/);
  });

  test('the null server column marks what even it misses as out of reach', () => {
    const text = textReport(
      report(
        ['yak', 'ejabberd', 'null'],
        [
          cell('yak', 'login-plain', 1800, 540),
          cell('ejabberd', 'login-plain', 1000, 900),
          cell('null', 'login-plain', 3000, 250),
          cell('yak', 'message', 60000, 17),
          cell('ejabberd', 'message', 10000, 90),
          cell('null', 'message', 200000, 4),
        ],
      ),
    );
    assert.match(text, /null server, same run \(the floor for Node\)/);
    assert.match(targetRow(text, 'login-plain'), /not met\s+3,000 logins\/s, 250 us\/login; 3.00x ejabberd's 1,000: out of reach for a Node server here$/);
    // The null server meets the message target: no "out of reach" there.
    assert.match(targetRow(text, 'message'), /met\s+200,000 msgs\/s, p99 10.0 ms; 20.0x ejabberd's 10,000$/);
  });

  test('the parsing floor gets its own column, which says what parsing and logging alone put out of reach', () => {
    const text = textReport(
      report(
        ['yak', 'ejabberd', 'null', 'floor'],
        [
          cell('yak', 'login-digest', 1800, 540),
          cell('ejabberd', 'login-digest', 1000, 900),
          cell('null', 'login-digest', 4000, 200),
          cell('floor', 'login-digest', 2500, 300),
        ],
      ),
    );
    assert.match(text, /null server, same run \(the floor for Node\)\s+parsing floor, same run/);
    // The null server meets the rate; the parsing floor does not.
    assert.match(targetRow(text, 'login-digest'), /4,000 logins\/s, 200 us\/login; 4.00x ejabberd's 1,000\s+2,500 logins\/s, 300 us\/login; 2.50x ejabberd's 1,000: out of reach for a server on this parser and logger here$/);
    const withoutFloor = textReport(report(['yak', 'null'], [cell('yak', 'login-digest', 1800, 540)]));
    assert.doesNotMatch(withoutFloor, /parsing floor/);
  });

  test('a saturated generator caps the rate, so CPU per op decides the ratio to ejabberd', () => {
    const saturatedNull = { genCpuUtil: 0.95 };
    const text = textReport(
      report(
        ['yak', 'ejabberd', 'null'],
        [
          cell('yak', 'login-plain', 1800, 540),
          cell('ejabberd', 'login-plain', 1500, 600),
          // 3.2x ejabberd's rate, but 160 us is under 600 / 3.5: within reach.
          cell('null', 'login-plain', 4800, 160, saturatedNull),
          cell('yak', 'mixed', 9000, 100),
          cell('ejabberd', 'mixed', 5000, 200),
          // 3x the rate and only 1/3 of the CPU: 4x is out of reach even here.
          cell('null', 'mixed', 15000, 66, saturatedNull),
        ],
      ),
    );
    assert.match(targetRow(text, 'login-plain'), /not met\s+4,800 logins\/s, 160 us\/login; 3.20x ejabberd's 1,500 \(generator saturated; CPU per op 0.267x\)$/);
    assert.match(targetRow(text, 'mixed'), /15,000 vs 5,000 ops\/s \(3.00x\); CPU per op 0.330x; generator saturated: out of reach for a Node server here$/);
  });

  test('a run with another mix shows its mixed figures but judges no target', () => {
    const cells = [cell('yak', 'mixed', 60000, 16), cell('ejabberd', 'mixed', 5000, 200)];
    const presenceOnly = { ...DEFAULT_OPTIONS, mix: parseMix('presence:1') };
    const text = textReport(report(['yak', 'ejabberd'], cells, undefined, presenceOnly));
    assert.match(targetRow(text, 'mixed'), /60,000 ops\/s, 16.0 us\/op with another mix \(presence 100%\)\s+not measured$/);
    assert.match(markdownReport(report(['yak', 'ejabberd'], cells, undefined, presenceOnly)), /each does one operation at a time: presence 100%/);
    // The same figures with the mix are judged.
    assert.match(targetRow(textReport(report(['yak', 'ejabberd'], cells)), 'mixed'), /60,000 vs 5,000 ops\/s \(12.0x\); CPU per op 0.0800x\s+met$/);
  });

  test("register's floor is the null server's, which stores nothing", () => {
    const text = textReport(report(['yak', 'null'], [cell('yak', 'register', 800, 1200), cell('null', 'register', 4000, 200)], 300));
    assert.match(targetRow(text, 'register'), /not met\s+4,000\/s, 200 us\/registration; it stores nothing$/);
    assert.match(markdownReport(report(['yak'], [cell('yak', 'register', 800, 1200)], 300)), /in \/tmp, ext4 without a journal\): 150 us of CPU to create/);
    const slow = textReport(report(['yak', 'null'], [cell('yak', 'register', 800, 1200), cell('null', 'register', 1500, 600)]));
    assert.match(targetRow(slow, 'register'), /1,500\/s, 600 us\/registration: out of reach for a Node server here; it stores nothing$/);
  });

  test('idle: 8 KB is 8,000 bytes; the floors have a column (a connection and a parser are per session), 0k has none', () => {
    const text = textReport(
      report(['yak', 'null', 'floor'], [
        cell('yak', 'idle', 1000, 500, { rssKiBPerSession: 7.9 }),
        cell('null', 'idle', 3000, 200, { rssKiBPerSession: 5.5 }),
        cell('floor', 'idle', 3000, 200, { rssKiBPerSession: 9.3 }),
        cell('yak', 'login-0k', 1000, 300),
        cell('yak', 'login-digest', 1000, 250),
        cell('null', 'login-digest', 5000, 90),
      ]),
    );
    // 7.9 KiB is 8,090 bytes.
    assert.match(targetRow(text, 'idle'), /7.90 KiB\/session at 10,000 sessions\s+not met\s+5.50 KiB\/session at 10,000 sessions\s+9.30 KiB\/session at 10,000 sessions: out of reach for a server on this parser and logger here$/);
    assert.match(targetRow(text, 'login-0k'), /1.20x\)\s+met\s+-\s+-$/);
    const fewer = textReport(report(['yak'], [cell('yak', 'idle', 1000, 500, { rssKiBPerSession: 6 })], undefined, { ...DEFAULT_OPTIONS, sessions: 500 }));
    assert.match(targetRow(fewer, 'idle'), /6.00 KiB\/session at 500 sessions\s+not measured \(fewer sessions than the target names\)$/);
  });

  test('login without ejabberd in the run: the 3.5x is not measured, so neither is the target; missing 5,000/s and 200 us is enough to miss it', () => {
    const fast = textReport(report(['yak'], [cell('yak', 'login-digest', 5100, 190)]));
    assert.match(targetRow(fast, 'login-digest'), /5,100 logins\/s, 190 us\/login\s+not measured$/);
    const slow = textReport(report(['yak'], [cell('yak', 'login-digest', 3000, 300)]));
    assert.match(targetRow(slow, 'login-digest'), /3,000 logins\/s, 300 us\/login\s+not met$/);
  });

  test("a calibration server is out of reach only when it misses by rate and by CPU: short of 3.5x ejabberd's rate with its generator unsaturated, but within 1/3.5 of its CPU, it is not", () => {
    const text = textReport(
      report(['yak', 'ejabberd', 'null'], [
        cell('yak', 'login-plain', 2000, 300),
        cell('ejabberd', 'login-plain', 1313, 761),
        cell('null', 'login-plain', 4372, 190, { genCpuUtil: 0.81 }),
      ]),
    );
    assert.match(targetRow(text, 'login-plain'), /not met\s+4,372 logins\/s, 190 us\/login; 3.33x ejabberd's 1,313$/);
  });
});

describe('bench report: the main table', () => {
  test("'of it kernel' gives the median system time per operation, empty for reports written before it was measured", () => {
    const text = textReport(
      report(['yak', 'null'], [cell('yak', 'login-digest', 3000, 300, { serverSysUsPerOp: 117 }), cell('null', 'login-digest', 5000, 130)]),
    );
    const header = text.split('\n').find((l) => l.startsWith('scenario'))!;
    const col = header.indexOf('of it kernel');
    assert.ok(col > header.indexOf('server CPU us/op'), header);
    const row = (target: string): string => text.split('\n').find((l) => l.startsWith('login-digest') && l.includes(` ${target} `))!;
    assert.equal(row('yak').slice(col).split(/\s{2,}/)[0], '117');
    assert.equal(row('null').slice(col).split(/\s{2,}/)[0], '');
  });
});

