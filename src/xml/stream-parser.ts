// Streaming parser for one XML stream (client or server side): turns text
// chunks into a header event, one event per complete top-level stanza, and
// an end event. Enforces the restricted-XML rules of SPEC section 1: no
// DOCTYPE, no processing instructions after the declaration, no comments,
// bounded stanza size and nesting depth; and namespace well-formedness
// (namespace-scope.ts).
import { SaxesParser } from 'saxes';
import { Element } from './element.js';
import { isReservedNamespace, NamespaceScope } from './namespace-scope.js';

export interface StreamLimits {
  /** Largest stanza in characters (text positions), checked as it grows. */
  stanzaBytes: number;
  /** Deepest nesting, counting the stream element as depth 1. */
  depth: number;
  /**
   * Most elements, attributes and text pieces in one stanza (none: no
   * bound). Memory goes by these, not by characters: `<b/>` is 4
   * characters on the wire and about 150 bytes once parsed.
   */
  nodes?: number;
}

/**
 * Bytes of memory one parsed element, attribute or text piece is taken to
 * cost beyond its characters, for weigh(): a `<b/>` takes about 150 bytes
 * for its 4 characters.
 */
export const NODE_WEIGHT = 150;

/** What a stanza of `chars` characters and `nodes` nodes is taken to hold in memory. */
export function weigh(chars: number, nodes: number): number {
  return chars + NODE_WEIGHT * nodes;
}

export interface StreamHandlers {
  header(attrs: Record<string, string>, name: string): void;
  /** `size`: its characters; `nodes`: its elements, attributes and texts (see weigh()). */
  stanza(el: Element, size: number, nodes: number): void;
  end(): void;
  /** Any violation; the parser stops after the first one. */
  error(reason: StreamParseError): void;
}

export type StreamParseErrorKind = 'xml' | 'restricted' | 'too-big' | 'too-deep' | 'encoding';

export class StreamParseError extends Error {
  constructor(
    readonly kind: StreamParseErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * saxes with most event handlers on the prototype. Setting eight handlers
 * with on() adds eight own properties to every parser, which pushes V8 to
 * a slow property layout: parsing a login got about five times slower.
 * saxes calls the text, close-tag and error handlers unbound, so those
 * three stay own properties; the others are prototype methods saxes calls
 * with the parser as `this`.
 */
class RestrictedSax extends SaxesParser<{ xmlns: false; position: true; forceXMLVersion: true; defaultXMLVersion: '1.0' }> {
  /** Prefix declarations in scope; only elements that declare or use a prefix touch it. Rests with the parser. */
  readonly scope = new NamespaceScope();

  constructor(readonly owner: StreamParser) {
    // XML 1.0 whatever the declaration says: 1.1 would let character
    // references such as &#x1; through, which no 1.0 stream or spool file may hold.
    super({ xmlns: false, position: true, forceXMLVersion: true, defaultXMLVersion: '1.0' });
    this.on('text', (t) => owner.onText(t));
    this.on('closetag', () => owner.onClose());
    this.on('error', (err) => owner.fail(new StreamParseError('xml', err.message)));
  }
}

type SaxTag = { name: string; attributes: Record<string, string> };
const handlers: Record<string, (this: RestrictedSax, arg: never) => void> = {
  doctypeHandler(this: RestrictedSax) {
    this.owner.fail(new StreamParseError('restricted', 'DOCTYPE is not allowed'));
  },
  piHandler(this: RestrictedSax) {
    this.owner.fail(new StreamParseError('restricted', 'processing instructions are not allowed'));
  },
  commentHandler(this: RestrictedSax) {
    this.owner.fail(new StreamParseError('restricted', 'comments are not allowed'));
  },
  openTagHandler(this: RestrictedSax, tag: SaxTag) {
    this.owner.onOpen(tag.name, tag.attributes);
  },
  cdataHandler(this: RestrictedSax, t: string) {
    this.owner.onText(t);
  },
  // A stream is read as UTF-8 whatever its declaration says (SPEC section
  // 1). 1.4's expat honoured a Latin-1 one: such a client would otherwise
  // be let in and cut off at its first non-ASCII byte as "Invalid XML".
  xmldeclHandler(this: RestrictedSax, decl: { encoding?: string }) {
    if (decl.encoding !== undefined && !/^(utf-?8|us-ascii)$/i.test(decl.encoding)) {
      this.owner.fail(new StreamParseError('encoding', `the XML declaration names the encoding '${decl.encoding}'; streams are UTF-8 only`));
    }
  },
};
Object.assign(RestrictedSax.prototype, handlers);

// saxes reports a wrong end tag only after it has handed the element it
// closes to the close handler (closeTag pops, calls the handler, then
// fails), so a stanza ended by `</message>` where `</iq>` belonged would
// reach the server before the stream error. What closeTag completes is held
// by the StreamParser until it returns without a failure.
type CloseTag = { closeTag(): void };
const saxCloseTag = (SaxesParser.prototype as unknown as CloseTag).closeTag;
(RestrictedSax.prototype as unknown as CloseTag).closeTag = function (this: RestrictedSax): void {
  this.owner.closeTagStarts();
  saxCloseTag.call(this);
  this.owner.closeTagEnded();
};

// saxes reads an entity reference up to its ';', whatever comes first: a
// bare '&' (an old client that does not escape it) made it swallow every
// later stanza, without a word, until some ';' or the size bound. With no
// DTD, a reference is one of the five predefined names or a character
// number: letters, digits and '#' only, and short (32 leaves room for
// leading zeros). Anything else fails the stream at once, as 1.4's expat did.
const ENTITY_SO_FAR = /^[A-Za-z0-9#]{1,32}$/;
type EntityState = { sEntity(): void; entity: string };
const saxEntity = (SaxesParser.prototype as unknown as EntityState).sEntity;
(RestrictedSax.prototype as unknown as EntityState).sEntity = function (this: RestrictedSax): void {
  saxEntity.call(this);
  // Not empty: the chunk ended before the ';' (a complete reference resets it).
  const sofar = (this as unknown as EntityState).entity;
  if (sofar !== '' && !ENTITY_SO_FAR.test(sofar)) {
    this.owner.fail(new StreamParseError('xml', "'&' that starts no entity reference (write it as &amp;)"));
  }
};

/** Only XML white space from `start` on: what a client sends between stanzas as a keepalive. */
function whitespaceFrom(text: string, start: number): boolean {
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

/**
 * What a resumed parser is fed before the client's next text: an open tag
 * of the stream's name, which takes it back inside the stream (see rest()).
 */
function resumeTag(name: string): string {
  return '<' + name + '>';
}

export class StreamParser {
  /** undefined while resting (see rest()); made again by the next write. */
  private sax: RestrictedSax | undefined = new RestrictedSax(this);
  /** The stream element's name, for a parser made anew after a rest. */
  private rootName = '';
  /** Text was fed since the last rest() call: the stream is not quiet. */
  private busy = false;
  /** Feeding the open tag that takes a new parser back inside the stream: no header event. */
  private resuming = false;
  /** Where the resting parser stopped, for the messages of the next one (see wake()). */
  private line = 1;
  private column = 0;
  private readonly stack: Element[] = [];
  /** The stream header's prefix declarations, for a parser made anew (see wake()). */
  private headerDeclarations: Record<string, string> = {};
  private depth = 0;
  /** Elements and text pieces of the stanza being parsed. */
  private nodes = 0;
  private stanzaStart = 0;
  /** Characters fed so far: saxes's `position` is only right inside its event handlers. */
  private fed = 0;
  private failed = false;
  /** Inside saxes's closeTag: what it completes waits here (see closeTag above). */
  private closing = false;
  private heldStanza: Element | undefined;
  private heldSize = 0;
  private heldNodes = 0;
  private heldEnd = false;
  /**
   * Everything since the last element ended (or the header) was white space:
   * saxes is between tags, only buffering text the stream drops anyway.
   */
  private betweenStanzas = false;
  limits: StreamLimits;

  /**
   * `declareWhereUsed`: every element that uses a prefix declared above it
   * gets that declaration too (a server, which hands on parts of stanzas:
   * see namespace-scope.ts). A client reads what it is sent as it is.
   */
  constructor(
    private readonly handlers: StreamHandlers,
    limits: StreamLimits,
    private readonly declareWhereUsed = false,
  ) {
    this.limits = limits;
  }

  /** Prefix declarations in scope (the parser's, see RestrictedSax; only read while it is awake). */
  private get namespaces(): NamespaceScope {
    return this.sax!.scope;
  }

  /** What the stanza being read holds so far, characters and nodes weighed together (see weigh()). */
  get pendingWeight(): number {
    if (this.failed) return 0;
    return weigh(Math.max(0, this.fed - this.stanzaStart), this.depth >= 2 ? this.nodes : 0);
  }

  /** Ignore everything from now on (the connection is going away). */
  stop(): void {
    if (this.failed) return;
    // From now on the handlers ignore whatever saxes still reports.
    this.failed = true;
  }

  /**
   * Called now and then (a few seconds apart): a stream that was fed
   * nothing but keepalives since the last call, and waits between stanzas,
   * lets its saxes parser and namespace scope go, some 2.4 KB that most of
   * a server's streams, quiet most of the time, need only now and then.
   * The next text makes them anew. True when resting after this call.
   */
  rest(): boolean {
    if (this.busy) {
      this.busy = false;
      return false;
    }
    const sax = this.sax;
    if (sax !== undefined && this.betweenStanzas && this.depth === 1 && !this.failed && !this.closing) {
      this.line = sax.line;
      this.column = sax.column;
      this.sax = undefined;
    }
    return this.sax === undefined;
  }

  /**
   * A parser made anew, inside the stream: fed an open tag of the stream's
   * name (which the stream's end tag must match), without a header event,
   * with the header's prefix declarations in scope again;
   * positions count from there (only their differences are used), and the
   * line and column saxes puts in its error messages go on from where the
   * last one stopped.
   */
  private wake(): RestrictedSax {
    const sax = new RestrictedSax(this);
    this.sax = sax;
    const tag = resumeTag(this.rootName);
    this.depth = 0;
    this.resuming = true;
    sax.write(tag);
    this.resuming = false;
    sax.scope.enter(1, '', this.headerDeclarations);
    sax.line = this.line;
    sax.column = this.column;
    this.fed = tag.length;
    this.stanzaStart = tag.length;
    return sax;
  }

  /** Feeds decoded text. Safe to call after a failure (ignored). */
  write(chunk: string): void {
    if (this.failed) return;
    // Keepalives are not fed to saxes at all: buffered until the next '<',
    // they would count toward that stanza's size, and an idle client that
    // sends a space now and then would in time be cut off for it.
    if (this.betweenStanzas && whitespaceFrom(chunk, 0)) return;
    this.betweenStanzas = false;
    this.busy = true;
    const sax = this.sax ?? this.wake();
    sax.write(chunk);
    this.fed += chunk.length;
    // Still between tags only if nothing but white space followed the last
    // end tag in this chunk (a '<' after it starts a tag with no event yet).
    if (this.betweenStanzas) this.betweenStanzas = whitespaceFrom(chunk, chunk.length - (this.fed - this.stanzaStart));
    // Also between events: a start tag (or the text before one) that never
    // ends is buffered by saxes and must be bounded like a stanza. (After
    // write() returns, saxes's `position` counts the last chunk twice.)
    if (!this.failed) this.checkSize(this.fed);
  }

  /** @internal called by RestrictedSax */
  fail(err: StreamParseError): void {
    if (this.failed) return;
    // From now on the handlers ignore whatever saxes still reports.
    this.failed = true;
    this.handlers.error(err);
  }

  /** @internal saxes's closeTag begins (see its override above). */
  closeTagStarts(): void {
    this.closing = true;
  }

  /** @internal saxes's closeTag returned: what it completed counts now, unless it failed. */
  closeTagEnded(): void {
    this.closing = false;
    const stanza = this.heldStanza;
    const end = this.heldEnd;
    this.heldStanza = undefined;
    this.heldEnd = false;
    if (this.failed) return;
    if (stanza) this.handlers.stanza(stanza, this.heldSize, this.heldNodes);
    if (end) this.handlers.end();
  }

  private checkSize(position = this.sax!.position): void {
    // Declarations copied onto the elements that use them count as sent (namespace-scope.ts).
    if (position - this.stanzaStart + this.namespaces.added > this.limits.stanzaBytes) {
      this.fail(new StreamParseError('too-big', `stanza larger than ${this.limits.stanzaBytes} bytes`));
    }
  }

  /** @internal */
  onOpen(name: string, attrs: Record<string, string>): void {
    if (this.failed) return;
    this.depth++;
    if (this.depth === 1) {
      if (this.resuming) return;
      this.rootName = name;
      // A header is bounded like a stanza, also when it came in one read,
      // and in attributes too (a stream needs a handful; each is held as a
      // string and a property, like a stanza's).
      this.checkSize();
      this.nodes = 0;
      for (const _ in attrs) if (!this.countNode()) return;
      if (this.failed) return;
      this.stanzaStart = this.sax!.position;
      this.betweenStanzas = true;
      // Its declarations (xmlns:stream) hold for the stanzas; the header
      // itself is checked by its reader, with 1.4's own error texts.
      const declarations: Record<string, string> = {};
      for (const k in attrs) if (k.startsWith('xmlns:')) declarations[k] = attrs[k]!;
      this.headerDeclarations = declarations;
      this.namespaces.enter(1, '', declarations);
      this.handlers.header(attrs, name);
      return;
    }
    if (this.depth > this.limits.depth) {
      this.fail(new StreamParseError('too-deep', `nesting deeper than ${this.limits.depth}`));
      return;
    }
    if (this.depth === 2) {
      this.nodes = 0;
      this.namespaces.added = 0;
    }
    if (!this.countNode()) return;
    const e = new Element(name, attrs);
    // Attributes count as nodes too. (Read from the element's own copy: a
    // plain object, which V8 walks much faster than saxes's dictionary.)
    const own = e.attrs;
    let prefixed = name.includes(':');
    for (const k in own) {
      if (!this.countNode()) return;
      // A value built from entities (`&amp;` after `&amp;`) is a chain of
      // pieces, some 30 bytes each; reading a character makes it one string.
      own[k]!.charCodeAt(0);
      // A default namespace may not be one of the two reserved ones either.
      if (!prefixed && (k.includes(':') || (k === 'xmlns' && isReservedNamespace(own[k]!)))) prefixed = true;
    }
    // Names without a colon need no look at the scope (nearly every stanza).
    if (prefixed) {
      const why = this.namespaces.enter(this.depth, name, own, this.declareWhereUsed);
      if (why !== undefined) {
        this.fail(new StreamParseError('xml', why));
        return;
      }
    }
    if (this.depth > 2) this.stack[this.stack.length - 1]!.children.push(e);
    this.checkSize();
    this.stack.push(e);
  }

  /** @internal */
  onClose(): void {
    if (this.failed) return;
    if (this.namespaces.active) this.namespaces.leave(this.depth);
    this.depth--;
    if (this.depth === 0) {
      if (this.closing) this.heldEnd = true;
      else this.handlers.end();
      return;
    }
    const e = this.stack.pop()!;
    if (this.depth === 1) {
      // Its end tags are counted too: a stanza is either whole and within the bound, or refused.
      this.checkSize();
      if (this.failed) return;
      const position = this.sax!.position;
      const size = position - this.stanzaStart + this.namespaces.added;
      // The next stanza starts right after this one's end tag.
      this.stanzaStart = position;
      this.namespaces.added = 0;
      this.betweenStanzas = true;
      if (this.closing) {
        this.heldStanza = e;
        this.heldSize = size;
        this.heldNodes = this.nodes;
      } else {
        this.handlers.stanza(e, size, this.nodes);
      }
    }
  }

  /** @internal */
  onText(t: string): void {
    if (this.failed) return;
    // Text directly inside the stream (whitespace keepalives) is dropped.
    // saxes reports it once it has read the '<' that follows: the next
    // stanza starts at that '<'.
    if (this.depth < 2) {
      this.stanzaStart = this.sax!.position - 1;
      return;
    }
    if (!this.countNode()) return;
    // See onOpen: text with entities in it comes as a chain of pieces.
    t.charCodeAt(0);
    this.stack[this.stack.length - 1]!.children.push(t);
    this.checkSize();
  }

  /** Counts one more element or text piece in the stanza; false (and failed) past the bound. */
  private countNode(): boolean {
    const max = this.limits.nodes;
    if (max === undefined || ++this.nodes <= max) return true;
    this.fail(new StreamParseError('too-big', `more than ${max} elements, attributes and texts in one stanza`));
    return false;
  }
}
