// jabber:iq:admin <who/> and jabber:iq:browse to HOST/admin list the online
// sessions for <admin> JIDs, as 1.4 listed them, and a message to the bare
// host is forwarded to every admin (1.4 behaviour), marked "Admin:" in the
// subject and stamped with jabber:x:delay, without ever telling the sender
// who the admins are.
import { attrsWith, Element } from '../../xml/element.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { parseJid } from '../../jid.js';
import { iqResult, isRequest, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';
import { allAdmins, canRead, NS_ADMIN } from './admins.js';
import { delayStamp, isDelayed } from '../delay-stamp.js';
import { NS_BROWSE } from './mod_browse.js';
import { keptPresence } from '../kept-presence.js';
import type { Session } from '../sessions.js';
import { monotonicMs } from '../../util/time.js';
import { clientChild, clientChildText, isClientChild } from '../client-children.js';

/** 1.4's per-session figures in a <who/> entry. */
const NS_ADMIN_WHO = 'jabber:mod_admin:who';

/**
 * How long a sender that got the <admin><reply> gets no other. A client
 * or bot that answers every message would answer the reply, which earned
 * it another, and so on without end, each round a copy for every admin.
 * 1.4 answered a JID only while it was not among the last kilobyte of JIDs
 * answered (which, on a quiet server, meant once until a restart); a
 * window does the same and still tells someone who writes again later.
 */
const REPLY_QUIET_MS = 10 * 60 * 1000;
/** Senders remembered at most; beyond, the one answered longest ago is forgotten. */
const MAX_REPLIED = 10_000;

/**
 * Whether `key` (a sender and the host it wrote to) may get the reply now,
 * noting that it does. `replied` holds when each key was last answered,
 * oldest first; what is past the window goes as it is met.
 */
function replyDue(replied: Map<string, number>, key: string, now: number): boolean {
  for (const [k, at] of replied) {
    if (now - at < REPLY_QUIET_MS) break;
    replied.delete(k);
  }
  if (replied.has(key)) return false;
  if (replied.size >= MAX_REPLIED) replied.delete(replied.keys().next().value!);
  replied.set(key, now);
  return true;
}

async function adminExists(api: ModuleApi, admin: string): Promise<boolean> {
  const jid = parseJid(admin);
  return jid?.user !== undefined && api.isLocalHost(jid.host) && api.xdb.exists(jid.host, jid.user);
}

/**
 * The copy an admin gets: from the sender, as sent (so a reply goes to
 * them), with 1.4's subject "Admin: SUBJECT (HOST)", which tells it apart
 * from the admin's own mail and names the host it was sent to, and 1.4's
 * `<x xmlns='jabber:x:delay' from=HOST>admin</x>`: a copy that finds its
 * way back to the host (a client or bot that sends back what it got) is
 * dropped, not forwarded again.
 */
function adminCopy(stanza: Element, admin: string, from: string, host: string): Element {
  // The subject however written (a prefixed one too), replaced by the
  // marked one, which goes first: a reader taking the first element named
  // subject in any namespace (xmpp4r) shows it as well.
  const subject = clientChildText(stanza, 'subject')?.trim();
  const marked = new Element('subject', {}, [`Admin: ${subject ? `${subject} ` : ''}(${host})`]);
  const children = stanza.children.filter((c) => !isClientChild(c, 'subject'));
  return new Element('message', attrsWith(stanza.attrs, { to: admin, from }), [marked, ...children, delayStamp(host, 'admin')]);
}

/** Whole seconds since the session started. */
function upSeconds(s: Session, now: number): string {
  return String(Math.floor((now - s.started) / 1000));
}

/**
 * 1.4's <who/>: each session's last presence (unavailable before its first
 * one), with `<x xmlns='jabber:mod_admin:who' timer=SECONDS from=IN to=OUT/>`,
 * 1.4's c_in and c_out: IN counts the stanzas sent to the client, OUT the
 * stanzas it sent (its sessions.c counted from the session's side).
 */
function who(api: ModuleApi, host: string): Element {
  const list = new Element('who');
  const now = monotonicMs();
  for (const s of api.sessions.all()) {
    if (s.host !== host) continue;
    const from = s.jid.toString();
    list.children.push(
      new Element('presence', { from, type: s.available ? undefined : 'unavailable' }, [
        ...(s.presence ? keptPresence(s, s.presence, undefined).children : []),
        new Element('x', { xmlns: NS_ADMIN_WHO, timer: upSeconds(s, now), from: String(s.stanzasOut), to: String(s.stanzasIn) }),
      ]),
    );
  }
  return list;
}

/**
 * 1.4's browse of HOST/admin: a <user/> per account online, named
 * "USER (SECONDS, SENT, RECEIVED)" after the session a message to the bare
 * JID would reach, or "USER" alone when none would.
 */
function onlineUsers(api: ModuleApi, host: string, list: boolean): Element {
  const item = new Element('item', { xmlns: NS_BROWSE, jid: `${host}/admin`, name: 'Online Users (seconds, sent, received)' });
  if (!list) return item;
  const now = monotonicMs();
  const users = new Set<string>();
  for (const s of api.sessions.all()) if (s.host === host) users.add(s.jid.bare);
  for (const bare of users) {
    const best = api.sessions.best(bare);
    const user = bare.slice(0, bare.indexOf('@'));
    // Sent and received by the client.
    const name = best ? `${user} (${upSeconds(best, now)}, ${best.stanzasIn}, ${best.stanzasOut})` : user;
    item.children.push(new Element('user', { jid: bare, name }));
  }
  return item;
}

export const modAdmin: JsmModule = {
  name: 'mod_admin',
  setup(api) {
    // Sender's bare JID and host -> when it last got the reply (see REPLY_QUIET_MS).
    const replied = new Map<string, number>();
    api.on('server', async ({ stanza, to, from }) => {
      if (to.resource === 'admin' && stanza.name === 'iq' && payloadIn(stanza, NS_BROWSE)) {
        if (!isRequest(stanza)) return 'handled';
        if (!canRead(api, from)) throw stanzaError('not-allowed');
        // A set lists nobody, as in 1.4 (whose "kick them?" was never written).
        return iqResult(stanza, onlineUsers(api, to.host, stanza.attrs.type === 'get'));
      }
      if (to.resource !== undefined) return 'pass';
      if (stanza.name === 'message') {
        if (stanza.attrs.type === 'error') return 'handled';
        // 1.4's "circular safety": a stamped message came round from
        // somewhere (an admin's copy or the reply sent back, a message
        // replayed from storage), and is dropped without a word.
        if (isDelayed(stanza)) return 'handled';
        // Only admins with an account: the bounce of one without would tell
        // the sender who the admins are.
        const admins = [];
        for (const admin of allAdmins(api)) if (await adminExists(api, admin)) admins.push(admin);
        if (admins.length === 0) return 'pass';
        // Quietly: nothing about a copy may come back to the sender (a 503
        // from a full offline store, an offline event, the admin's filter
        // rules), since it would name the admin.
        for (const admin of admins) await api.deliver(adminCopy(stanza, admin, from.toString(), to.host), { quiet: true });
        // 1.4's <admin><reply>: the sender hears that someone will read it,
        // once in a while (an answer to the reply gets none).
        const reply = api.config.jsm.admin.reply;
        if (reply && from.user !== undefined && replyDue(replied, `${from.bare} ${to.host}`, monotonicMs())) {
          // As 1.4 answered (the message itself, turned round): its id, type
          // and thread stay, so a chat client shows the answer in that chat.
          const answer = new Element('message', { to: from.toString(), from: to.host, id: stanza.attrs.id, type: stanza.attrs.type });
          const thread = clientChild(stanza, 'thread');
          if (thread) answer.children.push(thread.clone());
          if (reply.subject) answer.c('subject').t(reply.subject);
          answer.c('body').t(reply.body);
          // Stamped as the admins' copies are, and as 1.4's was: sent back, it is dropped.
          answer.children.push(delayStamp(to.host, 'admin'));
          await api.deliver(answer);
        }
        return 'handled';
      }
      const query = stanza.name === 'iq' ? payloadIn(stanza, NS_ADMIN) : undefined;
      if (!query) return 'pass';
      if (!isRequest(stanza)) return 'handled';
      // 405 for anyone else, as 1.4 answered.
      if (!canRead(api, from)) throw stanzaError('not-allowed');
      // A set lists nobody, as in 1.4 (see above).
      if (query.getChild('who')) {
        const list = stanza.attrs.type === 'get' ? who(api, to.host) : new Element('who');
        return iqResult(stanza, new Element('query', { xmlns: NS_ADMIN }, [list]));
      }
      // 1.4 gave write admins the session manager's whole config for a
      // <config/> get (its components' secrets included), and a set replaced
      // it in memory; Yak serves neither. That, and anything else, is 405,
      // 1.4's answer for what an admin may not do.
      throw stanzaError('not-allowed');
    });
  },
};
