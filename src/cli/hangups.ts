// Signals the daemon catches from the first moment of its life, before it
// loads anything else (loading its modules takes about 0.1 s):
// - SIGHUP, whose default action is death: a reload sent right after a
//   start (systemctl reload, a logrotate at boot) must not kill it. The
//   daemon says what a SIGHUP does once it can act on it.
// - SIGUSR1 and SIGUSR2, which mean nothing to Yak: by default the first
//   opens Node's debugger on 127.0.0.1:9229, where any local user can
//   attach and read every password, and the second kills on the spot,
//   without the clean stop. Scripts written for other daemons send them
//   (USR1 is nginx's "reopen logs").
let installed = false;
let handler: (() => void) | undefined;
let early = 0;
let onIgnored: ((signal: string) => void) | undefined;
const IGNORED = ['SIGUSR1', 'SIGUSR2'] as const;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('SIGHUP', () => {
    if (handler) handler();
    else early++;
  });
  for (const signal of IGNORED) process.on(signal, () => onIgnored?.(signal));
}

/** Catches SIGHUP (and ignores SIGUSR1 and SIGUSR2) now; until onHangup() the SIGHUPs are only counted. */
export function catchHangupsEarly(): void {
  install();
}

/** From now on a SIGHUP calls `fn`. Returns how many came before (and were ignored). */
export function onHangup(fn: () => void): number {
  install();
  handler = fn;
  const before = early;
  early = 0;
  return before;
}

/** From now on SIGUSR1 or SIGUSR2 calls `fn` (they are ignored either way). */
export function onIgnoredSignal(fn: (signal: string) => void): void {
  install();
  onIgnored = fn;
}
