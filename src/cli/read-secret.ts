// Reads a password without echo from a terminal, or the first line of a
// pipe or file: the same text whichever way it comes.
import { fstatSync, readFileSync } from 'node:fs';

/** The password's bytes are not UTF-8 (the README: a password must be). */
export class NotUtf8Error extends Error {}

/** Standard input could not be read (`< /tmp`: a directory), so there is no password. */
export class UnreadableInputError extends Error {
  constructor(cause: Error) {
    super(`cannot read the password from standard input: ${cause.message}`);
  }
}

/**
 * The first line of what a password file or pipe holds, without its line
 * end: UTF-8 only (a stray byte is refused, not turned into U+FFFD), and a
 * byte-order mark, which editors put first, is not part of the password.
 */
export function firstLineOf(bytes: Uint8Array, source: string): string {
  let text: string;
  try {
    // fatal: refuse bad bytes; the default ignoreBOM: false drops a leading BOM.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new NotUtf8Error(`${source} is not UTF-8 text`);
  }
  return text.split(/\r?\n/)[0] ?? '';
}

export interface Typed {
  secret: string;
  /** Enter or ^D ended the line; ^C interrupted it. */
  end?: 'enter' | 'interrupt';
}

/**
 * What typing `keys` at the prompt does to `secret`. Backspace and DEL take
 * away the last character, a whole one: an emoji is two UTF-16 units.
 */
export function typed(secret: string, keys: string): Typed {
  for (const ch of keys) {
    if (ch === '\r' || ch === '\n' || ch === '\u0004') return { secret, end: 'enter' };
    if (ch === '\u0003') return { secret, end: 'interrupt' };
    if (ch === '\u007f' || ch === '\b') secret = secret.slice(0, secret.length - lastCharLength(secret));
    else secret += ch;
  }
  return { secret };
}

function lastCharLength(s: string): number {
  if (s.length < 2) return s.length;
  const low = s.charCodeAt(s.length - 1);
  const high = s.charCodeAt(s.length - 2);
  return low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? 2 : 1;
}

/** The first line of a pipe, read only as far as its end (the writer may not close it). */
function firstLineOfPipe(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const finish = (): void => {
      input.off('data', onData);
      input.off('end', finish);
      input.off('error', failed);
      input.pause();
      const bytes = Buffer.concat(chunks);
      const eol = bytes.indexOf(0x0a);
      try {
        // With its line end: firstLineOf takes CRLF off whole (cut at LF, a CR stayed in the password).
        resolve(firstLineOf(eol < 0 ? bytes : bytes.subarray(0, eol + 1), 'standard input'));
      } catch (err) {
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      if (chunk.includes(0x0a)) finish();
    };
    // A read error is one line to the user, not an uncaught stack trace.
    const failed = (err: Error): void => {
      input.off('data', onData);
      input.off('end', finish);
      reject(new UnreadableInputError(err));
    };
    input.on('data', onData);
    input.once('end', finish);
    input.once('error', failed);
  });
}

/**
 * The first line of a file (or /dev/null) given as standard input. Read
 * whole and at once: Node's stream over such a descriptor ends quietly
 * on a read error (`< /tmp`: EISDIR), as if the file were empty.
 */
function firstLineOfFile(): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(0);
  } catch (err) {
    throw new UnreadableInputError(err as Error);
  }
  return firstLineOf(bytes, 'standard input');
}

/**
 * A password from standard input: typed at `prompt` without echo on a
 * terminal, else the first line of the pipe or file (`echo pw | jabberctl
 * adduser ...`). Rejects with NotUtf8Error or UnreadableInputError.
 */
export async function readSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const stat = fstatSync(0);
    // A pipe or socket is read only to its first line end: its writer may keep it open.
    return stat.isFIFO() || stat.isSocket() ? firstLineOfPipe(input) : firstLineOfFile();
  }
  return new Promise((resolve) => {
    // Echo off before the prompt shows: a key typed the moment it appears
    // must not reach the screen.
    input.setRawMode(true);
    process.stderr.write(prompt);
    input.resume();
    input.setEncoding('utf8');
    let secret = '';
    const onData = (chunk: string): void => {
      const now = typed(secret, chunk);
      secret = now.secret;
      if (now.end === undefined) return;
      input.setRawMode(false);
      process.stderr.write('\n');
      if (now.end === 'interrupt') process.exit(130);
      input.pause();
      input.off('data', onData);
      resolve(secret);
    };
    input.on('data', onData);
  });
}
