// host/announce/online sends a message to everyone online; host/announce/motd
// also keeps it as the message of the day, shown at each login until
// announce/motd/delete. Only <admin><write> JIDs may announce.
import { Element } from '../../xml/element.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { stanzaError } from '../stanza-errors.js';
import { canWrite } from './admins.js';

function toEveryone(api: ModuleApi, host: string, m: Element): void {
  for (const s of api.sessions.all()) {
    if (s.host === host && s.available) s.send(new Element('message', { ...m.attrs, from: host, to: s.jid.toString() }, m.children));
  }
}

export const modAnnounce: JsmModule = {
  name: 'mod_announce',
  setup(api) {
    // The motd lives in memory, as in 1.4: it is an announcement, not user data.
    const motd = new Map<string, Element>();
    api.on('server', ({ stanza, to, from }) => {
      const r = to.resource;
      if (stanza.name !== 'message' || !r?.startsWith('announce/')) return 'pass';
      if (stanza.attrs.type === 'error') return 'handled';
      if (!canWrite(api, from)) throw stanzaError('forbidden');
      const m = new Element('message', { type: stanza.attrs.type }, stanza.children.filter((c) => typeof c !== 'string'));
      if (r === 'announce/online') toEveryone(api, to.host, m);
      else if (r === 'announce/motd') {
        motd.set(to.host, m);
        toEveryone(api, to.host, m);
      } else if (r === 'announce/motd/update') motd.set(to.host, m);
      else if (r === 'announce/motd/delete') motd.delete(to.host);
      else throw stanzaError('item-not-found');
      return 'handled';
    });
    api.on('session-available', (s) => {
      const m = motd.get(s.host);
      // Once per session (1.4 too): going unavailable and back, or invisible
      // and back, does not show it again, unless it has changed since.
      if (!m || s.data.get('motd') === m) return;
      s.data.set('motd', m);
      s.send(new Element('message', { ...m.attrs, from: s.host, to: s.jid.toString() }, m.children));
    });
  },
};
