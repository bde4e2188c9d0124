// Yak's protections in the jsm config: <register_policy> (who may register
// how often, reserved names, password length) and <login_throttle> (how
// failed logins are slowed). Both are on with sane defaults when absent.
import { canonicalAddress } from '../net/peer-address.js';
import type { Element } from '../xml/element.js';
import { ConfigError, type LoginThrottleSettings, type RegisterPolicyConfig } from './types.js';
import { INT_MAX, SECONDS_MAX, about, intChild, intValue, tag, textOf } from './values.js';

/** Loopback: local scripts and benchmarks are never throttled by default. */
const LOOPBACK = ['127.0.0.1', '::1'];

/** Names that would let a stranger pose as the server's staff. */
const BUILTIN_RESERVED = ['admin', 'root', 'postmaster', 'hostmaster', 'webmaster', 'abuse'];

export function readRegisterPolicy(p: Element | undefined): RegisterPolicyConfig {
  const policy: RegisterPolicyConfig = {
    rate: { max: 5, period: 600 },
    allow: [...LOOPBACK],
    reserved: [...BUILTIN_RESERVED],
    minPassword: 0,
  };
  if (!p) return policy;
  const rate = p.getChild('rate');
  if (rate) {
    policy.rate = about(rate, () => ({
      max: intValue(rate.attr('max'), tag(rate), 'max', 0, INT_MAX, policy.rate.max),
      period: intValue(rate.attr('period'), tag(rate), 'period', 1, SECONDS_MAX, policy.rate.period),
    }));
  }
  const allow = addresses(p.getChildren('allow'));
  if (p.getChildren('allow').length > 0) policy.allow = allow;
  for (const r of p.getChildren('reserved')) {
    const name = textOf(r).toLowerCase();
    if (name && !policy.reserved.includes(name)) policy.reserved.push(name);
  }
  policy.minPassword = intChild(p, 'minpassword', 0, 1023, 0);
  return policy;
}

export function readLoginThrottle(t: Element | undefined): LoginThrottleSettings {
  const s: LoginThrottleSettings = { free: 3, baseMs: 100, maxMs: 1000, forgetMs: 15 * 60 * 1000, exempt: [] };
  if (!t) return s;
  const where = tag(t);
  about(t, () => {
    s.free = intValue(t.attr('free'), where, 'free', 0, INT_MAX, s.free);
    s.baseMs = intValue(t.attr('base'), where, 'base (ms)', 0, 600_000, s.baseMs);
    s.maxMs = intValue(t.attr('max'), where, 'max (ms)', 0, 3_600_000, s.maxMs);
    s.forgetMs = intValue(t.attr('forget'), where, 'forget (seconds)', 1, SECONDS_MAX, s.forgetMs / 1000) * 1000;
  });
  s.exempt = addresses(t.getChildren('exempt'));
  return s;
}

/**
 * The IP addresses of <allow> or <exempt> elements (empty ones skipped), in
 * the form a client's address is compared in (canonicalAddress): written
 * `2001:DB8::5`, `::ffff:10.0.0.9` or with leading zeros, an entry would
 * otherwise never match, without a word. Anything else is refused.
 */
function addresses(els: Element[]): string[] {
  const out: string[] = [];
  for (const el of els) {
    const text = textOf(el);
    if (text === '') continue;
    const address = canonicalAddress(text);
    if (address === undefined) throw new ConfigError(`${tag(el)}: '${text}' is not an IP address`, el);
    out.push(address);
  }
  return out;
}
