import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CollectorBenchResult } from './collector-bench.js';
import type { OverheadBenchResult } from './overhead-bench.js';
import { collectorTargets, overheadTargets, targetCell } from './targets.js';

const overhead = (r: Partial<OverheadBenchResult>): OverheadBenchResult =>
  ({ empty_hook_ratio: 1.2, filtered_ratio: 1.2, all_events_ratio: 1.4, opensnoop_ratio: 5.5, ...r }) as OverheadBenchResult;

test('filtered may be at most 5% above the empty-hook floor', () => {
  assert.equal(overheadTargets(overhead({ filtered_ratio: 1.26 })).filtered_ratio.met, true);
  assert.equal(overheadTargets(overhead({ filtered_ratio: 1.27 })).filtered_ratio.met, false);
});

test('all_events must meet both bounds: 1.25 × empty and a third of opensnoop', () => {
  assert.equal(overheadTargets(overhead({ all_events_ratio: 1.5 })).all_events_ratio.met, true);
  assert.equal(overheadTargets(overhead({ all_events_ratio: 1.51 })).all_events_ratio.met, false);
  assert.equal(overheadTargets(overhead({ all_events_ratio: 1.4, opensnoop_ratio: 4.0 })).all_events_ratio.met, false);
});

test('a missing figure is neither met nor missed', () => {
  const t = overheadTargets(overhead({ opensnoop_ratio: Number.NaN })).all_events_ratio;
  assert.equal(t.met, undefined);
  assert.match(targetCell(t), /\?$/);
});

test('collector: lost must be exactly 0; cpu and rss are upper bounds', () => {
  const c = { lost: 1, cpu_us_per_event: 1.0, rss_mib: 256.1 } as CollectorBenchResult;
  const t = collectorTargets(c);
  assert.equal(t.lost.met, false);
  assert.equal(t.cpu_us_per_event.met, true);
  assert.equal(t.rss_mib.met, false);
  assert.match(targetCell(t.cpu_us_per_event), /✓$/);
  assert.match(targetCell(t.rss_mib), /✗$/);
});
