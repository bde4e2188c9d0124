// Node decodes the command line as UTF-8 and turns bytes that are not into
// U+FFFD, so a value given in Latin-1 arrives changed and cannot be told
// from the original: the value meant is lost (a password registered so
// could never be typed). Files and standard input are decoded strictly
// instead (read-secret.ts).

/** Why a command-line value cannot be used as given (`what` names it), or undefined when it can. */
export function lossyArgumentProblem(what: string, value: string): string | undefined {
  return value.includes('\uFFFD') ? `${what} is not UTF-8 text (it holds U+FFFD, what other bytes turn into)` : undefined;
}
