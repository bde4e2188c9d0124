// Interop with slixmpp (Python, Debian python3-slixmpp), a client library
// we did not write (DESIGN.md, "Tests we like"). Two slixmpp clients log in
// with jabber:iq:auth (XEP-0078, offered in Yak's stream features to
// version='1.0' clients), subscribe to each other through slixmpp's own
// roster logic, see each other's presence and chat; then our own client
// checks what the server kept: both rosters at 'both'.
//
// slixmpp 1.8.3's XEP-0078 plugin cannot log in at all (it never awaits its
// own requests); the script repairs those two methods and says why. Every
// other step is slixmpp's own code.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runProgram } from './helpers/run-tool.js';
import { registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { login, noKarma, NS_ROSTER } from './helpers/session.js';

const SCRIPT = fileURLToPath(new URL('../../test/interop/slixmpp_chat.py', import.meta.url));
const INSTALL_HINT = 'slixmpp is not installed: install python3-slixmpp (apt-get install python3-slixmpp), as .ci/run does';
const PASSWORD = 'Calli0pe';

/**
 * The first Python that imports slixmpp: $YAK_PYTHON, then Debian's own
 * /usr/bin/python3 (a pyenv or venv python3 first on PATH does not see
 * Debian's packages), then python3. Fails, never skips, when none does.
 */
async function pythonWithSlixmpp(): Promise<string> {
  const candidates = [process.env.YAK_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const python of candidates) {
    const probe = await runProgram(python, ['-c', 'import slixmpp'], { timeout: 15_000 });
    if (probe.code === 0) return python;
    tried.push(`${python}: ${probe.stderr.trim().split('\n').at(-1) ?? `exit ${probe.code}`}`);
  }
  assert.fail(`${INSTALL_HINT}\n${tried.join('\n')}`);
}

describe('slixmpp clients subscribe, see each other and chat', { timeout: 60_000 }, () => {
  let yak: TestYak;
  before(async () => {
    // Karma off: bandwidth is not what this test is about.
    yak = await startYak({ tweak: noKarma });
  });
  after(() => yak.stop());

  test('two slixmpp clients with legacy auth', async () => {
    const python = await pythonWithSlixmpp();
    await registerUser(yak, 'slixa', PASSWORD);
    await registerUser(yak, 'slixb', PASSWORD);

    const out = await runProgram(python, [SCRIPT, String(yak.port), yak.host, 'slixa', 'slixb', PASSWORD], { timeout: 30_000 });
    const transcript = `exit ${out.code}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`;
    assert.equal(out.code, 0, `the slixmpp script must succeed\n${transcript}`);
    // Yak offers digest next to plain; slixmpp prefers it.
    assert.match(out.stdout, /^slixa@localhost logged in with jabber:iq:auth digest$/m, transcript);
    assert.match(out.stdout, /^slixb@localhost logged in with jabber:iq:auth digest$/m, transcript);
    assert.match(out.stdout, /^slixa@localhost sees slixb@localhost\/slixB available$/m, transcript);
    assert.match(out.stdout, /^slixb@localhost sees slixa@localhost\/slixA available$/m, transcript);
    assert.match(out.stdout, /^B got: Hello B, from slixmpp A$/m, transcript);
    assert.match(out.stdout, /^A got: Hello A, from slixmpp B$/m, transcript);
    assert.match(out.stdout, /^OK$/m, transcript);

    // What the server kept, seen by our own client.
    for (const [user, contact] of [
      ['slixa', 'slixb'],
      ['slixb', 'slixa'],
    ]) {
      const c = await login(yak, user!, 'Check', PASSWORD);
      try {
        assertXml(await c.roster(), `<query xmlns='${NS_ROSTER}'><item jid='${contact}@localhost' subscription='both'/></query>`);
      } finally {
        await c.close();
      }
    }
  });
});
