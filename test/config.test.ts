// jabber.xml loading: the bundled config, a full 1.4-style file, the
// preprocessor elements, and every refusal naming its element.
import { after, test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig, ConfigError } from '../src/config/load.js';
import { IO, JSM, LOG, PTHCSOCK, XDB_FILE, type Place } from '../src/config/lint.js';
import { tlsKeyFor } from '../src/config/c2s.js';

const BUNDLED = fileURLToPath(new URL('../../config/jabber.xml', import.meta.url));
const BOOK = fileURLToPath(new URL('../../test/fixtures/book-jabber.xml', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../jabber.xml.example', import.meta.url));

const CLASSIC_MODULES = [
  'mod_echo', 'mod_roster', 'mod_time', 'mod_vcard', 'mod_last', 'mod_version', 'mod_announce',
  'mod_agents', 'mod_browse', 'mod_admin', 'mod_filter', 'mod_offline', 'mod_presence',
  'mod_auth_plain', 'mod_auth_digest', 'mod_auth_0k', 'mod_log', 'mod_register', 'mod_xml',
];

interface Parts {
  host?: string;
  jsm?: string;
  load?: string;
  pthcsock?: string;
  xdb?: string;
  extra?: string;
}

/** A small valid config; each part can be replaced to test one thing. */
function minimal(p: Parts = {}): string {
  return `<?xml version='1.0'?>
<jabber>
  <!-- a comment the parser drops -->
  <service id='sessions'>
    ${p.host ?? '<host>localhost</host>'}
    <jsm xmlns='jabber:config:jsm'>${p.jsm ?? ''}</jsm>
    ${p.load ?? "<load main='jsm'><jsm>./jsm/jsm.so</jsm><mod_register>./jsm/jsm.so</mod_register><mod_auth_plain>x</mod_auth_plain></load>"}
  </service>
  <service id='c2s'>
    <load><pthsock_client>./pthsock/pthsock_client.so</pthsock_client></load>
    <pthcsock xmlns='jabber:config:pth-csock'>${p.pthcsock ?? "<ip port='5222'>127.0.0.1</ip>"}</pthcsock>
  </service>
  ${p.xdb ?? "<xdb id='xdb'><load><xdb_file>x.so</xdb_file></load><xdb_file xmlns='jabber:config:xdb_file'><spool>./spool</spool></xdb_file></xdb>"}
  ${p.extra ?? ''}
</jabber>`;
}

const FILE = join(tmpdir(), 'yak-config-test', 'jabber.xml');

function parse(p: Parts = {}, overrides = {}) {
  return parseConfig(minimal(p), FILE, overrides);
}

/** Asserts a ConfigError whose message contains every given fragment (the element and the problem). */
function refuses(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('bundled config/jabber.xml', () => {
  const cfg = loadConfig(BUNDLED);

  test('sessions: host, modules in 1.4 order, jsm options', () => {
    assert.equal(cfg.file, BUNDLED);
    assert.deepEqual(cfg.hosts, ['localhost']);
    assert.deepEqual(cfg.jsm.modules, CLASSIC_MODULES);
    assert.equal(cfg.jsm.register?.notify, true);
    assert.equal(cfg.jsm.register?.requireAll, false);
    assert.deepEqual(cfg.jsm.register?.fields.map((f) => f.name), ['instructions', 'name', 'email']);
    assert.equal(
      cfg.jsm.register?.fields[0]?.text(),
      'Choose a username and password to register with this server.',
    );
    assert.equal(cfg.jsm.welcome?.subject, 'Welcome!');
    assert.ok(cfg.jsm.welcome?.body);
    assert.deepEqual(cfg.jsm.admin, { read: [], write: [] });
    assert.equal(cfg.jsm.vcard?.name, 'vCard');
    assert.deepEqual(cfg.jsm.browse, []);
    assert.equal(cfg.jsm.zerokSequences, 500);
    assert.equal(cfg.jsm.offlineLimit, 1000);
    assert.equal(cfg.jsm.filter.policy.maxSize, 100);
    assert.equal(cfg.jsm.filter.policy.conditions?.size, 10);
    assert.equal(cfg.jsm.filter.policy.actions?.size, 6);
    assert.deepEqual(cfg.jsm.filter.defaults, []);
    assert.equal(cfg.jsm.nounregister, false);
    assert.equal(cfg.jsm.raw.attr('xmlns'), 'jabber:config:jsm');
  });

  test('c2s, spool, log', () => {
    assert.deepEqual(cfg.c2s.listen, [{ port: 5222, address: '127.0.0.1' }]);
    assert.deepEqual(cfg.c2s.ssl, []);
    assert.deepEqual(cfg.c2s.aliases, []);
    assert.equal(cfg.c2s.authtime, 120);
    assert.deepEqual(cfg.c2s.karma, { init: 10, max: 10, inc: 1, dec: 1, penalty: -6, restore: 10 });
    assert.equal(cfg.c2s.rate, undefined, 'rate is commented out in the bundled config');
    assert.deepEqual(cfg.c2s.limits, {
      preAuthStanzaBytes: 65536, stanzaBytes: 262144, depth: 32, queueStanzas: 32, queueBytes: 65536,
      connectionsPerAddress: 1000, connectionsTotal: undefined, outputBytes: 1048576, idleSeconds: 0, keepaliveSeconds: 120, preAuthMemory: 33554432,
      sessionMemory: 268435456, sessionsPerUser: 100,
    });
    assert.equal(cfg.spool, resolve('./spool'));
    assert.equal(cfg.tlsKeys.size, 0);
    assert.equal(cfg.pidfile, undefined);
    assert.deepEqual(cfg.log, { file: undefined, stderr: true });
    assert.deepEqual(cfg.ignored, []);
    assert.deepEqual(cfg.warnings, []);
  });

  test('-s and -h replace the cmdline defaults', () => {
    const o = loadConfig(BUNDLED, { spool: '/var/spool/yak', host: 'Chat.Example.ORG' });
    assert.equal(o.spool, '/var/spool/yak');
    assert.deepEqual(o.hosts, ['chat.example.org']);
  });
});

describe('book-style 1.4 jabber.xml', () => {
  const cfg = loadConfig(BOOK);

  test('what Yak provides is read', () => {
    assert.deepEqual(cfg.hosts, ['localhost']);
    assert.deepEqual(cfg.jsm.modules, CLASSIC_MODULES);
    assert.deepEqual(cfg.jsm.admin.read, ['support@localhost', 'admin@localhost']);
    assert.deepEqual(cfg.jsm.admin.write, ['admin@localhost']);
    assert.deepEqual(cfg.jsm.admin.reply, {
      subject: 'Auto Reply',
      body: 'This address is looked after by the administrators; your message has been passed on.',
    });
    assert.equal(cfg.jsm.zerokSequences, 400);
    assert.deepEqual(cfg.jsm.browse.map((b) => b.attr('jid')), ['conference.localhost', 'jud.localhost', 'aim.localhost']);
    assert.ok(cfg.jsm.raw.getChild('filter'), 'module options stay in raw');
    assert.equal(cfg.jsm.raw.getChildText('update'), 'localhost', 'cmdline expanded inside jsm too');
    assert.deepEqual(cfg.c2s.listen, [{ port: 5222, address: undefined }]);
    assert.equal(cfg.c2s.authtime, 0);
    // c2s has its own karma, which wins over the io default...
    assert.deepEqual(cfg.c2s.karma, { init: 10, max: 10, inc: 1, dec: 1, penalty: -6, restore: 10 });
    // ...and no rate of its own, so the io one applies.
    assert.deepEqual(cfg.c2s.rate, { points: 5, time: 25 });
    assert.equal(cfg.spool, resolve('./spool'));
    assert.equal(cfg.pidfile, resolve('./jabber.pid'));
    assert.deepEqual(cfg.log, { file: resolve('error.log'), stderr: true });
  });

  test('services Yak does not provide are listed as ignored', () => {
    for (const s of [
      'service dnsrv (dnsrv)',
      'service s2s (dialback)',
      'service conference (conference)',
      'service jud (jud)',
      'service aim-linker (accept)',
    ]) {
      assert.ok(cfg.ignored.includes(s), `${s} in ${JSON.stringify(cfg.ignored)}`);
    }
    assert.ok(cfg.ignored.some((s) => s.startsWith('log rlogger') && s.includes('record.log')));
  });

  test('gives no warnings: what 1.4 had in the sections Yak reads passes quietly', () => {
    assert.deepEqual(cfg.warnings, []);
  });

  test('a module commented out is off', () => {
    const text = readFileSync(BOOK, 'utf8').replace(
      '<mod_auth_plain>./jsm/jsm.so</mod_auth_plain>',
      '<!-- <mod_auth_plain>./jsm/jsm.so</mod_auth_plain> -->',
    );
    const c = parseConfig(text, BOOK);
    assert.ok(!c.jsm.modules.includes('mod_auth_plain'));
    assert.deepEqual(c.jsm.modules, CLASSIC_MODULES.filter((m) => m !== 'mod_auth_plain'));
  });
});

test('jabber.xml.example loads', () => {
  const cfg = loadConfig(EXAMPLE);
  assert.deepEqual(cfg.hosts, ['localhost', 'example.org']);
  assert.equal(cfg.jsm.register?.requireAll, true);
  assert.equal(cfg.jsm.nounregister, true);
  assert.deepEqual(cfg.c2s.ssl, [{ port: 5223, address: '192.0.2.10' }]);
  assert.equal(cfg.tlsKeys.get('192.0.2.10'), '/etc/yak/server.pem');
  assert.deepEqual(cfg.log, { file: resolve('yak.log'), stderr: true });
  assert.deepEqual(cfg.warnings, []);
});

test("jabber.xml.example's Yak extensions show their defaults", () => {
  const example = loadConfig(EXAMPLE);
  const bare = parse();
  assert.deepEqual(example.jsm.registerPolicy, bare.jsm.registerPolicy);
  assert.deepEqual(example.jsm.loginThrottle, bare.jsm.loginThrottle);
  assert.deepEqual(example.c2s.limits, bare.c2s.limits);
  assert.equal(example.jsm.offlineLimit, bare.jsm.offlineLimit);
  assert.equal(example.jsm.zerokSequences, bare.jsm.zerokSequences);
  assert.equal(example.maxFileBytes, bare.maxFileBytes);
});

test('jabber.xml.example writes out every element Yak reads, in its place (the README says it lists every option)', () => {
  // (In its comments too: an option with no default, <reserved>, is shown there.)
  const text = readFileSync(EXAMPLE, 'utf8');
  /** The text of the first element `<name` ... `</name>` in `where` ('' when there is none or it is empty). */
  const block = (where: string, open: string, name: string): string => {
    const start = where.indexOf(open);
    const end = start < 0 ? -1 : where.indexOf(`</${name}>`, start);
    return end < 0 ? '' : where.slice(start, end);
  };
  // The config checker's places (lint.ts): what Yak reads in each section, so a new option must reach the example too.
  let count = 0;
  const walk = (place: Place, where: string, path: string): void => {
    for (const name of place.reads) {
      count++;
      assert.match(where, new RegExp(`<${name}[ >/]`), `${path}/${name}`);
    }
    for (const [name, attrs] of Object.entries(place.attrs ?? {}))
      for (const attr of attrs) assert.match(where, new RegExp(`<${name}\\s[^>]*${attr}=`), `${path}/${name} ${attr}=`);
    for (const [name, below] of Object.entries(place.below ?? {})) walk(below, block(where, `<${name}`, name), `${path}/${name}`);
  };
  const sections: [string, Place, string][] = [
    ['pthcsock', PTHCSOCK, block(text, '<pthcsock', 'pthcsock')],
    // Not the <load> list, whose <mod_*/> are module names.
    ['jsm', JSM, block(text, '<jsm xmlns=', 'jsm')],
    ['xdb_file', XDB_FILE, block(text, '<xdb_file xmlns=', 'xdb_file')],
    ['log', LOG, block(text, '<log', 'log')],
    ['io', IO, block(text, '<io>', 'io')],
  ];
  for (const [section, place, where] of sections) walk(place, where, section);
  assert.ok(count >= 40, `the checker lists only ${count} elements`);
});

describe('sessions', () => {
  test('module order follows <load>, main library excluded, unknown names kept', () => {
    const c = parse({
      load: "<load main='jsm'><mod_xml/><jsm>./jsm/jsm.so</jsm><mod_roster/><mod_custom>x</mod_custom><mod_echo/></load>",
    });
    assert.deepEqual(c.jsm.modules, ['mod_xml', 'mod_roster', 'mod_custom', 'mod_echo']);
  });

  test('hosts are trimmed, lowercased and deduplicated', () => {
    const c = parse({ host: '<host> LocalHost </host><host>Example.org</host><host>localhost</host>' });
    assert.deepEqual(c.hosts, ['localhost', 'example.org']);
  });

  test('hosts and admin JIDs are prepared as JIDs are (nameprep, nodeprep), or no client could name them', () => {
    const c = parse({
      host: '<host>Straße.de</host><host>ＬＯＣＡＬ</host>',
      jsm: '<admin><write>Straße@Straße.de</write><read>ＢＯＳＳ@local</read></admin>',
    });
    assert.deepEqual(c.hosts, ['strasse.de', 'local']);
    assert.deepEqual(c.jsm.admin, { read: ['strasse@strasse.de', 'boss@local'], write: ['strasse@strasse.de'] });
    assert.throws(() => parse({ host: '<host>a\u200bb</host>' }), /invalid host name/);
    assert.throws(() => parse({ jsm: '<admin><read>a\u200bb@localhost</read></admin>' }), /invalid JID/);
  });

  test('register, welcome, admin, nounregister, sequences', () => {
    const c = parse({
      jsm: `<register notify='no' require='all'><instructions>Hi</instructions><email/></register>
        <welcome><subject>Hello</subject><body>Enjoy</body></welcome>
        <admin><write>Boss@LocalHost/Home</write><read>help@localhost</read><read>boss@localhost</read></admin>
        <nounregister/><mod_auth_0k><sequences>42</sequences></mod_auth_0k><mod_offline><limit>7</limit></mod_offline>`,
    });
    assert.equal(c.jsm.register?.notify, false);
    assert.equal(c.jsm.register?.requireAll, true);
    assert.deepEqual(c.jsm.register?.fields.map((f) => f.name), ['instructions', 'email']);
    assert.deepEqual(c.jsm.welcome, { subject: 'Hello', body: 'Enjoy' });
    assert.deepEqual(c.jsm.admin, { read: ['boss@localhost', 'help@localhost'], write: ['boss@localhost'] });
    assert.equal(c.jsm.nounregister, true);
    assert.equal(c.jsm.zerokSequences, 42);
    assert.equal(c.jsm.offlineLimit, 7);
    // A no-break space pasted with a name or a yes/no value is forgiven, as ever.
    const pasted = parse({ jsm: "<register notify='yes\u00a0'/><admin><read>support@localhost\u00a0</read></admin>" });
    assert.equal(pasted.jsm.register?.notify, true);
    assert.deepEqual(pasted.jsm.admin.read, ['support@localhost']);
    // XML white space around a message's text goes; a no-break space written on purpose stays.
    const nbsp = parse({ jsm: '<welcome><subject>\n  Hi&#xA0;</subject><body>&#xA0;</body></welcome>' });
    assert.deepEqual(nbsp.jsm.welcome, { subject: 'Hi\u00a0', body: '\u00a0' });
  });

  test("yes/no attributes: yes, true and 1 are yes; no, false, 0 and '' are no, in any case", () => {
    for (const v of ['yes', 'YES', 'true', '1', ' yes ']) assert.equal(parse({ jsm: `<register notify='${v}'/>` }).jsm.register?.notify, true, v);
    for (const v of ['no', 'False', '0', '']) assert.equal(parse({ jsm: `<register notify='${v}'/>` }).jsm.register?.notify, false, v);
  });

  test('numbers at the top of their range are accepted', () => {
    assert.equal(parse({ jsm: '<mod_auth_0k><sequences>100000</sequences></mod_auth_0k>' }).jsm.zerokSequences, 100000);
    assert.equal(parse({ pthcsock: "<ip port='65535'/>" }).c2s.listen[0]?.port, 65535);
  });

  test('no <register> means registration config undefined', () => {
    assert.equal(parse().jsm.register, undefined);
    assert.equal(parse().jsm.welcome, undefined);
  });
});

describe('jabberd:cmdline', () => {
  const parts: Parts = {
    host: "<host><jabberd:cmdline flag='h'>localhost</jabberd:cmdline></host>",
    xdb: "<xdb id='xdb'><xdb_file xmlns='jabber:config:xdb_file'><spool><jabberd:cmdline flag='s'>./spool</jabberd:cmdline></spool></xdb_file></xdb>",
  };

  test('without overrides: the element text', () => {
    const c = parse(parts);
    assert.deepEqual(c.hosts, ['localhost']);
    assert.equal(c.spool, resolve('./spool'));
  });

  test('with overrides: the command-line values', () => {
    const c = parse(parts, { spool: 'data/spool', host: 'yak' });
    assert.deepEqual(c.hosts, ['yak']);
    assert.equal(c.spool, resolve('data/spool'));
  });

  test('only the matching flag is replaced', () => {
    const c = parse(parts, { host: 'yak' });
    assert.equal(c.spool, resolve('./spool'));
    assert.deepEqual(c.warnings, []);
  });

  test('without cmdline elements: -s still names the spool, -h is said to change nothing', () => {
    // A plain <spool>./spool</spool> and <host>localhost</host>, as many 1.4 files have.
    const c = parse({}, { spool: 'backup/spool', host: 'yak' });
    assert.equal(c.spool, resolve('backup/spool'));
    assert.deepEqual(c.hosts, ['localhost']);
    assert.deepEqual(c.warnings, ["-h yak: the config has no <jabberd:cmdline flag='h'>, so it changes nothing"]);
  });
});

describe('file encodings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yak-encoding-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const welcome = "<welcome><subject>Ol\u00e1 Jos\u00e9</subject><body>x</body></welcome>";
  const write = (name: string, bytes: Buffer): string => {
    const f = join(dir, name);
    writeFileSync(f, bytes);
    return f;
  };

  test("ISO-8859-1, when the XML declaration says so, as 1.4's expat read it", () => {
    const text = minimal({ jsm: welcome }).replace("<?xml version='1.0'?>", "<?xml version='1.0' encoding='ISO-8859-1'?>");
    assert.equal(loadConfig(write('latin1.xml', Buffer.from(text, 'latin1'))).jsm.welcome?.subject, 'Ol\u00e1 Jos\u00e9');
  });

  test('UTF-8 otherwise, a byte-order mark allowed; other bytes are refused, not turned into U+FFFD', () => {
    const text = minimal({ jsm: welcome });
    assert.equal(loadConfig(write('bom.xml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))).jsm.welcome?.subject, 'Ol\u00e1 Jos\u00e9');
    refuses(() => loadConfig(write('undeclared.xml', Buffer.from(text, 'latin1'))), 'undeclared.xml', 'not UTF-8 text');
    refuses(() => loadConfig(write('utf16.xml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]))), 'UTF-16 is not supported');
    const koi = text.replace("<?xml version='1.0'?>", '<?xml version="1.0" encoding="KOI8-R"?>');
    refuses(() => loadConfig(write('koi8.xml', Buffer.from(koi))), "encoding 'koi8-r' is not supported");
  });
});

describe('jabberd:include', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yak-include-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  test('a file with another root is inserted; a same-named root is merged', () => {
    write('c2s.xml', `<service id='c2s'><pthcsock xmlns='jabber:config:pth-csock'><ip port='5999'/>
      <jabberd:include>sub/limits.xml</jabberd:include></pthcsock></service>`);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    // Relative to the including file (c2s.xml), not the top config.
    write('sub/limits.xml', '<limits><depth>9</depth></limits>');
    write('jsm-extra.xml', "<jsm xmlns='jabber:config:jsm'><register><name/></register><nounregister/></jsm>");
    const main = write(
      'main.xml',
      minimal({ jsm: '<jabberd:include>jsm-extra.xml</jabberd:include>', extra: '<jabberd:include>c2s.xml</jabberd:include>' })
        .replace(/<service id='c2s'>[\s\S]*?<\/service>/, ''),
    );
    const c = loadConfig(main);
    assert.deepEqual(c.c2s.listen, [{ port: 5999, address: undefined }]);
    assert.equal(c.c2s.limits.depth, 9);
    assert.deepEqual(c.jsm.register?.fields.map((f) => f.name), ['name']);
    assert.equal(c.jsm.nounregister, true);
  });

  test('an error found after expansion names the file the element came from, the innermost include', () => {
    const starts = (fn: () => unknown, file: string, rest: string): void =>
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message.slice(0, file.length + 2 + rest.length), `${file}: ${rest}`);
        return true;
      });
    mkdirSync(join(dir, 'conf.d'), { recursive: true });
    const c2s = write('conf.d/c2s-bad.xml', `<service id='c2s'><pthcsock xmlns='jabber:config:pth-csock'><ip port='5999'/>
      <authtime>soon</authtime></pthcsock></service>`);
    const noC2s = (extra: string, jsm = ''): string => minimal({ extra, jsm }).replace(/<service id='c2s'>[\s\S]*?<\/service>/, '');
    let main = write('err-c2s.xml', noC2s('<jabberd:include>conf.d/c2s-bad.xml</jabberd:include>'));
    starts(() => loadConfig(main), c2s, "<pthcsock><authtime>: authtime must be an integer 0..2147483, got 'soon'");

    // Nested: the limits file is included by the c2s file, which the main file includes.
    const limits = write('conf.d/limits-bad.xml', '<limits><depth>1</depth></limits>');
    const nested = (alias: string): string =>
      write('conf.d/c2s-nested.xml', `<service id='c2s'><pthcsock xmlns='jabber:config:pth-csock'><ip port='5999'/>
        <jabberd:include>limits-bad.xml</jabberd:include><alias to='${alias}'/></pthcsock></service>`);
    nested('localhost');
    main = write('err-nested.xml', noC2s('<jabberd:include>conf.d/c2s-nested.xml</jabberd:include>'));
    starts(() => loadConfig(main), limits, '<limits><depth>: depth must be an integer 2..1000');
    // An error in the c2s file itself, around the include, names the c2s file.
    nested('nowhere');
    write('conf.d/limits-bad.xml', '<limits><depth>9</depth></limits>');
    starts(() => loadConfig(main), join(dir, 'conf.d/c2s-nested.xml'), "<alias to='nowhere'>: 'nowhere' is not a <host>");

    // A <jsm> file merged into <jsm>, and a bad JID in it.
    const jsm = write('conf.d/jsm-bad.xml', "<jsm xmlns='jabber:config:jsm'><admin><read>a b@localhost</read></admin></jsm>");
    main = write('err-jsm.xml', minimal({ jsm: '<jabberd:include>conf.d/jsm-bad.xml</jabberd:include>' }));
    starts(() => loadConfig(main), jsm, "<admin><read>: invalid JID 'a b@localhost'");

    // In the main file, the message is as it always was; an include written wrong names the file it is written in.
    main = write('err-main.xml', minimal({ pthcsock: '<authtime>soon</authtime>' }));
    refuses(() => loadConfig(main), "<pthcsock><authtime>: authtime must be an integer 0..2147483, got 'soon'");
    assert.throws(() => loadConfig(main), (err: Error) => err.message.startsWith('<pthcsock><authtime>'));
    const outer = write('conf.d/empty-include.xml', '<x><jabberd:include> </jabberd:include></x>');
    main = write('err-include.xml', minimal({ extra: '<jabberd:include>conf.d/empty-include.xml</jabberd:include>' }));
    starts(() => loadConfig(main), outer, '<jabberd:include>: empty file name');
  });

  test('include loops are refused', () => {
    write('a.xml', '<x><jabberd:include>b.xml</jabberd:include></x>');
    write('b.xml', '<y><jabberd:include>a.xml</jabberd:include></y>');
    const main = write('loop.xml', minimal({ extra: '<jabberd:include>a.xml</jabberd:include>' }));
    refuses(() => loadConfig(main), '<jabberd:include>', 'include loop');
  });

  test('a file including itself is a loop', () => {
    const main = join(dir, 'self.xml');
    write('self.xml', minimal({ extra: '<jabberd:include>self.xml</jabberd:include>' }));
    refuses(() => loadConfig(main), 'include loop');
  });

  test('more than 8 levels are refused', () => {
    for (let i = 0; i < 12; i++) write(`deep${i}.xml`, `<d${i}><jabberd:include>deep${i + 1}.xml</jabberd:include></d${i}>`);
    write('deep12.xml', '<end/>');
    const main = write('deep.xml', minimal({ extra: '<jabberd:include>deep0.xml</jabberd:include>' }));
    refuses(() => loadConfig(main), '<jabberd:include>', 'more than 8 levels');
  });

  test('8 levels are fine', () => {
    for (let i = 0; i < 7; i++) write(`ok${i}.xml`, `<o${i}><jabberd:include>ok${i + 1}.xml</jabberd:include></o${i}>`);
    write('ok7.xml', '<end/>');
    const main = write('ok.xml', minimal({ extra: '<jabberd:include>ok0.xml</jabberd:include>' }));
    assert.ok(loadConfig(main).ignored.includes('<o0>'));
  });

  test('an included file counts as deep as where it is included', () => {
    // 97 levels in the file, inside <jabber><x><y> (the include's parent): 100 in all.
    write('deep-ok.xml', '<n>'.repeat(97) + '</n>'.repeat(97));
    const ok = write('deep-ok-main.xml', minimal({ extra: '<x><y><jabberd:include>deep-ok.xml</jabberd:include></y></x>' }));
    assert.ok(loadConfig(ok).ignored.includes('<x>'));
    const deep = write('deep-include.xml', '<n>'.repeat(98) + '</n>'.repeat(98));
    const main = write('deep-include-main.xml', minimal({ extra: '<x><y><jabberd:include>deep-include.xml</jabberd:include></y></x>' }));
    refuses(() => loadConfig(main), `${deep}:1:`, '<n> (inside <n><n><n>...) is nested more than 100 elements deep, counting the 3');
  });

  test('a device is refused, not read forever', () => {
    const main = write('device.xml', minimal({ extra: '<jabberd:include>/dev/zero</jabberd:include>' }));
    refuses(() => loadConfig(main), '<jabberd:include>/dev/zero</jabberd:include>', 'a device, not a file');
    refuses(() => loadConfig('/dev/zero'), '/dev/zero', 'a device, not a file');
  });

  test('a missing or malformed included file names the include', () => {
    const main = write('missing.xml', minimal({ extra: '<jabberd:include>nope.xml</jabberd:include>' }));
    refuses(() => loadConfig(main), '<jabberd:include>nope.xml</jabberd:include>', 'cannot read');
    write('bad.xml', '<a><b></a>');
    const main2 = write('bad-main.xml', minimal({ extra: '<jabberd:include>bad.xml</jabberd:include>' }));
    refuses(() => loadConfig(main2), join(dir, 'bad.xml'));
  });
});

describe('c2s', () => {
  test('listeners: several ip, empty = all addresses, default ports', () => {
    const c = parse({
      pthcsock: "<ip port='5222'>127.0.0.1</ip><ip>::1</ip><ip port='0'/><ssl>127.0.0.1</ssl>",
      extra: "<io><ssl><key ip='127.0.0.1'>key.pem</key></ssl></io>",
    });
    assert.deepEqual(c.c2s.listen, [
      { port: 5222, address: '127.0.0.1' },
      { port: 5222, address: '::1' },
      { port: 0, address: undefined },
    ]);
    assert.deepEqual(c.c2s.ssl, [{ port: 5223, address: '127.0.0.1' }]);
    assert.equal(c.tlsKeys.get('127.0.0.1'), resolve('key.pem'));
  });

  test("a TLS key's ip is compared as an address, not as text: another spelling of the listener's address finds it; a name is refused", () => {
    const c = parse({
      pthcsock: "<ip port='5222'>127.0.0.1</ip><ssl>::1</ssl><ssl>127.0.0.1</ssl>",
      extra: "<io><ssl><key ip='0:0::1'>six.pem</key><key>any.pem</key></ssl></io>",
    });
    assert.deepEqual(tlsKeyFor(c.tlsKeys, '::1'), { pem: resolve('six.pem'), where: "<key ip='::1'>" });
    assert.deepEqual(tlsKeyFor(c.tlsKeys, '0000:0::0001'), { pem: resolve('six.pem'), where: "<key ip='::1'>" });
    // A key without ip serves the rest, and is named as written.
    assert.deepEqual(tlsKeyFor(c.tlsKeys, '127.0.0.1'), { pem: resolve('any.pem'), where: '<key>' });
    refuses(
      () => parse({ pthcsock: '<ssl>127.0.0.1</ssl>', extra: "<io><ssl><key ip='localhost'>k.pem</key></ssl></io>" }),
      "<key ip='localhost'>: 'localhost' is not an IP address",
    );
    // An empty listener takes every address, as one on :: does: <key ip='::'> is its key.
    const every = parse({ pthcsock: "<ssl port='5223'/>", extra: "<io><ssl><key ip='::'>all.pem</key></ssl></io>" });
    assert.deepEqual(tlsKeyFor(every.tlsKeys, undefined), { pem: resolve('all.pem'), where: "<key ip='::'>" });
  });

  test('two listeners on one address and port, plain or TLS, are refused naming both (the start said "port in use" against its own)', () => {
    const both = (a: string, b: string): string => `${a} and ${b}: both listen on`;
    refuses(
      () => parse({ pthcsock: "<ip port='5222'>127.0.0.1</ip><ip port='5222'>127.0.0.1</ip>" }),
      both("<ip port='5222'>127.0.0.1</ip>", "<ip port='5222'>127.0.0.1</ip>"), '127.0.0.1, port 5222', 'one listener',
    );
    // One on all addresses takes the port on every address.
    refuses(
      () => parse({ pthcsock: "<ip port='5222'/><ip port='5222'>127.0.0.1</ip>" }),
      both("<ip port='5222'/>", "<ip port='5222'>127.0.0.1</ip>"), '127.0.0.1, port 5222 (an empty <ip/> is all addresses)',
    );
    refuses(() => parse({ pthcsock: '<ip>::1</ip><ip>::</ip>' }), both('<ip>::1</ip>', '<ip>::</ip>'), '::1, port 5222 (:: is all addresses)');
    refuses(() => parse({ pthcsock: '<ip>0.0.0.0</ip><ip>127.0.0.1</ip>' }), '127.0.0.1, port 5222 (0.0.0.0 is all IPv4 addresses)');
    // Written differently, the same address.
    refuses(() => parse({ pthcsock: '<ip>::ffff:127.0.0.1</ip><ip>127.0.0.1</ip>' }), 'both listen on 127.0.0.1, port 5222');
    refuses(() => parse({ pthcsock: "<ip port='5222'>::1</ip><ip port='05222'>0:0::1</ip>" }), 'both listen on ::1, port 5222');
    // A plain and a TLS listener clash as well, default ports included (5222, 5223).
    const key = "<io><ssl><key>k.pem</key></ssl></io>";
    refuses(() => parse({ pthcsock: "<ip port='5223'/><ssl/>", extra: key }), both("<ip port='5223'/>", '<ssl/>'), 'all addresses, port 5223');
    refuses(() => parse({ pthcsock: "<ssl port='5222'>127.0.0.1</ssl><ip/>", extra: key }), both('<ip/>', "<ssl port='5222'>127.0.0.1</ssl>"));
    refuses(() => parse({ pthcsock: "<ssl>127.0.0.1</ssl><ssl port='5223'/>", extra: key }), both('<ssl>127.0.0.1</ssl>', "<ssl port='5223'/>"));
    // What can listen side by side: other ports, other addresses, IPv4 and IPv6, port 0 (a free port each).
    const c = parse({
      pthcsock: "<ip>127.0.0.1</ip><ip>::1</ip><ip port='5225'>0.0.0.0</ip><ip port='5225'>::1</ip><ip port='5223'>127.0.0.1</ip><ssl port='5224'/><ip port='0'/><ip port='0'/>",
      extra: key,
    });
    assert.deepEqual([c.c2s.listen.length, c.c2s.ssl.length], [7, 1]);
  });

  test('neither ip nor ssl: 5222 on all addresses, as 1.4', () => {
    assert.deepEqual(parse({ pthcsock: '<authtime/>' }).c2s.listen, [{ port: 5222, address: undefined }]);
  });

  test('aliases: default and named', () => {
    const c = parse({
      host: '<host>yak</host><host>other</host>',
      pthcsock: "<alias to='Yak'/><alias to='other'>Chat.Example.org</alias>",
    });
    assert.deepEqual(c.c2s.aliases, [
      { to: 'yak', from: undefined },
      { to: 'other', from: 'chat.example.org' },
    ]);
  });

  test('karma: dec 0 switches it off; missing children take defaults; io default', () => {
    assert.equal(parse({ pthcsock: '<karma><dec>0</dec></karma>' }).c2s.karma, undefined);
    assert.equal(parse().c2s.karma, undefined, 'no <karma> anywhere');
    assert.deepEqual(parse({ pthcsock: '<karma><init>3</init></karma>' }).c2s.karma, {
      init: 3, max: 10, inc: 1, dec: 1, penalty: -5, restore: 10,
    });
    const io = parse({ extra: '<io><karma><max>64</max></karma><rate points="3"/></io>' });
    assert.equal(io.c2s.karma?.max, 64);
    assert.deepEqual(io.c2s.rate, { points: 3, time: 25 });
  });

  test('rate: 0 switches it off', () => {
    assert.equal(parse({ pthcsock: "<rate points='0' time='25'/>" }).c2s.rate, undefined);
    assert.deepEqual(parse({ pthcsock: "<rate points='5' time='25'/>" }).c2s.rate, { points: 5, time: 25 });
  });

  test('authtime: empty and 0 mean no limit', () => {
    assert.equal(parse({ pthcsock: '<authtime/>' }).c2s.authtime, 0);
    assert.equal(parse({ pthcsock: '<authtime>0</authtime>' }).c2s.authtime, 0);
    assert.equal(parse({ pthcsock: '<authtime> 30 </authtime>' }).c2s.authtime, 30);
  });

  test('limits: defaults and overrides', () => {
    assert.deepEqual(parse().c2s.limits, {
      preAuthStanzaBytes: 65536, stanzaBytes: 262144, depth: 32, queueStanzas: 32, queueBytes: 65536,
      connectionsPerAddress: 1000, connectionsTotal: undefined, outputBytes: 1048576, idleSeconds: 0, keepaliveSeconds: 120, preAuthMemory: 33554432,
      sessionMemory: 268435456, sessionsPerUser: 100,
    });
    const c = parse({
      pthcsock:
        "<limits><preauthstanza>1000</preauthstanza><depth>10</depth><queue bytes='2000'/>" +
        "<connections perip='5' total='100'/><outbuffer>4096</outbuffer><idle>300</idle><keepalive>30</keepalive><preauthmemory>2000000</preauthmemory>" +
        '<sessionmemory>20000000</sessionmemory><sessions>5</sessions></limits>',
    });
    assert.deepEqual(c.c2s.limits, {
      preAuthStanzaBytes: 1000, stanzaBytes: 262144, depth: 10, queueStanzas: 32, queueBytes: 2000,
      connectionsPerAddress: 5, connectionsTotal: 100, outputBytes: 4096, idleSeconds: 300, keepaliveSeconds: 30, preAuthMemory: 2000000,
      sessionMemory: 20000000, sessionsPerUser: 5,
    });
    assert.equal(parse({ pthcsock: '<limits><preauthmemory>0</preauthmemory></limits>' }).c2s.limits.preAuthMemory, 0);
    refuses(() => parse({ pthcsock: '<limits><preauthmemory>-5</preauthmemory></limits>' }), '<preauthmemory>');
    // Smaller than a few logins: nobody could log in.
    refuses(() => parse({ pthcsock: '<limits><preauthmemory>100000</preauthmemory></limits>' }), '<preauthmemory>', 'at least 1048576');
    assert.equal(parse({ pthcsock: '<limits><sessionmemory>0</sessionmemory></limits>' }).c2s.limits.sessionMemory, 0);
    // Smaller than what one session may hold at the worst.
    refuses(() => parse({ pthcsock: '<limits><sessionmemory>8000000</sessionmemory></limits>' }), '<sessionmemory>', 'at least 16777216');
    refuses(() => parse({ pthcsock: "<limits><connections perip='-1'/></limits>" }), '<connections', 'perip');
    refuses(() => parse({ pthcsock: '<limits><outbuffer>10</outbuffer></limits>' }), '<outbuffer>');
    assert.equal(parse({ pthcsock: '<limits><keepalive>0</keepalive></limits>' }).c2s.limits.keepaliveSeconds, 0);
    assert.equal(parse({ pthcsock: '<limits><keepalive>32767</keepalive></limits>' }).c2s.limits.keepaliveSeconds, 32767);
    // Linux takes no longer TCP keepalive idle time.
    refuses(() => parse({ pthcsock: '<limits><keepalive>32768</keepalive></limits>' }), '<keepalive>');
    refuses(() => parse({ pthcsock: '<limits><keepalive>2m</keepalive></limits>' }), '<keepalive>');
  });
});

describe('jsm protections (Yak)', () => {
  test('register_policy: defaults, overrides, reserved names added to the built-in list', () => {
    const d = parse().jsm.registerPolicy;
    assert.deepEqual(d.rate, { max: 5, period: 600 });
    assert.ok(d.allow.includes('127.0.0.1') && d.allow.includes('::1'));
    assert.ok(['admin', 'root', 'postmaster', 'hostmaster', 'webmaster', 'abuse'].every((n) => d.reserved.includes(n)));
    assert.equal(d.minPassword, 0);
    const c = parse({
      jsm:
        "<register_policy><rate max='2' period='60'/><allow>10.1.1.1</allow>" +
        '<reserved>Support</reserved><minpassword>8</minpassword></register_policy>',
    }).jsm.registerPolicy;
    assert.deepEqual(c.rate, { max: 2, period: 60 });
    assert.deepEqual(c.allow, ['10.1.1.1']);
    assert.ok(c.reserved.includes('support') && c.reserved.includes('admin'));
    assert.equal(c.minPassword, 8);
    refuses(() => parse({ jsm: "<register_policy><rate max='x'/></register_policy>" }), '<rate', 'max');
  });

  test('login_throttle: defaults and overrides', () => {
    assert.deepEqual(parse().jsm.loginThrottle, { free: 3, baseMs: 100, maxMs: 1000, forgetMs: 900_000, exempt: [] });
    const t = parse({
      jsm: "<login_throttle free='5' base='50' max='2000' forget='60'><exempt>10.0.0.1</exempt></login_throttle>",
    }).jsm.loginThrottle;
    assert.deepEqual(t, { free: 5, baseMs: 50, maxMs: 2000, forgetMs: 60_000, exempt: ['10.0.0.1'] });
    refuses(() => parse({ jsm: "<login_throttle max='-5'/>" }), '<login_throttle', 'max');
  });

  test('<exempt> and <allow> addresses are taken in the form client addresses are compared in; no address is refused', () => {
    const c = parse({
      jsm:
        '<login_throttle><exempt>2001:DB8::5</exempt><exempt>::ffff:10.0.0.9</exempt><exempt/></login_throttle>' +
        '<register_policy><allow>0:0:0:0:0:0:0:1</allow></register_policy>',
    });
    assert.deepEqual(c.jsm.loginThrottle.exempt, ['2001:db8::5', '10.0.0.9']);
    assert.deepEqual(c.jsm.registerPolicy.allow, ['::1']);
    refuses(() => parse({ jsm: '<login_throttle><exempt>gateway.example.org</exempt></login_throttle>' }), '<exempt>', "'gateway.example.org' is not an IP address");
    refuses(() => parse({ jsm: '<register_policy><allow>10.0.0.300</allow></register_policy>' }), '<allow>', "'10.0.0.300' is not an IP address");
  });
});

test('other sections and top-level elements are ignored, not errors', () => {
  const c = parse({
    extra: `<xdb id='sql'><load><xdb_sql>x.so</xdb_sql></load></xdb>
      <service id='ext'><host>t.localhost</host><connect><ip>1.2.3.4</ip></connect></service>
      <log id='sys'><syslog>local0</syslog></log>
      <io><allow><ip>127.0.0.1</ip></allow></io>
      <debug/>`,
  });
  assert.ok(c.ignored.includes('xdb sql (xdb_sql)'));
  assert.ok(c.ignored.includes('service ext (connect)'));
  assert.ok(c.ignored.includes('log sys <syslog>'));
  assert.ok(c.ignored.some((s) => s.startsWith('io <allow>')));
  assert.ok(c.ignored.includes('<debug>'));
  assert.deepEqual(c.log, { file: undefined, stderr: false });
});

describe('warnings (never errors) about what Yak reads', () => {
  test('an element Yak does not know where it reads, with the likely name; a second copy of a single one, saying which is read', () => {
    const c = parse({
      pthcsock: "<ip port='5222'>127.0.0.1</ip><authtime>120</authtime><authtme>30</authtme><authtime>30</authtime><heartbeat>60</heartbeat><karma><max>9</max><penalti>-1</penalti><inti>5</inti></karma><raet/>",
      jsm: '<mod_offline><limit>5</limit></mod_offline><mod_offline><limit>7</limit></mod_offline><vcard/><update/><mod_auth_crypt/><flter/><bogus/>',
      extra: '<log id="e"><host/><format>%s</format><fle>yak.log</fle></log><pidfile>a.pid</pidfile><pidfile>b.pid</pidfile>',
    });
    assert.deepEqual(c.warnings, [
      "<jsm><mod_offline>: given 2 times; only the first is read, the others are ignored",
      "<jsm><vcard>: not an element Yak reads here; ignored (did you mean <vCard>?)",
      "<jsm><flter>: not an element Yak reads here; ignored (did you mean <filter>?)",
      "<jsm><bogus>: not an element Yak reads here; ignored",
      "<pthcsock><authtime>: given 2 times; only the first (120) is read, the others are ignored",
      "<pthcsock><authtme>: not an element Yak reads here; ignored (did you mean <authtime>?)",
      "<pthcsock><karma><penalti>: not an element Yak reads here; ignored (did you mean <penalty>?)",
      "<pthcsock><karma><inti>: not an element Yak reads here; ignored (did you mean <init>?)",
      "<pthcsock><raet>: not an element Yak reads here; ignored (did you mean <rate>?)",
      "<log id='e'><fle>: not an element Yak reads here; ignored (did you mean <file>?)",
      "<pidfile>: given 2 times; only the first (a.pid) is read, the others are ignored",
    ]);
    // What the warnings say is what is read.
    assert.equal(c.c2s.authtime, 120);
    assert.equal(c.jsm.offlineLimit, 5);
    assert.equal(c.pidfile, resolve('a.pid'));
    assert.equal(c.log.file, undefined);
  });

  test("a listener's attribute Yak does not read, and a listener written beside <pthcsock>: warned, since either leaves the server on every address", () => {
    const c = parse({
      // Every copy looked at; a namespace declaration is no attribute of the element's.
      pthcsock: "<ip xmlns:x='urn:x' port='5300'>127.0.0.2</ip><ip prot='46500'>127.0.0.1</ip><ssl port='5223' adress='x'>127.0.0.1</ssl>",
      extra: "<io><ssl><key ip='127.0.0.1'>file.pem</key></ssl></io>",
    });
    assert.deepEqual(c.warnings, [
      "<pthcsock><ip>: attribute prot='46500' is not read here; ignored (did you mean port?)",
      "<pthcsock><ssl>: attribute adress='x' is not read here; ignored",
    ]);
    assert.deepEqual(c.c2s.listen, [{ port: 5300, address: '127.0.0.2' }, { port: 5222, address: '127.0.0.1' }], 'what the warning says is what is read');
    const beside = parseConfig(minimal({ pthcsock: '' }).replace('</pthcsock>', "</pthcsock><ip port='5222'>127.0.0.1</ip>"), FILE);
    assert.deepEqual(beside.warnings, ["<service id='c2s'><ip>: outside <pthcsock>, where it is not read; ignored (move it inside <pthcsock>)"]);
    assert.deepEqual(beside.c2s.listen, [{ port: 5222, address: undefined }]);
  });

  test('an element inside a value is not read: a warning says what the value is then', () => {
    const c = parse({
      pthcsock: "<ip port='5222'>127.0.0.1</ip><authtime>1<x/>20</authtime><karma><init>1<y/>0</init></karma><limits><idle><seconds>30</seconds></idle></limits>",
      jsm: '<welcome><subject>Hi<b>!</b></subject><body>Welcome</body></welcome><mod_offline><limit><n>5</n></limit></mod_offline>',
    });
    assert.deepEqual(c.warnings, [
      '<jsm><welcome><subject>: holds an element, <b>, which is not read: the value is the text around it (Hi)',
      '<jsm><mod_offline><limit>: holds an element, <n>, which is not read: the value is the text around it, none here, so the default',
      '<pthcsock><authtime>: holds an element, <x>, which is not read: the value is the text around it (120)',
      '<pthcsock><karma><init>: holds an element, <y>, which is not read: the value is the text around it (10)',
      '<pthcsock><limits><idle>: holds an element, <seconds>, which is not read: the value is the text around it, none here, so the default',
    ]);
    // What the warnings say is what is read.
    assert.equal(c.c2s.authtime, 120);
    assert.equal(c.jsm.offlineLimit, 1000);
    // Each copy of a value read more than once (<ip>, <read>).
    const many = parse({
      pthcsock: "<ip port='5222'>127.0.0.1</ip><ip port='5224'>127.0.<y/>0.1</ip>",
      jsm: '<admin><read>a@localhost</read><read>bo<x/>ss@localhost</read></admin>',
    });
    assert.deepEqual(many.warnings, [
      '<jsm><admin><read>: holds an element, <x>, which is not read: the value is the text around it (boss@localhost)',
      '<pthcsock><ip>: holds an element, <y>, which is not read: the value is the text around it (127.0.0.1)',
    ]);
  });

  test('two config sections in one service, and a warning from an included file names it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'yak-lint-'));
    try {
      const inc = join(dir, 'limits.xml');
      writeFileSync(inc, '<limits><stanza>1000</stanza><stanza>2000</stanza><dept>4</dept></limits>');
      const stray = join(dir, 'listener.xml');
      writeFileSync(stray, "<ip port='5222'>127.0.0.1</ip>");
      const main = join(dir, 'jabber.xml');
      // A second <jsm> right after the first one, <limits> from the included file, and a listener included beside <pthcsock>.
      writeFileSync(
        main,
        minimal({ jsm: "</jsm><jsm xmlns='jabber:config:jsm'><nounregister/>", pthcsock: '<ip/><jabberd:include>limits.xml</jabberd:include>' }).replace(
          '</pthcsock>',
          '</pthcsock><jabberd:include>listener.xml</jabberd:include>',
        ),
      );
      const c = loadConfig(main);
      assert.deepEqual(c.warnings, [
        "<service id='sessions'><jsm>: given 2 times; only the first is read, the others are ignored",
        `${inc}: <pthcsock><limits><stanza>: given 2 times; only the first (1000) is read, the others are ignored`,
        `${inc}: <pthcsock><limits><dept>: not an element Yak reads here; ignored (did you mean <depth>?)`,
        `${stray}: <service id='c2s'><ip>: outside <pthcsock>, where it is not read; ignored (move it inside <pthcsock>)`,
      ]);
      assert.equal(c.jsm.nounregister, false);
      assert.equal(c.c2s.limits.stanzaBytes, 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("a second <load main='jsm'> is a warning naming the modules only it lists (1.4 started a second session manager from it)", () => {
  const load = "<load main='jsm'><jsm>x</jsm><mod_echo>x</mod_echo><mod_time>x</mod_time></load>";
  let c = parse({ load: load + "<load main='jsm'><jsm>x</jsm><mod_time>x</mod_time><mod_xml>x</mod_xml></load><load main='jsm'><mod_last/></load>" });
  assert.deepEqual(c.warnings, [
    "<service id='sessions'><load main='jsm'>: given 3 times; only the first is read, the others are ignored (not loaded: mod_xml, mod_last)",
  ]);
  assert.deepEqual(c.jsm.modules, ['mod_echo', 'mod_time']);
  c = parse({ load: load + "<load main='jsm'><jsm>x</jsm><mod_echo>x</mod_echo></load>" });
  assert.deepEqual(c.warnings, ["<service id='sessions'><load main='jsm'>: given 2 times; only the first is read, the others are ignored"]);
  // One <load main='jsm'> beside a plain <load> (what the c2s and xdb sections have): nothing to say.
  assert.deepEqual(parse({ load: load + '<load><other>x.so</other></load>' }).warnings, []);
});

describe('refusals name the element and the problem', () => {
  test('missing file', () => {
    refuses(() => loadConfig('/nonexistent/yak/jabber.xml'), '/nonexistent/yak/jabber.xml', 'cannot read', 'ENOENT');
  });

  test('a folder named as the config file', () => {
    const folder = mkdtempSync(join(tmpdir(), 'yak-config-dir-'));
    try {
      refuses(() => loadConfig(folder), `config file ${folder}: a folder, not a file`);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('malformed XML names the file', () => {
    refuses(() => parseConfig('<jabber><service></jabber>', FILE), FILE);
    refuses(() => parseConfig('', FILE), FILE);
  });

  test('malformed XML names the element, the problem and where', () => {
    // saxes alone said "unexpected close tag." and, for a tag cut off by the
    // end of the file, named the root ("unclosed tag: jabber").
    refuses(() => parseConfig('<jabber><a></b></jabber>', FILE), `${FILE}:1:15: </b> does not close <a>`);
    refuses(() => parseConfig('<jabber><broken', FILE), `${FILE}:1:9: <broken> is not closed: the file ends inside its tag`);
    refuses(() => parseConfig('<jabber>\n  <a>', FILE), `${FILE}:2:5: <a> is not closed: the file ends before </a>`);
    refuses(() => parseConfig('<jabber/></b>', FILE), `${FILE}:1:13: </b> closes no open element`);
    // saxes named nothing for these: "document must contain a root element.",
    // "unexpected end.", "documents may contain only one root." and the like.
    for (const [text, message] of [
      ['<broken', '1:1: <broken> is not closed: the file ends inside its tag'],
      ["<broken a='1", '1:1: <broken> is not closed: the file ends inside its tag'],
      ['\n  ', '2:2: no root element: the file holds no element'],
      ['<jabber/><jabber/>', '1:17: a second element after </jabber>: everything must be inside the one root element'],
      ['<jabber/>x', '1:10: text outside the root element: everything must be inside it'],
      ['<jabber>&nbsp;</jabber>', '1:14: &nbsp; is not defined: XML has only &lt; &gt; &amp; &quot; &apos; and character references (&#...;)'],
      ["<jabber a='1' a='2'/>", '1:21: attribute a is given twice in one tag'],
    ]) {
      refuses(() => parseConfig(text!, FILE), `${FILE}:${message}`);
    }
  });

  test('elements nested more than 100 deep, named where the nesting goes too deep, before any reader recurses', () => {
    // Thousands of levels overflowed the stack in the readers: a RangeError with a stack trace.
    const nested = (n: number): string => '<x>'.repeat(n) + '</x>'.repeat(n);
    refuses(() => parse({ jsm: nested(5000) }), `${FILE}:`, '<x> (inside <jabber><service><jsm>...) is nested more than 100 elements deep');
    // <jabber><service><jsm> and 97 more make 100: accepted (a real jabber.xml needs about 7).
    assert.deepEqual(parse({ jsm: nested(97) }).warnings, ['<jsm><x>: not an element Yak reads here; ignored']);
    refuses(() => parse({ jsm: nested(98) }), 'nested more than 100');
    // Through a <jabberd:cmdline> default too.
    refuses(() => parse({ host: `<host><jabberd:cmdline flag='h'>${nested(200)}</jabberd:cmdline></host>` }), 'nested more than 100');
  });

  test('root must be <jabber>', () => {
    refuses(() => parseConfig('<config/>', FILE), '<jabber>', '<config>');
  });

  test('bad port', () => {
    refuses(() => parse({ pthcsock: "<ip port='abc'/>" }), "<ip port='abc'>: port must be an integer 0..65535");
    refuses(() => parse({ pthcsock: "<ip port='70000'/>" }), "<ip port='70000'>", 'port');
    refuses(() => parse({ pthcsock: "<ip port='-1'/>" }), "<ip port='-1'>", 'port');
  });

  test('bad address', () => {
    refuses(() => parse({ pthcsock: '<ip>localhost</ip>' }), '<ip>', "'localhost' is not an IP address", 'not a host name');
  });

  test("numbers with leading zeros are read by value, as 1.4's atoi read them", () => {
    // The digit count used to be limited to 10: '00000000010' was refused as out of range.
    const c = parse({ pthcsock: "<ip port='046501'/><authtime>0000000000000000000120</authtime><karma><init>00000000010</init></karma>" });
    assert.deepEqual(c.c2s.listen, [{ port: 46501, address: undefined }]);
    assert.equal(c.c2s.authtime, 120);
    assert.equal(c.c2s.karma?.init, 10);
    refuses(() => parse({ pthcsock: '<karma><init>000002147483648</init></karma>' }), "init must be an integer 0..2147483647, got '000002147483648'");
    refuses(() => parse({ pthcsock: '<karma><init>99999999999999999999</init></karma>' }), 'init must be an integer 0..2147483647');
  });

  test('bad numbers', () => {
    refuses(() => parse({ pthcsock: '<authtime>soon</authtime>' }), '<authtime>', "'soon'");
    refuses(() => parse({ pthcsock: '<authtime>1.5</authtime>' }), '<authtime>', "'1.5'");
    refuses(() => parse({ pthcsock: '<karma><init>-1</init></karma>' }), '<init>', "'-1'");
    // Karma on with a budget of nothing, or no way back from a penalty, would block a client for good.
    refuses(() => parse({ pthcsock: '<karma><max>0</max></karma>' }), '<max>', 'max must be at least 1');
    refuses(() => parse({ pthcsock: '<karma><inc>0</inc></karma>' }), '<inc>', 'inc must be at least 1');
    refuses(() => parse({ pthcsock: "<rate points='x'/>" }), '<rate', 'points');
    refuses(() => parse({ pthcsock: '<limits><depth>1</depth></limits>' }), '<depth>', 'depth');
    // Deeper stanzas would overflow the stack of every reader that recurses.
    refuses(() => parse({ pthcsock: '<limits><depth>1001</depth></limits>' }), '<depth>', '2..1000');
    refuses(() => parse({ pthcsock: "<limits><queue stanzas='many'/></limits>" }), '<queue', 'stanzas');
  });

  test('bad sequences', () => {
    refuses(() => parse({ jsm: '<mod_auth_0k><sequences>0</sequences></mod_auth_0k>' }), '<sequences>', '1..100000');
    refuses(() => parse({ jsm: '<mod_auth_0k><sequences>many</sequences></mod_auth_0k>' }), '<sequences>', "'many'");
    refuses(() => parse({ jsm: '<mod_auth_0k><sequences>100001</sequences></mod_auth_0k>' }), '<sequences>');
  });

  test('bad offline limit, bad <filter> (test/filter-rules.test.ts has the rest)', () => {
    refuses(() => parse({ jsm: '<mod_offline><limit>0</limit></mod_offline>' }), '<mod_offline><limit>', "'0'");
    refuses(() => parse({ jsm: '<mod_offline><limit>lots</limit></mod_offline>' }), '<mod_offline><limit>', "'lots'");
    refuses(() => parse({ jsm: '<filter><max_size>-1</max_size></filter>' }), '<filter><max_size>', "'-1'");
  });

  test('duplicate module', () => {
    refuses(
      () => parse({ load: "<load main='jsm'><jsm/><mod_roster/><mod_echo/><mod_roster/></load>" }),
      "<load main='jsm'>", '<mod_roster>', 'twice',
    );
  });

  test('no module list', () => {
    refuses(() => parse({ load: '' }), "<service id='sessions'>", "<load main='jsm'>");
  });

  test('no sessions service', () => {
    const text = minimal().replace(/<service id='sessions'>[\s\S]*?<\/service>/, '');
    refuses(() => parseConfig(text, FILE), "<service id='sessions'>", 'no session manager');
  });

  test('no c2s service', () => {
    const text = minimal().replace(/<service id='c2s'>[\s\S]*?<\/service>/, '');
    refuses(() => parseConfig(text, FILE), "<service id='c2s'>", 'no c2s');
  });

  test('no spool', () => {
    refuses(() => parse({ xdb: "<xdb id='xdb'><load><xdb_file/></load></xdb>" }), "<xdb id='xdb'>", '<spool>');
    refuses(
      () => parse({ xdb: "<xdb id='xdb'><xdb_file xmlns='jabber:config:xdb_file'><spool> </spool></xdb_file></xdb>" }),
      '<spool>',
    );
    refuses(() => parse({ xdb: '' }), 'no xdb_file');
  });

  test('xdb_file <maxfilesize> (Yak): the cap on one user file, 1 MiB by default, 0 = none', () => {
    const xdb = (inner: string): Parts => ({
      xdb: `<xdb id='xdb'><xdb_file xmlns='jabber:config:xdb_file'><spool>./spool</spool>${inner}</xdb_file></xdb>`,
    });
    assert.equal(parse().maxFileBytes, 1048576);
    assert.equal(parse(xdb('<maxfilesize/>')).maxFileBytes, 1048576);
    assert.equal(parse(xdb('<maxfilesize> 4194304 </maxfilesize>')).maxFileBytes, 4194304);
    assert.equal(parse(xdb('<maxfilesize>65536</maxfilesize>')).maxFileBytes, 65536);
    assert.equal(parse(xdb('<maxfilesize>0</maxfilesize>')).maxFileBytes, 0);
    refuses(() => parse(xdb('<maxfilesize>1M</maxfilesize>')), '<maxfilesize>', "integer 0..2147483647, got '1M'");
    refuses(() => parse(xdb('<maxfilesize>-1</maxfilesize>')), '<maxfilesize>', "got '-1'");
    refuses(() => parse(xdb('<maxfilesize>99999999999</maxfilesize>')), '<maxfilesize>');
    refuses(() => parse(xdb('<maxfilesize>1000</maxfilesize>')), '<maxfilesize>', "0 (no cap) or at least 65536 bytes, got '1000'");
  });

  test('invalid or missing host', () => {
    refuses(() => parse({ host: '<host>bad host</host>' }), '<host>', "invalid host name 'bad host'");
    refuses(() => parse({ host: '<host>a@b</host>' }), '<host>', 'invalid host name');
    // A port written into the name, and names DNS could not hold.
    for (const bad of ['localhost:5222', 'a..b', '.example.org', 'example.org.']) {
      refuses(() => parse({ host: `<host>${bad}</host>` }), '<host>', `invalid host name '${bad}'`);
    }
    refuses(() => parse({ host: '<host/>' }), '<host>', 'empty host name');
    refuses(() => parse({ host: '' }), "<service id='sessions'>", 'no <host>');
    refuses(() => parse({ host: "<host><jabberd:cmdline flag='h'>localhost</jabberd:cmdline></host>" }, { host: ' ' }), '<host>', 'empty');
  });

  test('invalid admin JID', () => {
    refuses(() => parse({ jsm: '<admin><read>a b@localhost</read></admin>' }), '<read>', 'invalid JID');
    refuses(() => parse({ jsm: '<admin><write/></admin>' }), '<write>', 'empty JID');
  });

  test('bad register attributes', () => {
    refuses(() => parse({ jsm: "<register require='some'/>" }), '<register', 'require');
    refuses(() => parse({ jsm: "<register notify='maybe'/>" }), '<register', 'notify');
  });

  test('bad aliases', () => {
    refuses(() => parse({ pthcsock: "<alias to='elsewhere'/>" }), "<alias to='elsewhere'>", 'not a <host>');
    refuses(() => parse({ pthcsock: '<alias>x</alias>' }), '<alias>', 'missing to');
    refuses(() => parse({ pthcsock: "<alias to='localhost'/><alias to='localhost'/>" }), '<alias', 'second default alias');
  });

  test('a TLS listener needs a key', () => {
    refuses(() => parse({ pthcsock: "<ssl port='5223'>127.0.0.1</ssl>" }), "<ssl port='5223'>127.0.0.1</ssl>", '<key');
    // A wildcard key serves any address.
    const c = parse({ pthcsock: '<ssl/>', extra: '<io><ssl><key>all.pem</key></ssl></io>' });
    assert.equal(c.tlsKeys.get('*'), resolve('all.pem'));
  });

  test('two session managers', () => {
    const text = minimal({ extra: "<service id='jsm2'><load main='jsm'><jsm/></load></service>" });
    refuses(() => parseConfig(text, FILE), "<service id='jsm2'>", 'second session manager');
  });
});
