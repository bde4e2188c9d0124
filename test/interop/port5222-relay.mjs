// node port5222-relay.mjs SOCKET COMMAND [ARG...]
//
// Runs COMMAND with 127.0.0.1:5222 relayed to the Unix socket SOCKET, for
// clients that cannot be told a port: iksroster (iksemel) always connects
// to port 5222 of its JID's host. Run it inside a network namespace of its
// own, with lo up (interop-iksemel.test.ts: `unshare -rn`), so that 5222
// there is free and nobody else's; SOCKET, a file, is reachable from any
// namespace, and the test forwards it to the Yak under test.
//
// Listens on the namespace's ::1 too when it has one: a Debian /etc/hosts
// names localhost ::1 as well, and iksemel connects to the first address
// getaddrinfo gives, trying no other. Nothing leaves the namespace.
//
// Exits with COMMAND's status (128 + signal number when killed). SIGTERM
// is passed on to COMMAND, so the test can stop a run that hangs.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';

const [socketPath, command, ...args] = process.argv.slice(2);
if (!socketPath || !command) {
  process.stderr.write('usage: port5222-relay.mjs SOCKET COMMAND [ARG...]\n');
  process.exit(64);
}

function relay(client) {
  const upstream = net.connect(socketPath);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}

function listen(address) {
  return new Promise((resolve, reject) => {
    const server = net.createServer(relay);
    server.once('error', reject);
    server.listen(5222, address, () => resolve(server));
  });
}

const servers = [await listen('127.0.0.1')];
// ::1 only where the namespace has it (no IPv6, or IPv6 off: skip it).
const hasV6Loopback = Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'));
if (hasV6Loopback) servers.push(await listen('::1'));

const child = spawn(command, args, { stdio: 'inherit' });
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('error', (err) => {
  process.stderr.write(`port5222-relay: cannot run ${command}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  for (const s of servers) s.close();
  process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0));
});
