// The stream header exchange (SPEC section 1): checking the client's
// header, choosing the virtual host, and writing ours.
import type { AliasConfig } from '../config/types.js';
import { nameprep } from '../jid.js';
import { escapeAttr } from '../xml/element.js';
import type { StreamErrorKind } from './stream-errors.js';
import { trimXmlSpace } from '../xml/chars.js';

export const NS_STREAM = 'http://etherx.jabber.org/streams';
const NS_CLIENT = 'jabber:client';

export interface HeaderCheck {
  /** The host the connection belongs to, when the header is acceptable. */
  host: string | undefined;
  error: StreamErrorKind | undefined;
  /** The client asked for an XMPP 1.0 stream (gets version='1.0' and features). */
  modern: boolean;
}

/**
 * Maps the client's `to` to a served host: a named alias first, then the
 * default alias (<alias to='yak'/>), which overrides any other name, served
 * hosts included (SPEC section 1; 1.4 looked up the name, then "default"),
 * then the host itself.
 */
function resolveHost(to: string, hosts: readonly string[], aliases: readonly AliasConfig[]): string | undefined {
  const name = nameprep(to);
  if (name === undefined) return undefined;
  const named = aliases.find((a) => a.from !== undefined && nameprep(a.from) === name);
  if (named) return named.to;
  const fallback = aliases.find((a) => a.from === undefined);
  if (fallback) return fallback.to;
  return hosts.includes(name) ? name : undefined;
}

/**
 * Whether a header's `version` asks for XMPP 1.0 or later: RFC 3920 4.4.1
 * answers with the lower of the two versions, so 1.1 or 2.0 gets 1.0 and
 * its features. Major and minor are separate integers ("1.10" is after
 * "1.9", leading zeros ignored); anything else is no version, as for 1.4.
 */
function atLeastXmpp10(version: string | undefined): boolean {
  const m = version === undefined ? null : /^(\d+)\.\d+$/.exec(version);
  return m !== null && Number(m[1]) >= 1;
}

export function checkHeader(
  name: string,
  attrs: Record<string, string>,
  hosts: readonly string[],
  aliases: readonly AliasConfig[],
): HeaderCheck {
  const modern = atLeastXmpp10(attrs.version);
  const colon = name.indexOf(':');
  const prefix = colon < 0 ? undefined : name.slice(0, colon);
  const local = colon < 0 ? name : name.slice(colon + 1);
  const streamNs = prefix === undefined ? attrs.xmlns : attrs[`xmlns:${prefix}`];
  const fail = (error: StreamErrorKind): HeaderCheck => ({ host: undefined, error, modern });
  if (local !== 'stream' || streamNs !== NS_STREAM) return fail('invalid-stream-namespace');
  // The default namespace must be jabber:client (SPEC section 1), which an
  // unprefixed <stream xmlns='...streams'> cannot have: its stanzas would
  // be in the streams namespace and fail one by one.
  if (attrs.xmlns !== NS_CLIENT) return fail('invalid-namespace');
  const to = attrs.to === undefined ? undefined : trimXmlSpace(attrs.to);
  if (!to) return fail('improper-addressing');
  const host = resolveHost(to, hosts, aliases);
  if (!host) return fail('host-unknown');
  return { host, error: undefined, modern };
}

export function serverHeader(id: string, from: string, modern: boolean): string {
  return (
    `<?xml version='1.0'?><stream:stream xmlns:stream='${NS_STREAM}' id='${id}' ` +
    `xmlns='${NS_CLIENT}' from='${escapeAttr(from)}'${modern ? " version='1.0'" : ''}>`
  );
}

/** XEP-0078/XEP-0077 stream features, for libraries that wait for them. */
export function legacyFeatures(registration: boolean): string {
  return (
    "<stream:features><auth xmlns='http://jabber.org/features/iq-auth'/>" +
    (registration ? "<register xmlns='http://jabber.org/features/iq-register'/>" : '') +
    '</stream:features>'
  );
}
