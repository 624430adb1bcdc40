// The collector over a scripted EventSource and the in-process bus: what lands on the raw topic, and how every event
// it could not publish shows up there as a loss.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MemoryBus, Metrics, PalisadeError, TOPICS, pb, silentLogger,
  type Bus, type IncomingMessage, type OutgoingMessage, type palisade,
} from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { Collector, type CollectorOptions } from './collector.js';
import type { EncodedEventSink, EventSource, EventSourceStats, SourceProgram } from './event-source.js';
import { Spool } from './spool.js';

class FakeSource implements EventSource {
  private onEvents: ((events: palisade.v1.IRawEvent[]) => void) | undefined;
  kernel: Record<string, number> = {};
  decodeErrors = 0;
  closed = false;
  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void { this.onEvents = onEvents; }
  stats(): EventSourceStats { return { kernel: { ...this.kernel }, decodeErrors: this.decodeErrors }; }
  close(): void { this.closed = true; }
  emit(pids: number[]): void {
    assert.ok(this.onEvents, 'emit before start');
    this.onEvents(pids.map((pid) => ({ kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: { pid }, exec: { filename: '/bin/x' } })));
  }
}

async function counterValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

async function setup(t: TestContext, opts: Partial<CollectorOptions> = {}) {
  const bus = opts.bus ?? new MemoryBus({ partitions: 2 });
  t.after(() => bus.close());
  const source = new FakeSource();
  const metrics = new Metrics();
  const collector = new Collector({
    node: 'node-1', bus, source, metrics, logger: silentLogger,
    maxBatchEvents: 3, flushIntervalMs: 60_000, maxPendingEvents: 1_000, ...opts,
  });
  const raw: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.raw], handler: async (b) => { raw.push(...b); } });
  await collector.start();
  t.after(() => collector.stop());
  const batches = (): palisade.v1.RawEventBatch[] => raw.map((m) => pb.RawEventBatch.decode(m.value));
  const pids = (): number[] => batches().flatMap((b) => b.events.map((e) => e.process?.pid ?? -1));
  return { bus, source, metrics, collector, raw, batches, pids };
}

test('a batch is sent as soon as it holds maxBatchEvents, keyed by node, with seq counting up from 1', async (t) => {
  const { source, raw, batches, pids, collector } = await setup(t, { maxBatchEvents: 3 });
  source.emit([1, 2]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(raw.length, 0, 'a batch was sent before it was full or old');
  source.emit([3, 4, 5, 6, 7]);
  await waitFor('two full batches', () => raw.length >= 2);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(batches().map((b) => b.events.length), [3, 3]);
  assert.deepEqual(pids(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(batches().map((b) => Number(b.seq)), [1, 2]);
  assert.ok(raw.every((m) => m.key?.toString() === 'node-1'));
  assert.ok(raw.every((m) => m.headers['palisade-schema'] === 'palisade.v1.RawEventBatch'));
  assert.ok(batches().every((b) => b.node === 'node-1'));
  assert.equal(collector.batchesSent, 2);
});

test('a partial batch is sent after flushIntervalMs', async (t) => {
  const { source, raw, pids, metrics } = await setup(t, { maxBatchEvents: 100, flushIntervalMs: 40 });
  const sent = Date.now();
  source.emit([1, 2]);
  await waitFor('the timed flush', () => raw.length >= 1);
  assert.ok(Date.now() - sent < 500);
  assert.deepEqual(pids(), [1, 2]);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(raw.length, 1, 'an empty interval sends nothing');
  assert.equal(await counterValue(metrics, 'palisade_collector_events_total', { kind: 'exec' }), 2);
  assert.equal(await counterValue(metrics, 'palisade_collector_batches_total'), 1);
});

test('growth of the kernel and decode loss counters becomes LossRecords in the next batch, as deltas', async (t) => {
  const { source, raw, batches, metrics } = await setup(t, { maxBatchEvents: 2, flushIntervalMs: 40 });
  source.kernel = { ringbuf_reserve: 5 };
  source.decodeErrors = 1;
  source.emit([1, 2]);
  await waitFor('the first batch', () => raw.length >= 1);
  const first = batches()[0];
  assert.deepEqual(first?.losses.map((l) => [l.source, Number(l.count)]).sort(), [['decode', 1], ['ringbuf_reserve', 5]]);
  const l0 = first?.losses[0];
  assert.ok(l0 && Number(l0.toUnixNano) >= Number(l0.fromUnixNano) && Number(l0.fromUnixNano) > 0);

  source.kernel = { ringbuf_reserve: 8, perfbuf_lost: 2 };
  await waitFor('a loss-only batch from the timer', () => raw.length >= 2);
  const second = batches()[1];
  assert.equal(second?.events.length, 0);
  assert.deepEqual(second?.losses.map((l) => [l.source, Number(l.count)]).sort(), [['perfbuf_lost', 2], ['ringbuf_reserve', 3]]);
  assert.ok(Number(second?.losses[0]?.fromUnixNano) >= Number(l0?.toUnixNano), 'loss windows do not overlap');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(raw.length, 2, 'unchanged counters send no loss record');
  assert.equal(await counterValue(metrics, 'palisade_collector_lost_events_total', { reason: 'ringbuf_reserve' }), 8);
  assert.deepEqual(batches().map((b) => Number(b.seq)), [1, 2]);
});

test('events beyond maxPendingEvents are dropped and reported as collector_backpressure loss', async (t) => {
  const { source, collector, batches, metrics } = await setup(t, { maxBatchEvents: 100, maxPendingEvents: 5 });
  source.emit([1, 2, 3, 4]);
  source.emit([5, 6, 7, 8]);
  await collector.stop();
  const all = batches();
  assert.deepEqual(all.flatMap((b) => b.events.map((e) => e.process?.pid)), [1, 2, 3, 4, 5], 'the oldest events are kept');
  assert.deepEqual(all.flatMap((b) => b.losses.map((l) => [l.source, Number(l.count)])), [['collector_backpressure', 3]]);
  assert.equal(await counterValue(metrics, 'palisade_collector_lost_events_total', { reason: 'collector_backpressure' }), 3);
});

/** A bus whose raw-topic sends wait for a gate, or fail. */
class SlowBus extends MemoryBus {
  gate: Promise<void> = Promise.resolve();
  failNext: unknown;
  override producer() {
    const inner = super.producer();
    return {
      send: async (topic: string, messages: OutgoingMessage[]) => {
        if (topic === TOPICS.raw) {
          await this.gate;
          if (this.failNext !== undefined) { const e = this.failNext; this.failNext = undefined; throw e; }
        }
        await inner.send(topic, messages);
      },
    };
  }
}

test('stop() closes the source and publishes every pending event before it resolves', async (t) => {
  const bus = new SlowBus({ partitions: 1 });
  let open!: () => void;
  bus.gate = new Promise((r) => { open = r; });
  const { source, collector, pids } = await setup(t, { bus, maxBatchEvents: 2 });
  // The first batch waits on the bus; everything after it piles up in the collector.
  source.emit(Array.from({ length: 11 }, (_, i) => i));
  const stopping = collector.stop();
  setTimeout(open, 20);
  await stopping;
  assert.equal(source.closed, true);
  assert.equal(collector.state, 'stopped');
  await waitFor('the raw records to be read', () => pids().length >= 11).catch(() => undefined);
  assert.deepEqual(pids(), Array.from({ length: 11 }, (_, i) => i), 'events pending at stop() were lost');
});

test('a failed send counts its events as lost in the next batch; a fatal one fails the collector', async (t) => {
  const bus = new SlowBus({ partitions: 1 });
  const { source, collector, batches, metrics, raw } = await setup(t, { bus, maxBatchEvents: 2 });
  const failures: unknown[] = [];
  collector.onFail((e) => failures.push(e));
  bus.failNext = new PalisadeError('BUS_SEND_FAILED', 'broker gone', { retriable: true });
  source.emit([1, 2]);
  await waitFor('the failed send to be counted', async () => (await counterValue(metrics, 'palisade_collector_send_errors_total')) === 1);
  source.emit([3, 4]);
  await waitFor('the next batch', () => raw.length >= 1);
  const b = batches()[0];
  assert.equal(Number(b?.seq), 2, 'the lost batch leaves a gap in seq');
  assert.deepEqual(b?.events.map((e) => e.process?.pid), [3, 4]);
  assert.deepEqual(b?.losses.map((l) => [l.source, Number(l.count)]), [['collector_backpressure', 2]]);
  assert.equal(await counterValue(metrics, 'palisade_collector_send_errors_total'), 1);
  assert.equal(collector.state, 'ready', 'a retriable send failure does not stop the collector');

  bus.failNext = new PalisadeError('BUS_UNAVAILABLE', 'closed');
  source.emit([5, 6]);
  await waitFor('the collector to fail', () => failures.length === 1);
  assert.equal(collector.state, 'failed');
});

/** A source with the encoded path: it appends the events itself, as KernelSource.startEncoded does. */
class EncodingSource extends FakeSource {
  sink: EncodedEventSink | undefined;
  startEncoded(sink: EncodedEventSink): void { this.sink = sink; }
  emitEncoded(pids: number[]): void {
    const sink = this.sink;
    assert.ok(sink, 'emit before startEncoded');
    for (const pid of pids) {
      if (sink.accept(pb.EventKind.EVENT_KIND_PROCESS_EXEC, Buffer.alloc(0), 0)) {
        sink.encoder.add({ kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: { pid }, exec: { filename: '/bin/x' } });
      }
    }
    sink.drained();
  }
}

test('the encoded path: the same batches as onEvents, backpressure drops counted, kinds counted', async (t) => {
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const source = new EncodingSource();
  const metrics = new Metrics();
  const collector = new Collector({
    node: 'node-1', bus, source, metrics, logger: silentLogger,
    maxBatchEvents: 3, flushIntervalMs: 60_000, maxPendingEvents: 5,
  });
  const raw: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.raw], handler: async (b) => { raw.push(...b); } });
  await collector.start();
  t.after(() => collector.stop());
  assert.ok(source.sink !== undefined, 'the collector took the encoded path');
  // One drain, synchronous: nothing is published before it ends, so 5 fit and 6, 7 are dropped.
  source.emitEncoded([1, 2, 3, 4, 5, 6, 7]);
  await collector.stop();
  const batches = raw.map((m) => pb.RawEventBatch.decode(m.value));
  assert.deepEqual(batches.map((b) => b.events.map((e) => e.process?.pid)), [[1, 2, 3], [4, 5]]);
  assert.deepEqual(batches.flatMap((b) => b.losses.map((l) => [l.source, Number(l.count)])), [['collector_backpressure', 2]]);
  assert.equal(await counterValue(metrics, 'palisade_collector_events_total', { kind: 'exec' }), 5);
});

test('programs the kernel lacks are exported as attached=0 and named in the readiness detail', async (t) => {
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const source = new FakeSource();
  const programs: SourceProgram[] = [
    { name: 'pal_openat_in', kind: 'file_open', required: true, attached: true, reason: '' },
    { name: 'pal_fchmodat2_in', kind: 'file_op', required: false, attached: false, reason: 'no tracepoint syscalls/sys_enter_fchmodat2' },
    { name: 'pal_chmod_in', kind: 'file_op', required: false, attached: true, reason: '' },
    { name: 'pal_init_module_in', kind: 'module_load', required: false, attached: false, reason: 'no tracepoint syscalls/sys_enter_init_module' },
  ];
  const withPrograms = Object.assign(source, { programs: () => programs });
  const metrics = new Metrics();
  const collector = new Collector({
    node: 'node-1', bus, source: withPrograms, metrics, logger: silentLogger,
    maxBatchEvents: 3, flushIntervalMs: 60_000, maxPendingEvents: 1_000,
  });
  await collector.start();
  t.after(() => collector.stop());
  assert.equal(await counterValue(metrics, 'palisade_collector_program_attached', { program: 'pal_openat_in' }), 1);
  const gauge = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'palisade_collector_program_attached');
  assert.equal(gauge?.values.find((v) => v.labels['program'] === 'pal_fchmodat2_in')?.value, 0);
  assert.deepEqual(collector.detail(), {
    programs: { total: 4, attached: 2 },
    notAttached: [
      { program: 'pal_fchmodat2_in', kind: 'file_op', reason: 'no tracepoint syscalls/sys_enter_fchmodat2' },
      { program: 'pal_init_module_in', kind: 'module_load', reason: 'no tracepoint syscalls/sys_enter_init_module' },
    ],
    // file_op is still seen through chmod; module_load is not seen at all.
    kindsNotSeen: ['module_load'],
  });
});

test('a batch larger than the raw topic accepts is published split, every event in order, under one seq', async (t) => {
  const bus = new MemoryBus({ partitions: 2, maxMessageBytes: 8192 });
  const { source, raw, batches, pids, collector } = await setup(t, { bus, maxBatchEvents: 1000 });
  const all = Array.from({ length: 1000 }, (_, i) => i + 1);
  source.emit(all);
  await waitFor('every event', () => pids().length === 1000);
  assert.deepEqual(pids(), all);
  assert.ok(raw.length >= 3, `${raw.length} records`);
  assert.ok(raw.every((m) => m.value.length <= 8192));
  assert.deepEqual(new Set(batches().map((b) => Number(b.seq))), new Set([1]), 'the parts keep the batch\'s seq: no gap downstream');
  assert.equal(collector.state, 'ready');
});

// ---- The spool: while the bus is away, records wait on disk, in order, and nothing is lost until it is full.

/** A bus whose raw-topic sends fail (retriable) while `down`, or wait while `hang` is set. */
class FlakyBus extends MemoryBus {
  down = false;
  hang: Promise<void> | undefined;
  attempts = 0;
  override producer() {
    const inner = super.producer();
    return {
      send: async (topic: string, messages: OutgoingMessage[]) => {
        if (topic === TOPICS.raw) {
          this.attempts++;
          if (this.hang) await this.hang;
          if (this.down) throw new PalisadeError('BUS_SEND_FAILED', 'broker away', { retriable: true });
        }
        await inner.send(topic, messages);
      },
    };
  }
}

function spoolIn(t: TestContext, opts: { maxBytes?: number; dir?: string } = {}): Spool {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pal-collector-spool-'));
  if (opts.dir === undefined) t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spool = Spool.open({ dir, maxBytes: opts.maxBytes ?? 1 << 20, segmentBytes: 512, logger: silentLogger });
  t.after(() => spool.close());
  return spool;
}

const seqs = (bs: palisade.v1.RawEventBatch[]) => bs.map((b) => Number(b.seq));

test('while sends fail, records go to the spool; when the bus is back they are replayed in order and nothing is lost', async (t) => {
  const bus = new FlakyBus({ partitions: 1 });
  const spool = spoolIn(t);
  bus.down = true;
  const { source, pids, batches, metrics, collector } = await setup(t, { bus, spool, maxBatchEvents: 2, flushIntervalMs: 30 });
  source.emit([1, 2]);
  await waitFor('the failed batch to be spooled', () => spool.records >= 1);
  for (let i = 3; i <= 40; i += 2) source.emit([i, i + 1]);
  await waitFor('every batch in the spool', () => spool.records >= 20);
  assert.ok(spool.segmentFiles().length > 1, 'the records span segments');
  assert.equal(pids().length, 0);
  assert.ok(await counterValue(metrics, 'palisade_collector_spool_bytes') > 0);
  assert.ok(await counterValue(metrics, 'palisade_collector_spool_oldest_age_seconds') >= 0);
  bus.down = false;
  await waitFor('every event', () => pids().length >= 40);
  await waitFor('the spool to empty', () => spool.records === 0);
  source.emit([41, 42]);
  await waitFor('a live batch after the replay', () => pids().length >= 42);
  assert.deepEqual(pids(), Array.from({ length: 42 }, (_, i) => i + 1), 'in order, each once');
  assert.deepEqual(seqs(batches()), Array.from({ length: 21 }, (_, i) => i + 1), 'no seq gap');
  assert.equal(batches().flatMap((b) => b.losses).length, 0);
  assert.equal(await counterValue(metrics, 'palisade_collector_spooled_records_total'), 20);
  assert.equal(await counterValue(metrics, 'palisade_collector_replayed_records_total'), 20);
  assert.equal(await counterValue(metrics, 'palisade_collector_replayed_events_total'), 40);
  assert.equal(await counterValue(metrics, 'palisade_collector_lost_events_total'), 0);
  assert.equal(collector.state, 'ready');
  assert.deepEqual(spool.segmentFiles(), [], 'replayed segments are deleted');
});

test('a send left unanswered for spoolAfterMs is spooled with what follows; if it lands late it is a duplicate, never a reorder', async (t) => {
  const bus = new FlakyBus({ partitions: 1 });
  const spool = spoolIn(t);
  let answer!: () => void;
  bus.hang = new Promise((r) => { answer = r; });
  const { source, pids, metrics } = await setup(t, { bus, spool, maxBatchEvents: 2, spoolAfterMs: 50, maxPendingEvents: 1_000 });
  source.emit([1, 2]);
  await waitFor('the unanswered send to be spooled', () => spool.records >= 1);
  for (let i = 3; i <= 20; i += 2) source.emit([i, i + 1]);
  await waitFor('the rest behind it', () => spool.records >= 10);
  assert.equal(bus.attempts, 1, 'nothing else is tried while a send hangs');
  bus.hang = undefined;
  answer();
  await waitFor('every event', () => new Set(pids()).size >= 20);
  await waitFor('the spool to empty', () => spool.records === 0);
  const got = pids();
  const firsts = got.filter((p, i) => got.indexOf(p) === i);
  assert.deepEqual(firsts, Array.from({ length: 20 }, (_, i) => i + 1), 'first arrivals in order');
  const all = Array.from({ length: 20 }, (_, i) => i + 1);
  // The hung batch landed when its send was answered, then again from the spool, right behind itself.
  assert.deepEqual(got, got.length === 20 ? all : [1, 2, ...all], 'at most the hung batch twice, nothing reordered');
  assert.equal(await counterValue(metrics, 'palisade_collector_lost_events_total'), 0);
});

test('events beyond maxPendingEvents go to the spool instead of being dropped', async (t) => {
  const bus = new FlakyBus({ partitions: 1 });
  const spool = spoolIn(t);
  let answer!: () => void;
  bus.hang = new Promise((r) => { answer = r; });
  const { source, pids, metrics } = await setup(t, { bus, spool, maxBatchEvents: 2, maxPendingEvents: 4, spoolAfterMs: 600_000 });
  for (let i = 1; i <= 30; i += 3) source.emit([i, i + 1, i + 2]);
  await waitFor('batches in the spool', () => spool.records >= 5);
  bus.hang = undefined;
  answer();
  await waitFor('every event', () => new Set(pids()).size >= 30);
  assert.deepEqual([...new Set(pids())], Array.from({ length: 30 }, (_, i) => i + 1));
  assert.equal(await counterValue(metrics, 'palisade_collector_lost_events_total', { reason: 'collector_backpressure' }), 0);
});

test('beyond the spool size, events are counted as spool_full and reported in-band once the bus is back', async (t) => {
  const bus = new FlakyBus({ partitions: 1 });
  const spool = spoolIn(t, { maxBytes: 1200 });
  bus.down = true;
  const { source, pids, batches, metrics } = await setup(t, { bus, spool, maxBatchEvents: 2, flushIntervalMs: 20 });
  for (let i = 1; i <= 60; i += 2) source.emit([i, i + 1]);
  await waitFor('spool_full losses', async () => (await counterValue(metrics, 'palisade_collector_lost_events_total', { reason: 'spool_full' })) > 0);
  const kept = spool.records;
  assert.ok(kept >= 3 && spool.bytes <= 1200, `${kept} records, ${spool.bytes} bytes`);
  bus.down = false;
  await waitFor('a spool_full LossRecord', () => batches().some((b) => b.losses.some((l) => l.source === 'spool_full')));
  await waitFor('the spool to empty', () => spool.records === 0);
  const lostInBand = batches().flatMap((b) => b.losses).filter((l) => l.source === 'spool_full').reduce((n, l) => n + Number(l.count), 0);
  const lost = await counterValue(metrics, 'palisade_collector_lost_events_total', { reason: 'spool_full' });
  assert.equal(lostInBand, lost, 'every event the spool could not take is in a LossRecord');
  assert.equal(new Set(pids()).size + lost, 60, 'delivered + counted = offered');
  assert.deepEqual(pids().slice(0, 2 * kept), Array.from({ length: 2 * kept }, (_, i) => i + 1), 'the oldest are kept');
});

test('what one collector left in the spool, the next start sends first, before its own records', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pal-collector-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bus = new FlakyBus({ partitions: 1 });
  t.after(() => bus.close());
  const raw: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.raw], handler: async (b) => { raw.push(...b); } });
  const make = (spool: Spool, source: FakeSource) => new Collector({ node: 'node-1', bus, source, metrics: new Metrics(),
    logger: silentLogger, maxBatchEvents: 2, flushIntervalMs: 60_000, maxPendingEvents: 1_000, spool });
  bus.down = true;
  const spoolA = spoolIn(t, { dir });
  const srcA = new FakeSource();
  const a = make(spoolA, srcA);
  await a.start();
  srcA.emit([1, 2, 3, 4, 5]);
  await waitFor('A\'s first batch to be spooled', () => spoolA.records >= 1);
  await a.stop(); // the broker is away: what is left goes to the spool too
  assert.equal(spoolA.records, 3);
  spoolA.close();
  bus.down = false;
  const spoolB = spoolIn(t, { dir });
  assert.equal(spoolB.recovery.records, 3);
  const srcB = new FakeSource();
  const b = make(spoolB, srcB);
  await b.start();
  t.after(() => b.stop());
  srcB.emit([6, 7]);
  const pids = () => raw.map((m) => pb.RawEventBatch.decode(m.value)).flatMap((x) => x.events.map((e) => e.process?.pid));
  await waitFor('every event', () => pids().length >= 7);
  assert.deepEqual(pids(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(spoolB.records, 0);
});

test('stop() with a send hanging puts it and everything pending in the spool instead of waiting for the broker', async (t) => {
  const bus = new FlakyBus({ partitions: 1 });
  const spool = spoolIn(t);
  bus.hang = new Promise(() => undefined); // never answered
  const { source, collector } = await setup(t, { bus, spool, maxBatchEvents: 2, spoolAfterMs: 100 });
  source.emit([1, 2, 3, 4, 5]);
  await collector.stop();
  assert.equal(collector.state, 'stopped');
  const kept: number[] = [];
  for (;;) {
    const rs = spool.peek(10, 1 << 20);
    if (rs.length === 0) break;
    for (const r of rs) kept.push(...pb.RawEventBatch.decode(r.value).events.map((e) => e.process?.pid ?? -1));
    spool.ack(rs.length);
  }
  assert.deepEqual(kept, [1, 2, 3, 4, 5], 'every pending event is in the spool, in order');
});

test('a spooled batch larger than the raw topic accepts is replayed split, every event in order', async (t) => {
  const bus = new FlakyBus({ partitions: 1, maxMessageBytes: 8192 });
  const spool = spoolIn(t);
  bus.down = true;
  const { source, pids, raw, collector } = await setup(t, { bus, spool, maxBatchEvents: 1000 });
  const all = Array.from({ length: 1000 }, (_, i) => i + 1);
  source.emit(all);
  await waitFor('the batch in the spool', () => spool.records === 1);
  bus.down = false;
  await waitFor('every event', () => pids().length >= 1000);
  assert.deepEqual(pids(), all);
  assert.ok(raw.length >= 3 && raw.every((m) => m.value.length <= 8192), `${raw.length} records`);
  assert.equal(collector.state, 'ready');
});
