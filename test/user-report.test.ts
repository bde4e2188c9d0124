// userReport (src/cli/user-report.ts): what `jabberctl show` prints, also
// of a report from a server older than this jabberctl.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UserInfo } from '../src/admin/admin-ops.js';
import { userReport } from '../src/cli/user-report.js';

const base: UserInfo = { jid: 'dj@localhost', fields: {}, plaintextStored: true, zerok: null, last: null, rosterItems: 0, offlineMessages: 0, online: [] };

test("a 0k sequence an older server sent as Number() read it (-5, 1.5, NaN as null) is shown unusable, with the value it sent", () => {
  const line = (zerok: UserInfo['zerok']): string | undefined => /^zero-knowledge: (.*)$/m.exec(userReport({ ...base, zerok }))?.[1];
  assert.equal(line({ sequence: 499 }), 'sequence 499');
  assert.equal(line(null), 'none');
  const unusable = (shown: string): string => `unusable, sequence stored as '${shown}' (0k logins are not offered until a plain login makes a new chain)`;
  assert.equal(line({ sequence: -5 }), unusable('-5'));
  assert.equal(line({ sequence: 1.5 }), unusable('1.5'));
  assert.equal(line({ sequence: null }), 'unusable (0k logins are not offered until a plain login makes a new chain)');
  // This jabberctl's own server says what the file holds.
  assert.equal(line({ sequence: null, stored: '0x1F4' }), unusable('0x1F4'));
});
