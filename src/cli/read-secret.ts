// Reads a password without echo from a terminal, or the first line of a
// pipe or file: the same text whichever way it comes. Only as much is read
// as the first line of the longest password takes: what follows may never
// end (`< /dev/zero`, a writer that keeps its pipe open).
import { fstatSync, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { notAFile } from '../util/not-a-file.js';

/** The password's bytes are not UTF-8 (the README: a password must be). */
export class NotUtf8Error extends Error {}

/** Standard input could not be read (`< /tmp`: a directory), so there is no password. */
export class UnreadableInputError extends Error {
  constructor(cause: Error) {
    super(`cannot read the password from standard input: ${cause.message}`);
  }
}

/** A password file that cannot be read: missing, a folder, a device. */
export class UnreadableFileError extends Error {
  constructor(file: string, why: string) {
    super(`cannot read ${file}: ${why}`);
  }
}

/** The first line is longer than the longest password taken. */
export class TooLongError extends Error {
  constructor(maxChars: number) {
    super(`the password is longer than ${maxChars} characters`);
  }
}

/** Bytes read at a time from a file or device. */
const CHUNK = 4096;

/**
 * Collects the first line of what is read, chunk by chunk, up to its LF or
 * to the most bytes a line of `maxChars` characters can take: a byte-order
 * mark (3), 3 bytes for each UTF-16 unit (an astral character is 4 bytes
 * for 2 units), and CR LF. Past that the line is too long whatever it
 * holds, so nothing more is read.
 */
export class FirstLine {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly limit: number;

  constructor(
    private readonly maxChars: number,
    private readonly source: string,
  ) {
    this.limit = 3 + 3 * maxChars + 2;
  }

  /** Takes the next bytes; true once no more are needed (the line end came, or the limit passed). */
  add(chunk: Uint8Array): boolean {
    const eol = chunk.indexOf(0x0a);
    // Copied: a reader may fill the same buffer again.
    const part = Buffer.from(chunk.subarray(0, eol < 0 ? chunk.length : eol + 1));
    this.chunks.push(part);
    this.size += part.length;
    return eol >= 0 || this.size > this.limit;
  }

  /** The line, without its line end (all of it when no line end came). */
  text(): string {
    if (this.size > this.limit) throw new TooLongError(this.maxChars);
    // With its line end: firstLineOf takes CRLF off whole (cut at LF, a CR stayed in the password).
    const line = firstLineOf(Buffer.concat(this.chunks), this.source);
    if (line.length > this.maxChars) throw new TooLongError(this.maxChars);
    return line;
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
function firstLineOfPipe(input: NodeJS.ReadStream, line: FirstLine): Promise<string> {
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      input.off('data', onData);
      input.off('end', finish);
      input.off('error', failed);
      // Nothing more is read from it: destroyed, not paused, or the open
      // pipe would keep the process alive until its writer closed it.
      input.destroy();
      try {
        resolve(line.text());
      } catch (err) {
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      if (line.add(chunk)) finish();
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
 * The first line of a file (or a device: /dev/null is empty input) given
 * as standard input. Read here, not through a stream: Node's stream over
 * such a descriptor ends quietly on a read error (`< /tmp`: EISDIR), as if
 * the file were empty.
 */
function firstLineOfFile(line: FirstLine): string {
  const buf = Buffer.alloc(CHUNK);
  try {
    for (;;) {
      const n = readSync(0, buf, 0, CHUNK, null);
      if (n === 0 || line.add(buf.subarray(0, n))) break;
    }
  } catch (err) {
    throw new UnreadableInputError(err as Error);
  }
  return line.text();
}

/**
 * The first line of FILE, at most `maxChars` characters long. A pipe
 * (`--password-file <(pass show x)`) is read to its first line end only; a
 * device is refused, as it may never end (/dev/urandom). Rejects with
 * UnreadableFileError, NotUtf8Error or TooLongError.
 */
export async function readSecretFile(file: string, maxChars: number): Promise<string> {
  const unreadable = (err: unknown): never => {
    throw new UnreadableFileError(file, (err as Error).message);
  };
  const problem = notAFile(await stat(file).catch(unreadable));
  if (problem !== undefined) throw new UnreadableFileError(file, problem);
  const handle = await open(file, 'r').catch(unreadable);
  const line = new FirstLine(maxChars, file);
  try {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK, null).catch(unreadable);
      if (bytesRead === 0 || line.add(buf.subarray(0, bytesRead))) break;
    }
  } finally {
    await handle.close();
  }
  return line.text();
}

/**
 * A password from standard input: typed at `prompt` without echo on a
 * terminal, else the first line of the pipe or file (`echo pw | jabberctl
 * adduser ...`), at most `maxChars` characters long. Rejects with
 * NotUtf8Error, UnreadableInputError or TooLongError.
 */
export async function readSecret(prompt: string, maxChars: number): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const st = fstatSync(0);
    const line = new FirstLine(maxChars, 'standard input');
    // A pipe or socket is read only to its first line end: its writer may keep it open.
    return st.isFIFO() || st.isSocket() ? firstLineOfPipe(input, line) : firstLineOfFile(line);
  }
  return new Promise((resolve, reject) => {
    // Echo off before the prompt shows: a key typed the moment it appears
    // must not reach the screen.
    input.setRawMode(true);
    process.stderr.write(prompt);
    input.resume();
    // Decoded here, refusing bytes that are not UTF-8, as a pipe's are:
    // setEncoding('utf8') turned them into U+FFFD, a password nobody typed.
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let secret = '';
    const onData = (bytes: Buffer): void => {
      let chunk: string;
      try {
        chunk = decoder.decode(bytes, { stream: true });
      } catch {
        input.setRawMode(false);
        process.stderr.write('\n');
        input.pause();
        input.off('data', onData);
        reject(new NotUtf8Error('the password typed is not UTF-8 text (is the terminal set to UTF-8?)'));
        return;
      }
      const now = typed(secret, chunk);
      secret = now.secret;
      if (now.end === undefined) return;
      input.setRawMode(false);
      process.stderr.write('\n');
      if (now.end === 'interrupt') process.exit(130);
      input.pause();
      input.off('data', onData);
      if (secret.length > maxChars) reject(new TooLongError(maxChars));
      else resolve(secret);
    };
    input.on('data', onData);
  });
}
