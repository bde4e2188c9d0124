// SIGHUP: the parts of jabber.xml that can change on a running server do,
// the others are reported as needing a restart, and a broken file changes
// nothing. The log file is reopened under its name (logrotate).
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ClientStream } from '../src/client/client-stream.js';
import { parseConfig } from '../src/config/load.js';
import { applyReload } from '../src/config/reload.js';
import { LOCK_FILE } from '../src/xdb/spool-lock.js';
import { bundledConfigText, JABBERD, startDaemon } from './helpers/daemon.js';
import type { Xdb } from '../src/xdb/xdb.js';
import { parseXml } from '../src/xml/parse.js';
import { holdCalls } from './helpers/latch.js';
import { BUNDLED_CONFIG, loginUser, registerIq, registerUser, startYak } from './helpers/yak.js';

const base = bundledConfigText();
const load = (text: string) => parseConfig(text, BUNDLED_CONFIG, { spool: '/tmp/yak-reload-unused' });

describe('applyReload', () => {
  test('takes welcome, policy and limits; refuses hosts and modules until a restart', () => {
    const live = load(base);
    const fresh = load(
      base
        .replace('<subject>Welcome!</subject>', '<subject>Hello again</subject>')
        .replace('<host><jabberd:cmdline', '<host>other.example</host><host><jabberd:cmdline')
        .replace('<mod_xml>./jsm/jsm.so</mod_xml>', '')
        .replace('<authtime>120</authtime>', '<authtime>30</authtime>')
        .replace('</jsm>', "<register_policy><reserved>support</reserved></register_policy></jsm>"),
    );
    const result = applyReload(live, fresh);
    assert.deepEqual(result.needsRestart.sort(), ['hosts', 'modules (<load>)']);
    assert.ok(result.applied.includes('<welcome>') && result.applied.includes('<authtime>') && result.applied.includes('<register_policy>'));
    assert.equal(live.jsm.welcome?.subject, 'Hello again');
    assert.equal(live.c2s.authtime, 30);
    assert.ok(live.jsm.registerPolicy.reserved.includes('support'));
    assert.deepEqual(live.hosts, ['localhost'], 'hosts stay as they were');
    assert.ok(live.jsm.modules.includes('mod_xml'), 'modules stay as they were');
  });

  test('<log>, <filter> and <mod_offline> need a restart (the log file stays open; modules read theirs at startup)', () => {
    const live = load(base);
    const fresh = load(
      base
        .replace('<stderr/>', '<file>elsewhere.log</file>')
        .replace('<max_size>100</max_size>', '<max_size>5</max_size>')
        .replace('</jsm>', '<mod_offline><limit>5</limit></mod_offline></jsm>'),
    );
    assert.deepEqual(applyReload(live, fresh), { applied: [], needsRestart: ['<mod_offline>', '<filter>', '<log>'] });
    assert.deepEqual([live.log.file, live.jsm.filter.policy.maxSize, live.jsm.offlineLimit], [undefined, 100, 1000]);
  });

  test('<mod_offline> laid out differently, same limit: nothing to restart for', () => {
    const withLimit = (xml: string): string => base.replace('</jsm>', `${xml}</jsm>`);
    const live = load(withLimit('<mod_offline><limit>5</limit></mod_offline>'));
    const fresh = load(withLimit('<mod_offline>\n  <limit> 5 </limit>\n</mod_offline>'));
    assert.deepEqual(applyReload(live, fresh), { applied: [], needsRestart: [] });
  });

  test('the same listeners written otherwise (another order, 0::1 for ::1) need no restart; another port or address does', () => {
    const two = (a: string, b: string): string => base.replace("<ip port='0'>127.0.0.1</ip>", `${a}${b}`);
    const live = load(two("<ip port='5222'>::1</ip>", "<ip port='5222'>127.0.0.1</ip>"));
    assert.deepEqual(applyReload(live, load(two("<ip port='5222'>127.0.0.1</ip>", "<ip port='5222'>0::1</ip>"))), { applied: [], needsRestart: [] });
    assert.deepEqual(applyReload(live, load(two("<ip port='5223'>127.0.0.1</ip>", "<ip port='5222'>::1</ip>"))).needsRestart, ['listeners (<ip>)']);
    assert.deepEqual(applyReload(live, load(two("<ip port='5222'>127.0.0.2</ip>", "<ip port='5222'>::1</ip>"))).needsRestart, ['listeners (<ip>)']);
  });

  test('an identical file applies nothing', () => {
    assert.deepEqual(applyReload(load(base), load(base)), { applied: [], needsRestart: [] });
  });
});

describe('SIGHUP while a request is in hand', () => {
  test('<register> taken away while a session reads its own form: the form as configured when the request came, not 500', async () => {
    const yak = await startYak();
    try {
      await registerUser(yak, 'hup', 'pw', { name: 'Hup' });
      const c = await loginUser(yak, 'hup', 'pw');
      const hold = holdCalls(yak.server.xdb as Xdb, 'get', (_host, user, ns) => user === 'hup' && ns === 'jabber:iq:register');
      try {
        const reply = c.request(parseXml("<iq type='get' id='g1' to='localhost'><query xmlns='jabber:iq:register'/></iq>"));
        await hold.reached;
        yak.server.reload(load(base.replace(/<register[ >][\s\S]*?<\/register>/, '')));
        assert.equal(yak.server.config.jsm.register, undefined, 'the reload did not take <register> away');
        hold.release();
        const form = await reply;
        assert.equal(form.attrs.type, 'result', form.toString());
        assert.equal(form.getChild('query')?.getChildText('name'), 'Hup');
      } finally {
        hold.restore();
        await c.close();
      }
    } finally {
      await yak.stop();
    }
  });
});

describe('SIGHUP on the daemon', () => {
  test('a reserved name added to the file is refused after SIGHUP; a broken file keeps the server as it was', async () => {
    const d = await startDaemon();
    try {
      const configFile = path.join(d.dir, 'jabber.xml');
      const register = async (user: string): Promise<string | undefined> => {
        const c = await ClientStream.connect({ port: d.port, domain: 'localhost' });
        const reply = await c.request(registerIq(user, 'pw'));
        c.socket.destroy();
        return reply.getChild('error')?.attrs.code;
      };
      assert.equal(await register('helpdesk'), undefined);
      await writeFile(configFile, base.replace('</jsm>', '<register_policy><reserved>support</reserved></register_policy></jsm>'));
      d.child.kill('SIGHUP');
      await d.waitForLog((l) => l.msg === 'configuration reloaded');
      assert.equal(await register('support'), '409');
      await writeFile(configFile, '<jabber><broken');
      d.child.kill('SIGHUP');
      await d.waitForLog((l) => l.msg === 'configuration not reloaded');
      assert.equal(await register('support2'), undefined, 'still serving');
      assert.equal(await register('support'), '409', 'the last good config no longer in force');
      // A FIFO in the file's place, which nobody writes: refused, not read
      // (the read would stop the whole server until someone wrote it).
      await rm(configFile);
      execFileSync('mkfifo', [configFile]);
      d.child.kill('SIGHUP');
      const refused = await d.waitForLog((l) => l.msg === 'configuration not reloaded' && /regular/.test(String(l.err)));
      assert.match(String(refused.err), /jabber\.xml: not a regular file/);
      assert.equal(await register('support3'), undefined, 'still serving');
      // A huge file (3 GB, sparse) in its place: refused by its size before
      // any of it is read (it was read whole, holding every client up).
      await rm(configFile);
      execFileSync('truncate', ['-s', '3G', configFile]);
      d.child.kill('SIGHUP');
      const tooLarge = await d.waitForLog((l) => l.msg === 'configuration not reloaded' && /bytes/.test(String(l.err)));
      assert.match(String(tooLarge.err), /jabber\.xml: more than 1048576 bytes \(1 MiB\)/);
      assert.equal(await register('support4'), undefined, 'still serving');
      assert.equal((await d.stop()).code, 0);
    } finally {
      await d.dispose();
    }
  });
});

/**
 * Sends SIGHUP to a daemon that is starting: once it has taken the spool
 * lock (the server's first step, long after its signal handlers go in) and
 * before, or about when, it listens.
 */
async function hangUpWhileStarting(child: ChildProcess, spool: string): Promise<void> {
  // Bounded by time, not by turns: on a loaded machine the start takes a while.
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    if (await stat(path.join(spool, LOCK_FILE)).then(() => true, () => false)) {
      child.kill('SIGHUP');
      return;
    }
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('the daemon never took the spool lock');
}

/**
 * A preload that says, when the process first listens for SIGHUP, how many
 * files of npm packages (pino, saxes...) are loaded by then.
 */
const SIGHUP_WATCH = `import { createRequire } from 'node:module';
const req = createRequire(import.meta.url);
const on = process.on;
process.on = function (event, fn) {
  if (event === 'SIGHUP') {
    const loaded = Object.keys(req.cache).filter((k) => k.includes('/node_modules/')).length;
    process.stdout.write('SIGHUP caught with ' + loaded + ' package files loaded\\n');
    process.on = on;
  }
  return on.call(this, event, fn);
};
`;

describe('SIGHUP at an awkward moment', () => {
  test('while the modules load: caught before any package is, so a reload right after a start cannot kill it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'yak-hup-'));
    try {
      const preload = path.join(dir, 'watch-sighup.mjs');
      await writeFile(preload, SIGHUP_WATCH);
      const out = execFileSync(process.execPath, ['--import', pathToFileURL(preload).href, JABBERD, '--check', '-c', BUNDLED_CONFIG, '-s', path.join(dir, 'spool')], {
        encoding: 'utf8',
      });
      assert.match(out, /^SIGHUP caught with 0 package files loaded$/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // Which of the two it meets depends on how far the start got: what this
  // test holds to is that neither ends the server.
  test('while the server starts: not fatal (noted, or a reload once the start is done)', async () => {
    const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-hup-'));
    let hungUp: Promise<void> | undefined;
    const d = await startDaemon({ spool, onSpawn: (child) => (hungUp = hangUpWhileStarting(child, spool)) }).catch(async (err: unknown) => {
      await rm(spool, { recursive: true, force: true });
      throw err;
    });
    try {
      await hungUp;
      // Early enough, it finds nothing to reload; later, it reloads.
      await d.waitForLog((l) => l.msg === 'SIGHUP while starting: nothing to reload yet' || l.msg === 'configuration reloaded');
      const c = await ClientStream.connect({ port: d.port, domain: 'localhost' });
      assert.equal((await c.request(registerIq('afterhup', 'pw'))).attrs.type, 'result');
      c.socket.destroy();
      assert.equal((await d.stop()).code, 0);
    } finally {
      await d.dispose();
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('when the log file cannot be reopened: said in the old file, which goes on; the server serves on', async () => {
    const d = await startDaemon({ configText: base.replace('<stderr/>', '<file>logs/yak.log</file><stderr/>') });
    try {
      // Rotated away, and a file now stands where the log folder was.
      await rename(path.join(d.dir, 'logs'), path.join(d.dir, 'logs.1'));
      await writeFile(path.join(d.dir, 'logs'), 'not a folder');
      d.child.kill('SIGHUP');
      await d.waitForLog((l) => l.msg === 'log file not reopened');
      await d.waitForLog((l) => l.msg === 'configuration reloaded');
      const c = await ClientStream.connect({ port: d.port, domain: 'localhost' });
      assert.equal((await c.request(registerIq('keptlog', 'pw'))).attrs.type, 'result');
      c.socket.destroy();
      await d.waitForLog((l) => l.msg === 'registered' && l.user === 'keptlog');
      assert.equal((await d.stop()).code, 0);
      const old = await readFile(path.join(d.dir, 'logs.1', 'yak.log'), 'utf8');
      for (const line of ['"log file not reopened"', '"keptlog"', '"msg":"stopped"']) assert.ok(old.includes(line), `${line} missing from the old file:\n${old}`);
    } finally {
      await d.dispose();
    }
  });
});

describe('SIGHUP reopens the log file (logrotate)', () => {
  test('after the file is moved away, later lines go to a new file of the same name; none are lost', async () => {
    const d = await startDaemon({ configText: base.replace('<stderr/>', '<file>yak.log</file><stderr/>') });
    try {
      const logFile = path.join(d.dir, 'yak.log');
      const register = async (user: string): Promise<void> => {
        const c = await ClientStream.connect({ port: d.port, domain: 'localhost' });
        assert.equal((await c.request(registerIq(user, 'pw'))).attrs.type, 'result');
        c.socket.destroy();
        await d.waitForLog((l) => l.msg === 'registered' && l.user === user);
      };
      const fileText = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');
      await register('rotated1');
      // Lines reach the file in batches: wait for this one before moving the file.
      for (let i = 0; i < 100 && !(await fileText(logFile)).includes('"rotated1"'); i++) await new Promise((r) => setTimeout(r, 50));
      await rename(logFile, `${logFile}.1`);
      d.child.kill('SIGHUP');
      await d.waitForLog((l) => l.msg === 'configuration reloaded');
      await register('rotated2');
      assert.equal((await d.stop()).code, 0);

      const old = await fileText(`${logFile}.1`);
      const fresh = await fileText(logFile);
      assert.match(old, /"rotated1"/);
      assert.doesNotMatch(old, /"rotated2"/, 'a line after SIGHUP went to the moved file');
      assert.match(fresh, /"rotated2"/, `the reopened file must get the later lines:\n${fresh}`);
      assert.match(fresh, /"msg":"stopped"/, 'the last line, written at exit, must be in the reopened file');
      assert.doesNotMatch(fresh, /"rotated1"/);
    } finally {
      await d.dispose();
    }
  });
});
