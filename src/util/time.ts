// Time formats of the legacy protocols.

/** jabber:x:delay / jabber:iq:time stamp: YYYYMMDDTHH:MM:SS in UTC. */
export function legacyStamp(date: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `T${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())}`
  );
}

/** The time a legacy stamp (legacyStamp's form) stands for, in ms since the epoch; undefined when it is not one. */
export function legacyStampTime(stamp: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d):(\d\d):(\d\d)$/.exec(stamp);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
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
