// The one registry of stanza errors: legacy code and text (what 1.4 clients
// read) plus the XEP-0086 type. Modules throw stanzaError('not-acceptable');
// only errorReply() formats error XML.
import { Element } from '../xml/element.js';
import { NoSuchUserError, UserFileFullError } from '../xdb/xdb.js';

export type ErrorType = 'auth' | 'cancel' | 'modify' | 'wait';

interface ErrorDef {
  code: number;
  text: string;
  type: ErrorType;
}

// XEP-0086 section 3 mapping, with the 1.4 wording of the text.
export const STANZA_ERRORS = {
  'bad-request': { code: 400, text: 'Bad Request', type: 'modify' },
  'jid-malformed': { code: 400, text: 'Bad Request', type: 'modify' },
  'unexpected-request': { code: 400, text: 'Bad Request', type: 'wait' },
  'not-authorized': { code: 401, text: 'Unauthorized', type: 'auth' },
  'payment-required': { code: 402, text: 'Payment Required', type: 'auth' },
  forbidden: { code: 403, text: 'Forbidden', type: 'auth' },
  'item-not-found': { code: 404, text: 'Not Found', type: 'cancel' },
  'recipient-unavailable': { code: 404, text: 'Not Found', type: 'wait' },
  'remote-server-not-found': { code: 404, text: 'Not Found', type: 'cancel' },
  'not-allowed': { code: 405, text: 'Not Allowed', type: 'cancel' },
  'not-acceptable': { code: 406, text: 'Not Acceptable', type: 'modify' },
  'registration-required': { code: 407, text: 'Registration Required', type: 'auth' },
  'subscription-required': { code: 407, text: 'Registration Required', type: 'auth' },
  'request-timeout': { code: 408, text: 'Request Timeout', type: 'wait' },
  conflict: { code: 409, text: 'Conflict', type: 'cancel' },
  'internal-server-error': { code: 500, text: 'Internal Server Error', type: 'wait' },
  'resource-constraint': { code: 500, text: 'Internal Server Error', type: 'wait' },
  'undefined-condition': { code: 500, text: 'Internal Server Error', type: 'wait' },
  'feature-not-implemented': { code: 501, text: 'Not Implemented', type: 'cancel' },
  'service-unavailable': { code: 503, text: 'Service Unavailable', type: 'cancel' },
  'remote-server-timeout': { code: 504, text: 'Remote Server Timeout', type: 'wait' },
} as const satisfies Record<string, ErrorDef>;

export type StanzaCondition = keyof typeof STANZA_ERRORS;

export class StanzaError extends Error {
  readonly code: number;
  readonly type: ErrorType;
  constructor(
    readonly condition: StanzaCondition,
    /** Replaces the standard text, e.g. 'Username Not Available' for 409. */
    readonly text: string = STANZA_ERRORS[condition].text,
  ) {
    super(`${STANZA_ERRORS[condition].code} ${text}`);
    this.code = STANZA_ERRORS[condition].code;
    this.type = STANZA_ERRORS[condition].type;
  }

  toElement(): Element {
    return new Element('error', { code: String(this.code), type: this.type }, [this.text]);
  }
}

export function stanzaError(condition: StanzaCondition, text?: string): StanzaError {
  return new StanzaError(condition, text);
}

/** What a client reads when a change would make the account's spool file too large. */
const STORAGE_FULL_TEXT = 'Account Storage Full';

/**
 * The StanzaError a handler failure stands for, or undefined for an
 * unexpected one (a bug, a disk error: 500 and a log line). A change the
 * store refused for the size cap is the client's to fix, not a server
 * fault: resource-constraint (legacy 500, type wait) with a readable text.
 */
export function asStanzaError(err: unknown): StanzaError | undefined {
  if (err instanceof StanzaError) return err;
  if (err instanceof UserFileFullError) return stanzaError('resource-constraint', STORAGE_FULL_TEXT);
  // A write for a user who is not there (Xdb WriteOptions.existing), removed since a look perhaps: as if never there.
  if (err instanceof NoSuchUserError) return stanzaError('item-not-found');
  return undefined;
}

/**
 * The error reply to a stanza: same name and id, to/from swapped, the
 * original children echoed (1.4 did so; clients match on the query), and
 * the error element appended.
 */
export function errorReply(stanza: Element, err: StanzaError): Element {
  const reply = stanza.clone();
  reply.children = reply.children.filter((c) => typeof c !== 'string' && c.name !== 'error');
  reply.attrs.type = 'error';
  const { from, to } = stanza.attrs;
  reply.setAttr('to', from).setAttr('from', to);
  reply.children.push(err.toElement());
  return reply;
}
