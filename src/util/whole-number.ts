// A whole number written in a stanza (a presence priority, a message's
// expiry seconds): optional sign, digits only, white space around ignored.

/**
 * The number `text` says, or undefined for anything else ("high", "1.5",
 * "", "0x10"). Digits beyond what a double holds exactly come out rounded,
 * or as +-Infinity when absurdly long: callers clamp or compare.
 */
export function wholeNumber(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t !== undefined && /^[+-]?\d+$/.test(t) ? Number(t) : undefined;
}
