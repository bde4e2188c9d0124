// Keeps the benchmark harness (bench/) from rotting: every scenario runs
// for about a second with tiny numbers against a real Yak daemon started
// the way `npm run bench` starts it, through the harness's own API. Only
// "it ran, did something and nothing failed" is asserted: no timings.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SMOKE_OPTIONS } from '../bench/options.js';
import { SCENARIOS, runScenario, type Endpoint } from '../bench/scenarios.js';
import type { RunningServer } from '../bench/server-process.js';
import { TARGETS, yak } from '../bench/targets.js';
import { ClientStream } from '../src/client/client-stream.js';
import { digestFor } from '../src/util/hash.js';
import { el } from '../src/xml/element.js';
import { registerIq, startYak } from './helpers/yak.js';

describe('bench harness smoke', () => {
  let server: RunningServer;
  let ep: Endpoint;

  before(async () => {
    server = await yak.start({});
    ep = { name: 'yak', port: server.port, domain: server.domain, pids: () => server.pids(), restart: () => server.restart() };
  });
  after(async () => {
    await server?.stop();
    // Outside a bench run, a stopped server's temp folder goes at once.
    if (server) assert.equal(existsSync(server.dir), false, `${server.dir} was left behind`);
  });

  for (const scenario of SCENARIOS) {
    test(scenario, async () => {
      const daemon = server.pids()[0];
      const r = await runScenario(scenario, ep, SMOKE_OPTIONS);
      assert.equal(r.scenario, scenario);
      // Idle measures a daemon started afresh on the accounts it registered.
      if (scenario === 'idle') assert.notEqual(server.pids()[0], daemon, 'idle did not restart the server');
      assert.deepEqual(r.errorSamples, []);
      assert.equal(r.errors, 0);
      assert.ok(r.ops > 0, `${scenario} completed no operation`);
      if (scenario === 'idle') assert.ok(r.rssKiBPerSession !== undefined && Number.isFinite(r.rssKiBPerSession));
    });
  }
});

// The parsing floor (`--peers floor`) stands for the least a real server
// does; a floor that let a wrong password in, or stopped logging, would
// make the report's "out of reach" column claim too much.
describe('bench harness smoke: the parsing floor', () => {
  let server: RunningServer;

  before(async () => {
    server = await TARGETS.floor!.start({});
  });
  after(async () => {
    await server?.stop();
  });

  test('logs in through the parser, writes a line per login and session end, and refuses a wrong digest', async () => {
    const ep: Endpoint = { name: 'floor', port: server.port, domain: server.domain, pids: () => server.pids(), restart: () => server.restart() };
    const r = await runScenario('login-digest', ep, SMOKE_OPTIONS);
    assert.equal(r.errors, 0);
    assert.ok(r.ops > 0, 'no login completed');
    // The logger flushes every 200 ms.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const lines = readFileSync(path.join(server.dir, 'floor.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; method?: string });
    assert.ok(lines.filter((l) => l.msg === 'login ok' && l.method === 'digest').length >= r.ops, `fewer login lines than the ${r.ops} logins`);
    assert.ok(lines.some((l) => l.msg === 'session ended'));

    const c = await ClientStream.connect({ port: server.port, domain: server.domain });
    try {
      await c.request(registerIq('floored', 'right'));
      const wrong = await c.request(el('iq', { type: 'set', id: 'a1' }, el('query', { xmlns: 'jabber:iq:auth' }, el('username', {}, 'floored'), el('digest', {}, digestFor(c.streamId, 'wrong')), el('resource', {}, 'r'))));
      assert.equal(wrong.attrs.type, 'error');
      const right = await c.request(el('iq', { type: 'set', id: 'a2' }, el('query', { xmlns: 'jabber:iq:auth' }, el('username', {}, 'floored'), el('digest', {}, digestFor(c.streamId, 'right')), el('resource', {}, 'r'))));
      assert.equal(right.attrs.type, 'result');
    } finally {
      await c.close();
    }
  });
});

// A run long enough to spend every 0k chain of the pool (about 80 s at
// Yak's defaults) used to turn into errors; now a user whose chain is
// spent logs in once with its password, and Yak makes a new chain.
test('login-0k goes on past the pool chains: a spent chain is renewed by a plain login, without errors', async () => {
  const sequences = 3;
  const yakServer = await startYak({ tweak: (cfg) => void (cfg.jsm.zerokSequences = sequences) });
  try {
    const ep: Endpoint = { name: 'yak', port: yakServer.port, domain: yakServer.host, pids: () => [process.pid], restart: () => assert.fail('login-0k restarts no server') };
    const r = await runScenario('login-0k', ep, SMOKE_OPTIONS);
    assert.deepEqual(r.errorSamples, []);
    assert.equal(r.errors, 0);
    const chainsWorth = SMOKE_OPTIONS.pool! * sequences;
    assert.ok(r.ops > chainsWorth, `${r.ops} logins did not spend the pool's ${chainsWorth} chain links`);
  } finally {
    await yakServer.stop();
  }
});
