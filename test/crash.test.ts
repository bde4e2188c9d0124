// kill -9 in the middle of a registration storm (DESIGN.md, "Crash and
// concurrency tests for storage"; SPEC section 6, "Yak writes durably").
// Several connections keep a few registrations each in flight; every name
// that got a result is recorded. After SIGKILL and a restart on the same
// spool: every acknowledged user logs in, every spool file parses and
// belongs to a user we tried to register, with that user's password, and
// no temp file is left over to be mistaken for a user. The restart must
// have replayed the journal the kill left (src/xdb/journal.ts).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClientStream } from '../src/client/client-stream.js';
import { userFromFileName } from '../src/xdb/file-names.js';
import { NS_AUTH } from '../src/xdb/xdb.js';
import { parseXml } from '../src/xml/parse.js';
import { Element } from '../src/xml/element.js';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { eachLimited } from '../src/util/each-limited.js';
import { bundledConfigText, startDaemon, type Daemon } from './helpers/daemon.js';
import { authIq, registerIq } from './helpers/yak.js';

const HOST = 'localhost';
const CONNECTIONS = 8;
/** Registrations each connection keeps in flight (pipelined on one stream). */
const IN_FLIGHT = 4;
const STORM_MS = 1500;
const LOGIN_WORKERS = 8;

const passwordOf = (user: string): string => `pw-${user}`;

/**
 * The bundled config without <karma>: the storm must be limited by the
 * spool, not by the per-connection byte budget.
 */
function stormConfig(): string {
  const text = bundledConfigText().replace(/<karma>[\s\S]*?<\/karma>/, '');
  assert.doesNotMatch(text, /<karma>/);
  return text;
}

interface Storm {
  attempted: Set<string>;
  acked: Set<string>;
  refused: string[];
}

/** Registers fresh names over `CONNECTIONS` streams until `stop` resolves; the daemon is killed meanwhile. */
async function storm(port: number, stop: Promise<void>): Promise<Storm> {
  const out: Storm = { attempted: new Set(), acked: new Set(), refused: [] };
  let stopping = false;
  void stop.then(() => (stopping = true));
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => ClientStream.connect({ port, domain: HOST })),
  );
  const lane = async (c: ClientStream, name: string): Promise<void> => {
    for (let n = 0; !stopping && !c.closed; n++) {
      const user = `${name}n${n}`;
      out.attempted.add(user);
      let reply;
      try {
        reply = await c.request(registerIq(user, passwordOf(user)), 10_000);
      } catch {
        return; // the daemon is gone: this one may or may not have reached the disk
      }
      if (reply.attrs.type === 'result') out.acked.add(user);
      else out.refused.push(reply.toString());
    }
  };
  try {
    await Promise.all(clients.flatMap((c, i) => Array.from({ length: IN_FLIGHT }, (_, j) => lane(c, `s${i}l${j}`))));
  } finally {
    for (const c of clients) c.socket.destroy();
  }
  return out;
}

/** Logs every user in with a plain password, a fresh connection each; returns the failures. */
async function loginAll(port: number, users: string[]): Promise<string[]> {
  const failures: string[] = [];
  const queue = [...users];
  const worker = async (): Promise<void> => {
    for (let user = queue.pop(); user !== undefined; user = queue.pop()) {
      const c = await ClientStream.connect({ port, domain: HOST });
      try {
        const reply = await c.request(authIq(user, 'Crash', { password: passwordOf(user) }));
        if (reply.attrs.type !== 'result') failures.push(`${user}: ${reply.toString()}`);
      } catch (err) {
        failures.push(`${user}: ${(err as Error).message}`);
      } finally {
        c.socket.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: LOGIN_WORKERS }, worker));
  return failures;
}

describe('kill -9 during a registration storm', { timeout: 25_000 }, () => {
  let root: string;
  let spool: string;
  const daemons: Daemon[] = [];
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'yak-crash-'));
    spool = path.join(root, 'spool');
  });
  after(async () => {
    for (const d of daemons) await d.dispose();
    await rm(root, { recursive: true, force: true });
  });

  test('loses no acknowledged user and leaves no torn or temp file', async (t) => {
    const first = await startDaemon({ configText: stormConfig(), spool });
    daemons.push(first);
    const killed = new Promise<void>((resolve) => {
      setTimeout(() => void first.kill().then(() => resolve()), STORM_MS);
    });
    const result = await storm(first.port, killed);
    assert.equal((await first.exited).signal, 'SIGKILL', 'the daemon must have died of SIGKILL');
    assert.deepEqual(result.refused, [], 'fresh names must never be refused');
    assert.ok(result.acked.size >= CONNECTIONS, `the storm must have registered users (got ${result.acked.size})`);
    t.diagnostic(`${result.attempted.size} attempted, ${result.acked.size} acknowledged before the kill`);

    const second = await startDaemon({ configText: stormConfig(), spool });
    daemons.push(second);
    const replayed = second.logLines().find((l) => l.msg === 'replayed the spool journal left by a crash, or by a stop that could not write every file');
    assert.ok(replayed, 'the restart must replay the journal the kill left');
    t.diagnostic(`restart replayed ${JSON.stringify(replayed.files)} files from ${JSON.stringify(replayed.generations)} journal generations`);

    const failures = await loginAll(second.port, [...result.acked]);
    assert.deepEqual(failures, [], 'every acknowledged user must log in after the restart');
    // Logins and logouts write too (last activity, offline delivery): let them finish.
    assert.deepEqual(await second.stop(), { code: 0, signal: null }, second.stderr());

    const hostDir = path.join(spool, HOST);
    const files = await readdir(hostDir);
    assert.ok(files.length >= result.acked.size, `${files.length} files for ${result.acked.size} acknowledged users`);
    for (const name of files) {
      assert.doesNotMatch(name, /\.tmp$/, `temp file ${name} survived the restart`);
      const user = userFromFileName(name);
      assert.ok(user !== undefined && result.attempted.has(user), `${name} is not the file of a user we registered`);
      const file = path.join(hostDir, name);
      const doc = parseXml(await readFile(file, 'utf8'), { fileName: file });
      assert.equal(doc.name, 'xdb', `${file}: root must be <xdb>`);
      const auth = doc.elements.find((e) => e.attrs.xdbns === NS_AUTH);
      assert.equal(auth?.text(), passwordOf(user), `${file}: must hold ${user}'s own password`);
    }

    const errors = second.logLines().filter((l) => (l.level ?? 0) >= 50);
    assert.deepEqual(errors, [], 'the restarted daemon must log no errors');
  });
});

describe('kill -9 while a removed account\'s contacts are told', { timeout: 90_000 }, () => {
  const CONTACTS = 1500;
  let root: string;
  const daemons: Daemon[] = [];
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'yak-crash-rm-'));
  });
  after(async () => {
    for (const d of daemons) await d.dispose();
    await rm(root, { recursive: true, force: true });
  });

  /**
   * What `contact`'s roster says of `jid`, from its file; 'torn' for a file
   * caught as the server rewrites it in place (a replay mends it).
   */
  async function subscriptionIn(spool: string, contact: string, jid: string): Promise<string | undefined> {
    const text = await readFile(path.join(spool, HOST, `${contact}.xml`), 'utf8');
    let doc: Element;
    try {
      doc = parseXml(text);
    } catch {
      return 'torn';
    }
    const roster = doc.getChildren('query').find((q) => q.attrs.xmlns === 'jabber:iq:roster');
    return roster?.getChildren('item').find((i) => i.attrs.jid === jid)?.attrs.subscription;
  }

  test('the next start finishes the removal: no contact is left subscribed with the name, and the name is free', async () => {
    const spool = path.join(root, 'spool');
    const store = new SpoolStore(spool);
    const both = (jids: string[]): Element => new Element('query', { xmlns: 'jabber:iq:roster' }, jids.map((jid) => new Element('item', { jid, subscription: 'both' })));
    const contacts = Array.from({ length: CONTACTS }, (_, i) => `c${i}`);
    const password = (): Element => new Element('password', { xmlns: NS_AUTH }, ['pw']);
    await store.create(HOST, 'big', { [NS_AUTH]: password(), 'jabber:iq:roster': both(contacts.map((c) => `${c}@${HOST}`)) });
    await eachLimited(contacts, 16, async (c) => void (await store.create(HOST, c, { [NS_AUTH]: password(), 'jabber:iq:roster': both([`big@${HOST}`]) })));
    await store.close();

    const first = await startDaemon({ configText: stormConfig(), spool });
    daemons.push(first);
    const c = await ClientStream.connect({ port: first.port, domain: HOST });
    assert.equal((await c.request(authIq('big', 'Work', { password: 'pw' }))).attrs.type, 'result');
    c.send(parseXml("<iq type='set' id='rm' to='localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>"));
    // Killed as soon as the first contacts have been told.
    for (let waited = 0; ['both', 'torn'].includes((await subscriptionIn(spool, 'c0', `big@${HOST}`))!); waited += 5) {
      assert.ok(waited < 30_000, 'the removal never reached its contacts');
      await new Promise((r) => setTimeout(r, 5));
    }
    await first.kill();
    c.socket.destroy();
    const told = await Promise.all(contacts.map((n) => subscriptionIn(spool, n, `big@${HOST}`)));
    assert.ok(told.includes('both'), 'every contact was told before the kill: the test proves nothing (make CONTACTS larger)');
    assert.equal(await subscriptionIn(spool, 'big', `c0@${HOST}`), 'both', 'the account went before the kill');

    const second = await startDaemon({ configText: stormConfig(), spool });
    daemons.push(second);
    await second.waitForLog((l) => l.msg === 'finishing an account removal that a crash or a stop cut short');
    await second.waitForLog((l) => l.msg === 'account removed', 60_000);
    assert.deepEqual((await readdir(path.join(spool, HOST))).filter((f) => f === 'big.xml'), []);
    const after = await Promise.all(contacts.map((n) => subscriptionIn(spool, n, `big@${HOST}`)));
    assert.deepEqual([...new Set(after)], ['none']);
    const fresh = await ClientStream.connect({ port: second.port, domain: HOST });
    try {
      assert.equal((await fresh.request(registerIq('big', 'new'))).attrs.type, 'result', 'the name is not free');
    } finally {
      fresh.socket.destroy();
    }
  });
});
