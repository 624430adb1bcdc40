// Consumes one topic of protobuf records for a stage. A record that does not decode or validate is never dropped:
// it is counted and published to the dead-letter topic as a bounded reference with the reason (dead-letter.ts), in
// the same batch, so the commit that follows covers it; the stage keeps going, even when the dead letter cannot be
// sent.
import type { Bus, Consumer, IncomingMessage, Producer } from './bus.js';
import { TOPICS } from './bus.js';
import { DeadLetterSender } from './dead-letter.js';
import { errorMessage, PalisadeError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface Decoded<T> {
  msg: IncomingMessage;
  value: T;
}

export interface TopicConsumerOptions<T> {
  stage: string;
  groupId: string;
  topic: string;
  bus: Bus;
  producer: Producer;
  /** Where invalid records go; default: a DeadLetterSender over producer, bounded by the dead-letter topic's limit. */
  deadLetters?: DeadLetterSender;
  metrics: Metrics;
  logger: Logger;
  /** Decodes and validates one record (msg: its headers, offset, …); throws (with a reason) when it is unusable. */
  decode(value: Buffer, msg: IncomingMessage): T;
  handle(records: Decoded<T>[]): Promise<void>;
  onFatal(err: unknown): void;
  fromBeginning?: boolean;
}

export async function consumeTopic<T>(opts: TopicConsumerOptions<T>): Promise<Consumer> {
  const consumed = opts.metrics.counter('palisade_records_consumed_total', 'Records consumed from a topic.', ['stage', 'topic']);
  const invalid = opts.metrics.counter('palisade_records_invalid_total',
    'Records that could not be decoded or validated, published to the dead-letter topic.', ['stage', 'topic']);
  const log = opts.logger.child({ topic: opts.topic });
  const deadLetters = opts.deadLetters ?? new DeadLetterSender({
    stage: opts.stage, producer: opts.producer, metrics: opts.metrics, logger: opts.logger,
    maxMessageBytes: await opts.bus.maxMessageBytes(TOPICS.deadLetter),
  });
  return opts.bus.consume({
    groupId: opts.groupId,
    topics: [opts.topic],
    fromBeginning: opts.fromBeginning ?? true,
    onFatal: opts.onFatal,
    handler: async (batch) => {
      const good: Decoded<T>[] = [];
      const dead: { msg: IncomingMessage; reason: string }[] = [];
      for (const msg of batch) {
        try {
          good.push({ msg, value: opts.decode(msg.value, msg) });
        } catch (err) {
          dead.push({ msg, reason: errorMessage(err) });
        }
      }
      consumed.inc({ stage: opts.stage, topic: opts.topic }, batch.length);
      if (dead.length > 0) {
        invalid.inc({ stage: opts.stage, topic: opts.topic }, dead.length);
        log.warn('invalid records sent to the dead-letter topic', {
          count: dead.length, first: { offset: dead[0]?.msg.offset, reason: dead[0]?.reason },
        });
        await deadLetters.send(dead.map(({ msg, reason }) => ({
          cause: 'invalid' as const, sourceTopic: msg.topic, partition: msg.partition, offset: msg.offset,
          key: msg.key, value: msg.value, reason,
        })));
      }
      if (good.length > 0) await opts.handle(good);
    },
  });
}

/** Wraps a protobuf decode so that its failures read well in a dead letter. */
export function decodeOrThrow<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new PalisadeError('DECODE_FAILED', `not a valid ${what}: ${errorMessage(err)}`, { cause: err });
  }
}
