// Clearer wording for saxes' messages about elements not closed right, for
// parseXml (config and spool files; the stream parser reports its own).
// saxes says "unexpected close tag." naming neither tag, and "unclosed tag:
// jabber" for `<jabber><broken` (the cut-off tag was never opened, so the
// root is named), or only "document must contain a root element." for
// `<broken`; a config error must name the element (SPEC section 7).
// saxes' "FILE:LINE:COL: " prefix is kept, or moved to where a cut-off tag
// starts.

export interface ErrorContext {
  /** The whole document, as written to the parser in one chunk. */
  text: string;
  /** The parser's position in `text` (a UTF-16 index) when it raised the error. */
  position: number;
  /** The element the parser ended last: at "unexpected close tag.", the one the close tag does not match. */
  lastClosed?: string;
}

const REWORDED = /^(.*?)(?:unexpected close tag\.|unmatched closing tag: (.*)\.|unclosed tag: (.*))$/s;

/** saxes' other messages that name nothing, with their "FILE:LINE:COL: " prefix apart. */
const BARE = /^(.*?)(document must contain a root element\.|unexpected end\.|documents may contain only one root\.|text data outside of root node\.|undefined entity\.|duplicate attribute: (.*)\.)$/s;

/** saxes' `message`, in words that name the elements when it is about one not closed right; else as it is. */
export function explainParseError(message: string, ctx: ErrorContext): string {
  const bare = BARE.exec(message);
  if (bare) return explainBare(bare[1] ?? '', bare[2]!, bare[3], ctx) ?? message;
  const m = REWORDED.exec(message);
  if (!m) return message;
  const [, where = '', unmatched, unclosed] = m;
  if (unclosed !== undefined) {
    // At the end of the document; the first one saxes names is the innermost.
    const cut = cutOffTag(ctx.text);
    if (cut) return `${movedTo(where, ctx.text, cut.index)}<${cut.name}> is not closed: the file ends inside its tag`;
    return `${where}<${unclosed}> is not closed: the file ends before </${unclosed}>`;
  }
  if (unmatched !== undefined) return `${where}</${unmatched}> closes no open element`;
  const closing = closeTagEndingAt(ctx.text, ctx.position);
  if (closing === undefined || ctx.lastClosed === undefined) return message;
  return `${where}</${closing}> does not close <${ctx.lastClosed}>`;
}

/** The messages BARE matches, reworded to name what they are about (undefined: as saxes said it). */
function explainBare(where: string, what: string, attribute: string | undefined, ctx: ErrorContext): string | undefined {
  if (what === 'document must contain a root element.' || what === 'unexpected end.') {
    // The file ends inside a tag before the root was complete (`<broken`, `<broken a`).
    const cut = cutOffTag(ctx.text);
    if (cut) return `${movedTo(where, ctx.text, cut.index)}<${cut.name}> is not closed: the file ends inside its tag`;
    return what === 'unexpected end.' ? undefined : `${where}no root element: the file holds no element`;
  }
  const root = ctx.lastClosed === undefined ? 'the root element' : `</${ctx.lastClosed}>`;
  if (what === 'documents may contain only one root.') return `${where}a second element after ${root}: everything must be inside the one root element`;
  if (what === 'text data outside of root node.') return `${where}text outside the root element: everything must be inside it`;
  if (attribute !== undefined) return `${where}attribute ${attribute} is given twice in one tag`;
  // An entity reference other than XML's five: its name, from the text before where saxes stopped.
  const amp = ctx.text.lastIndexOf('&', ctx.position - 1);
  const ref = amp < 0 ? undefined : /^&[^\s&;<]{1,64};/.exec(ctx.text.slice(amp, ctx.position))?.[0];
  return `${where}${ref ?? 'an entity reference'} is not defined: XML has only &lt; &gt; &amp; &quot; &apos; and character references (&#...;)`;
}

/** The name of the close tag whose `>` ends just before `end`. */
function closeTagEndingAt(text: string, end: number): string | undefined {
  const start = text.lastIndexOf('</', end - 1);
  return /^<\/([^\s>]+)\s*>$/.exec(text.slice(start, end))?.[1];
}

/**
 * A start tag the document ends inside (`<jabber><broken`): the one `<`
 * after the last `>`, followed by a name. A `<!--` or `<![CDATA[` left open
 * is not one (and a `>` in a cut-off tag's attribute hides it: rare).
 */
function cutOffTag(text: string): { name: string; index: number } | undefined {
  const from = text.lastIndexOf('>') + 1;
  // Found by index, not by one regex over the tail: that backtracked, in
  // time growing with the square of a long tail (`<aaa...<`).
  const index = text.indexOf('<', from);
  if (index < 0 || text.indexOf('<', index + 1) >= 0) return undefined;
  const name = /^<([^\s<>/!?]+)/.exec(text.slice(index, index + 1 + 1024))?.[1];
  return name === undefined ? undefined : { name, index };
}

/** saxes' location prefix `where`, with LINE:COL changed to those of `index` in `text` (columns in characters, as saxes counts). */
function movedTo(where: string, text: string, index: number): string {
  // A line ends at CR LF, LF or a lone CR, as XML has it.
  const lines = text.slice(0, index).split(/\r\n?|\n/);
  const column = [...lines[lines.length - 1]!].length + 1;
  return where.replace(/\d+:\d+: $/, `${lines.length}:${column}: `);
}
