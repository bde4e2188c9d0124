// Small validators shared by the config readers. Every failure is a
// ConfigError that names the element (as the admin wrote it) and the problem,
// because the admin has to find the line in a file that may be hundreds of
// lines long and full of commented-out sections.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Element } from '../xml/element.js';
import { barePart, nameprep, nodeprep } from '../jid.js';
import { ConfigError } from './types.js';
import { wholeNumber } from '../util/whole-number.js';
import { trimXmlSpace } from '../xml/chars.js';

/** The largest value any numeric option may take (a C int in 1.4). */
export const INT_MAX = 2147483647;
/**
 * Options in seconds end up in setTimeout, which overflows above 2^31-1 ms;
 * capping them here turns a silent "fires at once" into a startup error.
 */
export const SECONDS_MAX = Math.floor(INT_MAX / 1000);

/** `<name attr='v'>` as the admin wrote it (xmlns left out: it adds noise, not location). */
export function tag(el: Element): string {
  let s = '<' + el.name;
  for (const [k, v] of Object.entries(el.attrs)) if (k !== 'xmlns') s += ` ${k}='${v}'`;
  return s + '>';
}

/**
 * Runs `read`, tying a ConfigError it throws about no element in particular
 * to `el` (the innermost element known wins), so the message can name the
 * file `el` came from.
 */
export function about<T>(el: Element, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ConfigError) err.element ??= el;
    throw err;
  }
}

/** Trimmed direct text; the parser already dropped whitespace-only nodes and comments. */
export function textOf(el: Element | undefined): string {
  return el ? el.text().trim() : '';
}

/**
 * The text of a message the server sends (a welcome, an admin reply): only
 * XML white space is taken from its ends, so a no-break space written on
 * purpose (`&#xA0;`) stays. Names, numbers and yes/no values go through
 * textOf, which forgives a no-break space pasted with them.
 */
export function messageTextOf(el: Element | undefined): string {
  return el ? trimXmlSpace(el.text()) : '';
}

/**
 * An integer option. Empty or missing means "use the default", as 1.4's
 * j_atoi(value, default) did; anything else must be a plain decimal integer
 * in range (1.4 silently read "abc" as 0, which hid typos). Leading zeros
 * mean what they meant to atoi: '010' is 10, whatever the number of digits.
 */
export function intValue(
  raw: string | undefined,
  where: string,
  what: string,
  min: number,
  max: number,
  dflt: number,
): number {
  const s = raw?.trim() ?? '';
  if (s === '') return dflt;
  // A value a double cannot hold exactly (above 2^53) is far above any max: refused.
  const n = wholeNumber(s);
  if (n === undefined || n < min || n > max) {
    throw new ConfigError(`${where}: ${what} must be an integer ${min}..${max}, got '${s}'`);
  }
  return n;
}

/** The text of a child element as an integer option. */
export function intChild(parent: Element, name: string, min: number, max: number, dflt: number): number {
  const child = parent.getChild(name);
  if (!child) return dflt;
  return about(child, () => intValue(child.text(), `${tag(parent)}<${name}>`, name, min, max, dflt));
}

/** A port attribute; 0 is allowed because tests bind ephemeral ports. */
export function portAttr(el: Element, dflt: number): number {
  return about(el, () => intValue(el.attr('port'), tag(el), 'port', 0, 65535, dflt));
}

/**
 * A listener address: empty = all addresses (undefined); otherwise a
 * literal IP. (1.4 also looked a host name up, once, at start; Yak does
 * not, so that the overlap checks and the per-address keys compare
 * addresses, and a name that resolves differently later changes nothing.)
 */
export function listenAddress(el: Element): string | undefined {
  const s = textOf(el);
  if (s === '') return undefined;
  if (isIP(s) === 0) throw new ConfigError(`${tag(el)}${s}</${el.name}>: '${s}' is not an IP address (write the address itself, such as 127.0.0.1 or ::1, not a host name)`, el);
  return s;
}

/** yes/no attributes; absent = no. Anything else is refused rather than guessed. */
export function yesNo(el: Element, attr: string): boolean {
  const v = el.attr(attr);
  if (v === undefined) return false;
  const s = v.trim().toLowerCase();
  if (s === 'yes' || s === 'true' || s === '1') return true;
  if (s === 'no' || s === 'false' || s === '0' || s === '') return false;
  throw new ConfigError(`${tag(el)}: ${attr} must be 'yes' or 'no', got '${v}'`, el);
}

// Beyond what nameprep refuses, what a served host name may not hold
// either: the JID/XML delimiters and anything that could confuse routing
// or the spool layout (<spool>/<host>/...).
const BAD_DOMAIN = /[\s\p{Cc}@/\\<>'"&:]/u;

/**
 * Prepares a host name the way JIDs are compared (nameprep). IPv6 literals
 * are not accepted as host names (the ':' would be ambiguous in file
 * names); 1.4 configs never used them.
 */
export function prepareHost(raw: string, where: string): string {
  if (raw.trim() === '') throw new ConfigError(`${where}: empty host name`);
  // Prepared as the domain of every JID is (nameprep: `straße.de` is
  // `strasse.de`), or a client could never name the host it serves.
  const h = nameprep(raw.trim());
  if (h === undefined || BAD_DOMAIN.test(h) || h.startsWith('.') || h.endsWith('.') || h.includes('..')) {
    throw new ConfigError(`${where}: invalid host name '${raw.trim()}'`);
  }
  return h;
}

/** A bare JID (user@host or host), prepared; a resource is dropped since admin rights are per account. */
export function prepareBareJid(raw: string, where: string): string {
  const s = raw.trim();
  if (s === '') throw new ConfigError(`${where}: empty JID`);
  const bad = (): ConfigError => new ConfigError(`${where}: invalid JID '${s}'`);
  const bare = barePart(s);
  const at = bare.indexOf('@');
  // nodeprep, as for a user logging in: `straße@host` names the user `strasse`.
  const node = at < 0 ? undefined : nodeprep(bare.slice(0, at));
  if (node === undefined && at >= 0) throw bad();
  let domain: string;
  try {
    domain = prepareHost(bare.slice(at + 1), where);
  } catch {
    throw bad();
  }
  return node === undefined ? domain : node + '@' + domain;
}

/**
 * Paths in jabber.xml (spool, pidfile, log files, TLS keys) are resolved
 * against the process's current directory, exactly as jabberd 1.4 did (it
 * simply open()ed them), so a 1.4 start script run from the same folder
 * finds the same files. Only <jabberd:include> is relative to the including
 * file (see expand.ts).
 */
export function resolvePath(p: string): string {
  return resolve(p);
}
