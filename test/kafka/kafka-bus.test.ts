// KafkaBus against a real Kafka 3.9.1 broker (one per file): the delivery contract of services/common/src/bus.ts as
// services rely on it. Without java or the jars the suite skips locally and fails under CI=true.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaBus, PalisadeError, type Consumer, type IncomingMessage } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { kafkaUnavailableReason, startKafka, type RunningKafka } from './broker.js';

const unavailable = kafkaUnavailableReason();
const skip = skipUnless(unavailable === undefined, `needs Kafka: ${unavailable ?? ''}`);

let seq = 0;
const unique = (what: string): string => `test.${what}.${process.pid}.${++seq}`;

const record = (key: string | null, value: string, headers?: Record<string, string>) => ({
  key,
  value: Buffer.from(value),
  ...(headers === undefined ? {} : { headers }),
});

describe('KafkaBus on a real broker', { skip }, () => {
  let kafka: RunningKafka;
  let bus: KafkaBus;
  let admin: ReturnType<Kafka['admin']>;

  before(async () => {
    kafka = await startKafka();
    bus = new KafkaBus({ brokers: kafka.brokers, clientId: 'kafka-bus-test', handlerRetry: { initialMs: 50, maxMs: 200 }, fetchMaxWaitMs: 250 });
    await bus.connect();
    admin = new Kafka({ brokers: kafka.brokers, clientId: 'kafka-bus-test-admin', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });

  after(async () => {
    await admin?.disconnect();
    await bus?.close();
    await kafka?.stop();
  });

  /** The group's committed offset per partition (-1: nothing committed). */
  async function committed(groupId: string, topic: string): Promise<Map<number, string>> {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
  }

  async function highWatermarks(topic: string): Promise<Map<number, string>> {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
  }

  it('ensureTopics creates missing topics with the default partition count and tolerates existing ones', async () => {
    const a = unique('ensure');
    const b = unique('ensure');
    await bus.ensureTopics([{ topic: a }, { topic: b, partitions: 1 }]);
    await bus.ensureTopics([{ topic: a }, { topic: b, partitions: 5 }]);
    const meta = await admin.fetchTopicMetadata({ topics: [a, b] });
    const counts = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
    assert.deepEqual(counts, new Map([[a, 3], [b, 1]]));
  });

  it('round-trips records with keys, values and headers', async () => {
    const topic = unique('roundtrip');
    await bus.ensureTopics([{ topic }]);
    const got: IncomingMessage[] = [];
    const consumer = await bus.consume({ groupId: unique('g'), topics: [topic], handler: async (b) => void got.push(...b) });
    const sentAt = Date.now();
    await bus.producer().send(topic, [
      record('pod-a', 'one', { 'content-type': 'application/x-protobuf', trace: 't1' }),
      record(null, 'two'),
      { key: Buffer.from([0, 1, 2]), value: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
    ]);
    await waitFor('3 records', () => got.length >= 3);
    await consumer.stop();

    const byValue = new Map(got.map((m) => [m.value.toString('hex'), m]));
    const one = byValue.get(Buffer.from('one').toString('hex'));
    assert.ok(one);
    assert.equal(one.topic, topic);
    assert.deepEqual(one.key, Buffer.from('pod-a'));
    assert.deepEqual(one.headers, { 'content-type': 'application/x-protobuf', trace: 't1' });
    assert.match(one.offset, /^\d+$/);
    assert.ok(Math.abs(Number(one.timestamp) - sentAt) < 60_000, `timestamp ${one.timestamp} is near ${sentAt}`);
    const two = byValue.get(Buffer.from('two').toString('hex'));
    assert.equal(two?.key, null);
    assert.deepEqual(two?.headers, {});
    const bin = byValue.get('deadbeef');
    assert.deepEqual(bin?.key, Buffer.from([0, 1, 2]));
    assert.ok(Buffer.isBuffer(bin?.value));
    assert.equal(got.length, 3);
  });

  it('keeps records with the same key in order, on one partition', async () => {
    const topic = unique('order');
    await bus.ensureTopics([{ topic, partitions: 3 }]);
    const keys = ['pod-a', 'pod-b', 'pod-c', 'pod-d', 'pod-e'];
    const perKey = 40;
    const got: IncomingMessage[] = [];
    const consumer = await bus.consume({ groupId: unique('g'), topics: [topic], handler: async (b) => void got.push(...b) });
    const producer = bus.producer();
    // Several sends, each interleaving all keys, so order within a key spans sends and batches.
    for (let round = 0; round < 4; round++) {
      const messages = [];
      for (let i = round * 10; i < (round + 1) * 10; i++) for (const k of keys) messages.push(record(k, `${k}:${i}`));
      await producer.send(topic, messages);
    }
    await waitFor('all records', () => got.length >= keys.length * perKey);
    await consumer.stop();

    assert.equal(got.length, keys.length * perKey);
    const partitionsUsed = new Set<number>();
    for (const k of keys) {
      const mine = got.filter((m) => m.key?.toString() === k);
      assert.deepEqual(mine.map((m) => m.value.toString()), Array.from({ length: perKey }, (_, i) => `${k}:${i}`));
      assert.equal(new Set(mine.map((m) => m.partition)).size, 1, `${k} stayed on one partition`);
      partitionsUsed.add(mine[0]?.partition ?? -1);
    }
    assert.ok(partitionsUsed.size > 1, 'keys spread over partitions');
  });

  it('redelivers a batch whose handler threw a retriable error, commits only after it succeeds, loses nothing', async () => {
    const topic = unique('retry');
    const groupId = unique('g');
    await bus.ensureTopics([{ topic, partitions: 1 }]);
    await bus.producer().send(topic, Array.from({ length: 20 }, (_, i) => record(null, `r${i}`)));

    const deliveries: string[][] = [];
    const committedAtRetry: Array<string | undefined> = [];
    let failed = false;
    const consumer = await bus.consume({
      groupId,
      topics: [topic],
      handler: async (batch) => {
        deliveries.push(batch.map((m) => m.offset));
        if (!failed) {
          failed = true;
          throw new PalisadeError('BUS_UNAVAILABLE', 'downstream is down', { retriable: true });
        }
        if (deliveries.length === 2) committedAtRetry.push((await committed(groupId, topic)).get(0));
      },
    });
    await waitFor('20 offsets processed', () => new Set(deliveries.slice(1).flat()).size >= 20);
    await consumer.stop();

    assert.ok(deliveries.length >= 2);
    assert.deepEqual(deliveries[1], deliveries[0], 'the same records are handed over again');
    assert.equal(committedAtRetry[0], '-1', 'nothing was committed while the batch was failing');
    assert.deepEqual(
      [...new Set(deliveries.flat())].map(Number).sort((x, y) => x - y),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal((await committed(groupId, topic)).get(0), '20');
  });

  it('stop() drains the in-flight batch and commits it; the next consumer of the group resumes after it', async () => {
    const topic = unique('resume');
    const groupId = unique('g');
    await bus.ensureTopics([{ topic, partitions: 1 }]);
    await bus.producer().send(topic, Array.from({ length: 10 }, (_, i) => record(null, `a${i}`)));

    const first: string[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let inHandler = false;
    const c1 = await bus.consume({
      groupId,
      topics: [topic],
      handler: async (batch) => {
        inHandler = true;
        await released;
        first.push(...batch.map((m) => m.value.toString()));
      },
    });
    await waitFor('the handler to start', () => inHandler);
    const stopped = c1.stop();
    let stopDone = false;
    void stopped.then(() => (stopDone = true));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(stopDone, false, 'stop() waits for the in-flight batch');
    release();
    await stopped;
    assert.deepEqual(first, Array.from({ length: 10 }, (_, i) => `a${i}`));
    assert.equal((await committed(groupId, topic)).get(0), '10');

    await bus.producer().send(topic, Array.from({ length: 5 }, (_, i) => record(null, `b${i}`)));
    const second: string[] = [];
    const c2 = await bus.consume({
      groupId,
      topics: [topic],
      handler: async (batch) => void second.push(...batch.map((m) => m.value.toString())),
    });
    await waitFor('5 new records', () => second.length >= 5);
    await new Promise((r) => setTimeout(r, 300));
    await c2.stop();
    assert.deepEqual(second, ['b0', 'b1', 'b2', 'b3', 'b4'], 'no committed record is delivered twice');
  });

  it('a non-retriable handler error reports onFatal once, stops the consumer and leaves the batch uncommitted', async () => {
    const topic = unique('fatal');
    const groupId = unique('g');
    await bus.ensureTopics([{ topic, partitions: 1 }]);
    await bus.producer().send(topic, [record(null, 'poison'), record(null, 'next')]);

    const fatal: unknown[] = [];
    let calls = 0;
    const consumer = await bus.consume({
      groupId,
      topics: [topic],
      handler: async () => {
        calls++;
        throw new PalisadeError('DECODE_FAILED', 'bad record');
      },
      onFatal: (err) => fatal.push(err),
    });
    await waitFor('onFatal', () => fatal.length > 0);
    await consumer.stop();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fatal.length, 1);
    assert.equal((fatal[0] as PalisadeError).code, 'DECODE_FAILED');
    assert.equal(calls, 1, 'no batch is handled after the fatal error');
    assert.equal((await committed(groupId, topic)).get(0), '-1');

    const again: string[] = [];
    const c2 = await bus.consume({
      groupId,
      topics: [topic],
      handler: async (b) => void again.push(...b.map((m) => m.value.toString())),
    });
    await waitFor('redelivery to the next consumer', () => again.length >= 2);
    await c2.stop();
    assert.deepEqual(again, ['poison', 'next']);
  });

  it('stop() and close() are idempotent', async () => {
    const topic = unique('idem');
    const own = new KafkaBus({ brokers: kafka.brokers, clientId: 'kafka-bus-test-idem', fetchMaxWaitMs: 250 });
    await own.ensureTopics([{ topic }]);
    const consumer: Consumer = await own.consume({ groupId: unique('g'), topics: [topic], handler: async () => undefined });
    await Promise.all([consumer.stop(), consumer.stop()]);
    await consumer.stop();
    await Promise.all([own.close(), own.close()]);
    await own.close();
    await assert.rejects(own.producer().send(topic, [record(null, 'late')]), { code: 'BUS_UNAVAILABLE', retriable: false });
  });

  it('close() stops the consumers it started', async () => {
    const topic = unique('close');
    const groupId = unique('g');
    const own = new KafkaBus({ brokers: kafka.brokers, clientId: 'kafka-bus-test-close', fetchMaxWaitMs: 250 });
    await own.ensureTopics([{ topic, partitions: 1 }]);
    const got: string[] = [];
    await own.consume({ groupId, topics: [topic], handler: async (b) => void got.push(...b.map((m) => m.offset)) });
    await own.producer().send(topic, [record(null, 'x')]);
    await waitFor('the record', () => got.length === 1);
    await own.close();
    assert.equal((await committed(groupId, topic)).get(0), '1');
    const groups = await admin.describeGroups([groupId]);
    assert.equal(groups.groups[0]?.members.length, 0, 'the consumer left its group');
  });
});
