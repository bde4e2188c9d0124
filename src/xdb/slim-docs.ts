// The light records of heavy user files, kept after the file itself has
// left the parsed-file cache (doc-cache.ts).
//
// The cache holds about 24 files of the densest kind (16 MiB parsed each).
// A stranger who filled 25 or more accounts with private storage and sent
// presence probes, vCard or last requests to them in turn made the server
// parse one such file at each request: about 70 ms of CPU each, every
// other client held up that long (the amplification audit). Those
// requests read small records (the roster, the vCard, the last logout,
// the password record that says the account exists), so the records of a
// heavy file that are light are kept here, at a small weight, and such a
// read is answered from them. A read of a heavy record, and every change,
// still reads the whole file.
//
// Kept in step by DocCache.remember(), which every change goes through:
// an entry is always made from the latest document of its path.
import type { Element } from '../xml/element.js';
import { weigh } from '../xml/stream-parser.js';
import type { UserDoc } from './user-doc.js';

/** Files that weigh more than this leave their light records here. */
const SLIM_FROM_WEIGHT = 1024 * 1024;
/** What one file's light records may weigh together: a roster of some 200 contacts, a vCard, the rest. */
const SLIM_DOC_WEIGHT = 64 * 1024;
/** What all entries may weigh together. */
const SLIM_TOTAL_WEIGHT = 64 * 1024 * 1024;
/**
 * Files of more records than this get no entry: each record left out is
 * remembered by its namespace (which a read must not be answered for), and
 * sorting thousands at every change cost a file of private storage under
 * 25,000 namespaces several times its write.
 */
const SLIM_MAX_RECORDS = 256;
/** What remembering a left-out record's namespace weighs, besides its characters. */
const NAME_WEIGHT = 64;

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
  /** The light records: a UserDoc that holds only them. */
  doc: UserDoc;
  /** The namespaces of the records left out. */
  heavy: Set<string>;
  weight: number;
}

export class SlimDocs {
  /** path -> entry, least recently used first. */
  private readonly entries = new Map<string, Slim>();
  private weight = 0;

  /**
   * `doc` is now the document of `path` (null: no file): its entry is made
   * again, or dropped. Nothing of `doc` but its light records is kept: the
   * whole document must be free to go once the cache lets it go.
   */
  remember(path: string, doc: UserDoc | null): void {
    this.forget(path);
    if (doc === null || doc.weight <= SLIM_FROM_WEIGHT || doc.records.size > SLIM_MAX_RECORDS) return;
    // Lightest first, as many as fit: the small records the reads above ask for.
    const records = [...doc.records].map(([ns, rec]) => ({ ns, rec, weight: recordWeight(rec) })).sort((a, b) => a.weight - b.weight);
    const kept = new Map<string, Element>();
    const heavy = new Set<string>();
    let weight = 0;
    for (const r of records) {
      if (weight + r.weight <= SLIM_DOC_WEIGHT) {
        kept.set(r.ns, r.rec);
        weight += r.weight;
      } else {
        heavy.add(r.ns);
        weight += NAME_WEIGHT + r.ns.length;
      }
    }
    const slim: Slim = { doc: { records: kept, extras: [], bytes: doc.bytes, weight: doc.weight }, heavy, weight };
    this.entries.set(path, slim);
    this.weight += weight;
    while (this.weight > SLIM_TOTAL_WEIGHT) this.forget(this.entries.keys().next().value!);
  }

  /** The entry of `path` was used (a cache hit on its whole document): the last to go. */
  touch(path: string): void {
    const slim = this.entries.get(path);
    if (!slim) return;
    this.entries.delete(path);
    this.entries.set(path, slim);
  }

  /**
   * The light records of `path`'s file as a document, when every one of
   * `namespaces` is among them or absent from the file; else undefined
   * (the whole file must be read).
   */
  get(path: string, namespaces: readonly string[]): UserDoc | undefined {
    const slim = this.entries.get(path);
    if (!slim || namespaces.some((ns) => slim.heavy.has(ns))) return undefined;
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
