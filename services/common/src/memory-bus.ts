// The embedded transport: Kafka's delivery contract (see bus.ts) in one process. Keyed records go to a partition by
// hash, so one key's records stay in order; each consumer group has committed offsets per partition; a batch is
// committed only after its handler resolves; retriable failures redeliver the same batch.
//
// Memory is bounded: records every active group has committed are dropped, and a producer waits (backpressure)
// while an active group lags more than maxLag records on the target partition, so a slow stage slows the collector,
// whose kernel buffer then counts what it cannot hold, instead of the heap growing without limit.
import type { Bus, Consumer, ConsumerOptions, IncomingMessage, OutgoingMessage, PartitionProgress, Producer, TopicSpec } from './bus.js';
import { DEFAULT_MAX_MESSAGE_BYTES, recordBytes } from './bus.js';
import { ProgressTracker } from './consumer-progress.js';
import { PalisadeError, isRetriable } from './errors.js';
import { backoffMs, sleep } from './retry.js';

export interface MemoryBusOptions {
  partitions?: number;
  /** Records a group may lag on one partition before producers wait. */
  maxLag?: number;
  /** Records kept on a partition no group reads (dead letters nobody consumes, say). */
  retainUnread?: number;
  maxBatch?: number;
  /**
   * The most bytes one record may have (recordBytes), like a broker's max.message.bytes: a larger one fails the send
   * with the non-retriable BUS_MESSAGE_TOO_LARGE, as Kafka does. Default: Kafka's 1 MiB.
   */
  maxMessageBytes?: number;
}

interface StoredRecord {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: string;
}

class Partition {
  base = 0;
  records: StoredRecord[] = [];
  get end(): number { return this.base + this.records.length; }
}

class Topic {
  readonly partitions: Partition[];
  constructor(readonly name: string, count: number) {
    this.partitions = Array.from({ length: count }, () => new Partition());
  }
}

class Group {
  readonly committed = new Map<string, number>(); // `${topic}/${partition}` -> next offset to read
  active = 0;
  constructor(readonly id: string, readonly fromBeginning: boolean) {}
}

/** FNV-1a, so a key always maps to the same partition. */
function partitionFor(key: Buffer | null, count: number, roundRobin: number): number {
  if (key === null) return roundRobin % count;
  let h = 0x811c9dc5;
  for (const b of key) { h ^= b; h = Math.imul(h, 0x01000193) >>> 0; }
  return h % count;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly consumers = new Set<MemoryConsumer>();
  private dataWaiters: (() => void)[] = [];
  private spaceWaiters: (() => void)[] = [];
  private rr = 0;
  private closed = false;
  /** Records dropped from partitions that no group reads, past retainUnread. */
  retentionDropped = 0;
  readonly partitionCount: number;
  readonly maxLag: number;
  readonly retainUnread: number;
  readonly maxBatch: number;
  readonly maxMessageBytesLimit: number;

  constructor(opts: MemoryBusOptions = {}) {
    this.partitionCount = opts.partitions ?? 3;
    this.maxLag = opts.maxLag ?? 50_000;
    this.retainUnread = opts.retainUnread ?? 10_000;
    this.maxBatch = opts.maxBatch ?? 500;
    this.maxMessageBytesLimit = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  async maxMessageBytes(_topic: string): Promise<number> { return this.maxMessageBytesLimit; }

  async connect(): Promise<void> { /* nothing to connect to */ }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const s of specs) this.topic(s.topic, s.partitions);
  }

  producer(): Producer {
    return { send: (topic, messages) => this.send(topic, messages) };
  }

  async consume(opts: ConsumerOptions): Promise<Consumer> {
    if (this.closed) throw new PalisadeError('BUS_UNAVAILABLE', 'bus is closed');
    let group = this.groups.get(opts.groupId);
    if (!group) { group = new Group(opts.groupId, opts.fromBeginning ?? true); this.groups.set(opts.groupId, group); }
    const topics = opts.topics.map((t) => this.topic(t));
    const c = new MemoryConsumer(this, group, topics, opts);
    this.consumers.add(c);
    group.active++;
    c.run().finally(() => { group.active--; this.consumers.delete(c); this.wakeSpace(); });
    return c;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.wakeSpace();
  }

  /** End offset of every partition of a topic (for tests and metrics). */
  endOffsets(topic: string): number[] {
    return this.topic(topic).partitions.map((p) => p.end);
  }

  // ---- internals shared with MemoryConsumer ----

  topic(name: string, partitions?: number): Topic {
    let t = this.topics.get(name);
    if (!t) { t = new Topic(name, partitions ?? this.partitionCount); this.topics.set(name, t); }
    return t;
  }

  position(group: Group, topic: Topic, p: number): number {
    const part = topic.partitions[p] as Partition;
    const k = `${topic.name}/${p}`;
    let pos = group.committed.get(k);
    if (pos === undefined) { pos = group.fromBeginning ? part.base : part.end; group.committed.set(k, pos); }
    return Math.max(pos, part.base);
  }

  commit(group: Group, topic: Topic, p: number, next: number): void {
    group.committed.set(`${topic.name}/${p}`, next);
    this.trim(topic, p);
    this.wakeSpace();
  }

  waitForData(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) { resolve(); return; }
      const done = (): void => { signal.removeEventListener('abort', done); resolve(); };
      this.dataWaiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private readers(topic: Topic): Group[] {
    return [...this.groups.values()].filter((g) => g.active > 0 && [...g.committed.keys()].some((k) => k.startsWith(topic.name + '/')));
  }

  private trim(topic: Topic, p: number): void {
    const part = topic.partitions[p] as Partition;
    const readers = [...this.groups.values()].filter((g) => g.committed.has(`${topic.name}/${p}`));
    let upTo: number;
    if (readers.length > 0) {
      upTo = Math.min(...readers.map((g) => g.committed.get(`${topic.name}/${p}`) ?? part.base));
    } else {
      upTo = part.end - this.retainUnread;
      if (upTo > part.base) this.retentionDropped += upTo - part.base;
    }
    if (upTo > part.base) {
      part.records.splice(0, upTo - part.base);
      part.base = upTo;
    }
  }

  private lagging(topic: Topic, p: number): boolean {
    const part = topic.partitions[p] as Partition;
    for (const g of this.readers(topic)) {
      const pos = g.committed.get(`${topic.name}/${p}`) ?? part.base;
      if (part.end - pos > this.maxLag) return true;
    }
    return false;
  }

  private async send(topicName: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new PalisadeError('BUS_UNAVAILABLE', 'bus is closed', { retriable: false });
    // Checked before anything is stored: a send either fails whole, as a rejected Kafka produce does, or goes on.
    for (const m of messages) {
      const size = recordBytes(m);
      if (size > this.maxMessageBytesLimit) {
        throw new PalisadeError('BUS_MESSAGE_TOO_LARGE',
          `memory bus: a ${size}-byte record is larger than the ${this.maxMessageBytesLimit} bytes ${topicName} accepts`);
      }
    }
    const topic = this.topic(topicName);
    const now = String(Date.now());
    for (const m of messages) {
      const key = m.key === null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key);
      const p = partitionFor(key, topic.partitions.length, this.rr++);
      while (this.lagging(topic, p) && !this.closed) {
        // The records pushed so far in this call must reach the consumers, or none of them commits and wakes us.
        this.wakeData();
        await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      }
      const value = Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength);
      const part = topic.partitions[p] as Partition;
      part.records.push({ key, value, headers: { ...m.headers }, timestamp: now });
      if (this.readers(topic).length === 0) this.trim(topic, p);
    }
    this.wakeData();
  }

  private wakeData(): void {
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const w of waiters) w();
  }

  private wakeSpace(): void {
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }
}

class MemoryConsumer implements Consumer {
  private readonly abort = new AbortController();
  private finished: Promise<void> | undefined;
  private next = 0;
  private readonly tracker = new ProgressTracker();

  constructor(
    private readonly bus: MemoryBus,
    private readonly group: Group,
    private readonly topics: Topic[],
    private readonly opts: ConsumerOptions,
  ) {
    // Claim positions now, so records produced after consume() resolves are seen even when fromBeginning is false.
    for (const t of topics) for (let p = 0; p < t.partitions.length; p++) bus.position(group, t, p);
  }

  run(): Promise<void> {
    this.finished ??= this.loop();
    return this.finished;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.finished;
  }

  progress(): PartitionProgress[] { return this.tracker.snapshot(); }

  /** One batch at a time per consumer, round-robin over partitions, like KafkaJS' default concurrency of 1. */
  private async loop(): Promise<void> {
    const slots = this.topics.flatMap((t) => t.partitions.map((_, p) => ({ t, p })));
    let failures = 0;
    while (!this.abort.signal.aborted) {
      let picked: { t: Topic; p: number; from: number } | undefined;
      for (let i = 0; i < slots.length && !picked; i++) {
        const s = slots[(this.next + i) % slots.length] as { t: Topic; p: number };
        const from = this.bus.position(this.group, s.t, s.p);
        if (from < (s.t.partitions[s.p] as Partition).end) { picked = { ...s, from }; this.next = (this.next + i + 1) % slots.length; }
      }
      if (!picked) { await this.bus.waitForData(this.abort.signal); continue; }
      const part = picked.t.partitions[picked.p] as Partition;
      const start = picked.from - part.base;
      const recs = part.records.slice(start, start + this.bus.maxBatch);
      const batch: IncomingMessage[] = recs.map((r, i) => ({
        topic: picked.t.name, partition: picked.p, offset: String(picked.from + i),
        key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp,
      }));
      this.tracker.fetched(picked.t.name, picked.p, picked.from, part.end);
      try {
        await this.opts.handler(batch);
        failures = 0;
        this.bus.commit(this.group, picked.t, picked.p, picked.from + recs.length);
        this.tracker.committed(picked.t.name, picked.p, picked.from + recs.length);
      } catch (err) {
        if (!isRetriable(err)) { this.opts.onFatal?.(err); return; }
        failures++;
        await sleep(backoffMs(failures, 50, 5_000), this.abort.signal);
      }
    }
  }
}
