// The text of an XML file read from disk (a jabber.xml, a spool file):
// UTF-8, unless its XML declaration names ISO-8859-1 or US-ASCII, which
// 1.4's expat read too. A jabber.xml of that era may hold Latin-1 names in
// its vCard or welcome text, and a spool file edited by hand may say
// ISO-8859-1. Bytes that are not what the file says it holds are refused,
// never turned into U+FFFD: in a spool file that would change a password
// or a name for good at the next rewrite.

/** The file's bytes are not text in the encoding it names; the message says why. */
class XmlEncodingError extends Error {}

/** The encoding an XML declaration names, lowercased; undefined without one. */
const DECLARED_ENCODING = /^(?:\xEF\xBB\xBF)?<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/;

/**
 * The file's text. What is wrong with its bytes is thrown as an
 * XmlEncodingError, or as the error `refuse` makes of the reason, for a
 * caller whose own error type names the file (ConfigError, SpoolFileError).
 */
export function decodeXmlFile(bytes: Buffer, refuse: (why: string) => Error = (why) => new XmlEncodingError(why)): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw refuse('UTF-16 is not supported; save it as UTF-8');
  }
  const declared = DECLARED_ENCODING.exec(bytes.subarray(0, 256).toString('latin1'))?.[1]?.toLowerCase();
  if (declared === 'iso-8859-1' || declared === 'latin1') return bytes.toString('latin1');
  if (declared === 'us-ascii' || declared === 'ascii') {
    if (bytes.some((b) => b > 0x7f)) throw refuse('not US-ASCII, as its XML declaration says');
    return bytes.toString('latin1');
  }
  if (declared !== undefined && declared !== 'utf-8' && declared !== 'utf8') {
    throw refuse(`encoding '${declared}' is not supported (UTF-8 or ISO-8859-1)`);
  }
  try {
    // fatal: refuse bad bytes; a leading byte-order mark is dropped.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw refuse("not UTF-8 text (an XML declaration with encoding='ISO-8859-1' reads Latin-1)");
  }
}
