// Interop with Net::Jabber (Perl, Debian libnet-jabber-perl), a client
// library we did not write (DESIGN.md, "Tests we like"). The Perl script
// registers a new user in-band, logs in with Net::Jabber's own AuthSend and removes the account,
// which picks the method from what jabber:iq:auth offers: zero-knowledge
// when offered, else digest. Both are checked from both ends: the script
// reports what Net::Jabber chose, the daemon's `login ok` line what it
// accepted. A second script drives Net::Jabber's own jabber:iq:filter
// objects (written for jabberd 1.x) against mod_filter.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { bundledConfigText, startDaemon, type Daemon, type LogLine } from './helpers/daemon.js';
import { interopScript, perl, requireNetJabber } from './helpers/netjabber.js';

const SCRIPT = interopScript('netjabber-register-login.pl');
const FILTER_SCRIPT = interopScript('netjabber-filter.pl');

/** The bundled config with mod_auth_0k switched off the way an admin would: commented out. */
function configWithout0k(): string {
  const line = '<mod_auth_0k>./jsm/jsm.so</mod_auth_0k>';
  const text = bundledConfigText();
  assert.ok(text.includes(line), `the bundled config no longer loads mod_auth_0k as ${line}`);
  return text.replace(line, `<!-- ${line} -->`);
}

async function registerAndLogin(daemon: Daemon, user: string, netJabberMethod: string): Promise<LogLine> {
  const run = await perl([SCRIPT, String(daemon.port), user, 'Calli0pe', netJabberMethod]);
  const transcript = `script output:\n${run.stdout}${run.stderr}\ndaemon log:\n${daemon.stderr()}`;
  assert.equal(run.code, 0, `the Net::Jabber script must succeed\n${transcript}`);
  assert.match(run.stdout, new RegExp(`^registered ${user}$`, 'm'), transcript);
  const loggedIn = `logged in as ${user}@localhost/NetJabber using ${netJabberMethod}`;
  assert.ok(run.stdout.split('\n').includes(loggedIn), `Net::Jabber must report: ${loggedIn}\n${transcript}`);
  // Answered before the stream's end, or Net::Jabber reports the removal as failed.
  assert.match(run.stdout, new RegExp(`^removed ${user}$`, 'm'), transcript);
  assert.match(run.stdout, /^OK$/m, transcript);
  const login = await daemon.waitForLog((l) => l.msg === 'login ok' && l.user === user);
  const failed = daemon.logLines().filter((l) => l.msg === 'login failed');
  assert.deepEqual(failed, [], `no login attempt may fail\n${transcript}`);
  return login;
}

describe('Net::Jabber registers and logs in', { timeout: 60_000 }, () => {
  const daemons: Daemon[] = [];
  after(async () => {
    for (const d of daemons) await d.dispose();
  });

  test('with digest when zero-knowledge is not offered', async () => {
    await requireNetJabber();
    const daemon = await startDaemon({ configText: configWithout0k() });
    daemons.push(daemon);
    const login = await registerAndLogin(daemon, 'perldigest', 'digest');
    assert.equal(login.method, 'digest', `the server must have accepted a digest: ${JSON.stringify(login)}`);
    assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
  });

  test('with zero-knowledge when the bundled config offers it', async () => {
    await requireNetJabber();
    const daemon = await startDaemon();
    daemons.push(daemon);
    const login = await registerAndLogin(daemon, 'perlzerok', 'zerok');
    assert.equal(login.method, '0k', `the server must have accepted a 0k hash: ${JSON.stringify(login)}`);
    assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
  });
});

describe('Net::Jabber sets a filter rule', { timeout: 60_000 }, () => {
  let daemon: Daemon | undefined;
  after(async () => {
    await daemon?.dispose();
  });

  test('built with its filter objects, read back with GetRules, and answering for the user', async () => {
    await requireNetJabber();
    daemon = await startDaemon();
    const run = await perl([FILTER_SCRIPT, String(daemon.port)]);
    const transcript = `script output:\n${run.stdout}${run.stderr}\ndaemon log:\n${daemon.stderr()}`;
    assert.equal(run.code, 0, `the Net::Jabber script must succeed\n${transcript}`);
    for (const line of [
      'rule stored',
      'rule read back: from filterother@localhost, reply Out fishing',
      'auto-reply received: Out fishing',
      "old-draft rule refused: tag type 'drop' can not be used on this server",
      'OK',
    ]) {
      assert.ok(run.stdout.split('\n').includes(line), `Net::Jabber must report: ${line}\n${transcript}`);
    }
    assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
  });
});
