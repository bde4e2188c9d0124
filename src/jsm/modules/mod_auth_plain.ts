// Plaintext jabber:iq:auth (SPEC section 5). Also the only module that
// stores the plaintext password: without it in <load>, no plaintext is kept.
import { timingSafeEqual } from 'node:crypto';
import { Element } from '../../xml/element.js';
import { NS_AUTH } from '../../xdb/xdb.js';
import type { JsmModule } from '../api.js';
import { stanzaError } from '../stanza-errors.js';

/** The stored plaintext, or undefined when only an empty existence flag is stored. */
export function storedPassword(records: Map<string, Element>): string | undefined {
  const text = records.get(NS_AUTH)?.text();
  return text ? text : undefined;
}

/** Constant-time string comparison, so the reply time says nothing about the match. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
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
      const stored = storedPassword(req.records);
      if (stored === undefined || !sameSecret(given, stored)) throw stanzaError('not-authorized');
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
