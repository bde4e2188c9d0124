import assert from 'node:assert/strict';
import test from 'node:test';
import { MAX_IN_DOUBT, MAX_IN_DOUBT_CHARS, mayBeResent, MessagesInDoubt } from '../src/c2s/messages-in-doubt.js';
import { retransmissionTimeMs } from '../src/net/retransmission-time.js';
import { xml } from './helpers/session.js';

const texts = (r: MessagesInDoubt): string[] => r.take().map((m) => m.text);

test('what the client is heard from after is taken as received; what was written since is in doubt, oldest first', () => {
  const r = new MessagesInDoubt();
  r.note('<message id="a"/>', 1_000);
  r.note('<message id="b"/>', 2_000);
  r.heard();
  assert.equal(r.size, 0);
  r.note('<message id="c"/>', 3_000);
  r.note('<message id="d"/>', 4_000);
  assert.deepEqual(texts(r), ['<message id="c"/>', '<message id="d"/>']);
  assert.equal(r.size, 0, 'take() empties it');
  assert.deepEqual(r.take(), []);
});

test('the wall-clock time a message in doubt was sent is counted back from the monotonic clock; those older than maxAgeMs are not given', () => {
  const r = new MessagesInDoubt();
  r.note('<message id="old"/>', 5_000);
  r.note('<message id="new"/>', 10_000);
  const before = Date.now();
  const taken = r.take(60_000, 70_000);
  assert.deepEqual(taken.map((m) => m.text), ['<message id="new"/>']);
  assert.ok(Math.abs(taken[0]!.sentAt.getTime() - (before - 60_000)) < 1_000, taken[0]!.sentAt.toISOString());
});

test('at most MAX_IN_DOUBT messages and MAX_IN_DOUBT_CHARS characters are kept, the latest; a larger one alone is kept whole', () => {
  const r = new MessagesInDoubt();
  for (let i = 0; i < MAX_IN_DOUBT + 50; i++) r.note(`<message id="${i}"/>`, i);
  const kept = texts(r);
  assert.equal(kept.length, MAX_IN_DOUBT);
  assert.equal(kept[0], '<message id="50"/>');
  assert.equal(kept.at(-1), `<message id="${MAX_IN_DOUBT + 49}"/>`);

  const big = 'x'.repeat(MAX_IN_DOUBT_CHARS / 4);
  for (let i = 0; i < 6; i++) r.note(`${i}${big}`, i);
  assert.deepEqual(
    texts(r).map((t) => t[0]),
    ['3', '4', '5'],
    'four of them would be over the characters kept',
  );
  r.note('small', 1);
  r.note('y'.repeat(MAX_IN_DOUBT_CHARS * 2), 2);
  assert.deepEqual(texts(r).map((t) => t.length), [MAX_IN_DOUBT_CHARS * 2]);
});

test('a long run of notes keeps the latest in order; one heard in between starts it again', () => {
  const r = new MessagesInDoubt();
  for (let i = 0; i < 10_000; i++) {
    r.note(`<message id="${i}"/>`, i);
    if (i === 9_990) r.heard();
  }
  assert.deepEqual(texts(r), Array.from({ length: 9 }, (_, k) => `<message id="${9_991 + k}"/>`));
  for (let i = 0; i < 10_000; i++) r.note(`<message id="${i}"/>`, i);
  const kept = texts(r);
  assert.equal(kept.length, MAX_IN_DOUBT);
  assert.equal(kept.at(-1), '<message id="9999"/>');
});

test('errors, groupchat and headlines are never sent again; any other message may be', () => {
  for (const type of ['error', 'groupchat', 'headline']) assert.equal(mayBeResent(xml(`<message type='${type}'/>`)), false, type);
  for (const type of ['chat', 'normal', '', 'foo']) assert.equal(mayBeResent(xml(`<message type='${type}'/>`)), true, type);
  assert.equal(mayBeResent(xml('<message/>')), true);
});

test("the kernel's give-up time for tcp_retries2, as Linux counts it: 924.6 s for the default 15, 3 s for 3", () => {
  assert.equal(retransmissionTimeMs(15), 924_600);
  assert.equal(retransmissionTimeMs(3), 3_000);
  assert.equal(retransmissionTimeMs(8), 102_200);
  assert.equal(retransmissionTimeMs(9), 204_600);
  assert.equal(retransmissionTimeMs(10), 324_600);
});
