// Checking a password against the record 1.4's mod_auth_crypt stored in
// place of the password (see NS_AUTH_CRYPT): `{SHA}` and the base64 of the
// password's SHA-1 when its <hash> was SHA1, else crypt(3)'s traditional
// DES with the two salt characters in front. Spools kept that way still
// log in; nothing new is written in either form (both are weak: unsalted
// SHA-1, and DES reads only a password's first 8 bytes).
import { createHash } from 'node:crypto';
import { desCrypt } from './des-crypt.js';
import { sameSecret } from './same-secret.js';
import { trimXmlSpace } from '../xml/chars.js';

/**
 * What kind of hash the record holds (for jabberctl show): 'unusable' when
 * no password can match it. A SHA-1 is 28 base64 characters; crypt(3)
 * writes 13 of `./0-9A-Za-z`, and no other salt gives anything but its
 * failure token (`*LK*...`, `!!...`: locked accounts).
 */
export function cryptRecordKind(stored: string): 'SHA-1' | 'DES' | 'unusable' {
  const hash = trimXmlSpace(stored);
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) return 'SHA-1';
  return /^[./0-9A-Za-z]{13}$/.test(hash) ? 'DES' : 'unusable';
}

/** Whether `given` is the password `stored` (the record's text) was made from. */
export function matchesCryptRecord(given: string, stored: string): boolean {
  const hash = trimXmlSpace(stored);
  if (hash.startsWith('{SHA}')) {
    return sameSecret('{SHA}' + createHash('sha1').update(given, 'utf8').digest('base64'), hash);
  }
  // crypt(3) wrote 13 characters; anything else is no DES hash (an empty
  // record, a damaged one), and matches no password. (A salt crypt
  // refuses gives a failure token, which equals no stored hash.)
  if (hash.length !== 13) return false;
  return sameSecret(desCrypt(Buffer.from(given, 'utf8'), hash.slice(0, 2)), hash);
}
