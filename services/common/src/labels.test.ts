// Label values read from the wire are bounded: an allow-list, or the first N distinct values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ABI } from './gen/abi.js';
import { allowedLabel, BoundedLabel, LOSS_SOURCES } from './metrics.js';

test('a loss source from the wire is a label only when the registry or the collector names it', () => {
  for (const s of ABI.stats.filter((x) => x.loss)) assert.equal(allowedLabel(s.name, LOSS_SOURCES), s.name);
  assert.equal(allowedLabel('collector_backpressure', LOSS_SOURCES), 'collector_backpressure');
  assert.equal(allowedLabel('events_emitted', LOSS_SOURCES), 'other', 'a throughput counter is not a loss');
  assert.equal(allowedLabel(`forged-${'x'.repeat(100)}`, LOSS_SOURCES), 'other');
  assert.equal(allowedLabel(undefined, LOSS_SOURCES), 'other');
});

test('node names: the first N distinct values are kept, later ones are "other"', () => {
  const l = new BoundedLabel(2);
  assert.deepEqual(['a', 'b', 'c', 'a', '', 'd'].map((v) => l.of(v)), ['a', 'b', 'other', 'a', 'unknown', 'other']);
});
