// The collector stage: events from the kernel, batched into RawEventBatch records (many events per record) on the
// raw topic, keyed by node so one node's (and so one pod's) events stay in order. Kernel-side losses are sent
// in-band as LossRecords in the next batch, so every consumer downstream knows where a gap is.
import {
  BoundedProducer, KIND_NAME_BY_ID, Lifecycle, PalisadeError, TOPICS, pb, recordBytes,
  type Bus, type Logger, type Metrics, type OutgoingMessage, type Service, type ServiceState, type palisade,
} from '@palisade/common';
import type { EncodedEventSink, EventSource } from './event-source.js';
import { RawBatchEncoder, batchHeaderRoom, encodeBatch } from './raw-batch-encoder.js';
import type { Visibility } from './visibility.js';

export interface CollectorOptions {
  node: string;
  bus: Bus;
  source: EventSource;
  metrics: Metrics;
  logger: Logger;
  /** A batch is sent when it holds this many events... */
  maxBatchEvents: number;
  /** ...or when its oldest event is this old. */
  flushIntervalMs: number;
  /** Events waiting for the bus beyond this are dropped (and counted in-band): the bus is not keeping up. */
  maxPendingEvents: number;
  /** The instance id and the blind interval before this start (visibility.ts); none: no id, no gap record. */
  visibility?: Visibility;
  /** How often the visibility state is rewritten while running. */
  heartbeatMs?: number;
}

/** The `kind` label of palisade_collector_events_total: the registry names (bpf/include/palisade.h). */
const KIND_NAMES: Record<number, string> = Object.fromEntries(KIND_NAME_BY_ID);
const KIND_COUNT = Math.max(...Object.keys(KIND_NAMES).map(Number));

const RAW_HEADERS = { 'palisade-schema': 'palisade.v1.RawEventBatch' };

export class Collector implements Service {
  readonly name = 'collector';
  private readonly life = new Lifecycle();
  private producer: BoundedProducer | undefined;
  // Events are encoded as they arrive, so what waits for the bus is bytes (~250 per event), not object graphs the
  // collector would hold through young-generation collections: the open batch in the encoder, full ones in `sealed`.
  private readonly encoder = new RawBatchEncoder();
  private openEvents = 0;
  private sealed: { events: Buffer; count: number }[] = [];
  private readonly headerRoom: number;
  private pendingEvents = 0;
  private pendingLosses: palisade.v1.ILossRecord[] = [];
  private droppedBackpressure = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private sending = false;
  private lastKernel: Record<string, number> = {};
  private lastDecodeErrors = 0;
  private lastLossCheck = Date.now();
  private readonly m;

  constructor(private readonly opts: CollectorOptions) {
    this.headerRoom = batchHeaderRoom(opts.node);
    const mt = opts.metrics;
    this.m = {
      events: mt.counter('palisade_collector_events_total', 'Kernel events received by the collector.', ['kind']),
      batches: mt.counter('palisade_collector_batches_total', 'RawEventBatch records published.'),
      lost: mt.counter('palisade_collector_lost_events_total',
        'Events lost before publication, by where (kernel reasons, decode, backpressure).', ['reason']),
      sendErrors: mt.counter('palisade_collector_send_errors_total', 'Failed attempts to publish a batch.'),
      kernelCounters: mt.gauge('palisade_collector_kernel_counter',
        'Kernel and addon counters since the programs were loaded (bpf/README.md, Counters).', ['name'],
        function collect() { for (const [name, v] of Object.entries(opts.source.stats().counters ?? {})) this.set({ name }, v); }),
      pending: mt.gauge('palisade_collector_pending_events', 'Events waiting to be published.'),
      blindSeconds: mt.counter('palisade_collector_blind_seconds_total',
        'Seconds this node had no collector before a start (the visibility_gap LossRecords).'),
      programAttached: mt.gauge('palisade_collector_program_attached',
        'Whether each BPF program is attached (1) or not (0: this kernel lacks its hook or refused it).', ['program'],
        function collect() { for (const p of opts.source.programs?.() ?? []) this.set({ program: p.name }, p.attached ? 1 : 0); }),
    };
  }

  get state(): ServiceState { return this.life.state; }

  /** /readyz detail: the programs that are not attached, and the event kinds that are therefore not seen at all. */
  detail(): Record<string, unknown> {
    const programs = this.opts.source.programs?.() ?? [];
    const missing = programs.filter((p) => !p.attached);
    const seen = new Set(programs.filter((p) => p.attached).map((p) => p.kind));
    const unseen = [...new Set(missing.map((p) => p.kind))].filter((k) => k !== '' && !seen.has(k));
    return {
      programs: { total: programs.length, attached: programs.length - missing.length },
      notAttached: missing.map((p) => ({ program: p.name, kind: p.kind, reason: p.reason })),
      kindsNotSeen: unseen,
    };
  }
  onFail(listener: (err: unknown) => void): void { this.life.onFail(listener); }

  async start(): Promise<void> {
    await this.opts.bus.ensureTopics([{ topic: TOPICS.raw }, { topic: TOPICS.deadLetter }]);
    this.producer = await BoundedProducer.create({
      bus: this.opts.bus, stage: 'collector', metrics: this.opts.metrics, logger: this.opts.logger, topics: [TOPICS.raw],
    });
    const source = this.opts.source;
    if (source.startEncoded !== undefined) source.startEncoded(this.sink);
    else source.start((events) => this.onEvents(events));
    this.timer = setInterval(() => this.flush(), this.opts.flushIntervalMs);
    const visibility = this.opts.visibility;
    if (visibility !== undefined) {
      // What the node did not see before this start goes out in the first batch, before any event of this instance.
      const gap = visibility.gap();
      this.pendingLosses.push(gap);
      this.m.blindSeconds.inc(Math.max(0, (Number(gap.toUnixNano) - Number(gap.fromUnixNano)) / 1e9));
      visibility.heartbeat();
      if (visibility.stateError !== undefined) {
        this.opts.logger.warn('cannot write the collector state: the next start will report a gap from boot', { err: visibility.stateError });
      }
      this.heartbeat = setInterval(() => visibility.heartbeat(), this.opts.heartbeatMs ?? 5_000);
      this.heartbeat.unref();
    }
    const programs = source.programs?.() ?? [];
    for (const p of programs) {
      if (!p.attached) this.opts.logger.warn('BPF program not attached: this kernel lacks its hook', { program: p.name, kind: p.kind, reason: p.reason });
    }
    this.life.set('ready');
    this.opts.logger.info('collector ready', {
      node: this.opts.node, programs: programs.length, attached: programs.filter((p) => p.attached).length,
    });
  }

  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.set('draining');
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.opts.source.close();
    // A send's completion may start the next one (see flush), so wait until nothing is in flight or pending: more
    // than two batches can be waiting when the bus is slow.
    do {
      this.flush();
      await this.inflight;
    } while (this.producer && (this.sending || this.pendingEvents > 0));
    // The last moment this instance saw everything: the next start's gap begins here.
    this.opts.visibility?.heartbeat();
    this.life.set('stopped');
  }

  /** For tests and the benchmark: sent batches so far. */
  get batchesSent(): number { return this.seq; }

  private onEvents(events: palisade.v1.IRawEvent[]): void {
    if (this.pendingEvents + events.length > this.opts.maxPendingEvents) {
      const room = Math.max(0, this.opts.maxPendingEvents - this.pendingEvents);
      const dropped = events.length - room;
      this.droppedBackpressure += dropped;
      events = events.slice(0, room);
    }
    // One counter update per kind and batch: a labelled inc per event cost more than decoding the event.
    const byKind = new Array<number>(KIND_COUNT + 1).fill(0);
    const maxBatch = this.opts.maxBatchEvents;
    for (const e of events) {
      const k = e.kind ?? 0;
      byKind[k > 0 && k <= KIND_COUNT ? k : 0]! += 1;
      this.encoder.add(e);
      this.pendingEvents++;
      if (++this.openEvents >= maxBatch) this.seal();
    }
    this.countKinds(byKind);
    this.m.pending.set(this.pendingEvents);
    if (this.sealed.length > 0) this.flush();
  }

  /**
   * The encoded path (EventSource.startEncoded): onEvents one event at a time, without the event objects. Backpressure
   * drops the events past maxPendingEvents, as onEvents does; kinds are counted per drain.
   */
  private readonly sink: EncodedEventSink = {
    encoder: this.encoder,
    accept: (kind: number): boolean => {
      if (this.openEvents >= this.opts.maxBatchEvents) this.seal();
      if (this.pendingEvents >= this.opts.maxPendingEvents) {
        this.droppedBackpressure++;
        return false;
      }
      this.drainKinds[kind > 0 && kind <= KIND_COUNT ? kind : 0]! += 1;
      this.pendingEvents++;
      this.openEvents++;
      return true;
    },
    drained: (): void => {
      if (this.openEvents >= this.opts.maxBatchEvents) this.seal();
      this.countKinds(this.drainKinds);
      this.drainKinds.fill(0);
      this.m.pending.set(this.pendingEvents);
      if (this.sealed.length > 0) this.flush();
    },
  };
  private readonly drainKinds = new Array<number>(KIND_COUNT + 1).fill(0);

  private countKinds(byKind: number[]): void {
    for (let k = 0; k <= KIND_COUNT; k++) {
      const n = byKind[k] ?? 0;
      if (n > 0) this.m.events.inc({ kind: KIND_NAMES[k] ?? 'unknown' }, n);
    }
  }

  /** Closes the open batch: its events' bytes leave the encoder's buffer. */
  private seal(): void {
    if (this.openEvents === 0) return;
    this.sealed.push({ events: this.encoder.take(this.headerRoom), count: this.openEvents });
    this.openEvents = 0;
  }

  /** Turns counters that grew since the last look into LossRecords for the next batch. */
  private collectLosses(): void {
    const now = Date.now();
    const stats = this.opts.source.stats();
    const add = (source: string, count: number): void => {
      if (count <= 0) return;
      this.m.lost.inc({ reason: source }, count);
      this.pendingLosses.push({ source, count, fromUnixNano: this.lastLossCheck * 1e6, toUnixNano: now * 1e6 });
    };
    for (const [reason, value] of Object.entries(stats.kernel)) {
      add(reason, value - (this.lastKernel[reason] ?? 0));
    }
    this.lastKernel = { ...stats.kernel };
    add('decode', stats.decodeErrors - this.lastDecodeErrors);
    this.lastDecodeErrors = stats.decodeErrors;
    add('collector_backpressure', this.droppedBackpressure);
    this.droppedBackpressure = 0;
    this.lastLossCheck = now;
  }

  private flush(): void {
    if (this.sending || !this.producer) return;
    this.collectLosses();
    if (this.pendingEvents === 0 && this.pendingLosses.length === 0) return;
    // The oldest full batch, else the open one: the first maxBatchEvents pending events, as a batch always was.
    if (this.sealed.length === 0) this.seal();
    const batch = this.sealed.shift() ?? { events: Buffer.alloc(this.headerRoom), count: 0 };
    this.pendingEvents -= batch.count;
    const losses = this.pendingLosses;
    this.pendingLosses = [];
    this.m.pending.set(this.pendingEvents);
    const producer = this.producer;
    const record = encodeBatch(this.opts.node, ++this.seq, batch.events, this.headerRoom, losses,
      this.opts.visibility?.instanceId ?? '');
    this.sending = true;
    const message: OutgoingMessage = { key: this.opts.node, value: record, headers: RAW_HEADERS };
    // A batch of events with long argv or paths can be larger than the topic accepts: only then is it decoded again
    // and split, so the common path stays bytes-only.
    const send = recordBytes(message) <= producer.limit(TOPICS.raw)
      ? producer.send(TOPICS.raw, [message])
      : this.sendSplit(producer, record);
    this.inflight = send.then(
      () => { this.m.batches.inc(); },
      (err: unknown) => {
        // The bus client already retried; the events are gone. Count them in-band so the gap is visible.
        this.m.sendErrors.inc();
        this.droppedBackpressure += batch.count;
        this.opts.logger.error('could not publish a batch', { err, events: batch.count, seq: this.seq });
        if (this.life.state === 'ready' && !(err instanceof PalisadeError && err.retriable)) this.life.fail(err);
      },
    ).finally(() => {
      this.sending = false;
      if (this.sealed.length > 0) this.flush();
    });
  }

  /** Publishes an encoded batch too large for one record as several, with the same seq (the enricher sees no gap). */
  private sendSplit(producer: BoundedProducer, record: Uint8Array): Promise<void> {
    const b = pb.RawEventBatch.decode(record);
    const encode = (events: palisade.v1.IRawEvent[], losses: palisade.v1.ILossRecord[] = []): Uint8Array =>
      pb.RawEventBatch.encode({ node: b.node, seq: b.seq, events, losses, ...(b.instanceId !== '' && { instanceId: b.instanceId }) }).finish();
    const encodeItem = (e: palisade.v1.IRawEvent): Uint8Array => pb.RawEvent.encode(e).finish();
    const parts = [{ key: this.opts.node, headers: RAW_HEADERS, items: b.events, encode: (evs: palisade.v1.IRawEvent[]) => encode(evs), encodeItem }];
    if (b.losses.length > 0) parts.push({ key: this.opts.node, headers: RAW_HEADERS, items: [], encode: () => encode([], b.losses), encodeItem });
    return producer.sendSplit(TOPICS.raw, parts);
  }
}
