// SIGHUP, whose default action is death, from the first moment of the
// daemon's life: loading its modules takes a while (about 0.1 s), and a
// reload sent right after a start (systemctl reload, a logrotate at boot)
// must not kill it. The entry point catches the signal before it loads
// anything else; the daemon says what a SIGHUP does once it can act on it.
let installed = false;
let handler: (() => void) | undefined;
let early = 0;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('SIGHUP', () => {
    if (handler) handler();
    else early++;
  });
}

/** Catches SIGHUP now; until onHangup() the signals are only counted. */
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
