// jabber:iq:browse for a user's bare JID: the book's
// <user jid='dj@yak' name='DJ Adams'/>, the name taken from registration.
import { Element } from '../../xml/element.js';
import { NS_REGISTER } from '../../xdb/xdb.js';
import type { JsmModule } from '../api.js';
import { iqResult } from '../iq.js';

export const NS_BROWSE = 'jabber:iq:browse';

export const modBrowse: JsmModule = {
  name: 'mod_browse',
  setup(api) {
    api.on('deliver', async ({ stanza, to }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get' || to.resource !== undefined) return 'pass';
      if (!stanza.getChild('query', NS_BROWSE)) return 'pass';
      const reg = await api.xdb.get(to.host, to.user!, NS_REGISTER);
      if (!(await api.xdb.exists(to.host, to.user!))) return 'pass';
      const name = reg?.getChildText('name');
      return iqResult(stanza, new Element('user', { xmlns: NS_BROWSE, jid: to.bare, name }));
    });
  },
};
