// jabber:iq:register from the client side (SPEC section 3): ask which
// fields the server wants, then create an account. Works before login; the
// stream stays unauthenticated afterwards and may register again.
import type { Element } from '../xml/element.js';
import type { ClientStream } from './client-stream.js';
import { field, queryIq, requestResult } from './iq.js';

export const NS_REGISTER = 'jabber:iq:register';

// Children of a register query that are not fields to fill in (XEP-0077).
const NOT_FIELDS = new Set(['instructions', 'key', 'registered', 'remove']);

export interface RegistrationForm {
  /** The <instructions> text, if the server sent one. */
  instructions: string | undefined;
  /** Field names in the order the server listed them (username and password included). */
  fields: string[];
  /** The server's <query>, for anything else a caller wants from it. */
  query: Element;
}

/** Field values in the order they should be sent; username and password are fields like any other. */
export type RegistrationFields = Record<string, string> | Iterable<readonly [string, string]>;

export interface RequestOptions {
  /** Milliseconds to wait for the reply (default: ClientStream.request's). */
  timeout?: number;
}

/** Sends the register get; rejects with IqError when registration is off (501) or refused. */
export async function registrationForm(stream: ClientStream, opts: RequestOptions = {}): Promise<RegistrationForm> {
  const reply = await requestResult(stream, queryIq('get', NS_REGISTER), opts.timeout);
  const query = reply.getChild('query', NS_REGISTER) ?? reply.getChild('query');
  if (!query) return { instructions: undefined, fields: [], query: queryIq('get', NS_REGISTER).elements[0]! };
  const fields = query.elements
    // A child in another namespace (a jabber:x:data form, say) is not a legacy field.
    .filter((e) => !NOT_FIELDS.has(e.name) && (e.attrs.xmlns === undefined || e.attrs.xmlns === NS_REGISTER))
    .map((e) => e.name);
  return { instructions: query.getChildText('instructions')?.trim(), fields: [...new Set(fields)], query };
}

/**
 * Creates an account: one register set carrying every field, in the given
 * order. Resolves on success; rejects with IqError (409 Username Not
 * Available, 406 Not Acceptable, 501 Not Implemented, ...).
 */
export async function register(stream: ClientStream, fields: RegistrationFields, opts: RequestOptions = {}): Promise<void> {
  const entries = Symbol.iterator in fields ? [...fields] : Object.entries(fields);
  await requestResult(stream, queryIq('set', NS_REGISTER, entries.map(([k, v]) => field(k, v))), opts.timeout);
}
