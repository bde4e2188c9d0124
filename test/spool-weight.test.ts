// A user's file is capped in weight parsed as well as in bytes (see
// MAX_FILE_DENSITY in xdb.ts): densely packed XML that stays far below
// <maxfilesize> in bytes is refused once the file would weigh too much,
// the same way as a file too large (here: 503 Offline Storage Full).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { hostDirName, userFileName } from '../src/xdb/file-names.js';
import { MAX_FILE_DENSITY, NS_OFFLINE } from '../src/xdb/xdb.js';
import { NODE_WEIGHT } from '../src/xml/stream-parser.js';
import { startYak } from './helpers/yak.js';
import { closeAll, isMessage, login, offlineUser, onlineUser, plain, spoolRecords, type Client } from './helpers/session.js';

test('a densely packed offline message that would make the file too dense gets 503 Offline Storage Full; the file stays as it was', async () => {
  const cap = 65536;
  const yak = await startYak({
    tweak: (c) => {
      plain(c);
      c.maxFileBytes = cap;
    },
  });
  let sender: Client | undefined;
  let other: Client | undefined;
  let recipient: Client | undefined;
  try {
    await offlineUser(yak, 'dense1');
    sender = await onlineUser(yak, 'dense2');
    // From another sender from here on: over its share of the store
    // (mod_offline), dense2 would be refused whatever the file's weight.
    other = await onlineUser(yak, 'dense3');
    const file = path.join(yak.spool, hostDirName('localhost'), userFileName('dense1'));
    // 5,000 `<a/>`: 20 KB, weighing about 770,000 once stored. The first
    // one brings the file near its weight cap (16 x 64 KiB = 1 MiB), the
    // second would take it beyond, though both together take 40 KB.
    const n = 5000;
    assert.ok(2 * n * NODE_WEIGHT > MAX_FILE_DENSITY * cap && n * NODE_WEIGHT < MAX_FILE_DENSITY * cap);
    const dense = (id: string): string => `<message to='dense1@localhost' id='${id}'><x xmlns='urn:x'>${'<a/>'.repeat(n)}</x></message>`;

    sender.send(dense('d1'));
    await sender.nothing(isMessage, [], 'the first dense message was refused');
    assert.ok((await stat(file)).size > 20_000);

    other.send(dense('d2'));
    const bounced = await other.next((e) => e.attrs.id === 'd2');
    assert.equal(bounced.attrs.type, 'error');
    assert.equal(bounced.attrs.from, 'dense1@localhost');
    const error = bounced.getChild('error');
    assert.equal(error?.attrs.code, '503', bounced.getChild('error')?.toString());
    assert.equal(error?.text(), 'Offline Storage Full');
    const records = await spoolRecords(yak, 'dense1');
    assert.deepEqual(records?.get(NS_OFFLINE)?.getChildren('message').map((m) => m.attrs.id), ['d1']);
    assert.ok((await stat(file)).size < cap / 2, 'the file is far below <maxfilesize> in bytes');

    // An ordinary message still has room, and the recipient gets what was stored.
    other.send("<message to='dense1@localhost' id='small'><body>hello</body></message>");
    await other.nothing(isMessage, [], 'an ordinary message was refused');
    recipient = await login(yak, 'dense1');
    recipient.send('<presence/>');
    const first = await recipient.next(isMessage);
    assert.equal(first.attrs.id, 'd1');
    assert.equal(first.getChild('x', 'urn:x')?.elements.length, n);
    assert.equal((await recipient.next(isMessage)).attrs.id, 'small');
    await recipient.nothing(isMessage, [], 'a refused message was stored');
  } finally {
    await closeAll(sender, other, recipient);
    await yak.stop();
  }
});
