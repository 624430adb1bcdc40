// Loss counters do not fall back to 0 when the collector restarts, whether it stopped cleanly or was killed: the next
// instance starts them from the totals the previous one kept in the state dir, and says where they came from.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MemoryBus, Metrics, silentLogger } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { CarriedCounters } from './carried-counters.js';
import { Collector } from './collector.js';
import type { EventSource, EventSourceStats } from './event-source.js';
import { Visibility } from './visibility.js';

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'pal-counters-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A source whose kernel loss counter is set by the test (a new BPF session starts it at 0 again). */
class CountingSource implements EventSource {
  kernel: Record<string, number> = {};
  start(): void {}
  stats(): EventSourceStats { return { kernel: { ...this.kernel }, decodeErrors: 0 }; }
  close(): void {}
}

async function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
}

async function startOne(t: TestContext, dir: string, bus: MemoryBus) {
  const source = new CountingSource();
  const metrics = new Metrics();
  const visibility = new Visibility({ stateDir: dir, node: 'n1' });
  const collector = new Collector({
    node: 'n1', bus, source, metrics, logger: silentLogger, maxBatchEvents: 10, flushIntervalMs: 10,
    maxPendingEvents: 100, visibility, heartbeatMs: 20, counters: new CarriedCounters({ stateDir: dir, node: 'n1' }),
  });
  await collector.start();
  t.after(() => collector.stop());
  return { source, metrics, collector, visibility };
}

test('after a clean stop and after a kill, the loss counter starts from the last instance\'s total', async (t) => {
  const dir = stateDir(t);
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const lost = (m: Metrics) => value(m, 'palisade_collector_lost_events_total', { reason: 'ringbuf_output_failed' });

  const a = await startOne(t, dir, bus);
  a.source.kernel = { ringbuf_output_failed: 7 };
  await waitFor('A to count 7', async () => (await lost(a.metrics)) === 7);
  await a.collector.stop();

  const b = await startOne(t, dir, bus);
  assert.equal(await lost(b.metrics), 7, 'a clean stop: the count goes on from 7');
  assert.equal(await value(b.metrics, 'palisade_collector_counters_carried_info', { from_instance: a.visibility.instanceId }), 1);
  // B's own BPF session starts at 0 again; its growth is added to the carried total.
  b.source.kernel = { ringbuf_output_failed: 5 };
  await waitFor('B to count 12', async () => (await lost(b.metrics)) === 12);
  // Killed: no stop(), only what the heartbeat (or the throttled save on growth) wrote survives.
  await waitFor('B\'s totals on disk', () => new CarriedCounters({ stateDir: dir, node: 'n1' }).load()?.lost['ringbuf_output_failed'] === 12);

  const c = await startOne(t, dir, bus);
  assert.equal(await lost(c.metrics), 12, 'after a kill: the count goes on from 12');
  assert.ok(await value(c.metrics, 'palisade_collector_blind_seconds_total') >= 0);
});

test('no state dir carries nothing; a corrupt file or a foreign reason is ignored, not fatal', async (t) => {
  assert.equal(new CarriedCounters({ stateDir: '', node: 'n1' }).load(), undefined);
  const dir = stateDir(t);
  writeFileSync(join(dir, 'counters-n1.json'), '{ not json');
  assert.equal(new CarriedCounters({ stateDir: dir, node: 'n1' }).load(), undefined);
  writeFileSync(join(dir, 'counters-n1.json'), JSON.stringify({
    fromInstance: 'b:1', lost: { spool_full: 3, 'made-up-reason': 9, decode: -4 }, blindSeconds: 2.5,
  }));
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const x = await startOne(t, dir, bus);
  assert.equal(await value(x.metrics, 'palisade_collector_lost_events_total', { reason: 'spool_full' }), 3);
  assert.equal(await value(x.metrics, 'palisade_collector_lost_events_total', { reason: 'made-up-reason' }), 0,
    'labels come only from the loss reasons this build knows');
  assert.equal(await value(x.metrics, 'palisade_collector_lost_events_total', { reason: 'decode' }), 0);
  assert.ok(await value(x.metrics, 'palisade_collector_blind_seconds_total') >= 2.5);
});
