// SPEC sections 5 and 6 against a spool folder written by jabberd 1.4
// (test/fixtures/spool14): dj logs in by plain, digest and 0k, and the file
// Yak rewrites keeps every record and can be read again; dj's 1.4 filter
// rules still answer for him; users 1.4 filed under their own names (josé,
// joe!x), which Yak would percent-encode, are found and kept there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { digestFor, zerokHash } from '../src/util/hash.js';
import type { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { hostFolderName } from '../src/xdb/host-folders.js';
import { encodeEntry } from '../src/xdb/journal-entry.js';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { silentLogger } from '../src/log.js';
import { runTool, toolPath } from './helpers/run-tool.js';
import { authIq, BUNDLED_CONFIG, registerIq, registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { captureLog } from './helpers/log-capture.js';
import { fixtureSpool, readSpool } from './helpers/transcript.js';

const TOKEN = '3C5A1B2F';

async function login(yak: TestYak, cred: { password?: string; digest?: string; hash?: string } | 'digest'): Promise<Element> {
  const c = await yak.connect();
  try {
    return await c.request(authIq('dj', 'Compat', cred === 'digest' ? { digest: digestFor(c.streamId, 'secret') } : cred));
  } finally {
    await c.close();
  }
}

async function announced(yak: TestYak): Promise<Element> {
  const c = await yak.connect();
  try {
    return await c.request(parseXml("<iq type='get' id='g'><query xmlns='jabber:iq:auth'><username>dj</username></query></iq>"));
  } finally {
    await c.close();
  }
}

describe('a 1.4 spool folder', () => {
  let spool: string;
  let yak: TestYak;
  const { log, lines } = captureLog('warn');
  before(async () => {
    spool = await fixtureSpool();
    yak = await startYak({ spool, log });
  });
  after(async () => {
    await yak.stop();
    await rm(spool, { recursive: true, force: true });
  });

  test('get announces the stored chain (498 stored, 497 announced)', async () => {
    assertXml(
      await announced(yak),
      `<iq type='result' id='g'><query xmlns='jabber:iq:auth'><username>dj</username><password/><digest/><sequence>497</sequence><token>${TOKEN}</token><resource/></query></iq>`,
    );
  });

  test('plain and digest logins', async () => {
    assertXml(await login(yak, { password: 'secret' }), "<iq type='result' id='auth'/>");
    assert.equal((await login(yak, { password: 'Secret' })).getChild('error')?.attrs.code, '401');
    assertXml(await login(yak, 'digest'), "<iq type='result' id='auth'/>");
  });

  test('0k login with the 1.4 token; the same hash cannot be used twice', async () => {
    const hash = zerokHash('secret', TOKEN, 497);
    assertXml(await login(yak, { hash }), "<iq type='result' id='auth'/>");
    assert.equal((await login(yak, { hash })).getChild('error')?.attrs.code, '401');
  });

  test('the rewritten file keeps every record and reads again after a restart', async () => {
    const file = (await readSpool(spool, yak.host, 'dj'))!;
    assertXml(
      file.records.get('jabber:iq:roster')!,
      "<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='sabine@localhost' name='Sabine' subscription='both'><group>Friends</group></item></query>",
    );
    assertXml(
      file.records.get('jabber:iq:register')!,
      "<query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>DJ Adams</name><email>dj@yak</email><x xmlns='jabber:x:delay' stamp='20020307T14:21:08'>registered</x></query>",
    );
    assertXml(file.records.get('jabber:iq:auth')!, "<password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>secret</password>");
    assertXml(
      file.records.get('jabber:iq:auth:0k')!,
      `<zerok xmlns='jabber:iq:auth:0k' xdbns='jabber:iq:auth:0k'><hash>${zerokHash('secret', TOKEN, 497)}</hash><token>${TOKEN}</token><sequence>497</sequence></zerok>`,
    );
    assert.ok(file.records.has('jabber:iq:last'));
    // Nothing beyond 1.4's xdb_file format: every record on one <xdb>, still parseable by a plain XML parser.
    assert.equal(parseXml(file.text).name, 'xdb');

    await yak.stop();
    yak = await startYak({ spool, log });
    assert.equal((await announced(yak)).elements[0]!.getChildText('sequence'), '496');
    assertXml(await login(yak, { hash: zerokHash('secret', TOKEN, 496) }), "<iq type='result' id='auth'/>");
    assertXml(await login(yak, { password: 'secret' }), "<iq type='result' id='auth'/>");
  });

  test("mod_browse names the user from the 1.4 registration record", async () => {
    const c = await yak.connect();
    assert.equal((await c.request(authIq('dj', 'Browse', { password: 'secret' }))).attrs.type, 'result');
    const reply = await c.request(parseXml("<iq type='get' id='b' to='dj@localhost'><query xmlns='jabber:iq:browse'/></iq>"));
    // dj browses himself: his connected resource is listed too, as in 1.4.
    assertXml(
      reply,
      "<iq type='result' id='b' from='dj@localhost' to='dj@localhost/Browse'><user xmlns='jabber:iq:browse' jid='dj@localhost' name='DJ Adams'>" +
        "<user type='client' jid='dj@localhost/Browse'/></user></iq>",
    );
    await c.close();
  });

  test("dj's 1.4 filter rules: the reply rule answers, the rule 1.4 alone accepted is skipped", async () => {
    await registerUser(yak, 'sabine', 'pw');
    const c = await yak.connect();
    try {
      assert.equal((await c.request(authIq('sabine', 'Home', { password: 'pw' }))).attrs.type, 'result');
      c.send(parseXml("<message to='dj@localhost' id='m1'><body>Fancy a walk?</body></message>"));
      assertXml(
        await c.next((e) => e.name === 'message'),
        "<message to='sabine@localhost/Home' from='dj@localhost' id='m1'><body>Gone fishing</body>" +
          "<x xmlns='jabber:x:envelope'><forwardedby jid='dj@localhost'/><from jid='dj@localhost'/><to jid='sabine@localhost/Home'/></x></message>",
      );
      // A second message: the rules dj stored are not parsed again (see below).
      c.send(parseXml("<message to='dj@localhost' id='m2'><body>Or tomorrow?</body></message>"));
      assert.equal((await c.next((e) => e.name === 'message')).getChildText('body'), 'Gone fishing');
    } finally {
      await c.close();
    }
    // dj's second rule is the ns+reply+settype form only 1.4 accepted:
    // skipped, and said once (parsed once per stored record: thousands of
    // rules parsed again for each message to a user with no session held
    // every other client up).
    assert.deepEqual(
      lines.filter((l) => l.msg === 'stored filter rule skipped').map((l) => [l.user, l.err]),
      [['dj', '406 ns tag cannot be used this way']],
    );
    // Stored for dj by the same rule's <offline/>.
    const file = (await readSpool(spool, yak.host, 'dj'))!;
    assert.deepEqual(file.records.get('jabber:x:offline')?.getChildren('message').map((m) => m.getChildText('body')), ['Fancy a walk?', 'Or tomorrow?']);
  });

  test('users 1.4 filed under their own names log in, cannot be taken again, and stay in their files', async () => {
    for (const [user, password] of [['jos\u00e9', 'ol\u00e9'], ['joe!x', 'bang']]) {
      const c = await yak.connect();
      try {
        assertXml(await c.request(authIq(user, 'Home', { password })), "<iq type='result' id='auth'/>");
      } finally {
        await c.close();
      }
      const again = await yak.connect();
      try {
        const reply = await again.request(registerIq(user, 'other'));
        assert.equal(reply.getChild('error')?.attrs.code, '409', `${user} registered twice: ${reply.toString()}`);
      } finally {
        await again.close();
      }
    }
    // The plain login stored a 0k chain (written within seconds, like a
    // logout time; flushed now): in 1.4's file, not in a new one.
    await yak.server.xdb.flush();
    const folder = path.join(spool, 'localhost');
    assert.match(await readFile(path.join(folder, 'jos\u00e9.xml'), 'utf8'), /xdbns='jabber:iq:auth:0k'/);
    const files = await readdir(folder);
    assert.ok(files.includes('jos\u00e9.xml') && files.includes('joe!x.xml'), files.join(' '));
    assert.deepEqual(files.filter((f) => f.includes('%')), [], 'a second file was made for a 1.4 user');
  });

  test("accounts of 1.4's mod_auth_crypt (a hash, no jabber:iq:auth record): plain logins checked against it, the name not free to register, a new password replacing it", async () => {
    const folder = path.join(spool, 'localhost');
    const roster = "<query xmlns='jabber:iq:roster' xdbns='jabber:iq:roster'><item jid='dj@localhost' subscription='both'/></query>";
    // Both forms 1.4 wrote, each of the password "secret": crypt(3)'s DES and, with <hash>SHA1</hash>, base64 SHA-1.
    for (const [user, hash] of [['cryptdes', 'abNANd1rDfiNc'], ['cryptsha', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=']]) {
      await writeFile(path.join(folder, `${user}.xml`), `<xdb><crypt xmlns='jabber:iq:auth:crypt' xdbns='jabber:iq:auth:crypt'>${hash}</crypt>${roster}</xdb>\n`);
    }
    const ask = async (iq: Element): Promise<Element> => {
      const c = await yak.connect();
      try {
        return await c.request(iq);
      } finally {
        await c.close();
      }
    };
    // Only plain text is offered: digest needs the password itself, 0k a chain made from it.
    for (const user of ['cryptdes', 'cryptsha']) {
      assertXml(await ask(parseXml(`<iq type='get' id='g'><query xmlns='jabber:iq:auth'><username>${user}</username></query></iq>`)), `<iq type='result' id='g'><query xmlns='jabber:iq:auth'><username>${user}</username><password/><resource/></query></iq>`);
      assert.equal((await ask(registerIq(user, 'taken'))).getChild('error')?.attrs.code, '409', `${user}'s name was free to register`);
      assert.equal((await ask(authIq(user, 'Home', { password: 'wrong' }))).getChild('error')?.attrs.code, '401');
      assertXml(await ask(authIq(user, 'Home', { password: 'secret' })), "<iq type='result' id='auth'/>");
      assert.match(await readFile(path.join(folder, `${user}.xml`), 'utf8'), /<item jid='dj@localhost' subscription='both'\/>/, 'the roster was lost');
    }
    // A new password replaces the hash (which would go on taking the old one).
    const c = await yak.connect();
    try {
      assertXml(await c.request(authIq('cryptdes', 'Home', { password: 'secret' })), "<iq type='result' id='auth'/>");
      assertXml(await c.request(parseXml("<iq type='set' id='pw'><query xmlns='jabber:iq:register'><username>cryptdes</username><password>n3w</password></query></iq>")), "<iq type='result' id='pw' to='cryptdes@localhost/Home'/>");
    } finally {
      await c.close();
    }
    assert.doesNotMatch(await readFile(path.join(folder, 'cryptdes.xml'), 'utf8'), /jabber:iq:auth:crypt/);
    assert.equal((await ask(authIq('cryptdes', 'Home', { password: 'secret' }))).getChild('error')?.attrs.code, '401');
    assertXml(await ask(authIq('cryptdes', 'Home', { password: 'n3w' })), "<iq type='result' id='auth'/>");
  });

  test('a file in ISO-8859-1 as its declaration says, and one with a comment, are read as 1.4 read them; bytes that are not text are refused and left as they are', async () => {
    const folder = path.join(spool, 'localhost');
    const password = (user: string, text: string): string =>
      `<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>${text}</password><query xmlns='jabber:iq:register' xdbns='jabber:iq:register'><name>Zo\u00eb ${user}</name></query></xdb>`;
    await writeFile(path.join(folder, 'latin.xml'), Buffer.from(`<?xml version='1.0' encoding='ISO-8859-1'?>${password('latin', 'caf\u00e9')}`, 'latin1'));
    await writeFile(path.join(folder, 'noted.xml'), password('noted', 'pw').replace('<xdb>', '<xdb><!-- moved from the old box -->'));
    const garbled = Buffer.from(password('garbled', 'caf\u00e9'), 'latin1');
    await writeFile(path.join(folder, 'garbled.xml'), garbled);
    const attempt = async (user: string, pw: string): Promise<string | undefined> => {
      const c = await yak.connect();
      try {
        return (await c.request(authIq(user, 'Home', { password: pw }))).getChild('error')?.attrs.code ?? 'result';
      } finally {
        await c.close();
      }
    };
    assert.equal(await attempt('latin', 'caf\u00e9'), 'result');
    assert.equal(await attempt('noted', 'pw'), 'result');
    // Not read as U+FFFD: refused, and nothing of it is rewritten.
    assert.equal(await attempt('garbled', 'caf\uFFFD'), '500');
    assert.equal(await attempt('garbled', 'caf\u00e9'), '500');
    // The logins stored a 0k chain: the files are rewritten, in UTF-8, with every character kept.
    await yak.server.xdb.flush();
    const latin = await readSpool(spool, 'localhost', 'latin');
    assert.equal(latin?.records.get('jabber:iq:auth')?.text(), 'caf\u00e9');
    assert.equal(latin?.records.get('jabber:iq:register')?.getChildText('name'), 'Zo\u00eb latin');
    assert.match(latin!.text, /xdbns='jabber:iq:auth:0k'/);
    assert.equal(await attempt('latin', 'caf\u00e9'), 'result');
    assert.match((await readSpool(spool, 'localhost', 'noted'))!.text, /xdbns='jabber:iq:auth:0k'/);
    assert.deepEqual(await readFile(path.join(folder, 'garbled.xml')), garbled);
  });
});

// SPEC section 6 (every record of the table, as 1.4 wrote it) and 8
// (pending requests re-sent at login): 1.4's mod_roster kept an unanswered
// request on the item as subscribe='STATUS', with hidden='' when the asker
// was not on the roster.
describe('pending subscription requests, vCard, private XML, last and offline messages as 1.4 stored them', () => {
  let spool: string;
  let yak: TestYak;
  before(async () => {
    spool = await fixtureSpool();
    const file = path.join(spool, 'localhost', 'dj.xml');
    const text = await readFile(file, 'utf8');
    const pending = "<item jid='leslie@localhost' subscription='none' subscribe='Can I join?' hidden=''/>";
    // And the other records as 1.4's modules wrote them: a vCard, private
    // XML (j_private_flag) and a message stored offline with its delay stamp.
    const more =
      "<vCard xmlns='vcard-temp' xdbns='vcard-temp'><FN>DJ Adams</FN><NICKNAME>qmacro</NICKNAME></vCard>" +
      "<prefs xmlns='yak:test:prefs' j_private_flag='1' xdbns='yak:test:prefs'><color>green</color></prefs>" +
      "<foo xmlns='jabber:x:offline' xdbns='jabber:x:offline'><message to='dj@localhost' from='sabine@localhost/Home' id='o1'>" +
      "<body>While you were out</body><x xmlns='jabber:x:delay' from='dj@localhost' stamp='20020307T14:30:00'>Offline Storage</x></message></foo>";
    await writeFile(file, text.replace('</group></item></query>', `</group></item>${pending}</query>`).replace('</xdb>', `${more}</xdb>`));
    yak = await startYak({ spool });
  });
  after(async () => {
    await yak.stop();
    await rm(spool, { recursive: true, force: true });
  });

  test("served as 1.4 served them; a request 1.4 kept is shown at login, hidden from the roster; one Yak keeps is written in 1.4's form", async () => {
    await registerUser(yak, 'leslie', 'pw');
    await registerUser(yak, 'piers', 'pw');
    const dj = await yak.connect();
    try {
      assert.equal((await dj.request(authIq('dj', 'Home', { password: 'secret' }))).attrs.type, 'result');
      const roster = await dj.request(parseXml("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>"));
      assertXml(
        roster,
        "<iq type='result' id='r' to='dj@localhost/Home'><query xmlns='jabber:iq:roster'>" +
          "<item jid='sabine@localhost' name='Sabine' subscription='both'><group>Friends</group></item></query></iq>",
      );
      // The other 1.4 records, as 1.4 served them.
      assertXml(
        await dj.request(parseXml("<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>")),
        "<iq type='result' id='v' to='dj@localhost/Home' from='dj@localhost'><vCard xmlns='vcard-temp'><FN>DJ Adams</FN><NICKNAME>qmacro</NICKNAME></vCard></iq>",
      );
      assertXml(
        await dj.request(parseXml("<iq type='get' id='p'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'/></query></iq>")),
        "<iq type='result' id='p' to='dj@localhost/Home' from='dj@localhost'><query xmlns='jabber:iq:private'><prefs xmlns='yak:test:prefs'><color>green</color></prefs></query></iq>",
      );
      const last = await dj.request(parseXml("<iq type='get' id='l' to='dj@localhost'><query xmlns='jabber:iq:last'/></iq>"));
      assertXml(last, "<iq type='result' id='l' to='dj@localhost/Home' from='dj@localhost'><query xmlns='jabber:iq:last' seconds='*'>Logged out</query></iq>");
      const seconds = Number(last.getChild('query')!.attrs.seconds);
      const since = Math.floor(Date.now() / 1000) - 1015510868; // the 1.4 record's last='1015510868'
      assert.ok(seconds >= since - 5 && seconds <= since + 5, `seconds=${seconds}, expected about ${since}`);
      dj.send(parseXml('<presence/>'));
      assertXml(
        await dj.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe'),
        "<presence type='subscribe' from='leslie@localhost' to='dj@localhost'><status>Can I join?</status></presence>",
      );
      assertXml(
        await dj.next((e) => e.name === 'message'),
        "<message to='dj@localhost' from='sabine@localhost/Home' id='o1'><body>While you were out</body>" +
          "<x xmlns='jabber:x:delay' from='dj@localhost' stamp='20020307T14:30:00'>Offline Storage</x></message>",
      );
    } finally {
      await dj.close();
    }

    // A new request (piers is on nobody's roster): 1.4's attributes, so a 1.4 server reads it back.
    const piers = await yak.connect();
    try {
      assert.equal((await piers.request(authIq('piers', 'Home', { password: 'pw' }))).attrs.type, 'result');
      piers.send(parseXml("<presence type='subscribe' to='dj@localhost'><status>Hello &amp; welcome</status></presence>"));
      // A round trip: the request has been handled once this is answered.
      await piers.request(parseXml("<iq type='get' id='s' to='localhost'><query xmlns='yak:test:sync'/></iq>"));
    } finally {
      await piers.close();
    }
    await yak.server.xdb.flush();
    const items = (await readSpool(spool, yak.host, 'dj'))!.records.get('jabber:iq:roster')!.getChildren('item');
    assert.deepEqual(
      items.map((i) => i.toString()),
      [
        "<item jid='sabine@localhost' name='Sabine' subscription='both'><group>Friends</group></item>",
        "<item jid='leslie@localhost' subscription='none' subscribe='Can I join?' hidden=''/>",
        "<item jid='piers@localhost' subscription='none' subscribe='Hello &amp; welcome' hidden=''/>",
      ],
    );
  });
});

describe("a 1.4 spool folder for a host Yak percent-encodes (an IDN host)", () => {
  test("with a crash's journal naming Yak's folder, the store opened first and jabberctl find and make accounts there", async () => {
    const host = 'b\u00fccher.test';
    const account = "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>pw</password></xdb>";
    for (const first of ['exists', 'list'] as const) {
      const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-idn-'));
      try {
        await mkdir(path.join(spool, host));
        await writeFile(path.join(spool, host, 'dj.xml'), account);
        // An earlier Yak's empty folder, and its journal naming a new account there.
        await mkdir(path.join(spool, 'b%C3%BCcher.test'));
        await writeFile(path.join(spool, '.yak-journal.7'), encodeEntry('b%C3%BCcher.test/newbie.xml', account));
        const store = new SpoolStore(spool, { log: silentLogger, fsync: false });
        // Opened first, as the server (at start) and jabberctl (spoolReady) do.
        await store.open();
        if (first === 'exists') assert.equal(await store.exists(host, 'newbie'), true);
        else assert.deepEqual(await store.list(host), ['newbie']);
        assert.deepEqual([await store.exists(host, 'newbie'), await store.exists(host, 'dj')], [true, false], first);
        await store.close();
        // jabberctl working on that spool by itself puts a new account where logins find it.
        const jabberctl = (args: string[]) => runTool(toolPath('jabberctl'), ['-c', BUNDLED_CONFIG, '-s', spool, '-h', host, ...args], { input: 'pw\n' });
        await rm(path.join(spool, 'b%C3%BCcher.test', 'newbie.xml'));
        await writeFile(path.join(spool, '.yak-journal.7'), encodeEntry('b%C3%BCcher.test/newbie.xml', account));
        assert.equal((await jabberctl(['adduser', `bob@${host}`])).code, 0);
        assert.deepEqual((await readdir(path.join(spool, 'b%C3%BCcher.test'))).sort(), ['bob.xml', 'newbie.xml']);
        assert.equal((await jabberctl(['show', `bob@${host}`])).code, 0);
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
    }
  });

  test("is the host's folder while Yak's is missing or empty, the journal's changes counted", async () => {
    const spool = await mkdtemp(path.join(os.tmpdir(), 'yak-idn-'));
    try {
      const host = 'b\u00fccher.test';
      assert.equal(hostFolderName(spool, host, new Map()), 'b%C3%BCcher.test');
      await mkdir(path.join(spool, host));
      await writeFile(path.join(spool, host, 'dj.xml'), '<xdb/>');
      assert.equal(hostFolderName(spool, host, new Map()), host);
      await mkdir(path.join(spool, 'b%C3%BCcher.test'));
      assert.equal(hostFolderName(spool, host, new Map()), host);
      // That empty folder, an earlier Yak's, is no stranger to check.
      const clean = await runTool(toolPath('jabberctl'), ['-c', BUNDLED_CONFIG, '-s', spool, '-h', host, 'check']);
      assert.deepEqual([clean.code, clean.stderr, clean.stdout], [0, '', '1 files checked, 0 bad\n']);
      // A crash's journal names a file in Yak's folder, not written yet: the
      // folder is not empty for whoever reads the spool as it will be.
      const journaled = new Map([[path.join(spool, 'b%C3%BCcher.test', 'newbie.xml'), '<xdb/>']]);
      assert.equal(hostFolderName(spool, host, journaled), 'b%C3%BCcher.test');
      await writeFile(path.join(spool, 'b%C3%BCcher.test', 'newbie.xml'), '<xdb/>');
      assert.equal(hostFolderName(spool, host, new Map()), 'b%C3%BCcher.test');
      // Both hold accounts now: check names the one no login reaches, and checks it all the same.
      const r = await runTool(toolPath('jabberctl'), ['-c', BUNDLED_CONFIG, '-s', spool, '-h', host, 'check']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stderr,
        `jabberctl: note: ${host}/ is 1.4's folder for the host ${host}, hidden by Yak's b%C3%BCcher.test/, which holds files too: nobody can log in to the accounts in it (move them into b%C3%BCcher.test/, or empty that one; a running server sees the change at its next start)\n`,
      );
      assert.equal(r.stdout, '2 files checked, 0 bad\n');
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  });

  test('a host whose encoded name is too long for a folder: served from a hashed folder, or from the folder 1.4 named after it', async () => {
    // 104 bytes of UTF-8, 302 characters percent-encoded: over NAME_MAX.
    const host = '\u65e5\u672c\u8a9e\u30c9\u30e1\u30a4\u30f3\u540d\u4f8b\u3067\u3059.'.repeat(3) + 'jp';
    for (const legacy of [false, true]) {
      const spool = await fixtureSpool();
      await rm(path.join(spool, 'localhost'), { recursive: true });
      if (legacy) {
        await mkdir(path.join(spool, host));
        await writeFile(path.join(spool, host, 'dj.xml'), "<xdb><password xmlns='jabber:iq:auth' xdbns='jabber:iq:auth'>secret</password></xdb>");
      }
      const yak = await startYak({ spool, tweak: (c) => (c.hosts = [host]) });
      try {
        const c = await yak.connect({ domain: host });
        assertXml(await c.request(registerIq('newbie', 'pw')), "<iq type='result' id='reg'/>");
        if (legacy) assertXml(await c.request(authIq('dj', 'Compat', { password: 'secret' })), "<iq type='result' id='auth'/>");
        await c.close();
        await yak.server.xdb.flush();
      } finally {
        await yak.stop();
      }
      try {
        // One folder: 1.4's, or Yak's hashed one, within a file name's 255 bytes.
        const folders = (await readdir(spool)).filter((f) => !f.startsWith('.'));
        assert.equal(folders.length, 1, folders.join(' '));
        const folder = folders[0]!;
        if (legacy) assert.equal(folder, host);
        else assert.match(folder, /^[%0-9A-F.]+~[0-9a-f]{64}$/);
        assert.deepEqual((await readdir(path.join(spool, folder))).sort(), legacy ? ['dj.xml', 'newbie.xml'] : ['newbie.xml']);
        const list = await runTool(toolPath('jabberctl'), ['-c', BUNDLED_CONFIG, '-s', spool, '-h', host, 'list', host]);
        assert.deepEqual([list.code, list.stdout], [0, legacy ? 'dj\nnewbie\n' : 'newbie\n'], list.stderr);
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
    }
  });

  test("is read where 1.4 left it, beside the empty folder an earlier Yak made: its users log in and cannot be taken again", async () => {
    const host = 'b\u00fccher.test';
    const spool = await fixtureSpool();
    // 1.4 named the host's folder after the host itself.
    await mkdir(path.join(spool, host));
    await rename(path.join(spool, 'localhost', 'dj.xml'), path.join(spool, host, 'dj.xml'));
    await rm(path.join(spool, 'localhost'), { recursive: true });
    // The empty folder under Yak's name that an earlier Yak made at each start.
    await mkdir(path.join(spool, 'b%C3%BCcher.test'));
    const yak = await startYak({ spool, tweak: (c) => (c.hosts = [host]) });
    try {
      const c = await yak.connect({ domain: host });
      assertXml(await c.request(authIq('dj', 'Compat', { password: 'secret' })), "<iq type='result' id='auth'/>");
      await c.close();
      const again = await yak.connect({ domain: host });
      assert.equal((await again.request(registerIq('dj', 'other'))).getChild('error')?.attrs.code, '409');
      await again.close();
      await yak.server.xdb.flush();
      assert.deepEqual((await readdir(path.join(spool, 'b%C3%BCcher.test'))), [], 'an account was made in the folder under Yak\'s name');
      assert.match(await readFile(path.join(spool, host, 'dj.xml'), 'utf8'), /xdbns='jabber:iq:auth:0k'/);
    } finally {
      await yak.stop();
      await rm(spool, { recursive: true, force: true });
    }
  });
});
