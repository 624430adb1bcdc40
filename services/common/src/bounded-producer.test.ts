import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedProducer } from './bounded-producer.js';
import { TOPICS, recordBytes, type IncomingMessage, type OutgoingMessage, type Producer } from './bus.js';
import { PalisadeError, errorCode } from './errors.js';
import { silentLogger } from './logger.js';
import { MemoryBus } from './memory-bus.js';
import { Metrics } from './metrics.js';
import { pb, type palisade } from './proto.js';
import { waitFor } from './testing.js';

const MAX = 64 * 1024;
const LABELS = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`label-${i}`, 'x'.repeat(10)]));

async function counterValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const json = await metrics.registry.getMetricsAsJSON();
  const v = json.find((x) => x.name === name)?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

function opens(n: number, pathBytes = 12): palisade.v1.IEnrichedEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, node: 'n1',
    pod: { uid: 'pod-1', name: 'web', namespace: 'shop', labels: LABELS },
    event: { kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: { pid: i }, fileOpen: { path: `/${'h'.repeat(pathBytes)}` } },
  }));
}

const part = (evs: palisade.v1.IEnrichedEvent[]) => ({
  key: 'pod-1', headers: { 'palisade-schema': 'palisade.v1.EnrichedEventBatch' }, items: evs,
  encode: (items: palisade.v1.IEnrichedEvent[]) => pb.EnrichedEventBatch.encode({ events: items, node: 'n1' }).finish(),
  encodeItem: (e: palisade.v1.IEnrichedEvent) => pb.EnrichedEvent.encode(e).finish(),
});

async function setup(t: TestContext) {
  const bus = new MemoryBus({ partitions: 1, maxMessageBytes: MAX, maxBatch: 10_000 });
  t.after(() => bus.close());
  const metrics = new Metrics();
  const out = await BoundedProducer.create({ bus, stage: 'enricher', metrics, logger: silentLogger, topics: [TOPICS.enriched, TOPICS.alerts] });
  const read = (topic: string): IncomingMessage[] => {
    const got: IncomingMessage[] = [];
    void bus.consume({ groupId: `r-${topic}`, topics: [topic], handler: async (b) => { got.push(...b); } });
    return got;
  };
  return { bus, metrics, out, read };
}

test('the memory bus refuses a record over its max message size, as a broker does', async (t) => {
  const bus = new MemoryBus({ maxMessageBytes: 1000 });
  t.after(() => bus.close());
  assert.equal(await bus.maxMessageBytes(TOPICS.raw), 1000);
  await assert.rejects(bus.producer().send(TOPICS.raw, [{ key: 'k', value: Buffer.alloc(1000) }]),
    (err: unknown) => errorCode(err) === 'BUS_MESSAGE_TOO_LARGE' && !(err as PalisadeError).retriable);
  await bus.producer().send(TOPICS.raw, [{ key: 'k', value: Buffer.alloc(900) }]);
});

test('a batch whose encoding exceeds the limit is published whole, split into records under it, in order', async (t) => {
  const { out, read, metrics } = await setup(t);
  const got = read(TOPICS.enriched);
  const evs = opens(1024);
  await out.sendSplit(TOPICS.enriched, [part(evs)]);
  await waitFor('every event', () => got.reduce((n, m) => n + pb.EnrichedEventBatch.decode(m.value).events.length, 0) === 1024);
  assert.ok(got.length > 1);
  for (const m of got) assert.equal(m.key?.toString(), 'pod-1');
  assert.deepEqual(got.flatMap((m) => pb.EnrichedEventBatch.decode(m.value).events.map((e) => e.event?.process?.pid)), evs.map((_, i) => i));
  assert.equal(await counterValue(metrics, 'palisade_output_batches_split_total', { stage: 'enricher', topic: TOPICS.enriched }), 1);
  assert.equal(await counterValue(metrics, 'palisade_output_split_records_total', { stage: 'enricher', topic: TOPICS.enriched }), got.length);
});

test('one event larger than the limit alone is dead-lettered (bounded, with the reason) and counted; the rest goes on', async (t) => {
  const { out, read, metrics } = await setup(t);
  const got = read(TOPICS.enriched);
  const dead = read(TOPICS.deadLetter);
  const big = opens(1, 100 * 1024);
  out.setSource(`${TOPICS.raw}/1@40..52`);
  await out.sendSplit(TOPICS.enriched, [part([...opens(2), ...big, ...opens(2)])]);
  await waitFor('the dead letter', () => dead.length === 1);
  await waitFor('the other events', () => got.reduce((n, m) => n + pb.EnrichedEventBatch.decode(m.value).events.length, 0) === 4);
  const dl = pb.DeadLetter.decode(dead[0]?.value ?? Buffer.alloc(0));
  assert.equal(dl.cause, pb.DeadLetterCause.DEAD_LETTER_CAUSE_OVERSIZE);
  assert.equal(dl.sourceTopic, TOPICS.enriched);
  assert.equal(dl.partition, -1);
  assert.equal(Number(dl.valueLength), pb.EnrichedEvent.encode(big[0] ?? {}).finish().length);
  assert.ok(dl.valueTruncated && dl.value.length === 4096);
  assert.match(dl.reason, /one event encodes to \d+ bytes; a record on palisade.events.enriched may have \d+; from palisade.events.raw\/1@40..52$/);
  assert.equal(await counterValue(metrics, 'palisade_output_oversize_total', { stage: 'enricher', topic: TOPICS.enriched }), 1);
});

class RecordingProducer implements Producer {
  sends: OutgoingMessage[][] = [];
  constructor(private readonly refuseAbove = Infinity) {}
  async send(_topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length > this.refuseAbove) throw new PalisadeError('BUS_MESSAGE_TOO_LARGE', 'too large');
    this.sends.push(messages);
  }
}

test('a backlog of 20,000 alerts goes out in sends bounded by bytes, every alert once, in order', async (t) => {
  const bus = new MemoryBus({ maxMessageBytes: MAX });
  t.after(() => bus.close());
  const producer = new RecordingProducer();
  const out = await BoundedProducer.create({ bus, producer, stage: 'evaluator', metrics: new Metrics(), logger: silentLogger, topics: [TOPICS.alerts] });
  const alerts = Array.from({ length: 20_000 }, (_, i) => ({
    key: `pod-${i % 7}`, value: pb.Alert.encode({ id: `a-${i}`, ruleId: 'PAL-001', message: 'm'.repeat(200) }).finish(),
  }));
  await out.send(TOPICS.alerts, alerts);
  assert.ok(producer.sends.length > 50);
  for (const s of producer.sends) assert.ok(s.reduce((n, m) => n + recordBytes(m), 0) <= MAX - 1024);
  assert.deepEqual(producer.sends.flat().map((m) => pb.Alert.decode(m.value).id), alerts.map((_, i) => `a-${i}`));
});

test('a send the broker still refuses as too large is halved, down to single records', async (t) => {
  const bus = new MemoryBus({ maxMessageBytes: MAX });
  t.after(() => bus.close());
  const producer = new RecordingProducer(3);
  const out = await BoundedProducer.create({ bus, producer, stage: 'responder', metrics: new Metrics(), logger: silentLogger, topics: [TOPICS.actions] });
  await out.send(TOPICS.actions, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: Buffer.from(String(i)) })));
  assert.ok(producer.sends.every((s) => s.length <= 3));
  assert.deepEqual(producer.sends.flat().map((m) => m.value.toString()), Array.from({ length: 10 }, (_, i) => String(i)));
});
