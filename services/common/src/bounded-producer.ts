// Every stage publishes through this, so no record, burst or batch can exceed what the broker accepts and halt the
// stage on a non-retriable MESSAGE_TOO_LARGE (which would redeliver the same input forever).
//
// - The limit is the topic's max.message.bytes, read once at start (Bus.maxMessageBytes), minus headroom for the
//   record batch's own header.
// - sendSplit: a batch message (RawEventBatch, EnrichedEventBatch) larger than the limit becomes several records of
//   consecutive items (record-splitter.ts), same key, in order.
// - send: the records of one call go out in consecutive sends bounded by bytes (kafkajs puts one call's records for a
//   partition in one record batch, and the broker checks the whole batch against max.message.bytes). Sends are
//   sequential, so per-key order holds.
// - A record that is too large by itself, or an item too large for a batch of its own, goes to the dead-letter topic
//   (bounded, with its sha256, length and the reason) and is counted; it is never retried as it is.
import type { Bus, OutgoingMessage, Producer } from './bus.js';
import { TOPICS, recordBytes } from './bus.js';
import { errorCode } from './errors.js';
import { DeadLetterSender } from './dead-letter.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { chunkBySize, splitEncoded } from './record-splitter.js';

/** Bytes left free under max.message.bytes for the record batch header (61 bytes) and estimate slack. */
export const MESSAGE_HEADROOM_BYTES = 1024;

export interface SplitPart<E> {
  key: string | Buffer | null;
  headers?: Record<string, string>;
  items: readonly E[];
  /** Encodes a batch message holding these items. */
  encode(items: E[]): Uint8Array;
  /** Encodes one item as the batch's repeated field holds it. */
  encodeItem(item: E): Uint8Array;
}

export interface BoundedProducerOptions {
  bus: Bus;
  stage: string;
  metrics: Metrics;
  logger: Logger;
  /** The topics this producer writes, whose limits are read now. */
  topics: string[];
  /** The bus' producer; default bus.producer(). */
  producer?: Producer;
}

const TOPIC_LABELS: ReadonlySet<string> = new Set(Object.values(TOPICS));

export class BoundedProducer implements Producer {
  private readonly m;
  private readonly log: Logger;
  private source: string | undefined;

  private constructor(
    private readonly inner: Producer,
    private readonly stage: string,
    private readonly limits: ReadonlyMap<string, number>,
    readonly deadLetters: DeadLetterSender,
    metrics: Metrics,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'bounded-producer' });
    this.m = {
      split: metrics.counter('palisade_output_batches_split_total',
        'Batch records larger than the topic accepts, split into several records, by stage and topic.', ['stage', 'topic']),
      splitRecords: metrics.counter('palisade_output_split_records_total',
        'Records made by splitting batch records (so a split in two adds two), by stage and topic.', ['stage', 'topic']),
      oversize: metrics.counter('palisade_output_oversize_total',
        'Events or records too large for the topic even alone, sent to the dead-letter topic instead, by stage and topic.',
        ['stage', 'topic']),
    };
  }

  static async create(opts: BoundedProducerOptions): Promise<BoundedProducer> {
    const inner = opts.producer ?? opts.bus.producer();
    const limits = new Map<string, number>();
    for (const topic of new Set([...opts.topics, TOPICS.deadLetter])) limits.set(topic, await opts.bus.maxMessageBytes(topic));
    const deadLetters = new DeadLetterSender({
      stage: opts.stage, producer: inner, metrics: opts.metrics, logger: opts.logger,
      maxMessageBytes: limits.get(TOPICS.deadLetter) ?? 0,
    });
    opts.logger.info('output limits', { maxMessageBytes: Object.fromEntries(limits) });
    return new BoundedProducer(inner, opts.stage, limits, deadLetters, opts.metrics, opts.logger);
  }

  /**
   * Names the consumed records being handled (e.g. "palisade.events.raw/1@40..52"), so an oversize dead letter says
   * where its event came from; ConsumerStage sets it around each batch (one at a time), undefined after.
   */
  setSource(ref: string | undefined): void { this.source = ref; }

  /** The most bytes (recordBytes) one record on this topic may have. */
  limit(topic: string): number {
    const max = this.limits.get(topic);
    if (max === undefined) throw new Error(`${this.stage}: no limit read for ${topic} (not in BoundedProducer's topics)`);
    return Math.max(1024, max - MESSAGE_HEADROOM_BYTES);
  }

  private label(topic: string): { stage: string; topic: string } {
    return { stage: this.stage, topic: TOPIC_LABELS.has(topic) ? topic : 'other' };
  }

  /** Encodes each part as one record, or several when it is too large; oversize items are dead-lettered. */
  async sendSplit<E>(topic: string, parts: SplitPart<E>[]): Promise<void> {
    const messages: OutgoingMessage[] = [];
    const oversize: { key: SplitPart<E>['key']; bytes: Uint8Array; max: number }[] = [];
    for (const part of parts) {
      const envelope = recordBytes({ key: part.key, value: new Uint8Array(0), ...(part.headers ? { headers: part.headers } : {}) });
      const maxBytes = this.limit(topic) - envelope;
      const out = splitEncoded({ items: part.items, encode: part.encode, encodeItem: part.encodeItem, maxBytes });
      if (out.values.length > 1 || out.oversize.length > 0) {
        this.m.split.inc(this.label(topic));
        this.m.splitRecords.inc(this.label(topic), out.values.length);
      }
      for (const v of out.values) messages.push({ key: part.key, value: v.value, ...(part.headers ? { headers: part.headers } : {}) });
      for (const o of out.oversize) oversize.push({ key: part.key, bytes: o.bytes, max: maxBytes });
    }
    if (oversize.length > 0) {
      await this.deadLetterOversize(topic, oversize.map((o) => ({
        key: o.key, value: o.bytes,
        reason: `one event encodes to ${o.bytes.byteLength} bytes; a record on ${topic} may have ${o.max}`,
      })));
    }
    await this.send(topic, messages);
  }

  /** Sends the records in order, in sends bounded by bytes; a record too large alone is dead-lettered. */
  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    const limit = this.limit(topic);
    const fits: OutgoingMessage[] = [];
    const tooLarge: OutgoingMessage[] = [];
    for (const m of messages) (recordBytes(m) > limit ? tooLarge : fits).push(m);
    if (tooLarge.length > 0) {
      await this.deadLetterOversize(topic, tooLarge.map((m) => ({
        key: m.key, value: m.value, reason: `a record of ${recordBytes(m)} bytes; ${topic} accepts ${limit}`,
      })));
    }
    for (const chunk of chunkBySize(fits, recordBytes, limit)) await this.sendChunk(topic, chunk);
  }

  // The limit read at start may be stale (the topic's config changed) or our estimate off: when the broker still
  // refuses a send as too large, halve it until single records are left, and dead-letter a single one it refuses.
  private async sendChunk(topic: string, chunk: OutgoingMessage[]): Promise<void> {
    try {
      await this.inner.send(topic, chunk);
    } catch (err) {
      if (errorCode(err) !== 'BUS_MESSAGE_TOO_LARGE') throw err;
      if (chunk.length === 1) {
        const m = chunk[0] as OutgoingMessage;
        await this.deadLetterOversize(topic, [{ key: m.key, value: m.value, reason: `${topic} refused a record of ${recordBytes(m)} bytes as too large` }]);
        return;
      }
      this.log.warn('a bounded send was refused as too large; sending it in halves', { topic, records: chunk.length });
      const half = Math.ceil(chunk.length / 2);
      await this.sendChunk(topic, chunk.slice(0, half));
      await this.sendChunk(topic, chunk.slice(half));
    }
  }

  private async deadLetterOversize(topic: string, items: { key: string | Buffer | null; value: Uint8Array; reason: string }[]): Promise<void> {
    this.m.oversize.inc(this.label(topic), items.length);
    this.log.warn('output too large for its topic, sent to the dead-letter topic', { topic, count: items.length, first: items[0]?.reason });
    const from = this.source === undefined ? '' : `; from ${this.source}`;
    await this.deadLetters.send(items.map((i) => ({
      cause: 'oversize' as const, sourceTopic: topic, partition: -1, offset: '', key: i.key, value: i.value, reason: i.reason + from,
    })));
  }
}
