// ConsumerStage over the in-process bus: a batch the handler cannot process is bisected down to the records at fault,
// retriable failures that outlast their budget move through the retry topic to the dead letters, and notReady()
// reports a stalled consumer and an output that does not get through.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, IncomingMessage, OutgoingMessage, Producer } from './bus.js';
import { TOPICS } from './bus.js';
import { ConsumerStage, RETRY_HEADERS, retryTopic, type StageResilience } from './consumer-stage.js';
import { sha256Hex } from './dead-letter.js';
import { PalisadeError } from './errors.js';
import { silentLogger } from './logger.js';
import { MemoryBus } from './memory-bus.js';
import { Metrics } from './metrics.js';
import { pb, type palisade } from './proto.js';
import { waitFor } from './testing.js';

const SRC = 'palisade.test.stage-in';
const OUT = 'palisade.test.stage-out';

/** Reads numbers as text, hands each batch to `behave`, then publishes every number to OUT. */
class NumberStage extends ConsumerStage<number> {
  readonly processed: number[] = [];
  calls = 0;
  constructor(bus: Bus, metrics: Metrics, private readonly behave: (values: number[]) => Promise<void> | void,
    resilience: Partial<StageResilience> = {}) {
    super({
      name: 'teststage', bus, metrics, logger: silentLogger, groupId: 'test', input: SRC, outputs: [OUT],
      schema: 'number', resilience,
      decode: (buf) => {
        const n = Number(buf.toString());
        if (!Number.isFinite(n)) throw new Error('not a number');
        return n;
      },
    });
  }
  protected async handle(values: number[]): Promise<void> {
    this.calls++;
    await this.behave(values);
    await this.producer.send(OUT, values.map((v) => ({ key: 'k', value: Buffer.from(String(v)) })));
    this.processed.push(...values);
  }
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

async function setup(t: TestContext, behave: (values: number[]) => Promise<void> | void,
  opts: { resilience?: Partial<StageResilience>; records?: number; bus?: Bus; memory?: MemoryBus } = {}) {
  const memory = opts.memory ?? new MemoryBus({ partitions: 1, maxBatch: 1000 });
  t.after(() => memory.close());
  const bus = opts.bus ?? memory;
  const metrics = new Metrics();
  const dead: palisade.v1.DeadLetter[] = [];
  await memory.consume({ groupId: 'dl', topics: [TOPICS.deadLetter], handler: async (b) => {
    dead.push(...b.map((m) => pb.DeadLetter.decode(m.value)));
  } });
  const retried: IncomingMessage[] = [];
  await memory.consume({ groupId: 'retry-reader', topics: [retryTopic('teststage')], handler: async (b) => { retried.push(...b); } });
  // Produced before the stage starts, so they arrive as one batch.
  const n = opts.records ?? 0;
  if (n > 0) await memory.producer().send(SRC, Array.from({ length: n }, (_, i) => ({ key: 'k', value: Buffer.from(String(i)) })));
  const stage = new NumberStage(bus, metrics, behave, opts.resilience);
  const failures: unknown[] = [];
  stage.onFail((e) => failures.push(e));
  await stage.start();
  t.after(() => stage.stop());
  return { bus: memory, metrics, dead, retried, stage, failures };
}

test('a batch of 1000 with one record the handler cannot process: 999 processed, that one dead-lettered', async (t) => {
  const { stage, dead, metrics } = await setup(t, (values) => {
    if (values.includes(537)) throw new PalisadeError('POLICY_EVAL_FAILED', 'the engine cannot evaluate record 537');
  }, { records: 1000 });
  await waitFor('999 processed and one dead letter', () => stage.processed.length === 999 && dead.length === 1);
  assert.deepEqual(stage.processed, Array.from({ length: 1000 }, (_, i) => i).filter((i) => i !== 537), 'in order, once each');
  const d = dead[0] as palisade.v1.DeadLetter;
  assert.equal(d.sourceTopic, SRC);
  assert.equal(d.partition, 0);
  assert.equal(d.offset, '537');
  assert.equal(d.cause, pb.DeadLetterCause.DEAD_LETTER_CAUSE_UNPROCESSABLE);
  assert.equal(Buffer.from(d.valueSha256).toString('hex'), sha256Hex(Buffer.from('537')));
  assert.equal(Buffer.from(d.value).toString(), '537');
  assert.match(d.reason, /POLICY_EVAL_FAILED: the engine cannot evaluate record 537/);
  // Bisection, not one call per record: the failing half is split about log2(1000) = 10 times.
  assert.ok(stage.calls <= 2 * 10 + 1, `${stage.calls} handler calls`);
  assert.equal(stage.state, 'ready');
  await waitFor('the batch committed', () => stage.progress().input[0]?.committed === 1000);
  assert.equal(await counter(metrics, 'palisade_batches_bisected_total', { stage: 'teststage' }), 1);
  assert.equal(await counter(metrics, 'palisade_deadletters_total', { stage: 'teststage', cause: 'unprocessable' }), 1);
});

test('an untyped error (a bug some inputs reach) is bisected too; every failing record is isolated', async (t) => {
  const bad = new Set([3, 40, 41, 99]);
  const { stage, dead } = await setup(t, (values) => {
    const hit = values.find((v) => bad.has(v));
    if (hit !== undefined) throw new TypeError(`cannot read properties of record ${hit}`);
  }, { records: 100 });
  await waitFor('96 processed and 4 dead letters', () => stage.processed.length === 96 && dead.length === 4);
  assert.deepEqual(dead.map((d) => d.offset).sort((a, b) => Number(a) - Number(b)), ['3', '40', '41', '99']);
  assert.equal(stage.state, 'ready');
});

test('a non-retriable transport error is not blamed on a record: the stage fails, nothing is dead-lettered', async (t) => {
  const { stage, dead, failures } = await setup(t, () => {
    throw new PalisadeError('BUS_SEND_FAILED', 'topic authorization failed');
  }, { records: 10 });
  await waitFor('the failure', () => failures.length === 1);
  assert.equal(stage.state, 'failed');
  assert.equal(stage.calls, 1, 'not bisected');
  assert.equal(dead.length, 0);
});

const FAST_RETRY: Partial<StageResilience> = { retryBudgetMs: 150, retryDelayMs: 50, retryAttempts: 2 };

test('a retriable failure that never clears: through the retry topic twice, then dead-lettered with its origin', async (t) => {
  const { stage, dead, retried, metrics, bus } = await setup(t, () => {
    throw new PalisadeError('KUBE_UNAVAILABLE', 'the API server does not answer', { retriable: true });
  }, { records: 5, resilience: FAST_RETRY });
  await waitFor('5 retry-exhausted dead letters', () => dead.length === 5, { timeoutMs: 60_000 });
  await waitFor('the input partition moved on', () => stage.progress().input[0]?.committed === 5);
  for (const [i, d] of [...dead].sort((a, b) => Number(a.offset) - Number(b.offset)).entries()) {
    assert.equal(d.cause, pb.DeadLetterCause.DEAD_LETTER_CAUSE_RETRY_EXHAUSTED);
    assert.equal(d.sourceTopic, SRC, 'the original topic, not the retry topic');
    assert.equal(d.partition, 0);
    assert.equal(d.offset, String(i), 'the original offset');
    assert.equal(Buffer.from(d.value).toString(), String(i));
    assert.match(d.reason, /after 2 trips through palisade\.retry\.teststage: KUBE_UNAVAILABLE/);
  }
  // Each record went through the retry topic twice, keeping its origin, with the attempt counted.
  assert.equal(retried.length, 10);
  for (const r of retried) {
    assert.equal(r.headers[RETRY_HEADERS.topic], SRC);
    assert.equal(r.headers[RETRY_HEADERS.offset], r.value.toString());
    assert.match(r.headers[RETRY_HEADERS.reason] ?? '', /KUBE_UNAVAILABLE/);
  }
  assert.deepEqual(retried.map((r) => r.headers[RETRY_HEADERS.attempt]).sort(), ['1', '1', '1', '1', '1', '2', '2', '2', '2', '2']);
  assert.equal(await counter(metrics, 'palisade_retry_exhausted_total', { stage: 'teststage', to: 'retry_topic' }), 10);
  assert.equal(await counter(metrics, 'palisade_retry_exhausted_total', { stage: 'teststage', to: 'dead_letter' }), 5);
  assert.equal(stage.processed.length, 0);
  assert.equal(stage.state, 'ready');
  assert.deepEqual(bus.endOffsets(OUT), [0]);
});

test('a retriable failure that clears while the records wait on the retry topic: each is processed once', async (t) => {
  let down = true;
  const { stage, dead, retried, bus } = await setup(t, () => {
    if (down) throw new PalisadeError('BUS_SEND_FAILED', 'broker away', { retriable: true });
  }, { records: 5, resilience: { ...FAST_RETRY, retryDelayMs: 300 } });
  await waitFor('the records on the retry topic', () => retried.length === 5);
  down = false;
  await waitFor('all processed', () => stage.processed.length === 5);
  assert.deepEqual([...stage.processed].sort(), [0, 1, 2, 3, 4]);
  await waitFor('both consumers committed', () => stage.progress().input[0]?.committed === 5
    && stage.progress().retry.some((p) => p.committed === 5));
  assert.equal(dead.length, 0);
  assert.deepEqual(bus.endOffsets(OUT), [5]);
});

test('notReady() reports a consumer whose batch waits too long for its commit, and clears once it commits', async (t) => {
  let release: () => void = () => undefined;
  const wedged = new Promise<void>((r) => { release = r; });
  const { stage, bus } = await setup(t, async (values) => { if (values.includes(3)) await wedged; },
    { resilience: { stallAfterMs: 200 } });
  await bus.producer().send(SRC, [{ key: 'k', value: Buffer.from('1') }]);
  await waitFor('the first record processed', () => stage.processed.length === 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(stage.notReady(), undefined, 'an idle consumer with nothing to do is not stalled, however old its last commit');
  await bus.producer().send(SRC, [{ key: 'k', value: Buffer.from('3') }, { key: 'k', value: Buffer.from('4') }]);
  const why = await waitFor('a stall reported', () => stage.notReady());
  assert.match(why, /consumer stalled: palisade\.test\.stage-in\/0 has had a batch waiting [\d.]+ s .* with 2 records behind/);
  assert.equal(stage.detail()['lag'], 2);
  release();
  await waitFor('the stall to clear', () => stage.notReady() === undefined && stage.processed.length === 3);
});

/** A MemoryBus whose producer fails retriably for OUT while `down` is set. */
function flakyBus(memory: MemoryBus): { bus: Bus; setDown(v: boolean): void } {
  let down = false;
  const inner = memory.producer();
  const producer: Producer = {
    send: async (topic: string, messages: OutgoingMessage[]) => {
      if (down && topic === OUT) throw new PalisadeError('BUS_SEND_FAILED', `kafka: ${topic}: This server does not host this topic-partition`, { retriable: true });
      await inner.send(topic, messages);
    },
  };
  const bus: Bus = {
    kind: 'memory', connect: () => memory.connect(), ensureTopics: (s) => memory.ensureTopics(s), producer: () => producer,
    maxMessageBytes: (topic) => memory.maxMessageBytes(topic), consume: (o) => memory.consume(o), close: () => memory.close(),
  };
  return { bus, setDown: (v) => { down = v; } };
}

test('notReady() reports an output that has not got through for too long, even while records move on', async (t) => {
  const memory = new MemoryBus({ partitions: 1 });
  const flaky = flakyBus(memory);
  flaky.setDown(true);
  // The budget is spent at once, so the records go to the retry topic and the input commits: not stalled, but the
  // output still gets nothing through.
  const { stage, retried } = await setup(t, () => undefined, {
    memory, bus: flaky.bus, resilience: { retryBudgetMs: 0, retryDelayMs: 200, retryAttempts: 100, outputFailAfterMs: 300, stallAfterMs: 60_000 },
  });
  assert.equal(stage.notReady(), undefined);
  await memory.producer().send(SRC, [{ key: 'k', value: Buffer.from('1') }]);
  await waitFor('the record on the retry topic', () => retried.length >= 1);
  const why = await waitFor('an output failure reported', () => stage.notReady());
  assert.match(why, /output failing: nothing got through to palisade\.test\.stage-out for [\d.]+ s \(limit 0\.3 s\): BUS_SEND_FAILED/);
  flaky.setDown(false);
  await waitFor('processed from the retry topic', () => stage.processed.length === 1);
  assert.equal(stage.notReady(), undefined);
});

test('a retry record whose not-before lies far ahead waits no longer than the longest delay the stage sets', async (t) => {
  const { stage, bus } = await setup(t, () => undefined, { resilience: FAST_RETRY });
  await bus.producer().send(retryTopic('teststage'), [{
    key: 'k', value: Buffer.from('42'),
    headers: { [RETRY_HEADERS.notBefore]: String(4_102_444_800_000) /* 2100-01-01 */, [RETRY_HEADERS.attempt]: '1' },
  }]);
  // 50 ms doubled twice: 200 ms at most, far inside waitFor's deadline.
  await waitFor('the record processed', () => stage.processed.includes(42));
});
