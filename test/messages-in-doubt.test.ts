import assert from 'node:assert/strict';
import test from 'node:test';
import { inDoubtTotalChars, MAX_IN_DOUBT, MAX_IN_DOUBT_CHARS, mayBeResent, MessagesInDoubt, TOTAL_IN_DOUBT_CHARS } from '../src/c2s/messages-in-doubt.js';
import { retransmissionTimeMs } from '../src/net/retransmission-time.js';
import { xml } from './helpers/session.js';

const texts = (r: MessagesInDoubt): string[] => r.take().map((m) => m.text);

test('what the client is heard from after is taken as received; what was written since is in doubt, oldest first', () => {
  const r = new MessagesInDoubt();
  r.note('<message id="a"/>', undefined, 1_000);
  r.note('<message id="b"/>', undefined, 2_000);
  r.heard();
  assert.equal(r.size, 0);
  r.note('<message id="c"/>', undefined, 3_000);
  r.note('<message id="d"/>', undefined, 4_000);
  assert.deepEqual(texts(r), ['<message id="c"/>', '<message id="d"/>']);
  assert.equal(r.size, 0, 'take() empties it');
  assert.deepEqual(r.take(), []);
});

test('the wall-clock time a message in doubt was sent is counted back from the monotonic clock; those older than maxAgeMs are not given', () => {
  const r = new MessagesInDoubt();
  r.note('<message id="old"/>', undefined, 5_000);
  r.note('<message id="new"/>', undefined, 10_000);
  const before = Date.now();
  r.note('<message id="stored"/>', 'stored', 10_000);
  const taken = r.take(60_000, 70_000);
  assert.deepEqual(taken.map((m) => [m.text, m.stored]), [['<message id="new"/>', false], ['<message id="stored"/>', true]]);
  assert.ok(Math.abs(taken[0]!.sentAt.getTime() - (before - 60_000)) < 1_000, taken[0]!.sentAt.toISOString());
});

test('a message sent again before keeps the time it was first sent for its stamp; its age, and its written time, are this connection\'s', () => {
  const r = new MessagesInDoubt();
  const firstSent = new Date(Date.now() - 3_600_000);
  const before = Date.now();
  r.note('<message id="again"/>', firstSent, 10_000);
  r.note('<message id="live"/>', undefined, 10_000);
  const taken = r.take(60_000, 20_000);
  assert.deepEqual(taken.map((m) => [m.text, m.resent, m.stored]), [['<message id="again"/>', true, false], ['<message id="live"/>', false, false]]);
  assert.equal(taken[0]!.sentAt, firstSent);
  assert.ok(Math.abs(taken[0]!.writtenAt.getTime() - (before - 10_000)) < 1_000, taken[0]!.writtenAt.toISOString());
  assert.equal(taken[1]!.sentAt, taken[1]!.writtenAt);
  r.note('<message id="again"/>', new Date(), 10_000);
  assert.deepEqual(r.take(5_000, 20_000), [], 'written longer ago than the bound: not given, however recently first sent');
});

test("a message heard of leaves no mark behind: the next one noted is not taken for one from the store", () => {
  const r = new MessagesInDoubt();
  r.note('<message id="a"/>', 'stored', 1_000);
  r.heard();
  r.note('<message id="b"/>', undefined, 2_000);
  assert.deepEqual(r.take(Infinity, 2_000).map((m) => [m.text, m.stored, m.resent]), [['<message id="b"/>', false, false]]);
});

test('at most MAX_IN_DOUBT messages and MAX_IN_DOUBT_CHARS characters are kept, the latest; a larger one alone is kept whole', () => {
  const r = new MessagesInDoubt();
  for (let i = 0; i < MAX_IN_DOUBT + 50; i++) r.note(`<message id="${i}"/>`, undefined, i);
  const kept = texts(r);
  assert.equal(kept.length, MAX_IN_DOUBT);
  assert.equal(kept[0], '<message id="50"/>');
  assert.equal(kept.at(-1), `<message id="${MAX_IN_DOUBT + 49}"/>`);

  const big = 'x'.repeat(MAX_IN_DOUBT_CHARS / 4);
  for (let i = 0; i < 6; i++) r.note(`${i}${big}`, undefined, i);
  assert.deepEqual(
    texts(r).map((t) => t[0]),
    ['3', '4', '5'],
    'four of them would be over the characters kept',
  );
  r.note('small', undefined, 1);
  r.note('y'.repeat(MAX_IN_DOUBT_CHARS * 2), undefined, 2);
  assert.deepEqual(texts(r).map((t) => t.length), [MAX_IN_DOUBT_CHARS * 2]);
});

test('a long run of notes keeps the latest in order; one heard in between starts it again', () => {
  const r = new MessagesInDoubt();
  for (let i = 0; i < 10_000; i++) {
    r.note(`<message id="${i}"/>`, undefined, i);
    if (i === 9_990) r.heard();
  }
  assert.deepEqual(texts(r), Array.from({ length: 9 }, (_, k) => `<message id="${9_991 + k}"/>`));
  for (let i = 0; i < 10_000; i++) r.note(`<message id="${i}"/>`, undefined, i);
  const kept = texts(r);
  assert.equal(kept.length, MAX_IN_DOUBT);
  assert.equal(kept.at(-1), '<message id="9999"/>');
});

test('each message keeps its own mark of coming from offline storage, however many were dropped before it', () => {
  const r = new MessagesInDoubt();
  // 70 too large to keep together: each drops the one before (the record compacts past 64).
  for (let i = 0; i < 70; i++) r.note(`<message id="old${i}">${'x'.repeat(20_000)}</message>`, undefined, i);
  r.note('<message id="fromstore"/>', 'stored', 100);
  r.note('<message id="live"/>', undefined, 101);
  assert.deepEqual(r.take().slice(-2).map((m) => [m.text, m.stored]), [
    ['<message id="fromstore"/>', true],
    ['<message id="live"/>', false],
  ]);
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

test('what all records hold is bounded by TOTAL_IN_DOUBT_CHARS: the record that has held messages the longest drops its oldest, so the others keep theirs; what they give back is no longer counted', () => {
  const base = inDoubtTotalChars();
  const each = MAX_IN_DOUBT_CHARS / 2;
  const records = Array.from({ length: Math.ceil(TOTAL_IN_DOUBT_CHARS / each) + 3 }, () => new MessagesInDoubt());
  for (const [k, r] of records.entries()) {
    r.note(`a${k}`.padEnd(each / 2, '.'), undefined, 1);
    r.note(`b${k}`.padEnd(each / 2, '.'), undefined, 2);
  }
  assert.ok(inDoubtTotalChars() - base <= TOTAL_IN_DOUBT_CHARS, String(inDoubtTotalChars() - base));
  assert.equal(records.at(-1)!.size, 2, 'the newest keeps all it was sent');
  assert.equal(records[0]!.size, 0, 'the one holding the longest gave its messages up');
  const sizes = records.map((r) => r.size);
  assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b), 'those holding the longest give way first');
  assert.ok(sizes.filter((n) => n === 2).length >= records.length - 4, sizes.join(','));
  // An active one goes on keeping its latest message: others give way.
  const active = records.at(-1)!;
  active.heard();
  active.note('latest', undefined, 3);
  assert.deepEqual(active.take().map((m) => m.text), ['latest']);
  for (const r of records) r.heard();
  assert.equal(inDoubtTotalChars(), base);
  // Emptied records are no longer the ones that give way: a new note finds room.
  const fresh = new MessagesInDoubt();
  fresh.note('x', undefined, 4);
  assert.equal(fresh.size, 1);
  fresh.heard();
});
