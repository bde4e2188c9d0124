// What a session has told single JIDs by directed presence (SPEC section
// 8), kept as 1.4's mod_presence kept its lists: the targets of its
// directed available presence (1.4's A beyond the roster), who must hear
// when it goes, and the JIDs it made itself invisible to (1.4's I), who
// see it as gone until it shows itself to them again or goes offline:
// no status update, no answer to a probe, no session in a browse.
import { barePart, parseJid } from '../jid.js';
import type { ModuleApi } from './api.js';
import type { Session } from './sessions.js';

/**
 * JIDs kept per list and session: without a bound, a session naming a new
 * JID in each presence would grow the list for as long as it lasts. Beyond
 * either bound the oldest entry is dropped: a dropped target does not get
 * the unavailable presence when the session goes (it goes on showing the
 * session until it probes, or gets presence from it again), and a dropped
 * hidden JID sees the session's next update.
 */
const MAX_JIDS = 1000;

/**
 * The JID text (UTF-8 bytes) each list may add up to. A count alone did
 * not bound memory: a JID may be about 3 KB (node, domain and resource up
 * to 1,023 bytes each), so 1,000 of them held 2 to 3.6 MB per session
 * (measured), uncounted in <sessionmemory>, and an address's 1,000
 * connections some gigabytes. Ordinary JIDs take 30 to 60 bytes, so 1,000
 * of them (up to 65 bytes each on average) still fit in 64 KiB: the count
 * is the bound that matters for real clients, this one for long made-up
 * JIDs (21 of the longest possible are kept, 32 of 2 KB).
 */
const MAX_JID_BYTES = 64 * 1024;

/**
 * JIDs in the order they were last added, with the running total of their
 * bytes, so that keeping both bounds costs O(1) per presence (an entry is
 * dropped at most once for all it was added): every removal, clearing
 * included, goes through here.
 */
export class JidList implements Iterable<string> {
  private readonly jids = new Set<string>();
  private bytes = 0;

  get size(): number {
    return this.jids.size;
  }

  has(jid: string): boolean {
    return this.jids.has(jid);
  }

  /** Adds `jid` as the newest, first dropping the oldest while a bound would be passed. */
  add(jid: string): void {
    // Re-added at the end: the one told most recently is dropped last.
    this.delete(jid);
    const size = Buffer.byteLength(jid);
    while (this.jids.size > 0 && (this.jids.size >= MAX_JIDS || this.bytes + size > MAX_JID_BYTES)) {
      this.delete(this.jids.values().next().value!);
    }
    this.jids.add(jid);
    this.bytes += size;
  }

  delete(jid: string): void {
    if (this.jids.delete(jid)) this.bytes -= Buffer.byteLength(jid);
  }

  /** Removes `bare` and every full JID of it; returns those removed. */
  deleteAccount(bare: string): string[] {
    const gone = [...this.jids].filter((jid) => barePart(jid) === bare);
    for (const jid of gone) this.delete(jid);
    return gone;
  }

  clear(): void {
    this.jids.clear();
    this.bytes = 0;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.jids.values();
  }
}

function listOf(s: Session, key: string): JidList {
  let list = s.data.get(key) as JidList | undefined;
  if (!list) {
    list = new JidList();
    s.data.set(key, list);
  }
  return list;
}

/** The targets of the session's directed available presence: they must hear when it goes. */
export function directedOf(s: Session): JidList {
  return listOf(s, 'directed');
}

/** The JIDs the session sent directed invisible presence to. */
export function hiddenOf(s: Session): JidList {
  return listOf(s, 'hidden');
}

/**
 * Whether the session is invisible to `viewer` (a JID as a string): named
 * as it is, or by its bare JID (the session hid from every resource of it;
 * a contact's probes come from its full JID).
 */
export function isHiddenFrom(s: Session, viewer: string): boolean {
  const hidden = s.data.get('hidden') as JidList | undefined;
  if (hidden === undefined || hidden.size === 0) return false;
  return hidden.has(viewer) || hidden.has(barePart(viewer));
}

/** Removes `bare` and its full JIDs from the session's directed targets; returns those removed. */
export function forgetDirectedTo(s: Session, bare: string): string[] {
  return (s.data.get('directed') as JidList | undefined)?.deleteAccount(bare) ?? [];
}

/**
 * Forgets `bare` and its full JIDs in both lists of the session: the
 * account was removed, and whoever takes the name later inherits nothing.
 */
export function forgetAccount(s: Session, bare: string): void {
  (s.data.get('hidden') as JidList | undefined)?.deleteAccount(bare);
  forgetDirectedTo(s, bare);
}

/**
 * Whether presence to `bare` (a subscriber, or the user's own JID) already
 * reaches the full JID `to`: presence to a bare JID goes to each of its
 * available sessions, so a target of directed presence among them would
 * otherwise get the same presence twice.
 */
function reachedThroughBare(api: ModuleApi, to: string, bare: ReadonlySet<string>): boolean {
  const jid = parseJid(to);
  if (!jid || jid.resource === undefined || !bare.has(jid.bare)) return false;
  return api.sessions.find(jid.bare, jid.resource)?.available === true;
}

/**
 * The targets of the session's directed presence that `p` still has to go
 * to one by one: not a full JID that presence to a bare JID in `bare`, or
 * to a bare JID among the targets themselves, already reaches (one session
 * told at both its bare and full JID heard it twice), and never the session
 * itself (a leave has already marked it unavailable).
 */
export function directedStillToTell(api: ModuleApi, s: Session, directed: Iterable<string>, bare: ReadonlySet<string>): string[] {
  const targets = [...directed];
  // Every presence update broadcasts: no copy of the subscribers without directed presence.
  if (targets.length === 0) return targets;
  const reached = new Set(bare);
  for (const to of targets) if (!to.includes('/')) reached.add(to);
  const self = s.jid.toString();
  return targets.filter((to) => to !== self && !reachedThroughBare(api, to, reached));
}
