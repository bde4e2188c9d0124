// Digest jabber:iq:auth (SPEC section 5, XEP-0078): sha1hex(stream id +
// password). It needs the plaintext, so it is offered only when one is
// stored, and only with mod_auth_plain loaded: without it no plaintext is
// stored or accepted (SPEC, README), and one kept from before must not
// still log in by digest (config lint warns of the combination).
import { Element } from '../../xml/element.js';
import { digestFor } from '../../util/hash.js';
import type { JsmModule } from '../api.js';
import { stanzaError } from '../stanza-errors.js';
import { storedPassword } from './mod_auth_plain.js';
import { sameSecret } from '../../auth/same-secret.js';

export const modAuthDigest: JsmModule = {
  name: 'mod_auth_digest',
  setup(api) {
    if (!api.config.jsm.modules.includes('mod_auth_plain')) return;
    api.on('auth-get', (req, reply) => {
      if (storedPassword(req.records) !== undefined) reply.children.push(new Element('digest'));
    });
    api.on('auth-set', (req) => {
      const given = req.query.getChildText('digest');
      if (given === undefined) return 'pass';
      const stored = storedPassword(req.records);
      if (stored === undefined) throw stanzaError('not-authorized');
      const expected = digestFor(req.client.streamId, stored);
      if (!sameSecret(given.trim().toLowerCase(), expected)) throw stanzaError('not-authorized');
      return 'handled';
    });
  },
};
