// kill -9 while spool files are being rewritten in place (SPEC section 6,
// "a crash never loses an acknowledged change"; src/xdb/journal.ts). A
// child process rewrites a few users' files, printing each acknowledged
// value; after SIGKILL a fresh store on the spool must serve, for every
// user, a whole file holding that value or a later one, and leave every
// file on disk whole.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SpoolStore } from '../src/xdb/spool-store.js';
import { NS_LAST, NS_VCARD } from '../src/xdb/xdb.js';
import { parseXml } from '../src/xml/parse.js';
import { padFor } from './helpers/spool-writer.js';

const WRITER = fileURLToPath(new URL('./helpers/spool-writer.js', import.meta.url));
const USERS = 12;
const ACKS_BEFORE_KILL = 300;

const parses = (text: string): boolean => {
  try {
    parseXml(text);
    return true;
  } catch {
    return false;
  }
};

test('kill -9 during in-place rewrites loses no acknowledged change and leaves no torn file', { timeout: 60_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'yak-spool-crash-'));
  const child = spawn(process.execPath, [WRITER, root, String(USERS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<string, number>();
  let count = 0;
  let buffer = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      const [user, value] = line.split(' ') as [string, string];
      acked.set(user, Number(value));
      if (++count === ACKS_BEFORE_KILL) child.kill('SIGKILL');
    }
  });
  assert.equal(await exited, 'SIGKILL', `the writer must die of SIGKILL (stderr: ${stderr})`);
  assert.ok(count >= ACKS_BEFORE_KILL, `only ${count} acknowledgements before the writer ended`);

  const host = join(root, 'localhost');
  let torn = 0;
  for (const name of await readdir(host)) if (!parses(await readFile(join(host, name), 'utf8'))) torn++;
  const store = new SpoolStore(root);
  const replay = await store.open();
  t.diagnostic(`${count} changes acknowledged; ${torn} files torn by the kill; replayed ${replay.files.length} files from ${replay.generations} journal generations, ${replay.tornBytes} bytes of an unfinished append ignored`);
  assert.ok(replay.generations >= 1, 'the kill must have left a journal to replay');
  for (let i = 0; i < USERS; i++) {
    const user = `w${i}`;
    const last = Number((await store.get('localhost', user, NS_LAST))?.attr('last') ?? 0);
    assert.ok(last >= (acked.get(user) ?? 0), `${user}: acknowledged ${acked.get(user)}, found ${last}`);
    assert.equal((await store.get('localhost', user, NS_VCARD))?.text(), padFor(last), `${user}: records from one change`);
  }
  for (const name of await readdir(host)) assert.ok(parses(await readFile(join(host, name), 'utf8')), `${name} is torn after the replay`);
  await store.flush();
  assert.deepEqual(await readdir(root), ['localhost']);
  await rm(root, { recursive: true });
});
