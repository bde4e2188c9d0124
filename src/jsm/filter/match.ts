// Whether a jabber:iq:filter rule matches a stanza. Each kind of condition
// in a rule must hold; several of one kind match if any one does (1.4 ran
// them through one shared flag, which let a failing <unavailable/> after a
// matching <from> still fire the rule).
import type { Jid } from '../../jid.js';
import { childInNamespace, type Element } from '../../xml/element.js';
import { shownTexts } from '../client-children.js';
import { findItem } from '../roster.js';
import type { ConditionName, FilterRule } from './rules.js';
import { trimXmlSpace } from '../../xml/chars.js';

/** What the conditions look at, gathered once per stanza. */
export interface StanzaFacts {
  stanza: Element;
  /** The address the stanza was sent to (prepared). */
  to: Jid;
  from: Jid;
  /** No session of the user takes a message for the bare JID. */
  unavailable: boolean;
  /** The <show> of the session the stanza is for, if any. */
  show: string | undefined;
  /** The user's roster; only read when a rule asks (see needsRoster). */
  roster: Element | undefined;
}

/** Whether the rule can apply to this kind of stanza at all. */
export function appliesTo(rule: FilterRule, stanza: Element): boolean {
  return stanza.name === 'iq' ? rule.forIq : rule.forMessage;
}

export function needsRoster(rule: FilterRule): boolean {
  return rule.conditions.has('roster') || rule.conditions.has('group');
}

/**
 * Whether `a`, trimmed, is one of `texts` in any case. `a` is lowered
 * once, not once per text: a rule may list thousands of bodies and a body
 * be 250 KB, and that product of work froze the server for seconds.
 */
function sameAsAny(a: string | undefined, texts: string[]): boolean {
  if (a === undefined) return false;
  const lowered = trimXmlSpace(a).toLowerCase();
  return texts.some((t) => t !== '' && lowered === t.toLowerCase());
}

function holds(name: ConditionName, texts: string[], rule: FilterRule, f: StanzaFacts): boolean {
  const { stanza, to, from } = f;
  switch (name) {
    case 'unavailable':
      return f.unavailable;
    case 'from':
      return rule.from.includes(from.bare);
    case 'resource':
      return sameAsAny(to.resource, texts);
    case 'subject':
    case 'body':
      // Any the recipient's client may show (see shownTexts).
      return shownTexts(stanza, name).some((t) => sameAsAny(t, texts));
    case 'show':
      return f.show !== undefined && texts.includes(f.show);
    case 'type':
      return texts.includes(stanza.attrs.type ?? 'normal');
    case 'ns':
      // Any child in the namespace, however written: a client answers the
      // request it finds, whether or not it comes first or has a prefix.
      return texts.some((ns) => childInNamespace(stanza, ns) >= 0);
    case 'roster':
      return rosterItem(f) !== undefined;
    case 'group':
      return rosterItem(f)?.getChildren('group').some((g) => texts.includes(g.text())) ?? false;
  }
}

/** The sender's item in the user's roster, as the user sees it (hidden items are bookkeeping of requests). */
function rosterItem(f: StanzaFacts): Element | undefined {
  const item = f.roster && findItem(f.roster, f.from.bare);
  return item?.attrs.hidden === undefined ? item : undefined;
}

/** True when every kind of condition in the rule holds (a rule without conditions matches everything). */
export function matches(rule: FilterRule, f: StanzaFacts): boolean {
  for (const [name, texts] of rule.conditions) if (!holds(name, texts, rule, f)) return false;
  return true;
}
