// A few light records of heavy user files, kept after the file itself
// has left the parsed-file cache (doc-cache.ts).
//
// The cache holds about 24 files of the densest kind (16 MiB parsed each).
// A stranger who filled 25 or more accounts with private storage and sent
// presence probes, vCard or last requests to them in turn made the server
// parse one such file at each request: about 70 ms of CPU each, every
// other client held up that long (the amplification audit). Those
// requests read small records (the roster, the vCard, the last logout,
// the password record that says the account exists), so those records of
// a heavy file, when light, are kept here at a small weight, and such a
// read is answered from them. A read of any other record, and every
// change, still reads the whole file.
//
// Kept in step by DocCache.remember(), which every change goes through:
// an entry is always made from the latest document of its path.
import type { Element } from '../xml/element.js';
import { weigh } from '../xml/stream-parser.js';
import { heapShare } from '../util/heap-share.js';
import type { UserDoc } from './user-doc.js';
import { NS_AUTH, NS_AUTH_0K, NS_AUTH_CRYPT, NS_LAST, NS_REGISTER, NS_ROSTER, NS_VCARD } from './xdb.js';

/** Files that weigh more than this leave their light records here. */
const SLIM_FROM_WEIGHT = 1024 * 1024;
/** What one file's light records may weigh together: a roster of some 200 contacts, a vCard, the rest. */
const SLIM_DOC_WEIGHT = 64 * 1024;
/** What all entries may weigh together, by default. */
const SLIM_TOTAL_WEIGHT = 64 * 1024 * 1024;
/** The share of the heap they may take when SLIM_TOTAL_WEIGHT is more (see heap-share.ts). */
const SLIM_HEAP_SHARE = 1 / 64;
/**
 * The records a read from someone else asks for: the password records
 * (does the account exist; a login attempt), the roster (a probe), the
 * vCard, the last logout, the registration data (browse), the message
 * rules (read for every message or request delivered to the user;
 * mod_filter's namespace, named here as the store knows no module).
 * Only these are kept, each when light, or remembered as absent: looking
 * at every record of a file of thousands (private storage gives each
 * namespace one) cost a change to such a file several times its write,
 * and each one left out would have had to be remembered by name.
 */
const KEPT = [NS_AUTH, NS_AUTH_0K, NS_AUTH_CRYPT, NS_ROSTER, NS_VCARD, NS_LAST, NS_REGISTER, 'jabber:iq:filter'];
/** What an entry weighs besides its records. */
const ENTRY_WEIGHT = 1024;

/** A record's weight (its characters plus a cost per node, see weigh()), counted once. */
const recordWeights = new WeakMap<Element, number>();

function recordWeight(rec: Element): number {
  let w = recordWeights.get(rec);
  if (w === undefined) {
    let chars = 0;
    let nodes = 0;
    const walk = (e: Element): void => {
      nodes++;
      chars += e.name.length;
      for (const [k, v] of Object.entries(e.attrs)) {
        nodes++;
        chars += k.length + v.length;
      }
      for (const c of e.children) {
        if (typeof c === 'string') {
          nodes++;
          chars += c.length;
        } else walk(c);
      }
    };
    walk(rec);
    recordWeights.set(rec, (w = weigh(chars, nodes)));
  }
  return w;
}

interface Slim {
  /** The light records of KEPT: a UserDoc that holds only them. */
  doc: UserDoc;
  /** The namespaces it answers for: those records, and those of KEPT the file does not hold. */
  answers: Set<string>;
  weight: number;
}

export class SlimDocs {
  /** path -> entry, least recently used first. */
  private readonly entries = new Map<string, Slim>();
  private weight = 0;

  /** `limit`: what all entries may weigh together (by default SLIM_TOTAL_WEIGHT, or a SLIM_HEAP_SHARE of the heap when less). */
  constructor(readonly limit = heapShare(SLIM_TOTAL_WEIGHT, SLIM_HEAP_SHARE)) {}

  /**
   * `doc` is now the document of `path` (null: no file): its entry is made
   * again, or dropped. Nothing of `doc` but its light records is kept: the
   * whole document must be free to go once the cache lets it go.
   */
  remember(path: string, doc: UserDoc | null): void {
    this.forget(path);
    if (doc === null || doc.weight <= SLIM_FROM_WEIGHT) return;
    const kept = new Map<string, Element>();
    const answers = new Set<string>();
    let weight = ENTRY_WEIGHT;
    for (const ns of KEPT) {
      const rec = doc.records.get(ns);
      if (rec === undefined) {
        answers.add(ns);
        continue;
      }
      const w = recordWeight(rec);
      if (weight + w > SLIM_DOC_WEIGHT) continue;
      kept.set(ns, rec);
      answers.add(ns);
      weight += w;
    }
    const slim: Slim = { doc: { records: kept, extras: [], bytes: doc.bytes, weight: doc.weight }, answers, weight };
    this.entries.set(path, slim);
    this.weight += weight;
    while (this.weight > this.limit) this.forget(this.entries.keys().next().value!);
  }

  /** The entry of `path` was used (a cache hit on its whole document): the last to go. */
  touch(path: string): void {
    const slim = this.entries.get(path);
    if (!slim) return;
    this.entries.delete(path);
    this.entries.set(path, slim);
  }

  /**
   * The kept records of `path`'s file as a document, when every one of
   * `namespaces` is among them or known absent from the file; else
   * undefined (the whole file must be read).
   */
  get(path: string, namespaces: readonly string[]): UserDoc | undefined {
    const slim = this.entries.get(path);
    if (!slim || !namespaces.every((ns) => slim.answers.has(ns))) return undefined;
    this.entries.delete(path);
    this.entries.set(path, slim);
    return slim.doc;
  }

  private forget(path: string): void {
    const slim = this.entries.get(path);
    if (!slim) return;
    this.entries.delete(path);
    this.weight -= slim.weight;
  }
}
