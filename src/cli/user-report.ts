// What jabberctl prints about accounts: a registered name or a stored
// record reaches the admin's terminal, so it is escaped first.
import type { UserInfo } from '../admin/admin-ops.js';

/**
 * Control characters shown as \u{..}: a name someone registered must not
 * drive the admin's terminal. So are the characters that reorder or break
 * the text around them (bidi marks, embeddings, overrides and isolates, the
 * line and paragraph separators): shown raw, a name could make the rest of
 * its line read as something else.
 */
export function printable(s: string): string {
  return s.replace(/[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2028\u2029]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/**
 * The last logout's time, or that it is unknown and what the record holds
 * instead (a server before this check sends an unusable time as is, or as
 * null).
 */
function lastTime(last: NonNullable<UserInfo['last']>): string {
  const date = new Date((last.time ?? NaN) * 1000);
  if (!Number.isNaN(date.getTime())) return date.toISOString();
  const stored = last.stored ?? (last.time === null ? undefined : String(last.time));
  if (stored === undefined) return 'unknown time';
  return `unknown time, stored as ${quoted(stored)}`;
}

/** A value from the file, quoted: enough of a long one to recognise, cut between characters, never inside a surrogate pair. */
function quoted(stored: string): string {
  const chars = [...stored];
  return `'${chars.length > 40 ? `${chars.slice(0, 40).join('')}...` : stored}'`;
}

/** The 0k chain's sequence, or that logins take the chain for none. */
function zerokLine(zerok: UserInfo['zerok']): string {
  if (!zerok) return 'none';
  // A server before this check sent Number()'s reading (NaN as null).
  if (zerok.sequence !== null && Number.isSafeInteger(zerok.sequence) && zerok.sequence >= 0) return `sequence ${zerok.sequence}`;
  // JSON has no NaN: an older server's Number('abc') arrives as null, with nothing to quote.
  const stored = zerok.stored ?? (zerok.sequence === null ? undefined : String(zerok.sequence));
  return `unusable${stored === undefined ? '' : `, sequence stored as ${quoted(stored)}`} (0k logins are not offered until a plain login makes a new chain)`;
}

/** What `jabberctl show` prints about an account, one `name: value` line each, escaped (see printable). */
export function userReport(u: UserInfo): string {
  const lines = [`jid: ${u.jid}`];
  for (const [k, v] of Object.entries(u.fields)) lines.push(`${k}: ${v}`);
  lines.push(`plaintext password stored: ${u.plaintextStored ? 'yes' : 'no'}`);
  // mod_auth_plain checks the hash only when no plaintext is stored.
  if (u.cryptHash && u.plaintextStored) lines.push(`1.4 mod_auth_crypt hash: ${u.cryptHash} (not used: the plaintext is checked; a new password removes it)`);
  else if (u.cryptHash === 'unusable') lines.push('1.4 mod_auth_crypt hash: unusable (no password matches it; set a new one)');
  else if (u.cryptHash) lines.push(`1.4 mod_auth_crypt hash: ${u.cryptHash} (plain logins check it; a new password replaces it)`);
  lines.push(`zero-knowledge: ${zerokLine(u.zerok)}`);
  lines.push(`last: ${u.last ? `${lastTime(u.last)} (${u.last.status})` : 'never'}`);
  lines.push(`roster items: ${u.rosterItems}`, `offline messages: ${u.offlineMessages}`);
  lines.push(`online: ${u.online.length ? u.online.join(', ') : 'no'}`);
  return lines.map(printable).join('\n') + '\n';
}
