// The roster as stored (SPEC section 6, jabber:iq:roster) and the
// subscription state machine of RFC 3921 section 9, shared by mod_roster
// and mod_presence. Pending inbound requests live on the item as a
// `subscribe` attribute (the request's status text); an item that exists
// only because of such a request is `hidden` from the user's roster.
import { parseJid } from '../jid.js';
import { Element } from '../xml/element.js';
import { NS_ROSTER, type Xdb } from '../xdb/xdb.js';
import type { ModuleApi } from './api.js';
import type { Session } from './sessions.js';
import { isHiddenFrom } from './directed-presence.js';

export type Subscription = 'none' | 'to' | 'from' | 'both';

export function subscriptionOf(item: Element | undefined): Subscription {
  const s = item?.attrs.subscription;
  return s === 'to' || s === 'from' || s === 'both' ? s : 'none';
}

/** The contact's presence reaches the user. */
export function hasTo(item: Element | undefined): boolean {
  const s = subscriptionOf(item);
  return s === 'to' || s === 'both';
}

/** The user's presence reaches the contact. */
export function hasFrom(item: Element | undefined): boolean {
  const s = subscriptionOf(item);
  return s === 'from' || s === 'both';
}

export function withTo(s: Subscription, on: boolean): Subscription {
  const from = s === 'from' || s === 'both';
  return on ? (from ? 'both' : 'to') : from ? 'from' : 'none';
}

export function withFrom(s: Subscription, on: boolean): Subscription {
  const to = s === 'to' || s === 'both';
  return on ? (to ? 'both' : 'from') : to ? 'to' : 'none';
}

export async function readRoster(xdb: Xdb, host: string, user: string): Promise<Element> {
  return (await xdb.get(host, user, NS_ROSTER)) ?? new Element('query', { xmlns: NS_ROSTER });
}

/**
 * The JIDs of the user's roster items whose subscription passes `keep`,
 * read without copying the roster: a presence goes to each of them, and a
 * roster may hold thousands.
 */
export function contactsWhere(xdb: Xdb, host: string, user: string, keep: (item: Element) => boolean): Promise<string[]> {
  return xdb.peek(host, user, NS_ROSTER, (roster) => {
    const jids: string[] = [];
    for (const item of roster?.elements ?? []) if (item.name === 'item' && item.attrs.jid && keep(item)) jids.push(item.attrs.jid);
    return jids;
  });
}

/** Whether the user lets `jid` (a bare JID) see their presence, read without copying the roster. */
export function letsSee(xdb: Xdb, host: string, user: string, jid: string): Promise<boolean> {
  return xdb.peek(host, user, NS_ROSTER, (roster) => roster !== undefined && hasFrom(findItem(roster, jid)));
}

export function findItem(roster: Element, jid: string): Element | undefined {
  return roster.elements.find((i) => keyOf(i) === jid);
}

/**
 * Whether a subscription answer from a contact (subscribed, unsubscribed,
 * unsubscribe) still says how things stand in the user's roster. One kept
 * for later (mod_offline) may have been overtaken since: the item removed,
 * a new request asked, a newer answer shown live to a session that takes
 * no stored stanzas (a negative priority). Shown then, it would tell the
 * user something no longer true.
 */
export function answerHolds(roster: Element | undefined, answer: Element): boolean {
  const contact = parseJid(answer.attrs.from ?? '')?.bare;
  const item = roster && contact !== undefined ? findItem(roster, contact) : undefined;
  if (!item || item.attrs.hidden !== undefined) return false;
  if (answer.attrs.type === 'subscribed') return hasTo(item);
  if (answer.attrs.type === 'unsubscribed') return !hasTo(item) && item.attrs.ask !== 'subscribe';
  return !hasFrom(item) && item.attrs.subscribe === undefined;
}

/** The item as the client sees it: no hidden items, no pending-request bookkeeping. */
export function visibleItem(item: Element): Element {
  const out = item.clone();
  out.setAttr('subscribe', undefined);
  out.setAttr('hidden', undefined);
  return out;
}

/**
 * The roster a get shows, serialized, by stored roster record. A record is
 * never changed in the store, only replaced (see Xdb.peek), so a text
 * stays right for as long as its record is the one stored. Serializing a
 * roster at its size cap (1 MiB, some 10,000 items) took 5 to 100 ms, for
 * a request of 70 bytes that a user's sessions could send again and again.
 */
const shownTexts = new WeakMap<Element, string>();

/** visibleRoster(roster).toString(), serialized once per stored record (see shownTexts). */
export function visibleRosterText(roster: Element | undefined): string {
  if (!roster) return visibleRoster(undefined).toString();
  let text = shownTexts.get(roster);
  if (text === undefined) shownTexts.set(roster, (text = visibleRoster(roster).toString()));
  return text;
}

/** The roster as the client sees it (a copy: nothing of `roster` is kept); undefined stands for an empty one. */
function visibleRoster(roster: Element | undefined): Element {
  const q = new Element('query', { xmlns: NS_ROSTER });
  for (const i of roster?.elements ?? []) if (i.name === 'item' && i.attrs.hidden === undefined) q.children.push(visibleItem(i));
  return q;
}

/** The subscription requests waiting for the user's answer: who asked, and the status text they sent. */
export function pendingRequests(roster: Element | undefined): { jid: string; status: string }[] {
  const out: { jid: string; status: string }[] = [];
  for (const i of roster?.elements ?? []) {
    const { jid, subscribe } = i.attrs;
    if (i.name === 'item' && jid !== undefined && subscribe !== undefined) out.push({ jid, status: subscribe });
  }
  return out;
}

/** What changeItem's `fn` does to one item (see there). */
export type ItemChange = (item: Element, existed: boolean, roster: Element) => Element | null;

/** One item after a change (undefined when deleted or never there) and before it (undefined when it was new). */
export interface ItemChanged {
  item: Element | undefined;
  before: Element | undefined;
}

/**
 * Changes one item under the user's lock. `fn` gets the item (a fresh one
 * with subscription none when absent) and returns it, or null to delete it;
 * it may look at the whole roster (not to be changed): as stored, with the
 * changes before it in the same changeItems() call already made (a removed
 * item's place holds '' until the call ends: see ItemIndex.remove()).
 * Resolves to the item after the change and before it, so the caller can
 * tell whether anything changed.
 */
export async function changeItem(xdb: Xdb, host: string, user: string, jid: string, fn: ItemChange): Promise<ItemChanged> {
  return (await changeItems(xdb, host, user, [{ jid, fn }]))[0]!;
}

/**
 * changeItem for several items, applied in order under one lock and
 * stored in one write (a roster set may carry a whole roster): each result
 * as changeItem's, an item changed twice showing the first change in the
 * second's `before`.
 */
export async function changeItems(
  xdb: Xdb,
  host: string,
  user: string,
  changes: readonly { jid: string; fn: ItemChange }[],
): Promise<ItemChanged[]> {
  let results: ItemChanged[] = [];
  await xdb.update(host, user, NS_ROSTER, (current) => {
    results = [];
    const roster = current ?? new Element('query', { xmlns: NS_ROSTER });
    const items = new ItemIndex(roster);
    let changed = false;
    for (const { jid, fn } of changes) {
      const old = items.find(jid);
      const before = old?.clone();
      const next = fn(old?.clone() ?? new Element('item', { jid, subscription: 'none' }), old !== undefined, roster);
      if (next === null) {
        if (old) {
          items.remove(old);
          changed = true;
        }
        results.push({ item: undefined, before });
        continue;
      }
      if (!old || !next.equals(old)) {
        if (old) items.replace(old, next);
        else items.append(next);
        changed = true;
      }
      results.push({ item: next, before });
    }
    items.compact();
    return changed ? roster : undefined;
  });
  return results;
}

/**
 * findItem() for a run of changes to one roster (the copy update() hands
 * over): a set may carry thousands of items against a roster of thousands,
 * and a scan of the roster per item (findItem, indexOf, removeChild) took
 * 620-830 ms of CPU in one turn for a 5,000-item set against 9,800 items,
 * even when it changed nothing. Built once and kept right through the
 * changes, it answers as findItem() would on the roster as changed so far.
 */
class ItemIndex {
  /** jid -> its items in document order: findItem() takes the first, and a roster written by hand may name a jid twice. */
  private byJid = new Map<string, Element[]>();
  /** Each indexed item's place in roster.children. */
  private at = new Map<Element, number>();
  /** Places of removed items, taken out by compact(). */
  private removed = new Set<number>();

  constructor(private readonly roster: Element) {
    this.build();
  }

  private build(): void {
    this.byJid.clear();
    this.at.clear();
    this.roster.children.forEach((c, i) => {
      if (typeof c !== 'string') this.add(c, i);
    });
  }

  /** Indexes the element at place `i`, the last of its jid's items so far. */
  private add(e: Element, i: number): void {
    const jid = keyOf(e);
    if (jid === undefined) return;
    this.at.set(e, i);
    const same = this.byJid.get(jid);
    if (same) same.push(e);
    else this.byJid.set(jid, [e]);
  }

  find(jid: string): Element | undefined {
    return this.byJid.get(jid)?.[0];
  }

  /**
   * A removed item leaves '' in its place until compact(), so no place
   * moves: '' is text, which `elements`, getChild() and toString() skip,
   * so an ItemChange looking at the roster sees the item gone.
   */
  remove(old: Element): void {
    const i = this.at.get(old)!;
    this.roster.children[i] = '';
    this.removed.add(i);
    this.at.delete(old);
    this.byJid.get(keyOf(old)!)!.shift();
  }

  replace(old: Element, next: Element): void {
    const i = this.at.get(old)!;
    this.roster.children[i] = next;
    this.at.delete(old);
    const jid = keyOf(old)!;
    if (keyOf(next) === jid) {
      // In old's place, before any other item with its jid.
      this.byJid.get(jid)![0] = next;
      this.at.set(next, i);
    } else {
      // An ItemChange that renamed its item (none does): where it now
      // falls among its new jid's items takes a look at the whole roster.
      this.build();
    }
  }

  append(next: Element): void {
    this.add(next, this.roster.children.push(next) - 1);
  }

  /** Takes the removed items' places out of the roster, in one pass. */
  compact(): void {
    if (this.removed.size) this.roster.children = this.roster.children.filter((_, i) => !this.removed.has(i));
  }
}

/** The jid findItem() finds an element by, if any. */
function keyOf(e: Element): string | undefined {
  return e.name === 'item' ? e.attrs.jid : undefined;
}

/** Pending inbound subscription requests kept for the user (items with `subscribe`). */
export function pendingCount(roster: Element): number {
  let n = 0;
  for (const i of roster.elements) if (i.name === 'item' && i.attrs.subscribe !== undefined) n++;
  return n;
}

/** True when the client would see a difference between the two versions of an item. */
export function visiblyChanged(before: Element | undefined, after: Element | undefined): boolean {
  if (!after) return before !== undefined && before.attrs.hidden === undefined;
  if (!before || before.attrs.hidden !== undefined) return after.attrs.hidden === undefined;
  return visibleItem(before).toString() !== visibleItem(after).toString();
}

/** The sessions whose presence is broadcast (available and not invisible), to `viewer` when given (not hidden from it by directed invisible presence). */
export function visibleSessions(api: ModuleApi, bare: string, viewer?: string): Session[] {
  return api.sessions.of(bare).filter((s) => s.available && !s.data.get('invisible') && (viewer === undefined || !isHiddenFrom(s, viewer)));
}

/**
 * Each visible session of `bare` with its presence now: what a run paced
 * on a slow reader (a probe's answers, a login's own resources, the
 * presences shown to a new subscriber) goes through, checking each with
 * stillShows() when its turn comes.
 */
export function presencesNow(api: ModuleApi, bare: string, viewer?: string): { session: Session; presence: Element | undefined }[] {
  return visibleSessions(api, bare, viewer).map((session) => ({ session, presence: session.presence }));
}

/**
 * Whether `s` still shows `presence` (see presencesNow): one that changed
 * it, went invisible or unavailable (to `viewer` too, when given), or
 * ended, during a wait has told whoever it was for itself, and its old
 * presence sent after that would show it online when it is not.
 */
export function stillShows(s: Session, presence: Element | undefined, viewer?: string): presence is Element {
  return presence !== undefined && s.presence === presence && s.available && !s.ended && !s.data.get('invisible') && (viewer === undefined || !isHiddenFrom(s, viewer));
}
