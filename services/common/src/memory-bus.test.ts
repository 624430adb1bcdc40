// MemoryBus against the delivery contract in bus.ts: the one the stages rely on in embedded mode, and the same one
// KafkaBus keeps against a broker.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { BatchHandler, IncomingMessage } from './bus.js';
import { PalisadeError, errorCode } from './errors.js';
import { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
import { waitFor } from './testing.js';

const T = 'topic.under.test';

function newBus(t: TestContext, opts: MemoryBusOptions = {}): MemoryBus {
  const bus = new MemoryBus(opts);
  t.after(() => bus.close());
  return bus;
}

/** A probe for waitFor: true once p has settled. */
function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  return () => done;
}

/** Resolves to 'pending' if p has not settled within ms: for what must not happen (a settle is waited for with waitFor). */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(() => 'settled' as const, () => 'settled' as const),
    new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), ms); }),
  ]);
  clearTimeout(timer);
  return r;
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => { open = resolve; });
  return { wait, open };
}

const text = (m: IncomingMessage): string => m.value.toString();
const msg = (key: string | null, value: string): { key: string | null; value: Buffer } => ({ key, value: Buffer.from(value) });

async function sendAll(bus: MemoryBus, values: string[], key: string | null = 'k', topic = T): Promise<void> {
  for (const v of values) await bus.producer().send(topic, [msg(key, v)]);
}

/** Consumes with a fresh group and collects every record's value. */
async function collect(bus: MemoryBus, groupId: string, opts: { fromBeginning?: boolean; topic?: string } = {}) {
  const seen: IncomingMessage[] = [];
  const consumer = await bus.consume({
    groupId, topics: [opts.topic ?? T], ...(opts.fromBeginning === undefined ? {} : { fromBeginning: opts.fromBeginning }),
    handler: async (batch) => { seen.push(...batch); },
  });
  return { seen, consumer };
}

test('records with the same key arrive in the order they were sent, each once, on one partition', async (t) => {
  const bus = newBus(t, { partitions: 4, maxBatch: 7 });
  const keys = ['pod-a', 'pod-b', 'pod-c', 'pod-d', 'pod-e'];
  const producer = bus.producer();
  for (let i = 0; i < 40; i++) {
    await producer.send(T, keys.map((k) => msg(k, `${k}#${i}`)));
  }
  const { seen } = await collect(bus, 'g');
  await waitFor('all 200 records', () => seen.length >= 200);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.length, 200, 'no record is delivered twice when every handler succeeds');
  for (const k of keys) {
    const mine = seen.filter((m) => m.key?.toString() === k);
    assert.deepEqual(mine.map(text), Array.from({ length: 40 }, (_, i) => `${k}#${i}`));
    assert.equal(new Set(mine.map((m) => m.partition)).size, 1, `${k} stays on one partition`);
  }
  // A Buffer key and the same string key land on the same partition.
  await producer.send(T, [{ key: Buffer.from('pod-a'), value: Buffer.from('buffer-key') }]);
  await waitFor('the buffer-keyed record', () => seen.some((m) => text(m) === 'buffer-key'));
  const a = seen.filter((m) => m.key?.toString() === 'pod-a');
  assert.equal(new Set(a.map((m) => m.partition)).size, 1);
});

test('a batch is from one partition, in offset order, with the record\'s headers and key', async (t) => {
  const bus = newBus(t, { partitions: 2 });
  await bus.producer().send(T, [
    { key: 'x', value: Buffer.from('1'), headers: { h: 'v1' } },
    { key: 'x', value: Uint8Array.from([50]), headers: { h: 'v2' } },
  ]);
  const batches: IncomingMessage[][] = [];
  await bus.consume({ groupId: 'g', topics: [T], handler: async (b) => { batches.push(b); } });
  await waitFor('a batch', () => batches.length > 0);
  const b = batches[0] ?? [];
  assert.deepEqual(b.map((m) => [m.topic, m.offset, text(m), m.key?.toString(), m.headers['h']]), [
    [T, '0', '1', 'x', 'v1'],
    [T, '1', '2', 'x', 'v2'],
  ]);
  assert.ok(Number(b[0]?.timestamp) > 0);
});

test('a batch is committed only once its handler resolves: a crash before that redelivers it to the group', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  await sendAll(bus, ['a', 'b']);
  const first: string[] = [];
  let fatal: unknown;
  let call = 0;
  const c1 = await bus.consume({
    groupId: 'g', topics: [T],
    handler: async (batch) => {
      call++;
      if (call === 1) { first.push(...batch.map(text)); return; }
      throw new Error('crash while handling');
    },
    onFatal: (err) => { fatal = err; },
  });
  await waitFor('the first batch', () => call === 1);
  await sendAll(bus, ['c', 'd']);
  await waitFor('the fatal error', () => fatal !== undefined);
  await c1.stop();
  assert.deepEqual(first, ['a', 'b']);

  // Same group again: a and b were committed, c and d were not.
  const { seen } = await collect(bus, 'g');
  await waitFor('redelivery', () => seen.length >= 2);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen.map(text), ['c', 'd']);
});

test('stop() waits for the in-flight batch and commits it', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  await sendAll(bus, ['a']);
  const g = gate();
  let started = false;
  let finished = false;
  const c = await bus.consume({
    groupId: 'g', topics: [T],
    handler: async () => { started = true; await g.wait; finished = true; },
  });
  await waitFor('the handler to start', () => started);
  const stopping = c.stop();
  assert.equal(await settledWithin(stopping, 30), 'pending', 'stop() returned while a batch was in flight');
  g.open();
  await stopping;
  assert.equal(finished, true);
  await c.stop(); // idempotent

  const { seen } = await collect(bus, 'g');
  await sendAll(bus, ['b']);
  await waitFor('b', () => seen.length >= 1);
  assert.deepEqual(seen.map(text), ['b'], 'the batch in flight at stop() was committed');
});

test('progress() gives the facts readiness needs: lag and pending time of a batch in flight, the commit after', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  const g = gate();
  const c = await bus.consume({ groupId: 'g', topics: [T], handler: async () => { await g.wait; } });
  assert.deepEqual(c.progress?.(), [], 'nothing fetched yet');
  await bus.producer().send(T, [{ key: 'k', value: Buffer.from('a') }, { key: 'k', value: Buffer.from('b') }]);
  await waitFor('the batch pending', () => c.progress?.()[0]?.pendingMs !== undefined);
  assert.equal(c.progress?.()[0]?.lag, 2);
  g.open();
  await waitFor('the commit', () => c.progress?.()[0]?.committed === 2);
  assert.deepEqual([c.progress?.()[0]?.lag, c.progress?.()[0]?.pendingMs], [0, undefined]);
});

test('a retriable error redelivers the same batch after a backoff; the next one follows once it succeeds', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  await sendAll(bus, ['a', 'b']);
  const calls: { at: number; offsets: string[] }[] = [];
  let fatal = false;
  await bus.consume({
    groupId: 'g', topics: [T],
    handler: async (batch) => {
      calls.push({ at: Date.now(), offsets: batch.map((m) => m.offset) });
      if (calls.length <= 2) throw new PalisadeError('BUS_SEND_FAILED', 'downstream is busy', { retriable: true });
    },
    onFatal: () => { fatal = true; },
  });
  await waitFor('three deliveries', () => calls.length >= 3);
  assert.deepEqual(calls.slice(0, 3).map((c) => c.offsets), [['0', '1'], ['0', '1'], ['0', '1']]);
  const [c0, c1] = calls;
  assert.ok(c0 && c1 && c1.at - c0.at >= 20, 'a retry waits for a backoff');
  assert.equal(fatal, false);
  await sendAll(bus, ['c']);
  await waitFor('the next record', () => calls.length >= 4);
  assert.deepEqual(calls[3]?.offsets, ['2'], 'a and b were committed after the successful retry');
});

test('a non-retriable error is reported once through onFatal and the consumer stops reading', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  await sendAll(bus, ['a']);
  const errors: unknown[] = [];
  let calls = 0;
  const c = await bus.consume({
    groupId: 'g', topics: [T],
    handler: async () => { calls++; throw new PalisadeError('INTERNAL', 'bug'); },
    onFatal: (err) => { errors.push(err); },
  });
  await waitFor('onFatal', () => errors.length > 0);
  await sendAll(bus, ['b', 'c']);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(calls, 1);
  assert.equal(errors.length, 1);
  assert.equal(errorCode(errors[0]), 'INTERNAL');
  await waitFor('stop() on a failed consumer to return', settled(c.stop()));
});

test('a producer waits while a group lags more than maxLag, and resumes once the group commits', async (t) => {
  const bus = newBus(t, { partitions: 1, maxLag: 3, maxBatch: 1 });
  const g = gate();
  const seen: string[] = [];
  const handler: BatchHandler = async (batch) => { await g.wait; seen.push(...batch.map(text)); };
  await bus.consume({ groupId: 'slow', topics: [T], handler });
  const producer = bus.producer();
  // The first record is in the handler (not committed), so the lag is the records sent.
  for (const v of ['1', '2', '3']) await producer.send(T, [msg('k', v)]);
  const fourth = producer.send(T, [msg('k', '4')]);
  await waitFor('the send at a lag of maxLag, which is allowed', settled(fourth));
  const fifth = producer.send(T, [msg('k', '5')]);
  assert.equal(await settledWithin(fifth, 50), 'pending', 'the producer did not wait at a lag above maxLag');
  g.open();
  await waitFor('the producer to resume after the group committed', settled(fifth));
  await waitFor('all five', () => seen.length === 5);
  assert.deepEqual(seen, ['1', '2', '3', '4', '5']);
});

test('one send of more than maxLag records to a caught-up consumer completes (no deadlock)', async (t) => {
  const bus = newBus(t, { partitions: 1, maxLag: 5, maxBatch: 4 });
  const { seen } = await collect(bus, 'g');
  await new Promise((r) => setTimeout(r, 10)); // the consumer is now waiting for data
  const values = Array.from({ length: 20 }, (_, i) => String(i));
  const sending = bus.producer().send(T, values.map((v) => msg('k', v)));
  await waitFor('send() to return (a hang means its consumer was never told of the data)', settled(sending));
  await waitFor('all 20', () => seen.length === 20);
  assert.deepEqual(seen.map(text), values);
});

test('a group that stopped does not hold producers back', async (t) => {
  const bus = newBus(t, { partitions: 1, maxLag: 2 });
  const g = gate();
  const c = await bus.consume({ groupId: 'g', topics: [T], handler: async () => { await g.wait; } });
  await sendAll(bus, ['1', '2', '3']);
  const blocked = bus.producer().send(T, [msg('k', '4')]);
  assert.equal(await settledWithin(blocked, 30), 'pending');
  g.open();
  await c.stop();
  await sendAll(bus, Array.from({ length: 10 }, (_, i) => `more${i}`)); // would hang if the stopped group still counted
  await blocked;
});

test('records every group has committed are dropped; a new group starts at what is left', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  const first = await collect(bus, 'g1');
  await sendAll(bus, ['a', 'b', 'c']);
  await waitFor('g1 read everything', () => first.seen.length === 3);
  await first.consumer.stop();
  await sendAll(bus, ['d']);
  const second = await collect(bus, 'g2', { fromBeginning: true });
  await waitFor('g2 reads d', () => second.seen.length >= 1);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(second.seen.map(text), ['d'], 'records committed by the only group were kept');
  assert.deepEqual(second.seen.map((m) => m.offset), ['3'], 'offsets keep counting after a trim');
  assert.deepEqual(bus.endOffsets(T), [4]);
});

test('a partition nobody reads keeps only the last retainUnread records, and counts the rest', async (t) => {
  const bus = newBus(t, { partitions: 1, retainUnread: 3 });
  await sendAll(bus, ['1', '2', '3', '4', '5', '6', '7'], 'k', 'unread');
  assert.equal(bus.retentionDropped, 4);
  const { seen } = await collect(bus, 'late', { topic: 'unread', fromBeginning: true });
  await waitFor('the retained records', () => seen.length >= 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen.map(text), ['5', '6', '7']);
  assert.deepEqual(seen.map((m) => m.offset), ['4', '5', '6']);
});

test('fromBeginning: false skips records sent before the group existed but sees every one after', async (t) => {
  const bus = newBus(t, { partitions: 3 });
  await sendAll(bus, ['old1', 'old2'], null);
  const { seen } = await collect(bus, 'g', { fromBeginning: false });
  const fromStart = await collect(bus, 'g-earliest');
  await sendAll(bus, ['new1', 'new2', 'new3'], null);
  await waitFor('the new records', () => seen.length >= 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen.map(text).sort(), ['new1', 'new2', 'new3']);
  await waitFor('everything', () => fromStart.seen.length >= 5);
  assert.deepEqual(fromStart.seen.map(text).sort(), ['new1', 'new2', 'new3', 'old1', 'old2'], 'earliest is the default');
});

test('close() stops every consumer, is idempotent, and refuses later sends and consumers', async (t) => {
  const bus = newBus(t, { partitions: 1 });
  let calls = 0;
  await bus.consume({ groupId: 'g', topics: [T], handler: async () => { calls++; } });
  await sendAll(bus, ['a']);
  await waitFor('a', () => calls === 1);
  await bus.close();
  await bus.close();
  await assert.rejects(bus.producer().send(T, [msg('k', 'late')]), (err: unknown) => errorCode(err) === 'BUS_UNAVAILABLE');
  await assert.rejects(bus.consume({ groupId: 'g2', topics: [T], handler: async () => {} }),
    (err: unknown) => errorCode(err) === 'BUS_UNAVAILABLE');
  assert.equal(calls, 1);
});
