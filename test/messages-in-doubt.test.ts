import assert from 'node:assert/strict';
import test from 'node:test';
import { CONFIRM_MS, MAX_IN_DOUBT, MAX_IN_DOUBT_CHARS, mayBeResent, MessagesInDoubt } from '../src/c2s/messages-in-doubt.js';
import { xml } from './helpers/session.js';

const texts = (r: MessagesInDoubt): string[] => r.take().map((m) => m.text);

test('what the client is heard from after CONFIRM_MS confirms; what was written since stays in doubt, oldest first', () => {
  const r = new MessagesInDoubt();
  r.note('<message id="a"/>', 1_000);
  r.note('<message id="b"/>', 2_000);
  r.note('<message id="c"/>', 7_000);
  r.heard(1_000 + CONFIRM_MS - 1);
  assert.equal(r.size, 3, 'a round trip may still be under way');
  r.heard(2_000 + CONFIRM_MS);
  assert.deepEqual(texts(r), ['<message id="c"/>']);
  assert.equal(r.size, 0, 'take() empties it');
  assert.deepEqual(r.take(), []);
});

test('the wall-clock time a message in doubt was sent is counted back from the monotonic clock', () => {
  const r = new MessagesInDoubt();
  r.note('<message/>', 10_000);
  const before = Date.now();
  const [m] = r.take(70_000);
  assert.ok(Math.abs(m!.sentAt.getTime() - (before - 60_000)) < 1_000, m!.sentAt.toISOString());
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

test('a long run of notes and confirmations keeps only what is in doubt', () => {
  const r = new MessagesInDoubt();
  for (let i = 0; i < 10_000; i++) {
    r.note(`<message id="${i}"/>`, i * 10);
    r.heard(i * 10);
  }
  const kept = texts(r);
  assert.equal(kept.length, MAX_IN_DOUBT);
  assert.equal(kept.at(-1), '<message id="9999"/>');
});

test('errors, groupchat and headlines are never sent again; any other message may be', () => {
  for (const type of ['error', 'groupchat', 'headline']) assert.equal(mayBeResent(xml(`<message type='${type}'/>`)), false, type);
  for (const type of ['chat', 'normal', '', 'foo']) assert.equal(mayBeResent(xml(`<message type='${type}'/>`)), true, type);
  assert.equal(mayBeResent(xml('<message/>')), true);
});
