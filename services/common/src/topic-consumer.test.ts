import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS, type IncomingMessage } from './bus.js';
import { PalisadeError, errorCode } from './errors.js';
import { silentLogger } from './logger.js';
import { MemoryBus } from './memory-bus.js';
import { Metrics } from './metrics.js';
import { pb } from './proto.js';
import { consumeTopic, decodeOrThrow, type Decoded } from './topic-consumer.js';
import { waitFor } from './testing.js';

const SRC = 'palisade.test.source';

async function counterValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const json = await metrics.registry.getMetricsAsJSON();
  const m = json.find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

/** A stage that reads numbers as text: "bad..." records do not decode. */
async function setup(t: TestContext, handle?: (records: Decoded<number>[]) => Promise<void>) {
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const metrics = new Metrics();
  const handled: Decoded<number>[][] = [];
  const fatal: unknown[] = [];
  const consumer = await consumeTopic<number>({
    stage: 'teststage', groupId: 'test', topic: SRC, bus, producer: bus.producer(), metrics, logger: silentLogger,
    decode: (buf) => decodeOrThrow('number', () => {
      const n = Number(buf.toString());
      if (!Number.isFinite(n)) throw new Error(`"${buf.toString()}" is not a number`);
      return n;
    }),
    handle: handle ?? (async (records) => { handled.push(records); }),
    onFatal: (err) => { fatal.push(err); },
  });
  const dead: IncomingMessage[] = [];
  await bus.consume({ groupId: 'dl-reader', topics: [TOPICS.deadLetter], handler: async (b) => { dead.push(...b); } });
  return { bus, metrics, handled, fatal, consumer, dead };
}

test('a malformed record goes to the dead-letter topic with its reason; the good records of its batch are handled', async (t) => {
  const { bus, metrics, handled, dead } = await setup(t);
  await bus.producer().send(SRC, [
    { key: 'k', value: Buffer.from('1') },
    { key: 'k', value: Buffer.from('bad') },
    { key: 'k', value: Buffer.from('3') },
  ]);
  await waitFor('the dead letter', () => dead.length === 1);
  await waitFor('the good records', () => handled.flat().length === 2);

  assert.deepEqual(handled.flat().map((d) => [d.value, d.msg.offset]), [[1, '0'], [3, '2']]);
  const dl = pb.DeadLetter.decode(dead[0]?.value ?? Buffer.alloc(0));
  assert.equal(dl.sourceTopic, SRC);
  assert.equal(dl.partition, 0);
  assert.equal(dl.offset, '1');
  assert.equal(Buffer.from(dl.key).toString(), 'k');
  assert.equal(Buffer.from(dl.value).toString(), 'bad', 'the original bytes are kept for replay');
  assert.equal(dl.stage, 'teststage');
  assert.match(dl.reason, /not a valid number: "bad" is not a number/);
  assert.ok(Number(dl.timeUnixNano) > 0);
  assert.equal(dead[0]?.key?.toString(), SRC, 'dead letters are keyed by their source topic');
  assert.equal(dead[0]?.headers['palisade-schema'], 'palisade.v1.DeadLetter');

  assert.equal(await counterValue(metrics, 'palisade_records_invalid_total', { stage: 'teststage', topic: SRC }), 1);
  assert.equal(await counterValue(metrics, 'palisade_records_consumed_total', { stage: 'teststage', topic: SRC }), 3);
});

test('a batch of only malformed records is dead-lettered and committed; the stage keeps going', async (t) => {
  const { bus, metrics, handled, dead, fatal } = await setup(t);
  await bus.producer().send(SRC, [{ key: null, value: Buffer.from('x') }, { key: null, value: Buffer.from('y') }]);
  await waitFor('two dead letters', () => dead.length === 2);
  await bus.producer().send(SRC, [{ key: null, value: Buffer.from('7') }]);
  await waitFor('the next good record', () => handled.length > 0);
  assert.deepEqual(handled.flat().map((d) => d.value), [7], 'the handler is never called with an empty batch');
  assert.deepEqual(dead.map((m) => pb.DeadLetter.decode(m.value).offset), ['0', '1']);
  assert.equal(dead.length, 2, 'the dead-lettered batch was committed, not redelivered');
  assert.equal(fatal.length, 0);
  assert.equal(await counterValue(metrics, 'palisade_records_invalid_total', { stage: 'teststage', topic: SRC }), 2);
});

test('a handler\'s fatal error reaches onFatal', async (t) => {
  const { bus, fatal } = await setup(t, async () => { throw new PalisadeError('INTERNAL', 'broken'); });
  await bus.producer().send(SRC, [{ key: null, value: Buffer.from('1') }]);
  await waitFor('onFatal', () => fatal.length === 1);
  assert.equal(errorCode(fatal[0]), 'INTERNAL');
});

test('decodeOrThrow turns any decode failure into DECODE_FAILED with the cause', () => {
  const cause = new Error('index out of range');
  assert.throws(() => decodeOrThrow('palisade.v1.Alert', () => { throw cause; }), (err: unknown) => {
    assert.equal(errorCode(err), 'DECODE_FAILED');
    assert.equal((err as Error).message, 'not a valid palisade.v1.Alert: index out of range');
    assert.equal((err as Error).cause, cause);
    return true;
  });
  assert.equal(decodeOrThrow('x', () => 5), 5);
});

test('a bad record near the size limit and a burst of 6,000 bad records are dead-lettered bounded; the stage goes on', async (t) => {
  const max = 64 * 1024;
  const bus = new MemoryBus({ partitions: 1, maxMessageBytes: max, maxBatch: 10_000 });
  t.after(() => bus.close());
  const metrics = new Metrics();
  const handled: number[] = [];
  const fatal: unknown[] = [];
  await consumeTopic<number>({
    stage: 'teststage', groupId: 'test', topic: SRC, bus, producer: bus.producer(), metrics, logger: silentLogger,
    decode: (buf) => decodeOrThrow('number', () => {
      const n = Number(buf.toString());
      if (!Number.isFinite(n)) throw new Error('not a number');
      return n;
    }),
    handle: async (records) => { handled.push(...records.map((r) => r.value)); },
    onFatal: (err) => { fatal.push(err); },
  });
  const dead: IncomingMessage[] = [];
  await bus.consume({ groupId: 'dl-reader', topics: [TOPICS.deadLetter], handler: async (b) => { dead.push(...b); } });
  // 200 B under the limit: its dead letter, were it a copy, would be over it.
  await bus.producer().send(SRC, [{ key: 'k', value: Buffer.alloc(max - 200 - 40, 'x') }]);
  await bus.producer().send(SRC, Array.from({ length: 6000 }, () => ({ key: 'k', value: Buffer.alloc(100, 'y') })));
  await bus.producer().send(SRC, [{ key: 'k', value: Buffer.from('42') }]);
  await waitFor('the good record after them', () => handled.includes(42));
  await waitFor('every dead letter', () => dead.length === 6001);
  assert.equal(fatal.length, 0);
  const first = pb.DeadLetter.decode(dead[0]?.value ?? Buffer.alloc(0));
  assert.equal(Number(first.valueLength), max - 240);
  assert.equal(first.value.length, 4096);
  assert.equal(await counterValue(metrics, 'palisade_deadletters_total', { stage: 'teststage', cause: 'invalid' }), 6001);
});
