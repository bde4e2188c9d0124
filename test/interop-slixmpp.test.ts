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
import { pythonWith } from './helpers/python.js';
import { runProgram } from './helpers/run-tool.js';
import { registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { login, noKarma, NS_ROSTER } from './helpers/session.js';

const SCRIPT = fileURLToPath(new URL('../../test/interop/slixmpp_chat.py', import.meta.url));
const PASSWORD = 'Calli0pe';

describe('slixmpp clients subscribe, see each other and chat', { timeout: 60_000 }, () => {
  let yak: TestYak;
  before(async () => {
    // Karma off: bandwidth is not what this test is about.
    yak = await startYak({ tweak: noKarma });
  });
  after(() => yak.stop());

  test('two slixmpp clients with legacy auth', async () => {
    const python = await pythonWith('slixmpp', 'slixmpp', 'python3-slixmpp');
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
