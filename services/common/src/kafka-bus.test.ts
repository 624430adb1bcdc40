// KafkaBus over a scripted KafkaLike: the paths a real broker makes slow or hard to reach (send failures, crashes,
// stop during a retry backoff) and exactly what KafkaBus asks of the client. The same contract against a real broker
// is in test/kafka/kafka-bus.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logLevel } from 'kafkajs';
import { PalisadeError } from './errors.js';
import { waitFor } from './testing.js';
import { TOPICS, type IncomingMessage } from './bus.js';
import { topicConfigs } from './common-config.js';
import {
  KafkaBus,
  kafkaLogCreator,
  toIncoming,
  type KafkaBusLogger,
  type KafkaLike,
  type KafkaLikeAdmin,
  type KafkaLikeConsumer,
  type KafkaLikeConsumerConfig,
  type KafkaLikeEachBatchPayload,
  type KafkaLikeMessage,
  type KafkaLikeOffsets,
  type KafkaLikeProducer,
  type KafkaLikeProducerConfig,
  type KafkaLikeRecord,
} from './kafka-bus.js';

type RunConfig = Parameters<KafkaLikeConsumer['run']>[0];
type CrashListener = Parameters<KafkaLikeConsumer['on']>[1];

class FakeProducer implements KafkaLikeProducer {
  sent: Array<{ topic: string; messages: KafkaLikeRecord[]; acks?: number }> = [];
  sendError: unknown;
  connectError: unknown;
  connects = 0;
  disconnects = 0;
  async connect(): Promise<void> {
    this.connects++;
    if (this.connectError !== undefined) throw this.connectError;
  }
  async disconnect(): Promise<void> {
    this.disconnects++;
  }
  async send(record: { topic: string; messages: KafkaLikeRecord[]; acks?: number }): Promise<unknown> {
    if (this.sendError !== undefined) throw this.sendError;
    this.sent.push(record);
    return [];
  }
}

/** Records what KafkaBus does with one eachBatch call, in order. */
class FakeBatchPayload implements KafkaLikeEachBatchPayload {
  events: string[] = [];
  running = true;
  constructor(readonly batch: KafkaLikeEachBatchPayload['batch']) {}
  resolveOffset(offset: string): void {
    this.events.push(`resolve ${offset}`);
  }
  async heartbeat(): Promise<void> {}
  async commitOffsetsIfNecessary(offsets?: KafkaLikeOffsets): Promise<void> {
    const p = offsets?.topics[0]?.partitions[0];
    this.events.push(offsets === undefined ? 'commit (none)' : `commit ${offsets.topics[0]?.topic}/${p?.partition}@${p?.offset}`);
  }
  isRunning(): boolean {
    return this.running;
  }
  isStale(): boolean {
    return false;
  }
}

class FakeConsumer implements KafkaLikeConsumer {
  runConfig: RunConfig | undefined;
  subscription: { topics: string[]; fromBeginning?: boolean } | undefined;
  crash: CrashListener | undefined;
  disconnects = 0;
  private inFlight: Promise<void> = Promise.resolve();
  constructor(readonly config: KafkaLikeConsumerConfig) {}
  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {
    // Like kafkajs: stop() waits for the batch being processed.
    this.disconnects++;
    await this.inFlight;
  }
  async subscribe(s: { topics: string[]; fromBeginning?: boolean }): Promise<void> {
    this.subscription = s;
  }
  async run(config: RunConfig): Promise<void> {
    this.runConfig = config;
  }
  on(_event: 'consumer.crash', listener: CrashListener): unknown {
    this.crash = listener;
    return undefined;
  }
  /** Hands one batch to KafkaBus' eachBatch, as kafkajs' runner would. */
  deliver(topic: string, partition: number, offsets: number[]): { payload: FakeBatchPayload; done: Promise<void> } {
    const messages: KafkaLikeMessage[] = offsets.map((o) => ({
      key: null,
      value: Buffer.from(`v${o}`),
      offset: String(o),
      timestamp: '1700000000000',
      headers: {},
    }));
    const payload = new FakeBatchPayload({
      topic,
      partition,
      messages,
      lastOffset: () => String(offsets[offsets.length - 1]),
    });
    const eachBatch = this.runConfig?.eachBatch;
    assert.ok(eachBatch, 'run() was called with eachBatch');
    const done = eachBatch(payload);
    this.inFlight = done.catch(() => undefined);
    return { payload, done };
  }
}

class FakeAdmin implements KafkaLikeAdmin {
  topics = new Set<string>();
  created: Array<{ topic: string; numPartitions?: number; configEntries?: Array<{ name: string; value: string }> }> = [];
  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
  async listTopics(): Promise<string[]> {
    return [...this.topics];
  }
  async createTopics(o: { topics: Array<{ topic: string; numPartitions?: number; configEntries?: Array<{ name: string; value: string }> }> }): Promise<boolean> {
    this.created.push(...o.topics);
    for (const t of o.topics) this.topics.add(t.topic);
    return true;
  }
  async fetchTopicMetadata(o: { topics: string[] }): Promise<{
    topics: Array<{ name: string; partitions: Array<{ partitionId: number; leader: number }> }>;
  }> {
    return { topics: o.topics.filter((t) => this.topics.has(t)).map((name) => ({ name, partitions: [{ partitionId: 0, leader: 1 }] })) };
  }
}

class FakeKafka implements KafkaLike {
  producerConfig: KafkaLikeProducerConfig | undefined;
  readonly prod = new FakeProducer();
  readonly adm = new FakeAdmin();
  readonly consumers: FakeConsumer[] = [];
  producer(config?: KafkaLikeProducerConfig): KafkaLikeProducer {
    this.producerConfig = config;
    return this.prod;
  }
  consumer(config: KafkaLikeConsumerConfig): KafkaLikeConsumer {
    const c = new FakeConsumer(config);
    this.consumers.push(c);
    return c;
  }
  admin(): KafkaLikeAdmin {
    return this.adm;
  }
}

const quiet: KafkaBusLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function setup(): { fake: FakeKafka; bus: KafkaBus } {
  const fake = new FakeKafka();
  const bus = new KafkaBus({
    brokers: ['unused:9092'],
    clientId: 'test',
    client: fake,
    logger: quiet,
    handlerRetry: { initialMs: 5, maxMs: 20 },
  });
  return { fake, bus };
}

async function consumeWith(
  bus: KafkaBus,
  fake: FakeKafka,
  handler: (b: IncomingMessage[]) => Promise<void>,
  onFatal?: (err: unknown) => void,
) {
  const consumer = await bus.consume({ groupId: 'g', topics: ['t'], handler, ...(onFatal ? { onFatal } : {}) });
  const fc = fake.consumers.at(-1);
  assert.ok(fc);
  return { consumer, fc };
}

describe('KafkaBus producer', () => {
  it('asks for an idempotent producer with acks from all replicas and an explicit partitioner', async () => {
    const { fake, bus } = setup();
    assert.equal(fake.producerConfig?.idempotent, true);
    assert.ok((fake.producerConfig?.maxInFlightRequests ?? 99) <= 5);
    assert.equal(typeof fake.producerConfig?.createPartitioner, 'function');
    assert.equal(fake.producerConfig?.allowAutoTopicCreation, false);
    await bus.producer().send('t', [{ key: 'k', value: new Uint8Array([1, 2, 3]), headers: { h: 'v' } }]);
    assert.equal(fake.prod.sent[0]?.acks, -1);
    const m = fake.prod.sent[0]?.messages[0];
    assert.ok(Buffer.isBuffer(m?.value));
    assert.deepEqual(m, { key: 'k', value: Buffer.from([1, 2, 3]), headers: { h: 'v' } });
  });

  it('maps send failures to BUS_SEND_FAILED, retriable when kafkajs says so or its retries ran out', async () => {
    const { fake, bus } = setup();
    const exhausted = Object.assign(new Error('retries exceeded'), {
      name: 'KafkaJSNumberOfRetriesExceeded',
      retriable: false,
      cause: Object.assign(new Error('leader not available'), { retriable: true }),
    });
    fake.prod.sendError = exhausted;
    await assert.rejects(bus.producer().send('t', [{ key: null, value: Buffer.from('x') }]), (err: PalisadeError) => {
      assert.equal(err.code, 'BUS_SEND_FAILED');
      assert.equal(err.retriable, true);
      assert.equal(err.cause, exhausted);
      return true;
    });
    fake.prod.sendError = Object.assign(new Error('message too large'), { name: 'KafkaJSProtocolError', retriable: false });
    await assert.rejects(bus.producer().send('t', [{ key: null, value: Buffer.from('x') }]), {
      code: 'BUS_SEND_FAILED',
      retriable: false,
    });
  });

  it('reports a failed connect as a retriable BUS_UNAVAILABLE and tries again on the next call', async () => {
    const { fake, bus } = setup();
    fake.prod.connectError = Object.assign(new Error('ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true });
    await assert.rejects(bus.connect(), { code: 'BUS_UNAVAILABLE', retriable: true });
    fake.prod.connectError = undefined;
    await bus.producer().send('t', [{ key: null, value: Buffer.from('x') }]);
    assert.equal(fake.prod.connects, 2);
    assert.equal(fake.prod.sent.length, 1);
  });
});

describe('KafkaBus.ensureTopics', () => {
  it('creates only the missing topics, with the default partition count unless given', async () => {
    const { fake, bus } = setup();
    fake.adm.topics.add('exists');
    await bus.ensureTopics([{ topic: 'exists' }, { topic: 'a' }, { topic: 'b', partitions: 6 }]);
    assert.deepEqual(fake.adm.created, [
      { topic: 'a', numPartitions: 3 },
      { topic: 'b', numPartitions: 6 },
    ]);
  });

  it('creates a topic with its configured configs (the enriched topic\'s retention), and leaves existing topics alone', async () => {
    const fake = new FakeKafka();
    fake.adm.topics.add('palisade.alerts');
    const bus = new KafkaBus({ brokers: ['unused:9092'], clientId: 'test', client: fake, logger: quiet,
      topicConfigs: topicConfigs({ enrichedRetentionMs: 7_200_000 }) });
    await bus.ensureTopics([{ topic: TOPICS.enriched }, { topic: TOPICS.alerts }, { topic: 'x', configs: { 'cleanup.policy': 'compact' } }]);
    assert.deepEqual(fake.adm.created, [
      { topic: TOPICS.enriched, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '7200000' }] },
      { topic: 'x', numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ]);
  });
});

describe('KafkaBus consumer', () => {
  it('runs with autoCommit and auto-resolve off and commits after the handler resolves, last offset + 1', async () => {
    const { fake, bus } = setup();
    let events: string[] = [];
    const { fc } = await consumeWith(bus, fake, async (batch) => {
      events.push(`handler ${batch.map((m) => m.offset).join(',')}`);
    });
    assert.equal(fc.runConfig?.autoCommit, false);
    assert.equal(fc.runConfig?.eachBatchAutoResolve, false);
    assert.deepEqual(fc.subscription, { topics: ['t'], fromBeginning: true });
    assert.equal(fc.config.groupId, 'g');
    const { payload, done } = fc.deliver('t', 2, [7, 8, 9]);
    await done;
    events = [...events, ...payload.events];
    assert.deepEqual(events, ['handler 7,8,9', 'resolve 9', 'commit t/2@10']);
  });

  it('progress() reports a batch in flight as lag and pending time, and the commit as caught up', async () => {
    const { fake, bus } = setup();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => { release = r; });
    const { consumer, fc } = await consumeWith(bus, fake, async () => { await gate; });
    const { done } = fc.deliver('t', 1, [40, 41, 42]);
    await waitFor('the batch pending', () => consumer.progress?.()[0]?.pendingMs !== undefined);
    const pending = consumer.progress?.()[0];
    assert.equal(pending?.lag, 3, 'no highWatermark from this client: the end is lastOffset() + 1');
    assert.equal(pending?.committed, undefined);
    release();
    await done;
    const after = consumer.progress?.()[0];
    assert.deepEqual([after?.committed, after?.lag, after?.pendingMs], [43, 0, undefined]);
  });

  it('hands the same batch again after a retriable error and commits once, after the success', async () => {
    const { fake, bus } = setup();
    const seen: string[] = [];
    let fail = 2;
    const { fc } = await consumeWith(bus, fake, async (batch) => {
      seen.push(batch.map((m) => m.offset).join(','));
      if (fail-- > 0) throw new PalisadeError('BUS_UNAVAILABLE', 'later', { retriable: true });
    });
    const { payload, done } = fc.deliver('t', 0, [0, 1]);
    await done;
    assert.deepEqual(seen, ['0,1', '0,1', '0,1']);
    assert.deepEqual(payload.events, ['resolve 1', 'commit t/0@2']);
  });

  it('on a non-retriable error reports onFatal once, commits nothing, stops, and skips later batches', async () => {
    const { fake, bus } = setup();
    const fatal: unknown[] = [];
    let calls = 0;
    const { fc } = await consumeWith(
      bus,
      fake,
      async () => {
        calls++;
        throw new PalisadeError('DECODE_FAILED', 'bad');
      },
      (err) => fatal.push(err),
    );
    const first = fc.deliver('t', 0, [0]);
    await first.done;
    const second = fc.deliver('t', 1, [5]);
    await second.done;
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 1);
    assert.equal(fatal.length, 1);
    assert.equal((fatal[0] as PalisadeError).code, 'DECODE_FAILED');
    assert.deepEqual(first.payload.events, []);
    assert.deepEqual(second.payload.events, []);
    assert.equal(fc.disconnects, 1);
  });

  it('stop() during a retry backoff returns without committing the failing batch', async () => {
    const fake = new FakeKafka();
    const bus = new KafkaBus({ brokers: [], clientId: 't', client: fake, logger: quiet, handlerRetry: { initialMs: 60_000 } });
    const { consumer, fc } = await consumeWith(bus, fake, async () => {
      throw new PalisadeError('BUS_UNAVAILABLE', 'later', { retriable: true });
    });
    const { payload, done } = fc.deliver('t', 0, [0]);
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    await consumer.stop();
    await done;
    assert.ok(Date.now() - started < 5_000, 'the 60 s backoff was cut short');
    assert.deepEqual(payload.events, []);
  });

  it('stop() waits for the in-flight handler and its commit; it is idempotent', async () => {
    const { fake, bus } = setup();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { consumer, fc } = await consumeWith(bus, fake, () => gate);
    const { payload } = fc.deliver('t', 0, [3]);
    let stopped = false;
    const stopping = Promise.all([consumer.stop(), consumer.stop()]).then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(stopped, false);
    release();
    await stopping;
    assert.deepEqual(payload.events, ['resolve 3', 'commit t/0@4']);
    await consumer.stop();
    assert.equal(fc.disconnects, 1);
  });

  it('a crash kafkajs does not restart from is fatal; one it restarts from is not', async () => {
    const { fake, bus } = setup();
    const fatal: unknown[] = [];
    const { fc } = await consumeWith(bus, fake, async () => {}, (err) => fatal.push(err));
    fc.crash?.({ payload: { error: new Error('transient'), restart: true } });
    assert.equal(fatal.length, 0);
    const boom = new Error('auth failed');
    fc.crash?.({ payload: { error: boom, restart: false } });
    fc.crash?.({ payload: { error: boom, restart: false } });
    assert.deepEqual(fatal, [boom]);
  });

  it('close() stops every consumer and disconnects the producer, once', async () => {
    const { fake, bus } = setup();
    const a = await consumeWith(bus, fake, async () => {});
    const b = await consumeWith(bus, fake, async () => {});
    await Promise.all([bus.close(), bus.close()]);
    await bus.close();
    assert.equal(a.fc.disconnects, 1);
    assert.equal(b.fc.disconnects, 1);
    assert.equal(fake.prod.disconnects, 1);
    await assert.rejects(bus.consume({ groupId: 'g', topics: ['t'], handler: async () => {} }), {
      code: 'BUS_UNAVAILABLE',
      retriable: false,
    });
  });
});

describe('toIncoming', () => {
  it('decodes headers to strings (last value of a repeated key) and a null value to an empty buffer', () => {
    const m = toIncoming('t', 1, {
      key: Buffer.from('k'),
      value: null,
      offset: '42',
      timestamp: '1700000000000',
      headers: { a: Buffer.from('x'), b: 'y', c: [Buffer.from('1'), '2'], d: undefined },
    });
    assert.deepEqual(m, {
      topic: 't',
      partition: 1,
      offset: '42',
      key: Buffer.from('k'),
      value: Buffer.alloc(0),
      headers: { a: 'x', b: 'y', c: '2' },
      timestamp: '1700000000000',
    });
  });
});

describe('kafkaLogCreator', () => {
  it('maps kafkajs levels to the logger, with namespace and extra fields; per-attempt response errors are warnings', () => {
    const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
    const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push([level, msg, fields]);
    const log = kafkaLogCreator({ debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') })(logLevel.DEBUG);
    const entry = (level: logLevel, namespace: string, message: string, extra: Record<string, unknown> = {}) =>
      log({ namespace, level, label: '', log: { timestamp: 'now', message, ...extra } });
    entry(logLevel.ERROR, 'Consumer', 'Crash: boom', { groupId: 'g' });
    entry(logLevel.ERROR, 'Connection', 'Response Metadata(key: 3, version: 6)', { error: 'leader not available' });
    entry(logLevel.WARN, 'Producer', 'Limiting retries for the idempotent producer may invalidate EoS guarantees');
    entry(logLevel.INFO, 'Consumer', 'Starting');
    entry(logLevel.DEBUG, 'Runner', 'fetching');
    assert.deepEqual(lines, [
      ['error', 'Crash: boom', { component: 'kafkajs', namespace: 'Consumer', groupId: 'g' }],
      ['warn', 'Response Metadata(key: 3, version: 6)', { component: 'kafkajs', namespace: 'Connection', error: 'leader not available' }],
      ['debug', 'Limiting retries for the idempotent producer may invalidate EoS guarantees', { component: 'kafkajs', namespace: 'Producer' }],
      ['info', 'Starting', { component: 'kafkajs', namespace: 'Consumer' }],
      ['debug', 'fetching', { component: 'kafkajs', namespace: 'Runner' }],
    ]);
  });
});

it('maxMessageBytes: the topic\'s max.message.bytes, else the broker\'s message.max.bytes, else 1 MiB', async () => {
  const { fake, bus } = setup();
  assert.equal(await bus.maxMessageBytes('no-describe'), 1_048_588, 'a client without describeConfigs: Kafka\'s default');

  const asked: Array<{ type: number; name: string }> = [];
  let topicAnswer = { errorCode: 0, configEntries: [{ configName: 'max.message.bytes', configValue: '65536' }] };
  Object.assign(fake.adm, {
    describeCluster: async () => ({ brokers: [{ nodeId: 3 }], controller: 3 }),
    describeConfigs: async (o: { resources: Array<{ type: number; name: string }> }) => {
      const r = o.resources[0] as { type: number; name: string };
      asked.push({ type: r.type, name: r.name });
      if (r.type === 2) return { resources: [topicAnswer] };
      return { resources: [{ errorCode: 0, configEntries: [{ configName: 'message.max.bytes', configValue: '200000' }] }] };
    },
  });
  assert.equal(await bus.maxMessageBytes('small'), 65536);
  assert.equal(await bus.maxMessageBytes('small'), 65536, 'read once per topic');
  assert.equal(asked.length, 1);
  topicAnswer = { errorCode: 3, configEntries: [] }; // UNKNOWN_TOPIC_OR_PARTITION
  assert.equal(await bus.maxMessageBytes('other'), 200000, 'the broker\'s limit when the topic has none to report');
  assert.deepEqual(asked.at(-1), { type: 4, name: '3' });
});
