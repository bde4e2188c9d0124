// Child process of test/spool-crash.test.ts: rewrites a few users' spool
// files as fast as it can, each file growing and shrinking, and prints
// `user value` once a change is acknowledged, until it is killed.
// Without arguments (the test runner loads every file under test/) it does nothing.
import { SpoolStore } from '../../src/xdb/spool-store.js';
import { NS_AUTH, NS_LAST, NS_VCARD } from '../../src/xdb/xdb.js';
import { el } from '../../src/xml/element.js';

/** The vCard written with value n: its size varies so rewrites both grow and shrink the file. */
export function padFor(n: number): string {
  return `${'p'.repeat(20_000 + (n % 7) * 3_000)}#${n}`;
}

async function lane(store: SpoolStore, user: string): Promise<void> {
  await store.create('localhost', user, { [NS_AUTH]: el('password', { xmlns: NS_AUTH }, user) });
  for (let n = 1; ; n++) {
    await store.set('localhost', user, {
      [NS_LAST]: el('query', { xmlns: NS_LAST, last: String(n) }),
      [NS_VCARD]: el('vCard', { xmlns: NS_VCARD }, padFor(n)),
    });
    process.stdout.write(`${user} ${n}\n`);
  }
}

const [root, users] = process.argv.slice(2);
if (root && users) {
  const store = new SpoolStore(root);
  for (let i = 0; i < Number(users); i++) void lane(store, `w${i}`);
}
