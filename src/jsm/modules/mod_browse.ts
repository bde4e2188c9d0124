// jabber:iq:browse for a user's bare JID: the book's
// <user jid='dj@yak' name='DJ Adams'/>, the name taken from registration.
import { Element } from '../../xml/element.js';
import { NS_REGISTER } from '../../xdb/xdb.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { forAccount, iqResult } from '../iq.js';

export const NS_BROWSE = 'jabber:iq:browse';

/** The host's browse entry: the server itself, the configured services and what it speaks. */
function serverBrowse(api: ModuleApi, host: string): Element {
  const name = api.config.jsm.vcard?.getChildText('FN') ?? 'Yak Jabber Server';
  const entry = new Element('service', { xmlns: NS_BROWSE, jid: host, name, type: 'jabber' });
  for (const child of api.config.jsm.browse) entry.children.push(child.clone());
  for (const ns of SERVER_NAMESPACES) entry.c('ns').t(ns);
  return entry;
}

const SERVER_NAMESPACES = [
  'jabber:iq:auth',
  'jabber:iq:register',
  'jabber:iq:browse',
  'jabber:iq:agents',
  'jabber:iq:time',
  'jabber:iq:version',
  'jabber:iq:last',
  'vcard-temp',
];

/**
 * The request's element in jabber:iq:browse, whatever its name: 1.4 checked
 * only the namespace of the iq's child (NSCHECK), and Net::Jabber's
 * BrowseRequest asks with <item xmlns='jabber:iq:browse'/>, not <query/>.
 */
function browseRequest(stanza: Element): Element | undefined {
  return stanza.getChildByNs(NS_BROWSE);
}

export const modBrowse: JsmModule = {
  name: 'mod_browse',
  setup(api) {
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get' || to.resource !== undefined) return 'pass';
      if (!browseRequest(stanza)) return 'pass';
      return iqResult(stanza, serverBrowse(api, to.host));
    });
    api.on('deliver', async ({ stanza, to }) => {
      if (stanza.attrs.type !== 'get' || !forAccount(api.sessions, to)) return 'pass';
      if (!browseRequest(stanza)) return 'pass';
      const reg = await api.xdb.get(to.host, to.user!, NS_REGISTER);
      if (!(await api.xdb.exists(to.host, to.user!))) return 'pass';
      const name = reg?.getChildText('name');
      return iqResult(stanza, new Element('user', { xmlns: NS_BROWSE, jid: to.bare, name }));
    }, { stanzas: ['iq'] });
  },
};
