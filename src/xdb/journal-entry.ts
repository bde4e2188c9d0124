// The journal's entries, as they are in a generation file (journal.ts).
//
// Entry: `W <bytes> <sha1> <host-folder>/<file>\n<bytes of the file>\n`, or
// `D 0 <sha1> <host-folder>/<file>\n\n` for a deletion; the SHA-1 covers
// the header fields and the content, so a torn tail is recognized and
// ignored (it was never acknowledged).
import { createHash } from 'node:crypto';

function digest(head: string, body: Buffer): string {
  return createHash('sha1').update(head).update(body).digest('hex');
}

/** One journal entry: `data` becomes the content of the file at `rel` (null deletes it). */
export function encodeEntry(rel: string, data: string | null): Buffer {
  const body = data === null ? Buffer.alloc(0) : Buffer.from(data, 'utf8');
  const op = data === null ? 'D' : 'W';
  const head = `${op} ${body.length} ${rel}\n`;
  const line = `${op} ${body.length} ${digest(head, body)} ${rel}\n`;
  return Buffer.concat([Buffer.from(line, 'utf8'), body, Buffer.from('\n')]);
}

interface DecodedEntry {
  rel: string;
  data: string | null;
}

/**
 * The entries of one generation, one at a time, up to the first one that
 * is not whole; `read.used` is then the bytes they take. One at a time: a
 * replay while the server serves paces itself between them.
 */
export function* generationEntries(buf: Buffer, read: { used: number }): Generator<DecodedEntry> {
  let at = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    if (nl < 0) break;
    const m = /^([WD]) (0|[1-9][0-9]{0,11}) ([0-9a-f]{40}) (.+)$/.exec(buf.toString('utf8', at, nl));
    if (!m) break;
    const [, op, len, sum, rel] = m as unknown as [string, string, string, string, string];
    const size = Number(len);
    const end = nl + 1 + size;
    if (end >= buf.length || buf[end] !== 0x0a) break;
    const body = buf.subarray(nl + 1, end);
    if (digest(`${op} ${size} ${rel}\n`, body) !== sum) break;
    at = end + 1;
    read.used = at;
    yield { rel, data: op === 'D' ? null : body.toString('utf8') };
  }
}
