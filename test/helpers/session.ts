// Helpers for the session-manager tests (routing, roster, presence,
// offline, modules): logged-in clients that know their own JIDs, a
// round-trip barrier that makes "nothing arrived" a deterministic
// assertion, the subscription handshake, and spool readers.
//
// The barrier: the server handles each connection's stanzas one at a time,
// in order, and routes everything a stanza causes before it takes the next
// one. So once a client has the reply to an iq it sent after X, everything
// X caused has been written to every socket; and once a receiver has the
// reply to its own iq, everything written to it before has been parsed.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientStream, ReplyTimeoutError } from '../../src/client/client-stream.js';
import type { YakConfig } from '../../src/config/types.js';
import { KeyedQueue } from '../../src/util/keyed-queue.js';
import type { Xdb } from '../../src/xdb/xdb.js';
import { Element } from '../../src/xml/element.js';
import { parseXml } from '../../src/xml/parse.js';
import { latch } from './latch.js';
import { authIq, registerUser, type TestYak } from './yak.js';
import { matchesXml } from './xml-assert.js';
import { readSpool } from './transcript.js';

export const PASSWORD = 'secret';
export const NS_ROSTER = 'jabber:iq:roster';
export const STAMP = /^\d{8}T\d\d:\d\d:\d\d$/;

export const isMessage = (e: Element): boolean => e.name === 'message';

/** Config tweak: no <welcome>, so a new account finds no message waiting at its first login. */
export function noWelcome(c: YakConfig): void {
  c.jsm.welcome = undefined;
}

/** Config tweak: no karma; these tests send faster than a person types, and bandwidth is not their subject. */
export function noKarma(c: YakConfig): void {
  c.c2s.karma = undefined;
}

/** The usual tweak for session tests: neither of the above. */
export function plain(c: YakConfig): void {
  noWelcome(c);
  noKarma(c);
}

/** Parses one stanza written as XML text (attributes in any order, single or double quotes). */
export function xml(text: string): Element {
  return parseXml(text);
}

type Match = string | ((e: Element) => boolean);

/** A match by structural pattern (assertXml syntax, '*' wildcards) or a predicate. */
function matcher(m: Match): (e: Element) => boolean {
  if (typeof m !== 'string') return m;
  const pattern = m;
  return (e) => matchesXml(e, pattern);
}

let syncCount = 0;

/** One logged-in resource. */
export class Client {
  constructor(
    readonly yak: TestYak,
    readonly stream: ClientStream,
    readonly user: string,
    readonly resource: string,
  ) {}

  get bare(): string {
    return `${this.user}@${this.yak.host}`;
  }

  get full(): string {
    return `${this.bare}/${this.resource}`;
  }

  send(stanza: string | Element): void {
    this.stream.send(typeof stanza === 'string' ? xml(stanza) : stanza);
  }

  /** Sends an iq (an id is added when missing) and resolves with its reply. */
  request(iq: string | Element, timeout?: number): Promise<Element> {
    return this.stream.request(typeof iq === 'string' ? xml(iq) : iq, timeout);
  }

  /** The next received stanza matching (a pattern with '*' wildcards, or a predicate); any by default. */
  next(match: Match = () => true, timeout?: number): Promise<Element> {
    return this.stream.next(matcher(match), timeout);
  }

  /**
   * The round-trip barrier: an iq to the host that nothing serves comes
   * back as an error once every stanza this client sent before it has been
   * handled, and after everything the server wrote to this client before.
   */
  async sync(): Promise<void> {
    const id = `sync_${++syncCount}`;
    const reply = await this.request(
      new Element('iq', { type: 'get', id, to: this.yak.host }, [new Element('query', { xmlns: 'yak:test:sync' })]),
    );
    assert.equal(reply.attrs.type, 'error', `sync barrier answered: ${reply.toString()}`);
  }

  /** Fails when a stanza matching is waiting; sync `after` (the senders) and this client first. */
  async nothing(match: Match = () => true, after: Client[] = [], what = 'unexpected stanza'): Promise<void> {
    for (const c of after) await c.sync();
    await this.sync();
    const got = await this.stream.next(matcher(match), 1).catch((err: unknown) => {
      if (err instanceof ReplyTimeoutError) return undefined;
      throw err;
    });
    assert.equal(got, undefined, `${what}: ${got?.toString()}`);
  }

  /** Drops everything received so far (after a barrier), e.g. leftovers of a setup step. */
  async clear(): Promise<void> {
    await this.sync();
    for (;;) {
      const e = await this.stream.next(() => true, 1).catch(() => undefined);
      if (!e) return;
    }
  }

  /** Sends presence (default: plain available) and waits until the server has handled it. */
  async presence(stanza = '<presence/>'): Promise<void> {
    this.send(stanza);
    await this.sync();
  }

  /** The roster as the server returns it (this resource then gets roster pushes). */
  async roster(): Promise<Element> {
    const reply = await this.request(`<iq type='get'><query xmlns='${NS_ROSTER}'/></iq>`);
    assert.equal(reply.attrs.type, 'result', reply.toString());
    return reply.getChild('query', NS_ROSTER)!;
  }

  /** The item for `jid` in this user's roster, or undefined. */
  async item(jid: string): Promise<Element | undefined> {
    return (await this.roster()).getChildren('item').find((i) => i.attrs.jid === jid);
  }

  /** Ends the stream politely (</stream:stream>). */
  close(): Promise<void> {
    return this.stream.close();
  }

  /** Drops the TCP connection without a word. */
  async drop(): Promise<void> {
    this.stream.socket.destroy();
    await this.stream.whenClosed();
  }
}

/** Logs in an existing user; no presence is sent. */
export async function login(yak: TestYak, user: string, resource = 'Work', password = PASSWORD): Promise<Client> {
  const stream = await yak.connect();
  const reply = await stream.request(authIq(user, resource, { password }));
  assert.equal(reply.attrs.type, 'result', `login of ${user}/${resource}: ${reply.toString()}`);
  return new Client(yak, stream, user, resource);
}

/** Registers `user` and logs in; no presence is sent. */
export async function newUser(
  yak: TestYak,
  user: string,
  resource = 'Work',
  fields: Record<string, string> = {},
): Promise<Client> {
  await registerUser(yak, user, PASSWORD, fields);
  return login(yak, user, resource);
}

/** Registers `user` and leaves it with no session. */
export async function offlineUser(yak: TestYak, user: string): Promise<void> {
  await registerUser(yak, user, PASSWORD);
}

/** Registers `user` and logs in with available presence. */
export async function onlineUser(yak: TestYak, user: string, resource = 'Work'): Promise<Client> {
  const c = await newUser(yak, user, resource);
  await c.presence();
  return c;
}

/**
 * The whole handshake both ways (a asks b, b approves, b asks a, a
 * approves), each step handled before the next. Leaves both items at
 * 'both'; the stanzas it caused are cleared from both clients.
 */
export async function subscribeBoth(a: Client, b: Client): Promise<void> {
  for (const [asker, approver] of [
    [a, b],
    [b, a],
  ] as const) {
    asker.send(`<presence type='subscribe' to='${approver.bare}'/>`);
    await asker.sync();
    approver.send(`<presence type='subscribed' to='${asker.bare}'/>`);
    await approver.sync();
  }
  await a.clear();
  await b.clear();
}

/** Every stanza matching, waiting for each in turn (order of arrival not assumed). */
export async function receiveAll(c: Client, patterns: string[]): Promise<Element[]> {
  const out: Element[] = [];
  for (const p of patterns) out.push(await c.next(p));
  return out;
}

/**
 * The user's spool file as stored on disk: namespace -> record (xdbns
 * removed), or undefined. The server's pending writes are flushed first
 * (some records, like the logout time, are written a little later).
 */
export async function spoolRecords(yak: TestYak, user: string): Promise<Map<string, Element> | undefined> {
  await yak.server.xdb.flush();
  const file = await readSpool(yak.spool, yak.host, user);
  if (!file) return undefined;
  const records = new Map<string, Element>();
  for (const [ns, r] of file.records) {
    const clean = r.clone();
    delete clean.attrs.xdbns;
    records.set(ns, clean);
  }
  return records;
}

/** Waits (polling, bounded) until the account has no session in routing: its stream's close has been seen. */
export async function outOfRouting(yak: TestYak, bare: string): Promise<void> {
  for (let i = 0; i < 400 && yak.server.jsm.sessions.has(bare); i++) await sleep(5);
  assert.equal(yak.server.jsm.sessions.has(bare), false, 'the closed stream never took its session out of routing');
}

/** Closes every client, ignoring ones already gone. */
export async function closeAll(...clients: (Client | undefined)[]): Promise<void> {
  await Promise.all(clients.map((c) => c?.close().catch(() => undefined)));
}

/**
 * Resolves once the session of `full` has completely ended, after every
 * session-end handler (mod_last's write included). Call before ending it.
 */
export function sessionEnded(yak: TestYak, full: string): Promise<void> {
  return new Promise((resolve) => {
    yak.server.jsm.chains.add(
      'session-end',
      'test-session-ended',
      (s) => {
        if (s.jid.toString() === full) resolve();
      },
      { priority: -1000 },
    );
  });
}

/**
 * Resolves once a subscription change that `from` makes about `to` (a
 * subscription presence, a roster removal) is being carried out (a change
 * to the sender's roster starts) or waits for an earlier one between the
 * two users (see SubscriptionPairs): a test that holds the earlier one's
 * window open then knows this one is inside it, whichever the build does.
 * Installed after the hold, restored before it.
 */
export function subscriptionArrived(xdb: Xdb, from: Client, to: Client): { arrived: Promise<void>; restore(): void } {
  const { promise, open } = latch();
  const update = xdb.update;
  xdb.update = function (this: Xdb, ...args: Parameters<Xdb['update']>) {
    if (args[1] === from.user && args[2] === NS_ROSTER) open();
    return update.apply(this, args);
  } as Xdb['update'];
  const run = KeyedQueue.prototype.run;
  KeyedQueue.prototype.run = function <T>(this: KeyedQueue, key: string, ...rest: [() => Promise<T>, Promise<unknown>?]) {
    if (key.split(' ').includes(from.bare) && key.split(' ').includes(to.bare)) open();
    return run.call(this, key, ...rest) as Promise<T>;
  };
  return {
    arrived: promise,
    restore: () => {
      xdb.update = update;
      KeyedQueue.prototype.run = run;
    },
  };
}
