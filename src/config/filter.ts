// <filter> in the jsm config (jabberd 1.4's names, for mod_filter): the
// most rules a user may store, the conditions and actions users may use,
// and server-wide rules tried after every user's own. Read with the rest of
// the config, so that a mistake stops startup (and `jabberd --check`)
// instead of surfacing when the first user sets a rule.
import type { Element } from '../xml/element.js';
import {
  ACTIONS,
  CONDITIONS,
  DEFAULT_MAX_SIZE,
  MAX_FORWARD_TARGETS,
  parseRule,
  tooManyForwardTargets,
  TRUSTED_RULES,
  type FilterPolicy,
  type FilterRule,
} from '../jsm/filter/rules.js';
import { StanzaError } from '../jsm/stanza-errors.js';
import { ConfigError } from './types.js';
import { INT_MAX, intChild, tag } from './values.js';

export interface FilterConfig {
  /** What a user's rule set must pass. */
  policy: FilterPolicy;
  /** <default> rules, after every user's own. */
  defaults: FilterRule[];
}

function allowed(list: Element | undefined, known: readonly string[], where: string): ReadonlySet<string> {
  for (const e of list?.elements ?? []) {
    if (!known.includes(e.name)) throw new ConfigError(`${where}: <${e.name}/> is not one of Yak's: ${known.map((k) => `<${k}/>`).join(' ')}`, e);
  }
  return new Set(list?.elements.map((e) => e.name) ?? []);
}

function readDefaults(section: Element | undefined): FilterRule[] {
  const list = section?.getChild('default');
  if (!list) return [];
  const where = `<filter>${tag(list)}`;
  const rules = list.elements.map((rule, i) => {
    if (rule.name !== 'rule') throw new ConfigError(`${where}: <${rule.name}> is not a <rule>`, rule);
    try {
      return parseRule(rule, TRUSTED_RULES);
    } catch (err) {
      // A user would read the 406 text; the admin gets the same words.
      throw new ConfigError(`${where}: rule ${i + 1}: ${err instanceof StanzaError ? err.text : (err as Error).message}`, rule);
    }
  });
  if (tooManyForwardTargets(rules)) throw new ConfigError(`${where}: at most ${MAX_FORWARD_TARGETS} <forward> targets in all rules`, list);
  return rules;
}

/** Reads the section; undefined (no section) means 1.4's max_size and every condition and action allowed. */
export function readFilter(section: Element | undefined): FilterConfig {
  // Without an allow list everything Yak knows is allowed (1.4 refused every rule).
  const allow = section?.getChild('allow');
  return {
    policy: {
      maxSize: section ? intChild(section, 'max_size', 1, INT_MAX, DEFAULT_MAX_SIZE) : DEFAULT_MAX_SIZE,
      conditions: allow && allowed(allow.getChild('conditions'), CONDITIONS, '<filter><allow><conditions>'),
      actions: allow && allowed(allow.getChild('actions'), ACTIONS, '<filter><allow><actions>'),
    },
    defaults: readDefaults(section),
  };
}
