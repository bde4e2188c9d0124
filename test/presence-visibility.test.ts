// Who sees a user's presence when roster changes and presence traffic
// cross (RFC 3921 8.2, 8.4, 5.1.3). Presence sent in runs paced on a slow
// reader (probe answers, a login's own resources, the presences shown to a
// new subscriber) is checked again at each turn: nothing goes out after a
// cancellation or refusal, nor an old presence of a session that changed
// it, went invisible or ended meanwhile. jabber:iq:last checks trust right
// before it answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Xdb } from '../src/xdb/xdb.js';
import type { Element } from '../src/xml/element.js';
import { holdFirstCall } from './helpers/latch.js';
import { startYak, type TestYak } from './helpers/yak.js';
import { closeAll, login, NS_ROSTER, onlineUser, plain, sessionEnded, xml, type Client } from './helpers/session.js';

const BIG = 'x'.repeat(1500);
const isPresence = (e: Element): boolean => e.name === 'presence';

/** Every presence `c` was sent before now (a round trip first), in order. */
async function presencesNow(c: Client): Promise<Element[]> {
  await c.sync();
  const out: Element[] = [];
  for (;;) {
    const e = await c.next(isPresence, 1).catch(() => undefined);
    if (!e) return out;
    out.push(e);
  }
}

/** The last presence type (available when none) `c` got from each full JID. */
function lastWord(got: Element[]): Map<string, string> {
  return new Map(got.map((p) => [p.attrs.from!, p.attrs.type ?? 'available']));
}

/** The session of `c` on the server: its waits for a slow reader are what the tests hold. */
function serverSession(yak: TestYak, c: Client) {
  return yak.server.jsm.sessions.find(c.bare, c.resource)!;
}

describe('presence visibility when roster changes cross presence traffic', () => {
  let yak: TestYak;
  before(async () => {
    // A small send buffer: a few presences of 1,500 characters make a reader "slow".
    yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.c2s.limits.outputBytes = 4096;
      },
    });
  });
  after(() => yak.stop());

  test("an approval crossing a change that takes its 'from' away again: the asker is shown no presence after it", async () => {
    const a = await onlineUser(yak, 'visappr', 'A');
    await a.presence('<presence><status>A here</status></presence>');
    const b = await login(yak, 'visappr', 'B');
    await b.presence('<presence><status>B here</status></presence>');
    const v = await onlineUser(yak, 'visapprv');
    await v.roster();
    v.send(`<presence type='subscribe' to='${a.bare}'/>`);
    await v.sync();
    await v.clear();
    // The approval's way into the asker's roster waits while the approver's
    // roster loses the asker. Whatever a client sends about the two waits
    // for the approval (one subscription change at a time for the pair), so
    // the change is written straight into the store, as any other writer's.
    const hold = holdFirstCall(yak.server.xdb as Xdb, 'update', (_host, user, ns) => user === v.user && ns === NS_ROSTER);
    try {
      a.send(`<presence type='subscribed' to='${v.bare}'/>`);
      await hold.reached;
      await yak.server.xdb.set(yak.host, a.user, { [NS_ROSTER]: xml(`<query xmlns='${NS_ROSTER}'/>`) });
      hold.release();
      await a.sync();
      const shown = (await presencesNow(v)).filter((p) => p.attrs.type === undefined);
      assert.deepEqual(shown.map(String), [], 'the asker was shown presence after the change');
    } finally {
      hold.restore();
      await closeAll(a, b, v);
    }
  });

  for (const [what, name] of [
    ['a cancellation', 'visprobecan'],
    ['a session going invisible', 'visprobeinv'],
    ['a session ending', 'visprobeend'],
  ] as const) {
    test(`probe answers paced on a slow prober: after ${what} meanwhile, no old presence follows`, async () => {
      const a = await onlineUser(yak, name, 'A');
      await a.presence(`<presence><status>${BIG}</status></presence>`);
      const b = await login(yak, name, 'B');
      await b.presence(`<presence><status>${BIG}</status></presence>`);
      const v = await onlineUser(yak, `${name}v`);
      v.send(`<presence type='subscribe' to='${a.bare}'/>`);
      await v.sync();
      a.send(`<presence type='subscribed' to='${v.bare}'/>`);
      await a.sync();
      await v.clear();
      // After the first answer, the prober's client is behind: the rest waits for it.
      const hold = holdFirstCall(serverSession(yak, v), 'whenWritable', () => true);
      try {
        v.send(`<presence type='probe' to='${a.bare}'/>`);
        await hold.reached;
        if (what === 'a cancellation') {
          a.send(`<presence type='unsubscribed' to='${v.bare}'/>`);
          await a.sync();
        } else if (what === 'a session going invisible') {
          await b.presence("<presence type='invisible'/>");
        } else {
          const ended = sessionEnded(yak, b.full);
          await b.drop();
          await ended;
        }
        hold.release();
        const last = lastWord(await presencesNow(v));
        assert.equal(last.get(b.full), 'unavailable', `the prober was last shown ${b.full} ${last.get(b.full)}`);
      } finally {
        hold.restore();
        await closeAll(a, b, v);
      }
    });
  }

  test("a login shown its own other resources, paced: one that ends meanwhile is not shown online after its goodbye", async () => {
    const b = await onlineUser(yak, 'visown', 'B');
    await b.presence(`<presence><status>${BIG}</status></presence>`);
    const c = await login(yak, 'visown', 'C');
    await c.presence(`<presence><status>${BIG}</status></presence>`);
    const a = await login(yak, 'visown', 'A');
    const hold = holdFirstCall(serverSession(yak, a), 'whenWritable', () => true);
    try {
      a.send('<presence/>');
      await hold.reached;
      const ended = sessionEnded(yak, c.full);
      await c.drop();
      await ended;
      hold.release();
      const last = lastWord(await presencesNow(a));
      assert.equal(last.get(c.full), 'unavailable', `${a.full} was last shown ${c.full} ${last.get(c.full)}`);
    } finally {
      hold.restore();
      await closeAll(a, b, c);
    }
  });

  test('cancelled and approved again while the first approval still shows presences: every resource is shown again', async () => {
    const owner = [await onlineUser(yak, 'visagain', 'A'), await login(yak, 'visagain', 'B'), await login(yak, 'visagain', 'C')];
    for (const o of owner) await o.presence(`<presence><status>${BIG}</status></presence>`);
    const [a] = owner as [Client];
    const v = await onlineUser(yak, 'visagainv');
    await v.roster();
    v.send(`<presence type='subscribe' to='${a.bare}'/>`);
    await v.sync();
    await v.clear();
    const hold = holdFirstCall(serverSession(yak, v), 'whenWritable', () => true);
    try {
      a.send(`<presence type='subscribed' to='${v.bare}'/>`);
      await hold.reached;
      a.send(`<presence type='unsubscribed' to='${v.bare}'/>`);
      await a.sync();
      v.send(`<presence type='subscribe' to='${a.bare}'/>`);
      await v.sync();
      a.send(`<presence type='subscribed' to='${v.bare}'/>`);
      await a.sync();
      await v.clear();
      hold.release();
      for (const o of owner) await v.next((p) => isPresence(p) && p.attrs.from === o.full && p.attrs.type === undefined);
    } finally {
      hold.restore();
      await closeAll(v, ...owner);
    }
  });

  test("jabber:iq:last asked while trusted, cancelled during the read: refused, not the logout made after", async () => {
    const o = await onlineUser(yak, 'vislast');
    const v = await onlineUser(yak, 'vislastv');
    v.send(`<presence type='subscribe' to='${o.bare}'/>`);
    await v.sync();
    o.send(`<presence type='subscribed' to='${v.bare}'/>`);
    await o.sync();
    const hold = holdFirstCall(yak.server.xdb as Xdb, 'get', (_host, user, ns) => user === o.user && ns === 'jabber:iq:last');
    try {
      const answer = v.request(`<iq type='get' to='${o.bare}' id='l1'><query xmlns='jabber:iq:last'/></iq>`);
      await hold.reached;
      o.send(`<presence type='unsubscribed' to='${v.bare}'/>`);
      await o.sync();
      const ended = sessionEnded(yak, o.full);
      o.send("<presence type='unavailable'><status>after cancelling you</status></presence>");
      await o.close();
      await ended;
      hold.release();
      assert.equal((await answer).getChild('error')?.attrs.code, '403', (await answer).toString());
    } finally {
      hold.restore();
      await closeAll(o, v);
    }
  });
});
