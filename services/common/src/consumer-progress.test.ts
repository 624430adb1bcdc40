import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressTracker } from './consumer-progress.js';

test('pending time runs from when work arrived, survives redeliveries of the same position, and ends at the commit', () => {
  const t = new ProgressTracker();
  t.fetched('in', 0, 0, 10, 1_000);
  t.committed('in', 0, 10, 1_100);
  assert.deepEqual(t.snapshot(5_000), [{ topic: 'in', partition: 0, committed: 10, highWatermark: 10, lag: 0, pendingMs: undefined, lastCommitAt: 1_100 }]);
  // Idle for a long time, then a batch: it has waited only since it arrived, not since the last commit.
  t.fetched('in', 0, 10, 15, 60_000);
  assert.equal(t.snapshot(60_500)[0]?.pendingMs, 500);
  assert.equal(t.snapshot(60_500)[0]?.lag, 5);
  t.fetched('in', 0, 10, 20, 61_000); // the same batch again, after a retriable failure
  assert.equal(t.snapshot(62_000)[0]?.pendingMs, 2_000);
  assert.equal(t.snapshot(62_000)[0]?.lag, 10);
  t.committed('in', 0, 20, 62_500);
  assert.equal(t.snapshot(70_000)[0]?.pendingMs, undefined);
  assert.equal(t.snapshot(70_000)[0]?.lag, 0);
});

test('before its first commit a partition lags from the first fetched offset; a released one is forgotten', () => {
  const t = new ProgressTracker();
  t.fetched('in', 2, 100, 130, 0);
  assert.equal(t.snapshot(10)[0]?.lag, 30);
  assert.equal(t.snapshot(10)[0]?.committed, undefined);
  t.released('in', 2);
  assert.deepEqual(t.snapshot(10), []);
});
