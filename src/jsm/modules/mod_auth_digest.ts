// Digest jabber:iq:auth (SPEC section 5, XEP-0078): sha1hex(stream id +
// password). It needs the plaintext, so it is offered only when one is stored.
import { Element } from '../../xml/element.js';
import { digestFor } from '../../util/hash.js';
import type { JsmModule } from '../api.js';
import { stanzaError } from '../stanza-errors.js';
import { storedPassword } from './mod_auth_plain.js';
import { sameSecret } from '../../auth/same-secret.js';

export const modAuthDigest: JsmModule = {
  name: 'mod_auth_digest',
  setup(api) {
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
