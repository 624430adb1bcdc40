import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TOPICS, recordBytes, type OutgoingMessage, type Producer } from './bus.js';
import { DEAD_LETTER_HEAD_BYTES, DeadLetterSender, buildDeadLetter } from './dead-letter.js';
import { PalisadeError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { pb } from './proto.js';

async function counterValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const json = await metrics.registry.getMetricsAsJSON();
  const v = json.find((x) => x.name === name)?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

const input = (value: Uint8Array, offset = '7') => ({
  cause: 'invalid' as const, sourceTopic: TOPICS.raw, partition: 2, offset, key: 'node-1', value, reason: 'not a valid x',
});

test('a dead letter is a bounded reference: head, length, sha256, where and why', () => {
  const value = Buffer.alloc(1024 * 1024, 0xab);
  value.write('start', 0);
  const msg = buildDeadLetter('enricher', input(value));
  assert.ok(msg.value.byteLength < DEAD_LETTER_HEAD_BYTES + 1024, `${msg.value.byteLength} bytes for a 1 MiB record`);
  const dl = pb.DeadLetter.decode(msg.value);
  assert.equal(dl.value.length, DEAD_LETTER_HEAD_BYTES);
  assert.equal(Buffer.from(dl.value).subarray(0, 5).toString(), 'start', 'the head is the start of the record');
  assert.equal(Number(dl.valueLength), value.length);
  assert.equal(dl.valueTruncated, true);
  assert.equal(Buffer.from(dl.valueSha256).toString('hex'), createHash('sha256').update(value).digest('hex'));
  assert.deepEqual([dl.sourceTopic, dl.partition, dl.offset, dl.stage, dl.reason], [TOPICS.raw, 2, '7', 'enricher', 'not a valid x']);
  assert.equal(dl.cause, pb.DeadLetterCause.DEAD_LETTER_CAUSE_INVALID);
  assert.equal(msg.key, TOPICS.raw);

  const small = pb.DeadLetter.decode(buildDeadLetter('enricher', input(Buffer.from('bad'))).value);
  assert.equal(Buffer.from(small.value).toString(), 'bad', 'a small record is kept whole');
  assert.equal(small.valueTruncated, false);
  const long = pb.DeadLetter.decode(buildDeadLetter('enricher', { ...input(Buffer.from('x')), reason: 'r'.repeat(100_000), key: Buffer.alloc(10_000) }).value);
  assert.ok(long.reason.length <= 1024 && long.key.length <= 256, 'reason and key are bounded too');
});

class RecordingProducer implements Producer {
  sends: OutgoingMessage[][] = [];
  failures = 0;
  constructor(private readonly failWith?: () => Error) {}
  async send(_topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.failWith) { this.failures++; throw this.failWith(); }
    this.sends.push(messages);
  }
}

test('thousands of dead letters of one batch go out in sends bounded by bytes, all of them, in order', async () => {
  const producer = new RecordingProducer();
  const metrics = new Metrics();
  const max = 64 * 1024;
  const sender = new DeadLetterSender({ stage: 'evaluator', producer, metrics, logger: silentLogger, maxMessageBytes: max });
  await sender.send(Array.from({ length: 6000 }, (_, i) => input(Buffer.alloc(200, i), String(i))));
  assert.ok(producer.sends.length > 10, `${producer.sends.length} sends`);
  for (const s of producer.sends) assert.ok(s.reduce((n, m) => n + recordBytes(m), 0) <= max, 'each send fits the topic');
  assert.deepEqual(producer.sends.flat().map((m) => pb.DeadLetter.decode(m.value).offset), Array.from({ length: 6000 }, (_, i) => String(i)));
  assert.equal(await counterValue(metrics, 'palisade_deadletters_total', { stage: 'evaluator', cause: 'invalid' }), 6000);
});

test('a dead letter that cannot be sent after retries is counted and logged; send() never throws', async () => {
  const producer = new RecordingProducer(() => new PalisadeError('BUS_MESSAGE_TOO_LARGE', 'refused'));
  const metrics = new Metrics();
  const lines: string[] = [];
  const logger: Logger = { ...silentLogger, error: (msg: string, f?: Record<string, unknown>) => { lines.push(`${msg} ${JSON.stringify(f)}`); }, child: () => logger };
  const sender = new DeadLetterSender({ stage: 'enricher', producer, metrics, logger, maxMessageBytes: 1024 * 1024, attempts: 2, retryBaseMs: 1 });
  await sender.send([input(Buffer.from('bad'))]);
  assert.equal(producer.failures, 2, 'retried');
  assert.equal(await counterValue(metrics, 'palisade_deadletters_failed_total', { stage: 'enricher', cause: 'invalid' }), 1);
  const sha = createHash('sha256').update('bad').digest('hex');
  assert.ok(lines.some((l) => l.includes(sha) && l.includes('"offset":"7"') && l.includes(TOPICS.raw)), 'logged with its reference');
});
