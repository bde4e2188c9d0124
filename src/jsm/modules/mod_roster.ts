// jabber:iq:roster (SPEC section 8): get/set/remove with pushes. The
// subscription presence exchanges are in roster-subscriptions.ts; this
// module wires both into the session manager.
import { parseJid } from '../../jid.js';
import { attrsWith, childInNamespace, Element } from '../../xml/element.js';
import { NS_ROSTER } from '../../xdb/xdb.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { iqResult, isRequest, payloadIn } from '../iq.js';
import { changeItems, pendingCount, visibleRosterText } from '../roster.js';
import { pushItem, pushRemoval } from '../roster-pushes.js';
import type { Session } from '../sessions.js';
import { stanzaError } from '../stanza-errors.js';
import { SubscriptionPairs } from '../subscription-pairs.js';
import { cancelAll, checkContactsReadable, receiveSubscription, resendMissed, resendPending, sendSubscription, STORED_REQUESTS_SECONDS, SUBSCRIPTION_TYPES } from './roster-subscriptions.js';
import { RecentPairEvents } from '../recent-pair-events.js';

/**
 * The <query/> of a roster iq for the user's own roster, or undefined for
 * any other stanza. Their own: no `to`, the bare JID, or the very resource
 * that sends it. 1.4's mod_roster took every roster request
 * its session sent, whatever the `to`; iksroster restores the roster result
 * it saved, to='USER/iksroster' and all, from USER/iksroster again, and a
 * request to oneself can mean nothing else. Any other `to` is routed (and a
 * stranger's refused at delivery, below).
 */
function ownRosterQuery(stanza: Element, session: Session): Element | undefined {
  if (stanza.name !== 'iq') return undefined;
  const to = stanza.attrs.to;
  if (to !== undefined) {
    const jid = parseJid(to)?.toString();
    if (jid !== session.jid.bare && jid !== session.jid.toString()) return undefined;
  }
  return payloadIn(stanza, NS_ROSTER, 'query');
}

async function rosterGet(api: ModuleApi, iq: Element, s: Session): Promise<'handled'> {
  s.rosterInterested = true;
  // From the stored roster itself, serialized once for as long as it is stored (visibleRosterText).
  const { shown, pending } = await api.xdb.peek(s.host, s.user, NS_ROSTER, (roster) => ({
    shown: visibleRosterText(roster),
    pending: roster !== undefined && pendingCount(roster) > 0,
  }));
  // The reply's element carries an empty query: only its head is sent, with the text.
  const reply = iqResult(iq, new Element('query', { xmlns: NS_ROSTER }));
  s.send(reply, reply.startTag() + shown + '</iq>');
  // As 1.4's mod_roster_out_iq: the pending requests follow every roster
  // result, so a tool that reads the roster and sends no presence (a
  // script approving requests) sees them too, after the roster that
  // names their senders.
  if (pending) await resendPending(api, s);
  return 'handled';
}

/**
 * A client may set name and groups only; subscription and ask stay the
 * server's. A set may carry several items, as 1.4's mod_roster took them
 * (iksroster restores a whole backed-up roster in one set): they are
 * applied in order and stored in one write, so a long list costs one
 * rewrite of the file, not one per item. One malformed item refuses the
 * whole set (400) and nothing changes, where 1.4 skipped it silently;
 * a removal by a jid that does not prepare is not malformed (below).
 */
async function rosterSet(api: ModuleApi, iq: Element, query: Element, s: Session, pairs: SubscriptionPairs): Promise<Element> {
  const items = query.getChildren('item');
  if (items.length === 0) throw stanzaError('bad-request');
  const wanted = items.map((given) => {
    const text = given.attrs.jid ?? '';
    const remove = given.attrs.subscription === 'remove';
    const contact = parseJid(text);
    if (!contact || contact.resource !== undefined) {
      // An item stored under a jid today's preparation refuses (by 1.4, or by
      // an earlier Yak whose rules were looser) is shown by roster gets; the
      // user can remove it by that very jid (one no item has removes nothing).
      // It is a leftover: its subscription is nobody's (a contact's own
      // item names the user's bare JID), so nobody is told.
      if (remove && text !== '') return { jid: text, given, remove, leftover: true };
      throw stanzaError('bad-request');
    }
    const jid = contact.bare;
    // Never one's own JID, but an item for it that older versions let in can be removed.
    if (jid === s.jid.bare && !remove) throw stanzaError('bad-request');
    return { jid, given, remove, leftover: false, local: api.isLocalHost(contact.host) };
  });
  // A removal cancels the subscription both ways: after any change between
  // the two under way, as a subscription presence would be.
  const contacts = wanted.filter((w) => w.remove && w.local).map((w) => w.jid);
  return pairs.run(s.jid.bare, contacts, () => applySet(api, iq, s, wanted));
}

async function applySet(
  api: ModuleApi,
  iq: Element,
  s: Session,
  wanted: readonly { jid: string; given: Element; remove: boolean; leftover: boolean }[],
): Promise<Element> {
  const results = await changeItems(
    api.xdb,
    s.host,
    s.user,
    wanted.map(({ jid, given, remove }) => ({
      jid,
      fn: (cur: Element): Element | null => {
        if (remove) return null;
        const next = new Element('item', attrsWith(cur.attrs, { name: given.attrs.name, hidden: undefined }));
        for (const g of given.getChildren('group')) next.c('group').t(g.text());
        return next;
      },
    })),
  );
  // Queued at once, in the order the changes were stored: a set from
  // another resource while the contacts are told must push after these.
  // The result follows the last push, as when they were all sent at once.
  const removed: Element[] = [];
  let pushed: Promise<void> | undefined;
  for (const [i, { jid, remove, leftover }] of wanted.entries()) {
    const { item, before } = results[i]!;
    if (remove) {
      if (!before) continue;
      pushed = pushRemoval(api, s.host, s.user, jid);
      if (!leftover) removed.push(before);
    } else if (item) {
      pushed = pushItem(api, s.host, s.user, item);
    }
  }
  await pushed;
  // Removing an item also cancels both directions of the subscription (RFC 3921 8.6).
  await cancelAll(api, s.jid.bare, removed);
  return iqResult(iq);
}

/** The roster with every subscription and request gone (names and groups kept). */
function withoutSubscriptions(roster: Element): Element {
  for (const item of roster.getChildren('item')) {
    item.attrs.subscription = 'none';
    item.setAttr('ask', undefined);
    item.setAttr('subscribe', undefined);
  }
  return roster;
}

export const modRoster: JsmModule = {
  name: 'mod_roster',
  setup(api) {
    const pairs = new SubscriptionPairs();
    const requests = new RecentPairEvents(STORED_REQUESTS_SECONDS);
    api.on('session-out', async (stanza, s) => {
      if (stanza.name === 'presence') {
        if (stanza.attrs.to === undefined || !SUBSCRIPTION_TYPES.has(stanza.attrs.type ?? '')) return 'pass';
        await sendSubscription(api, stanza, s, pairs);
        return 'handled';
      }
      const query = ownRosterQuery(stanza, s);
      if (!query) return 'pass';
      if (stanza.attrs.type === 'get') return rosterGet(api, stanza, s);
      if (stanza.attrs.type === 'set') return rosterSet(api, stanza, query, s, pairs);
      return 'handled';
    }, { stanzas: ['presence', 'iq'] });
    api.on('deliver', (d) => {
      if (!SUBSCRIPTION_TYPES.has(d.stanza.attrs.type ?? '')) return 'pass';
      return receiveSubscription(api, d, requests);
    }, { stanzas: ['presence'] });
    // An iq carrying a roster query from another account is never passed
    // on to a client: 1.4's pushes carry no `from`, so its clients take any
    // roster iq for the server's and would show (or drop) contacts a
    // stranger chose. Nobody else has a reason to send one. Whatever its
    // type: xmpp4r and Net::XMPP take a result (or an error) carrying
    // roster items as they take a push, without looking at the id. Any
    // child counts here, not only the first namespaced one (payloadIn):
    // xmpp4r takes the <query/> wherever it stands, so an <x/> before it
    // must not get a stranger's set through; and a prefixed one too, which
    // a namespace-aware client reads as the same query.
    api.on('deliver', ({ stanza, to, from, sender }) => {
      if (from.bare === to.bare || childInNamespace(stanza, NS_ROSTER) < 0) return 'pass';
      if (isRequest(stanza)) throw stanzaError('forbidden');
      // A client's result or error is dropped: never answered with an error
      // (RFC 3920 9.2.3). The server's own error replies (no sending
      // session), which carry a refused request back to its sender, pass.
      return sender === undefined ? 'pass' : 'handled';
    }, { stanzas: ['iq'] });
    // A client that never reads its roster (a bot, a one-shot sender)
    // still hears of the requests once; 1.4 showed them only after a roster
    // get. One that did hears of those that came since (RFC 3921 8.2).
    api.on('session-available', (s) => (s.rosterInterested ? resendMissed(api, s) : resendPending(api, s)));
    // A removed account's contacts keep no subscription to a name the next
    // owner would inherit (nor a request from it). Told before the file
    // goes (see 'user-removing'). One that cannot be told fails the
    // removal: the account stays, its own side as it was, so that removing
    // it again tells every contact again.
    api.on('user-removal-check', ({ host, user, records }) =>
      checkContactsReadable(api, `${user}@${host}`, records.get(NS_ROSTER)?.getChildren('item') ?? []),
    );
    api.on('user-removing', async ({ host, user, records }) => {
      const items = records.get(NS_ROSTER)?.getChildren('item') ?? [];
      await cancelAll(api, `${user}@${host}`, items, { throwFailures: true });
      // The user's own side follows, once every contact is told, so an
      // account that outlives a removal failing at its last step (a full
      // disk as its file is deleted) holds no subscription its contacts no
      // longer have.
      if (items.length) await api.xdb.update(host, user, NS_ROSTER, (roster) => roster && withoutSubscriptions(roster));
    });
  },
};
