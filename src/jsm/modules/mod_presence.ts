// Presence (SPEC section 8): initial presence probes the user's contacts
// and broadcasts to subscribers, updates and unavailable go to subscribers
// and to whoever got directed presence, invisible presence receives but
// never broadcasts, and probes are answered only for trusted contacts.
// Directed invisible presence hides the session from one JID until it
// shows itself to it again or goes offline (see directed-presence.ts).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseJid, type Jid } from '../../jid.js';
import { clientChild, hasLocalName } from '../client-children.js';
import { endStatus, keptPresence } from '../kept-presence.js';
import { attrsWith, Element } from '../../xml/element.js';
import { wholeNumber } from '../../util/whole-number.js';
import type { Delivery, JsmModule, ModuleApi } from '../api.js';
import { contactsWhere, hasFrom, hasTo, presencesNow, stillShows } from '../roster.js';
import { isTrusted } from './trust.js';
import type { Session } from '../sessions.js';
import { directedOf, directedStillToTell, forgetAccount, hiddenOf, isHiddenFrom } from '../directed-presence.js';

/** Notes that `to` got directed available presence from the session. */
function rememberDirected(api: ModuleApi, s: Session, to: Jid): void {
  // Presence to a host not served here bounces (there is no s2s): so
  // would the unavailable, so there is nobody to tell.
  if (!api.isLocalHost(to.host)) return;
  directedOf(s).add(to.toString());
}

/**
 * The priority a <priority> element stands for: a signed byte (RFC 3921
 * 2.2.2.3), so an integer outside -128..127 is clamped, and anything that
 * is not an integer (empty, "high", "1.5"), or no element, counts as 0.
 */
function priorityValue(priority: Element | undefined): number {
  const n = wholeNumber(priority?.text());
  return n === undefined ? 0 : Math.max(-128, Math.min(127, n));
}

/** The priority a presence stands for; a prefixed <p:priority xmlns:p='jabber:client'> counts, as the contacts' clients read it. */
function priorityOf(p: Element): number {
  return priorityValue(clientChild(p, 'priority'));
}

/**
 * Writes the priority the server goes by into the presence, so that what
 * contacts and the user's other resources see is what routing uses (a
 * contact shown 300 would think that session beats one at 127). Only a
 * presence that carries a <priority> gets one; a second one is dropped, and
 * so is one in another namespace (some readers take the first element of
 * that name, whatever its namespace, and would see another value).
 */
function normalizePriority(p: Element): number {
  const first = clientChild(p, 'priority');
  const n = priorityValue(first);
  if (first !== undefined) first.children = [String(n)];
  if (p.children.some((c) => c !== first && hasLocalName(c, 'priority'))) {
    p.children = p.children.filter((c) => c === first || !hasLocalName(c, 'priority'));
  }
  return n;
}

/** `p` as it goes out now, unstamped (see kept-presence.ts for the kept one). */
function copyTo(p: Element, from: string, to: string): Element {
  return new Element('presence', attrsWith(p.attrs, { from, to }), p.children);
}

/** Presence copies made in one turn of the event loop (see broadcast). */
const COPIES_PER_TURN = 256;

/**
 * What each session was last shown of its account's other sessions'
 * presence, by session. Two sessions' first presences at once: each one's
 * broadcast reached the other live, and each one's arrival showed it the
 * other's kept presence too (probeContacts), so each saw the other twice.
 */
const shownSiblings = new WeakMap<Session, WeakMap<Session, Element>>();

/** Whether `viewer` is yet to be shown `sibling`'s `presence`; notes that it now is. */
function firstShowing(viewer: Session, sibling: Session, presence: Element): boolean {
  let shown = shownSiblings.get(viewer);
  if (!shown) shownSiblings.set(viewer, (shown = new WeakMap()));
  if (shown.get(sibling) === presence) return false;
  shown.set(sibling, presence);
  return true;
}

/** Sends `p` from the session to every subscriber (from/both), to `extra` full JIDs, and to the user's other sessions. */
async function broadcast(api: ModuleApi, s: Session, p: Element, extra: Iterable<string> = []): Promise<void> {
  const from = s.jid.toString();
  // A session that ends meanwhile (replaced by a login with its full JID,
  // its account removed: ended from outside its own stanzas' turn) says
  // goodbye to all (session-end): an available presence sent after that
  // showed it online once it was gone. A goodbye itself is told in full.
  const stale = (): boolean => s.ended && p.attrs.type !== 'unavailable';
  // A subscriber the session hid from was told `unavailable` then: nothing
  // more, not even a goodbye (nor is it counted as reaching its resources:
  // one shown the session again since, by directed presence, is told).
  const subscribers = (await contactsWhere(api.xdb, s.host, s.user, hasFrom)).filter((jid) => !isHiddenFrom(s, jid));
  if (stale()) return;
  const bare = new Set<string>(subscribers).add(s.jid.bare);
  const targets = new Set<string>();
  // The user's own bare JID among them is left to the loop over the
  // sessions below: delivered as well, it reached each one twice (and,
  // going invisible, this very session).
  for (const to of directedStillToTell(api, s, extra, bare)) if (to !== s.jid.bare) targets.add(to);
  const directed = new Set(targets);
  for (const jid of subscribers) targets.add(jid);
  // Subscribers as they are now: a subscription cancelled between batches
  // (below) told its contact `unavailable` at once, which a copy sent
  // after it would contradict.
  let still: Set<string> | undefined;
  let copies = 0;
  for (const to of targets) {
    if (still && !still.has(to) && !directed.has(to)) continue;
    // Hidden from during a pause between batches.
    if (!directed.has(to) && isHiddenFrom(s, to)) continue;
    await api.deliver(copyTo(p, from, to));
    if (stale()) return;
    // Thousands of subscribers and a long status: the copies took the
    // event loop for over 100 ms at once. Other clients are served
    // between batches (a login with this full JID waits for a goodbye's
    // end, see leaving-sessions.ts, so none overtakes it).
    if (++copies % COPIES_PER_TURN === 0) {
      await nextTurn();
      still = new Set(await contactsWhere(api.xdb, s.host, s.user, hasFrom));
      if (stale()) return;
    }
  }
  for (const other of api.sessions.of(s.jid.bare)) {
    if (other !== s && other.available && firstShowing(other, s, p)) other.send(copyTo(p, from, other.jid.toString()));
  }
}

/**
 * The session goes unavailable: `p` goes to whoever could see it, its
 * subscribers and own resources when it broadcast, and every target of its
 * directed presence in any case (RFC 3921 5.1.4), even when it never
 * broadcast or was invisible.
 */
async function leave(api: ModuleApi, s: Session, p: Element): Promise<void> {
  const directed = directedOf(s);
  const wasVisible = s.available && !s.data.get('invisible');
  s.available = false;
  if (wasVisible) await broadcast(api, s, p, directed);
  else for (const to of directedStillToTell(api, s, directed, new Set())) await api.deliver(copyTo(p, s.jid.toString(), to));
  directed.clear();
  // Offline, it is hidden from nobody: its next available presence goes to all (as 1.4 emptied I).
  hiddenOf(s).clear();
  // Back later, it is shown its other sessions again, as a new arrival is.
  shownSiblings.delete(s);
}

/**
 * First available presence: learn the contacts' presence (answered locally), then the rest.
 * Local contacts answer at once, each of their sessions with its presence:
 * for a roster of hundreds, more than the send buffer (<outbuffer>) takes,
 * which cut off a client that was reading. So the probes go out while
 * the client keeps up, and wait for it (as paced.ts does) when it lags.
 */
async function probeContacts(api: ModuleApi, s: Session): Promise<void> {
  for (const jid of await contactsWhere(api.xdb, s.host, s.user, hasTo)) {
    // Gone meanwhile (replaced): answered, a probe from its full JID would
    // reach the session that took it, which asked for nothing.
    if (s.ended) return;
    await api.deliver(new Element('presence', { type: 'probe', from: s.jid.toString(), to: jid }));
    if (!(await caughtUp(s))) return;
  }
  // The user's own other resources.
  for (const { session: other, presence } of presencesNow(api, s.jid.bare)) {
    if (other !== s && stillShows(other, presence) && firstShowing(s, other, presence)) s.send(keptPresence(other, presence, s.jid.toString()));
    if (!(await caughtUp(s))) return;
  }
}

/** Waits while `s`'s client lags behind what it was sent (see probeContacts); false when the session ends meanwhile. (An ended session not lagging gives true: callers check `ended` themselves.) */
async function caughtUp(s: Session): Promise<boolean> {
  return !s.backedUp || (await s.whenWritable());
}

/** Presence types that, sent to one's own bare JID, are one's own presence (subscriptions and probes keep their `to`). */
const OWN_TYPES = new Set([undefined, 'available', 'unavailable', 'invisible']);

async function ownPresence(api: ModuleApi, stanza: Element, s: Session): Promise<void> {
  const type = stanza.attrs.type;
  const p = new Element('presence', attrsWith(stanza.attrs, { to: undefined, from: undefined }), stanza.children);
  if (type === 'unavailable') {
    // Kept (its status is the logout's, see mod_last) only by a session
    // that was seen: one that never was keeps none, so its end leaves the
    // last logout as it was instead of telling contacts it was online.
    if (s.presence) {
      s.presence = p;
      s.presenceAt = Date.now();
    }
    await leave(api, s, p);
    return;
  }
  if (type === 'invisible') {
    // COMPAT: 1.4 invisible presence: messages are routed here, nobody sees us.
    const first = !s.available;
    if (!s.data.get('invisible') && s.available) {
      // Gone for everyone who could see us: targets of directed presence too.
      const directed = directedOf(s);
      await broadcast(api, s, new Element('presence', { type: 'unavailable' }), directed);
      directed.clear();
      hiddenOf(s).clear();
    }
    s.data.set('invisible', true);
    const wasDeliverable = !first && s.priority >= 0;
    s.available = true;
    s.priority = priorityOf(p);
    if (first) await arrive(api, s);
    await maybeDeliverable(api, s, wasDeliverable);
    return;
  }
  if (type !== undefined && type !== 'available') return;
  const first = !s.available;
  const wasDeliverable = !first && s.priority >= 0;
  s.available = true;
  s.data.delete('invisible');
  // Whoever gets it later sees since when it holds (kept-presence.ts);
  // what goes out now carries no stamp.
  s.presence = p;
  s.presenceAt = Date.now();
  s.priority = normalizePriority(p);
  await broadcast(api, s, p);
  // Ended meanwhile: its goodbye is told; a gone session learns nothing.
  if (s.ended) return;
  if (first) await arrive(api, s);
  await maybeDeliverable(api, s, wasDeliverable);
}

/** Tells the modules when the session starts taking bare-JID messages (offline delivery). */
async function maybeDeliverable(api: ModuleApi, s: Session, was: boolean): Promise<void> {
  if (!was && s.available && s.priority >= 0) await api.notify('session-deliverable', s);
}

async function arrive(api: ModuleApi, s: Session): Promise<void> {
  await probeContacts(api, s);
  await api.notify('session-available', s);
}

/** A probe is answered with each visible session's presence, only for trusted contacts. */
async function answerProbe(api: ModuleApi, d: Delivery): Promise<'handled'> {
  const { to, from } = d;
  const bare = to.bare;
  // The local session probing, found before any wait: replaced meanwhile,
  // its answers would reach the session that took its full JID, which
  // asked for nothing.
  const prober = from.resource === undefined ? undefined : api.sessions.find(from.bare, from.resource);
  if (!(await isTrusted(api, to, from))) return 'handled';
  // One answer per session of the contact, up to <limits><sessions> of
  // them: paced like the probes themselves when the prober is local.
  let waited = false;
  for (const { session: s, presence } of presencesNow(api, bare)) {
    if (prober?.ended) break;
    // After a wait for the prober, trust may have been taken back.
    if (waited && !(await isTrusted(api, to, from))) break;
    if (stillShows(s, presence, from.toString())) await api.deliver(keptPresence(s, presence, from.toString()));
    if (prober && !(await caughtUp(prober))) break;
    waited = prober !== undefined;
  }
  return 'handled';
}

export const modPresence: JsmModule = {
  name: 'mod_presence',
  setup(api) {
    api.on('session-out', async (stanza, s) => {
      const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to);
      const type = stanza.attrs.type;
      // COMPAT: presence to one's own bare JID is one's presence, as 1.4's
      // _js_session_from took such a `to` for none; as directed presence it
      // came back to the sender alone and contacts never saw it.
      if (stanza.attrs.to === undefined || (to && to.resource === undefined && to.bare === s.jid.bare && OWN_TYPES.has(type))) {
        await ownPresence(api, stanza, s);
        return 'handled';
      }
      if (to && (type === undefined || type === 'available')) {
        rememberDirected(api, s, to);
        hiddenOf(s).delete(to.toString());
        normalizePriority(stanza);
      }
      if (to && type === 'unavailable') {
        directedOf(s).delete(to.toString());
        hiddenOf(s).delete(to.toString());
      }
      if (to && type === 'invisible') {
        directedOf(s).delete(to.toString());
        // As 1.4's I list: hidden from it until shown again (see directed-presence.ts).
        if (api.isLocalHost(to.host)) hiddenOf(s).add(to.toString());
        // Invisible to one contact is gone for it, as 1.4 turned it into:
        // 'invisible' is no presence type any client understands.
        stanza.attrs.type = 'unavailable';
      }
      return 'pass';
    }, { stanzas: ['presence'] });
    api.on('deliver', (d) => {
      if (d.stanza.attrs.type !== 'probe') return 'pass';
      return answerProbe(api, d);
    }, { stanzas: ['presence'] });
    // Whoever registers the name later inherits nothing: not the
    // presence other sessions directed at the removed account.
    api.on('user-removed', ({ host, user }) => {
      for (const s of api.sessions.all()) forgetAccount(s, `${user}@${host}`);
    });
    api.on('session-end', async (s) => {
      if (!s.available && directedOf(s).size === 0) return;
      const p = new Element('presence', { type: 'unavailable' });
      const status = endStatus(s);
      if (status) p.c('status').t(status);
      await leave(api, s, p);
    });
  },
};
