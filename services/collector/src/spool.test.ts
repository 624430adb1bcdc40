// The spool keeps records in order across segments and restarts, stays within its size, and survives a torn tail.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '@palisade/common';
import { Spool, encodeFrame, scanSegment, type SpoolOptions } from './spool.js';

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'pal-spool-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

// Stored frames, so sizes are known; the deflated ones have their own test.
function open(d: string, opts: Partial<SpoolOptions> = {}): Spool {
  return Spool.open({ dir: d, maxBytes: 1 << 20, segmentBytes: 4096, logger: silentLogger, compress: false, ...opts });
}

const rec = (i: number, size = 100) => ({ key: 'node-1', value: Buffer.alloc(size, i % 256), events: i });

function drain(s: Spool, per = 3): number[] {
  const out: number[] = [];
  for (;;) {
    const batch = s.peek(per, 1 << 20);
    if (batch.length === 0) return out;
    out.push(...batch.map((r) => r.events));
    s.ack(batch.length);
  }
}

test('records come back oldest first across segments, and acknowledged segments are deleted', (t) => {
  const d = dir(t);
  const s = open(d);
  t.after(() => s.close());
  for (let i = 1; i <= 100; i++) assert.equal(s.append(rec(i)), 'ok');
  assert.equal(s.records, 100);
  assert.ok(s.segmentFiles().length > 2, `${s.segmentFiles().length} segments`);
  const first = s.peek(2, 1 << 20);
  assert.deepEqual(first.map((r) => r.events), [1, 2]);
  assert.equal(first[0]?.key, 'node-1');
  assert.deepEqual([...first[1]!.value], [...Buffer.alloc(100, 2)]);
  assert.deepEqual(s.peek(2, 1 << 20).map((r) => r.events), [1, 2], 'peek without ack returns the same records');
  s.ack(2);
  // New records go behind the old ones even while the head is being read.
  for (let i = 101; i <= 110; i++) s.append(rec(i));
  assert.deepEqual(drain(s), Array.from({ length: 108 }, (_, i) => i + 3));
  assert.equal(s.records, 0);
  assert.equal(s.bytes, 0);
  assert.deepEqual(readdirSync(d), [], 'every segment was deleted once acknowledged');
});

test('a record that would take the spool past maxBytes is refused, nothing written; room comes back with acks', (t) => {
  const s = open(dir(t), { maxBytes: 1000, segmentBytes: 300 });
  t.after(() => s.close());
  let ok = 0;
  while (s.append(rec(ok + 1)) === 'ok') ok++;
  assert.ok(ok >= 5 && ok <= 8, `${ok} records of ~123 bytes in 1000`);
  assert.ok(s.bytes <= 1000);
  assert.equal(s.records, ok);
  // Acknowledging a whole segment frees its bytes.
  const n = s.peek(100, 1 << 20).length;
  s.ack(n);
  assert.equal(s.append(rec(99)), 'ok');
});

test('what one instance spooled, the next one replays in order (kill -9: no close)', (t) => {
  const d = dir(t);
  const a = open(d);
  for (let i = 1; i <= 40; i++) a.append(rec(i));
  a.peek(5, 1 << 20);
  a.ack(5); // acknowledged, but its segment still holds unacknowledged records: those 5 come back (at-least-once)
  // no a.close(): the process died
  const b = open(d);
  t.after(() => b.close());
  assert.equal(b.recovery.records, 40);
  assert.equal(b.recovery.truncatedBytes, 0);
  b.append(rec(41));
  const got = drain(b);
  assert.deepEqual(got.slice(-36), Array.from({ length: 36 }, (_, i) => i + 6), 'every unacknowledged record, in order');
  assert.ok(got.length >= 36 && got.length <= 41);
  assert.deepEqual(got, [...got].sort((x, y) => x - y), 'in order');
});

test('a torn last frame (kill -9 mid-write) is truncated at open and the records before it are kept', (t) => {
  const d = dir(t);
  const a = open(d, { segmentBytes: 1 << 20 });
  for (let i = 1; i <= 10; i++) a.append(rec(i));
  a.close();
  const [file] = readdirSync(d);
  const path = join(d, file!);
  const whole = statSync(path).size;
  // Half a frame more, as a write cut short would leave.
  appendFileSync(path, encodeFrame(rec(11), 1).subarray(0, 60));
  const b = open(d, { segmentBytes: 1 << 20 });
  t.after(() => b.close());
  assert.equal(b.recovery.records, 10);
  assert.equal(b.recovery.truncatedBytes, 60);
  assert.equal(statSync(path).size, whole, 'the torn tail was cut off');
  b.append(rec(12));
  assert.deepEqual(drain(b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
});

test('a flipped byte inside a frame is caught by its CRC: that frame and everything after it in the segment go', (t) => {
  const d = dir(t);
  const a = open(d, { segmentBytes: 1 << 20 });
  for (let i = 1; i <= 5; i++) a.append(rec(i));
  a.close();
  const [file] = readdirSync(d);
  const path = join(d, file!);
  const frame = encodeFrame(rec(1), 1).length;
  const buf = readFileSync(path);
  const at = frame * 2 + 30; // inside the third frame's value
  buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at);
  writeFileSync(path, buf);
  const b = open(d, { segmentBytes: 1 << 20 });
  t.after(() => b.close());
  assert.equal(b.recovery.records, 2);
  assert.equal(b.recovery.truncatedBytes, frame * 3);
  assert.deepEqual(drain(b), [1, 2]);
});

test('a segment with no whole frame is removed; garbage is never replayed', (t) => {
  const d = dir(t);
  writeFileSync(join(d, `${'7'.padStart(20, '0')}.seg`), Buffer.from('not a frame at all'));
  writeFileSync(join(d, 'unrelated.txt'), 'x');
  const s = open(d);
  t.after(() => s.close());
  assert.equal(s.recovery.records, 0);
  assert.equal(s.recovery.truncatedBytes, 18);
  assert.deepEqual(readdirSync(d), ['unrelated.txt']);
  s.append(rec(1));
  assert.ok(s.segmentFiles()[0]?.endsWith(`${'8'.padStart(20, '0')}.seg`), 'numbering continues after the old segment');
  assert.deepEqual(drain(s), [1]);
});

test('scanSegment stops at a short header, an absurd length and a zero-length frame', () => {
  const good = encodeFrame(rec(1), 5);
  assert.deepEqual(scanSegment(good), { validBytes: good.length, records: 1 });
  assert.deepEqual(scanSegment(Buffer.concat([good, Buffer.alloc(7)])), { validBytes: good.length, records: 1 });
  const huge = Buffer.alloc(16); huge.writeUInt32LE(0xffffffff, 0);
  assert.deepEqual(scanSegment(Buffer.concat([good, huge])), { validBytes: good.length, records: 1 });
  assert.deepEqual(scanSegment(Buffer.alloc(64)), { validBytes: 0, records: 0 });
});

test('the oldest record\'s spool time is reported; peek bounds a batch by bytes but always returns one record', (t) => {
  let now = 1_000;
  const s = open(dir(t), { nowMs: () => now, segmentBytes: 1 << 20 });
  t.after(() => s.close());
  assert.equal(s.oldestSpooledAtMs(), undefined);
  s.append(rec(1, 500));
  now = 2_000;
  s.append(rec(2, 500));
  assert.equal(s.oldestSpooledAtMs(), 1_000);
  assert.equal(s.peek(10, 100).length, 1, 'a record larger than maxBytes still comes alone');
  assert.equal(s.peek(10, 1000).length, 2);
  s.ack(1);
  assert.equal(s.oldestSpooledAtMs(), 2_000);
});

test('values are deflated on disk and come back byte for byte; stored and deflated frames read alike', (t) => {
  const d = dir(t);
  // A batch-like value: the same fields over and over, with a counter in each.
  const value = Buffer.from(Array.from({ length: 400 }, (_, i) => `/usr/bin/cat cri-containerd-0123abcd.scope pid=${1000 + i};`).join(''));
  const a = open(d, { compress: true, segmentBytes: 1 << 20 });
  a.append({ key: 'node-1', value, events: 400 });
  assert.ok(a.bytes < value.length / 4, `${a.bytes} bytes on disk for ${value.length}`);
  a.close();
  const b = open(d, { compress: false, segmentBytes: 1 << 20 });
  t.after(() => b.close());
  b.append({ key: 'node-1', value: Buffer.from('stored'), events: 1 });
  const got = [...b.peek(10, 1 << 20)];
  b.ack(got.length);
  got.push(...b.peek(10, 1 << 20)); // the next segment: a batch never spans two
  assert.deepEqual(got.map((r) => r.events), [400, 1]);
  assert.ok(Buffer.from(got[0]!.value).equals(value));
  assert.equal(Buffer.from(got[1]!.value).toString(), 'stored');
  // Random bytes do not deflate: they are stored as they are.
  const noise = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7919) % 251));
  assert.equal(encodeFrame({ key: 'k', value: noise, events: 1 }, 0, true).length, encodeFrame({ key: 'k', value: noise, events: 1 }, 0, false).length);
});
