// RosterPushes: pushes are paced (at most SENDS_PER_TURN session writes per
// turn of the event loop) and keep their order per user, whoever made them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Jid } from '../src/jid.js';
import { RosterPushes, SENDS_PER_TURN } from '../src/jsm/roster-pushes.js';
import { Session, SessionRegistry, type SessionTransport } from '../src/jsm/sessions.js';
import { el, type Element } from '../src/xml/element.js';

/** A registry of `count` sessions of `user` that fetched their roster; what each receives is recorded. */
function sessionsOf(registry: SessionRegistry, user: string, count: number): string[][] {
  const received: string[][] = [];
  for (let i = 0; i < count; i++) {
    const got: string[] = [];
    received.push(got);
    const transport = {
      send: (_stanza: Element, text?: string) => got.push(text!),
      close: () => undefined,
      address: '127.0.0.1',
      writable: true,
      backedUp: false,
    } as unknown as SessionTransport;
    const s = new Session(new Jid(user, 'localhost', `r${i}`), transport);
    s.rosterInterested = true;
    registry.add(s);
  }
  return received;
}

const item = (jid: string): Element => el('item', { jid, subscription: 'none' });
const jidsIn = (texts: string[]): string[] => texts.map((t) => /jid='([^']*)'/.exec(t)![1]!);

test('a few pushes go out at once, in the same turn', () => {
  const registry = new SessionRegistry();
  const [a, b] = sessionsOf(registry, 'dj', 2);
  const pushes = new RosterPushes(registry);
  void pushes.push('dj@localhost', item('x@localhost'));
  void pushes.push('dj@localhost', el('item', { jid: 'h@localhost', hidden: '' }));
  assert.deepEqual(jidsIn(a!), ['x@localhost']);
  assert.deepEqual(jidsIn(b!), ['x@localhost'], 'a hidden item is never pushed');
  assert.match(a![0]!, /^<iq type='set' id='push\d+' to='dj@localhost\/r0'><query xmlns='jabber:iq:roster'><item jid='x@localhost' subscription='none'\/><\/query><\/iq>$/);
  // Each push has an id (libpurple refuses one without): the same for every session it goes to, another for the next.
  const idOf = (text: string): string => /^<iq type='set' id='([^']+)'/.exec(text)![1]!;
  void pushes.push('dj@localhost', item('y@localhost'));
  assert.equal(idOf(a![0]!), idOf(b![0]!));
  assert.equal(idOf(a![1]!), idOf(b![1]!));
  assert.notEqual(idOf(a![0]!), idOf(a![1]!));
});

test('thousands of pushes to many sessions are spread over turns, the other work of the loop running in between', async () => {
  const registry = new SessionRegistry();
  const received = sessionsOf(registry, 'dj', 20);
  const pushes = new RosterPushes(registry);
  const items = Array.from({ length: 500 }, (_, i) => item(`c${i}@localhost`));
  let last: Promise<void> | undefined;
  for (const it of items) last = pushes.push('dj@localhost', it);
  const total = () => received.reduce((n, r) => n + r.length, 0);
  // Counted turn by turn: never more than the budget (a whole item's sessions may finish a turn).
  const perTurn: number[] = [total()];
  let done = false;
  void last!.then(() => (done = true));
  while (!done) {
    const before = total();
    await nextTurn();
    perTurn.push(total() - before);
  }
  assert.equal(total(), 500 * 20);
  assert.ok(perTurn.length >= Math.floor((500 * 20) / (SENDS_PER_TURN + 20)), `spread over turns: ${perTurn.join(',')}`);
  for (const n of perTurn) assert.ok(n <= SENDS_PER_TURN + 20, `at most a turn's budget (and the rest of one item's sessions): ${n}`);
  // Every session got every item, in order.
  for (const r of received) assert.deepEqual(jidsIn(r), items.map((i) => i.attrs.jid));
});

test("a push made while a user's pushes wait goes after them, another user's too once the turn is used", async () => {
  const registry = new SessionRegistry();
  const [dj] = sessionsOf(registry, 'dj', 1);
  const [bob] = sessionsOf(registry, 'bob', 1);
  const pushes = new RosterPushes(registry);
  for (let i = 0; i < SENDS_PER_TURN + 10; i++) void pushes.push('dj@localhost', item(`c${i}@localhost`));
  // A later change to an item already waiting: its push must not overtake the earlier one.
  const later = pushes.push('dj@localhost', el('item', { jid: 'c5@localhost', subscription: 'both' }));
  const forBob = pushes.push('bob@localhost', item('x@localhost'));
  assert.equal(dj!.length, SENDS_PER_TURN, 'this turn is used up');
  assert.equal(bob!.length, 0, 'bob waits for the next turn');
  await Promise.all([later, forBob]);
  const c5 = dj!.filter((t) => t.includes("jid='c5@localhost'"));
  assert.deepEqual(c5.map((t) => /subscription='(\w+)'/.exec(t)![1]), ['none', 'both']);
  assert.equal(dj!.at(-1), c5[1], 'the later change is pushed last');
  assert.deepEqual(jidsIn(bob!), ['x@localhost']);
});
