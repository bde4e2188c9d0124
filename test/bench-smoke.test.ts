// Keeps the benchmark harness (bench/) from rotting: every scenario runs
// for about a second with tiny numbers against a real Yak daemon started
// the way `npm run bench` starts it, through the harness's own API. Only
// "it ran, did something and nothing failed" is asserted: no timings.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { SMOKE_OPTIONS } from '../bench/options.js';
import { SCENARIOS, runScenario, type Endpoint } from '../bench/scenarios.js';
import type { RunningServer } from '../bench/server-process.js';
import { yak } from '../bench/targets.js';

describe('bench harness smoke', () => {
  let server: RunningServer;
  let ep: Endpoint;

  before(async () => {
    server = await yak.start({});
    ep = { name: 'yak', port: server.port, domain: server.domain, pids: () => server.pids() };
  });
  after(async () => {
    await server?.stop();
    // Outside a bench run, a stopped server's temp folder goes at once.
    if (server) assert.equal(existsSync(server.dir), false, `${server.dir} was left behind`);
  });

  for (const scenario of SCENARIOS) {
    test(scenario, async () => {
      const r = await runScenario(scenario, ep, SMOKE_OPTIONS);
      assert.equal(r.scenario, scenario);
      assert.deepEqual(r.errorSamples, []);
      assert.equal(r.errors, 0);
      assert.ok(r.ops > 0, `${scenario} completed no operation`);
      if (scenario === 'idle') assert.ok(r.rssKiBPerSession !== undefined && Number.isFinite(r.rssKiBPerSession));
    });
  }
});
