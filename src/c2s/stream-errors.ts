// The one registry of stream errors: the 1.4 text, which old clients show,
// followed by the RFC 6120 condition element, which new ones read.
import { Element } from '../xml/element.js';
import type { StreamParseErrorKind } from '../xml/stream-parser.js';

const NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';

const STREAM_ERRORS = {
  'invalid-namespace': 'Invalid Namespace',
  'unsupported-stanza-type': 'Unsupported Stanza Type',
  'invalid-stream-namespace': 'Invalid Stream Namespace',
  'improper-addressing': 'Did not specify a valid to argument',
  'host-unknown': 'Unknown Host',
  'not-well-formed': 'Invalid XML',
  'unsupported-encoding': 'Unsupported Encoding',
  'restricted-xml': 'Invalid XML',
  'stanza-too-big': 'Stanza Too Large',
  'stanza-too-deep': 'Stanza Nested Too Deeply',
  'queue-full': 'Too Many Packets Before Authentication',
  'pre-auth-memory': 'Server Busy',
  'session-memory': 'Server Busy',
  'connection-limit': 'Too Many Connections',
  conflict: 'Disconnected',
  'account-removed': 'Disconnected',
  'connection-timeout': 'Timeout waiting for authentication',
  'idle-timeout': 'Idle Timeout',
  'system-shutdown': 'Server Shutting Down',
  'internal-server-error': 'Internal Server Error',
} as const;

export type StreamErrorKind = keyof typeof STREAM_ERRORS;

// Our kinds that share an RFC condition with a different 1.4 text.
const CONDITION: Partial<Record<StreamErrorKind, string>> = {
  'invalid-stream-namespace': 'invalid-namespace',
  'stanza-too-big': 'policy-violation',
  'stanza-too-deep': 'policy-violation',
  'queue-full': 'policy-violation',
  'pre-auth-memory': 'resource-constraint',
  'session-memory': 'resource-constraint',
  'connection-limit': 'policy-violation',
  'account-removed': 'not-authorized',
  'idle-timeout': 'connection-timeout',
};

/** The stream error that ends a stream whose XML could not be read, by the parser's kind of error. */
export const PARSE_STREAM_ERRORS: Record<StreamParseErrorKind, StreamErrorKind> = {
  'too-big': 'stanza-too-big',
  'too-deep': 'stanza-too-deep',
  restricted: 'restricted-xml',
  xml: 'not-well-formed',
  encoding: 'unsupported-encoding',
};

function streamErrorCondition(kind: StreamErrorKind): string {
  return CONDITION[kind] ?? kind;
}

export function streamError(kind: StreamErrorKind): Element {
  return new Element('stream:error', {}, [
    STREAM_ERRORS[kind],
    new Element(streamErrorCondition(kind), { xmlns: NS_STREAMS }),
  ]);
}
