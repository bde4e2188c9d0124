// JIDs: splitting (RFC 3920 section 3) and preparation of each part.
//
// We do not ship the stringprep tables; NFKC plus an explicit refusal list
// gives the properties that matter here: one canonical spelling per name
// (case-insensitive, compatibility forms folded) and nothing invisible,
// ambiguous or unsafe in a file name or an XML document. The one table we
// do ship is the bidi one, which no Unicode property escape can stand for.

import { ENDS_RAND_AL, L_CAT, RAND_AL_CAT, STARTS_RAND_AL } from './jid-bidi-tables.js';
import { RecentMemo } from './util/recent-memo.js';

/** RFC 3920: each part of a JID is at most 1023 bytes of UTF-8. */
const MAX_PART_BYTES = 1023;

// Characters no part may contain: C0/DEL/C1 controls (Cc), lone surrogates
// (Cs, unencodable in UTF-8) and noncharacters (not allowed in XML).
const BAD_ANYWHERE = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;

// Usernames and hosts additionally refuse every kind of space, invisible
// format characters (bidi overrides, zero-width joiners: spoofing), private
// use and unassigned code points. Unassigned ones are refused, as stringprep
// does for stored strings, because their normalization may change once
// Unicode assigns them, which would make a stored name unreachable.
// Default-ignorable characters (combining grapheme joiner, variation
// selectors, Hangul fillers) are refused too: stringprep maps most of them
// to nothing, so `admin` followed by one would be a second, identical-looking
// name beside `admin`; so is U+1806, the one character of stringprep's
// table B.1 (mapped to nothing) that is neither. As in resources,
// stringprep's tables C.6 and C.7 are refused: U+FFF9-FFFD (U+FFFD looks
// like a decoding error) and the ideographic description characters.
const BAD_IN_NAMES =
  /[\s\p{White_Space}\p{Z}\p{Cf}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}\u1806\uFFF9-\uFFFD\u2FF0-\u2FFB]/u;

/**
 * Where stringprep's case folding (RFC 3454 table B.2) goes beyond
 * toLowerCase() for letters NFKC leaves alone: ß and ẞ fold to ss, final
 * sigma to σ, the Greek iota subscript (U+0345, in ᾳ, ῷ and the rest
 * once decomposed) to ι, and the old Cyrillic letter variants ᲀ-ᲈ to the
 * letters they are variants of. So `straße` and `strasse` are one name,
 * and `ᾳ` and `αι`, as in 1.4 with libidn.
 */
const FULL_FOLD: Record<string, string> = {
  ß: 'ss',
  ς: 'σ',
  '\u0345': 'ι',
  '\u1C80': 'в',
  '\u1C81': 'д',
  '\u1C82': 'о',
  '\u1C83': 'с',
  '\u1C84': 'т',
  '\u1C85': 'т',
  '\u1C86': 'ъ',
  '\u1C87': 'ѣ',
  '\u1C88': 'ꙋ',
};
const NEEDS_FULL_FOLD = /[ßς\u0345\u1C80-\u1C88]/g;
/** Letters that hold U+0345 only once decomposed (Greek Extended); fold() looks at NFD then. */
const HIDES_IOTA_SUBSCRIPT = /[\u1F80-\u1FFF]/;

/** SPEC section 6: `" & ' / : < > @` are refused in usernames. */
const BAD_NODE_ASCII = /["&'/:<>@]/;

// Host names: ASCII limited to what a DNS name or an IP literal
// (`[::1]`) uses; non-ASCII (IDN) letters are allowed.
const BAD_HOST_ASCII = /[\x00-\x7f]/;
const GOOD_HOST_ASCII = /[a-z0-9._:[\]-]/;
const PLAIN_HOST = /^[a-z0-9._:[\]-]+$/;

function tooLong(s: string): boolean {
  // Cheap test first: a UTF-16 unit never takes more than 3 UTF-8 bytes.
  return s.length * 3 > MAX_PART_BYTES && Buffer.byteLength(s, 'utf8') > MAX_PART_BYTES;
}

/** ASCII from space to tilde: NFKC leaves it as it is, and lowercasing keeps it ASCII. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Lowercase and compatibility-fold; NFKC again since lowercasing can denormalize. */
function fold(s: string): string {
  // Nearly every name is plain ASCII; the two normalizations were a login's
  // biggest cost in this file (4 us in a benchmark profile).
  if (PRINTABLE_ASCII.test(s)) return s.toLowerCase();
  let t = s.normalize('NFKC').toLowerCase();
  if (HIDES_IOTA_SUBSCRIPT.test(t)) t = t.normalize('NFD');
  return t.replace(NEEDS_FULL_FOLD, (c) => FULL_FOLD[c]!).normalize('NFKC');
}

/**
 * Stringprep's bidirectional rule (RFC 3454 section 6), part of nodeprep,
 * nameprep and resourceprep alike: a string with a right-to-left letter
 * (table D.1: Hebrew, Arabic, Syriac, Thaana, and the scripts Unicode
 * added since, N'Ko or Adlam) may have no left-to-right one (table D.2),
 * and must begin and end with a right-to-left one. Otherwise a display
 * reorders it, and two different names can show the same: `ab` followed
 * by Hebrew and digits, or the digits first.
 */
function breaksBidiRule(s: string): boolean {
  if (!RAND_AL_CAT.test(s)) return false;
  return L_CAT.test(s) || !STARTS_RAND_AL.test(s) || !ENDS_RAND_AL.test(s);
}

/** Prepares a username (node); undefined when it is not acceptable. */
export function nodeprep(s: string): string | undefined {
  const n = fold(s);
  if (n === '' || tooLong(n)) return undefined;
  if (BAD_ANYWHERE.test(n) || BAD_IN_NAMES.test(n) || BAD_NODE_ASCII.test(n)) return undefined;
  return breaksBidiRule(n) ? undefined : n;
}

/**
 * Stringprep's table B.1, "commonly mapped to nothing" (soft hyphen,
 * zero-width space and joiners, variation selectors, the byte-order mark):
 * invisible, so `Work` and `Work` followed by one would be two resources
 * that look alike, and one made of them alone would look empty.
 */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;

/**
 * What RFC 3920's resourceprep prohibits (stringprep tables C.1.2 to C.9),
 * as it is left after table B.1 and NFKC, and what else would be invisible:
 * format characters (Cf: bidi marks and overrides, invisible operators,
 * language tags, interlinear annotation), the other default-ignorable
 * characters (Hangul fillers, which show nothing), private use (Co), the
 * line and paragraph separators and every other space but the ASCII one
 * (`[^\P{Zs} ]`: a space separator that is not U+0020), U+FFF9-FFFD and
 * the ideographic description characters. Otherwise a resource is any
 * text (emoji, accents, any script), unassigned code points included,
 * unlike a username: it is shown, never a file name.
 */
const BAD_IN_RESOURCES =
  /[\p{Cf}\p{Co}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}\uFFF9-\uFFFD\u2FF0-\u2FFB]|[^\P{Zs} ]/u;

/** Prepares a resource: normalized, case kept, ASCII spaces allowed, table B.1 dropped, anything invisible refused. */
export function resourceprep(s: string): string | undefined {
  if (PRINTABLE_ASCII.test(s)) return s === '' || tooLong(s) ? undefined : s;
  const r = s.replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  if (r === '' || tooLong(r) || BAD_ANYWHERE.test(r) || BAD_IN_RESOURCES.test(r)) return undefined;
  return breaksBidiRule(r) ? undefined : r;
}

/** What separates the labels of a host name for the bidi rule (U+FF0E folds to `.`). */
const LABEL_DOTS = /[.\u3002]/;

/** Prepares a host name; undefined when it is not acceptable. */
export function nameprep(s: string): string | undefined {
  const h = fold(s);
  if (h === '' || tooLong(h)) return undefined;
  // Nearly every host: nothing more to check (no right-to-left letter either).
  if (PLAIN_HOST.test(h)) return h;
  if (BAD_ANYWHERE.test(h) || BAD_IN_NAMES.test(h)) return undefined;
  for (const ch of h) if (BAD_HOST_ASCII.test(ch) && !GOOD_HOST_ASCII.test(ch)) return undefined;
  // Label by label, as IDNA (RFC 3490) prepares a domain name: a Hebrew
  // or Arabic name under `.com` is one. IDNA's ideographic full stop
  // (U+3002, and U+FF61, which folding makes it) ends a label here too,
  // but is kept as it is, not made a `.`: a JID stored with it (by 1.4, or
  // an earlier Yak) would otherwise name another host than it did.
  return h.split(LABEL_DOTS).some(breaksBidiRule) ? undefined : h;
}

export class Jid {
  readonly user?: string;
  readonly host: string;
  readonly resource?: string;

  /**
   * The parts must already be prepared. Untrusted input goes through
   * parseJid or makeJid instead.
   */
  constructor(user: string | undefined, host: string, resource?: string) {
    this.user = user;
    this.host = host;
    this.resource = resource;
  }

  static parse(s: string): Jid | undefined {
    return parseJid(s);
  }

  // Built once: a session's JID is stamped on everything it sends and
  // looked up for everything it receives.
  private bareText: string | undefined;
  private fullText: string | undefined;

  /** user@host, or host for a server JID. */
  get bare(): string {
    return (this.bareText ??= this.user === undefined ? this.host : this.user + '@' + this.host);
  }

  toString(): string {
    return (this.fullText ??= this.resource === undefined ? this.bare : this.bare + '/' + this.resource);
  }

  /**
   * The same bare JID with another resource (prepared here), or none.
   * Throws a RangeError when `resource` is not a valid resource.
   */
  withResource(resource?: string): Jid {
    if (resource === undefined) return this.bareJid();
    const r = resourceprep(resource);
    if (r === undefined) throw new RangeError('invalid resource');
    return new Jid(this.user, this.host, r);
  }

  bareJid(): Jid {
    return this.resource === undefined ? this : new Jid(this.user, this.host);
  }

  equals(other: Jid): boolean {
    return this.user === other.user && this.host === other.host && this.resource === other.resource;
  }
}

/** Prepares each given part; undefined when any of them is invalid. */
export function makeJid(user: string | undefined, host: string, resource?: string): Jid | undefined {
  const h = nameprep(host);
  if (h === undefined) return undefined;
  let u: string | undefined;
  if (user !== undefined) {
    u = nodeprep(user);
    if (u === undefined) return undefined;
  }
  let r: string | undefined;
  if (resource !== undefined) {
    r = resourceprep(resource);
    if (r === undefined) return undefined;
  }
  return new Jid(u, h, r);
}

// Traffic names the same few addresses over and over (every message to a
// contact carries its JID), and preparing one is the costly part (Unicode
// normalization twice, several scans). Jid objects are immutable, so one
// parse serves every repeat. Bounded in entries and entry size (at most
// about 2.5 MB of keys); a flood of new addresses does not push out the
// ones in steady use (RecentMemo).
const PARSED_LIMIT = 10_000;
const PARSED_MAX_LENGTH = 256;
const parsed = new RecentMemo<string, Jid | null>(PARSED_LIMIT);

/**
 * Splits as RFC 3920 says: the resource is everything after the first '/'
 * (it may contain '/' and '@'); the user is what precedes an '@' found
 * before that '/'. Empty parts ("@host", "host/", "user@") are invalid.
 */
export function parseJid(s: string): Jid | undefined {
  const known = parsed.get(s);
  if (known !== undefined) return known ?? undefined;
  const jid = splitAndPrepare(s);
  if (s.length > PARSED_MAX_LENGTH) return jid;
  parsed.set(s, jid ?? null);
  return jid;
}

/** The part of a JID's text before its resource: the first '/' ends it (a resource may hold more). Nothing is prepared. */
export function barePart(s: string): string {
  const slash = s.indexOf('/');
  return slash < 0 ? s : s.slice(0, slash);
}

function splitAndPrepare(s: string): Jid | undefined {
  const head = barePart(s);
  const resource = head.length === s.length ? undefined : s.slice(head.length + 1);
  const at = head.indexOf('@');
  const user = at < 0 ? undefined : head.slice(0, at);
  const host = at < 0 ? head : head.slice(at + 1);
  return makeJid(user, host, resource);
}
