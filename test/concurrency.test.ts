// Two registrations of one name at once: exactly one wins (DESIGN.md,
// "Crash and concurrency tests for storage"; SPEC section 3, 409 row).
// Every connection has its header answered before the first request goes
// out, so the twenty requests really are in the server at the same time.
// Also a login racing its own connection's close: no session may outlive it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClientStream } from '../src/client/client-stream.js';
import { NS_AUTH } from '../src/xdb/xdb.js';
import type { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { authIq, loginUser, registerIq, registerUser, startYak, type TestYak } from './helpers/yak.js';

const CONNECTIONS = 20;

function errorCode(reply: Element): string | undefined {
  return reply.attrs.type === 'error' ? reply.getChild('error')?.attrs.code : undefined;
}

/** Registers `names[i]` with password `pw-i` from connection i, all at once; returns the replies. */
async function race(yak: TestYak, names: string[]): Promise<Element[]> {
  const clients: ClientStream[] = await Promise.all(names.map(() => yak.connect()));
  try {
    return await Promise.all(clients.map((c, i) => c.request(registerIq(names[i]!, `pw-${i}`), 10_000)));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function login(yak: TestYak, user: string, password: string): Promise<Element> {
  const c = await yak.connect();
  try {
    return await c.request(authIq(user, 'Race', { password }));
  } finally {
    await c.close();
  }
}

/** The winner's index; asserts one result and 409 for everybody else. */
function onlyOneWinner(replies: Element[]): number {
  const winners = replies.flatMap((r, i) => (r.attrs.type === 'result' ? [i] : []));
  assert.equal(winners.length, 1, `exactly one registration must succeed, got ${winners.length}: ${replies.join(' ')}`);
  const codes = replies.filter((r) => r.attrs.type !== 'result').map(errorCode);
  assert.deepEqual(codes, Array(replies.length - 1).fill('409'), `the others must all get 409: ${replies.join(' ')}`);
  return winners[0]!;
}

async function storedPassword(yak: TestYak, user: string): Promise<string | undefined> {
  const file = path.join(yak.spool, yak.host, `${user}.xml`);
  const root = parseXml(await readFile(file, 'utf8'), { fileName: file });
  return root.elements.find((e) => e.attrs.xdbns === NS_AUTH)?.text();
}

describe('racing connections', { timeout: 25_000 }, () => {
  let yak: TestYak;
  before(async () => {
    yak = await startYak();
  });
  after(async () => {
    await yak?.stop();
  });

  test('one username from 20 connections at once: one result, 19 errors 409, the winner’s password', async () => {
    const replies = await race(yak, Array(CONNECTIONS).fill('race'));
    const winner = onlyOneWinner(replies);
    const loser = (winner + 1) % CONNECTIONS;

    assert.equal(await storedPassword(yak, 'race'), `pw-${winner}`);
    const ok = await login(yak, 'race', `pw-${winner}`);
    assert.equal(ok.attrs.type, 'result', `the winner's password must log in: ${ok}`);
    const refused = await login(yak, 'race', `pw-${loser}`);
    assert.equal(errorCode(refused), '401', `a loser's password must not log in: ${refused}`);
  });

  test('case variants of one name are the same name: one winner among them', async () => {
    const spellings = ['Twin', 'TWIN', 'twin', 'tWiN', 'TwIn'];
    const names = Array.from({ length: CONNECTIONS }, (_, i) => spellings[i % spellings.length]!);
    const replies = await race(yak, names);
    const winner = onlyOneWinner(replies);

    assert.equal(await storedPassword(yak, 'twin'), `pw-${winner}`);
    const ok = await login(yak, 'TWIN', `pw-${winner}`);
    assert.equal(ok.attrs.type, 'result', `the winner's password must log in: ${ok}`);
  });

  test('after the race the name stays taken', async () => {
    const [again] = await race(yak, ['race']);
    assert.equal(errorCode(again!), '409', `a later registration must get 409: ${again}`);
  });

  test('a login that replaces a session, from a connection that closes at once, leaves no session', async () => {
    // Replacing a session ends the old one first, which writes to the spool
    // (last logout); the new connection is gone before that write is done.
    await registerUser(yak, 'ghost', 'secret');
    for (let round = 0; round < 5; round++) {
      const first = await loginUser(yak, 'ghost', 'secret', 'Here');
      const second = await yak.connect();
      second.send(authIq('ghost', 'Here', { password: 'secret' }));
      second.socket.end();
      await Promise.all([first.whenClosed(), second.whenClosed()]);
      // Let the server finish what the two connections started.
      await yak.server.xdb.flush();
      await new Promise((r) => setImmediate(r));
      const left = yak.server.jsm.sessions.of(`ghost@${yak.host}`);
      assert.deepEqual(left.map((x) => x.jid.toString()), [], `round ${round}: no session may outlive its connection`);
    }
  });
});
