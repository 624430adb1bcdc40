// The Bus over Apache Kafka, through kafkajs by default. Everything kafkajs-specific sits behind KafkaLike, the part of
// the KafkaJS API this file uses, so a client with the same API can replace kafkajs without touching any service.
//
// Delivery contract (bus.ts), and how it maps onto kafkajs:
// - eachBatch with autoCommit and eachBatchAutoResolve off: the handler gets every record of a fetched partition
//   batch; only after it resolves do we resolve the batch's last offset and commit last + 1 for that partition,
//   explicitly. (commitOffsetsIfNecessary() without arguments is a no-op when autoCommit is off, kafkajs#1729.)
// - A retriable handler error retries the same records after a backoff, inside the same eachBatch call: the partition
//   makes no progress and nothing is committed until the handler succeeds, the consumer stops, or a rebalance takes
//   the partition away (then its next owner starts again from the last commit).
// - Any other handler error reports onFatal once and stops the consumer; the failed batch stays uncommitted.
// - The producer is idempotent with acks=-1 and one request in flight, so kafkajs' retries neither duplicate nor
//   reorder records within a partition.
import { Kafka, Partitioners, logLevel, type ICustomPartitioner, type LogEntry } from 'kafkajs';
import type { Bus, Consumer, ConsumerOptions, IncomingMessage, OutgoingMessage, PartitionProgress, Producer, TopicSpec } from './bus.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './bus.js';
import { ProgressTracker } from './consumer-progress.js';
import { PalisadeError, errorMessage, isRetriable, type ErrorCode } from './errors.js';
import type { KafkaSecurity } from './kafka-security.js';

/** The logger KafkaBus writes to; the service's structured logger fits it. */
export interface KafkaBusLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

// ---- The KafkaJS API surface this file uses (structural: kafkajs' Kafka satisfies it, so can a compatible client).

export interface KafkaLikeRetry {
  retries?: number;
  initialRetryTime?: number;
  maxRetryTime?: number;
}

export interface KafkaLikeProducerConfig {
  idempotent?: boolean;
  maxInFlightRequests?: number;
  allowAutoTopicCreation?: boolean;
  retry?: KafkaLikeRetry;
  createPartitioner?: ICustomPartitioner;
}

export interface KafkaLikeConsumerConfig {
  groupId: string;
  allowAutoTopicCreation?: boolean;
  sessionTimeout?: number;
  heartbeatInterval?: number;
  maxWaitTimeInMs?: number;
  retry?: KafkaLikeRetry;
}

export interface KafkaLikeRecord {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string>;
}

export interface KafkaLikeProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: KafkaLikeRecord[]; acks?: number }): Promise<unknown>;
}

export interface KafkaLikeMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

export interface KafkaLikeBatch {
  topic: string;
  partition: number;
  messages: KafkaLikeMessage[];
  /** The last offset of the batch, control records included. */
  lastOffset(): string;
  /** The partition's end (next offset to be written) when fetched; kafkajs has it, a compatible client may not. */
  highWatermark?: string;
}

export interface KafkaLikeOffsets {
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
}

export interface KafkaLikeEachBatchPayload {
  batch: KafkaLikeBatch;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(offsets?: KafkaLikeOffsets): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface KafkaLikeConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(config: {
    autoCommit?: boolean;
    eachBatchAutoResolve?: boolean;
    partitionsConsumedConcurrently?: number;
    eachBatch?: (payload: KafkaLikeEachBatchPayload) => Promise<void>;
  }): Promise<void>;
  on(event: 'consumer.crash', listener: (event: { payload: { error: Error; restart: boolean } }) => void): unknown;
}

export interface KafkaLikeAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  createTopics(options: {
    topics: Array<{ topic: string; numPartitions?: number; configEntries?: Array<{ name: string; value: string }> }>;
    waitForLeaders?: boolean;
    timeout?: number;
  }): Promise<boolean>;
  fetchTopicMetadata(options: { topics: string[] }): Promise<{
    topics: Array<{ name: string; partitions: Array<{ partitionId: number; leader: number }> }>;
  }>;
  /** Optional: without it (or when it fails) maxMessageBytes is Kafka's default 1 MiB. */
  describeConfigs?(options: {
    resources: Array<{ type: number; name: string; configNames?: string[] }>;
    includeSynonyms: boolean;
  }): Promise<{ resources: Array<{ errorCode: number; configEntries: Array<{ configName: string; configValue: string }> }> }>;
  describeCluster?(): Promise<{ brokers: Array<{ nodeId: number }>; controller: number | null }>;
}

export interface KafkaLike {
  producer(config?: KafkaLikeProducerConfig): KafkaLikeProducer;
  consumer(config: KafkaLikeConsumerConfig): KafkaLikeConsumer;
  admin(): KafkaLikeAdmin;
}

// ---- Options

export type KafkaLogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** A client with the KafkaJS API; default: kafkajs built from brokers, clientId, logger and logLevel. */
  client?: KafkaLike;
  /** Where KafkaBus and kafkajs log (kafkajs only when KafkaBus builds the client). Default: JSON lines on stderr, warn and up. */
  logger?: KafkaBusLogger;
  /** The lowest kafkajs level logged. Default: info with a logger, warn without. */
  logLevel?: KafkaLogLevel;
  /** Partitions of a topic created by ensureTopics without its own count. Default: 3. */
  defaultPartitions?: number;
  /** Backoff between deliveries of a batch whose handler threw a retriable error. Default: 200 ms doubling to 10 s. */
  handlerRetry?: { initialMs?: number; maxMs?: number };
  /** Consumer group session timeout. Default: 30 s (kafkajs' default). */
  sessionTimeoutMs?: number;
  /**
   * How long an idle fetch waits on the broker for new records. stop() waits for the fetch in flight, so this bounds
   * how long stopping an idle consumer takes. Default: 1 s (kafkajs' 5 s made every stop take 5 s).
   */
  fetchMaxWaitMs?: number;
  /** TLS and SASL, resolved from the config keys by resolveKafkaSecurity (kafka-security.ts). Default: plain TCP. */
  security?: Pick<KafkaSecurity, 'ssl' | 'sasl'>;
  /**
   * Topic configs by topic name, set when ensureTopics creates that topic and its spec has none of its own
   * (topicConfigs() in common-config.ts: the enriched topic's retention.ms). Existing topics are not altered.
   */
  topicConfigs?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

const DEFAULT_PARTITIONS = 3;
// Kafka's DescribeConfigs resource types (kafkajs' ConfigResourceTypes is a TypeScript enum its CommonJS build does
// not export by name).
const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
const HEARTBEAT_MS = 3_000;

// kafkajs' client-level retry: how long a request (a send, a commit, a metadata fetch) keeps trying one broker
// problem before the error reaches us. 8 retries from 300 ms capped at 5 s: about 30 s of broker trouble.
const CLIENT_RETRY: KafkaLikeRetry = { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 };

// ---- Logging

const LEVELS: Record<KafkaLogLevel, logLevel> = {
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

// We bound the idempotent producer's retries on purpose (an endless retry would hang send() through an outage instead
// of reporting BUS_SEND_FAILED); kafkajs warns about that on every producer. Our contract is at-least-once, so a
// caller's re-send after a failure is allowed to duplicate: the warning says nothing new.
const EXPECTED_WARNING = 'Limiting retries for the idempotent producer';

/** A kafkajs logCreator writing to a structured logger; for callers that build their own kafkajs client. */
export function kafkaLogCreator(logger: KafkaBusLogger): (level: logLevel) => (entry: LogEntry) => void {
  return () => (entry) => {
    const { message, timestamp: _timestamp, ...extra } = entry.log as { message: string; timestamp: string } & Record<string, unknown>;
    const fields: Record<string, unknown> = { component: 'kafkajs', namespace: entry.namespace, ...extra };
    switch (entry.level) {
      case logLevel.ERROR:
        // kafkajs logs every error response of every attempt at error level, before its retry decides anything
        // ("coordinator is loading" on a fresh broker, a leader moving). The final outcome reaches the caller as a
        // thrown error; one attempt failing is a warning.
        if (entry.namespace === 'Connection' && message.startsWith('Response ')) logger.warn(message, fields);
        else logger.error(message, fields);
        break;
      case logLevel.WARN:
        if (message.startsWith(EXPECTED_WARNING)) logger.debug(message, fields);
        else logger.warn(message, fields);
        break;
      case logLevel.INFO:
        logger.info(message, fields);
        break;
      default:
        logger.debug(message, fields);
    }
  };
}

// Until the service wires its logger: one JSON object per line, like the service logs.
const stderrLogger: KafkaBusLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (msg, fields) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...fields })}\n`),
  error: (msg, fields) => process.stderr.write(`${JSON.stringify({ level: 'error', msg, ...fields })}\n`),
};

// ---- Errors

// kafkajs wraps the last error of an exhausted retry in KafkaJSNumberOfRetriesExceeded, which it marks non-retriable
// (its own retries are spent) although the cause was retriable: a broker that stayed away for the whole retry budget.
// For a service that is still transient, and kafkajs' own consumer restarts on exactly this error, so it stays
// retriable here. Every other error keeps kafkajs' flag.
function kafkaRetriable(err: unknown): boolean {
  if (isRetriable(err)) return true;
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'KafkaJSNumberOfRetriesExceeded';
}

// The broker refused this principal: bad credentials, or an ACL that does not allow the operation. Retrying cannot
// help, and the code lets a caller (and a test) tell it from an outage.
const AUTH_ERROR_TYPES = new Set(['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'SASL_AUTHENTICATION_FAILED']);

function isAuthError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const { type, name } = e as { type?: unknown; name?: unknown };
    if ((typeof type === 'string' && AUTH_ERROR_TYPES.has(type)) || name === 'KafkaJSSASLAuthenticationError') return true;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

function unavailable(what: string, err: unknown): PalisadeError {
  if (isAuthError(err)) return new PalisadeError('BUS_FORBIDDEN', `kafka: ${what}: ${errorMessage(err)}`, { cause: err });
  return new PalisadeError('BUS_UNAVAILABLE', `kafka: ${what}: ${errorMessage(err)}`, {
    retriable: kafkaRetriable(err),
    cause: err,
  });
}

// ---- Records

function toRecord(m: OutgoingMessage): KafkaLikeRecord {
  const value = Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength);
  const record: KafkaLikeRecord = { key: m.key, value };
  if (m.headers !== undefined) record.headers = m.headers;
  return record;
}

function headerText(v: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  // Kafka allows a header key to repeat; our messages carry one value per key, so the last one wins.
  const one = Array.isArray(v) ? v[v.length - 1] : v;
  return one === undefined ? undefined : one.toString();
}

export function toIncoming(topic: string, partition: number, m: KafkaLikeMessage): IncomingMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    const text = headerText(v);
    if (text !== undefined) headers[k] = text;
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key,
    value: m.value ?? Buffer.alloc(0),
    headers,
    timestamp: m.timestamp,
  };
}

// ---- Backoff that stop() can cut short

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---- Consumer

class KafkaBusConsumer implements Consumer {
  private readonly stopSignal = new AbortController();
  private stopping: Promise<void> | undefined;
  private fatalReported = false;
  private readonly tracker = new ProgressTracker();

  constructor(
    private readonly consumer: KafkaLikeConsumer,
    private readonly opts: ConsumerOptions,
    private readonly retry: { initialMs: number; maxMs: number },
    private readonly log: KafkaBusLogger,
    private readonly onStopped: (c: KafkaBusConsumer) => void,
  ) {
    consumer.on('consumer.crash', (event) => {
      // kafkajs restarts the consumer itself after retriable crashes; a crash it gives up on is fatal for us.
      if (event.payload.restart) return;
      this.fail(event.payload.error);
    });
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: this.opts.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // One partition batch at a time: handlers need not be reentrant, and stop() has one batch to drain.
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  stop(): Promise<void> {
    // kafkajs' disconnect stops fetching, waits for the in-flight eachBatch (which commits before returning), leaves
    // the group so its partitions move at once, and closes the connections.
    this.stopping ??= (async () => {
      this.stopSignal.abort();
      try {
        await this.consumer.disconnect();
      } finally {
        this.onStopped(this);
      }
    })();
    return this.stopping;
  }

  progress(): PartitionProgress[] { return this.tracker.snapshot(); }

  private fail(err: unknown): void {
    if (!this.fatalReported) {
      this.fatalReported = true;
      this.log.error('kafka consumer stopped on a fatal error', {
        groupId: this.opts.groupId,
        error: errorMessage(err),
      });
      try {
        this.opts.onFatal?.(err);
      } catch (cbErr) {
        this.log.error('onFatal threw', { groupId: this.opts.groupId, error: errorMessage(cbErr) });
      }
    }
    // Not awaited: this may run inside eachBatch, and disconnect waits for eachBatch to return.
    this.stop().catch((stopErr: unknown) => {
      this.log.warn('kafka consumer stop after a fatal error failed', {
        groupId: this.opts.groupId,
        error: errorMessage(stopErr),
      });
    });
  }

  private async eachBatch(payload: KafkaLikeEachBatchPayload): Promise<void> {
    const { batch } = payload;
    // Once stopping, a batch that is not processed must not be resolved either: its records stay uncommitted and go
    // to the partition's next owner.
    if (this.stopping !== undefined || batch.messages.length === 0) return;
    const records = batch.messages.map((m) => toIncoming(batch.topic, batch.partition, m));
    const end = batch.highWatermark !== undefined ? Number(batch.highWatermark) : Number(batch.lastOffset()) + 1;
    this.tracker.fetched(batch.topic, batch.partition, Number(records[0]?.offset ?? 0), end);
    let delay = this.retry.initialMs;
    for (let attempt = 1; ; attempt++) {
      const err = await this.runHandler(records, payload);
      if (err === undefined) break;
      if (!isRetriable(err)) {
        this.fail(err);
        return;
      }
      this.log.warn('batch handler failed, retrying the batch', {
        groupId: this.opts.groupId,
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: records[0]?.offset,
        attempt,
        retryInMs: delay,
        error: errorMessage(err),
      });
      await sleep(delay, this.stopSignal.signal);
      delay = Math.min(delay * 2, this.retry.maxMs);
      if (this.stopping !== undefined || !payload.isRunning() || payload.isStale()) {
        // The partition may go to another member; what it did here says nothing about it any more.
        this.tracker.released(batch.topic, batch.partition);
        return;
      }
      // Throws if the group is rebalancing: kafkajs then rejoins and the batch is fetched again from the last commit.
      await payload.heartbeat();
    }
    const last = batch.messages[batch.messages.length - 1];
    if (last !== undefined) payload.resolveOffset(last.offset);
    // lastOffset() may be past the last record (a trailing transaction marker); the committed offset is the next one
    // to read, so it is lastOffset() + 1 either way.
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    await payload.commitOffsetsIfNecessary({
      topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
    });
    this.tracker.committed(batch.topic, batch.partition, Number(next));
  }

  /** Runs the handler with a heartbeat going, so a slow batch does not cost the partition; returns what it threw. */
  private async runHandler(records: IncomingMessage[], payload: KafkaLikeEachBatchPayload): Promise<unknown> {
    const beat = setInterval(() => {
      // A failed heartbeat here means a rebalance; the commit after the handler will fail the same way and kafkajs
      // rejoins then, so there is nothing to do with the error now.
      payload.heartbeat().catch(() => undefined);
    }, HEARTBEAT_MS);
    try {
      await this.opts.handler(records);
      return undefined;
    } catch (err) {
      return err;
    } finally {
      clearInterval(beat);
    }
  }
}

// ---- Bus

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;

  private readonly client: KafkaLike;
  private readonly log: KafkaBusLogger;
  private readonly defaultPartitions: number;
  private readonly handlerRetry: { initialMs: number; maxMs: number };
  private readonly sessionTimeoutMs: number | undefined;
  private readonly fetchMaxWaitMs: number;
  private readonly topicConfigs: Readonly<Record<string, Readonly<Record<string, string>>>>;
  private readonly admin: KafkaLikeAdmin;
  private readonly kafkaProducer: KafkaLikeProducer;
  private readonly consumers = new Set<KafkaBusConsumer>();
  private connecting: Promise<void> | undefined;
  private readonly limits = new Map<string, Promise<number>>();
  private closing: Promise<void> | undefined;

  constructor(opts: KafkaBusOptions) {
    this.log = opts.logger ?? stderrLogger;
    this.client =
      opts.client ??
      new Kafka({
        brokers: opts.brokers,
        clientId: opts.clientId,
        retry: CLIENT_RETRY,
        logLevel: LEVELS[opts.logLevel ?? (opts.logger === undefined ? 'warn' : 'info')],
        logCreator: kafkaLogCreator(opts.logger ?? stderrLogger),
        ...(opts.security?.ssl !== undefined && { ssl: opts.security.ssl }),
        ...(opts.security?.sasl !== undefined && { sasl: opts.security.sasl }),
      });
    this.defaultPartitions = opts.defaultPartitions ?? DEFAULT_PARTITIONS;
    this.handlerRetry = { initialMs: opts.handlerRetry?.initialMs ?? 200, maxMs: opts.handlerRetry?.maxMs ?? 10_000 };
    this.sessionTimeoutMs = opts.sessionTimeoutMs;
    this.fetchMaxWaitMs = opts.fetchMaxWaitMs ?? 1_000;
    this.topicConfigs = opts.topicConfigs ?? {};
    this.admin = this.client.admin();
    this.kafkaProducer = this.client.producer({
      idempotent: true,
      // The idempotent producer keeps order with up to 5 in flight; 1 keeps it without relying on that.
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: CLIENT_RETRY,
      // Chosen explicitly (this also silences kafkajs' partitioner-change warning): the Java client's murmur2
      // partitioner, so a key lands on the same partition from any client.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    this.connecting ??= (async () => {
      try {
        await this.admin.connect();
        await this.kafkaProducer.connect();
      } catch (err) {
        // Let the next call try again instead of keeping a failed connection forever.
        this.connecting = undefined;
        await Promise.allSettled([this.kafkaProducer.disconnect(), this.admin.disconnect()]);
        throw unavailable('connect', err);
      }
    })();
    return this.connecting;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    await this.connect();
    try {
      const existing = new Set(await this.admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length === 0) return;
      // Already-exists (another service created it meanwhile) is not an error: kafkajs returns false for it.
      await this.admin.createTopics({
        topics: missing.map((t) => {
          const configs = Object.entries(t.configs ?? this.topicConfigs[t.topic] ?? {});
          return {
            topic: t.topic, numPartitions: t.partitions ?? this.defaultPartitions,
            ...(configs.length > 0 && { configEntries: configs.map(([name, value]) => ({ name, value })) }),
          };
        }),
        waitForLeaders: true,
      });
      this.log.info('created kafka topics', { topics: missing.map((t) => t.topic) });
      // When two services create a topic at once, the loser's createTopics returns before the topic has leaders,
      // and a subscribe right then fails with "does not host this topic-partition". Wait for leaders either way.
      await this.waitForLeaders(missing.map((t) => t.topic));
    } catch (err) {
      throw unavailable(`ensureTopics ${topics.map((t) => t.topic).join(',')}`, err);
    }
  }

  private async waitForLeaders(topics: string[], timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const { topics: meta } = await this.admin.fetchTopicMetadata({ topics });
        const ready = topics.every((name) => {
          const t = meta.find((m) => m.name === name);
          return t !== undefined && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0);
        });
        if (ready) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(',')} have no leaders after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Read once per topic (a changed topic config is seen on the next start). */
  maxMessageBytes(topic: string): Promise<number> {
    let limit = this.limits.get(topic);
    if (limit === undefined) {
      limit = this.readMaxMessageBytes(topic);
      this.limits.set(topic, limit);
      // A failed connect must not stay cached: the next start tries again.
      limit.catch(() => this.limits.delete(topic));
    }
    return limit;
  }

  private async readMaxMessageBytes(topic: string): Promise<number> {
    await this.connect();
    const admin = this.admin;
    const read = async (type: number, name: string, config: string): Promise<number | undefined> => {
      if (admin.describeConfigs === undefined) return undefined;
      const { resources } = await admin.describeConfigs({ resources: [{ type, name, configNames: [config] }], includeSynonyms: false });
      const value = resources[0]?.errorCode === 0
        ? resources[0].configEntries.find((e) => e.configName === config)?.configValue : undefined;
      const n = Number(value);
      return value !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
    };
    try {
      const fromTopic = await read(RESOURCE_TOPIC, topic, 'max.message.bytes');
      if (fromTopic !== undefined) return fromTopic;
    } catch (err) {
      this.log.warn('could not read the topic\'s max.message.bytes; trying the broker\'s', { topic, error: errorMessage(err) });
    }
    try {
      const cluster = await admin.describeCluster?.();
      const nodeId = cluster?.controller ?? cluster?.brokers[0]?.nodeId;
      if (nodeId !== undefined && nodeId !== null) {
        const fromBroker = await read(RESOURCE_BROKER, String(nodeId), 'message.max.bytes');
        if (fromBroker !== undefined) return fromBroker;
      }
    } catch (err) {
      this.log.warn('could not read the broker\'s message.max.bytes', { topic, error: errorMessage(err) });
    }
    this.log.warn('max.message.bytes unknown; assuming Kafka\'s default', { topic, bytes: DEFAULT_MAX_MESSAGE_BYTES });
    return DEFAULT_MAX_MESSAGE_BYTES;
  }

  producer(): Producer {
    return {
      send: async (topic, messages) => {
        if (messages.length === 0) return;
        await this.connect();
        try {
          await this.kafkaProducer.send({ topic, messages: messages.map(toRecord), acks: -1 });
        } catch (err) {
          const tooLarge = typeof err === 'object' && err !== null && (err as { type?: unknown }).type === 'MESSAGE_TOO_LARGE';
          const forbidden = isAuthError(err);
          const code: ErrorCode = tooLarge ? 'BUS_MESSAGE_TOO_LARGE' : forbidden ? 'BUS_FORBIDDEN' : 'BUS_SEND_FAILED';
          throw new PalisadeError(code, `kafka: send ${messages.length} record(s) to ${topic}: ${errorMessage(err)}`, {
            retriable: !forbidden && kafkaRetriable(err),
            cause: err,
          });
        }
      },
    };
  }

  async consume(opts: ConsumerOptions): Promise<Consumer> {
    await this.connect();
    const kafkaConsumer = this.client.consumer({
      groupId: opts.groupId,
      allowAutoTopicCreation: false,
      retry: CLIENT_RETRY,
      maxWaitTimeInMs: this.fetchMaxWaitMs,
      ...(this.sessionTimeoutMs === undefined ? {} : { sessionTimeout: this.sessionTimeoutMs }),
    });
    const consumer = new KafkaBusConsumer(kafkaConsumer, opts, this.handlerRetry, this.log, (c) => this.consumers.delete(c));
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (err) {
      await consumer.stop().catch(() => undefined);
      throw unavailable(`consume ${opts.topics.join(',')} as ${opts.groupId}`, err);
    }
    return consumer;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const stops = await Promise.allSettled([...this.consumers].map((c) => c.stop()));
      await Promise.allSettled([this.kafkaProducer.disconnect(), this.admin.disconnect()]);
      for (const s of stops) {
        if (s.status === 'rejected') this.log.warn('kafka consumer stop failed', { error: errorMessage(s.reason) });
      }
    })();
    return this.closing;
  }

  private closedError(): PalisadeError {
    return new PalisadeError('BUS_UNAVAILABLE', 'kafka: the bus is closed', { retriable: false });
  }
}

/** A kafkajs error as a PalisadeError: BUS_FORBIDDEN for a refusal (credentials, ACLs), else BUS_UNAVAILABLE. */
export function kafkaError(what: string, err: unknown): PalisadeError {
  return unavailable(what, err);
}
