// One user's spool file as the store holds it in memory (UserDoc), and
// its conversion from and to the text on disk: xdb_file's
// <xdb><REC xdbns='NS'>...</REC>...</xdb>, with what the parsed document
// weighs (its bytes plus a fixed cost per node, see weigh()). No file
// access here (parseDoc only logs a duplicate record); the store
// (spool-store.ts) decides when to read and write.
import type { Logger } from '../log.js';
import { attrsWith, Element, escapeAttr } from '../xml/element.js';
import { decodeXmlFile } from '../xml/decode.js';
import { parseXml } from '../xml/parse.js';
import { weigh } from '../xml/stream-parser.js';
import { NS_AUTH, NS_AUTH_CRYPT, SpoolFileError } from './xdb.js';

/** One parsed spool file. Treated as immutable once built. */
export interface UserDoc {
  /** xdbns -> record, stored without the xdbns attribute, in file order. */
  records: Map<string, Element>;
  /**
   * Children with neither xdbns nor xmlns, and records after the first of
   * their namespace: unreachable, but written back as found.
   */
  extras: Element[];
  /** Size of the file this document is (or will be, for a deferred change), in bytes. */
  bytes: number;
  /** What it takes parsed: weigh(bytes, its nodes); see docNodes(). */
  weight: number;
}

/** A document being built by a change, before its size is known. */
export type Draft = Omit<UserDoc, 'bytes' | 'weight'>;

/** A copy of `rec` without the on-disk marker. */
export function intake(rec: Element): Element {
  const copy = rec.clone();
  copy.setAttr('xdbns', undefined);
  return copy;
}

/**
 * A spool file's text from its bytes (see decodeXmlFile: UTF-8, or what its
 * declaration names). Bytes that are not text are refused, never read as
 * U+FFFD: the next rewrite would change a password or a name for good.
 */
export function spoolText(bytes: Buffer, path: string): string {
  return decodeXmlFile(bytes, (why) => new SpoolFileError(path, `spool file ${path}: ${why}`));
}

/**
 * The deepest nesting a spool file may have: what the deepest stanza Yak
 * takes (MAX_STANZA_DEPTH, config/c2s.ts) needs once stored, and some. A file nested
 * thousands deep (made by hand) overflowed the stack of the code that
 * reads it, a crash; it is now a file that does not parse, named as such.
 */
const MAX_SPOOL_DEPTH = 1100;

/**
 * Parses a spool file's text. 1.4 read its files with expat, which skips
 * comments: a file an admin annotated by hand still loads (the comments
 * are not written back, as 1.4 did not keep them either).
 */
export function parseSpoolXml(text: string, path: string): Element {
  return parseXml(text, { fileName: path, allowComments: true, maxDepth: MAX_SPOOL_DEPTH });
}

export function parseDoc(text: string, path: string, log: Logger): { doc: UserDoc; root: Element } {
  let root: Element;
  try {
    root = parseSpoolXml(text, path);
  } catch (err) {
    throw new SpoolFileError(path, `spool file ${path} cannot be parsed: ${(err as Error).message}`, { cause: err });
  }
  if (root.name !== 'xdb') throw new SpoolFileError(path, `spool file ${path}: root element is <${root.name}>, not <xdb>`);
  const doc: UserDoc = { records: new Map(), extras: [], bytes: Buffer.byteLength(text), weight: 0 };
  for (const child of root.elements) {
    const ns = child.attrs.xdbns ?? child.attrs.xmlns;
    if (ns === undefined) {
      doc.extras.push(child);
    } else if (doc.records.has(ns)) {
      // 1.4 served the first one too. The others are kept as they are,
      // written back untouched like children without a namespace: the
      // file's owner or admin may want what they hold, and a rewrite must
      // not lose it (1.4 kept them as well, and served the next one once
      // the first was replaced; Yak serves only the record it writes).
      log.warn({ file: path, ns }, 'spool file has a duplicate namespace; serving the first record, keeping the others unread');
      doc.extras.push(child);
    } else {
      child.setAttr('xdbns', undefined);
      doc.records.set(ns, child);
    }
  }
  // An account of 1.4's mod_auth_crypt (see NS_AUTH_CRYPT) has no
  // jabber:iq:auth record, the existence flag: without one made up here,
  // its name was free to register, which replaced the whole file.
  if (!doc.records.has(NS_AUTH) && doc.records.has(NS_AUTH_CRYPT)) doc.records.set(NS_AUTH, new Element('password', { xmlns: NS_AUTH }));
  doc.weight = weigh(doc.bytes, docNodes(doc));
  return { doc, root };
}

/** Sizes of records withRecords() measured (records are never changed in place once stored). */
const recordBytes = new WeakMap<Element, number>();
/** Nodes of stored records and extras, counted once (they are never changed in place either). */
const recordNodes = new WeakMap<Element, number>();

/** Elements, attributes and text pieces in `e`, as weigh() counts them. */
function countNodes(e: Element): number {
  let n = 1;
  for (const _ in e.attrs) n++;
  for (const c of e.children) n += typeof c === 'string' ? 1 : countNodes(c);
  return n;
}

/** countNodes() of a record or extra that is stored, or about to be. */
function storedNodes(rec: Element): number {
  let n = recordNodes.get(rec);
  if (n === undefined) recordNodes.set(rec, (n = countNodes(rec)));
  return n;
}

/**
 * The nodes a document holds parsed: its records (without the xdbns
 * marker, which is not kept in memory) and extras, plus one for itself.
 */
export function docNodes(doc: Draft): number {
  let n = 1;
  for (const rec of doc.records.values()) n += storedNodes(rec);
  for (const e of doc.extras) n += storedNodes(e);
  return n;
}

/** One record as it is written in the file. */
function serializeRecord(ns: string, rec: Element): string {
  // A shallow wrapper adds xdbns without copying the (possibly large) subtree.
  return new Element(rec.name, attrsWith(rec.attrs, { xdbns: ns }), rec.children).toString();
}

export function serialize(doc: Draft, longUser: string | undefined): string {
  let s = longUser === undefined ? '<xdb>' : "<xdb user='" + escapeAttr(longUser) + "'>";
  for (const [ns, rec] of doc.records) s += serializeRecord(ns, rec);
  for (const e of doc.extras) s += e.toString();
  return s + '</xdb>';
}

/**
 * `doc` with `records` put in (copies, see intake()), its new size and
 * weight worked out without serializing or walking all of it (a logout
 * must not cost a rewrite's CPU): records are written one after another,
 * so only the ones replaced count.
 */
export function withRecords(doc: UserDoc, records: Record<string, Element>): UserDoc {
  const next = new Map(doc.records);
  let bytes = doc.bytes;
  let nodes = 0;
  for (const [ns, rec] of Object.entries(records)) {
    const old = doc.records.get(ns);
    if (old) {
      bytes -= recordBytes.get(old) ?? Buffer.byteLength(serializeRecord(ns, old));
      nodes -= storedNodes(old);
    }
    const copy = intake(rec);
    const size = Buffer.byteLength(serializeRecord(ns, copy));
    // The next logout replaces this record: its size is known then.
    recordBytes.set(copy, size);
    bytes += size;
    nodes += storedNodes(copy);
    next.set(ns, copy);
  }
  const weight = doc.weight + weigh(bytes - doc.bytes, nodes);
  return { records: next, extras: doc.extras, bytes, weight };
}

/** Whether the file is an account's: its jabber:iq:auth record is the existence flag. */
export function isAccount(doc: UserDoc | null | undefined): doc is UserDoc {
  return doc?.records.has(NS_AUTH) ?? false;
}
