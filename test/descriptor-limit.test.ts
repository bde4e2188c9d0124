// The default cap on open connections, taken from the file descriptor
// limit (src/net/descriptor-limit.ts): the pure parts, and the daemon run
// under a small limit, where a client over the cap is refused with 1.4's
// error instead of taking the descriptors the spool needs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientStream } from '../src/client/client-stream.js';
import { parseConfig } from '../src/config/load.js';
import { connectionCapFor, connectionTotal, openFileLimit } from '../src/net/descriptor-limit.js';
import { bundledConfigText, startDaemon } from './helpers/daemon.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            4096                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('the connection cap from the descriptor limit', () => {
  test('the soft limit on open files is read from /proc/self/limits', () => {
    assert.equal(openFileLimit(LIMITS), 4096);
    assert.equal(openFileLimit(LIMITS.replace('4096 ', 'unlimited')), undefined);
    assert.equal(openFileLimit(''), undefined);
    const own = openFileLimit();
    assert.ok(own === undefined || own > 0);
  });

  test('an eighth of the descriptors, at least 256, is kept for the files', () => {
    assert.equal(connectionCapFor(65536), 65536 - 8192);
    assert.equal(connectionCapFor(1024), 1024 - 256);
    assert.equal(connectionCapFor(300), 44);
    assert.equal(connectionCapFor(100), 16, 'a tiny limit still lets a few clients in');
  });

  test('a configured total wins, 0 included (no cap); without one, the cap follows the limit, or there is none', () => {
    assert.equal(connectionTotal(500, 1024), 500);
    assert.equal(connectionTotal(0, 1024), 0);
    assert.equal(connectionTotal(undefined, 1024), 768);
    assert.equal(connectionTotal(undefined, undefined), 0);
  });

  test('<connections> without total leaves it to the limit; total=0 asks for no cap', () => {
    const limitsOf = (connections: string) => parseConfig(bundledConfigText().replace('</pthcsock>', `<limits>${connections}</limits></pthcsock>`), 'jabber.xml').c2s.limits;
    assert.equal(limitsOf("<connections perip='5'/>").connectionsTotal, undefined);
    assert.equal(limitsOf("<connections perip='5' total='0'/>").connectionsTotal, 0);
    assert.equal(limitsOf("<connections total='70'/>").connectionsTotal, 70);
    assert.equal(parseConfig(bundledConfigText(), 'jabber.xml').c2s.limits.connectionsTotal, undefined);
  });

  test('the daemon under 300 descriptors takes 44 clients, refuses the next with Too Many Connections, and says why', { timeout: 30_000 }, async () => {
    const daemon = await startDaemon({ wrap: ['prlimit', '--nofile=300', '--'] });
    const clients: ClientStream[] = [];
    try {
      const started = await daemon.waitForLog((l) => l.msg === 'started');
      assert.equal(started.maxConnections, 44);
      for (let i = 0; i < 44; i++) clients.push(await ClientStream.connect({ host: '127.0.0.1', port: daemon.port, domain: 'localhost' }));
      const refused = await ClientStream.connect({ host: '127.0.0.1', port: daemon.port, domain: 'localhost' });
      clients.push(refused);
      assert.equal((await refused.next((e) => e.name === 'stream:error')).text(), 'Too Many Connections');
      const line = await daemon.waitForLog((l) => l.msg === 'connection refused');
      assert.equal(line.limit, 'total');
      // One place freed, one client more.
      clients.shift()!.socket.destroy();
      await daemon.waitForLog((l) => l.msg === 'connection closed');
      const again = await ClientStream.connect({ host: '127.0.0.1', port: daemon.port, domain: 'localhost' });
      clients.push(again);
      assert.ok(again.streamId, 'a stream was opened');
    } finally {
      for (const c of clients) c.socket.destroy();
      await daemon.dispose();
    }
  });
});
