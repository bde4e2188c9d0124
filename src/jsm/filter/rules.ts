// jabber:iq:filter rules (mod_filter): what a stored <rule> means, and the
// checks a user's rule set must pass before it is stored. The wire and
// spool form stays the user's own XML (1.4 stored the query as sent); this
// is the parsed form the filter walks for every stanza.
import { parseJid, type Jid } from '../../jid.js';
import type { Element } from '../../xml/element.js';
import { STANZA_ERRORS, StanzaError, stanzaError, type StanzaCondition } from '../stanza-errors.js';
import { trimXmlSpace } from '../../xml/chars.js';

export const NS_FILTER = 'jabber:iq:filter';

export const CONDITIONS = ['ns', 'unavailable', 'from', 'resource', 'subject', 'body', 'show', 'type', 'roster', 'group'] as const;
export const ACTIONS = ['error', 'offline', 'forward', 'reply', 'continue', 'settype'] as const;
export type ConditionName = (typeof CONDITIONS)[number];
export type ActionName = (typeof ACTIONS)[number];

const CONDITION_NAMES: ReadonlySet<string> = new Set(CONDITIONS);
const ACTION_NAMES: ReadonlySet<string> = new Set(ACTIONS);

/** Conditions only a message can meet; a rule with one never applies to an iq. */
const MESSAGE_ONLY_CONDITIONS: readonly ConditionName[] = ['subject', 'body', 'type'];

const SETTYPES: ReadonlySet<string> = new Set(['', 'normal', 'chat', 'groupchat', 'headline']);
const SHOWS: ReadonlySet<string> = new Set(['away', 'chat', 'dnd', 'xa']);

export interface FilterRule {
  /** Condition name -> the texts it lists (any one matching is enough). */
  conditions: Map<ConditionName, string[]>;
  /** Prepared bare JIDs of the <from> conditions. */
  from: string[];
  reply: string | undefined;
  error: StanzaError | undefined;
  /** The new type ('' removes it); undefined when the rule has no <settype>. */
  settype: string | undefined;
  forward: Jid[];
  offline: boolean;
  continue: boolean;
  /** Whether the rule can apply to an iq: only <error> and <continue> act on one, and no message-only condition. */
  forIq: boolean;
  /** Whether the rule can apply to a message (a rule with <ns> cannot). */
  forMessage: boolean;
}

/** The <filter> section of the jsm config, as the checks use it. */
export interface FilterPolicy {
  maxSize: number;
  /** Allowed condition and action names; undefined: every one Yak knows. */
  conditions: ReadonlySet<string> | undefined;
  actions: ReadonlySet<string> | undefined;
}

export const DEFAULT_MAX_SIZE = 100;

/** Everything Yak knows, no count limit: for rules already stored and for the admin's <default> ones. */
export const TRUSTED_RULES: FilterPolicy = { maxSize: Infinity, conditions: undefined, actions: undefined };

/**
 * Forward targets in one user's rules together. Every message to the user
 * makes a copy per target, and the targets may forward again (see
 * MAX_FORWARD_HOPS in envelope.ts): 1.4 set no bound on either.
 */
export const MAX_FORWARD_TARGETS = 5;

const refuse = (text: string): StanzaError => stanzaError('not-acceptable', text);
const INVALID_RULE = 'Invalid rule, check rule size and tags';

/** The condition behind a legacy error code, for <error code='N'> actions. */
function conditionOfCode(code: number): StanzaCondition | undefined {
  for (const [name, def] of Object.entries(STANZA_ERRORS)) if (def.code === code) return name as StanzaCondition;
  return undefined;
}

function errorAction(e: Element): StanzaError {
  const code = e.attrs.code?.trim();
  const condition = code === undefined ? 'service-unavailable' : conditionOfCode(/^\d{3}$/.test(code) ? Number(code) : NaN);
  if (condition === undefined) throw refuse(`unknown error code '${code}'`);
  const text = trimXmlSpace(e.text());
  return text ? new StanzaError(condition, text) : new StanzaError(condition);
}

function jidIn(e: Element): Jid {
  const jid = parseJid(e.text().trim());
  if (!jid) throw refuse(`invalid JID in <${e.name}>`);
  return jid;
}

/** Parses one <rule>; throws the 406 StanzaError a set gets when it does not pass. */
export function parseRule(rule: Element, policy: FilterPolicy): FilterRule {
  const r: FilterRule = {
    conditions: new Map(),
    from: [],
    reply: undefined,
    error: undefined,
    settype: undefined,
    forward: [],
    offline: false,
    continue: false,
    forIq: true,
    forMessage: true,
  };
  for (const e of rule.elements) {
    const name = e.name;
    const isCondition = CONDITION_NAMES.has(name);
    const allowed = isCondition
      ? (policy.conditions ?? CONDITION_NAMES).has(name)
      : ACTION_NAMES.has(name) && (policy.actions ?? ACTION_NAMES).has(name);
    if (!allowed) throw refuse(`tag type '${name}' can not be used on this server`);
    const text = trimXmlSpace(e.text());
    if (isCondition) {
      const c = name as ConditionName;
      if (c === 'from') r.from.push(jidIn(e).bare);
      if (c === 'show' && !SHOWS.has(text)) throw refuse('show must be away, chat, dnd or xa');
      const list = r.conditions.get(c);
      if (list) list.push(text);
      else r.conditions.set(c, [text]);
      continue;
    }
    switch (name as ActionName) {
      case 'reply':
        r.reply = e.text();
        break;
      case 'error':
        r.error = errorAction(e);
        break;
      case 'settype':
        if (!SETTYPES.has(text)) throw refuse('settype must be normal, chat, groupchat or headline');
        r.settype = text;
        break;
      case 'forward':
        r.forward.push(jidIn(e));
        break;
      case 'offline':
        r.offline = true;
        break;
      case 'continue':
        r.continue = true;
        break;
    }
  }
  // Only <error> and <continue> do anything to an iq: a rule with another action is for messages.
  const messageOnlyAction = r.reply !== undefined || r.settype !== undefined || r.forward.length > 0 || r.offline;
  if (r.conditions.has('ns')) {
    // 1.4 meant this check but inverted it (an ns rule needed reply AND settype).
    if (messageOnlyAction) throw refuse('ns tag cannot be used this way');
    r.forMessage = false;
  }
  r.forIq = !messageOnlyAction && !MESSAGE_ONLY_CONDITIONS.some((c) => r.conditions.has(c));
  return r;
}

/** Parses a whole <query xmlns='jabber:iq:filter'>; throws a 406 StanzaError when a set must be refused. */
export function parseRules(query: Element, policy: FilterPolicy): FilterRule[] {
  const children = query.elements;
  // 1.4 accepted max_size - 1 rules (it counted down to zero before storing).
  if (children.length > policy.maxSize || children.some((e) => e.name !== 'rule')) throw refuse(INVALID_RULE);
  const rules = children.map((rule) => parseRule(rule, policy));
  if (tooManyForwardTargets(rules)) throw refuse(`at most ${MAX_FORWARD_TARGETS} forward targets in all rules`);
  return rules;
}

/** Whether the rules together forward one message to more than MAX_FORWARD_TARGETS. */
export function tooManyForwardTargets(rules: readonly FilterRule[]): boolean {
  return rules.reduce((n, r) => n + r.forward.length, 0) > MAX_FORWARD_TARGETS;
}
