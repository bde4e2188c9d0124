// Characters XML 1.0 does not allow anywhere in a document: C0 controls
// other than tab, newline and carriage return, U+FFFE and U+FFFF, and lone
// surrogate halves (which UTF-8 cannot even encode). A string holding one
// can never be written into a stanza or a spool file that still parses.
const NOT_XML_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF\p{Cs}]/u;

/** True when `s` holds a character that no XML 1.0 document may contain. */
export function hasNonXmlChar(s: string): boolean {
  return NOT_XML_CHAR.test(s);
}

/**
 * `s` without XML white space (space, tab, CR, LF: XML 1.0's S) at either
 * end. String.prototype.trim() takes every Unicode space too: a no-break or
 * ideographic space, or a BOM, written on purpose (`&#xA0;` in a welcome
 * text) or refused by stringprep where it stands (`\u3000bob` registered
 * as `bob`) went without a word.
 */
export function trimXmlSpace(s: string): string {
  // Scanned in from both ends: a regular expression for the trailing run
  // was tried again at every space of a run not at the end, quadratic in
  // it (60,000 spaces in a username before login held the server 3.6 s).
  let start = 0;
  let end = s.length;
  while (start < end && isXmlSpace(s.charCodeAt(start))) start++;
  while (end > start && isXmlSpace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
