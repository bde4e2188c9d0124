// jabber:iq:filter (SPEC section 8, jabberd 1.4's mod_filter): rules a user
// stores on the server for the messages and iq requests that reach them,
// online or not: reply, bounce, retype, forward or store offline. The
// conditions, actions and wire forms are 1.4's; src/jsm/filter/ says where
// Yak does better, and the README has the whole behaviour.
import { childInNamespace, Element } from '../../xml/element.js';
import { clientChildText } from '../client-children.js';
import { onward, type Delivery, type JsmModule, type Outcome } from '../api.js';
import { iqResult, isRequest, payloadIn } from '../iq.js';
import { readRoster } from '../roster.js';
import { answerable } from '../router.js';
import { errorReply, stanzaError } from '../stanza-errors.js';
import { autoReply, cameBack, forwardCopies, mayPassOn } from '../filter/envelope.js';
import { appliesTo, matches, needsRoster, type StanzaFacts } from '../filter/match.js';
import { MAX_FORWARD_TARGETS, NS_FILTER, parseRule, parseRules, TRUSTED_RULES, type FilterRule } from '../filter/rules.js';
import { isNotice, storable, storeOffline } from './mod_offline.js';
import { trimXmlSpace } from '../../xml/chars.js';

// Ahead of the modules that answer requests to a user themselves (vCard,
// last, browse), whatever the <load> order: 1.4 ran the filter on delivery,
// before those modules' offline-phase handlers saw a request to a bare JID.
const BEFORE_USER_MODULES = 10;
const NONE: readonly FilterRule[] = Object.freeze([]);
/**
 * How many filters in a row may answer or forward what a filter sent. The
 * rules already stop loops (trails, errors never answered or retyped);
 * this stops one that a rule combination nobody foresaw would make, before
 * it runs without end: such a chain routes without waiting on anything, so
 * it would starve every other connection.
 */
const MAX_CASCADE = 10;

/**
 * Why a message gets no automatic reply, or undefined when it may: errors
 * (two responders would ping-pong), groupchat and headlines (nobody to
 * answer), servers and services (a reply to the host goes to every admin),
 * and a message that came back round or went too far.
 */
function noAutoReply(stanza: Element, d: Delivery): string | undefined {
  if (d.quiet) return QUIET;
  const type = stanza.attrs.type;
  if (type === 'error' || type === 'groupchat' || type === 'headline') return `a ${type} message`;
  if (isNotice(stanza)) return 'a notice (a message event or a chat state)';
  if (d.from.user === undefined) return 'the sender is a server or service';
  if (!mayPassOn(stanza, d.to)) return 'it came back round, or has been forwarded too often';
  return undefined;
}

/**
 * What the rules have done to one stanza so far, across the rules a
 * <continue/> chains: every matching rule acted anew before, so N rules
 * with <reply> or <error> sent the sender N answers or N bounces of one
 * message (up to <max_size>, 100: an amplifier for whoever can make an
 * auto-replying user write to them), and N with <offline/> stored it N
 * times, or answered 503 Offline Storage Full about a message that was
 * stored (the second copy over the limit or the sender's share).
 */
interface WalkState {
  /** Forward targets left (MAX_FORWARD_TARGETS per stanza). */
  forwards: number;
  replied: boolean;
  bounced: boolean;
  stored: boolean;
  /**
   * A reply or forward was skipped (a loop, a limit), by this rule or one
   * before it with <continue/>: the stanza is owed a delivery, and an
   * answer or retype later on does not consume it (a skipped forward
   * back, then a rule's auto-reply, lost the message).
   */
  skipped: boolean;
}

/** Why a quiet delivery (see DeliverOptions) gets no reply and no error from the rules. */
const QUIET = 'a copy the server made, such as a message to the host for the admins: an answer would name the recipient';

/** A user's rules, or null when there is no such user (nothing to filter for). */
type UserRules = readonly FilterRule[] | null;

export const modFilter: JsmModule = {
  name: 'mod_filter',
  setup(api) {
    const { policy, defaults } = api.config.jsm.filter;
    const limit = api.config.jsm.offlineLimit;
    // Rules of users who have a session, so that a chat message to them costs
    // a map lookup, not a spool read; dropped when their last session ends.
    const online = new Map<string, UserRules | Promise<UserRules>>();
    // What a filter sent -> how many filters in a row made it (see MAX_CASCADE).
    const cascade = new WeakMap<Element, number>();

    // The rules parsed from each stored record, by its identity (a stored
    // record is never changed in place, see Xdb.peek): a user with no
    // session has no entry in `online`, and parsing thousands of stored
    // rules again for every message sent to them held every other client
    // up for half a second at karma's pace.
    const parsed = new WeakMap<Element, FilterRule[]>();

    async function load(host: string, user: string): Promise<UserRules> {
      if (!(await api.xdb.exists(host, user))) return null;
      return api.xdb.peek(host, user, NS_FILTER, (query) => {
        if (!query) return NONE;
        let rules = parsed.get(query);
        if (rules === undefined) {
          rules = storedRules(query, host, user);
          parsed.set(query, rules);
        }
        return rules;
      });
    }

    function storedRules(query: Element, host: string, user: string): FilterRule[] {
      const rules: FilterRule[] = [];
      for (const rule of query.getChildren('rule')) {
        try {
          rules.push(parseRule(rule, TRUSTED_RULES));
        } catch (err) {
          // Stored by 1.4, or edited by hand: the other rules still work.
          api.log.warn({ user, host, err: (err as Error).message }, 'stored filter rule skipped');
        }
      }
      return rules;
    }

    function rulesOf(d: Delivery): UserRules | Promise<UserRules> {
      const bare = d.to.bare;
      const known = online.get(bare);
      if (known !== undefined) return known;
      const loading = load(d.to.host, d.to.user!);
      if (api.sessions.has(bare)) {
        online.set(bare, loading);
        const settle = (v: UserRules | undefined): void => {
          if (online.get(bare) !== loading) return; // a set or the last logout came first
          if (v === undefined || !api.sessions.has(bare)) online.delete(bare);
          else online.set(bare, v);
        };
        loading.then(settle, () => settle(undefined));
      }
      return loading;
    }

    async function getOrSet(d: Delivery, query: Element): Promise<Outcome> {
      const { stanza, to, from } = d;
      if (from.bare !== to.bare) throw stanzaError('forbidden');
      if (stanza.attrs.type === 'get') {
        const stored = await api.xdb.get(to.host, to.user!, NS_FILTER);
        return iqResult(stanza, new Element('query', { xmlns: NS_FILTER }, stored?.children ?? []));
      }
      const rules = parseRules(query, policy);
      const record = rules.length > 0 ? new Element('query', { xmlns: NS_FILTER }, query.children) : null;
      await api.xdb.set(to.host, to.user!, { [NS_FILTER]: record });
      // Without a session now (the asker's stream closed meanwhile) the
      // rules cached are dropped, not left as they were: a login before its
      // session-end runs would have kept them, and the server acted on
      // rules the user had replaced (a <forward> deleted still forwarding).
      if (api.sessions.has(to.bare)) online.set(to.bare, rules);
      else online.delete(to.bare);
      return iqResult(stanza);
    }

    function factsOf(d: Delivery, roster: Element | undefined): StanzaFacts {
      const bare = d.to.bare;
      const best = api.sessions.best(bare);
      const session = (d.to.resource !== undefined ? api.sessions.find(bare, d.to.resource) : undefined) ?? best;
      const show = trimXmlSpace((session?.presence && clientChildText(session.presence, 'show')) ?? '') || undefined;
      return { stanza: d.stanza, to: d.to, from: d.from, unavailable: best === undefined, show, roster };
    }

    /**
     * Runs the rule's actions, in 1.4's fixed order. True when the stanza is
     * consumed: it went somewhere (bounced with an error, forwarded, stored
     * offline), or it was answered or retyped (1.4 dropped it then) and no
     * reply or forward of the walk was skipped for a loop or a limit. Otherwise it is
     * delivered as usual, so that nothing is lost to a loop.
     */
    async function act(rule: FilterRule, d: Delivery, budget: WalkState): Promise<boolean> {
      const { stanza, to, from } = d;
      const depth = (cascade.get(stanza) ?? 0) + 1;
      const send = (out: Element): Promise<void> => {
        cascade.set(out, depth);
        return api.deliver(out, onward(d));
      };
      const message = stanza.name === 'message';
      let disposed = false;
      let took = false;
      // Debug only: a sender can cause these at will (a forged envelope, a headline flood).
      const skip = (action: string, why: string): void => {
        budget.skipped = true;
        api.log.debug({ user: to.bare, from: from.toString(), action }, `filter ${action} skipped: ${why}`);
      };
      // One answer and one bounce per stanza: a later rule's is already done.
      if (rule.reply !== undefined && message) {
        const why = noAutoReply(stanza, d);
        if (why) skip('reply', why);
        else {
          if (!budget.replied) await send(autoReply(stanza, rule.reply, to, from));
          budget.replied = true;
          took = true;
        }
      }
      if (rule.error && answerable(stanza)) {
        if (from.user === undefined) skip('error', 'the sender is a server or service');
        else if (d.quiet) skip('error', QUIET);
        else {
          if (!budget.bounced) await send(errorReply(stanza, rule.error));
          budget.bounced = true;
          disposed = true;
        }
      }
      // An error stays an error: retyped, it could be answered, and two rules
      // (retype, then bounce) would send it back and forth without end.
      if (rule.settype !== undefined && message && stanza.attrs.type !== 'error') {
        stanza.setAttr('type', rule.settype || undefined);
        took = true;
      }
      if (rule.forward.length > 0 && message) {
        // A copy comes from the rule's owner: a server or service (announce,
        // admin) would act on it with the owner's rights, for whoever wrote
        // the message. Only users are forwarded to.
        const users = rule.forward.filter((t) => t.user !== undefined);
        if (users.length < rule.forward.length) skip('forward', 'a server or service is no forward target');
        // A user the trail names as a forwarder has had the message: sent
        // back, its <offline/> would store it a second time, or it would
        // be shown twice. It stays here instead.
        const unseen = users.filter((t) => !cameBack(stanza, t));
        if (unseen.length < users.length) skip('forward', 'a target has forwarded it already');
        // The set checks bound a user's targets; this bounds rules stored by 1.4 and <default> ones too.
        const targets = unseen.slice(0, budget.forwards);
        if (targets.length < unseen.length) skip('forward', `more than ${MAX_FORWARD_TARGETS} targets for one message`);
        if (!mayPassOn(stanza, to)) skip('forward', 'it came back round, or has been forwarded too often');
        else if (targets.length > 0) {
          budget.forwards -= targets.length;
          for (const copy of forwardCopies(stanza, targets, to, from)) await send(copy);
          disposed = true;
        }
      }
      if (rule.offline && message) {
        // Notices, headlines and groupchat are of the moment: dropped, as mod_offline does.
        // Once per stanza, however many rules say <offline/>.
        if (!budget.stored && !isNotice(stanza) && storable(stanza)) await storeOffline(api, d, limit, true);
        budget.stored = true;
        disposed = true;
      }
      return disposed || (took && !budget.skipped);
    }

    async function walk(d: Delivery, own: readonly FilterRule[]): Promise<Outcome> {
      const rules = [...own, ...defaults].filter((r) => appliesTo(r, d.stanza));
      if (rules.length === 0) return 'pass';
      if ((cascade.get(d.stanza) ?? 0) >= MAX_CASCADE) {
        api.log.warn({ user: d.to.bare, from: d.from.toString() }, 'filter rules not applied: too many filters in a row answered or forwarded this');
        return 'pass';
      }
      const roster = rules.some(needsRoster) ? await readRoster(api.xdb, d.to.host, d.to.user!) : undefined;
      const facts = factsOf(d, roster);
      const budget: WalkState = { forwards: MAX_FORWARD_TARGETS, replied: false, bounced: false, stored: false, skipped: false };
      // A stanza a rule stored offline or bounced is never delivered as usual
      // too, even after a <continue/>: that would store it (or show it) a
      // second time, or answer an iq twice (the bounce, then the recipient).
      const disposed = (): boolean => budget.stored || budget.bounced;
      for (const rule of rules) {
        if (!matches(rule, facts)) continue;
        const consumed = await act(rule, d, budget);
        if (rule.continue) continue;
        return consumed || disposed() ? 'handled' : 'pass';
      }
      return disposed() ? 'handled' : 'pass';
    }

    const filter = (d: Delivery, rules: UserRules): Outcome | Promise<Outcome> =>
      rules === null || (rules.length === 0 && defaults.length === 0) ? 'pass' : walk(d, rules);

    api.on(
      'deliver',
      (d) => {
        const { stanza } = d;
        if (stanza.name === 'iq') {
          if (!isRequest(stanza)) return 'pass';
          const query = payloadIn(stanza, NS_FILTER, 'query');
          if (query && d.to.resource === undefined) return getOrSet(d, query);
          // The user's own requests to their account (roster, private, ...) are theirs to make.
          if (d.from.bare === d.to.bare) return 'pass';
          // Another account's is refused at a full JID too, whichever child
          // is in the namespace and however written: nobody's client is asked for a user's rules.
          if (childInNamespace(stanza, NS_FILTER) >= 0) throw stanzaError('forbidden');
        }
        const rules = rulesOf(d);
        return rules instanceof Promise ? rules.then((r) => filter(d, r)) : filter(d, rules);
      },
      { stanzas: ['message', 'iq'], priority: BEFORE_USER_MODULES },
    );
    api.on('session-end', (s) => {
      if (!api.sessions.has(s.jid.bare)) online.delete(s.jid.bare);
    });
    api.on('user-removed', ({ host, user }) => {
      online.delete(`${user}@${host}`);
    });
  },
};
