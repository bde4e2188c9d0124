// vcard-temp (SPEC section 8): users set and get their own vCard, anyone
// may get another user's, and the host answers with the server vCard.
import { attrsWith, Element } from '../../xml/element.js';
import { NS_VCARD } from '../../xdb/xdb.js';
import type { JsmModule } from '../api.js';
import { iqResult, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';

/**
 * The request's vcard-temp element, whatever its name (`vCard`, `VCARD`,
 * `vcard`): 1.4 checked only the namespace of the iq's child (NSCHECK).
 * A card is stored, and answered, as `vCard`.
 */
function vcardOf(iq: Element): Element | undefined {
  return iq.name === 'iq' ? payloadIn(iq, NS_VCARD) : undefined;
}

export const modVcard: JsmModule = {
  name: 'mod_vcard',
  setup(api) {
    // COMPAT: a request to any of a user's JIDs is the account's, whether
    // the resource is connected or not: 1.4's mod_vcard_reply sat on each
    // session's incoming chain (es_IN) as well as the offline chain, so a
    // get to a chat partner's full JID came back from the server with the
    // stored card and never reached the client (1.4-era clients do not
    // answer vcard-temp themselves). Results and errors still pass.
    api.on('deliver', async ({ stanza, to, from }) => {
      const card = vcardOf(stanza);
      const type = stanza.attrs.type;
      if (!card || (type !== 'get' && type !== 'set')) return 'pass';
      if (type === 'set' && from.bare === to.bare) {
        const stored = new Element('vCard', attrsWith(card.attrs, { xmlns: NS_VCARD }), card.children);
        await api.xdb.set(to.host, to.user!, { [NS_VCARD]: stored });
        return iqResult(stanza);
      }
      if (!(await api.xdb.exists(to.host, to.user!))) throw stanzaError('item-not-found');
      // 1.4 bounced a set from anyone else with TERROR_NOTALLOWED.
      if (type === 'set') throw stanzaError('not-allowed');
      const stored = await api.xdb.get(to.host, to.user!, NS_VCARD);
      return iqResult(stanza, stored ?? new Element('vCard', { xmlns: NS_VCARD }));
    }, { stanzas: ['iq'] });
    api.on('server', ({ stanza, to }) => {
      if (!vcardOf(stanza) || to.resource !== undefined || stanza.attrs.type !== 'get') return 'pass';
      const card = api.config.jsm.vcard;
      return iqResult(stanza, new Element('vCard', { xmlns: NS_VCARD }, card ? card.clone().children : []));
    });
  },
};
