// host/announce/online sends a message to everyone online; host/announce/motd
// also keeps it as the message of the day, shown at each login until
// announce/motd/delete. Only <admin><write> JIDs may announce.
import { attrsWith, Element } from '../../xml/element.js';
import { delayStamp } from '../delay-stamp.js';
import type { JsmModule, ModuleApi } from '../api.js';
import type { Session } from '../sessions.js';
import { stanzaError } from '../stanza-errors.js';
import { canWrite } from './admins.js';

/**
 * Whether a session takes announcements: available with a non-negative
 * priority, as 1.4 (a negative priority says "no messages for me", the
 * same rule as for bare-JID messages and offline delivery).
 */
function takesAnnouncements(s: Session): boolean {
  return s.available && s.priority >= 0 && !s.ended;
}

function sendTo(s: Session, m: Element): void {
  s.send(new Element('message', attrsWith(m.attrs, { from: s.host, to: s.jid.toString() }), m.children));
}

/** Sends `m` to every session of `host` that takes it; `each` is told who got it. */
function toEveryone(api: ModuleApi, host: string, m: Element, each?: (s: Session) => void): void {
  for (const s of api.sessions.all()) {
    if (s.host !== host || !takesAnnouncements(s)) continue;
    sendTo(s, m);
    each?.(s);
  }
}

export const modAnnounce: JsmModule = {
  name: 'mod_announce',
  setup(api) {
    // The motd lives in memory, as in 1.4: it is an announcement, not user data.
    const motd = new Map<string, Element>();
    /**
     * Keeps `m` as the motd, stamped as 1.4 did: who reads it at a later
     * login sees when it was said. 1.4's jutil_delay named the address the
     * message was sent to (`HOST/announce/motd`) as the stamp's `from`;
     * prepared here, as the host answers to any spelling of its name.
     */
    const setMotd = (host: string, m: Element, addressed: string): Element => {
      m.children.push(delayStamp(addressed, 'Announced'));
      motd.set(host, m);
      return m;
    };
    api.on('server', ({ stanza, to, from }) => {
      const r = to.resource;
      if (stanza.name !== 'message' || !r?.startsWith('announce/')) return 'pass';
      if (stanza.attrs.type === 'error') return 'handled';
      // 1.4 answered 405 Not Allowed (TERROR_NOTALLOWED) to anyone else.
      if (!canWrite(api, from)) throw stanzaError('not-allowed');
      // Passed on whole, as 1.4 did: its xml:lang, id and extension
      // attributes are part of what was said. (The addresses are each session's.)
      const m = new Element('message', attrsWith(stanza.attrs, { to: undefined, from: undefined }), stanza.children.filter((c) => typeof c !== 'string'));
      if (r === 'announce/online') toEveryone(api, to.host, m);
      else if (r === 'announce/motd') {
        const kept = setMotd(to.host, m, to.toString());
        // Shown once per session: one that got it now is done with it.
        toEveryone(api, to.host, kept, (s) => s.data.set('motd', kept));
      }
      else if (r === 'announce/motd/update') setMotd(to.host, m, to.toString());
      else if (r === 'announce/motd/delete') motd.delete(to.host);
      else throw stanzaError('item-not-found');
      return 'handled';
    });
    // When the session starts taking messages: its first available presence
    // with priority >= 0, or its priority rising to 0 or more.
    api.on('session-deliverable', (s) => {
      const m = motd.get(s.host);
      // Once per session (1.4 too): going unavailable and back, or invisible
      // and back, does not show it again, unless it has changed since.
      if (!m || s.data.get('motd') === m) return;
      s.data.set('motd', m);
      sendTo(s, m);
    });
  },
};
