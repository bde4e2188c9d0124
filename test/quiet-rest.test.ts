// What a quiet stream lets go (its parser, see StreamParser.rest()) and
// makes anew when its client speaks again, and users' files kept as text
// (DocCache.cool()): end to end, sessions go on as if nothing happened.
// The sweep runs every few seconds; the tests call it themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { streamErrorText } from '../src/client/client-stream.js';
import { authIq, startYak, type TestYak } from './helpers/yak.js';
import { closeAll, login, offlineUser, onlineUser, plain, subscribeBoth, xml } from './helpers/session.js';

/** Two sweeps with nothing between: whatever was quiet before rests. Returns how many streams rest. */
function quiet(yak: TestYak): number {
  yak.server.restQuiet();
  return yak.server.restQuiet();
}

test('quiet sessions rest their parsers and read on: messages, requests, keepalives and the end of the stream', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const alice = await onlineUser(yak, 'alice');
    const bob = await onlineUser(yak, 'bob');
    await subscribeBoth(alice, bob);
    // Both have sent since the sweep before: busy at the first, resting at the second.
    assert.equal(yak.server.restQuiet(), 0);
    assert.equal(yak.server.restQuiet(), 2);
    // A keepalive does not wake a parser.
    alice.stream.socket.write(' \n');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(yak.server.restQuiet(), 2);
    alice.send(`<message to='${bob.full}' id='m1'><body>after a rest</body></message>`);
    const got = await bob.next((e) => e.name === 'message' && e.attrs.id === 'm1');
    assert.equal(got.attrs.from, alice.full);
    assert.equal(got.getChildText('body'), 'after a rest');
    // A stanza split across reads, the parser resting before its first part.
    assert.equal(quiet(yak), 2);
    const presence = "<presence><status>back</status></presence>";
    bob.stream.socket.write(presence.slice(0, 12));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(yak.server.restQuiet(), 1, 'bob, in the middle of a stanza, does not rest');
    assert.equal(yak.server.restQuiet(), 1);
    bob.stream.socket.write(presence.slice(12));
    const seen = await alice.next((e) => e.name === 'presence' && e.attrs.from === bob.full);
    assert.equal(seen.getChildText('status'), 'back');
    await alice.sync();
    // Bad XML after a rest is still a stream error, and the stream's end still ends it.
    quiet(yak);
    await alice.close();
    // The end of alice's stream, read by a parser made anew, logged her out.
    await bob.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable' && e.attrs.from === alice.full);
    bob.stream.socket.write("<message to='a' to='b'/>");
    const error = await bob.stream.next((e) => e.name === 'stream:error');
    assert.equal(streamErrorText(error), 'Invalid XML (not-well-formed)');
    await closeAll(alice, bob);
  } finally {
    await yak.stop();
  }
});

test('a session resting before its first stanza after login goes on too', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const carol = await onlineUser(yak, 'carol');
    assert.equal(quiet(yak), 1);
    const roster = await carol.request(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"));
    assert.equal(roster.attrs.type, 'result');
    await closeAll(carol);
  } finally {
    await yak.stop();
  }
});

test('users whose files are kept as text log in, get messages and change them as before', async () => {
  const yak = await startYak({ tweak: plain });
  try {
    const dave = await onlineUser(yak, 'dave');
    await offlineUser(yak, 'erin');
    quiet(yak);
    const erin = await login(yak, 'erin');
    await erin.presence();
    dave.send(`<message to='erin@${yak.host}' id='m2'><body>to a file kept as text</body></message>`);
    const got = await erin.next((e) => e.name === 'message' && e.attrs.id === 'm2');
    assert.equal(got.getChildText('body'), 'to a file kept as text');
    const vcard = "<vCard xmlns='vcard-temp'><FN>Erin \u00c9</FN></vCard>";
    assert.equal((await erin.request(xml(`<iq type='set'>${vcard}</iq>`))).attrs.type, 'result');
    quiet(yak);
    const read = await dave.request(xml(`<iq type='get' to='erin@${yak.host}'><vCard xmlns='vcard-temp'/></iq>`));
    assert.equal(read.getChild('vCard', 'vcard-temp')?.getChildText('FN'), 'Erin \u00c9');
    // A wrong password is still one, a right one still logs in.
    await closeAll(erin);
    quiet(yak);
    const stream = await yak.connect();
    const refused = await stream.request(authIq('erin', 'Home', { password: 'wrong' }));
    assert.equal(refused.attrs.type, 'error');
    stream.socket.destroy();
    const again = await login(yak, 'erin', 'Home');
    await closeAll(dave, again);
  } finally {
    await yak.stop();
  }
});
