// Long runs of stanzas for one session go out paced, not all at once: a
// stored offline backlog and the pending subscription requests shown again
// at login can be far bigger than the connection's send buffer
// (<limits><outbuffer>), and sending them in one go cut off a client that
// was reading ('client stopped reading') and lost every stored message.
// Also: what strangers can make a user keep is bounded (a pending
// request's status is truncated, the number of pending requests capped).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { YakConfig } from '../src/config/types.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { holdCalls } from './helpers/latch.js';
import { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, isMessage, login, NS_ROSTER, offlineUser, onlineUser, plain, sessionEnded, type Client } from './helpers/session.js';

const NS_OFFLINE = 'jabber:x:offline';
const OUTBUF = 64 * 1024;

function smallOutbuffer(c: YakConfig): void {
  plain(c);
  c.c2s.limits.outputBytes = OUTBUF;
}

/** `n` stored chat messages of about 1.1 KB each, ids s0.., planted in the spool as mod_offline stores them. */
async function plantBacklog(yak: TestYak, user: string, n: number, extra: (i: number) => string = () => ''): Promise<void> {
  const box = new Element('foo', { xmlns: NS_OFFLINE });
  for (let i = 0; i < n; i++) {
    const body = 'm'.repeat(1000);
    box.children.push(parseXml(`<message to='${user}@localhost' from='x@localhost/r' id='s${i}' type='chat'><body>${body}</body>${extra(i)}</message>`));
  }
  await yak.server.xdb.update(yak.host, user, NS_OFFLINE, () => box);
}

/** The next `n` messages, in arrival order. */
async function messages(c: Client, n: number): Promise<Element[]> {
  const out: Element[] = [];
  for (let i = 0; i < n; i++) out.push(await c.next(isMessage));
  return out;
}

/** The stored offline messages' ids (after pending writes), [] when the box is gone. */
async function storedIds(yak: TestYak, user: string): Promise<string[]> {
  await yak.server.xdb.flush();
  const box = await yak.server.xdb.get(yak.host, user, NS_OFFLINE);
  return box?.getChildren('message').map((m) => m.attrs.id!) ?? [];
}

/** Polls until `check` holds (background delivery writes the spool after it sent). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(what);
}

const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `s${from + i}`);

describe('paced delivery to a session (outbuffer 64 KiB)', () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak({ tweak: smallOutbuffer });
  });
  after(() => yak.stop());

  test('a stored backlog bigger than the send buffer is delivered completely and in order, then the box is empty', async () => {
    const N = 300; // about 330 KB, five times the send buffer
    await offlineUser(yak, 'paced1');
    // s7 has expired while stored: still dropped.
    await plantBacklog(yak, 'paced1', N, (i) => (i === 7 ? "<x xmlns='jabber:x:expire' seconds='10' stored='1'/>" : ''));
    const c = await login(yak, 'paced1');
    try {
      c.send('<presence/>');
      const got = await messages(c, N - 1);
      assert.deepEqual(
        got.map((m) => m.attrs.id),
        ids(0, N).filter((id) => id !== 's7'),
      );
      for (const m of got) assert.equal(m.attrs.to, 'paced1@localhost');
      await c.sync();
      await eventually(async () => (await storedIds(yak, 'paced1')).length === 0, 'delivered messages stayed stored');
      await c.nothing(isMessage, [], 'a message came twice');
    } finally {
      await closeAll(c);
    }
  });

  test('a client that disconnects in the middle keeps what was not sent yet; it comes at the next login', async () => {
    const N = 300;
    await offlineUser(yak, 'paced2');
    await plantBacklog(yak, 'paced2', N);
    // The client closes its side the moment the second batch is about to
    // be taken (a FIN: it leaves on purpose; one that vanished with the
    // batch unread would have the batch sent again, see lost-connection.test.ts).
    const xdb = yak.server.xdb as Xdb;
    // (A batch is one set() of the box, with the roster read under the same lock for kept answers.)
    const original = xdb.set.bind(xdb);
    let calls = 0;
    let first!: Client;
    let dropped!: () => void;
    const droppedNow = new Promise<void>((r) => (dropped = r));
    xdb.set = async (host, user, records, opts) => {
      if (user === 'paced2' && typeof records === 'function' && ++calls === 2) {
        const ended = sessionEnded(yak, first.full);
        first.stream.socket.end();
        await ended;
        dropped();
      }
      return original(host, user, records, opts);
    };
    try {
      first = await login(yak, 'paced2');
      first.send('<presence/>');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        droppedNow,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the backlog went out in one batch')), 5000))),
      ]).finally(() => clearTimeout(timer));
      // Taken so far: a first batch, from the front; the rest is still stored, in order.
      let left: string[] = [];
      await eventually(async () => {
        left = await storedIds(yak, 'paced2');
        return calls >= 2;
      }, 'no second batch');
      // One batch is at most half the send buffer (32 KiB, under 30 of these messages).
      assert.ok(left.length >= N - 30 && left.length < N, `stored after the drop: ${left.length}`);
      assert.deepEqual(left, ids(N - left.length, N));
    } finally {
      xdb.set = original;
    }
    const again = await login(yak, 'paced2');
    try {
      const stored = await storedIds(yak, 'paced2');
      again.send('<presence/>');
      const got = await messages(again, stored.length);
      assert.deepEqual(
        got.map((m) => m.attrs.id),
        stored,
      );
      await eventually(async () => (await storedIds(yak, 'paced2')).length === 0, 'delivered messages stayed stored');
    } finally {
      await closeAll(again);
    }
  });

  test('a negative priority stops the delivery of a backlog between batches: the rest stays stored until the priority rises', { timeout: 60_000 }, async () => {
    const N = 300;
    await offlineUser(yak, 'paced3');
    await plantBacklog(yak, 'paced3', N);
    const xdb = yak.server.xdb as Xdb;
    let batches = 0;
    // The second batch waits while the session goes to a negative priority.
    const hold = holdCalls(xdb, 'set', (_host, user, records) => user === 'paced3' && typeof records === 'function' && ++batches === 2);
    const c = await login(yak, 'paced3');
    try {
      c.send('<presence/>');
      await hold.reached;
      await c.presence('<presence><priority>-1</priority></presence>');
      hold.release();
      // The batch taken before the change goes out; no further one starts.
      await hold.results[0];
      await c.sync();
      await c.sync();
      assert.equal(batches, 2, 'delivery went on after the priority fell below 0');
      const left = await storedIds(yak, 'paced3');
      assert.ok(left.length > 0, 'the whole backlog went out to a session with a negative priority');
      const got = await messages(c, N - left.length);
      assert.deepEqual(
        got.map((m) => m.attrs.id),
        ids(0, N - left.length),
      );
      await c.nothing(isMessage, [], 'more than the batches taken before the priority fell');
      assert.deepEqual(await storedIds(yak, 'paced3'), left);
      // Back to 0: the rest follows, in order.
      c.send('<presence><priority>0</priority></presence>');
      assert.deepEqual(
        (await messages(c, left.length)).map((m) => m.attrs.id),
        left,
      );
    } finally {
      hold.release();
      hold.restore();
      await closeAll(c);
    }
  });

  test('a subscription request’s status is stored truncated to 1,000 characters and shown so at login', async () => {
    await offlineUser(yak, 'victim1');
    const stranger = await onlineUser(yak, 'stranger1');
    try {
      stranger.send(`<presence type='subscribe' to='victim1@localhost'><status>${'s'.repeat(10_000)}</status></presence>`);
      await stranger.sync();
      const roster = await yak.server.xdb.get(yak.host, 'victim1', NS_ROSTER);
      const item = roster!.getChildren('item').find((i) => i.attrs.jid === 'stranger1@localhost')!;
      assert.equal(item.attrs.subscribe, 's'.repeat(1000));
      // Cut before a character the bound would split: no lone half of a surrogate pair is stored.
      const other = await onlineUser(yak, 'stranger1b');
      try {
        other.send(`<presence type='subscribe' to='victim1@localhost'><status>${'s'.repeat(999)}😀tail</status></presence>`);
        await other.sync();
      } finally {
        await closeAll(other);
      }
      const split = (await yak.server.xdb.get(yak.host, 'victim1', NS_ROSTER))!.getChildren('item').find((i) => i.attrs.jid === 'stranger1b@localhost')!;
      assert.equal(split.attrs.subscribe, 's'.repeat(999));
      const victim = await login(yak, 'victim1');
      try {
        victim.send('<presence/>');
        assertXml(
          await victim.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe'),
          `<presence type='subscribe' from='stranger1@localhost' to='victim1@localhost'><status>${'s'.repeat(1000)}</status></presence>`,
        );
      } finally {
        await closeAll(victim);
      }
    } finally {
      await closeAll(stranger);
    }
  });

  /** A thousand pending requests (about 1 MB shown at login, under the 1 MiB file cap), as mod_roster stores them. */
  async function plantPending(user: string): Promise<void> {
    const status = 'p'.repeat(900);
    await yak.server.xdb.update(yak.host, user, NS_ROSTER, () => {
      const q = new Element('query', { xmlns: NS_ROSTER });
      for (let i = 0; i < 1000; i++) q.children.push(new Element('item', { jid: `s${i}@localhost`, subscription: 'none', hidden: '', subscribe: status }));
      return q;
    });
  }

  test('at most 1,000 pending requests are kept; the next one is refused with unsubscribed, as 1.4 refused a subscribe', async () => {
    await offlineUser(yak, 'victim2');
    await plantPending('victim2');
    const stranger = await onlineUser(yak, 'stranger2');
    try {
      stranger.send("<presence type='subscribe' to='victim2@localhost'><status>let me in</status></presence>");
      assertXml(
        await stranger.next((e) => e.name === 'presence'),
        "<presence type='unsubscribed' from='victim2@localhost' to='stranger2@localhost'><status>Too many pending subscription requests</status></presence>",
      );
      const roster = (await yak.server.xdb.get(yak.host, 'victim2', NS_ROSTER))!;
      assert.equal(roster.getChildren('item').length, 1000);
      assert.equal(
        roster.getChildren('item').find((i) => i.attrs.jid === 'stranger2@localhost'),
        undefined,
      );
      // The refused sender's own ask was cleared by the unsubscribed.
      const own = (await yak.server.xdb.get(yak.host, 'stranger2', NS_ROSTER))!.getChildren('item').find((i) => i.attrs.jid === 'victim2@localhost');
      assert.equal(own?.attrs.ask, undefined);
    } finally {
      await closeAll(stranger);
    }
  });

  test('1,000 pending requests (more than the send buffer) are all shown at login, in order, paced', async () => {
    await offlineUser(yak, 'victim3');
    await plantPending('victim3');
    const victim = await login(yak, 'victim3');
    try {
      victim.send('<presence/>');
      const froms: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const p = await victim.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe');
        froms.push(p.attrs.from!);
      }
      assert.deepEqual(
        froms,
        Array.from({ length: 1000 }, (_, i) => `s${i}@localhost`),
      );
      await victim.sync();
    } finally {
      await closeAll(victim);
    }
  });

  test("a request the user's file has no room for (<maxfilesize>) is refused with unsubscribed, and nothing is stored", async () => {
    const small = await startYak({ tweak: (c) => ((c.maxFileBytes = 65536), plain(c)) });
    try {
      await offlineUser(small, 'fullv');
      await small.server.xdb.set(small.host, 'fullv', { 'yak:test:filler': new Element('filler', { xmlns: 'yak:test:filler' }, ['f'.repeat(64_000)]) });
      const stranger = await onlineUser(small, 'fulls');
      try {
        stranger.send(`<presence type='subscribe' to='fullv@localhost'><status>${'s'.repeat(900)}</status></presence>`);
        assertXml(
          await stranger.next((e) => e.name === 'presence'),
          "<presence type='unsubscribed' from='fullv@localhost' to='fulls@localhost'><status>The user's storage is full</status></presence>",
        );
        assert.equal(await small.server.xdb.get(small.host, 'fullv', NS_ROSTER), undefined);
      } finally {
        await closeAll(stranger);
      }
    } finally {
      await small.stop();
    }
  });
});

describe('paced delivery with a send budget smaller than one stored message', () => {
  test('the message still goes out, alone in its batch (outbuffer 8 KiB, a 5 KB message)', { timeout: 30_000 }, async () => {
    const yak = await startYak({
      tweak: (c) => {
        plain(c);
        c.c2s.limits.outputBytes = 8 * 1024;
      },
    });
    try {
      await offlineUser(yak, 'big1');
      await yak.server.xdb.update(yak.host, 'big1', NS_OFFLINE, () =>
        parseXml(`<foo xmlns='${NS_OFFLINE}'><message to='big1@localhost' from='x@localhost/r' id='big'><body>${'b'.repeat(5000)}</body></message></foo>`),
      );
      const c = await login(yak, 'big1');
      try {
        c.send('<presence/>');
        const m = await c.next(isMessage);
        assert.equal(m.attrs.id, 'big');
        assert.equal(m.getChildText('body')!.length, 5000);
        await eventually(async () => (await storedIds(yak, 'big1')).length === 0, 'the delivered message stayed stored');
      } finally {
        await c.close();
      }
    } finally {
      await yak.stop();
    }
  });
});
