// Time formats of the legacy protocols.

/** jabber:x:delay / jabber:iq:time stamp: YYYYMMDDTHH:MM:SS in UTC. */
export function legacyStamp(date: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `T${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())}`
  );
}

export function unixTime(date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * Milliseconds on a clock that only moves forward (since the process
 * started), for waits and windows measured here: the wall clock may be
 * stepped (NTP at boot, a VM resumed), and a step back by an hour made a
 * login wait, or an address stay refused, an hour longer.
 */
export function monotonicMs(): number {
  return performance.now();
}
