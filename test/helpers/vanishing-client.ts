// What keepalive.test.ts runs in a network namespace of its own (unshare
// -rn): a client that vanishes without a word. Its loopback is taken down
// under a logged-in session, as when a machine loses its network, so the
// server's packets go nowhere and nothing ever comes back: no FIN, no
// reset. Taking an interface down needs the namespace; the host's own
// loopback is never touched. Only exports: every file under dist/test is
// run by the test runner, and this one must run nowhere else.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { captureLog, logLine } from './log-capture.js';
import { acknowledged } from './proc-net-tcp.js';
import { login, offlineUser, onlineUser, plain, xml } from './session.js';
import { startYak } from './yak.js';

export interface VanishReport {
  /** The server's 'connection closed' line for the vanished session. */
  closed: Record<string, unknown>;
  /** Milliseconds from taking the loopback down to that line. */
  foundAfterMs: number;
  /** What the vanished user's next login got, in order: a message sent to it meanwhile, as stored. */
  delivered: string[];
}

const loopback = (state: 'up' | 'down'): void => {
  execFileSync('ip', ['link', 'set', 'lo', state]);
};

/**
 * Logs "ghost" in with <keepalive> at `seconds`, cuts it off, and reports
 * what the server made of it. `inFlight`: a message from "friend" is
 * written to the vanished client, so that the kernel's retransmission ends
 * the connection (made to give up after a few seconds in this namespace:
 * net.ipv4.tcp_retries2 is one of its own), not keepalive.
 */
export async function vanishingClient(seconds: number, inFlight = false): Promise<VanishReport> {
  loopback('up');
  if (inFlight) writeFileSync('/proc/sys/net/ipv4/tcp_retries2', '3');
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: (c) => {
      plain(c);
      c.c2s.limits.keepaliveSeconds = seconds;
    },
  });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    await offlineUser(yak, 'friend');
    // Once the client has acknowledged all it got: with a reply still in
    // flight, the kernel's retransmission decides (minutes), not keepalive.
    await acknowledged(yak.port, ghost.stream.socket.localPort!);
    const cutAt = Date.now();
    loopback('down');
    // As if friend had sent it: friend's own connection would be cut off too.
    if (inFlight) await yak.server.jsm.router.route(xml("<message from='friend@localhost/Work' to='ghost@localhost/Work' id='m0'><body>lost on the way?</body></message>"));
    const closed = await logLine(
      captured,
      (l) => l.msg === 'connection closed' && l.user === 'ghost@localhost/Work',
      (seconds + 30) * 1000,
    );
    const foundAfterMs = Date.now() - cutAt;
    loopback('up');
    ghost.stream.socket.destroy();
    // The session is gone: a message sent to the user now waits in offline storage.
    const friend = await login(yak, 'friend');
    friend.send("<message to='ghost@localhost' id='m1'><body>still there?</body></message>");
    await friend.sync();
    const back = await login(yak, 'ghost');
    back.send(xml('<presence/>'));
    const delivered: string[] = [];
    for (;;) {
      const message = await back.next((e) => e.name === 'message');
      delivered.push(message.toString());
      if (message.attrs.id === 'm1') return { closed, foundAfterMs, delivered };
    }
  } finally {
    await yak.stop();
  }
}
