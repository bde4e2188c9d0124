// Interop with iksroster (Debian libiksemel-utils), the roster backup tool
// of iksemel, a C Jabber library we did not write. iksroster logs in the
// 1.4 way: without -a (SASL) it sends a jabber:iq:auth set as soon as it
// has the server's header, digest of the stream id and password, resource
// 'iksroster', with no get first. -b saves the roster result it gets, as
// received; -r sends that saved iq back with type='set' and waits for a
// result with id='roster'.
//
// What the test drives: a backup of a roster built through Yak's own client
// (a subscription both ways, names, groups, a contact on another domain),
// then a restore into another account, checked on the wire (pushes, the
// roster) and in its spool file, then a restore of the file as saved into
// the account it came from.
//
// iksroster has no port option: it connects to port 5222 of its JID's host.
// So each run gets a network namespace of its own (`unshare -rn`, lo up
// with `ip`) whose 127.0.0.1:5222 test/interop/port5222-relay.mjs relays
// to a Unix socket, which this test forwards to the Yak under test. Port
// 5222 of the machine is never used, and nothing leaves 127.0.0.1.
//
// The saved file keeps the result's to='USER@HOST/iksroster', and the
// restore sends it as is. 1.4's mod_roster ignored the `to` of any roster
// request its session sent, so that was harmless there. Yak routes a
// request to someone else, and refuses one from another account with 403
// (README, mod_roster): a restore into another account needs the `to`
// taken out of the file first, as the test does (the third test shows
// what happens otherwise). Into the same account the file works as saved.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseXml } from '../src/xml/parse.js';
import { captureLog, logLine, type CapturedLog } from './helpers/log-capture.js';
import { interopScript } from './helpers/netjabber.js';
import { runProgram, type ToolRun } from './helpers/run-tool.js';
import { registerUser, startYak, type TestYak } from './helpers/yak.js';
import { assertXml } from './helpers/xml-assert.js';
import { closeAll, login, NS_ROSTER, plain, receiveAll, spoolRecords, subscribeBoth, type Client } from './helpers/session.js';

const INSTALL_HINT = 'iksroster is not installed: install libiksemel-utils (apt-get install libiksemel-utils), as .ci/run does';
const NETNS_HINT =
  'iksroster needs a network namespace of its own (it always connects to port 5222): ' +
  'this test runs it under `unshare -rn` (util-linux) and brings lo up with `ip` (iproute2, apt-get install iproute2), as .ci/run does';
const RELAY = interopScript('port5222-relay.mjs');
const PASSWORD = 'Calli0pe';

const show = (run: ToolRun): string => `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;

let bridgeSocket: string;

/**
 * Runs iksroster with `args` in a network namespace of its own, where
 * 127.0.0.1:5222 leads to the Yak under test; `password` answers its
 * prompt on stdin. `stopWhen`: SIGTERM once its stderr matches (a run
 * that would otherwise wait for its timeout). Killed after `timeout` ms.
 */
function iksroster(args: string[], password: string, opts: { stopWhen?: RegExp; timeout?: number } = {}): Promise<ToolRun> {
  return runProgram(
    'unshare',
    ['-rn', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, RELAY, bridgeSocket, 'iksroster', ...args],
    { input: `${password}\n`, timeout: opts.timeout ?? 20_000, stopWhen: opts.stopWhen },
  );
}

/** Fails (never skips) when iksroster, or the namespace it runs in, is missing: this test is part of the suite. */
async function requireIksroster(): Promise<void> {
  const version = await runProgram('iksroster', ['--version']);
  assert.ok(version.code === 0 && /^iksroster \(iksemel\)/.test(version.stdout), `${INSTALL_HINT}\n${show(version)}`);
  const ns = await runProgram('unshare', ['-rn', 'sh', '-c', 'ip link set lo up']);
  assert.equal(ns.code, 0, `${NETNS_HINT}\n${show(ns)}`);
}

/** The auth set iksroster sent, from its -l log ("SEND[...]" lines). */
function sentAuth(run: ToolRun): { streamId: string; auth: string } {
  const header = /^RECV\[<\?xml[^\]]*<stream:stream [^\]]*\bid='([0-9A-F]{8})'/m.exec(run.stderr);
  const auth = /^SEND\[(<iq type='set' id='auth'>.*?<\/iq>)\]$/m.exec(run.stderr);
  assert.ok(header && auth, `no header or auth in iksroster's log\n${show(run)}`);
  return { streamId: header[1]!, auth: auth[1]! };
}

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

describe('iksroster (iksemel) backs up and restores rosters through Yak', { timeout: 90_000 }, () => {
  let yak: TestYak;
  let log: CapturedLog;
  let dir: string;
  let bridge: net.Server;
  const clients: Client[] = [];
  /** The backup file iksroster wrote (the first test). */
  let saved: string;
  /**
   * The items of ikalice's roster as Yak returns them, in order. No name
   * holds a character escaped in attributes (& < > ' "): iksemel 1.4 keeps
   * attribute values as escaped on the wire and escapes them again when it
   * writes, so such a name would not survive a backup (the last test).
   * Element text (the groups) it reads properly.
   */
  const ALICE_ITEMS =
    "<item jid='ikbob@localhost' name='Bob Baker' subscription='both'><group>Friends</group><group>Chess &amp; Go</group></item>" +
    "<item jid='ikcarol@localhost' name='Carol' subscription='none'><group>Work</group></item>" +
    "<item jid='zed@elsewhere.example' name='Zoë' subscription='none'/>";
  /** The same, as a roster the restore gives another account: the server's subscriptions are not the client's to set. */
  const RESTORED_ITEMS = ALICE_ITEMS.replace("subscription='both'", "subscription='none'");

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'yak-iksemel-'));
    log = captureLog();
    yak = await startYak({ log: log.log, tweak: plain });
    // The far end of the relay: every connection to the socket goes on to Yak.
    bridgeSocket = path.join(dir, 'yak.sock');
    bridge = net.createServer((c) => {
      const up = net.connect(yak.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => bridge.listen(bridgeSocket, resolve));
  });
  after(async () => {
    await closeAll(...clients);
    await new Promise((resolve) => bridge?.close(resolve));
    await yak?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const transcript = (run: ToolRun): string =>
    `${show(run)}\nserver log:\n${log.lines.map((l) => JSON.stringify(l)).join('\n')}`;

  test('backup (-b): iksroster logs in with a jabber:iq:auth digest and saves the roster result as received', async () => {
    await requireIksroster();
    await registerUser(yak, 'ikalice', PASSWORD);
    await registerUser(yak, 'ikbob', PASSWORD);
    const alice = await login(yak, 'ikalice', 'Desk', PASSWORD);
    const bob = await login(yak, 'ikbob', 'Desk', PASSWORD);
    clients.push(alice, bob);
    await alice.presence();
    await bob.presence();
    await subscribeBoth(alice, bob);
    for (const item of [
      "<item jid='ikbob@localhost' name='Bob Baker'><group>Friends</group><group>Chess &amp; Go</group></item>",
      "<item jid='ikcarol@localhost' name='Carol'><group>Work</group></item>",
      "<item jid='zed@elsewhere.example' name='Zoë'/>",
    ]) {
      const reply = await alice.request(`<iq type='set'><query xmlns='${NS_ROSTER}'>${item}</query></iq>`);
      assert.equal(reply.attrs.type, 'result', reply.toString());
    }

    saved = path.join(dir, 'ikalice.roster');
    const run = await iksroster(['-l', '-b', 'ikalice@localhost', '-f', saved], PASSWORD);
    assert.equal(run.code, 0, `iksroster must succeed\n${transcript(run)}`);
    assert.equal(run.stdout, 'Password for ikalice@localhost: ', transcript(run));

    // The 1.4 way: a set right after the header, the digest of the stream id and password.
    const { streamId, auth } = sentAuth(run);
    assertXml(
      auth,
      "<iq type='set' id='auth'><query xmlns='jabber:iq:auth'><username>ikalice</username><resource>iksroster</resource>" +
        `<digest>${sha1(streamId + PASSWORD)}</digest></query></iq>`,
    );
    const ok = await logLine(log, (l) => l.msg === 'login ok' && l.user === 'ikalice' && l.method === 'digest');
    assert.equal(ok.address, '127.0.0.1', JSON.stringify(ok));

    assertXml(
      await readFile(saved, 'utf8'),
      `<iq type='result' id='roster' to='ikalice@localhost/iksroster'><query xmlns='${NS_ROSTER}'>${ALICE_ITEMS}</query></iq>`,
    );
    await logLine(log, (l) => l.msg === 'session ended' && l.jid === 'ikalice@localhost/iksroster');
  });

  test('restore (-r) into another account: one set, every item stored with the server\'s subscription, pushed, and on disk', async () => {
    await requireIksroster();
    assert.ok(saved, 'needs the backup of the first test');
    await registerUser(yak, 'ikdave', PASSWORD);
    const dave = await login(yak, 'ikdave', 'Desk', PASSWORD);
    clients.push(dave);
    await dave.presence();
    assertXml(await dave.roster(), `<query xmlns='${NS_ROSTER}'/>`);
    const bob = clients.find((c) => c.user === 'ikbob')!;
    await bob.clear();

    // Workaround (see the top): the saved result is addressed to
    // ikalice@localhost/iksroster, and iksroster sends it as is.
    const file = path.join(dir, 'for-ikdave.roster');
    const iq = parseXml(await readFile(saved, 'utf8'));
    delete iq.attrs.to;
    await writeFile(file, iq.toString());

    const run = await iksroster(['-l', '-r', 'ikdave@localhost', '-f', file], PASSWORD);
    assert.equal(run.code, 0, `iksroster must succeed\n${transcript(run)}`);
    assert.equal(run.stdout, 'Password for ikdave@localhost: ', transcript(run));
    // One set with the whole roster (1.4 took every item of a set; see roster.test.ts).
    const sets = run.stderr.match(/^SEND\[<iq type='set' id='roster'>.*\]$/gm) ?? [];
    assert.equal(sets.length, 1, transcript(run));
    assertXml(
      sets[0]!.slice('SEND['.length, -1),
      `<iq type='set' id='roster'><query xmlns='${NS_ROSTER}'>${ALICE_ITEMS}</query></iq>`,
    );
    assert.match(run.stderr, /^RECV\[<iq type='result' id='roster' to='ikdave@localhost\/iksroster'\/>\]$/m, transcript(run));

    // On the wire: a push per item to the resource that fetched the roster, then the roster itself.
    const items = [...RESTORED_ITEMS.matchAll(/<item .*?(?:\/>|<\/item>)/g)].map((m) => m[0]);
    assert.equal(items.length, 3);
    await receiveAll(
      dave,
      items.map((item) => `<iq type='set' id='*' to='ikdave@localhost/Desk'><query xmlns='${NS_ROSTER}'>${item}</query></iq>`),
    );
    await dave.nothing(() => true, [], 'more than the three pushes');
    assertXml(await dave.roster(), `<query xmlns='${NS_ROSTER}'>${RESTORED_ITEMS}</query>`);
    // A roster item asks nothing of the contact.
    await bob.nothing(() => true, [dave], 'a restored item reached the contact');

    // On disk, in dave's spool file.
    assertXml((await spoolRecords(yak, 'ikdave'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'>${RESTORED_ITEMS}</query>`);
  });

  test("the file as saved into another account: Yak refuses the set addressed to the other account's resource (403), nothing changes", async () => {
    await requireIksroster();
    assert.ok(saved, 'needs the backup of the first test');
    await registerUser(yak, 'ikerin', PASSWORD);
    // iksroster takes no error for its set as an answer and would wait for
    // its timeout (10 s at least): stopped as soon as the error is in.
    const run = await iksroster(['-l', '-r', 'ikerin@localhost', '-f', saved], PASSWORD, { stopWhen: /^RECV\[<iq type='error' id='roster'.*\]$/m });
    assert.notEqual(run.code, 0, transcript(run));
    const error = /^RECV\[(<iq type='error' id='roster'.*)\]$/m.exec(run.stderr);
    assert.ok(error, transcript(run));
    assertXml(
      error[1]!,
      `<iq type='error' id='roster' to='ikerin@localhost/iksroster' from='ikalice@localhost/iksroster'>` +
        `<query xmlns='${NS_ROSTER}'>${ALICE_ITEMS}</query><error code='403' type='auth'>Forbidden</error></iq>`,
    );
    assert.equal((await spoolRecords(yak, 'ikerin'))!.get(NS_ROSTER), undefined);
    const alice = clients.find((c) => c.user === 'ikalice')!;
    assertXml(await alice.roster(), `<query xmlns='${NS_ROSTER}'>${ALICE_ITEMS}</query>`);
  });

  test('restore (-r) of the file as saved into the account it came from: names and groups back, subscriptions kept', async () => {
    await requireIksroster();
    assert.ok(saved, 'needs the backup of the first test');
    const alice = clients.find((c) => c.user === 'ikalice')!;
    // Changes since the backup: carol and zed gone, bob renamed.
    for (const item of [
      "<item jid='ikcarol@localhost' subscription='remove'/>",
      "<item jid='zed@elsewhere.example' subscription='remove'/>",
      "<item jid='ikbob@localhost' name='B'/>",
    ]) {
      assert.equal((await alice.request(`<iq type='set'><query xmlns='${NS_ROSTER}'>${item}</query></iq>`)).attrs.type, 'result');
    }
    assertXml(await alice.roster(), `<query xmlns='${NS_ROSTER}'><item jid='ikbob@localhost' name='B' subscription='both'/></query>`);

    // The set goes to='ikalice@localhost/iksroster' from that very resource: Yak takes it as 1.4 did.
    const run = await iksroster(['-l', '-r', 'ikalice@localhost', '-f', saved], PASSWORD);
    assert.equal(run.code, 0, `iksroster must succeed\n${transcript(run)}`);
    assert.match(run.stderr, /^SEND\[<iq type='set' id='roster' to='ikalice@localhost\/iksroster'>/m, transcript(run));
    assertXml(await alice.roster(), `<query xmlns='${NS_ROSTER}'>${ALICE_ITEMS}</query>`);
    assertXml((await spoolRecords(yak, 'ikalice'))!.get(NS_ROSTER)!, `<query xmlns='${NS_ROSTER}'>${ALICE_ITEMS}</query>`);
  });

  // iksemel's quirk, not Yak's: its parser (sax.c, C_VALUE_APOS) keeps an
  // attribute value as it came, entities and all, and iks_save() escapes it
  // once more. A name with '&' comes back from each backup with one more
  // 'amp;'. Yak sends it escaped once, as it must.
  test("iksemel's own quirk: a name with '&' is saved escaped twice, though Yak sent it escaped once", async () => {
    await requireIksroster();
    await registerUser(yak, 'ikfrank', PASSWORD);
    const frank = await login(yak, 'ikfrank', 'Desk', PASSWORD);
    clients.push(frank);
    await frank.request(`<iq type='set'><query xmlns='${NS_ROSTER}'><item jid='tom@localhost' name='Tom &amp; Jerry'/></query></iq>`);
    const file = path.join(dir, 'ikfrank.roster');
    const run = await iksroster(['-l', '-b', 'ikfrank@localhost', '-f', file], PASSWORD);
    assert.equal(run.code, 0, `iksroster must succeed\n${transcript(run)}`);
    assert.match(run.stderr, /^RECV\[<iq type='result' id='roster' .*name='Tom &amp; Jerry'.*\]$/m, transcript(run));
    const item = parseXml(await readFile(file, 'utf8')).getChild('query', NS_ROSTER)!.getChild('item')!;
    assert.equal(item.attrs.name, 'Tom &amp; Jerry', item.toString());
  });
});
