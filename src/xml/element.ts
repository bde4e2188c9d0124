// One small element type for stanzas, config and spool records alike.
// Namespaces are kept the jabberd way: `xmlns` (and `xmlns:p`) is an
// ordinary attribute, and a child without its own `xmlns` belongs to its
// parent's namespace. That keeps the per-stanza path cheap, and modules find
// their requests by the `xmlns` attribute, as 1.4's did. Where the server
// decides something for the user's safety (the roster guard, filter rules,
// delay stamps, priority), it reads a prefixed name too, as namespace-aware
// clients do: see namespaceOf, inNamespace and isNamed below. Going back to
// `attrs.xmlns` there would let `<r:query xmlns:r='jabber:iq:roster'>` past
// the roster guard.

export type Node = Element | string;

// 1.4 escaped the five markup characters everywhere, and so do we. Beyond
// them, what a parser would not give back as it was: a carriage return in
// text (line ends are read as a line feed), and tab, line feed and carriage
// return in an attribute (each is read as a space). Written as references
// they survive a spool file's rewrite or a trip through a client's parser.
const TEXT_SPECIAL = /[&<>'"\r]/;
const TEXT_SPECIALS = /[&<>'"\r]/g;
const ATTR_SPECIAL = /[&<>'"\t\n\r]/;
const ATTR_SPECIALS = /[&<>'"\t\n\r]/g;

function escapeText(s: string): string {
  // Most text has nothing to escape: a test is about three times cheaper than replace().
  return TEXT_SPECIAL.test(s) ? s.replace(TEXT_SPECIALS, escapeChar) : s;
}

export function escapeAttr(s: string): string {
  return ATTR_SPECIAL.test(s) ? s.replace(ATTR_SPECIALS, escapeChar) : s;
}

function escapeChar(c: string): string {
  switch (c) {
    case '&': return '&amp;';
    case '<': return '&lt;';
    case '>': return '&gt;';
    case "'": return '&apos;';
    case '"': return '&quot;';
    case '\t': return '&#9;';
    case '\n': return '&#10;';
    default: return '&#13;';
  }
}

export class Element {
  name: string;
  attrs: Record<string, string>;
  children: Node[];

  constructor(name: string, attrs: Record<string, string | undefined> = {}, children: Node[] = []) {
    this.name = name;
    // Always a fresh plain object: saxes hands over prototype-less
    // dictionaries, which V8 reads slowly, and callers' objects stay theirs.
    // (for-in, not Object.entries: no array per element on the parse path.)
    const own: Record<string, string> = {};
    for (const k in attrs) {
      const v = attrs[k];
      if (v !== undefined) putAttr(own, k, v);
    }
    this.attrs = own;
    this.children = children;
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  /** Sets (or with undefined, removes) an attribute; returns this for chaining. */
  setAttr(name: string, value: string | undefined): this {
    if (value !== undefined) putAttr(this.attrs, name, value);
    else if (Object.hasOwn(this.attrs, name)) this.attrs = attrsWith(this.attrs, { [name]: undefined });
    return this;
  }

  /** Child elements, skipping text. */
  get elements(): Element[] {
    const out: Element[] = [];
    for (const c of this.children) if (typeof c !== 'string') out.push(c);
    return out;
  }

  /** First child element with this name (and, when given, this xmlns attribute). */
  getChild(name: string, xmlns?: string): Element | undefined {
    for (const c of this.children) {
      if (typeof c !== 'string' && c.name === name && (xmlns === undefined || c.attrs.xmlns === xmlns)) return c;
    }
    return undefined;
  }

  getChildren(name: string, xmlns?: string): Element[] {
    return this.elements.filter((c) => c.name === name && (xmlns === undefined || c.attrs.xmlns === xmlns));
  }

  /** First child element in the given namespace, whatever its name (an iq's query). */
  getChildByNs(xmlns: string): Element | undefined {
    for (const c of this.children) if (typeof c !== 'string' && c.attrs.xmlns === xmlns) return c;
    return undefined;
  }

  /** The direct text content, concatenated. */
  text(): string {
    let s = '';
    for (const c of this.children) if (typeof c === 'string') s += c;
    return s;
  }

  getChildText(name: string, xmlns?: string): string | undefined {
    return this.getChild(name, xmlns)?.text();
  }

  /** Appends a new child element and returns the child (builder style). */
  c(name: string, attrs: Record<string, string | undefined> = {}): Element {
    const child = new Element(name, attrs);
    this.children.push(child);
    return child;
  }

  /** Appends text and returns this. */
  t(text: string): this {
    if (text !== '') this.children.push(text);
    return this;
  }

  removeChildren(name: string, xmlns?: string): void {
    this.children = this.children.filter(
      (c) => typeof c === 'string' || c.name !== name || (xmlns !== undefined && c.attrs.xmlns !== xmlns),
    );
  }

  clone(): Element {
    // The constructor copies the attributes.
    return new Element(this.name, this.attrs, this.children.map((c) => (typeof c === 'string' ? c : c.clone())));
  }

  /**
   * Same name, attributes (in the same order, as written) and children.
   * Stops at the first difference, so telling a grown offline box from
   * the stored one costs one comparison. Text split into pieces another
   * way counts as different.
   */
  equals(other: Element): boolean {
    if (this === other) return true;
    if (this.name !== other.name || this.children.length !== other.children.length) return false;
    const keys = Object.keys(this.attrs);
    const otherKeys = Object.keys(other.attrs);
    if (keys.length !== otherKeys.length) return false;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k !== otherKeys[i] || this.attrs[k] !== other.attrs[k]) return false;
    }
    for (let i = 0; i < this.children.length; i++) {
      const a = this.children[i]!;
      const b = other.children[i]!;
      if (typeof a === 'string' ? a !== b : typeof b === 'string' || !a.equals(b)) return false;
    }
    return true;
  }

  /**
   * The start tag alone, `<name attrs>`: the head of a stanza whose content
   * was serialized once for many (a roster for every get, a push for every
   * session), so that it is not serialized again for each.
   */
  startTag(): string {
    return this.openTag() + '>';
  }

  toString(): string {
    let s = this.openTag();
    if (this.children.length === 0) return s + '/>';
    s += '>';
    for (const c of this.children) s += typeof c === 'string' ? escapeText(c) : c.toString();
    return s + '</' + this.name + '>';
  }

  /** `<name attrs`, the start tag before its end (`>`, or `/>` for an empty element). */
  private openTag(): string {
    let s = '<' + this.name;
    for (const k in this.attrs) s += ' ' + k + "='" + escapeAttr(this.attrs[k]!) + "'";
    return s;
  }
}

/**
 * Whether `e` is in namespace `ns` as a reader of any kind could take it:
 * by its own `xmlns`, or by the prefix of its name (the stream parser gives
 * every prefixed element its prefix's declaration, see namespace-scope.ts).
 * For guards: `<r:query xmlns:r='jabber:iq:roster'>` is a roster query to a
 * namespace-aware client, and `<r:query xmlns='jabber:iq:roster'>` to one
 * that matches attributes.
 */
function inNamespace(e: Element, ns: string): boolean {
  return e.attrs.xmlns === ns || namespaceOf(e, undefined) === ns;
}

/**
 * Whether `e`'s local name is `local` (`body` of `b:body`) and its
 * namespace `ns`: by its prefix's declaration, else its own `xmlns`, else
 * `inherited`, the default namespace where it stands. What a
 * namespace-aware client reads as that element, however it is written.
 */
export function isNamed(e: Element, local: string, ns: string, inherited: string | undefined): boolean {
  return localName(e) === local && namespaceOf(e, inherited) === ns;
}

/** The local part of `e`'s name: `body` of `b:body`. */
export function localName(e: Element): string {
  const colon = e.name.indexOf(':');
  return colon < 0 ? e.name : e.name.slice(colon + 1);
}

/** The namespace `e` is in: its prefix's, else its own default (`xmlns`), else `inherited`, the one where it stands. */
export function namespaceOf(e: Element, inherited: string | undefined): string | undefined {
  const colon = e.name.indexOf(':');
  return colon < 0 ? (e.attrs.xmlns ?? inherited) : e.attrs[`xmlns:${e.name.slice(0, colon)}`];
}

/** The index of the first child of `e` in namespace `ns` however written (see inNamespace), or -1. */
export function childInNamespace(e: Element, ns: string): number {
  return e.children.findIndex((c) => typeof c !== 'string' && inNamespace(c, ns));
}

/**
 * Sets one attribute on a plain object. `__proto__` is a legal XML name,
 * but assigned as `obj[k] = v` it would reach the prototype's setter (which
 * ignores a string) and the attribute would be silently lost; it is made an
 * own property instead, which every later read, copy and for-in then sees.
 */
function putAttr(attrs: Record<string, string>, k: string, v: string): void {
  if (k === '__proto__') Object.defineProperty(attrs, k, { value: v, enumerable: true, writable: true, configurable: true });
  else attrs[k] = v;
}

/**
 * `base` with `changes` over it (an undefined change removes the
 * attribute), in `base`'s order with new names at the end, as
 * `{ ...base, ...changes }` would have them. Written out because of V8 in
 * Node 20: a property added to an object made by a spread takes about a
 * microsecond (a few dozen nanoseconds here), and `delete` of any but the
 * last property turns the object into a dictionary that every later copy
 * and serialization reads several times slower. Copying attributes with
 * changes is on the path of every presence a contact receives.
 */
export function attrsWith(base: Record<string, string>, changes: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in base) {
    const v = Object.hasOwn(changes, k) ? changes[k] : base[k];
    if (v !== undefined) putAttr(out, k, v);
  }
  for (const k in changes) {
    const v = changes[k];
    if (v !== undefined && !Object.hasOwn(base, k)) putAttr(out, k, v);
  }
  return out;
}

/** Shorthand builder: el('iq', {type: 'result'}, child, 'text'). */
export function el(name: string, attrs: Record<string, string | undefined> = {}, ...children: Node[]): Element {
  return new Element(name, attrs, children);
}
