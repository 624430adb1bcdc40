// The shape every consuming stage shares (enricher, evaluator, responder): one input topic of protobuf records,
// decoded and validated (bad ones dead-lettered by consumeTopic), handed to the stage in batches; a lifecycle of
// starting -> ready -> draining -> stopped, or failed on a fatal consumer error.
import { BoundedProducer } from './bounded-producer.js';
import type { Bus, Consumer, IncomingMessage } from './bus.js';
import { TOPICS } from './bus.js';
import { Lifecycle, type ServiceState } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { RunnableService } from './run-services.js';
import { consumeTopic, decodeOrThrow } from './topic-consumer.js';

export interface ConsumerStageOptions<T> {
  name: string;
  bus: Bus;
  metrics: Metrics;
  logger: Logger;
  groupId: string;
  input: string;
  /** Topics this stage writes; created at start with the input and the dead-letter topic. */
  outputs: string[];
  /** The message's full name, for dead-letter reasons. */
  schema: string;
  /** Decodes one record and throws (with a reason) when it is unusable; msg has its headers and where it was. */
  decode(buf: Buffer, msg: IncomingMessage): T;
}

export abstract class ConsumerStage<T> implements RunnableService {
  readonly name: string;
  protected readonly life = new Lifecycle();
  private consumer: Consumer | undefined;
  private out: BoundedProducer | undefined;

  constructor(private readonly stage: ConsumerStageOptions<T>) {
    this.name = stage.name;
  }

  get state(): ServiceState { return this.life.state; }
  onFail(listener: (err: unknown) => void): void { this.life.onFail(listener); }

  /** The producer for the stage's outputs, bounded by each topic's limit; set once start() has run. */
  protected get producer(): BoundedProducer {
    if (!this.out) throw new Error(`${this.name}: producer used before start()`);
    return this.out;
  }

  /** Handles a batch of decoded records; resolves once everything they produce is published. */
  protected abstract handle(values: T[]): Promise<void>;

  /** Runs first in start(), e.g. waiting for a cache, so the stage is ready only once it can do its work. */
  protected async beforeStart(): Promise<void> { /* nothing by default */ }

  async start(): Promise<void> {
    await this.beforeStart();
    const s = this.stage;
    await s.bus.ensureTopics([s.input, ...s.outputs, TOPICS.deadLetter].map((topic) => ({ topic })));
    this.out = await BoundedProducer.create({ bus: s.bus, stage: s.name, metrics: s.metrics, logger: s.logger, topics: s.outputs });
    this.consumer = await consumeTopic({
      stage: s.name, groupId: s.groupId, topic: s.input, bus: s.bus, producer: this.out, deadLetters: this.out.deadLetters,
      metrics: s.metrics, logger: s.logger,
      decode: (buf, msg) => decodeOrThrow(s.schema, () => s.decode(buf, msg)),
      handle: async (records) => {
        const first = records[0]?.msg;
        const last = records[records.length - 1]?.msg;
        this.out?.setSource(first && last ? `${first.topic}/${first.partition}@${first.offset}..${last.offset}` : undefined);
        try {
          await this.handle(records.map((r) => r.value));
        } finally {
          this.out?.setSource(undefined);
        }
      },
      onFatal: (err) => this.life.fail(err),
    });
    this.life.set('ready');
  }

  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.set('draining');
    await this.consumer?.stop();
    this.life.set('stopped');
  }
}
