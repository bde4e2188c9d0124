// Offline storage (SPEC section 8): messages for a user with no available
// session are stored, stamped, and delivered in order at the next first
// available presence. jabber:x:expire and jabber:x:event (offline) are
// honored; a per-user cap refuses more with an error, never silently, and
// so does each sender's share of it. Subscription answers that came
// meanwhile are kept in the same box and shown with the messages.
import { parseJid } from '../../jid.js';
import { Element, isNamed, namespaceOf } from '../../xml/element.js';
import { isClientChild, isStanzaChild, NS_CLIENT, shownTexts } from '../client-children.js';
import { NoSuchUserError, NS_OFFLINE, NS_ROSTER, UserFileFullError, type Changes } from '../../xdb/xdb.js';
import { answerHolds } from '../roster.js';
import { KEPT_ANSWERS, keepAnswer } from './kept-answers.js';
import { unixTime } from '../../util/time.js';
import { addStamp, delayStamp, firstStampTime } from '../delay-stamp.js';
import { storedCount, wholeNumber } from '../../util/whole-number.js';
import type { Delivery, JsmModule, ModuleApi } from '../api.js';
import type { Session } from '../sessions.js';
import { stanzaError } from '../stanza-errors.js';
import { sendBudget, sendPaced } from '../paced.js';
import { RecentPairEvents } from '../recent-pair-events.js';
import { canRead } from './admins.js';
import { SENT_BEFORE } from '../../c2s/messages-in-doubt.js';
import { sendAgain } from '../send-again.js';

const NS_EXPIRE = 'jabber:x:expire';
const NS_EVENT = 'jabber:x:event';
const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';

/**
 * Whether a message is kept for later: any but groupchat and headline. A
 * type nobody defined ('' or 'foo') is a normal message, as RFC 3921
 * 2.1.1 says and as 1.4's jpacket_subtype took it.
 */
export function storable(m: Element): boolean {
  const type = m.attrs.type;
  return type !== 'groupchat' && type !== 'headline';
}

/**
 * A jabber:x:event notice (composing, delivered, offline...: it carries the
 * <id> of the message it is about, and no body), not a message: news of
 * the moment, never stored for later nor answered (1.4's mod_offline passed
 * on them). Found however it is written, as clients read it.
 */
function isEventNotice(m: Element): boolean {
  // A body any client may show makes it a message (see shownTexts).
  if (shownTexts(m, 'body').length > 0) return false;
  return eventWith(m, 'id');
}

/**
 * Whether the message carries a jabber:x:event `<x>` holding `local` (`id`
 * for a notice, `offline` for a request), however written: the `<x>`'s
 * unprefixed children are in its default namespace, the event one for
 * `<x xmlns='jabber:x:event'>`, the stanza's for a prefixed `<e:x>`.
 */
function eventWith(m: Element, local: string): boolean {
  for (const x of m.children) {
    if (!isStanzaChild(x, 'x', NS_EVENT)) continue;
    const inherited = x.attrs.xmlns ?? NS_CLIENT;
    if (x.children.some((c) => typeof c !== 'string' && isNamed(c, local, NS_EVENT, inherited))) return true;
  }
  return false;
}

/**
 * A chat state with nothing else to say (XEP-0085's standalone
 * notification: composing, paused, gone... and no body): the same news of
 * the moment as an event notice, which XEP-0160 says not to store. Clients
 * of today send them where older ones sent jabber:x:event.
 */
function isChatStateNotice(m: Element): boolean {
  let state = false;
  for (const c of m.children) {
    if (typeof c === 'string') continue;
    if (namespaceOf(c, NS_CLIENT) === NS_CHATSTATES) state = true;
    else if (!isClientChild(c, 'thread')) return false;
  }
  return state;
}

/** A notice about a conversation rather than a message in it: never stored for later nor answered. */
export function isNotice(m: Element): boolean {
  return isEventNotice(m) || isChatStateNotice(m);
}

/**
 * The message's jabber:x:expire `<x>` elements, however written: a client
 * reads `<e:x xmlns:e='jabber:x:expire' seconds='60'/>` as the plain one, so
 * the server keeps it no longer either (1.4 matched the `xmlns` attribute
 * only). With more than one, each reader may take another, so the shortest
 * lifetime holds and each one is counted down.
 */
function expiresOf(m: Element): Element[] {
  return m.elements.filter((c) => isStanzaChild(c, 'x', NS_EXPIRE));
}

/**
 * The seconds of an expire element, or undefined when they are no whole
 * number: such an element is kept as if it were not there. Absurdly long
 * numbers come out as +-Infinity (never / already expired).
 */
function secondsOf(x: Element): number | undefined {
  return wholeNumber(x.attrs.seconds);
}

/** The shortest of the message's expire seconds (see secondsOf), or undefined when it has none. */
function expireSeconds(m: Element): number | undefined {
  let shortest: number | undefined;
  for (const x of expiresOf(m)) {
    const seconds = secondsOf(x);
    if (seconds !== undefined && (shortest === undefined || seconds < shortest)) shortest = seconds;
  }
  return shortest;
}

/**
 * One sender's share of a user's offline store is 1/SENDER_SHARE of it: at
 * most a quarter of <mod_offline><limit> messages (rounded up: 250 of the
 * default 1,000), taking at most a quarter of <maxfilesize> bytes (256 KiB
 * of the default 1 MiB) as stored. Without it one sender (a stranger) could
 * fill the store, and every message from anyone else bounced until the
 * user logged in; now it takes four. A quarter is far more than a busy
 * contact leaves for someone away: 250 messages, about a kilobyte each on
 * average. A sender's first message is taken whatever its size (if the
 * file has room), so one large message is never refused for the share.
 */
const SENDER_SHARE = 4;

/** What one sender may hold in a user's store; bytes is Infinity with no file cap. */
export interface SenderShare {
  messages: number;
  bytes: number;
}

function senderShare(limit: number, maxFileBytes: number): SenderShare {
  return {
    messages: Math.ceil(limit / SENDER_SHARE),
    bytes: maxFileBytes > 0 ? Math.floor(maxFileBytes / SENDER_SHARE) : Infinity,
  };
}

/**
 * Whether `stored` (the box's messages) leave `sender` (a bare JID) no room
 * for `m` within its share. Stored messages are matched by their `from`,
 * which the server set (a client's own JID, prepared), so plain string
 * comparison finds them all.
 */
function overShare(stored: Element[], sender: string, m: Element, share: SenderShare, expiredLately: number): boolean {
  const prefix = `${sender}/`;
  // Its messages that expired unread lately count too (see recentExpiries).
  let count = expiredLately;
  if (count >= share.messages) return true;
  let bytes = 0;
  for (const old of stored) {
    const from = old.attrs.from;
    if (from !== sender && !from?.startsWith(prefix)) continue;
    if (++count >= share.messages) return true;
    if (share.bytes !== Infinity) bytes += Buffer.byteLength(old.toString());
  }
  return count > 0 && bytes + Buffer.byteLength(m.toString()) > share.bytes;
}

/**
 * Held to no share: the server itself (a JID without a user: the host and
 * its resources), the <admin> JIDs, and quiet deliveries: mod_admin's
 * copies of messages to the host, which come from their sender but are the
 * server's own forwarding; their sender can hear of no refusal, so a share
 * would drop them without a word, and an admin's store takes them up to
 * its limit as before. (mod_announce stores nothing offline: the motd
 * waits in memory for each login.)
 */
function unlimitedSender(api: ModuleApi, d: Delivery): boolean {
  return d.quiet === true || d.from.user === undefined || canRead(api, d.from);
}

/** How long after it was stored an expired message still counts towards its sender's share. */
const EXPIRED_COUNTED_SECONDS = 3600;

/**
 * Messages that expired unread lately, per recipient and sender (see
 * recent-pair-events.ts). One per server (keyed by its store), shared by
 * mod_offline and mod_filter's <offline/>.
 */
const expiriesByStore = new WeakMap<object, RecentPairEvents>();

function recentExpiries(api: ModuleApi): RecentPairEvents {
  let expiries = expiriesByStore.get(api.xdb);
  if (!expiries) expiriesByStore.set(api.xdb, (expiries = new RecentPairEvents(EXPIRED_COUNTED_SECONDS)));
  return expiries;
}

/** A stored message that expired unread: its sender's bare JID and when it was stored. */
interface Expiry {
  sender: string;
  storedAt: number;
}

function expiryOf(m: Element): Expiry | undefined {
  const from = parseJid(m.attrs.from ?? '');
  const storedAt = Number(expiresOf(m).find((x) => x.attrs.stored !== undefined)?.attrs.stored);
  return from && Number.isFinite(storedAt) ? { sender: from.bare, storedAt } : undefined;
}

/**
 * Stores a message for later (stamped); throws 503 'Offline Storage Full'
 * over the limit, over the sender's share of it (SENDER_SHARE), or when the
 * message would make the recipient's spool file larger than its cap (the
 * sender cannot tell these apart, nor needs to).
 * A message that has already expired (jabber:x:expire seconds <= 0) is not
 * stored, and no offline event is sent: the sender gets a 503, as in 1.4.
 * mod_filter's <offline/> uses it too (`forLater`: stored even with a
 * session online, as the rule says). Otherwise a session that became
 * deliverable since the router found none takes the message instead: its
 * delivery of the store may have run already, and the message would wait
 * for the next login.
 */
export async function storeOffline(api: ModuleApi, d: Delivery, limit: number, forLater = false): Promise<void> {
  const { stanza, to } = d;
  // Back from a lost connection to where it was (see placeOf): stamped, and counted, when first stored.
  const back = d.putBack !== undefined;
  const seconds = expireSeconds(stanza);
  // Nobody will ever read it: the sender hears so, as 1.4's offline phase
  // bounced what mod_offline passed on (503).
  if (seconds !== undefined && seconds <= 0) throw stanzaError('service-unavailable');
  const m = stanza.clone();
  if (!back) addStamp(m, delayStamp(to.bare, 'Offline Storage', d.sentAt));
  // Only a count we can do arithmetic on gets the bookkeeping; a larger one never runs out.
  // Our own bookkeeping: a `stored` the sender put on any of them goes
  // (on one that counts nothing down, it dated the message for expiryOf).
  for (const x of expiresOf(m)) x.setAttr('stored', Number.isSafeInteger(secondsOf(x)) ? String(unixTime()) : undefined);
  const share = back || unlimitedSender(api, d) ? undefined : senderShare(limit, api.config.maxFileBytes);
  const expiries = recentExpiries(api);
  const now = unixTime();
  // The expired messages this store drops: noted once it is written. Noted
  // before, a store refused (the file left as it was, those still in it)
  // noted them again at each try, anyone's, and their sender lost its share.
  let dropped: Expiry[] = [];
  let full = false;
  let delivered = false;
  try {
    // Only into an account that still exists (the store's default): one
    // removed since the caller looked rejects (NoSuchUserError, a 404
    // bounce), leaving no file behind. One being removed is refused the
    // same way: stored now, the message would go with the file unread.
    await api.xdb.update(to.host, to.user!, NS_OFFLINE, (cur) => {
      if (api.removing(to.host, to.user!)) throw new NoSuchUserError(to.user!);
      const live = forLater ? undefined : api.sessions.best(to.bare);
      if (live) {
        // A message sent again is stamped and marked as the Router does when it finds a session at once.
        if (d.sentAt !== undefined) sendAgain(live, stanza, d.sentAt, back);
        else live.send(stanza);
        delivered = true;
        return undefined;
      }
      const box = cur ?? new Element('foo', { xmlns: NS_OFFLINE });
      // Messages past their expiry are dropped here too, not only at
      // delivery: kept, they counted towards the limit and the sender's
      // share, and a user away long enough had every sender refused (503)
      // for messages nobody would ever read. Their senders' shares still
      // count them for a while (see recentExpiries).
      dropped = [];
      box.children = box.children.filter((c) => {
        if (typeof c === 'string' || c.name !== 'message' || !expired(c, now)) return true;
        const expiry = expiryOf(c);
        if (expiry) dropped.push(expiry);
        return false;
      });
      const stored = box.getChildren('message');
      if (!back && stored.length >= limit) {
        full = true;
        return undefined;
      }
      const ownDropped = dropped.filter((e) => e.sender === d.from.bare).map((e) => e.storedAt);
      if (share && overShare(stored, d.from.bare, m, share, expiries.count(to.bare, d.from.bare, now, ownDropped))) {
        api.log.debug({ to: to.bare, from: d.from.bare }, "offline message refused: the sender's share of the store is used up");
        full = true;
        return undefined;
      }
      box.children.splice(placeOf(box, d), 0, m);
      return box;
    });
  } catch (err) {
    if (!(err instanceof UserFileFullError)) throw err;
    full = true;
  }
  if (delivered) return;
  if (full) throw stanzaError('service-unavailable', 'Offline Storage Full');
  for (const e of dropped) expiries.note(to.bare, e.sender, e.storedAt, now);
  // jabber:x:event: the sender asked to hear that the message went offline
  // (not for a quiet delivery: the notice would name the recipient). As
  // 1.4 made it, from the message itself turned around: from the address
  // the sender used, with the message's id and type, so that a chat
  // client shows it in that chat.
  if (!back && eventWith(stanza, 'offline') && stanza.attrs.id && stanza.attrs.type !== 'error' && !d.quiet) {
    await api.deliver(
      new Element('message', { from: stanza.attrs.to ?? to.bare, to: stanza.attrs.from, id: stanza.attrs.id, type: stanza.attrs.type }, [
        new Element('x', { xmlns: NS_EVENT }, [new Element('offline'), new Element('id', {}, [stanza.attrs.id])]),
      ]),
      // For a message sent again, its sender may be a lost session's user whose resend waits for this one's.
      { forResend: d.sentAt !== undefined },
    );
  }
}

/**
 * Where a message goes in the box. At the end, unless it is sent again
 * (see jsm/resend-in-doubt.ts). One that had come from the store and was
 * delivered into a connection then lost goes back to the front, at
 * `putBack` (after those put back before it), as it was: it was in the
 * store a moment ago, so neither the limit nor its sender's share refuses
 * it (the file's cap still does). Any other goes where it was first sent,
 * before what was stored since (while it was being sent again, or after
 * its session went): before the first one stored later, by its stamp, in
 * whole seconds (one stored in the same second stays before it).
 */
function placeOf(box: Element, d: Delivery): number {
  if (d.putBack !== undefined) return Math.min(d.putBack, box.children.length);
  if (!d.sentAt) return box.children.length;
  const second = Math.floor(d.sentAt.getTime() / 1000) * 1000;
  for (let i = 0; i < box.children.length; i++) {
    const c = box.children[i]!;
    if (typeof c === 'string') continue;
    const at = firstStampTime(c);
    if (at !== undefined && at > second) return i;
  }
  return box.children.length;
}

/**
 * Counts a message's jabber:x:expire down by `elapsed` seconds (it was
 * first sent that long ago, see jsm/resend-in-doubt.ts): false when that
 * expired it, which is then not to be delivered again.
 */
export function countDown(m: Element, elapsed: number): boolean {
  for (const x of expiresOf(m)) {
    const seconds = secondsOf(x);
    if (seconds === undefined) continue;
    const left = seconds - elapsed;
    // Absurdly long numbers are +-Infinity (see secondsOf): never, or long expired.
    if (left <= 0) return false;
    if (Number.isSafeInteger(seconds)) x.attrs.seconds = String(left);
  }
  return true;
}

/** The seconds a stored expire element has left, or undefined when it counts nothing down (as stored; nothing is changed). */
function secondsLeft(x: Element, now: number): number | undefined {
  const seconds = secondsOf(x);
  // Whole seconds, as written here: a hand-edited '' is no time (Number('') is 0, long expired).
  const stored = storedCount(x.attrs.stored);
  if (seconds === undefined || !Number.isSafeInteger(seconds) || stored === undefined) return undefined;
  // Never more than the sender gave: a wall clock stepped back since it was stored counts as no time gone.
  return seconds - Math.max(0, now - stored);
}

/** Whether a stored message is past its jabber:x:expire (any of them): it will never be delivered. */
function expired(m: Element, now: number): boolean {
  return expiresOf(m).some((x) => {
    const left = secondsLeft(x, now);
    return left !== undefined && left <= 0;
  });
}

/** Drops expired messages and tells the rest how much time they have left. */
function stillValid(m: Element, now: number): boolean {
  for (const x of expiresOf(m)) {
    const left = secondsLeft(x, now);
    // Our own bookkeeping, never shown to the recipient, also when seconds is not a number.
    x.setAttr('stored', undefined);
    if (left === undefined) continue;
    if (left <= 0) return false;
    x.attrs.seconds = String(left);
  }
  return true;
}

/**
 * Sends stored messages and kept answers (`answersOnly`: only these) from
 * the front of the box, up to `budget` characters (at least one), and
 * removes them; resolves whether any are left. They are handed to the
 * connection inside the update, under the user's lock, and removed by the
 * write that follows: nothing leaves the spool before it went to the
 * connection, a session that is closing takes nothing, and a write that
 * fails leaves them stored (sent twice rather than lost).
 */
async function deliverBatch(api: ModuleApi, s: Session, budget: number, answersOnly = false): Promise<boolean> {
  let more = false;
  // With the roster, under the same lock, read only for a kept answer.
  await api.xdb.set(s.host, s.user, (current): Changes => {
    more = false;
    const cur = current(NS_OFFLINE);
    if (!cur || !s.writable) return {};
    let rosterRead = false;
    let roster: Element | undefined;
    const holds = (answer: Element): boolean => {
      if (!rosterRead) roster = current(NS_ROSTER);
      rosterRead = true;
      return answerHolds(roster, answer);
    };
    const now = unixTime();
    const taken = new Set<unknown>();
    let used = 0;
    for (const m of cur.elements) {
      if ((m.name !== 'message' || answersOnly) && m.name !== 'presence') continue;
      // A copy: one left stored keeps its expiry bookkeeping as it was.
      const out = m.clone();
      // Expired ones are dropped, as before; so is an answer overtaken since it was kept.
      if (!stillValid(out, now) || (m.name === 'presence' && !holds(m))) {
        taken.add(m);
        continue;
      }
      // Addressed as the sender addressed it (the bare JID, or a resource
      // since gone), as 1.4 sent a stored message and as one routed live
      // to the bare JID arrives.
      const text = out.toString();
      const size = text.length;
      if (used > 0 && used + size > budget) {
        more = true;
        break;
      }
      taken.add(m);
      used += size;
      SENT_BEFORE.set(out, 'stored');
      s.send(out, text);
    }
    if (taken.size === 0) return {};
    if (!more && !answersOnly) return { [NS_OFFLINE]: null };
    cur.children = cur.children.filter((c) => !taken.has(c));
    return { [NS_OFFLINE]: cur.elements.length > 0 ? cur : null };
  });
  return more;
}

/**
 * Called only once the priority is non-negative (1.4 rule), see
 * mod_presence. The backlog goes out in batches (paced.ts), oldest first;
 * what is not sent yet stays stored, so a client that disconnects gets the
 * rest at its next login. Messages arriving meanwhile go to the live
 * session at once and may overtake the older stored ones still waiting,
 * as they did when the whole backlog was sent at once (it too was behind
 * whatever the client had queued); a message stored meanwhile (the session
 * not taking messages) goes to the end of the box, after the older ones.
 * Delivery stops when the session stops taking bare-JID messages (gone
 * unavailable or negative priority) and starts again when it takes them.
 */
async function deliverStored(api: ModuleApi, s: Session): Promise<void> {
  const budget = sendBudget(api.config);
  await sendPaced(
    s,
    'offline-delivery',
    api.log,
    () => deliverBatch(api, s, budget),
    () => s.available && s.priority >= 0,
  );
}

/**
 * A session available with a negative priority takes no stored messages
 * (the 1.4 rule), but the kept answers are no messages: it is shown those
 * at once (RFC 3921 11.1: when the user next has an available resource).
 * Left for its priority to rise, they could come after newer answers from
 * the same contacts, shown to it live meanwhile.
 */
async function deliverAnswers(api: ModuleApi, s: Session): Promise<void> {
  if (s.priority >= 0) return;
  const budget = sendBudget(api.config);
  await sendPaced(s, 'offline-answers', api.log, () => deliverBatch(api, s, budget, true), () => s.available);
}

export const modOffline: JsmModule = {
  name: 'mod_offline',
  setup(api) {
    const limit = api.config.jsm.offlineLimit;
    api.on('offline', async (d) => {
      if (d.stanza.name === 'presence' && KEPT_ANSWERS.has(d.stanza.attrs.type ?? '')) {
        await keepAnswer(api, d);
        return 'handled';
      }
      if (d.stanza.name !== 'message') return 'pass';
      // Headlines and notices are news of the moment: nobody wants them
      // later (RFC 3921 2.1.1). One for a user that does not exist is
      // bounced like any message.
      if (d.stanza.attrs.type === 'headline' || isNotice(d.stanza)) return (await api.xdb.exists(d.to.host, d.to.user!)) ? 'handled' : 'pass';
      if (!storable(d.stanza)) return 'pass';
      if (!(await api.xdb.exists(d.to.host, d.to.user!))) return 'pass';
      await storeOffline(api, d, limit);
      return 'handled';
    });
    api.on('session-available', (s) => deliverAnswers(api, s));
    api.on('session-deliverable', (s) => deliverStored(api, s));
  },
};
