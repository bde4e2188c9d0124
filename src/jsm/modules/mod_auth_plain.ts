// Plaintext jabber:iq:auth (SPEC section 5). Also the only module that
// stores the plaintext password: without it in <load>, no plaintext is kept.
import { Element } from '../../xml/element.js';
import { NS_AUTH, NS_AUTH_CRYPT } from '../../xdb/xdb.js';
import { matchesCryptRecord } from '../../auth/crypt-record.js';
import { sameSecret } from '../../auth/same-secret.js';
import type { JsmModule } from '../api.js';
import { stanzaError } from '../stanza-errors.js';

/** The stored plaintext, or undefined when only an empty existence flag is stored. */
export function storedPassword(records: Map<string, Element>): string | undefined {
  const text = records.get(NS_AUTH)?.text();
  return text ? text : undefined;
}

/**
 * Whether `given` is the user's password: the plaintext stored, or, for an
 * account 1.4's mod_auth_crypt made (no plaintext), its hash.
 */
function passwordMatches(given: string, records: Map<string, Element>): boolean {
  const stored = storedPassword(records);
  if (stored !== undefined) return sameSecret(given, stored);
  const crypt = records.get(NS_AUTH_CRYPT)?.text();
  return crypt !== undefined && matchesCryptRecord(given, crypt);
}

export const modAuthPlain: JsmModule = {
  name: 'mod_auth_plain',
  setup(api) {
    api.on('auth-get', (_req, reply) => {
      reply.children.push(new Element('password'));
    });
    api.on('auth-set', async (req) => {
      const given = req.query.getChildText('password');
      if (given === undefined) return 'pass';
      if (!passwordMatches(given, req.records)) throw stanzaError('not-authorized');
      await api.notify('password-learned', {
        host: req.client.host,
        user: req.user,
        password: given,
        records: req.records,
      });
      return 'handled';
    });
    api.on('password', (ev) => ({ [NS_AUTH]: new Element('password', { xmlns: NS_AUTH }, [ev.password]) }));
  },
};
