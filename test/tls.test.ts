// Direct TLS on the <ssl> listener: the same stream inside the tunnel,
// with our client library and with `openssl s_client`; clear startup
// errors for a missing or unusable key file.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClientStream } from '../src/client/client-stream.js';
import { authIq, registerUser, startYak, type TestYak } from './helpers/yak.js';

let dir: string;
let pem: string;

/** A throwaway self-signed key and certificate in one PEM file, as 1.4 wanted it. */
function makePem(into: string): string {
  const key = path.join(into, 'key.pem');
  const cert = path.join(into, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], {
    stdio: 'ignore',
  });
  const both = path.join(into, 'yak.pem');
  execFileSync('sh', ['-c', `cat '${key}' '${cert}' > '${both}'`]);
  return both;
}

function withTls(file: string) {
  return (c: TestYak['config']): void => {
    c.c2s.ssl = [{ port: 0, address: '127.0.0.1' }];
    c.tlsKeys = new Map([['127.0.0.1', file]]);
  };
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'yak-tls-'));
  pem = makePem(dir);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('direct TLS listener', () => {
  let yak: TestYak;
  let tlsPort: number;
  before(async () => {
    yak = await startYak({ tweak: withTls(pem) });
    tlsPort = yak.server.tlsPorts[0]!;
    await registerUser(yak, 'dj', 'secret');
  });
  after(() => yak.stop());

  test('the client library logs in over TLS exactly as over TCP', async () => {
    const c = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
    assert.match(c.streamId, /^[0-9A-F]{8}$/);
    const reply = await c.request(authIq('dj', 'tls', { password: 'secret' }));
    assert.equal(reply.attrs.type, 'result');
    const wrong = await ClientStream.connect({ port: tlsPort, domain: 'localhost', tls: true });
    const refused = await wrong.request(authIq('dj', 'tls2', { password: 'nope' }));
    assert.equal(refused.getChild('error')?.attrs.code, '401');
    await c.close();
    await wrong.close();
  });

  test('openssl s_client can open a stream and log in', async () => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-quiet'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const seen = (re: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re}; got: ${out}`)), 10_000);
        const check = (): void => {
          if (re.test(out)) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            resolve();
          }
        };
        const onData = (d: string): void => {
          out += d;
          check();
        };
        child.stdout.on('data', onData);
        check();
      });
    try {
      child.stdin.write("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
      await seen(/<stream:stream [^>]*from='localhost'/);
      child.stdin.write(authIq('dj', 'openssl', { password: 'secret' }, 'o1').toString());
      await seen(/<iq type='result' id='o1'\/>/);
      child.stdin.write('</stream:stream>');
      await seen(/<\/stream:stream>$/);
    } finally {
      child.kill();
    }
  });
});

describe('TLS startup errors', () => {
  test('a missing key file stops startup with a message naming <key>', async () => {
    await assert.rejects(startYak({ tweak: withTls(path.join(dir, 'absent.pem')) }), /<key ip='127\.0\.0\.1'>: cannot read .*absent\.pem/);
  });

  test('a file without a private key is refused', async () => {
    const certOnly = path.join(dir, 'cert.pem');
    await assert.rejects(startYak({ tweak: withTls(certOnly) }), /holds no private key/);
  });

  test('a corrupt key is refused', async () => {
    const bad = path.join(dir, 'bad.pem');
    await writeFile(bad, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await assert.rejects(startYak({ tweak: withTls(bad) }), /not a usable key and certificate/);
  });
});
