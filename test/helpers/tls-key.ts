// A throwaway self-signed key and certificate (CN=localhost) for the TLS tests.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestKey {
  /** Key and certificate in one PEM file, as 1.4's <ssl> wanted it (Yak's tlsKeys). */
  pem: string;
  /** The certificate alone, for a client that verifies it. */
  cert: string;
}

/** Made with openssl in `into` (a temp folder the caller removes). */
export function makeTestKey(into: string): TestKey {
  const key = path.join(into, 'key.pem');
  const cert = path.join(into, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], {
    stdio: 'ignore',
  });
  const pem = path.join(into, 'yak.pem');
  writeFileSync(pem, readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'), { mode: 0o600 });
  return { pem, cert };
}
