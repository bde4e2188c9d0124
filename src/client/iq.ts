// Client-side iq helpers: build a query, send it, turn an error reply into
// an exception that keeps the legacy code and text (what the tools print)
// and the XEP-0086 type and condition (what newer servers add).
import { Element } from '../xml/element.js';
import type { ClientStream } from './client-stream.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** The server answered type='error'. */
export class IqError extends Error {
  /** Legacy numeric code (409), when the server sent one. */
  readonly code: number | undefined;
  /** Human text: the error element's text, else the RFC <text>, else the condition. */
  readonly text: string;
  /** XEP-0086 type attribute (cancel, modify, auth, wait), when present. */
  readonly type: string | undefined;
  /** RFC 6120 condition element name (conflict), when present. */
  readonly condition: string | undefined;

  constructor(readonly reply: Element) {
    const error = reply.getChild('error');
    const codeAttr = Number(error?.attrs.code);
    const code = Number.isInteger(codeAttr) && codeAttr > 0 ? codeAttr : undefined;
    const condition = error?.elements.find((e) => e.attrs.xmlns === NS_STANZAS && e.name !== 'text')?.name;
    const text =
      error?.text().trim() || error?.getChild('text', NS_STANZAS)?.text().trim() || condition || 'Unknown Error';
    super(code === undefined ? text : `${code} ${text}`);
    this.code = code;
    this.text = text;
    this.type = error?.attrs.type;
    this.condition = condition;
  }

  /** "409 (Username Not Available)", the form reguser prints. */
  get display(): string {
    return `${this.code ?? this.condition ?? 'error'} (${this.text})`;
  }
}

/** <iq type=TYPE><query xmlns=NS>children</query></iq> */
export function queryIq(type: 'get' | 'set', xmlns: string, children: Element[] = [], attrs: Record<string, string> = {}): Element {
  return new Element('iq', { type, ...attrs }, [new Element('query', { xmlns }, children)]);
}

/** <name>text</name>, the shape of every legacy query field. */
export function field(name: string, text: string): Element {
  return new Element(name, {}, text === '' ? [] : [text]);
}

/**
 * Sends the iq and resolves with the reply when it is a result; rejects with
 * IqError for an error reply, ReplyTimeoutError or StreamClosedError otherwise.
 */
export async function requestResult(stream: ClientStream, iq: Element, timeout?: number): Promise<Element> {
  const reply = await stream.request(iq, timeout);
  if (reply.attrs.type === 'error') throw new IqError(reply);
  return reply;
}
