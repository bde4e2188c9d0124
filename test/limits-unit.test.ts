// Unit tests for the pure limiters: karma, per-address connection limits,
// and the failed-login throttle (all with fake clocks).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Karma } from '../src/net/karma.js';
import { AddressLimits } from '../src/net/address-limits.js';
import { LoginThrottle } from '../src/jsm/login-throttle.js';

describe('Karma', () => {
  const cfg = { init: 10, max: 10, inc: 1, dec: 1, penalty: -6, restore: 10 };

  test('a connection within karma x 100 bytes per heartbeat is never paused', () => {
    const k = new Karma(cfg);
    for (let beat = 0; beat < 20; beat++) {
      assert.equal(k.read(500), false);
      assert.equal(k.read(500), false);
      k.heartbeat();
    }
    assert.equal(k.karma, 10);
  });

  test('a flood drains karma to the penalty and pauses; heartbeats restore it', () => {
    const k = new Karma(cfg);
    let paused = false;
    for (let i = 0; i < 100 && !paused; i++) paused = k.read(1000);
    assert.equal(paused, true);
    assert.equal(k.karma, -6);
    assert.equal(k.read(1), true, 'still paused');
    let beats = 0;
    while (!k.heartbeat()) beats++;
    assert.equal(beats, 5, 'six heartbeats from -6 back to 0');
    assert.equal(k.karma, 10, 'jumps to restore');
    assert.equal(k.paused, false);
  });
});

describe('AddressLimits', () => {
  test('<rate points time>: per address, within the window', () => {
    let now = 0;
    const l = new AddressLimits({ rate: { points: 2, time: 10 }, perAddress: 0, total: 0 }, () => now);
    assert.equal(l.admit('a'), undefined);
    assert.equal(l.admit('a'), undefined);
    assert.equal(l.admit('a'), 'rate');
    assert.equal(l.admit('b'), undefined, 'another address is not affected');
    now = 10_001;
    assert.equal(l.admit('a'), undefined, 'window passed');
  });

  test('open connections per address and in total', () => {
    const l = new AddressLimits({ rate: undefined, perAddress: 2, total: 3 });
    assert.equal(l.admit('a'), undefined);
    assert.equal(l.admit('a'), undefined);
    assert.equal(l.admit('a'), 'per-address');
    assert.equal(l.admit('b'), undefined);
    assert.equal(l.admit('c'), 'total');
    l.release('a');
    assert.equal(l.admit('c'), undefined);
  });
});

describe('LoginThrottle', () => {
  const cfg = { free: 3, baseMs: 100, maxMs: 1000, forgetMs: 60_000, exempt: ['10.0.0.9'] };

  test('free failures, then doubling waits up to the cap, per user and per address', () => {
    let now = 0;
    const t = new LoginThrottle(cfg, () => now);
    for (let i = 0; i < 2; i++) t.failed('dj', '1.2.3.4');
    assert.equal(t.waitFor('dj', '1.2.3.4'), 0, 'the third attempt is not slowed');
    t.failed('dj', '1.2.3.4');
    assert.equal(t.waitFor('dj', '1.2.3.4'), 100, 'after three failures (free=3) the next attempt waits');
    assert.equal(t.waitFor('dj', '5.6.7.8'), 100, 'the user is slowed from any address');
    assert.equal(t.waitFor('other', '1.2.3.4'), 100, 'the address is slowed for any user');
    assert.equal(t.waitFor('other', '5.6.7.8'), 0);
    now = 100;
    t.failed('dj', '1.2.3.4');
    assert.equal(t.waitFor('dj', '1.2.3.4'), 200);
    now = 300;
    t.failed('dj', '1.2.3.4');
    assert.equal(t.waitFor('dj', '1.2.3.4'), 400);
    for (let i = 0; i < 10; i++) t.failed('dj', '1.2.3.4');
    assert.ok(t.waitFor('dj', '1.2.3.4') <= 1000);
    now += 1000;
    assert.equal(t.waitFor('dj', '1.2.3.4'), 0, 'a right password gets looked at after the wait');
  });

  test('free=0 and free=1 both slow the attempt after the first failure, by baseMs', () => {
    for (const free of [0, 1]) {
      const t = new LoginThrottle({ ...cfg, free }, () => 0);
      assert.equal(t.waitFor('dj', '1.2.3.4'), 0);
      t.failed('dj', '1.2.3.4');
      assert.equal(t.waitFor('dj', '1.2.3.4'), 100, `free=${free}`);
    }
  });

  test('success clears the user, failures are forgotten, exempt addresses are never slowed', () => {
    let now = 0;
    const t = new LoginThrottle(cfg, () => now);
    for (let i = 0; i < 6; i++) t.failed('dj', '1.2.3.4');
    t.succeeded('dj');
    assert.ok(t.waitFor('dj', '5.6.7.8') === 0);
    assert.ok(t.waitFor('x', '1.2.3.4') > 0, 'the address keeps its count');
    now = 61_001;
    assert.equal(t.waitFor('x', '1.2.3.4'), 0);
    for (let i = 0; i < 10; i++) t.failed('y', '10.0.0.9');
    assert.equal(t.waitFor('z', '10.0.0.9'), 0);
  });

  test('waiting attempts take slots of the address only, and a gone client takes none', async () => {
    // The clock is the test's: gate() sleeps on real timers, but what it
    // reads after waking must not depend on how loaded the machine is.
    let now = 0;
    const t = new LoginThrottle({ ...cfg, baseMs: 5, maxMs: 20 }, () => now);
    for (let i = 0; i < 4; i++) t.failed('dj', '1.2.3.4');
    const userWait = t.waitFor('dj', '9.9.9.9');
    assert.ok(userWait > 0 && userWait <= 20);
    // Many attempts from 1.2.3.4 pass the gate one slot after another...
    const passed = t.gate('dj', '1.2.3.4');
    now = 25; // past every wait by the time the gate's timer fires
    assert.equal(await passed, true);
    assert.equal(t.waitFor('x', '1.2.3.4'), 10, 'the address slot is taken');
    // ...but they never push the user's own key further out.
    assert.equal(t.waitFor('dj', '9.9.9.9'), 0);
    assert.equal(await t.gate('dj', '1.2.3.4', () => false), false, 'gone while waiting');
  });

  test('failures that land while an attempt waits do not push it back: strangers guessing cannot lock the user out', async () => {
    let now = 0;
    const t = new LoginThrottle({ ...cfg, baseMs: 5, maxMs: 20 }, () => now);
    for (let i = 0; i < 6; i++) t.failed('dj', `10.0.0.${i}`);
    assert.equal(t.waitFor('dj', '192.0.2.1'), 20);
    // The real user, from an address of its own, starts to wait...
    const passed = t.gate('dj', '192.0.2.1');
    // ...while guesses from elsewhere keep failing, each moving the user's key on.
    now = 15;
    t.failed('dj', '10.0.0.99');
    assert.ok(t.waitFor('dj', '192.0.2.1') > 5);
    now = 21; // past what the user's key said when the attempt came
    const late = new Promise<string>((r) => setTimeout(() => r('still waiting'), 500).unref());
    assert.equal(await Promise.race([passed, late]), true);
  });
});
