// The subscription workflow of mod_roster (SPEC section 8): the subscribe /
// subscribed / unsubscribe / unsubscribed presence exchanges that change
// both users' roster items, the presence shown or withdrawn when a
// subscription starts or ends, and the pending requests shown again.
import { parseJid, type Jid } from '../../jid.js';
import { attrsWith, Element } from '../../xml/element.js';
import { NoSuchUserError, NS_ROSTER, SpoolClosedError, UserFileFullError } from '../../xdb/xdb.js';
import type { DeliverOptions, Delivery, ModuleApi } from '../api.js';
import { keptPresence } from '../kept-presence.js';
import { sendBudget, sendPaced, sendWithin } from '../paced.js';
import {
  changeItem,
  hasFrom,
  hasTo,
  letsSee,
  pendingCount,
  pendingRequests,
  presencesNow,
  stillShows,
  subscriptionOf,
  visibleSessions,
  visiblyChanged,
  withFrom,
  withTo,
} from '../roster.js';
import { pushItem } from '../roster-pushes.js';
import type { Session } from '../sessions.js';
import { directedStillToTell, forgetDirectedTo } from '../directed-presence.js';
import { stanzaError } from '../stanza-errors.js';
import type { SubscriptionPairs } from '../subscription-pairs.js';
import type { RecentPairEvents } from '../recent-pair-events.js';
import { monotonicMs } from '../../util/time.js';
import { clientChildText } from '../client-children.js';
import { eachLimited } from '../../util/each-limited.js';

/** The presence types that are subscription requests and answers. */
export const SUBSCRIPTION_TYPES = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

/**
 * Bounds on what strangers can make us keep: a pending request is stored
 * (and shown again at every login) with at most this much of its <status>,
 * and a user keeps at most this many pending requests. 1.4 had neither;
 * without them, requests with huge statuses cut the user off at every
 * login, and they are hidden items the user cannot remove.
 */
const MAX_PENDING_STATUS = 1000;
const MAX_PENDING_REQUESTS = 1000;

/** The first MAX_PENDING_STATUS characters (a surrogate pair is not split). */
function truncateStatus(text: string): string {
  if (text.length <= MAX_PENDING_STATUS) return text;
  let end = MAX_PENDING_STATUS;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end);
}

/**
 * Tells the contact of a removed item that every subscription and request
 * between them is over, so that its own item changes too: 'unsubscribe'
 * for what the owner had or asked, 'unsubscribed' for what the contact
 * had or asked.
 */
async function cancelSubscriptions(api: ModuleApi, owner: string, item: Element, opts: DeliverOptions): Promise<void> {
  const to = item.attrs.jid;
  if (to === undefined) return;
  if (cancelsTo(item)) await api.deliver(new Element('presence', { type: 'unsubscribe', to, from: owner }), opts);
  if (cancelsFrom(item)) await api.deliver(new Element('presence', { type: 'unsubscribed', to, from: owner }), opts);
  // The contact no longer sees the owner (see hideFrom). An item for
  // oneself (older versions let one in) hid nothing.
  if (hasFrom(item) && parseJid(to)?.bare !== owner) await hideFrom(api, owner, to);
}

/** What the owner had or asked of the item's contact: cancelled with 'unsubscribe'. */
function cancelsTo(item: Element): boolean {
  return hasTo(item) || item.attrs.ask === 'subscribe';
}

/** What the contact had or asked of the owner: cancelled with 'unsubscribed'. */
function cancelsFrom(item: Element): boolean {
  return hasFrom(item) || item.attrs.subscribe !== undefined;
}

/**
 * Contacts told at once by cancelAll: their roster changes then reach the
 * journal together (group commit). One at a time, a removed account with
 * 5,000 contacts waited 10,000 disk flushes in a row (14 s here).
 */
const CANCELLATIONS_AT_ONCE = 32;

/**
 * cancelSubscriptions for each removed item, several contacts at a time;
 * what one contact is told keeps its order. `opts.throwFailures`: a
 * contact whose roster could not be changed (its file unreadable, a full
 * disk) fails the whole, and no further contact is told; without it the
 * failure is logged and the others are told all the same.
 */
export function cancelAll(api: ModuleApi, owner: string, items: Iterable<Element>, opts: DeliverOptions = {}): Promise<void> {
  return eachLimited(items, CANCELLATIONS_AT_ONCE, (item) => cancelSubscriptions(api, owner, item, opts));
}

/** A contact of an account being removed whose file cannot be read: the removal is refused before anyone is told. */
export class ContactUnreadableError extends Error {
  constructor(
    /** The contact's bare JID. */
    readonly contact: string,
    readonly reason: unknown,
  ) {
    // The reason's own words come with it as its cause (the log shows them once).
    super(`its contact ${contact} cannot be read`, { cause: reason });
  }
}

/**
 * Reads the file of every local contact cancelAll would tell, before it
 * tells any: a contact whose file does not parse or cannot be read would
 * fail the removal half way, with its sessions ended and some contacts
 * told (see mod_roster's 'user-removing').
 */
export function checkContactsReadable(api: ModuleApi, owner: string, items: Iterable<Element>): Promise<void> {
  return eachLimited(items, CANCELLATIONS_AT_ONCE, async (item) => {
    const contact = item.attrs.jid === undefined ? undefined : parseJid(item.attrs.jid);
    if (!contact?.user || contact.bare === owner || !api.isLocalHost(contact.host)) return;
    if (!cancelsTo(item) && !cancelsFrom(item)) return;
    try {
      await api.xdb.exists(contact.host, contact.user);
    } catch (err) {
      // The store closing (a stop) is no fault of the contact's.
      if (err instanceof SpoolClosedError) throw err;
      throw new ContactUnreadableError(contact.bare, err);
    }
  });
}

/**
 * A subscription request refused as 1.4's js_bounce refused one: an
 * unsubscribed presence from the contact with the reason as status (the
 * asker's client shows it, and the asker's item loses its ask), not
 * silently dropped; with the request's id, as js_bounce turned the request
 * itself around.
 */
function subscriptionRefusal(request: Element, contact: string, asker: string, reason: string): Element {
  return new Element('presence', { type: 'unsubscribed', id: request.attrs.id, from: contact, to: asker }, [new Element('status', {}, [reason])]);
}

/**
 * The user sends a subscription presence: their own item changes, then it
 * goes out. To a local user, after any earlier change between the two
 * (see SubscriptionPairs), both rosters changed before the next starts.
 */
export async function sendSubscription(api: ModuleApi, stanza: Element, s: Session, pairs: SubscriptionPairs): Promise<void> {
  const contact = parseJid(stanza.attrs.to!);
  if (!contact) throw stanzaError('jid-malformed');
  // One's own presence needs no subscription (1.4 skipped these too).
  if (contact.bare === s.jid.bare) return;
  if (!api.isLocalHost(contact.host)) return sendNow(api, stanza, s, contact);
  return pairs.run(s.jid.bare, [contact.bare], () => sendNow(api, stanza, s, contact));
}

async function sendNow(api: ModuleApi, stanza: Element, s: Session, contact: Jid): Promise<void> {
  const jid = contact.bare;
  const type = stanza.attrs.type!;
  const { item, before } = await changeItem(api.xdb, s.host, s.user, jid, (cur, existed) => {
    const sub = subscriptionOf(cur);
    if (type === 'subscribe') {
      if (hasTo(cur)) return cur;
      cur.attrs.ask = 'subscribe';
      cur.setAttr('hidden', undefined);
    } else if (type === 'subscribed') {
      if (cur.attrs.subscribe === undefined) return existed ? cur : null;
      cur.attrs.subscription = withFrom(sub, true);
      cur.setAttr('subscribe', undefined);
      cur.setAttr('hidden', undefined);
    } else if (type === 'unsubscribe') {
      if (!existed) return null;
      cur.attrs.subscription = withTo(sub, false);
      cur.setAttr('ask', undefined);
    } else {
      // A denied request leaves nothing behind when it was all the item held.
      if (!existed || cur.attrs.hidden !== undefined) return null;
      cur.attrs.subscription = withFrom(sub, false);
      cur.setAttr('subscribe', undefined);
    }
    return cur;
  });
  if (item && visiblyChanged(before, item)) await pushItem(api, s.host, s.user, item);
  // An answer to nothing (no request pending, nothing to revoke) goes
  // nowhere (RFC 3921 9.2): the contact's side has nothing it answers.
  if (type === 'subscribed' && before?.attrs.subscribe === undefined) return;
  if (type === 'unsubscribed' && before?.attrs.subscribe === undefined && !hasFrom(before)) return;
  if (!api.isLocalHost(contact.host)) {
    // No server-to-server link: a request there is never answered, and its
    // ask would stay on the roster for good. It is refused as one to a user
    // that does not exist is; an item already subscribed (a roster brought
    // from 1.4) keeps its state. The other types go nowhere.
    if (type === 'subscribe' && item?.attrs.ask === 'subscribe') await api.deliver(subscriptionRefusal(stanza, jid, s.jid.bare, 'Not Found'));
    return;
  }
  // Subscription presence always carries the bare JID.
  const out = new Element('presence', attrsWith(stanza.attrs, { from: s.jid.bare, to: jid }), stanza.children);
  await api.deliver(out);
  if (type === 'subscribed' && hasFrom(item) && !hasFrom(before)) await showTo(api, s.host, s.user, jid);
  if (type === 'unsubscribed' && hasFrom(before) && !hasFrom(item)) await hideFrom(api, s.jid.bare, jid);
}

/**
 * The new subscriber `viewer` (a bare JID) sees each visible session of
 * user@host at once (RFC 3921 8.2): one presence per session, up to
 * <limits><sessions> (100) of them at up to 16 KiB each, more than a send
 * buffer (<outbuffer>, 1 MiB) takes. Sent at once, they cut off the
 * subscriber's client however fast it read. So each available session of
 * the viewer gets them paced (paced.ts): the first batch now, the rest in
 * the background, so the owner's own stanzas do not wait on a stranger's
 * reading. A session that changed its presence, went unavailable or
 * invisible meanwhile has told the viewer itself and is skipped, and the
 * rest stops once the viewer may no longer see the owner.
 */
async function showTo(api: ModuleApi, host: string, user: string, viewer: string): Promise<void> {
  const owner = `${user}@${host}`;
  const budget = sendBudget(api.config);
  const key = `presence-of ${owner}`;
  const unseenKey = `${key} unseen`;
  for (const v of api.sessions.of(viewer)) {
    if (!v.available) continue;
    // The owner's sessions this viewer session has yet to see, with their
    // presence now: one that logs in or changes it later broadcasts that
    // itself. Kept with the session until the run ends, and made anew at
    // each call: a run still going (the viewer slow to read) when the
    // subscription was cancelled and approved again shows them all again,
    // not only those its first approval had yet to show.
    v.data.set(unseenKey, new Map(presencesNow(api, owner, viewer).map(({ session, presence }) => [session, presence])));
    const batch = async (): Promise<boolean> => {
      // The first batch too: the approval's own delivery awaited the
      // store, and another resource of the owner may have refused since.
      if (!(await letsSee(api.xdb, host, user, viewer))) return false;
      if (!v.writable) return false;
      const unseen = v.data.get(unseenKey) as Map<Session, Element | undefined>;
      const presenceOf = ([o, presence]: [Session, Element | undefined]): Element | undefined =>
        stillShows(o, presence, viewer) ? keptPresence(o, presence, viewer) : undefined;
      return sendWithin(v, budget, unseen, presenceOf, ([o]) => unseen.delete(o));
    };
    await sendPaced(v, key, api.log, batch, () => v.available, () => v.data.delete(unseenKey));
  }
}

/**
 * `viewer` no longer sees `owner`: each visible session of the owner says
 * goodbye (RFC 3921 8.2.1, 8.4). Called where the owner's item for the
 * viewer loses 'from', in that one update of the owner's roster: an
 * unsubscribe received, an unsubscribed sent, the item removed. So it is
 * said once, also when both users cancel at the same moment (then neither
 * side's arriving stanza finds anything left to change). Presence directed
 * at the viewer is taken back with it (a session's goodbye would tell the
 * viewer its status later), and a session hidden from the viewer has told
 * it already.
 */
async function hideFrom(api: ModuleApi, owner: string, viewer: string): Promise<void> {
  const visible = new Set(visibleSessions(api, owner, viewer));
  for (const s of api.sessions.of(owner)) {
    const directed = forgetDirectedTo(s, viewer);
    const from = s.jid.toString();
    const told = new Set<string>();
    if (visible.has(s)) {
      await api.deliver(new Element('presence', { type: 'unavailable', from, to: viewer }));
      told.add(viewer);
    }
    // Targets at the viewer's full JIDs the bare one did not reach (a
    // session that sent no presence), each once.
    for (const to of directedStillToTell(api, s, directed, told)) {
      await api.deliver(new Element('presence', { type: 'unavailable', from, to }));
    }
  }
}

/**
 * Requests one contact may store with one user in STORED_REQUESTS_SECONDS.
 * A request is a rewrite of the user's whole file (journaled), and so is
 * its withdrawal (`unsubscribe`, which forgets it): sent in turn, the two
 * let a stranger rewrite a user's file with every small stanza, without
 * end (6 MB/s of writes under karma from one connection, for a user with a
 * 5,000-contact roster). Past it the request is refused as one too many.
 */
export const STORED_REQUESTS = 5;
export const STORED_REQUESTS_SECONDS = 600;

/**
 * A subscription presence arrives for a local user: their item changes,
 * then their sessions see it. `requests`: the requests each contact stored
 * with each user lately (see STORED_REQUESTS).
 */
export async function receiveSubscription(api: ModuleApi, d: Delivery, requests: RecentPairEvents): Promise<'handled'> {
  const { stanza, to, from } = d;
  const host = to.host;
  const user = to.user!;
  const bare = `${user}@${host}`;
  const jid = from.bare;
  const type = stanza.attrs.type!;
  // From oneself: not a subscription (see sendSubscription).
  if (jid === bare) return 'handled';
  const refuse = async (reason: string): Promise<'handled'> => {
    await api.deliver(subscriptionRefusal(stanza, bare, jid, reason));
    return 'handled';
  };
  let deliver = true;
  // Why a subscription request is refused, if it is (set inside the update).
  const refusal: { reason?: string } = {};
  // The window of stored requests, in seconds on a clock that only moves
  // forward: it lives in memory only, and a wall clock stepped back by
  // hours kept a contact's requests refused for hours.
  const now = Math.floor(monotonicMs() / 1000);
  // A new request was stored (set inside the update).
  let stored = false;
  const change = changeItem(api.xdb, host, user, jid, (cur, existed, roster) => {
    // An account being removed: a request stored now would go with the
    // file, its sender left waiting for an answer that never comes.
    if (api.removing(host, user)) throw new NoSuchUserError(user);
    const sub = subscriptionOf(cur);
    if (type === 'subscribe') {
      if (hasFrom(cur)) {
        deliver = false;
        return cur;
      }
      // Already pending: the request is kept as first stored, status and
      // all, and the file is not touched. Storing each repeat's status
      // would let anyone rewrite (and journal) the user's whole file with
      // every small stanza; the user sees the request at each login either
      // way. A withdrawn request (unsubscribe) is gone, so one after it is
      // stored anew. Sessions online still get the repeat below.
      if (cur.attrs.subscribe !== undefined) return cur;
      if (pendingCount(roster) >= MAX_PENDING_REQUESTS) {
        refusal.reason = 'Too many pending subscription requests';
        return existed ? cur : null;
      }
      if (requests.count(bare, jid, now) >= STORED_REQUESTS) {
        refusal.reason = 'Too many subscription requests: try again later';
        return existed ? cur : null;
      }
      stored = true;
      cur.attrs.subscribe = truncateStatus(clientChildText(stanza, 'status') ?? '');
      if (!existed) cur.attrs.hidden = '';
    } else if (type === 'subscribed') {
      if (cur.attrs.ask !== 'subscribe') {
        deliver = false;
        return existed ? cur : null;
      }
      cur.attrs.subscription = withTo(sub, true);
      cur.setAttr('ask', undefined);
    } else if (type === 'unsubscribe') {
      // Nothing to cancel or withdraw (RFC 3921 9.3): not shown either, or
      // anyone could make the user's client say they were dropped.
      if (!hasFrom(cur) && cur.attrs.subscribe === undefined) deliver = false;
      // A withdrawn request leaves nothing behind when it was all the item held.
      if (!existed || cur.attrs.hidden !== undefined) return null;
      cur.attrs.subscription = withFrom(sub, false);
      cur.setAttr('subscribe', undefined);
    } else {
      // As above: a refusal of nothing asked, from anyone, is not shown.
      if (!hasTo(cur) && cur.attrs.ask !== 'subscribe') deliver = false;
      if (!existed) return null;
      cur.attrs.subscription = withTo(sub, false);
      cur.setAttr('ask', undefined);
    }
    return cur;
  }).catch((err: unknown) => {
    // No such user (the store writes only for accounts, checked under the
    // user's lock, so also one removed a moment ago): nothing to change.
    if (err instanceof NoSuchUserError) return 'no such user' as const;
    // A request the user's file has no room for (<maxfilesize>) is refused like one too many.
    if (!(err instanceof UserFileFullError) || type !== 'subscribe') throw err;
    return undefined;
  });
  const changed = await change;
  if (changed === 'no such user') return type === 'subscribe' ? refuse('Not Found') : 'handled';
  if (!changed) return refuse("The user's storage is full");
  if (refusal.reason !== undefined) return refuse(refusal.reason);
  if (stored) requests.note(bare, jid, now, now);
  const { item, before } = changed;
  if (type === 'subscribe' && !deliver) {
    // Already subscribed: answered for the user (RFC 3921 9.2) as 1.4
    // answered, with its status. The asker is re-adding a contact it lost
    // (a new install, a client that keeps its roster locally): 1.4 probed
    // for it, so it sees the user's presence now, not at the next change.
    await api.deliver(new Element('presence', { type: 'subscribed', from: bare, to: jid }, [new Element('status', {}, ['Already Subscribed'])]));
    await showTo(api, host, user, jid);
    return 'handled';
  }
  if (item && visiblyChanged(before, item)) await pushItem(api, host, user, item);
  if (type === 'unsubscribe' && hasFrom(before) && !hasFrom(item)) await hideFrom(api, bare, jid);
  if (!deliver) return 'handled';
  const out = new Element('presence', attrsWith(stanza.attrs, { to: bare }), stanza.children);
  let shown = false;
  for (const s of api.sessions.of(bare)) {
    if (s.available) {
      s.send(out);
      shown = true;
    }
    // Shown when it becomes available (RFC 3921 8.2). One that has not
    // fetched its roster is shown every pending request then anyway.
    else if (type === 'subscribe' && s.rosterInterested) missedBy(s, true)!.add(jid);
  }
  // An answer nobody saw is kept for later (mod_offline, when loaded; RFC
  // 3921 11.1); a request waits in the roster instead, and a withdrawn one
  // is gone, with nothing left to tell.
  if (!shown && type !== 'subscribe' && (type !== 'unsubscribe' || hasFrom(before))) {
    await api.offline({ stanza: out, to: to.bareJid(), from, sender: d.sender });
  }
  return 'handled';
}

/**
 * The senders of requests that came while the session was not available,
 * after its roster get had shown those pending then: its next available
 * presence shows these (resendMissed). Whatever shows a request (that, or
 * another roster get) takes it out; one no longer pending goes at the next
 * available presence.
 */
function missedBy(s: Session, create = false): Set<string> | undefined {
  let set = s.data.get(MISSED) as Set<string> | undefined;
  if (!set && create) s.data.set(MISSED, (set = new Set()));
  return set;
}
const MISSED = 'missed-requests';

/** See missedBy: at a session's available presence, the requests it missed, if still pending. */
export async function resendMissed(api: ModuleApi, s: Session): Promise<void> {
  if (missedBy(s)?.size) await resendPending(api, s, true);
}

/**
 * Pending requests are shown again after each roster get (as 1.4 showed
 * them), and when a session becomes available: all of them to one that has
 * not fetched its roster, those that came since its roster get to one that
 * has (`missedOnly`, see missedBy). Paced (paced.ts) so that many of them
 * cannot overflow the connection's send buffer. Each batch reads the
 * roster afresh, so a request answered meanwhile is not shown again.
 */
export async function resendPending(api: ModuleApi, s: Session, missedOnly = false): Promise<void> {
  const budget = sendBudget(api.config);
  const shown = new Set<string>();
  const batch = async (): Promise<boolean> => {
    const requests = await api.xdb.peek(s.host, s.user, NS_ROSTER, pendingRequests);
    if (!s.writable) return false;
    const missed = missedBy(s);
    if (missedOnly && missed) {
      // Withdrawn or answered since: nothing to show, now or later.
      const pending = new Set(requests.map((r) => r.jid));
      for (const jid of missed) if (!pending.has(jid)) missed.delete(jid);
    }
    const request = ({ jid, status }: { jid: string; status: string }): Element | undefined => {
      if (shown.has(jid) || (missedOnly && missed?.has(jid) !== true)) return undefined;
      const p = new Element('presence', { type: 'subscribe', from: jid, to: s.jid.bare });
      // Truncated again: requests stored before the bound had none.
      if (status) p.c('status').t(truncateStatus(status));
      return p;
    };
    const sent = ({ jid }: { jid: string }): void => {
      shown.add(jid);
      missed?.delete(jid);
    };
    return sendWithin(s, budget, requests, request, sent);
  };
  // A run of missed ones has a key of its own: a roster get meanwhile must
  // still show every request, not find that run going and do nothing.
  await sendPaced(s, missedOnly ? 'missed-subscriptions' : 'pending-subscriptions', api.log, batch, () => s.writable);
}
