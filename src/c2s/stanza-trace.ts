// The debug-level trace of a client stream (-D): a line per stanza in and
// out, for following a session's traffic in the log.
import type { Logger } from '../log.js';
import type { Element } from '../xml/element.js';

/**
 * The envelope of a stanza at debug level: never its content, which may
 * hold a password, a digest or a 0k hash.
 */
export function traceStanza(log: Logger, stream: string, dir: 'in' | 'out', el: Element): void {
  const { type, id, from, to } = el.attrs;
  const ns = el.name === 'iq' ? el.elements[0]?.attrs.xmlns : undefined;
  log.debug({ stream, dir, stanza: el.name, type, id, from, to, ns }, `stanza ${dir}`);
}
