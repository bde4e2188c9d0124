// What lost-connection.test.ts runs in a network namespace of its own
// (unshare -rn), whose TCP buffers it may make small: a client that does
// not read, so that what is written to it waits in the server (its
// kernel's send buffer full), sends a keepalive, then is reset. Only
// exports: every file under dist/test is run by the test runner, and this
// one must run nowhere else.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { captureLog, logLine } from './log-capture.js';
import { login, offlineUser, onlineUser, plain } from './session.js';
import { startYak } from './yak.js';

export interface BehindReport {
  /** Bytes the server's socket held for the client, refused by its kernel, when the client's keepalive came. */
  unsentAtKeepalive: number;
  /** How many messages the server said it sent again. */
  resent: number;
  /** The ids of the messages the client's next login got. */
  delivered: string[];
}

export async function behindClient(messages: number): Promise<BehindReport> {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  for (const name of ['tcp_wmem', 'tcp_rmem']) writeFileSync(`/proc/sys/net/ipv4/${name}`, '4096 4096 4096');
  const captured = captureLog();
  const yak = await startYak({ log: captured.log, tweak: plain });
  try {
    const ghost = await onlineUser(yak, 'ghost');
    await offlineUser(yak, 'friend');
    const friend = await login(yak, 'friend');
    ghost.stream.socket.pause();
    const body = 'x'.repeat(2000);
    for (let i = 1; i <= messages; i++) friend.send(`<message to='ghost@localhost' id='m${i}'><body>${body}</body></message>`);
    await friend.sync();
    const server = yak.server.jsm.sessions.find('ghost@localhost', 'Work')!;
    // What the kernel would not take waits in the server's socket.
    const unsent = (): number => (server.transport as unknown as { conn: { unsent: number } }).conn.unsent;
    for (let i = 0; i < 100 && unsent() === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const unsentAtKeepalive = unsent();
    ghost.stream.socket.write(' ');
    await new Promise((r) => setTimeout(r, 200));
    ghost.stream.socket.resetAndDestroy();
    const line = await logLine(captured, (l) => l.msg === 'connection lost: messages it may not have delivered sent again');
    const back = await login(yak, 'ghost');
    back.send('<presence/>');
    const delivered: string[] = [];
    while (delivered.length < Number(line.messages)) delivered.push((await back.next((e) => e.name === 'message')).attrs.id!);
    return { unsentAtKeepalive, resent: Number(line.messages), delivered };
  } finally {
    await yak.stop();
  }
}
