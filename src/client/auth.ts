// jabber:iq:auth from the client side (SPEC section 5, XEP-0078): find out
// which methods the server offers for a user, then log in with plain,
// digest or zero-knowledge credentials.
import type { Element } from '../xml/element.js';
import { digestFor, zerokHash } from '../util/hash.js';
import type { ClientStream } from './client-stream.js';
import { field, queryIq, requestResult } from './iq.js';

export const NS_AUTH = 'jabber:iq:auth';

export type AuthMethod = 'plain' | 'digest' | '0k';

/**
 * Preference when the caller does not choose. Digest first: it never puts
 * the password on the wire, and with Yak's random stream ids a captured
 * digest is useless on another connection; it also leaves the 0k chain
 * alone. Then 0k, which also hides the password but spends one link of the
 * chain per login (and is all a server without stored plaintexts offers).
 * Plain last.
 */
export const METHOD_PREFERENCE: readonly AuthMethod[] = ['digest', '0k', 'plain'];

export interface AuthOffer {
  /** Methods offered for this user, in the order the server listed them. */
  methods: AuthMethod[];
  /** 0k: the sequence to hash to and the token, when 0k is offered. */
  sequence: number | undefined;
  token: string | undefined;
  /** The server's <query>. */
  query: Element;
}

export interface LoginOptions {
  username: string;
  password: string;
  /** Default 'yak'. */
  resource?: string;
  /**
   * Force a method. 'plain' and 'digest' then skip the get (one round trip,
   * the server decides); '0k' always needs the get for its token and sequence.
   * Unset: the get is sent and the best offered method is used.
   */
  method?: AuthMethod;
  /** Milliseconds to wait for each reply. */
  timeout?: number;
}

export interface LoginResult {
  method: AuthMethod;
  /** user@host/resource as we asked for it (host from the server's header). */
  jid: string;
}

/** The server offered none of the methods we could use. */
export class NoAuthMethodError extends Error {}

/** Sends the auth get for `username`; rejects with IqError (401 unknown user, 406 bad name). */
export async function authOffer(stream: ClientStream, username: string, timeout?: number): Promise<AuthOffer> {
  const reply = await requestResult(stream, queryIq('get', NS_AUTH, [field('username', username)]), timeout);
  const query = reply.getChild('query', NS_AUTH) ?? reply.getChild('query') ?? queryIq('get', NS_AUTH).elements[0]!;
  const methods: AuthMethod[] = [];
  const sequence = Number(query.getChildText('sequence')?.trim());
  const token = query.getChildText('token')?.trim();
  const zerok = Number.isInteger(sequence) && sequence >= 0 && !!token;
  for (const e of query.elements) {
    if (e.name === 'password') methods.push('plain');
    else if (e.name === 'digest') methods.push('digest');
    else if (e.name === 'sequence' && zerok) methods.push('0k');
  }
  return { methods, sequence: zerok ? sequence : undefined, token: zerok ? token : undefined, query };
}

/** The best offered method by METHOD_PREFERENCE, undefined when none is usable. */
export function chooseMethod(offer: AuthOffer): AuthMethod | undefined {
  return METHOD_PREFERENCE.find((m) => offer.methods.includes(m));
}

/**
 * Logs in; on success the stream carries the session user@host/resource.
 * Rejects with IqError (401 bad credentials, 406 missing resource),
 * NoAuthMethodError, or the stream's own errors.
 */
export async function login(stream: ClientStream, opts: LoginOptions): Promise<LoginResult> {
  const resource = opts.resource ?? 'yak';
  let method = opts.method;
  let offer: AuthOffer | undefined;
  if (method === undefined || method === '0k') {
    offer = await authOffer(stream, opts.username, opts.timeout);
    method ??= chooseMethod(offer);
    if (method === undefined) throw new NoAuthMethodError(`the server offers no usable login method for ${opts.username}`);
    if (!offer.methods.includes(method)) throw new NoAuthMethodError(`the server does not offer ${method} login for ${opts.username}`);
  }
  const credential =
    method === 'plain'
      ? field('password', opts.password)
      : method === 'digest'
        ? field('digest', digestFor(stream.streamId, opts.password))
        : field('hash', zerokHash(opts.password, offer!.token!, offer!.sequence!));
  await requestResult(
    stream,
    queryIq('set', NS_AUTH, [field('username', opts.username), credential, field('resource', resource)]),
    opts.timeout,
  );
  return { method, jid: `${opts.username}@${stream.header?.from ?? ''}/${resource}` };
}
