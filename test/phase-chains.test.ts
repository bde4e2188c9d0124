// Unit tests for the JSM's handler chains: order, the stanza-name filter,
// and handlers that answer synchronously or with a promise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Delivery, Outcome } from '../src/jsm/api.js';
import { PhaseChains } from '../src/jsm/phase-chains.js';
import { Element } from '../src/xml/element.js';
import { Jid } from '../src/jid.js';

function delivery(name: string): Delivery {
  return { stanza: new Element(name), to: new Jid('a', 'localhost'), from: new Jid('b', 'localhost'), sender: undefined };
}

test('handlers run by priority, then in the order added, until one decides', async () => {
  const chains = new PhaseChains();
  const calls: string[] = [];
  const handler = (tag: string, out: Outcome) => () => {
    calls.push(tag);
    return out;
  };
  chains.add('deliver', 'm1', handler('first-added', 'pass'));
  chains.add('deliver', 'm2', handler('second-added', 'handled'));
  chains.add('deliver', 'm3', handler('never', 'handled'));
  chains.add('deliver', 'm0', handler('high', undefined), { priority: 10 });
  assert.equal(await chains.firstFor('deliver', 'message', delivery('message')), 'handled');
  assert.deepEqual(calls, ['high', 'first-added', 'second-added']);
});

test('a handler limited to some stanzas is never called for the others', async () => {
  const chains = new PhaseChains();
  const seen: string[] = [];
  chains.add(
    'deliver',
    'iq-only',
    (d) => {
      seen.push(d.stanza.name);
      return 'handled';
    },
    { stanzas: ['iq'] },
  );
  assert.equal(await chains.firstFor('deliver', 'message', delivery('message')), 'pass');
  assert.equal(await chains.firstFor('deliver', 'presence', delivery('presence')), 'pass');
  assert.equal(await chains.firstFor('deliver', 'iq', delivery('iq')), 'handled');
  // An unusual name is filtered too (computed per call, not remembered).
  assert.equal(await chains.firstFor('deliver', 'x', delivery('x')), 'pass');
  assert.deepEqual(seen, ['iq']);
  // Adding a handler later is seen by the next call (the remembered lists are rebuilt).
  chains.add('deliver', 'all', () => 'handled');
  assert.equal(await chains.firstFor('deliver', 'message', delivery('message')), 'handled');
});

test('promise and plain outcomes mix in one chain, in order', async () => {
  const chains = new PhaseChains();
  const calls: string[] = [];
  chains.add('deliver', 'a', async (): Promise<Outcome> => {
    calls.push('async pass');
    return 'pass';
  });
  chains.add('deliver', 'b', () => {
    calls.push('sync pass');
    return undefined;
  });
  const reply = new Element('iq', { type: 'result' });
  chains.add('deliver', 'c', async () => {
    calls.push('async reply');
    return reply;
  });
  chains.add('deliver', 'd', () => {
    calls.push('never');
    return 'handled';
  });
  assert.equal(await chains.firstFor('deliver', 'iq', delivery('iq')), reply);
  assert.deepEqual(calls, ['async pass', 'sync pass', 'async reply']);
  // A handler that throws synchronously throws out of firstFor (its callers await it inside try).
  const failing = new PhaseChains();
  failing.add('deliver', 'boom', () => {
    throw new Error('boom');
  });
  assert.throws(() => failing.firstFor('deliver', 'iq', delivery('iq')), /boom/);
});
