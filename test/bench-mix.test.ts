// The mixed scenario's --mix option: weights as given, made to sum to 1,
// and a clear error for anything else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MIX, describeMix, isDefaultMix, parseMix } from '../bench/options.js';

test('weights are made to sum to 1, in the order given', () => {
  assert.deepEqual(parseMix('message:2,login:1,roster:1'), [
    ['message', 0.5],
    ['login', 0.25],
    ['roster', 0.25],
  ]);
  assert.deepEqual(parseMix(' presence : 0.5 '), [['presence', 1]]);
});

test("the issue's mix written out is the default mix, and is described as the report has it", () => {
  assert.ok(isDefaultMix(parseMix('message:40,presence:25,roster:25,login:10')));
  assert.ok(!isDefaultMix(parseMix('message:40,presence:25,roster:25')));
  assert.ok(!isDefaultMix(parseMix('presence:25,message:40,roster:25,login:10')));
  assert.equal(describeMix(DEFAULT_MIX), 'message 40%, presence 25%, roster get 25%, login 10%');
});

test('bad weights are refused with what is wrong', () => {
  assert.throws(() => parseMix('chat:1'), /unknown operation "chat" \(known: message, presence, roster, login\)/);
  assert.throws(() => parseMix('message:1,message:2'), /"message" is named twice/);
  assert.throws(() => parseMix('message:0'), /the weight of "message" must be above 0/);
  assert.throws(() => parseMix('message'), /"message" is not KIND:WEIGHT/);
  assert.throws(() => parseMix('message:-1'), /"message:-1" is not KIND:WEIGHT/);
  assert.throws(() => parseMix(''), /"" is not KIND:WEIGHT/);
});
