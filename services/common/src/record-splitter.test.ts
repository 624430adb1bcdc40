import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pb, type palisade } from './proto.js';
import { chunkBySize, splitEncoded } from './record-splitter.js';

const LABELS = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`label-${i}`, 'x'.repeat(10)])); // ~300 B

function events(n: number, pathBytes = 16): palisade.v1.IEnrichedEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, node: 'n1',
    pod: { uid: 'pod-1', name: 'web', namespace: 'shop', labels: LABELS },
    event: { kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: { pid: i }, fileOpen: { path: `/${'p'.repeat(pathBytes)}` } },
  }));
}

const input = (items: palisade.v1.IEnrichedEvent[], maxBytes: number) => ({
  items, maxBytes,
  encode: (evs: palisade.v1.IEnrichedEvent[]) => pb.EnrichedEventBatch.encode({ events: evs, node: 'n1' }).finish(),
  encodeItem: (e: palisade.v1.IEnrichedEvent) => pb.EnrichedEvent.encode(e).finish(),
});

test('a batch that fits is encoded once, exactly as before', () => {
  const evs = events(10);
  const out = splitEncoded(input(evs, 64 * 1024));
  assert.equal(out.values.length, 1);
  assert.deepEqual(out.values[0]?.value, pb.EnrichedEventBatch.encode({ events: evs, node: 'n1' }).finish());
  assert.equal(out.oversize.length, 0);
});

test('a batch over the limit becomes several batches under it, every event once, in order', () => {
  const evs = events(1024);
  const max = 64 * 1024;
  assert.ok(pb.EnrichedEventBatch.encode({ events: evs }).finish().length > 4 * max, 'the batch is well over the limit');
  const out = splitEncoded(input(evs, max));
  assert.ok(out.values.length >= 5, `split into ${out.values.length}`);
  const pids: number[] = [];
  for (const v of out.values) {
    assert.ok(v.value.byteLength <= max, `${v.value.byteLength} <= ${max}`);
    const b = pb.EnrichedEventBatch.decode(v.value);
    assert.equal(b.node, 'n1', 'every part keeps the batch\'s other fields');
    assert.equal(b.events.length, v.count);
    pids.push(...b.events.map((e) => Number(e.event?.process?.pid)));
  }
  assert.deepEqual(pids, evs.map((_, i) => i));
  // Greedy packing: no two neighbours could have been one batch (the split is not needlessly fine).
  for (let i = 1; i < out.values.length; i++) {
    const a = out.values[i - 1]?.value.byteLength ?? 0;
    const b = out.values[i]?.value.byteLength ?? 0;
    assert.ok(a + b > max, 'neighbouring parts would not fit together');
  }
});

test('an event too large for a batch of its own is handed back, the rest is split around it', () => {
  const evs = [...events(3), ...events(1, 70 * 1024), ...events(3)];
  const out = splitEncoded(input(evs, 64 * 1024));
  assert.equal(out.oversize.length, 1);
  assert.equal(out.oversize[0]?.item, evs[3]);
  assert.deepEqual(out.oversize[0]?.bytes, pb.EnrichedEvent.encode(evs[3] ?? {}).finish());
  const kept = out.values.flatMap((v) => pb.EnrichedEventBatch.decode(v.value).events.map((e) => e.event?.fileOpen?.path?.length));
  assert.equal(kept.length, 6);
  assert.ok(kept.every((n) => n === 17));
});

test('an empty batch (losses only) stays one record', () => {
  const out = splitEncoded({ ...input([], 1024), encode: () => pb.EnrichedEventBatch.encode({ node: 'n1', losses: [{ source: 'x', count: 3 }] }).finish() });
  assert.equal(out.values.length, 1);
  assert.equal(pb.EnrichedEventBatch.decode(out.values[0]?.value ?? new Uint8Array()).losses.length, 1);
});

test('chunkBySize: consecutive runs under the budget; an item over it runs alone', () => {
  assert.deepEqual(chunkBySize([3, 3, 3, 3, 9, 1], (n) => n, 6), [[3, 3], [3, 3], [9], [1]]);
  assert.deepEqual(chunkBySize([], (n: number) => n, 6), []);
});
