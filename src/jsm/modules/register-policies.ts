// Registration policy (Yak): small modules hooked in front of mod_register
// that can only say no. They run whenever mod_register does; each is
// configured (or switched off) in <register_policy>, see config/policy.ts.
import { nodeprep } from '../../jid.js';
import type { RegisterPolicyConfig } from '../../config/types.js';
import { limitKey } from '../../net/peer-address.js';
import type { JsmModule, ModuleApi, RegisterRequest } from '../api.js';
import { stanzaError } from '../stanza-errors.js';
import { allAdmins } from './admins.js';
import { newAccountRequest } from './mod_register.js';
import { monotonicMs } from '../../util/time.js';

/** Runs before mod_register, whatever the <load> order. */
const BEFORE_REGISTER = { priority: 100 };

/**
 * The account a request asks to create (a set before a session, not a
 * removal), or undefined for any other request. An incomplete one is
 * refused here with mod_register's 406, before any policy counts or judges
 * it: a request without a password is told so, whatever its name, and
 * takes no place in the rate count.
 */
function newAccount(api: ModuleApi, req: RegisterRequest): { user: string } | undefined {
  if (req.session || req.iq.attrs.type !== 'set' || req.query.getChild('remove')) return undefined;
  return newAccountRequest(api, req.query);
}

/**
 * How long a registration that passed the rate check holds its place while
 * the account is created (a journal write: milliseconds). One that fails
 * (a taken name) gives it back this much later at most.
 */
const RESERVATION_MS = 10_000;

/**
 * At most N new accounts per period from one address (loopback exempt by
 * default). Counted per limitKey (an IPv6 client's /64); <allow> and the
 * log name exact addresses.
 */
const registerRateLimit: JsmModule = {
  name: 'register_rate_limit',
  setup(api) {
    // Read at each use: SIGHUP may change the policy.
    const policy = (): RegisterPolicyConfig => api.config.jsm.registerPolicy;
    const recent = new Map<string, number[]>();
    // Places taken by registrations still being created: counting only
    // created accounts let a burst of simultaneous requests all pass.
    const reserved = new Map<string, number[]>();
    const fresh = (key: string, now: number): number[] => (recent.get(key) ?? []).filter((t) => now - t < policy().rate.period * 1000);
    const held = (key: string, now: number): number[] => (reserved.get(key) ?? []).filter((t) => now - t < RESERVATION_MS);
    // Keep the maps small: drop keys whose window has passed.
    const trim = (now: number): void => {
      if (recent.size > 10_000) for (const [a] of recent) if (fresh(a, now).length === 0) recent.delete(a);
      if (reserved.size > 10_000) for (const [a] of reserved) if (held(a, now).length === 0) reserved.delete(a);
    };
    api.on(
      'register',
      (req) => {
        const { rate, allow } = policy();
        const address = req.client.address;
        if (rate.max === 0 || allow.includes(address) || !newAccount(api, req)) return 'pass';
        const key = limitKey(address);
        const now = monotonicMs();
        const holding = held(key, now);
        if (fresh(key, now).length + holding.length >= rate.max) {
          api.log.warn({ address }, 'registration refused: rate limit');
          throw stanzaError('resource-constraint', 'Too many registrations from your address; try again later');
        }
        reserved.set(key, [...holding, now]);
        trim(now);
        return 'pass';
      },
      BEFORE_REGISTER,
    );
    api.on('user-created', (ev) => {
      const { rate, allow } = policy();
      if (rate.max === 0 || !ev.address || allow.includes(ev.address)) return;
      const key = limitKey(ev.address);
      const now = monotonicMs();
      recent.set(key, [...fresh(key, now), now]);
      // The account exists: its place moves from reserved to recent.
      const holding = held(key, now).slice(1);
      if (holding.length > 0) reserved.set(key, holding);
      else reserved.delete(key);
      trim(now);
    });
  },
};

/**
 * Names that would let a stranger pose as staff (and the config's own
 * list), and the names of the host's <admin> JIDs: registered by whoever
 * comes first, such a name would hand a stranger the admin's rights
 * (who is online, announcements to everyone).
 */
const registerReservedNames: JsmModule = {
  name: 'register_reserved_names',
  setup(api) {
    api.on(
      'register',
      (req) => {
        const account = newAccount(api, req);
        if (!account) return 'pass';
        const reserved = api.config.jsm.registerPolicy.reserved.map((n) => nodeprep(n) ?? n);
        if (reserved.includes(account.user) || allAdmins(api).includes(`${account.user}@${req.host}`)) {
          throw stanzaError('conflict', 'Username Not Available');
        }
        return 'pass';
      },
      BEFORE_REGISTER,
    );
  },
};

/** A minimum password length, for new accounts and password changes alike. */
const registerPasswordLength: JsmModule = {
  name: 'register_password_length',
  setup(api) {
    api.on(
      'register',
      (req) => {
        const min = api.config.jsm.registerPolicy.minPassword;
        if (min === 0 || req.iq.attrs.type !== 'set') return 'pass';
        const password = req.query.getChildText('password');
        if (password !== undefined && password !== '' && [...password].length < min) {
          throw stanzaError('not-acceptable', `Password too short: use at least ${min} characters`);
        }
        return 'pass';
      },
      BEFORE_REGISTER,
    );
  },
};

export const REGISTER_POLICIES: readonly JsmModule[] = [registerRateLimit, registerReservedNames, registerPasswordLength];
