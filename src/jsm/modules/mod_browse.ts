// jabber:iq:browse for a user's bare JID: the book's
// <user jid='dj@yak' name='DJ Adams'/>, the name taken from registration,
// with the user's connected resources for whoever may see them.
import { Element } from '../../xml/element.js';
import { NS_REGISTER } from '../../xdb/xdb.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { forAccount, iqResult, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';
import { visibleSessions } from '../roster.js';
import { isTrusted } from './trust.js';
import { canRead, NS_ADMIN } from './admins.js';
import type { Jid } from '../../jid.js';

export const NS_BROWSE = 'jabber:iq:browse';

/**
 * The host's browse entry: the server itself, the configured services and
 * what it speaks. An admin who may read (and mod_admin is loaded) is also
 * shown, as 1.4 showed them, where the online users are listed.
 */
function serverBrowse(api: ModuleApi, host: string, from: Jid): Element {
  const name = api.config.jsm.vcard?.getChildText('FN') ?? 'Yak Jabber Server';
  const entry = new Element('service', { xmlns: NS_BROWSE, jid: host, name, type: 'jabber' });
  for (const child of api.config.jsm.browse) entry.children.push(child.clone());
  const admin = api.loaded.includes('mod_admin') && canRead(api, from);
  if (admin) entry.children.push(new Element('item', { jid: `${host}/admin`, name: 'Online Users' }));
  for (const [ns, modules] of SERVER_NAMESPACES) if (modules.some((m) => api.loaded.includes(m))) entry.c('ns').t(ns);
  if (admin) entry.c('ns').t(NS_ADMIN);
  return entry;
}

/**
 * The namespaces the host lists, each with the modules that serve it: one
 * is listed only when one of them is loaded, so no client is pointed at
 * a service that would answer 503.
 */
const SERVER_NAMESPACES: readonly (readonly [string, readonly string[]])[] = [
  ['jabber:iq:auth', ['mod_auth_plain', 'mod_auth_digest', 'mod_auth_0k']],
  ['jabber:iq:register', ['mod_register']],
  ['jabber:iq:browse', ['mod_browse']],
  ['jabber:iq:agents', ['mod_agents']],
  ['jabber:iq:time', ['mod_time']],
  ['jabber:iq:version', ['mod_version']],
  ['jabber:iq:last', ['mod_last']],
  ['vcard-temp', ['mod_vcard']],
];

/**
 * The request's element in jabber:iq:browse, whatever its name: 1.4 checked
 * only the namespace of the iq's child (NSCHECK), and Net::Jabber's
 * BrowseRequest asks with <item xmlns='jabber:iq:browse'/>, not <query/>.
 */
function browseRequest(stanza: Element): Element | undefined {
  return payloadIn(stanza, NS_BROWSE);
}

export const modBrowse: JsmModule = {
  name: 'mod_browse',
  setup(api) {
    api.on('server', ({ stanza, to, from }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get' || to.resource !== undefined) return 'pass';
      if (!browseRequest(stanza)) return 'pass';
      return iqResult(stanza, serverBrowse(api, to.host, from));
    });
    api.on('deliver', async ({ stanza, to, from }) => {
      const type = stanza.attrs.type;
      if ((type !== 'get' && type !== 'set') || !forAccount(api.sessions, to)) return 'pass';
      if (!browseRequest(stanza)) return 'pass';
      if (!(await api.xdb.exists(to.host, to.user!))) return 'pass';
      if (type === 'set') {
        // COMPAT: 1.4 bounced a set to someone else's browse with
        // TERROR_NOTALLOWED. Its owner's set stored items (mod_browse_set),
        // which Yak does not do: that passes on and ends as a 503.
        if (from.bare === to.bare) return 'pass';
        throw stanzaError('not-allowed');
      }
      const reg = await api.xdb.get(to.host, to.user!, NS_REGISTER);
      const name = reg?.getChildText('name');
      const user = new Element('user', { xmlns: NS_BROWSE, jid: to.bare, name });
      // As 1.4's mod_browse_reply: each connected resource, newest first as
      // 1.4 kept its list, for the user and whoever it lets see its presence
      // (js_trust). COMPAT: a contact is shown only the sessions it could
      // see by presence; 1.4 listed every one, so browsing told a contact
      // about an invisible session or one that never sent presence.
      if (await isTrusted(api, to, from)) {
        const sessions = from.bare === to.bare ? api.sessions.of(to.bare) : visibleSessions(api, to.bare, from.toString());
        for (const s of sessions.reverse()) user.children.push(new Element('user', { type: 'client', jid: s.jid.toString() }));
      }
      return iqResult(stanza, user);
    }, { stanzas: ['iq'] });
  },
};
