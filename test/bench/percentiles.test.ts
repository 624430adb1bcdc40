import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distribution, quantile } from './percentiles.js';

test('quantile is nearest-rank: it returns an observed value', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 1), 100);
  assert.equal(quantile([7], 0.99), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('distribution sorts its input and leaves it alone', () => {
  const xs = [30, 10, 20];
  const d = distribution(xs);
  assert.deepEqual(xs, [30, 10, 20]);
  assert.deepEqual(d, { samples: 3, min: 10, p50: 20, p90: 30, p99: 30, max: 30, mean: 20 });
});
