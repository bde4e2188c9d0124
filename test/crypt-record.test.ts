// The two forms of 1.4's mod_auth_crypt records (src/auth/crypt-record.ts),
// with hashes made by the system's crypt(3) and by openssl.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesCryptRecord } from '../src/auth/crypt-record.js';

describe('matchesCryptRecord', () => {
  test('crypt(3) DES: the password, its first 8 bytes only, nothing else', () => {
    assert.equal(matchesCryptRecord('secret', 'abNANd1rDfiNc'), true);
    assert.equal(matchesCryptRecord('Secret', 'abNANd1rDfiNc'), false);
    assert.equal(matchesCryptRecord('', 'abNANd1rDfiNc'), false);
    // DES reads 8 bytes: both give xYLK0rilKxp7Q.
    assert.equal(matchesCryptRecord('secret12', 'xYLK0rilKxp7Q'), true);
    assert.equal(matchesCryptRecord('secret12345', 'xYLK0rilKxp7Q'), true);
    // Pretty-printed files put white space around the text.
    assert.equal(matchesCryptRecord('secret', '\n  abNANd1rDfiNc\n'), true);
  });

  test('{SHA}: base64 of the SHA-1 of the UTF-8 password', () => {
    assert.equal(matchesCryptRecord('secret', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='), true);
    assert.equal(matchesCryptRecord('secret ', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='), false);
  });

  test('a record that is neither matches no password', () => {
    for (const stored of ['', 'abNANd1rDfiN', 'abNANd1rDfiNcX', '{SHA}', '{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=', '!!NANd1rDfiNc']) {
      for (const given of ['', 'secret', stored]) assert.equal(matchesCryptRecord(given, stored), false, `${JSON.stringify(given)} matched ${JSON.stringify(stored)}`);
    }
  });
});
