// The log's batching destination (src/log-batch.ts): lines reach every
// sink whole and in order, a batch at a time, and nothing stays behind a
// flush.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineBatch, type LineSink } from '../src/log-batch.js';

class RecordingSink implements LineSink {
  writes: string[] = [];
  flushes = 0;
  syncFlushes = 0;
  write(text: string): void {
    this.writes.push(text);
  }
  flush(): void {
    this.flushes++;
  }
  flushSync(): void {
    this.syncFlushes++;
  }
}

test('lines are held until a batch is full, then written in one piece, in order', () => {
  const sink = new RecordingSink();
  const batch = new LineBatch([sink], 30);
  batch.write('first line\n');
  batch.write('second line\n');
  assert.deepEqual(sink.writes, [], 'written before the batch was full');
  batch.write('third\n');
  assert.deepEqual(sink.writes, [], '29 characters are under 30');
  batch.write('fourth\n');
  assert.deepEqual(sink.writes, ['first line\nsecond line\nthird\nfourth\n']);
  batch.write('fifth\n');
  assert.equal(sink.writes.length, 1, 'a new batch starts empty');
});

test('a line longer than a batch goes out at once, by itself', () => {
  const sink = new RecordingSink();
  const batch = new LineBatch([sink], 8);
  const long = `${'x'.repeat(20)}\n`;
  batch.write(long);
  assert.deepEqual(sink.writes, [long]);
});

test('flush and flushSync hand over what is held, then flush each sink; nothing held writes nothing', () => {
  const sink = new RecordingSink();
  const batch = new LineBatch([sink]);
  batch.flush();
  assert.deepEqual(sink.writes, []);
  assert.equal(sink.flushes, 1);
  batch.write('a\n');
  let called = false;
  batch.flush(() => (called = true));
  assert.deepEqual(sink.writes, ['a\n']);
  assert.equal(sink.flushes, 2);
  assert.ok(called, "pino's flush callback was not called");
  batch.write('b\n');
  batch.flushSync();
  assert.deepEqual(sink.writes, ['a\n', 'b\n']);
  assert.equal(sink.syncFlushes, 1);
});

test('every sink gets every batch, and one that fails to flush does not keep the lines from the other', () => {
  const broken = new RecordingSink();
  broken.flushSync = () => {
    throw new Error('ENOSPC');
  };
  const other = new RecordingSink();
  const batch = new LineBatch([broken, other], 4);
  batch.write('one\n');
  batch.write('two\n');
  assert.doesNotThrow(() => batch.flushSync());
  assert.deepEqual(broken.writes, ['one\n', 'two\n']);
  assert.deepEqual(other.writes, ['one\n', 'two\n']);
  assert.equal(other.syncFlushes, 1);
});
