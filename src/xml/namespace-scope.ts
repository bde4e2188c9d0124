// Namespace well-formedness of what a client sends (Namespaces in XML 1.0,
// RFC 6120 11.3). The stream parser reads names as they are written
// (saxes without xmlns processing: 1.4's expat did not process them
// either), so `<x:y/>` with no `xmlns:x` in scope went through, and was
// forwarded or stored as it came: every namespace-aware client that then
// read it (AnyEvent::XMPP, slixmpp, any libexpat with namespaces on) failed
// on it and dropped its connection. Such input now ends the stream as
// not well-formed XML.
//
// On a server, every element that uses a prefix also gets that prefix's declaration,
// copied from the ancestor that made it when the element does not carry it
// itself: a server hands on parts of stanzas (a stored vCard, a message's
// children), and each part must still say what its prefixes mean.

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** Whether a namespace may not be declared at all, as a default or for a prefix other than xml (Namespaces in XML 3). */
export function isReservedNamespace(uri: string): boolean {
  return uri === XML_NS || uri === XMLNS_NS;
}

interface Binding {
  depth: number;
  prefix: string;
  previous: string | undefined;
}

export class NamespaceScope {
  private readonly bound = new Map<string, string>();
  private readonly undo: Binding[] = [];
  /**
   * Characters of the declarations enter() has added, for the caller to
   * count against its size bound: a declaration made once and used by
   * thousands of elements is written out thousands of times.
   */
  added = 0;

  /**
   * The element at `depth` with this name and attributes opens: its
   * declarations come into scope, and its prefixes must be bound. Returns
   * why it is not namespace-well-formed, or undefined (having added, with
   * `declareWhereUsed`, the declarations of prefixes it uses that an
   * ancestor made).
   */
  enter(depth: number, name: string, attrs: Record<string, string>, declareWhereUsed = false): string | undefined {
    let declares: Set<string> | undefined;
    for (const key in attrs) {
      if (key === 'xmlns') {
        const uri = attrs[key]!;
        if (isReservedNamespace(uri)) return `the default namespace may not be ${uri}`;
        continue;
      }
      if (!key.startsWith('xmlns:')) continue;
      const prefix = key.slice(6);
      const uri = attrs[key]!;
      if (prefix === '' || prefix.includes(':')) return `'${key}' declares no valid prefix`;
      if (prefix === 'xmlns') return "the prefix 'xmlns' may not be declared";
      if (uri === '') return `'${key}' binds its prefix to no namespace`;
      if ((prefix === 'xml') !== (uri === XML_NS)) return `the prefix 'xml' and ${XML_NS} belong to each other only`;
      if (uri === XMLNS_NS) return `no prefix may be bound to ${XMLNS_NS}`;
      (declares ??= new Set()).add(prefix);
      this.undo.push({ depth, prefix, previous: this.bound.get(prefix) });
      this.bound.set(prefix, uri);
    }
    const used = new Map<string, string>();
    const element = this.use(name, true, used);
    if (element !== undefined) return element;
    let expanded: Set<string> | undefined;
    for (const key in attrs) {
      if (key === 'xmlns' || key.startsWith('xmlns:') || !key.includes(':')) continue;
      const why = this.use(key, false, used);
      if (why !== undefined) return why;
      // `a:x` and `b:x` with a and b bound to one namespace are one attribute twice.
      const colon = key.indexOf(':');
      const full = `${this.uriOf(key.slice(0, colon))} ${key.slice(colon + 1)}`;
      if ((expanded ??= new Set()).has(full)) return `attribute '${key}' repeats another one with the same namespace and name`;
      expanded.add(full);
    }
    if (declareWhereUsed) {
      for (const [prefix, uri] of used) {
        if (declares?.has(prefix)) continue;
        attrs[`xmlns:${prefix}`] = uri;
        // ` xmlns:p='...'`, before escaping.
        this.added += prefix.length + uri.length + 10;
      }
    }
    return undefined;
  }

  /** The element at `depth` closes: its declarations go out of scope. */
  leave(depth: number): void {
    while (this.undo.length > 0 && this.undo[this.undo.length - 1]!.depth === depth) {
      const { prefix, previous } = this.undo.pop()!;
      if (previous === undefined) this.bound.delete(prefix);
      else this.bound.set(prefix, previous);
    }
  }

  /** Whether any declaration is in scope (leave() has nothing to do otherwise). */
  get active(): boolean {
    return this.undo.length > 0;
  }

  private uriOf(prefix: string): string | undefined {
    return prefix === 'xml' ? XML_NS : this.bound.get(prefix);
  }

  /** Checks a qualified name; a prefix it uses (other than xml) is noted in `used` with its namespace. */
  private use(qname: string, isElement: boolean, used: Map<string, string>): string | undefined {
    const colon = qname.indexOf(':');
    if (colon < 0) return undefined;
    const what = isElement ? 'element' : 'attribute';
    if (colon === 0 || colon === qname.length - 1 || qname.indexOf(':', colon + 1) >= 0) return `${what} name '${qname}' is not a valid qualified name`;
    const prefix = qname.slice(0, colon);
    if (prefix === 'xmlns') return `${what} name '${qname}' uses the reserved prefix 'xmlns'`;
    // Bound to the XML namespace everywhere, nothing to declare.
    if (prefix === 'xml') return undefined;
    const uri = this.bound.get(prefix);
    if (uri === undefined) return `unbound namespace prefix '${prefix}' in ${what} name '${qname}'`;
    used.set(prefix, uri);
    return undefined;
  }
}
