// Subscription answers for a user with no available session, kept by
// mod_offline in its store to be shown later (RFC 3921 11.1); its delivery
// (mod_offline.ts) shows them, and drops those overtaken since
// (roster.ts answerHolds).
import { parseJid } from '../../jid.js';
import { Element } from '../../xml/element.js';
import { NoSuchUserError, NS_OFFLINE, UserFileFullError } from '../../xdb/xdb.js';
import { addStamp, delayStamp } from '../delay-stamp.js';
import type { Delivery, ModuleApi } from '../api.js';

/** The subscription answers kept for later (a request waits in the roster instead, see roster-subscriptions.ts). */
export const KEPT_ANSWERS = new Set(['subscribed', 'unsubscribe', 'unsubscribed']);

/**
 * A subscription answer for a user with no available session (mod_roster
 * hands over those that changed the roster): kept, stamped, to be shown
 * with the stored messages, as RFC 3921 11.1 asks (at least once). 1.4 did
 * not keep them, so a user away never heard that a contact accepted,
 * refused or ended a subscription. Only the latest answer from each
 * contact is kept (the roster holds its outcome anyway), so they are at
 * most one per roster item: no limit or share is needed, and none is taken
 * from the messages'. One the file has no room for is not kept (the
 * roster change stands; there is nobody to tell).
 */
export async function keepAnswer(api: ModuleApi, d: Delivery): Promise<void> {
  const { to, from } = d;
  const bare = to.bare;
  const kept = d.stanza.clone();
  addStamp(kept, delayStamp(bare, 'Offline Storage'));
  try {
    await api.xdb.update(to.host, to.user!, NS_OFFLINE, (cur) => {
      // Going with the file anyway.
      if (api.removing(to.host, to.user!)) return undefined;
      // A session that became available since the caller looked has had
      // (or will have) its stored stanzas already: it is shown this now.
      const live = api.sessions.of(bare).filter((s) => s.available && !s.ended);
      if (live.length) {
        for (const s of live) s.send(d.stanza);
        return undefined;
      }
      const box = cur ?? new Element('foo', { xmlns: NS_OFFLINE });
      box.children = box.children.filter((c) => typeof c === 'string' || c.name !== 'presence' || parseJid(c.attrs.from ?? '')?.bare !== from.bare);
      box.children.push(kept);
      return box;
    });
  } catch (err) {
    if (!(err instanceof UserFileFullError) && !(err instanceof NoSuchUserError)) throw err;
    api.log.debug({ to: bare, from: from.bare, type: d.stanza.attrs.type }, 'subscription answer not kept for later: ' + (err instanceof NoSuchUserError ? 'no such user' : 'the file is full'));
  }
}
