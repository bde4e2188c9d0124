// The kernel's view of one loopback TCP connection, from /proc/net/tcp:
// what the tests of TCP keepalive look at, since Node reads back no socket
// option.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** Linux's clock ticks per second (USER_HZ), the unit of the timer column. */
const USER_HZ = 100;

export interface TcpEnd {
  /** The state, as /proc writes it (01: established). */
  state: string;
  /** Bytes sent and not yet acknowledged by the peer. */
  unacknowledged: number;
  /**
   * The timer running: `retransmit` while something waits for the peer's
   * acknowledgement, `keepalive` (sk_timer, on an established connection
   * with nothing waiting), or `none`.
   */
  timer: 'none' | 'retransmit' | 'keepalive' | 'other';
  /** Seconds until the timer fires. */
  seconds: number;
}

/** 127.0.0.1:PORT as /proc/net/tcp writes it. */
const procAddress = (port: number): string => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;

const TIMERS: Record<string, TcpEnd['timer']> = { '00': 'none', '01': 'retransmit', '02': 'keepalive' };

/** The end at 127.0.0.1:`port` of its connection with 127.0.0.1:`peerPort`, or undefined when there is none. */
export function tcpEnd(port: number, peerPort: number): TcpEnd | undefined {
  const local = procAddress(port);
  const remote = procAddress(peerPort);
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== local || f[2] !== remote) continue;
    const [kind, when] = f[5]!.split(':') as [string, string];
    return {
      state: f[3]!,
      unacknowledged: parseInt(f[4]!.split(':')[0]!, 16),
      timer: TIMERS[kind] ?? 'other',
      seconds: parseInt(when, 16) / USER_HZ,
    };
  }
  return undefined;
}

/** Resolves once the end at `port` has nothing unacknowledged (a delayed acknowledgement takes up to 40 ms here). */
export async function acknowledged(port: number, peerPort: number): Promise<void> {
  while ((tcpEnd(port, peerPort)?.unacknowledged ?? 0) > 0) await new Promise((r) => setTimeout(r, 10));
}

export interface KeepaliveTimer {
  timer: 'keepalive' | 'none';
  /** Seconds until the first probe (keepalive). */
  seconds?: number;
}

/**
 * The keepalive timer of the established connection at 127.0.0.1:`port` with
 * `peerPort`, once the peer has acknowledged all (while something waits for
 * it, the retransmission timer is the one shown).
 */
export async function keptAlive(port: number, peerPort: number): Promise<KeepaliveTimer> {
  await acknowledged(port, peerPort);
  const end = tcpEnd(port, peerPort);
  assert.ok(end, `127.0.0.1:${port} -> ${peerPort} is in /proc/net/tcp`);
  assert.equal(end.state, '01', 'the connection is established');
  if (end.timer === 'none') return { timer: 'none' };
  assert.equal(end.timer, 'keepalive', JSON.stringify(end));
  return { timer: 'keepalive', seconds: end.seconds };
}
