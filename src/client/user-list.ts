// Lists of accounts to create, as reguser --file reads them. Two formats:
//
//   field=value lines, one account each, words quoted as in a shell:
//     username=joseph password=spinach 'name=Joseph Adams' email=joseph@yak
//   CSV (RFC 4180 quoting, one record per line) with a header naming the fields:
//     username,password,name,email
//     joseph,spinach,Joseph Adams,joseph@yak
//
// The format is told by the first line that is not blank or a comment: a
// field=value line always has an '=', a CSV header (field names) never does.
// A line that cannot be used becomes a BrokenLine with its number and the
// reason; it never stops the rest of the list.
import { hasNonXmlChar } from '../xml/chars.js';

/** An account to create: field name/value pairs in the order given. */
export interface UserRecord {
  kind: 'user';
  line: number;
  fields: [string, string][];
  username: string;
}

export interface BrokenLine {
  kind: 'broken';
  line: number;
  reason: string;
}

export type UserListEntry = UserRecord | BrokenLine;

export interface UserList {
  format: 'pairs' | 'csv';
  entries: UserListEntry[];
}

/** The list as a whole is unusable (a CSV header without username, say). */
export class UserListError extends Error {}

/** A field problem in one line or argument list. */
export class FieldError extends Error {}

// Element names we are willing to send: a conservative subset of XML names.
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const REQUIRED = ['username', 'password'];

/**
 * Splits a line into words the way a POSIX shell would for plain words:
 * whitespace separates, 'single quotes' are literal, "double quotes" allow
 * \" and \\, and a backslash outside quotes escapes the next character.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new FieldError('unterminated single quote');
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new FieldError('unterminated double quote');
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new FieldError('backslash at the end of the line');
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\f' || c === '\v') {
      // ASCII white space only, as a shell splits: a no-break or ideographic space is part of a word.
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Turns field=value words into pairs (the value is everything after the
 * first '=', so it may hold '=' and spaces) and checks them: valid unique
 * field names, non-empty username and password.
 */
export function parseFieldPairs(words: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) throw new FieldError(`no '=' in "${w}"`);
    pairs.push([w.slice(0, eq), w.slice(eq + 1)]);
  }
  checkFields(pairs);
  return pairs;
}

function checkFields(pairs: readonly (readonly [string, string])[]): void {
  const seen = new Set<string>();
  for (const [name, value] of pairs) {
    if (!FIELD_NAME.test(name)) throw new FieldError(`"${name}" is not a field name`);
    if (seen.has(name)) throw new FieldError(`${name} given twice`);
    // Sent as it is, such a value would end the stream (Invalid XML), and
    // with it the registrations of every line after this one.
    if (hasNonXmlChar(value)) throw new FieldError(`${name} holds a character XML does not allow (a control character)`);
    seen.add(name);
  }
  for (const name of REQUIRED) {
    const pair = pairs.find(([n]) => n === name);
    if (!pair || pair[1] === '') throw new FieldError(`${name} missing`);
  }
}

/** Splits one CSV line (RFC 4180 quoting; a record may not span lines here). */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new FieldError('unterminated quoted value');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new FieldError('text after a closing quote');
    } else {
      const end = line.indexOf(',', i);
      cell = line.slice(i, end < 0 ? line.length : end);
      if (cell.includes('"')) throw new FieldError('quote inside an unquoted value');
      i = end < 0 ? line.length : end;
    }
    cells.push(cell);
    if (i >= line.length) return cells;
    i++; // the comma
  }
}

function isSkippable(line: string): boolean {
  const t = line.trim();
  return t === '' || t.startsWith('#');
}

function csvHeader(line: string, lineNo: number): string[] {
  let names: string[];
  try {
    names = splitCsvLine(line).map((n) => n.trim());
  } catch (err) {
    throw new UserListError(`line ${lineNo}: CSV header: ${(err as Error).message}`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (!FIELD_NAME.test(n)) throw new UserListError(`line ${lineNo}: CSV header: "${n}" is not a field name`);
    if (seen.has(n)) throw new UserListError(`line ${lineNo}: CSV header: ${n} given twice`);
    seen.add(n);
  }
  for (const r of REQUIRED) {
    if (!seen.has(r)) throw new UserListError(`line ${lineNo}: CSV header has no ${r} column`);
  }
  return names;
}

function csvRecord(line: string, header: readonly string[]): [string, string][] {
  const cells = splitCsvLine(line);
  if (cells.length !== header.length) {
    throw new FieldError(`${cells.length} values for ${header.length} columns`);
  }
  // An empty cell leaves an optional field out rather than sending it empty.
  const pairs = header.map((name, i): [string, string] => [name, cells[i]!]).filter(([, v]) => v !== '');
  checkFields(pairs);
  return pairs;
}

/** Parses a whole list. Throws UserListError only when nothing in it can be used. */
export function parseUserList(text: string): UserList {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const entries: UserListEntry[] = [];
  const first = lines.findIndex((l) => !isSkippable(l));
  if (first < 0) return { format: 'pairs', entries };
  const csv = !lines[first]!.includes('=');
  const header = csv ? csvHeader(lines[first]!, first + 1) : undefined;
  for (let i = csv ? first + 1 : first; i < lines.length; i++) {
    const line = lines[i]!;
    // In CSV a '#' may well start a value, so only blank lines are skipped there.
    if (csv ? line.trim() === '' : isSkippable(line)) continue;
    try {
      const fields = header ? csvRecord(line, header) : parseFieldPairs(splitWords(line));
      const username = fields.find(([n]) => n === 'username')![1];
      entries.push({ kind: 'user', line: i + 1, fields, username });
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      entries.push({ kind: 'broken', line: i + 1, reason: err.message });
    }
  }
  return { format: csv ? 'csv' : 'pairs', entries };
}
