// A collector restart is reported, not hidden: each start has its own instance id, and the time no collector ran
// (since the last instance's heartbeat, or since boot) is a visibility_gap LossRecord in the first batch.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MemoryBus, Metrics, TOPICS, pb, silentLogger, type IncomingMessage } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { Collector } from './collector.js';
import type { EventSource, EventSourceStats } from './event-source.js';
import { VISIBILITY_GAP, Visibility } from './visibility.js';

const quiet: EventSource = {
  start() {},
  stats(): EventSourceStats { return { kernel: {}, decodeErrors: 0 }; },
  close() {},
};

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'pal-visibility-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the first start of a boot is blind since the boot; a restart, since the last heartbeat of the one before', () => {
  let now = 1_000_000;
  const opts = (dir: string) => ({ stateDir: dir, node: 'n1', bootId: 'b1', bootTimeMs: 400_000, nowMs: () => now });
  const dir = mkdtempSync(join(tmpdir(), 'pal-visibility-'));
  try {
    const first = new Visibility(opts(dir));
    assert.deepEqual(first.gap(), { source: VISIBILITY_GAP, count: 0, fromUnixNano: 400_000e6, toUnixNano: 1_000_000e6 });
    now = 1_002_000;
    first.heartbeat();
    now = 1_007_500; // killed; restarted 5.5 s after its last heartbeat
    const second = new Visibility(opts(dir));
    assert.notEqual(second.instanceId, first.instanceId);
    assert.deepEqual(second.gap(), { source: VISIBILITY_GAP, count: 0, fromUnixNano: 1_002_000e6, toUnixNano: 1_007_500e6 });
    // Another boot: the old state says nothing about this one.
    const rebooted = new Visibility({ ...opts(dir), bootId: 'b2', bootTimeMs: 1_007_000 });
    assert.equal(rebooted.gap().fromUnixNano, 1_007_000e6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a restarted collector sends its gap first and stamps every batch with its instance', async (t) => {
  const dir = stateDir(t);
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const raw: IncomingMessage[] = [];
  await bus.consume({ groupId: 'r', topics: [TOPICS.raw], handler: async (b) => { raw.push(...b); } });
  const run = async (): Promise<Visibility> => {
    const visibility = new Visibility({ stateDir: dir, node: 'n1' });
    const c = new Collector({ node: 'n1', bus, source: quiet, metrics: new Metrics(), logger: silentLogger,
      maxBatchEvents: 10, flushIntervalMs: 5, maxPendingEvents: 100, visibility, heartbeatMs: 10 });
    await c.start();
    await waitFor('the first batch of this instance', () => raw.some((m) =>
      pb.RawEventBatch.decode(m.value).instanceId === visibility.instanceId));
    await c.stop();
    return visibility;
  };
  const a = await run();
  const b = await run();
  const batches = raw.map((m) => pb.RawEventBatch.decode(m.value));
  const ofB = batches.filter((x) => x.instanceId === b.instanceId);
  assert.equal(Number(ofB[0]?.seq), 1, 'seq starts again with the instance');
  const gap = ofB[0]?.losses.find((l) => l.source === VISIBILITY_GAP);
  assert.ok(gap, 'the restart reported a visibility gap');
  const stoppedA = batches.filter((x) => x.instanceId === a.instanceId).length > 0;
  assert.ok(stoppedA);
  // B's gap starts where A stopped (its last heartbeat, at stop) and ends at B's start: well under a minute here.
  const blindMs = (Number(gap.toUnixNano) - Number(gap.fromUnixNano)) / 1e6;
  assert.ok(blindMs >= 0 && blindMs < 60_000, `blind for ${blindMs} ms`);
});

test('the gap ends when the kernel source runs, not when the process started: loading the programs is blind too', async (t) => {
  const dir = stateDir(t);
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const raw: IncomingMessage[] = [];
  await bus.consume({ groupId: 'r', topics: [TOPICS.raw], handler: async (b) => { raw.push(...b); } });
  let now = 1_000_000;
  const visibility = new Visibility({ stateDir: dir, node: 'n1', bootId: 'b1', bootTimeMs: 400_000, nowMs: () => now });
  // Loading and attaching the programs takes 4 s here.
  const slow: EventSource = { ...quiet, start() { now += 4_000; } };
  const c = new Collector({ node: 'n1', bus, source: slow, metrics: new Metrics(), logger: silentLogger,
    maxBatchEvents: 10, flushIntervalMs: 5, maxPendingEvents: 100, visibility, heartbeatMs: 10_000 });
  await c.start();
  t.after(() => c.stop());
  const batch = await waitFor('the first batch', () => raw.map((m) => pb.RawEventBatch.decode(m.value))[0]);
  const gap = batch.losses.find((l) => l.source === VISIBILITY_GAP);
  assert.equal(Number(gap?.toUnixNano), 1_004_000e6, 'the gap ends before the programs were attached');
});
