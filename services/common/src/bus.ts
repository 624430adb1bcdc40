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
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
}

export interface Bus {
  readonly kind: 'memory' | 'kafka';
  connect(): Promise<void>;
  /** Creates the topics that do not exist yet. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  producer(): Producer;
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
