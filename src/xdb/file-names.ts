// Usernames and host names -> file names inside the spool.
//
// Plain names made of [a-z0-9._+-] map to themselves (`dj` -> `dj.xml`),
// exactly as jabberd 1.4 named its spool files. Every other character, a
// leading '.', and '%' itself become `%XX` (uppercase hex of the UTF-8
// bytes). So a file name never holds '/', NUL or a leading dot (no '.',
// '..' or hidden files), is the same on case-insensitive file systems, and
// maps back to exactly one name.
import { createHash } from 'node:crypto';
import { nodeprep } from '../jid.js';

const PLAIN = /^[a-z0-9_+-][a-z0-9._+-]*$/;
const SAFE_CHAR = /^[a-z0-9._+-]$/;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * File names must stay under NAME_MAX (255 bytes on common file systems)
 * even with the temp-file decoration the store adds, while a username may
 * be up to 1023 bytes (3069 characters once encoded).
 */
const MAX_FILE_NAME = 200;
const LONG_PREFIX = 120;
const LONG_NAME = /^[^~]*~[0-9a-f]{64}\.xml$/;

function encode(name: string): string {
  if (name === '') throw new Error('empty name has no file name');
  if (PLAIN.test(name)) return name;
  // A lone surrogate would encode as U+FFFD and break the one-to-one mapping.
  if (LONE_SURROGATE.test(name)) throw new Error('name is not well-formed Unicode');
  let out = '';
  for (const ch of name) {
    if (SAFE_CHAR.test(ch) && !(out === '' && ch === '.')) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

/** Inverse of encode, undefined unless `s` is exactly what encode produces. */
function decode(s: string): string | undefined {
  if (s === '') return undefined;
  if (PLAIN.test(s)) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      return undefined;
    }
  }
  let name: string;
  try {
    name = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
  // Refuse non-canonical spellings (`%61` for 'a', lowercase hex, ...), so
  // two files can never claim the same user.
  return encode(name) === s ? name : undefined;
}

/**
 * The spool file name of a prepared username. Names too long for the file
 * system get `<encoded prefix>~<sha256 hex>.xml` instead; such a name
 * cannot be mapped back (see isLongUserFileName), so the store records the
 * username inside the file.
 */
export function userFileName(user: string): string {
  const enc = encode(user);
  return enc.length + 4 <= MAX_FILE_NAME ? enc + '.xml' : hashedName(user, enc) + '.xml';
}

/**
 * `<encoded prefix>~<sha256 hex of the name>`: unique (an encoded name
 * never holds '~') and short enough for any file system.
 */
function hashedName(name: string, enc: string): string {
  let cut = LONG_PREFIX;
  // Do not split a %XX triplet.
  const pct = enc.lastIndexOf('%', cut - 1);
  if (pct >= 0 && pct > cut - 3) cut = pct;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex');
  return enc.slice(0, cut) + '~' + hash;
}

/** The username of a spool file, or undefined for temp, foreign or long-name files. */
export function userFromFileName(file: string): string | undefined {
  if (!file.endsWith('.xml')) return undefined;
  const name = decode(file.slice(0, -4));
  if (name === undefined || userFileName(name) !== file) return undefined;
  return name;
}

/**
 * The file name jabberd 1.4 gave a user whose name Yak percent-encodes
 * (`joe!x`, `josé`): the name itself, as its UTF-8 bytes. Undefined when
 * that is Yak's own name for the user, or when the name could not have been
 * 1.4's (or could be mistaken for one of Yak's): a leading dot, '%', '/',
 * a hashed long name, or over 255 bytes. The store looks there when Yak's
 * own file is missing, so a 1.4 spool folder reads unchanged.
 */
export function legacyUserFileName(user: string): string | undefined {
  const file = user + '.xml';
  if (file === userFileName(user) || LONE_SURROGATE.test(user)) return undefined;
  if (user.startsWith('.') || /[%\/\0]/.test(user) || LONG_NAME.test(file) || Buffer.byteLength(file) > 255) return undefined;
  return file;
}

/** The username of a 1.4 file that legacyUserFileName() would name (a prepared username), if `file` is one. */
export function userFromLegacyFileName(file: string): string | undefined {
  if (!file.endsWith('.xml')) return undefined;
  const user = file.slice(0, -4);
  return user !== '' && nodeprep(user) === user && legacyUserFileName(user) === file ? user : undefined;
}

/** True for the hashed file names userFileName gives to very long usernames. */
export function isLongUserFileName(file: string): boolean {
  return LONG_NAME.test(file);
}

/**
 * The longest folder name a host keeps as it is: NAME_MAX. Nothing is
 * added to a folder's name, and any DNS name (253 characters) fits.
 */
const MAX_FOLDER_NAME = 255;

/**
 * The folder name of a host: same encoding (`localhost` stays `localhost`).
 * An IDN host of some 29 or more CJK characters encodes to more than a
 * file system allows in a name: it gets the hashed form userFileName
 * gives long usernames (the config names the host, so nothing needs to
 * read the name back).
 */
export function hostDirName(host: string): string {
  const enc = encode(host);
  return enc.length <= MAX_FOLDER_NAME ? enc : hashedName(host, enc);
}

/**
 * The folder name jabberd 1.4 gave a host Yak percent-encodes (an IDN host,
 * `bücher.test`): the name itself. Undefined when that is Yak's own name,
 * or when it could not have been 1.4's (see legacyUserFileName).
 */
export function legacyHostDirName(host: string): string | undefined {
  if (LONE_SURROGATE.test(host) || host === hostDirName(host)) return undefined;
  if (host.startsWith('.') || /[%\/\0]/.test(host) || Buffer.byteLength(host) > 255) return undefined;
  return host;
}
