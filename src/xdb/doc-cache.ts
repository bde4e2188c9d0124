// The parsed user files the store keeps in memory: least recently used
// first out, bounded by their count and by their total weight (see weigh()
// in stream-parser.ts). The store only ever caches what was read from disk
// or what became durable, so the cache never runs ahead of a restart.
// Files nobody used for a while are kept as text (see cool()).
import { silentLogger } from '../log.js';
import { parseDoc, serialize, type UserDoc } from './user-doc.js';
import { heapShare } from '../util/heap-share.js';
import { weigh } from '../xml/stream-parser.js';
import { SlimDocs } from './slim-docs.js';

/**
 * Default cap on the cached documents' total weight (see weigh()), which
 * is never less than the heap they take: measured, a parsed roster or
 * offline store takes 0.4 to 0.75 of its weight, `<a/>` after `<a/>` 0.94
 * (filling the cache with such files grew the heap by 374 MB).
 * Counted in file bytes, the cache used to hold 64 MiB of files: 10,000
 * users of a few KB each, a few hundred MB parsed, but 2.3 GB for densely
 * packed files (36 times their size). A 3.6 KB file with a 30-contact
 * roster, a vCard, the last logout and registration data has 211 nodes
 * and weighs 35 KB: 384 MiB still keeps 10,000 such users.
 */
const CACHE_WEIGHT = 384 * 1024 * 1024;
/** The share of the heap the cache may take when CACHE_WEIGHT is more (see heap-share.ts). */
const CACHE_HEAP_SHARE = 1 / 8;
/**
 * The share of the cache's weight one document may take: beyond it the
 * file is parsed again at each access. Kept small so that one file cannot
 * empty the cache, and large enough for every file of the default
 * <maxfilesize> (24 MiB; such a file weighs 16 MiB at most, see
 * MAX_FILE_DENSITY): parsing a 330 KB roster (3,000 contacts) takes 30 ms,
 * and that user's every presence, probe and roster get would pay it,
 * while the ordinary files a big one pushes out cost little to read again.
 */
const CACHE_FILE_SHARE = 16;

/**
 * A file nobody used since the last cool() but one: its text, parsed again
 * at its next use. A parsed file of a few records takes some 3 KB, its
 * text a few hundred bytes; parsing it again takes some tens of
 * microseconds, once, when its user is heard of again.
 */
class ColdDoc {
  constructor(
    readonly text: string,
    /** The parsed document's size and weight, kept as they were (the text is not the file: no user attribute, no comments; its nodes are the document's). */
    readonly bytes: number,
    readonly weight: number,
  ) {}

  /** What it weighs kept: its characters, and a node for the entry. */
  get coldWeight(): number {
    return weigh(this.text.length, 1);
  }

  warm(path: string): UserDoc {
    // Its duplicate records were logged when the file was read.
    const { doc } = parseDoc(this.text, path, silentLogger);
    doc.bytes = this.bytes;
    doc.weight = this.weight;
    return doc;
  }
}

/** Files heavier than this stay parsed when they cool: parsing one again costs more than its memory is worth (see CACHE_FILE_SHARE). */
export const COOL_UP_TO_WEIGHT = 64 * 1024;
/** Files one cool() makes text at most: the rest at the next (each takes a few microseconds, off every stanza's way). */
export const COOL_AT_ONCE = 2000;
/** The key that marks, in the cache's order, where the last cool() stopped: no path is empty. */
const COOL_MARK = '';

export interface DocCacheLimits {
  /** Documents kept (default 10,000); 0 disables the cache. */
  users?: number;
  /** Their total weight (default CACHE_WEIGHT, or a CACHE_HEAP_SHARE of the heap when less). */
  weight?: number;
  /** One document's weight beyond which it is never kept (default a CACHE_FILE_SHARE-th of `weight`). */
  fileWeight?: number;
}

export class DocCache {
  private readonly limit: number;
  private readonly weightLimit: number;
  private readonly fileLimit: number;
  /** path -> document, least recently used first; null: no file there. COOL_MARK: see cool(). */
  private readonly docs = new Map<string, UserDoc | null>();
  /** path -> the text of a file nobody used for a while (null: no file there), in the order they cooled (see cool()). */
  private readonly cold = new Map<string, ColdDoc | null>();
  /** `docs` holds COOL_MARK (which is no file). */
  private marked = false;
  /** Sum of the cached documents' `weight`. */
  private weight = 0;
  /** The light records of heavy files, which outlive them here (see slim-docs.ts). */
  private readonly slims = new SlimDocs();

  constructor(limits: DocCacheLimits) {
    this.limit = limits.users ?? 10_000;
    this.weightLimit = limits.weight ?? heapShare(CACHE_WEIGHT, CACHE_HEAP_SHARE);
    this.fileLimit = limits.fileWeight ?? Math.floor(this.weightLimit / CACHE_FILE_SHARE);
  }

  /** The cap on the documents' total weight, and on the light records kept of heavy ones (for the start's log line). */
  get limits(): { weight: number; slimWeight: number } {
    return { weight: this.weightLimit, slimWeight: this.slims.limit };
  }

  /** The cached document of `path` (null: no file), undefined when none is cached. */
  get(path: string): UserDoc | null | undefined {
    const doc = this.docs.get(path);
    if (doc !== undefined) return doc;
    // Parsed each time until the store remembers it as used.
    const cold = this.cold.get(path);
    return cold === undefined || cold === null ? cold : cold.warm(path);
  }

  /**
   * Called now and then (a few seconds apart): the files nobody used since
   * the call before this one are kept as text from now on. A hit or a
   * change moves a file to the end of the order: what is older than the
   * mark the last call left at the end went unused since.
   */
  cool(): void {
    if (this.limit <= 0) return;
    if (this.marked) {
      let made = 0;
      // (Deleting the entry a for...of is on does not disturb the walk.)
      for (const [path, doc] of this.docs) {
        if (path === COOL_MARK || made === COOL_AT_ONCE) break;
        if (doc === null) {
          this.docs.delete(path);
          this.cold.set(path, null);
          continue;
        }
        if (doc.weight > COOL_UP_TO_WEIGHT) continue;
        const text = serialize(doc, undefined);
        // Built piece by piece, the text is a tree of some hundred pieces until a character is read: then one string.
        text.charCodeAt(0);
        const cold = new ColdDoc(text, doc.bytes, doc.weight);
        this.docs.delete(path);
        this.cold.set(path, cold);
        this.weight += cold.coldWeight - doc.weight;
        made++;
      }
      this.docs.delete(COOL_MARK);
    }
    this.docs.set(COOL_MARK, null);
    this.marked = true;
  }

  /**
   * For a read of `namespaces` only: the light records of `path`'s heavy
   * file, when they hold all of those (see slim-docs.ts); else undefined.
   */
  slim(path: string, namespaces: readonly string[]): UserDoc | undefined {
    return this.limit <= 0 ? undefined : this.slims.get(path, namespaces);
  }

  /**
   * Makes `doc` the cached document of `path`, the most recently used one.
   * Evicting any entry is safe: the file on disk, or the journal's pending
   * content for it, is never older than the cache (the store's load() reads
   * those), and a setSoon() change not written yet stays in DeferredWrites
   * whatever the cache holds. A document too large to cache still drops the
   * older entry for its path, which would be behind it.
   */
  remember(path: string, doc: UserDoc | null): void {
    if (this.limit <= 0) return;
    // A hit remembers the very document again: nothing to make anew.
    if (this.docs.get(path) === doc && doc !== null) this.slims.touch(path);
    else this.slims.remember(path, doc);
    this.forget(path);
    if (doc !== null && doc.weight > this.fileLimit) return;
    this.docs.set(path, doc);
    this.weight += doc?.weight ?? 0;
    // Oldest first: the files kept as text in the order they cooled, then
    // the parsed ones in Map insertion order (a hit re-inserts its entry).
    // The mark goes too when it is the oldest: the next cool() then finds
    // every file used since, and makes none text.
    while (this.docs.size - Number(this.marked) + this.cold.size > this.limit || this.weight > this.weightLimit) {
      this.forget((this.cold.size > 0 ? this.cold : this.docs).keys().next().value!);
    }
  }

  private forget(path: string): void {
    const doc = this.docs.get(path);
    if (doc !== undefined) {
      this.docs.delete(path);
      this.weight -= doc?.weight ?? 0;
      if (path === COOL_MARK) this.marked = false;
      return;
    }
    const cold = this.cold.get(path);
    if (cold === undefined) return;
    this.cold.delete(path);
    this.weight -= cold?.coldWeight ?? 0;
  }
}
