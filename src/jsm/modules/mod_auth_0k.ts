// Zero-knowledge jabber:iq:auth (SPEC section 5). The server keeps
// H^N(h0), a token and N; a client proves the password by sending H^(N-1)(h0),
// which then becomes the stored hash. No plaintext is needed or stored.
import { Element } from '../../xml/element.js';
import { randomHex, sha1hex, zerokIterate, zerokSeed } from '../../util/hash.js';
import { NoSuchUserError, NS_AUTH, NS_AUTH_0K } from '../../xdb/xdb.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { stanzaError } from '../stanza-errors.js';
import { sameSecret } from '../../auth/same-secret.js';
import { storedCount } from '../../util/whole-number.js';

interface Chain {
  hash: string;
  token: string;
  sequence: number;
}

function readChain(record: Element | undefined): Chain | undefined {
  if (!record) return undefined;
  const hash = record.getChildText('hash')?.trim().toLowerCase();
  const token = record.getChildText('token')?.trim();
  // Digits only, as written here: 1.4 read '0x1F4' as 0, Number() as 500; past 2^53 the chain could never be used.
  const sequence = storedCount(record.getChildText('sequence'));
  if (!hash || !token || sequence === undefined) return undefined;
  return { hash, token, sequence };
}

function chainRecord(c: Chain): Element {
  return new Element('zerok', { xmlns: NS_AUTH_0K }, [
    new Element('hash', {}, [c.hash]),
    new Element('token', {}, [c.token]),
    new Element('sequence', {}, [String(c.sequence)]),
  ]);
}

/** A fresh chain for a password: new token, N = <mod_auth_0k><sequences>. */
function newChain(password: string, sequences: number): Element {
  const token = randomHex(4);
  return chainRecord({ hash: zerokIterate(zerokSeed(password, token), sequences), token, sequence: sequences });
}

/**
 * COMPAT: the chain is regenerated when the server learns the plaintext at
 * a login, but only once it is spent or nearly so: regenerating on every
 * plain login would cost a durable write per login for no gain.
 */
function needsRegeneration(chain: Chain | undefined, sequences: number): boolean {
  return chain === undefined || chain.sequence <= Math.floor(sequences / 10);
}

async function verify(api: ModuleApi, host: string, user: string, given: string): Promise<void> {
  let accepted = false;
  // Checked again inside the user's lock, so one hash can never log in twice.
  try {
    await api.xdb.update(host, user, NS_AUTH_0K, (current) => {
      const chain = readChain(current);
      if (!chain || chain.sequence === 0 || !sameSecret(sha1hex(given), chain.hash)) return undefined;
      accepted = true;
      return chainRecord({ hash: given, token: chain.token, sequence: chain.sequence - 1 });
    });
  } catch (err) {
    // Removed since the login looked: a login for no account is a wrong password.
    if (!(err instanceof NoSuchUserError)) throw err;
  }
  if (!accepted) throw stanzaError('not-authorized');
}

export const modAuth0k: JsmModule = {
  name: 'mod_auth_0k',
  setup(api) {
    const sequences = api.config.jsm.zerokSequences;
    api.on('auth-get', (req, reply) => {
      const chain = readChain(req.records.get(NS_AUTH_0K));
      if (!chain || chain.sequence === 0) return;
      reply.children.push(
        new Element('sequence', {}, [String(chain.sequence - 1)]),
        new Element('token', {}, [chain.token]),
      );
    });
    api.on('auth-set', async (req) => {
      const given = req.query.getChildText('hash');
      if (given === undefined) return 'pass';
      await verify(api, req.client.host, req.user, given.trim().toLowerCase());
      return 'handled';
    });
    api.on('password', (ev) => ({ [NS_AUTH_0K]: newChain(ev.password, sequences) }));
    api.on('password-learned', async (ev) => {
      if (!needsRegeneration(readChain(ev.records?.get(NS_AUTH_0K)), sequences)) return;
      // No client was promised the new chain, so it is written like a
      // logout time: never for an account removed since the password was
      // read (a file holding only a chain would be left behind), and
      // dropped with a warning when the file is at its size cap, where the
      // plaintext login that taught us the password must still succeed.
      // Nor when the password or chain changed since the login read them:
      // a password change in between would get a chain of the old password.
      const records = ev.records;
      const read = records && new Map([NS_AUTH, NS_AUTH_0K].map((ns) => [ns, records.get(ns)]));
      await api.xdb.setSoon(ev.host, ev.user, { [NS_AUTH_0K]: newChain(ev.password, sequences) }, read);
    });
  },
};
