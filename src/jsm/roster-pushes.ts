// Roster pushes (RFC 3921 8.1), paced. A roster set of thousands of items
// to a user with dozens of sessions is a hundred thousand writes or more;
// made in one turn of the event loop they held every other client up for
// about a second. At most SENDS_PER_TURN are made per turn; the rest wait
// for the next turns, while other clients are served in between.
//
// Every push to a user goes through that user's queue, so pushes keep the
// order their changes were stored in: a later set's push can never overtake
// an earlier one's for the same item, whichever module made them.
import { Element } from '../xml/element.js';
import { NS_ROSTER } from '../xdb/xdb.js';
import type { ModuleApi } from './api.js';
import type { SessionRegistry } from './sessions.js';
import { visibleItem } from './roster.js';

/** Session writes per turn of the event loop (a few milliseconds' worth). */
export const SENDS_PER_TURN = 1024;

interface Waiting {
  item: Element;
  sent: () => void;
}

export class RosterPushes {
  /** Pushes not yet sent, per bare JID; a user without any has no entry. */
  private readonly queues = new Map<string, Waiting[]>();
  private sentThisTurn = 0;
  private draining = false;
  /** Numbers the pushes' ids. */
  private pushes = 0;

  constructor(private readonly sessions: SessionRegistry) {}

  /**
   * Pushes `item` to every session of `bare` that fetched its roster, at
   * once when nothing is waiting and this turn has room, else after the
   * user's earlier pushes. Resolves once it has been sent.
   */
  push(bare: string, item: Element): Promise<void> {
    if (item.attrs.hidden !== undefined) return Promise.resolve();
    const queue = this.queues.get(bare);
    if (queue === undefined && this.sentThisTurn < SENDS_PER_TURN) {
      this.send(bare, item);
      return Promise.resolve();
    }
    return new Promise((sent) => {
      if (queue) queue.push({ item, sent });
      else this.queues.set(bare, [{ item, sent }]);
      this.scheduleDrain();
    });
  }

  /** Sends to every interested session now; counts the writes against this turn. */
  private send(bare: string, item: Element): void {
    // Made and serialized once for all the user's sessions.
    let query: Element | undefined;
    let queryText = '';
    let id = '';
    for (const s of this.sessions.of(bare)) {
      if (!s.rosterInterested) continue;
      if (!query) {
        query = new Element('query', { xmlns: NS_ROSTER }, [visibleItem(item)]);
        queryText = query.toString();
        id = `push${++this.pushes}`;
      }
      const push = new Element('iq', { type: 'set', id, to: s.jid.toString() }, [query]);
      s.send(push, push.startTag() + queryText + '</iq>');
      if (this.sentThisTurn++ === 0) setImmediate(() => (this.sentThisTurn = 0));
    }
  }

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /** Sends what waits, user by user in the order they began waiting, until this turn is used up. */
  private drain(): void {
    this.draining = false;
    for (const [bare, queue] of this.queues) {
      let n = 0;
      while (n < queue.length && this.sentThisTurn < SENDS_PER_TURN) {
        const { item, sent } = queue[n++]!;
        this.send(bare, item);
        sent();
      }
      if (n === queue.length) this.queues.delete(bare);
      else {
        queue.splice(0, n);
        break;
      }
    }
    if (this.queues.size > 0) this.scheduleDrain();
  }
}

/** One pacer per server (its session registry). */
const pacers = new WeakMap<SessionRegistry, RosterPushes>();

function rosterPushes(sessions: SessionRegistry): RosterPushes {
  let p = pacers.get(sessions);
  if (!p) pacers.set(sessions, (p = new RosterPushes(sessions)));
  return p;
}

/**
 * Sends a roster push to every session of the user that fetched its
 * roster; resolves once it is sent (see RosterPushes). With an id, which
 * 1.4's pushes had not: every iq needs one (RFC 3920 9.2.3), and libpurple
 * (Pidgin) answers a push without one with an error and ignores it, so its
 * user never saw a subscription change until the next login. The client's
 * answer (a result, or an error) goes no further: one carrying the roster
 * query is taken by mod_roster, and the router answers no result or error
 * (answerable() in router.ts).
 */
export function pushItem(api: ModuleApi, host: string, user: string, item: Element): Promise<void> {
  return rosterPushes(api.sessions).push(`${user}@${host}`, item);
}

/** A removal push: the item with subscription='remove'. */
export function pushRemoval(api: ModuleApi, host: string, user: string, jid: string): Promise<void> {
  return pushItem(api, host, user, new Element('item', { jid, subscription: 'remove' }));
}
