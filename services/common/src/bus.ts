// The transport seam. Services see only this interface; memory-bus.ts (embedded default) and kafka-bus.ts
// (kafkajs, or any client with the KafkaJS API) implement it.
//
// Delivery contract, the same for both: a consumer's handler gets a batch of records from one partition, in offset
// order; the records' offsets are committed only after the handler resolves (at-least-once). A handler that throws
// a retriable error gets the same batch again after a backoff; any other error stops the consumer and is reported
// through onFatal. Producers are idempotent with acks from all in-sync replicas.

export interface OutgoingMessage {
  /** Records with the same key go to the same partition, so they stay in order. */
  key: string | Buffer | null;
  value: Buffer | Uint8Array;
  headers?: Record<string, string>;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
  /** Broker append time, ms since the epoch, as a string (KafkaJS' convention). */
  timestamp: string;
}

export interface Producer {
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
}

export type BatchHandler = (batch: IncomingMessage[]) => Promise<void>;

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts. Default: earliest. */
  fromBeginning?: boolean;
  handler: BatchHandler;
  /** Called once if the consumer stops on a non-retriable error. */
  onFatal?: (err: unknown) => void;
}

export interface Consumer {
  /** Stops fetching, waits for the in-flight batch to finish and commit. Idempotent. */
  stop(): Promise<void>;
  /** Per partition this consumer has fetched: committed offset, end, lag, and how long work has waited for a commit. */
  progress?(): PartitionProgress[];
}

/** One partition as its consumer sees it (consumer-progress.ts keeps these for both buses). */
export interface PartitionProgress {
  topic: string;
  partition: number;
  /** The next offset to read, as last committed by this consumer; undefined before its first commit. */
  committed: number | undefined;
  /** The partition's end (next offset to be written) as of the last fetch. */
  highWatermark: number;
  /** Records fetched or known to exist that are not committed yet. */
  lag: number;
  /** How long the batch at the current position has waited for its commit; undefined when nothing is pending. */
  pendingMs: number | undefined;
  /** ms since the epoch of the last commit, if any. */
  lastCommitAt: number | undefined;
}

/** Kafka's default max.message.bytes (1 MiB + the record batch overhead). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

// What one record costs in a Kafka record batch besides its key, value and header bytes: length, attributes,
// timestamp and offset deltas and the key/value/header lengths, as varints. 32 is above the worst case for records
// under 2 GiB with a few headers.
const RECORD_OVERHEAD_BYTES = 32;

/** A record's size as the broker counts it against max.message.bytes (an upper bound). */
export function recordBytes(m: OutgoingMessage): number {
  let n = RECORD_OVERHEAD_BYTES + m.value.byteLength;
  if (m.key !== null) n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.byteLength;
  for (const [k, v] of Object.entries(m.headers ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  return n;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  /** Kafka topic configs set when the topic is created (e.g. retention.ms); an existing topic is left as it is. */
  configs?: Readonly<Record<string, string>>;
}

export interface Bus {
  readonly kind: 'memory' | 'kafka';
  connect(): Promise<void>;
  /** Creates the topics that do not exist yet. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  producer(): Producer;
  /**
   * The most bytes one record batch may have on this topic (Kafka's max.message.bytes: the topic's config, else the
   * broker's message.max.bytes, else 1 MiB). A send whose records for one partition exceed it fails with the
   * non-retriable BUS_MESSAGE_TOO_LARGE; BoundedProducer (bounded-producer.ts) keeps every send under it.
   */
  maxMessageBytes(topic: string): Promise<number>;
  consume(opts: ConsumerOptions): Promise<Consumer>;
  /** Stops every consumer (each drains and commits), then disconnects producers. Idempotent. */
  close(): Promise<void>;
}

/** Topic names. Keep in sync with proto/README.md. */
export const TOPICS = {
  raw: 'palisade.events.raw',
  enriched: 'palisade.events.enriched',
  alerts: 'palisade.alerts',
  actions: 'palisade.actions',
  deadLetter: 'palisade.deadletter',
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];
