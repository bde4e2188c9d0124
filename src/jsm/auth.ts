// Pre-session jabber:iq:auth (SPEC section 5): the core part that every
// auth module shares. It validates the request, reads the user's records
// once, and lets the loaded auth modules answer the get (each adds its
// marker) or accept the set. The modules never see a missing user.
import { nodeprep, resourceprep } from '../jid.js';
import { Element } from '../xml/element.js';
import { NS_AUTH, NS_AUTH_0K, NS_AUTH_CRYPT, type Xdb } from '../xdb/xdb.js';
import type { AuthRequest, ClientInfo } from './api.js';
import type { GateOutcome } from './login-throttle.js';
import type { PhaseChains } from './phase-chains.js';
import { stanzaError } from './stanza-errors.js';
import { trimXmlSpace } from '../xml/chars.js';

export interface AuthSuccess {
  user: string;
  resource: string;
}

/** What the auth modules look at: the password (existence flag), the 0k chain, and a 1.4 crypt hash. */
const AUTH_RECORDS = [NS_AUTH, NS_AUTH_0K, NS_AUTH_CRYPT] as const;

/** The prepared username of a query (406 when missing or invalid). */
export function usernameOf(query: Element): string {
  const raw = trimXmlSpace(query.getChildText('username') ?? '');
  const user = raw === '' ? undefined : nodeprep(raw);
  if (!user) throw stanzaError('not-acceptable');
  return user;
}

/** The get: username, each module's marker in <load> order, then <resource/>. */
export async function authGet(
  chains: PhaseChains,
  xdb: Xdb,
  client: ClientInfo,
  iq: Element,
  query: Element,
): Promise<Element> {
  const user = usernameOf(query);
  const records = await xdb.getSome(client.host, user, AUTH_RECORDS);
  if (!records.has(NS_AUTH)) throw stanzaError('not-authorized');
  const reply = new Element('query', { xmlns: NS_AUTH }, [new Element('username', {}, [user])]);
  const req: AuthRequest = { client, iq, query, user, records };
  for (const h of chains.handlers('auth-get')) h(req, reply);
  reply.children.push(new Element('resource'));
  return reply;
}

/**
 * Which credential elements the client sent, for the log line: one method,
 * or several joined by '+' (which of them decided depends on the <load>
 * order, so naming just one could name the wrong one).
 */
export function methodOf(query: Element): string {
  const given = CREDENTIALS.filter(([element]) => query.getChild(element)).map(([, method]) => method);
  return given.length === 0 ? 'none' : given.join('+');
}

const CREDENTIALS: [element: string, method: string][] = [
  ['password', 'plain'],
  ['digest', 'digest'],
  ['hash', '0k'],
];

/**
 * The set: returns the prepared user and resource when a module accepted the
 * credentials; throws a StanzaError otherwise (406 not acceptable, 401 refused).
 * An unknown user goes through the same path as a wrong password, so the
 * reply does not tell which it was. `gate`: the failed-login throttle's,
 * called once the user's file is read (see below).
 */
export async function authSet(
  chains: PhaseChains,
  xdb: Xdb,
  client: ClientInfo,
  iq: Element,
  query: Element,
  gate: () => Promise<GateOutcome>,
): Promise<AuthSuccess> {
  const user = usernameOf(query);
  const rawResource = trimXmlSpace(query.getChildText('resource') ?? '');
  // Trimmed again once prepared: NFKC turns a no-break or ideographic
  // space into a plain one, and a resource of those, or one ending in one
  // (`Work` and `Work ` look alike), must not come out blank or padded.
  const prepared = rawResource === '' ? undefined : resourceprep(rawResource);
  const resource = prepared === undefined ? undefined : trimXmlSpace(prepared) || undefined;
  if (!resource) throw stanzaError('not-acceptable');
  // The file is read before the failed-login gate, not after: from the
  // gate to the failure counted below nothing then waits on the disk, so
  // of guesses sent at once each is counted before the next one's gate.
  // (With the read in between, for a user not in memory every guess sent
  // at once passed the gate before the first had failed.)
  let records = await xdb.getSome(client.host, user, AUTH_RECORDS);
  const passed = await gate();
  if (passed === 'gone') throw stanzaError('not-authorized');
  // Slowed: the password may have changed meanwhile.
  if (passed === 'waited') records = await xdb.getSome(client.host, user, AUTH_RECORDS);
  if (!records.has(NS_AUTH)) throw stanzaError('not-authorized');
  const req: AuthRequest = { client, iq, query, user, records };
  const out = await chains.first('auth-set', req);
  if (out === 'pass') throw stanzaError('not-authorized');
  return { user, resource };
}
