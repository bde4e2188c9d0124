// The TCP options of an open socket of this process, read back with
// getsockopt by a Python child that is handed the socket's descriptor:
// Node reads none of them back.
import { spawn } from 'node:child_process';
import type net from 'node:net';

export interface TcpOptions {
  nodelay: number;
  keepalive: number;
  /** TCP_KEEPIDLE, TCP_KEEPINTVL (seconds) and TCP_KEEPCNT. */
  idle: number;
  interval: number;
  probes: number;
}

const READ = `
import json, socket
s = socket.socket(fileno=3)
g = lambda level, name: s.getsockopt(level, name)
print(json.dumps({"nodelay": g(socket.IPPROTO_TCP, socket.TCP_NODELAY), "keepalive": g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
  "idle": g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), "interval": g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), "probes": g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)}))
s.detach()
`;

export function tcpOptions(socket: net.Socket): Promise<TcpOptions> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', READ], { stdio: ['ignore', 'pipe', 'pipe', socket] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as TcpOptions) : reject(new Error(`python3 exited ${code}: ${err}`))));
  });
}
