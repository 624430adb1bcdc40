// The shape every consuming stage shares (enricher, evaluator, responder): one input topic of protobuf records,
// decoded and validated (bad ones dead-lettered by consumeTopic), handed to the stage in batches; a lifecycle of
// starting -> ready -> draining -> stopped, or failed on a fatal consumer error.
//
// Nothing one record does can halt the stage:
// - A batch whose handler throws a non-retriable error that is not the transport's (a policy the engine cannot
//   evaluate, a bug some input reaches) is bisected: each half is handled on its own, recursively, until the failing
//   records stand alone; those are dead-lettered (cause unprocessable, with topic/partition/offset/sha256) and the
//   rest is processed. One bad record in n costs about 2·log2(n) extra handler calls.
// - A batch that keeps failing with retriable errors for longer than retryBudgetMs moves to the stage's retry topic
//   (palisade.retry.<stage>), so its partition goes on. The stage consumes that topic too, in its own group, each
//   record not before its delay (retryDelayMs, doubling per trip); after retryAttempts trips a record is
//   dead-lettered (cause retry_exhausted). Every retry record names its original topic/partition/offset in headers.
//   A send to the retry topic that fails is itself retriable: the batch stays uncommitted, nothing is lost.
// - notReady() reports a stalled consumer (a batch waiting longer than stallAfterMs for its commit while the
//   partition lags) and an output that has failed for longer than outputFailAfterMs, so /readyz answers 503.
// Errors of the transport (code BUS_*) are never blamed on a record: a non-retriable one still stops the stage.
import { BoundedProducer } from './bounded-producer.js';
import type { Bus, Consumer, IncomingMessage, OutgoingMessage, Producer } from './bus.js';
import { TOPICS } from './bus.js';
import type { DeadLetterInput } from './dead-letter.js';
import { PalisadeError, errorCode, errorMessage, isRetriable } from './errors.js';
import { Lifecycle, type ServiceState } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { sleep } from './retry.js';
import type { RunnableService } from './run-services.js';
import { consumeTopic, decodeOrThrow, type Decoded } from './topic-consumer.js';

/** How a stage bounds retries and when it reports not-ready; the config keys are in common-config.ts (stageKeys). */
export interface StageResilience {
  /** How long one batch may keep failing with retriable errors before its records move to the retry topic. */
  retryBudgetMs: number;
  /** Delay of a record's first trip through the retry topic; each further trip doubles it. */
  retryDelayMs: number;
  /** Trips through the retry topic before a record is dead-lettered (0: straight to the dead-letter topic). */
  retryAttempts: number;
  /** Not ready when a partition with lag has had a batch waiting this long for its commit. */
  stallAfterMs: number;
  /** Not ready when every output send has failed for this long. */
  outputFailAfterMs: number;
}

export const DEFAULT_RESILIENCE: StageResilience = {
  retryBudgetMs: 60_000, retryDelayMs: 30_000, retryAttempts: 3, stallAfterMs: 120_000, outputFailAfterMs: 60_000,
};

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
  resilience?: Partial<StageResilience>;
}

/** The stage's retry topic. */
export function retryTopic(stage: string): string { return `palisade.retry.${stage}`; }

/** Headers of a record on a retry topic. Keep in sync with README.md ("Retries that do not clear"). */
export const RETRY_HEADERS = {
  topic: 'palisade-origin-topic',
  partition: 'palisade-origin-partition',
  offset: 'palisade-origin-offset',
  attempt: 'palisade-retry-attempt',
  notBefore: 'palisade-retry-not-before',
  reason: 'palisade-retry-reason',
} as const;

interface Origin { topic: string; partition: number; offset: string }

/** Where a record first came from: its retry headers when it is a retry record (and they are sane), else itself. */
export function originOf(msg: IncomingMessage): Origin {
  const h = msg.headers;
  const topic = h[RETRY_HEADERS.topic];
  const partition = Number(h[RETRY_HEADERS.partition]);
  const offset = h[RETRY_HEADERS.offset];
  if (topic !== undefined && /^[A-Za-z0-9._-]{1,249}$/.test(topic) && Number.isInteger(partition) && partition >= 0
    && offset !== undefined && /^\d{1,20}$/.test(offset)) {
    return { topic, partition, offset };
  }
  return { topic: msg.topic, partition: msg.partition, offset: msg.offset };
}

function retryAttempt(msg: IncomingMessage): number {
  const n = Number(msg.headers[RETRY_HEADERS.attempt] ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** A handler error a record can be blamed for: not retriable, and not the transport's. */
function blamesRecords(err: unknown): boolean {
  return !isRetriable(err) && !errorCode(err).startsWith('BUS_');
}

/**
 * Per output topic, since when its sends have not been getting through: the start of the oldest send still in flight
 * (kafkajs retries a send to a deleted topic for ~30 s before it fails) or of the first failed send since the last
 * success. The dead-letter topic is left out: its sends are not retried, so a failure there would never clear, and
 * palisade_deadletters_failed_total counts them.
 */
class OutputHealth implements Producer {
  private readonly topics = new Map<string, { inFlight: Map<number, number>; failingSince: number | undefined; lastError: string }>();
  private nextId = 0;
  constructor(private readonly inner: Producer) {}

  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (topic === TOPICS.deadLetter) { await this.inner.send(topic, messages); return; }
    let t = this.topics.get(topic);
    if (!t) { t = { inFlight: new Map(), failingSince: undefined, lastError: '' }; this.topics.set(topic, t); }
    const id = this.nextId++;
    const started = Date.now();
    t.inFlight.set(id, started);
    try {
      await this.inner.send(topic, messages);
      t.failingSince = undefined;
    } catch (err) {
      t.failingSince ??= started;
      t.lastError = `${errorCode(err)}: ${errorMessage(err).slice(0, 200)}`;
      throw err;
    } finally {
      t.inFlight.delete(id);
    }
  }

  /** The topic whose sends have been stuck longest, and since when; undefined when all get through. */
  stuck(): { topic: string; since: number; lastError: string } | undefined {
    let worst: { topic: string; since: number; lastError: string } | undefined;
    for (const [topic, t] of this.topics) {
      const since = Math.min(t.failingSince ?? Infinity, ...t.inFlight.values());
      if (since !== Infinity && (worst === undefined || since < worst.since)) {
        worst = { topic, since, lastError: t.failingSince !== undefined ? t.lastError : 'a send is still in flight' };
      }
    }
    return worst;
  }
}

const MAX_TRACKED_RETRIES = 1024;

function seconds(ms: number): string { return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000)); }

export abstract class ConsumerStage<T> implements RunnableService {
  readonly name: string;
  protected readonly life = new Lifecycle();
  private consumer: Consumer | undefined;
  private retryConsumer: Consumer | undefined;
  private out: BoundedProducer | undefined;
  private outputs: OutputHealth | undefined;
  private readonly stopping = new AbortController();
  private readonly bounds: StageResilience;
  /** Batch (topic/partition@first offset) -> when it first failed retriably. */
  private readonly failingBatches = new Map<string, number>();
  private readonly stageLog: Logger;
  private readonly counters;

  constructor(private readonly stage: ConsumerStageOptions<T>) {
    this.name = stage.name;
    this.bounds = { ...DEFAULT_RESILIENCE, ...stage.resilience };
    this.stageLog = stage.logger.child({ module: 'consumer-stage' });
    this.counters = {
      exhausted: stage.metrics.counter('palisade_retry_exhausted_total',
        'Records whose retriable failure outlasted the retry budget, by stage and where they went (retry_topic, dead_letter).',
        ['stage', 'to']),
      bisected: stage.metrics.counter('palisade_batches_bisected_total',
        'Batches a non-retriable handler error made the stage split to isolate the failing records.', ['stage']),
    };
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
    const retry = retryTopic(s.name);
    await s.bus.ensureTopics([s.input, ...s.outputs, retry, TOPICS.deadLetter].map((topic) => ({ topic })));
    this.outputs = new OutputHealth(s.bus.producer());
    this.out = await BoundedProducer.create({
      bus: s.bus, stage: s.name, metrics: s.metrics, logger: s.logger, topics: [...s.outputs, retry], producer: this.outputs,
    });
    const common = {
      stage: s.name, bus: s.bus, producer: this.out, deadLetters: this.out.deadLetters, metrics: s.metrics, logger: s.logger,
      decode: (buf: Buffer, msg: IncomingMessage) => decodeOrThrow(s.schema, () => s.decode(buf, msg)),
      onFatal: (err: unknown) => this.life.fail(err),
    };
    this.consumer = await consumeTopic({ ...common, groupId: s.groupId, topic: s.input, handle: (records) => this.process(records) });
    this.retryConsumer = await consumeTopic({
      ...common, groupId: `${s.groupId}.retry`, topic: retry, handle: (records) => this.processRetry(records),
    });
    // A fatal error in the first batches may already have been reported: it must not be overwritten.
    if (this.life.state === 'starting') this.life.set('ready');
  }

  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.set('draining');
    this.stopping.abort();
    await this.retryConsumer?.stop();
    await this.consumer?.stop();
    this.life.set('stopped');
  }

  /** Why this stage, though ready, cannot do its work now; undefined when it can. */
  notReady(): string | undefined {
    if (this.life.state !== 'ready') return undefined;
    for (const p of this.consumer?.progress?.() ?? []) {
      if (p.lag > 0 && p.pendingMs !== undefined && p.pendingMs > this.bounds.stallAfterMs) {
        return `consumer stalled: ${p.topic}/${p.partition} has had a batch waiting ${seconds(p.pendingMs)} s ` +
          `for its commit (limit ${seconds(this.bounds.stallAfterMs)} s) with ${p.lag} records behind`;
      }
    }
    const stuck = this.outputs?.stuck();
    if (stuck !== undefined && Date.now() - stuck.since > this.bounds.outputFailAfterMs) {
      return `output failing: nothing got through to ${stuck.topic} for ${seconds(Date.now() - stuck.since)} s ` +
        `(limit ${seconds(this.bounds.outputFailAfterMs)} s): ${stuck.lastError}`;
    }
    return undefined;
  }

  /** The input consumer's per-partition lag and how long work has waited, for /readyz. */
  detail(): Record<string, unknown> {
    const parts = this.consumer?.progress?.() ?? [];
    const stuck = this.outputs?.stuck();
    return {
      lag: parts.reduce((n, p) => n + p.lag, 0),
      oldestPendingMs: Math.max(0, ...parts.map((p) => p.pendingMs ?? 0)),
      ...(stuck !== undefined && { outputStuck: { topic: stuck.topic, ms: Date.now() - stuck.since } }),
    };
  }

  /** The consumers' progress (input first, then the retry topic), e.g. for a test waiting until a stage caught up. */
  progress(): { input: ReturnType<NonNullable<Consumer['progress']>>; retry: ReturnType<NonNullable<Consumer['progress']>> } {
    return { input: this.consumer?.progress?.() ?? [], retry: this.retryConsumer?.progress?.() ?? [] };
  }

  private async process(records: Decoded<T>[]): Promise<void> {
    const first = records[0]?.msg;
    const key = first ? `${first.topic}/${first.partition}@${first.offset}` : '';
    try {
      await this.isolate(records, true);
      this.failingBatches.delete(key);
    } catch (err) {
      if (!isRetriable(err)) throw err;
      const now = Date.now();
      if (!this.failingBatches.has(key)) {
        if (this.failingBatches.size >= MAX_TRACKED_RETRIES) this.failingBatches.clear();
        this.failingBatches.set(key, now);
      }
      const since = this.failingBatches.get(key) ?? now;
      if (now - since < this.bounds.retryBudgetMs) throw err; // the bus delivers the batch again after a backoff
      await this.moveOn(records, err);
      this.failingBatches.delete(key);
    }
  }

  // Records of the retry topic wait out their delay here (cut short by stop(), then left uncommitted).
  private async processRetry(records: Decoded<T>[]): Promise<void> {
    const due = Math.max(0, ...records.map((r) => Number(r.msg.headers[RETRY_HEADERS.notBefore] ?? 0) || 0));
    // Never longer than the longest delay this stage sets: a forged or skewed header must not park the consumer.
    const wait = Math.min(due - Date.now(), this.bounds.retryDelayMs * 2 ** this.bounds.retryAttempts);
    if (wait > 0) await sleep(wait, this.stopping.signal);
    if (this.stopping.signal.aborted) {
      throw new PalisadeError('INTERNAL', `${this.name}: stopping before retry records were due`, { retriable: true });
    }
    await this.process(records);
  }

  private async isolate(records: Decoded<T>[], whole: boolean): Promise<void> {
    try {
      await this.handleRecords(records);
    } catch (err) {
      if (!blamesRecords(err)) throw err;
      const only = records[0];
      if (records.length === 1 && only) {
        await this.deadLetter([only], 'unprocessable', `${this.name} could not process the record: ${errorCode(err)}: ${errorMessage(err)}`);
        return;
      }
      if (whole) {
        this.counters.bisected.inc({ stage: this.name });
        this.stageLog.warn('a batch failed; bisecting it to isolate the records at fault', {
          records: records.length, topic: only?.msg.topic, partition: only?.msg.partition, firstOffset: only?.msg.offset,
          code: errorCode(err), error: errorMessage(err),
        });
      }
      const half = Math.ceil(records.length / 2);
      await this.isolate(records.slice(0, half), false);
      await this.isolate(records.slice(half), false);
    }
  }

  private async handleRecords(records: Decoded<T>[]): Promise<void> {
    const first = records[0]?.msg;
    const last = records[records.length - 1]?.msg;
    this.out?.setSource(first && last ? `${first.topic}/${first.partition}@${first.offset}..${last.offset}` : undefined);
    try {
      await this.handle(records.map((r) => r.value));
    } finally {
      this.out?.setSource(undefined);
    }
  }

  /** The retry budget ran out: each record goes one trip further through the retry topic, or to the dead letters. */
  private async moveOn(records: Decoded<T>[], err: unknown): Promise<void> {
    const reason = `${errorCode(err)}: ${errorMessage(err)}`;
    const again: OutgoingMessage[] = [];
    const exhausted: Decoded<T>[] = [];
    const now = Date.now();
    for (const r of records) {
      const attempt = retryAttempt(r.msg);
      if (attempt >= this.bounds.retryAttempts) { exhausted.push(r); continue; }
      const o = originOf(r.msg);
      again.push({
        key: r.msg.key, value: r.msg.value,
        headers: {
          ...r.msg.headers,
          [RETRY_HEADERS.topic]: o.topic, [RETRY_HEADERS.partition]: String(o.partition), [RETRY_HEADERS.offset]: o.offset,
          [RETRY_HEADERS.attempt]: String(attempt + 1),
          [RETRY_HEADERS.notBefore]: String(now + this.bounds.retryDelayMs * 2 ** attempt),
          [RETRY_HEADERS.reason]: reason.slice(0, 200),
        },
      });
    }
    this.stageLog.warn('retriable failure outlasted the retry budget; moving the records on', {
      budgetMs: this.bounds.retryBudgetMs, toRetryTopic: again.length, toDeadLetters: exhausted.length, error: reason,
      first: records[0] && originOf(records[0].msg),
    });
    // Retry records first: if that send fails (retriable), the whole batch stays uncommitted and comes back.
    if (again.length > 0) {
      await this.producer.send(retryTopic(this.name), again);
      this.counters.exhausted.inc({ stage: this.name, to: 'retry_topic' }, again.length);
    }
    if (exhausted.length > 0) {
      const failed = await this.deadLetter(exhausted, 'retry_exhausted',
        `still failing after ${this.bounds.retryAttempts} trips through ${retryTopic(this.name)}: ${reason}`);
      // These records were valid: a dead letter that could not be published would lose them, so the batch stays.
      if (failed > 0) {
        throw new PalisadeError('BUS_SEND_FAILED', `${this.name}: ${failed} retry-exhausted dead letters not published`, { retriable: true });
      }
      this.counters.exhausted.inc({ stage: this.name, to: 'dead_letter' }, exhausted.length);
    }
  }

  private async deadLetter(records: Decoded<T>[], cause: DeadLetterInput['cause'], reason: string): Promise<number> {
    return this.producer.deadLetters.send(records.map((r) => {
      const o = originOf(r.msg);
      return { cause, sourceTopic: o.topic, partition: o.partition, offset: o.offset, key: r.msg.key, value: r.msg.value, reason };
    }));
  }
}
