// A session whose stream closed leaves routing at once but ends only once
// what it sent before closing is handled (src/jsm/leaving-sessions.ts).
// Meanwhile a login with the same full JID waits for that end, so the old
// goodbye never follows the new session's presence; and a removal of the
// account ends it with the others, so what it still had in hand never
// reaches a contact after the account is gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Xdb } from '../src/xdb/xdb.js';
import type { Element } from '../src/xml/element.js';
import { holdCalls, holdFirstCall } from './helpers/latch.js';
import { startYak, type TestYak } from './helpers/yak.js';
import { closeAll, login, NS_ROSTER, onlineUser, outOfRouting, plain, sessionEnded, spoolRecords, subscribeBoth, type Client } from './helpers/session.js';

const isPresence = (e: { name: string }): boolean => e.name === 'presence';

describe('sessions whose stream closed with work in hand', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: plain });
  });
  after(() => yak.stop());

  for (const how of ['drops its connection', 'closes its stream'] as const) {
    test(`a login with the same resource, while the old session that ${how} is still ending, comes after its goodbye`, async () => {
      const name = how === 'drops its connection' ? 'leavedrop' : 'leaveclose';
      const x = await onlineUser(yak, `${name}1`);
      const y = await onlineUser(yak, `${name}2`);
      let back: Client | undefined;
      await subscribeBoth(x, y);
      // The old session's goodbye waits on its first read of the roster (the contacts it goes to).
      const hold = holdFirstCall(yak.server.xdb as Xdb, 'peek', (_host, user, ns) => user === x.user && ns === NS_ROSTER);
      try {
        if (how === 'drops its connection') await x.drop();
        else void x.close();
        await hold.reached;
        const relogin = login(yak, x.user).then(async (c) => {
          await c.presence('<presence><status>back</status></presence>');
          return c;
        });
        // Time for a server that does not wait to log in and say 'back'
        // before the old goodbye (nothing here is asserted about time).
        await Promise.race([relogin, sleep(1000)]);
        hold.release();
        back = await relogin;
        await y.sync();
        const seen: Element[] = [];
        for (;;) {
          const e = await y.next((p) => isPresence(p) && p.attrs.from === x.full, 1).catch(() => undefined);
          if (!e) break;
          seen.push(e);
        }
        assert.deepEqual(
          seen.map((p) => `${p.attrs.type ?? 'available'} ${p.getChildText('status')}`),
          ['unavailable Disconnected', 'available back'],
          'the contact saw the old goodbye after the new presence',
        );
        assert.deepEqual(
          yak.server.jsm.sessions.of(x.bare).map((s) => `${s.jid} ${s.available}`),
          [`${x.full} true`],
        );
      } finally {
        hold.restore();
        await closeAll(x, y, back);
      }
    });
  }

  // Bounded: a login that wrongly waits for the held end would wait for ever.
  test('a login with another resource does not wait for a leaving session', { timeout: 10_000 }, async () => {
    const x = await onlineUser(yak, 'leaveother1');
    let other: Client | undefined;
    const hold = holdFirstCall(yak.server.xdb as Xdb, 'peek', (_host, user, ns) => user === x.user && ns === NS_ROSTER);
    try {
      await x.drop();
      await hold.reached;
      other = await login(yak, x.user, 'Other');
      await other.presence();
      // In while the old session is still leaving.
      assert.deepEqual(yak.server.jsm.leaving.of(x.bare).map((s) => s.jid.toString()), [x.full]);
    } finally {
      hold.release();
      hold.restore();
      await closeAll(x, other);
    }
  });

  test('a removal of the account ends a session whose stream just closed: what it still had in hand is dropped, and its request reaches nobody', async () => {
    const x = await onlineUser(yak, 'leaverm1');
    const y = await onlineUser(yak, 'leaverm2');
    const xdb = yak.server.xdb as Xdb;
    // x's roster set waits in hand; a subscription request waits behind it.
    const held = holdFirstCall(xdb, 'update', (_host, user, ns) => user === x.user && ns === NS_ROSTER);
    const removing = holdCalls(xdb, 'remove', (_host, user) => user === x.user);
    try {
      x.send(`<iq type='set' id='rs'><query xmlns='${NS_ROSTER}'><item jid='other@localhost' name='Other'/></query></iq>`);
      x.send(`<presence type='subscribe' to='${y.bare}'/>`);
      await held.reached;
      const ended = sessionEnded(yak, x.full);
      // A reset: the server sees the connection gone at once (after a plain
      // FIN it would first let the stanzas in hand finish, as at a close).
      x.stream.socket.resetAndDestroy();
      await outOfRouting(yak, x.bare);
      const removal = yak.server.jsm.removeUser(yak.host, x.user);
      await removing.reached;
      held.release();
      await ended;
      removing.release();
      await removal;
      await y.nothing((e) => isPresence(e) && e.attrs.type === 'subscribe', [], 'the removed account’s request reached the contact');
      const roster = (await spoolRecords(yak, y.user))?.get(NS_ROSTER);
      assert.equal(roster?.getChildren('item').find((i) => i.attrs.jid === x.bare), undefined, 'the contact holds a request from the removed name');
      assert.equal(await spoolRecords(yak, x.user), undefined, 'the account came back');
    } finally {
      held.restore();
      removing.restore();
      await closeAll(x, y);
    }
  });
});
