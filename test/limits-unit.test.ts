// Unit tests for the pure limiters: karma, per-address connection limits,
// and the failed-login throttle (all with fake clocks), and the key every
// per-address limit counts a client under.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Karma, KARMA_HEARTBEAT_MS } from '../src/net/karma.js';
import { AddressLimits } from '../src/net/address-limits.js';
import { HeldMemoryBudget, type BudgetHolder } from '../src/c2s/held-memory-budget.js';
import { LoginThrottle } from '../src/jsm/login-throttle.js';
import { canonicalAddress, limitKey } from '../src/net/peer-address.js';

describe('limitKey', () => {
  test('an IPv4 address is its own key, mapped into IPv6 or not', () => {
    assert.equal(limitKey('192.0.2.7'), '192.0.2.7');
    assert.equal(limitKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(limitKey('::FFFF:192.0.2.7'), '192.0.2.7');
    assert.equal(limitKey('0:0:0:0:0:ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(limitKey('::ffff:c000:207'), '192.0.2.7', 'mapped, written in hex');
    // Through a NAT64 translator (64:ff9b::/96) each IPv4 client is itself, not the translator's /64.
    assert.equal(limitKey('64:ff9b::192.0.2.1'), '192.0.2.1');
    assert.equal(limitKey('64:ff9b::c633:6407'), '198.51.100.7');
    assert.equal(limitKey('64:ff9b:0:0:1::1'), '64:ff9b::/64', 'outside the /96: an IPv6 client as any other');
    // Teredo (RFC 4380's example: client 192.0.2.45 behind the Teredo server 65.54.227.120):
    // each client is its own IPv4 address, not the server's shared /64.
    assert.equal(limitKey('2001:0000:4136:e378:8000:63bf:3fff:fdd2'), '192.0.2.45');
    assert.equal(limitKey('2001:0:4136:e378:8000:63bf:3fff:fdd1'), '192.0.2.46');
    // 6to4: the /48 of 2002:c000:022d:: is the one IPv4 host 192.0.2.45, whichever /64 it uses.
    assert.equal(limitKey('2002:c000:22d::1'), '192.0.2.45');
    assert.equal(limitKey('2002:c000:22d:ffff::1'), '192.0.2.45');
    assert.equal(limitKey('2001:db8::1'), '2001:db8::/64', '2001:db8::/32 is not Teredo');
  });

  test('an IPv6 address is keyed by its /64, whichever way it is written', () => {
    const key = '2001:db8:1:2::/64';
    for (const a of [
      '2001:db8:1:2:3:4:5:6',
      '2001:0db8:0001:0002:0000:0000:0000:0001',
      '2001:db8:1:2::1',
      '2001:db8:1:2::',
      '2001:DB8:1:2:FFFF:FFFF:FFFF:FFFF',
      '2001:db8:1:2:0:0:192.0.2.1',
      '2001:db8:1:2::%eth0',
    ]) {
      assert.equal(limitKey(a), key, a);
    }
    assert.equal(limitKey('2001:db8::1'), '2001:db8::/64');
    assert.equal(limitKey('2001:db8:0:0:1::'), '2001:db8::/64');
    assert.notEqual(limitKey('2001:db8:1:3::1'), key, 'the next /64 is another client');
    assert.equal(limitKey('::1'), '::/64');
  });

  test('a link-local address stays exact, zone id included: every host on a link shares its /64', () => {
    assert.equal(limitKey('fe80::1%lo'), 'fe80::1%lo');
    assert.equal(limitKey('fe80:0:0:0:0:0:0:1%lo'), limitKey('fe80::1%lo'));
    assert.notEqual(limitKey('fe80::2%lo'), limitKey('fe80::1%lo'));
    assert.notEqual(limitKey('fe80::1%eth0'), limitKey('fe80::1%lo'), 'the same address on another link is another host');
    assert.equal(limitKey('febf::1'), 'febf::1', 'fe80::/10 all of it');
    assert.equal(limitKey('fec0::1'), 'fec0::/64');
  });

  test('canonicalAddress: a config entry in the form a client address is compared in', () => {
    assert.equal(canonicalAddress('2001:DB8::5'), '2001:db8::5');
    assert.equal(canonicalAddress('2001:0db8:0000:0000:0000:0000:0000:0005'), '2001:db8::5');
    assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonicalAddress('::ffff:10.0.0.9'), '10.0.0.9');
    assert.equal(canonicalAddress('::FFFF:a00:9'), '10.0.0.9');
    assert.equal(canonicalAddress('10.0.0.9'), '10.0.0.9');
    assert.equal(canonicalAddress('FE80::1%eth0'), 'fe80::1%eth0');
    for (const bad of ['localhost', '10.0.0.256', '10.0.0.9%eth0', '2001:db8::1::2', '']) assert.equal(canonicalAddress(bad), undefined, bad);
  });

  test('anything that is not an IP address is its own key', () => {
    assert.equal(limitKey('unknown'), 'unknown');
    assert.equal(limitKey(''), '');
    assert.equal(limitKey('2001:db8::1::2'), '2001:db8::1::2');
  });
});

describe('Karma', () => {
  const cfg = { init: 10, max: 10, inc: 1, dec: 1, penalty: -6, restore: 10 };

  test('the heartbeat is 1.4\'s: every 2 seconds (SPEC section 7: karma x 100 bytes, refilled every 2 s)', () => {
    assert.equal(KARMA_HEARTBEAT_MS, 2000);
    // The budget of one heartbeat is karma x 100 bytes: init 3 reads 300 bytes, and the next one costs karma.
    const k = new Karma({ init: 3, max: 3, inc: 1, dec: 1, penalty: -1, restore: 3 });
    assert.equal(k.read(300), false);
    assert.equal(k.karma, 3);
    assert.equal(k.read(1), false);
    assert.equal(k.karma, 2);
  });

  test('a connection within karma x 100 bytes per heartbeat is never paused', () => {
    const k = new Karma(cfg);
    for (let beat = 0; beat < 20; beat++) {
      assert.equal(k.read(500), false);
      assert.equal(k.read(500), false);
      k.heartbeat();
    }
    assert.equal(k.karma, 10);
  });

  test('a sender over karma x 100 bytes per heartbeat on average is paused, however little over: an overrun carries into the next heartbeat', () => {
    for (const perBeat of [1100, 1320, 1900]) {
      const k = new Karma(cfg);
      let pausedAt: number | undefined;
      for (let beat = 0; beat < 30 && pausedAt === undefined; beat++) {
        for (let i = 0; i < 10 && pausedAt === undefined; i++) if (k.read(perBeat / 10)) pausedAt = beat;
        k.heartbeat();
      }
      // Forgiven at each heartbeat, anything under twice the budget went on for ever.
      assert.notEqual(pausedAt, undefined, `${perBeat} bytes per heartbeat never paused`);
    }
  });

  test('a burst costs karma for its size, at the karma left: 10 reads 1,000 + 900 + ... + 200 bytes, and pauses past 5,400', () => {
    const k = new Karma(cfg);
    assert.equal(k.read(5400), false);
    assert.equal(k.karma, 2);
    assert.equal(k.read(101), true);
    assert.equal(k.karma, -6);
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

  test('an IPv6 /64 counts as one address, for the open cap and for <rate>', () => {
    const l = new AddressLimits({ rate: undefined, perAddress: 2, total: 0 });
    assert.equal(l.admit('2001:db8:1:2::1'), undefined);
    assert.equal(l.admit('2001:db8:1:2::2'), undefined);
    assert.equal(l.admit('2001:db8:1:2:ffff::3'), 'per-address');
    assert.equal(l.admit('2001:db8:1:3::1'), undefined, 'another /64 is another address');
    assert.equal(l.openCount('2001:db8:1:2::99'), 2);
    l.release('2001:db8:1:2::1');
    assert.equal(l.admit('2001:db8:1:2::4'), undefined);
    assert.equal(l.admit('::ffff:192.0.2.1'), undefined);
    assert.equal(l.admit('192.0.2.1'), undefined);
    assert.equal(l.admit('192.0.2.1'), 'per-address', 'mapped and plain IPv4 are one address');
    assert.equal(l.admit('192.0.2.2'), undefined, 'IPv4 addresses stay exact');

    let now = 0;
    const r = new AddressLimits({ rate: { points: 2, time: 10 }, perAddress: 0, total: 0 }, () => now);
    assert.equal(r.admit('2001:db8:1:2::a'), undefined);
    assert.equal(r.admit('2001:db8:1:2::b'), undefined);
    assert.equal(r.admit('2001:db8:1:2::c'), 'rate');
    assert.equal(r.admit('2001:db8:1:3::c'), undefined);
    now = 10_001;
    r.prune();
    assert.equal(r.admit('2001:db8:1:2::c'), undefined);
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

  test('the connection rate is measured on a clock that only moves forward: a wall clock stepped back does not stretch its window', () => {
    const realNow = Date.now;
    let step = 0;
    Date.now = () => realNow() + step;
    try {
      const l = new AddressLimits({ rate: { points: 1, time: 10 }, perAddress: 0, total: 0 });
      assert.equal(l.admit('1.2.3.4'), undefined);
      l.release('1.2.3.4');
      assert.equal(l.admit('1.2.3.4'), 'rate');
      // Ten seconds on the wall clock are not ten seconds of the window.
      step = 10_001;
      assert.equal(l.admit('1.2.3.4'), 'rate');
    } finally {
      Date.now = realNow;
    }
  });

  test('waits are measured on a clock that only moves forward: a wall clock stepped back an hour does not make a login wait an hour', () => {
    const realNow = Date.now;
    let step = 0;
    // The wall clock, as the throttle may read it from its start.
    Date.now = () => realNow() + step;
    try {
      const t = new LoginThrottle(cfg);
      for (let i = 0; i < 4; i++) t.failed('dj', '1.2.3.4');
      step = -3_600_000;
      assert.ok(t.waitFor('dj', '1.2.3.4') <= cfg.maxMs, `${t.waitFor('dj', '1.2.3.4')} ms`);
    } finally {
      Date.now = realNow;
    }
  });

  test('an IPv6 /64 counts as one address; <exempt> names exact addresses', () => {
    const t = new LoginThrottle({ ...cfg, exempt: ['2001:db8:1:2::e'] }, () => 0);
    for (const host of ['a', 'b', 'c']) t.failed(`user${host}`, `2001:db8:1:2::${host}`);
    assert.equal(t.waitFor('someone', '2001:db8:1:2::d'), 100, 'three failures from one /64 slow the fourth address in it');
    assert.equal(t.waitFor('someone', '2001:db8:1:3::d'), 0, 'another /64 is not slowed');
    assert.equal(t.waitFor('someone', '2001:db8:1:2::e'), 0, 'the exempt address is not slowed');
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

  test('the keys are capped: forgotten ones go first, then the one whose last failure is oldest', () => {
    let now = 0;
    const t = new LoginThrottle(cfg, () => now, 4);
    for (let i = 0; i < 4; i++) t.failed('old', '1.2.3.4'); // u:old, a:1.2.3.4
    now = 1000;
    for (let i = 0; i < 4; i++) t.failed('dj', '5.6.7.8'); // u:dj, a:5.6.7.8
    assert.equal(t.size, 4);
    // Full: old and 1.2.3.4 are forgotten by now and make room at once,
    // without waiting for the next prune.
    now = 60_500;
    for (let i = 0; i < 3; i++) t.failed('x', '9.9.9.9');
    assert.equal(t.size, 4);
    assert.equal(t.waitFor('x', '10.1.1.1'), 100);
    t.failed('dj', '5.6.7.8'); // dj's fifth: kept, so it waits 400 ms; it and 5.6.7.8 move to the end
    assert.equal(t.waitFor('dj', '10.1.1.1'), 400, 'a key still in use was kept');
    // Full with nothing forgotten: the oldest failures (x, 9.9.9.9) go, one per new key.
    t.failed('y', '11.1.1.1');
    assert.equal(t.size, 4);
    assert.equal(t.waitFor('x', '10.1.1.1'), 0, 'x failed longest ago: dropped');
    assert.equal(t.waitFor('dj', '10.1.1.1'), 400, 'dj failed later: kept');
    assert.equal(t.waitFor('z', '5.6.7.8'), 400, '5.6.7.8 failed later: kept');
    for (let i = 0; i < 100; i++) t.failed(`guess${i}`, `10.2.${i}.1`);
    assert.equal(t.size, 4, 'a flood of new keys never grows the map past the cap');
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
    assert.equal(await passed, 'waited');
    assert.equal(t.waitFor('x', '1.2.3.4'), 10, 'the address slot is taken');
    // ...but they never push the user's own key further out.
    assert.equal(t.waitFor('dj', '9.9.9.9'), 0);
    assert.equal(await t.gate('dj', '1.2.3.4', () => false), 'gone', 'gone while waiting');
    assert.equal(await t.gate('dj', '10.0.0.9'), 'now', 'an exempt address never waits');
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
    assert.equal(await Promise.race([passed, late]), 'waited');
  });
});

describe('HeldMemoryBudget', () => {
  /** Holders named `address:name`; `closed` says who was told to go, in order. */
  function holders(names: string[]): { h: Record<string, BudgetHolder>; closed: string[] } {
    const closed: string[] = [];
    const h: Record<string, BudgetHolder> = {};
    for (const n of names) h[n] = { budgetKey: n.split(':')[0]!, overBudget: () => closed.push(n) };
    return { h, closed };
  }

  test('counts what each holds, a change replacing its last figure, and forgets a holder released', () => {
    const budget = new HeldMemoryBudget(() => 100);
    const { h, closed } = holders(['x:a', 'x:b']);
    budget.set(h['x:a']!, 40);
    budget.set(h['x:b']!, 30);
    budget.set(h['x:a']!, 60);
    assert.equal(budget.used, 90);
    budget.release(h['x:b']!);
    budget.release(h['x:b']!);
    assert.equal(budget.used, 60);
    budget.set(h['x:a']!, 0);
    assert.equal(budget.used, 0);
    assert.deepEqual(closed, []);
  });

  test('over the budget, the address holding the most loses its largest first, until the rest is down to 90%', () => {
    const budget = new HeldMemoryBudget(() => 100);
    const { h, closed } = holders(['x:a', 'x:b', 'y:c', 'z:d']);
    // x holds 60 in two connections, y one of 30.
    budget.set(h['x:a']!, 35);
    budget.set(h['x:b']!, 25);
    budget.set(h['y:c']!, 30);
    assert.deepEqual(closed, []);
    // z's 15 makes 105: x (60) is the heaviest address, its a (35) goes, and 70 is under 90.
    budget.set(h['z:d']!, 15);
    assert.deepEqual(closed, ['x:a']);
    assert.equal(budget.used, 70);
  });

  test('a flood of small connections from one address is cut before a larger real client from another', () => {
    const budget = new HeldMemoryBudget(() => 1000);
    const names = Array.from({ length: 30 }, (_, i) => `flood:${i}`);
    const { h, closed } = holders([...names, 'home:client']);
    for (const n of names) budget.set(h[n]!, 30);
    // The real client holds more than any one flood connection, and takes
    // the sum to 1,100; but its address holds less than the flood's, so
    // flood connections go until 900 is reached.
    budget.set(h['home:client']!, 200);
    assert.ok(!closed.includes('home:client'), closed.join(' '));
    assert.equal(closed.length, 7);
    assert.equal(budget.used, 890);
  });

  test('addresses holding alike lose one connection each in turn, not all of the first one', () => {
    const budget = new HeldMemoryBudget(() => 50);
    const { h, closed } = holders(['a:1', 'a:2', 'b:1', 'b:2', 'c:1', 'c:2']);
    budget.set(h['a:1']!, 10);
    budget.set(h['a:2']!, 10);
    budget.set(h['b:1']!, 10);
    budget.set(h['b:2']!, 10);
    budget.set(h['c:1']!, 10);
    assert.equal(closed.length, 0);
    // 60 against 50: down to 45, one from a, then one from b.
    budget.set(h['c:2']!, 10);
    assert.deepEqual(closed.map((n) => n.split(':')[0]), ['a', 'b']);
    assert.equal(budget.used, 40);
  });

  test('0 is no bound; the bound is read at each check, and enforce() applies a lower one at once', () => {
    let max = 0;
    const budget = new HeldMemoryBudget(() => max);
    const { h, closed } = holders(['x:a', 'y:b']);
    budget.set(h['x:a']!, 1_000_000);
    budget.set(h['y:b']!, 10);
    assert.deepEqual(closed, []);
    max = 500;
    budget.enforce();
    assert.deepEqual(closed, ['x:a']);
    assert.equal(budget.used, 10);
  });

  test('an address is forgotten with its last holder: connections from ever new addresses leave nothing behind', () => {
    const budget = new HeldMemoryBudget(() => 100);
    const { h } = holders(['x:a', 'y:b', 'z:c']);
    const addresses = (): number => (budget as unknown as { groups: Map<string, unknown> }).groups.size;
    budget.set(h['x:a']!, 10);
    budget.release(h['x:a']!);
    // Released by weighing nothing, too.
    budget.set(h['y:b']!, 10);
    budget.set(h['y:b']!, 0);
    // And closed for the budget.
    budget.set(h['z:c']!, 1000);
    assert.equal(budget.used, 0);
    assert.equal(addresses(), 0);
  });

  test('a holder is not counted once told, even if it never releases itself', () => {
    const budget = new HeldMemoryBudget(() => 10);
    let told = 0;
    const stubborn: BudgetHolder = { budgetKey: 'x', overBudget: () => told++ };
    budget.set(stubborn, 50);
    assert.equal(told, 1);
    assert.equal(budget.used, 0);
  });
});
