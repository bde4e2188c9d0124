// Whole numbers as text: written in a stanza (a presence priority, a
// message's expiry seconds), or kept in a spool file (a logout time, a 0k
// sequence), where only what the server writes counts.

/**
 * The number `text` says, or undefined for anything else ("high", "1.5",
 * "", "0x10"). Digits beyond what a double holds exactly come out rounded,
 * or as +-Infinity when absurdly long: callers clamp or compare.
 */
export function wholeNumber(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t !== undefined && /^[+-]?\d+$/.test(t) ? Number(t) : undefined;
}

/**
 * A count or time the server keeps in a spool file (a logout's Unix time,
 * a 0k chain's sequence, when an offline message was stored): digits only,
 * white space around ignored, and exact. Anything else a hand-edited or
 * damaged file may hold ('', '-5', '1.5', '0x10', '1e9', more digits than a
 * double holds exactly) is undefined: no value, never a guess
 * (`Number('')` is 0, `Number('0x10')` 16).
 */
export function storedCount(text: string | undefined): number | undefined {
  const t = text?.trim();
  if (t === undefined || !/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}
