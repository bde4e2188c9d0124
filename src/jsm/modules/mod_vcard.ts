// vcard-temp (SPEC section 8): users set and get their own vCard, anyone
// may get another user's, and the host answers with the server vCard.
import { Element } from '../../xml/element.js';
import { NS_VCARD } from '../../xdb/xdb.js';
import type { JsmModule } from '../api.js';
import { forAccount, iqResult } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';

function vcardOf(iq: Element): Element | undefined {
  return iq.name === 'iq' ? (iq.getChild('vCard', NS_VCARD) ?? iq.getChild('vcard', NS_VCARD)) : undefined;
}

export const modVcard: JsmModule = {
  name: 'mod_vcard',
  setup(api) {
    api.on('deliver', async ({ stanza, to, from }) => {
      const card = vcardOf(stanza);
      if (!card || !forAccount(api.sessions, to)) return 'pass';
      const type = stanza.attrs.type;
      if (type === 'set') {
        if (from.bare !== to.bare) throw stanzaError('forbidden');
        const stored = new Element('vCard', { ...card.attrs, xmlns: NS_VCARD }, card.children);
        await api.xdb.set(to.host, to.user!, { [NS_VCARD]: stored });
        return iqResult(stanza);
      }
      if (type !== 'get') return 'pass';
      if (!(await api.xdb.exists(to.host, to.user!))) throw stanzaError('item-not-found');
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
