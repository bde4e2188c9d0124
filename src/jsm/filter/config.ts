// The <filter> section of the jsm config (jabberd 1.4's names): the most
// rules a user may store, which conditions and actions users may use, and
// server-wide rules tried after every user's own.
import type { Element } from '../../xml/element.js';
import { ACTIONS, CONDITIONS, DEFAULT_MAX_SIZE, parseRule, type FilterPolicy, type FilterRule } from './rules.js';

export interface FilterConfig {
  /** What a user's rule set must pass. */
  policy: FilterPolicy;
  /** <default> rules, after every user's own. */
  defaults: FilterRule[];
}

/** Everything Yak knows, no count limit: for rules already stored and for the admin's <default> ones. */
export const TRUSTED_RULES: FilterPolicy = { maxSize: Infinity, conditions: undefined, actions: undefined };

function allowed(list: Element | undefined, known: readonly string[], warn: (msg: string) => void): ReadonlySet<string> {
  const names = new Set(list?.elements.map((e) => e.name) ?? []);
  for (const n of names) if (!known.includes(n)) warn(`<filter><allow>: '${n}' is not a condition or action Yak provides; ignored`);
  return names;
}

/** Reads the section; problems are reported through `warn` and fall back to 1.4's defaults. */
export function filterConfig(section: Element | undefined, warn: (msg: string) => void): FilterConfig {
  let maxSize = DEFAULT_MAX_SIZE;
  const sizeText = section?.getChildText('max_size')?.trim();
  if (sizeText !== undefined) {
    const n = Number(sizeText);
    if (Number.isInteger(n) && n > 0) maxSize = n;
    else warn(`<filter><max_size>${sizeText}</max_size> is not a positive whole number; using ${DEFAULT_MAX_SIZE}`);
  }
  // Without an allow list everything Yak knows is allowed (1.4 refused every rule).
  const allow = section?.getChild('allow');
  const policy: FilterPolicy = {
    maxSize,
    conditions: allow && allowed(allow.getChild('conditions'), CONDITIONS, warn),
    actions: allow && allowed(allow.getChild('actions'), ACTIONS, warn),
  };
  const defaults: FilterRule[] = [];
  for (const rule of section?.getChild('default')?.elements ?? []) {
    try {
      if (rule.name !== 'rule') throw new Error(`<${rule.name}> is not a <rule>`);
      defaults.push(parseRule(rule, TRUSTED_RULES));
    } catch (err) {
      warn(`<filter><default>: a rule is skipped: ${(err as Error).message}`);
    }
  }
  return { policy, defaults };
}
