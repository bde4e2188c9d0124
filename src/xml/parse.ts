// Whole-document parsing (config files, spool files) into Element trees.
import { SaxesParser } from 'saxes';
import { Element } from './element.js';
import { explainParseError } from './parse-errors.js';
import { trimXmlSpace } from './chars.js';

export interface ParseOptions {
  /** Config files carry comments, and spool files may (1.4's expat skipped them); stanzas must not. */
  allowComments?: boolean;
  /** Drop text that is only whitespace (pretty-printed config). */
  stripWhitespace?: boolean;
  /** Used in error messages. */
  fileName?: string;
  /**
   * The deepest element nesting accepted, the root counting 1: deeper is a
   * parse error naming the element. Without it any depth is read; the tree
   * is built without recursion, but its readers recurse.
   */
  maxDepth?: number;
  /** Elements the document's root will sit inside (a config file read through an include), counted toward maxDepth. */
  depthAbove?: number;
}

class XmlParseError extends Error {}

export function parseXml(text: string, opts: ParseOptions = {}): Element {
  // XML 1.0 whatever the declaration says (see stream-parser.ts).
  const parser = new SaxesParser({ xmlns: false, fileName: opts.fileName, forceXMLVersion: true, defaultXMLVersion: '1.0' });
  const stack: Element[] = [];
  let root: Element | undefined;
  let failure: string | undefined;
  let lastClosed: string | undefined;
  const fail = (msg: string): void => {
    failure ??= msg;
  };
  // Only the first error is kept: the others are not worded at all.
  parser.on('error', (err) => {
    if (failure === undefined) fail(explainParseError(err.message, { text, position: parser.position, lastClosed }));
  });
  parser.on('doctype', () => fail(at(parser, 'DOCTYPE is not allowed', opts)));
  parser.on('processinginstruction', () => fail(at(parser, 'processing instructions are not allowed', opts)));
  if (!opts.allowComments) parser.on('comment', () => fail(at(parser, 'comments are not allowed', opts)));
  const depthAbove = opts.depthAbove ?? 0;
  // Once failed, the tree is thrown away: building the rest (a deep one
  // may be millions of elements) would only cost memory.
  parser.on('opentag', (tag) => {
    if (failure !== undefined) return;
    if (opts.maxDepth !== undefined && depthAbove + stack.length + 1 > opts.maxDepth) {
      // The outermost ones say where it is when the file is one long line.
      const inside = stack.slice(0, 3).map((e) => `<${e.name}>`).join('');
      const around = depthAbove > 0 ? `, counting the ${depthAbove} the document sits inside` : '';
      fail(at(parser, `<${tag.name}> (inside ${inside}...) is nested more than ${opts.maxDepth} elements deep${around}`, opts));
      return;
    }
    const e = new Element(tag.name, tag.attributes as Record<string, string>);
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(e);
    else root = e;
    stack.push(e);
  });
  parser.on('closetag', (tag) => {
    if (failure !== undefined) return;
    lastClosed = tag.name;
    stack.pop();
  });
  const onText = (t: string): void => {
    const parent = stack[stack.length - 1];
    if (!parent || failure !== undefined) return;
    if (opts.stripWhitespace && trimXmlSpace(t) === '') return;
    parent.children.push(t);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.write(text).close();
  if (failure !== undefined) throw new XmlParseError(failure);
  if (!root) throw new XmlParseError(`${opts.fileName ?? 'document'}: no root element`);
  return root;
}

function at(parser: SaxesParser, msg: string, opts: ParseOptions): string {
  return `${opts.fileName ?? 'document'}:${parser.line}:${parser.column}: ${msg}`;
}
