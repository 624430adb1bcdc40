// The collector stage: events from the kernel, batched into RawEventBatch records (many events per record) on the
// raw topic, keyed by node so one node's (and so one pod's) events stay in order. Kernel-side losses are sent
// in-band as LossRecords in the next batch, so every consumer downstream knows where a gap is.
//
// While the broker is away (a send fails, or stays unanswered for spoolAfterMs, or the events waiting in memory
// reach maxPendingEvents), encoded records go to the on-disk spool (spool.ts) instead of being dropped, and every
// later record goes behind them; a replay loop sends the spool oldest first and acknowledges what the broker took.
// Once the spool is empty, records go straight to the bus again. So one node's records stay in order (at worst a
// record is sent twice: at-least-once), and only a full or unwritable spool loses events, counted as spool_full or
// spool_write_failed.
import {
  BoundedProducer, KIND_NAME_BY_ID, LOSS_SOURCES, Lifecycle, TOPICS, errorMessage, isRetriable, pb, recordBytes,
  type Bus, type Logger, type Metrics, type OutgoingMessage, type Service, type ServiceState, type palisade,
} from '@palisade/common';
import type { CarriedCounters } from './carried-counters.js';
import type { EncodedEventSink, EventSource } from './event-source.js';
import { RawBatchEncoder, batchHeaderRoom, encodeBatch } from './raw-batch-encoder.js';
import type { Spool, SpoolRecord } from './spool.js';
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
  /**
   * Events waiting in memory beyond this go to the spool; without a spool (or when it is full) they are dropped and
   * counted in-band: the bus is not keeping up.
   */
  maxPendingEvents: number;
  /** Where records wait while the broker is away; none: a failed send loses its batch (counted in-band). */
  spool?: Spool;
  /** A send unanswered this long is spooled with everything after it (default 5000 ms). */
  spoolAfterMs?: number;
  /** Loss totals carried from the previous instance, and kept for the next (carried-counters.ts). */
  counters?: CarriedCounters;
  /** The instance id and the blind interval before this start (visibility.ts); none: no id, no gap record. */
  visibility?: Visibility;
  /** How often the visibility state is rewritten while running. */
  heartbeatMs?: number;
}

/** The `kind` label of palisade_collector_events_total: the registry names (bpf/include/palisade.h). */
const KIND_NAMES: Record<number, string> = Object.fromEntries(KIND_NAME_BY_ID);
const KIND_COUNT = Math.max(...Object.keys(KIND_NAMES).map(Number));

const RAW_HEADERS = { 'palisade-schema': 'palisade.v1.RawEventBatch' };
/** One replay send: at most this many spooled records and bytes (BoundedProducer splits it into broker-sized sends). */
const REPLAY_RECORDS = 32;
const REPLAY_BYTES = 8 << 20;
const REPLAY_BACKOFF_MS = { initial: 250, max: 5_000 };
const COUNTERS_SAVE_MS = 1_000;

/** Resolves when `p` settles or `signal` aborts, whichever is first; leaves no listener behind. */
async function untilAborted(p: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort!: () => void;
  const aborted = new Promise<void>((res) => { onAbort = res; signal.addEventListener('abort', onAbort, { once: true }); });
  try {
    await Promise.race([p.then(() => undefined, () => undefined), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** An encoded record on its way out, with what it holds (so a record that cannot be kept is counted). */
interface OutRecord {
  value: Uint8Array;
  events: number;
  losses: palisade.v1.ILossRecord[];
}

/** The direct send in flight: spilled once its record was written to the spool (it may still land: a duplicate). */
interface DirectSend extends OutRecord {
  spilled: boolean;
  release: () => void;
}

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
  /** Settles when the direct send in flight settles (inflight also resolves when it is spilled). */
  private directSettled: Promise<void> = Promise.resolve();
  private direct: DirectSend | undefined;
  private sending = false;
  /** Records are in the spool (or going there): every new record goes behind them until the replay empties it. */
  private spooling = false;
  private replaying: Promise<void> | undefined;
  private readonly replayStop = new AbortController();
  private lostTotals: Record<string, number> = {};
  private blindTotal = 0;
  private countersDirty = false;
  private countersSavedMs = 0;
  private lastSpoolError = 0;
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
      spoolBytes: mt.gauge('palisade_collector_spool_bytes', 'Bytes the on-disk spool takes (records waiting for the broker).',
        [], function collect() { this.set(opts.spool?.bytes ?? 0); }),
      spoolRecords: mt.gauge('palisade_collector_spool_records', 'Records waiting in the on-disk spool.',
        [], function collect() { this.set(opts.spool?.records ?? 0); }),
      spoolOldest: mt.gauge('palisade_collector_spool_oldest_age_seconds',
        'Age of the oldest record in the on-disk spool; 0 when it is empty.', [], function collect() {
          const at = opts.spool?.oldestSpooledAtMs();
          this.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
        }),
      spooled: mt.counter('palisade_collector_spooled_records_total', 'RawEventBatch records written to the on-disk spool.'),
      spooledEvents: mt.counter('palisade_collector_spooled_events_total', 'Events in the records written to the spool.'),
      replayed: mt.counter('palisade_collector_replayed_records_total', 'Spooled records the broker accepted (replayed).'),
      replayedEvents: mt.counter('palisade_collector_replayed_events_total', 'Events in the replayed records.'),
      carried: mt.gauge('palisade_collector_counters_carried_info',
        'Always 1, labelled with the instance whose totals the loss and blind-time counters started from (carried-counters.ts).',
        ['from_instance']),
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
    this.carryCounters();
    const spool = this.opts.spool;
    if (spool !== undefined && spool.records > 0) {
      // What an earlier instance could not publish goes first, before any record of this one.
      this.spooling = true;
      this.opts.logger.info('replaying the spool left by an earlier instance', { records: spool.records, bytes: spool.bytes });
    }
    const source = this.opts.source;
    if (source.startEncoded !== undefined) source.startEncoded(this.sink);
    else source.start((events) => this.onEvents(events));
    this.timer = setInterval(() => this.flush(), this.opts.flushIntervalMs);
    const visibility = this.opts.visibility;
    if (visibility !== undefined) {
      // What the node did not see before this start goes out in the first batch, before any event of this instance.
      const gap = visibility.gap();
      this.pendingLosses.push(gap);
      const blind = Math.max(0, (Number(gap.toUnixNano) - Number(gap.fromUnixNano)) / 1e9);
      this.m.blindSeconds.inc(blind);
      this.blindTotal += blind;
      this.countersDirty = true;
      visibility.heartbeat();
      if (visibility.stateError !== undefined) {
        this.opts.logger.warn('cannot write the collector state: the next start will report a gap from boot', { err: visibility.stateError });
      }
    }
    this.saveCounters(true);
    if (visibility !== undefined || this.opts.counters !== undefined) {
      this.heartbeat = setInterval(() => { visibility?.heartbeat(); this.saveCounters(true); }, this.opts.heartbeatMs ?? 5_000);
      this.heartbeat.unref();
    }
    if (this.spooling) this.kickReplay();
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
    // than two batches can be waiting when the bus is slow. A send unanswered for spoolAfterMs ends the wait by
    // moving everything to the spool.
    do {
      this.flush(true);
      await this.inflight;
    } while (this.producer && !this.spooling && (this.sending || this.pendingEvents > 0));
    if (this.spooling) {
      // The broker is away: what is left goes to the spool, for the next start to replay.
      this.flush(true);
      this.replayStop.abort();
      // A replay send in flight is given spoolAfterMs to land; if it does not, its records stay in the spool (and
      // are sent again by the next start).
      const bound = this.opts.spoolAfterMs ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.replaying, new Promise<void>((res) => { timer = setTimeout(res, bound); })]);
      clearTimeout(timer);
      this.opts.spool?.sync();
      if ((this.opts.spool?.records ?? 0) > 0) {
        this.opts.logger.info('stopping with records in the spool; the next start replays them',
          { records: this.opts.spool?.records, bytes: this.opts.spool?.bytes });
      }
    }
    // The last moment this instance saw everything: the next start's gap begins here.
    this.opts.visibility?.heartbeat();
    this.saveCounters(true);
    this.life.set('stopped');
  }

  /** For tests and the benchmark: sent batches so far. */
  get batchesSent(): number { return this.seq; }

  private onEvents(events: palisade.v1.IRawEvent[]): void {
    if (this.pendingEvents + events.length > this.opts.maxPendingEvents && this.opts.spool !== undefined) {
      this.spill('pending events reached maxPendingEvents');
      this.seal();
      this.spoolSealed();
    }
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
    if (this.sealed.length > 0) this.flush(false);
  }

  /**
   * The encoded path (EventSource.startEncoded): onEvents one event at a time, without the event objects. Backpressure
   * drops the events past maxPendingEvents, as onEvents does; kinds are counted per drain.
   */
  private readonly sink: EncodedEventSink = {
    encoder: this.encoder,
    accept: (kind: number): boolean => {
      if (this.openEvents >= this.opts.maxBatchEvents) this.seal();
      if (this.pendingEvents >= this.opts.maxPendingEvents && this.opts.spool !== undefined && this.sealed.length > 0) {
        // The bus is not keeping up: the full batches go to the spool, and the events keep coming.
        this.spill('pending events reached maxPendingEvents');
        this.spoolSealed();
      }
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
      if (this.sealed.length > 0) this.flush(false);
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
      this.countLost(source, count);
      this.addPendingLoss({ source, count, fromUnixNano: this.lastLossCheck * 1e6, toUnixNano: now * 1e6 });
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
    this.saveCounters(false);
  }

  private countLost(reason: string, count: number): void {
    this.m.lost.inc({ reason }, count);
    this.lostTotals[reason] = (this.lostTotals[reason] ?? 0) + count;
    this.countersDirty = true;
  }

  /**
   * Queues a LossRecord for the next batch; one of the same source already waiting (the spool is full, so batches
   * wait long) is widened instead, so the list stays one record per source.
   */
  private addPendingLoss(l: palisade.v1.ILossRecord): void {
    const same = l.source === 'visibility_gap' ? undefined : this.pendingLosses.find((p) => p.source === l.source);
    if (same === undefined) { this.pendingLosses.push(l); return; }
    same.count = Number(same.count ?? 0) + Number(l.count ?? 0);
    same.fromUnixNano = Math.min(Number(same.fromUnixNano ?? 0), Number(l.fromUnixNano ?? 0));
    same.toUnixNano = Math.max(Number(same.toUnixNano ?? 0), Number(l.toUnixNano ?? 0));
  }

  /** Starts the loss and blind-time counters from what the previous instance left (carried-counters.ts). */
  private carryCounters(): void {
    const prev = this.opts.counters?.load();
    if (prev === undefined) return;
    for (const [reason, v] of Object.entries(prev.lost)) {
      if (!LOSS_SOURCES.has(reason)) continue;
      this.m.lost.inc({ reason }, v);
      this.lostTotals[reason] = (this.lostTotals[reason] ?? 0) + v;
    }
    if (prev.blindSeconds > 0) {
      this.m.blindSeconds.inc(prev.blindSeconds);
      this.blindTotal += prev.blindSeconds;
    }
    this.m.carried.set({ from_instance: prev.fromInstance.slice(0, 80) || 'unknown' }, 1);
    this.opts.logger.info('loss counters carried over from the previous instance', {
      fromInstance: prev.fromInstance, lost: prev.lost, blindSeconds: prev.blindSeconds,
    });
  }

  private saveCounters(force: boolean): void {
    const counters = this.opts.counters;
    if (counters === undefined || !this.countersDirty) return;
    const now = Date.now();
    if (!force && now - this.countersSavedMs < COUNTERS_SAVE_MS) return;
    counters.save({ fromInstance: this.opts.visibility?.instanceId ?? '', lost: { ...this.lostTotals }, blindSeconds: this.blindTotal });
    this.countersSavedMs = now;
    this.countersDirty = false;
  }

  /** The next record: the oldest full batch, else the open one, with the losses waiting; undefined when none. */
  private nextRecord(): OutRecord | undefined {
    if (this.pendingEvents === 0 && this.pendingLosses.length === 0) return undefined;
    if (this.sealed.length === 0) this.seal();
    const batch = this.sealed.shift() ?? { events: Buffer.alloc(this.headerRoom), count: 0 };
    this.pendingEvents -= batch.count;
    const losses = this.pendingLosses;
    this.pendingLosses = [];
    this.m.pending.set(this.pendingEvents);
    const value = encodeBatch(this.opts.node, ++this.seq, batch.events, this.headerRoom, losses,
      this.opts.visibility?.instanceId ?? '');
    return { value, events: batch.count, losses };
  }

  /**
   * Publishes what is due. Straight to the bus, one send at a time, while the spool is empty; behind the spool
   * otherwise: full batches at once, the open one and a loss-only record only on the timer (`due`).
   */
  private flush(due = true): void {
    if (!this.producer) return;
    if (this.spooling) {
      this.collectLosses();
      this.spoolSealed();
      // A loss-only record the full spool would refuse is not made (it would only leave a gap in seq): its losses
      // wait for the next record that fits.
      const spool = this.opts.spool as Spool;
      if (due && (this.pendingEvents > 0 || spool.bytes + 64 * 1024 <= spool.capacity)) {
        const r = this.nextRecord();
        if (r !== undefined) this.toSpool(r);
      }
      this.kickReplay();
      return;
    }
    if (this.sending) return;
    this.collectLosses();
    const r = this.nextRecord();
    if (r !== undefined) this.sendDirect(r);
  }

  private sendDirect(r: OutRecord): void {
    const producer = this.producer as BoundedProducer;
    this.sending = true;
    let release!: () => void;
    const spilled = new Promise<void>((res) => { release = res; });
    const d: DirectSend = { ...r, spilled: false, release };
    this.direct = d;
    const seq = this.seq;
    const spool = this.opts.spool;
    const timer = spool === undefined ? undefined
      : setTimeout(() => this.spill(`a send unanswered for ${this.opts.spoolAfterMs ?? 5_000} ms`), this.opts.spoolAfterMs ?? 5_000);
    const settled = this.publish(producer, r.value).then(
      () => { this.m.batches.inc(); },
      (err: unknown) => {
        this.m.sendErrors.inc();
        if (spool !== undefined) {
          if (!d.spilled) this.spill(`a send failed: ${errorMessage(err)}`);
        } else {
          // No spool: the bus client already retried; the events are gone. Count them in-band so the gap is visible.
          this.droppedBackpressure += r.events;
          this.opts.logger.error('could not publish a batch', { err, events: r.events, seq });
        }
        if (this.life.state === 'ready' && !isRetriable(err)) this.life.fail(err);
      },
    ).finally(() => {
      if (timer) clearTimeout(timer);
      if (this.direct === d) this.direct = undefined;
      this.sending = false;
      if (this.spooling) this.kickReplay();
      else if (this.sealed.length > 0) this.flush(false);
    });
    this.directSettled = settled;
    this.inflight = Promise.race([settled, spilled]);
  }

  /**
   * The broker is away: from now on records go to the spool. The direct send in flight goes there first (it is the
   * oldest record; if it lands after all, the replay sends it twice), then the full batches.
   */
  private spill(why: string): void {
    if (this.opts.spool === undefined || !this.producer) return;
    if (!this.spooling) {
      this.opts.logger.warn('the broker is not taking records: spooling to disk', { why, spoolBytes: this.opts.spool.bytes });
      this.spooling = true;
    }
    const d = this.direct;
    if (d !== undefined && !d.spilled) {
      d.spilled = true;
      this.toSpool(d);
      d.release();
    }
    this.spoolSealed();
    this.kickReplay();
  }

  /** Every full batch to the spool; the first one takes the losses waiting. */
  private spoolSealed(): void {
    while (this.sealed.length > 0) {
      const r = this.nextRecord();
      if (r === undefined) return;
      this.toSpool(r);
    }
  }

  /** A record to the spool; when it cannot be kept, its events are counted lost and its losses wait for the next. */
  private toSpool(r: OutRecord): void {
    const spool = this.opts.spool as Spool;
    let reason: string | undefined;
    try {
      if (spool.append({ key: this.opts.node, value: r.value, events: r.events }) === 'ok') {
        this.m.spooled.inc();
        this.m.spooledEvents.inc(r.events);
        return;
      }
      reason = 'spool_full';
    } catch (err) {
      reason = 'spool_write_failed';
      if (Date.now() - this.lastSpoolError > 10_000) {
        this.lastSpoolError = Date.now();
        this.opts.logger.error('cannot write to the spool', { err });
      }
    }
    const now = Date.now();
    if (r.events > 0) {
      this.countLost(reason, r.events);
      this.addPendingLoss({ source: reason, count: r.events, fromUnixNano: now * 1e6, toUnixNano: now * 1e6 });
    }
    for (const l of r.losses) this.addPendingLoss(l);
  }

  private kickReplay(): void {
    if (this.replaying !== undefined || this.opts.spool === undefined || !this.producer || this.replayStop.signal.aborted) return;
    this.replaying = this.replay().catch((err: unknown) => {
      this.opts.logger.error('spool replay stopped', { err });
      if (this.life.state === 'ready') this.life.fail(err);
    }).finally(() => { this.replaying = undefined; });
  }

  /** Sends the spool, oldest first, until it is empty; then records go straight to the bus again. */
  private async replay(): Promise<void> {
    const spool = this.opts.spool as Spool;
    const producer = this.producer as BoundedProducer;
    const stop = this.replayStop.signal;
    let backoff = REPLAY_BACKOFF_MS.initial;
    let failures = 0;
    const started = Date.now();
    let sent = 0;
    // A direct send still in flight is older than anything in the spool: let it land (or fail) first.
    await untilAborted(this.directSettled, stop);
    while (!stop.aborted && spool.records > 0) {
      const records = spool.peek(REPLAY_RECORDS, REPLAY_BYTES);
      try {
        await this.publishSpooled(producer, records);
      } catch (err) {
        this.m.sendErrors.inc();
        if (!isRetriable(err)) throw err;
        if (failures++ % 10 === 0) {
          this.opts.logger.warn('spool replay: the broker is still not taking records', {
            err: errorMessage(err), records: spool.records, bytes: spool.bytes, retryInMs: backoff,
          });
        }
        await untilAborted(new Promise<void>((res) => setTimeout(res, backoff).unref()), stop);
        backoff = Math.min(backoff * 2, REPLAY_BACKOFF_MS.max);
        continue;
      }
      spool.ack(records.length);
      sent += records.length;
      backoff = REPLAY_BACKOFF_MS.initial;
      this.m.batches.inc(records.length);
      this.m.replayed.inc(records.length);
      this.m.replayedEvents.inc(records.reduce((n, r) => n + r.events, 0));
      // What arrived meanwhile is behind the records just sent; the next turn takes it.
      if (spool.records === 0 && !stop.aborted) this.spoolSealed();
    }
    if (spool.records === 0 && this.spooling) {
      this.spooling = false;
      this.opts.logger.info('spool replayed: publishing directly again', { records: sent, ms: Date.now() - started });
      if (this.life.state === 'ready' || this.life.state === 'draining') this.flush(false);
    }
  }

  /** Spooled records, in order: consecutive ones that fit the topic in one bounded send, a larger one split. */
  private async publishSpooled(producer: BoundedProducer, records: SpoolRecord[]): Promise<void> {
    const limit = producer.limit(TOPICS.raw);
    let run: OutgoingMessage[] = [];
    for (const r of records) {
      const m: OutgoingMessage = { key: r.key, value: r.value, headers: RAW_HEADERS };
      if (recordBytes(m) <= limit) { run.push(m); continue; }
      if (run.length > 0) await producer.send(TOPICS.raw, run);
      run = [];
      await this.sendSplit(producer, r.value);
    }
    if (run.length > 0) await producer.send(TOPICS.raw, run);
  }

  /** One record to the raw topic; a batch larger than the topic accepts is decoded again and split. */
  private publish(producer: BoundedProducer, record: Uint8Array): Promise<void> {
    const message: OutgoingMessage = { key: this.opts.node, value: record, headers: RAW_HEADERS };
    // Only an oversized batch (long argv or paths) is decoded again, so the common path stays bytes-only.
    return recordBytes(message) <= producer.limit(TOPICS.raw)
      ? producer.send(TOPICS.raw, [message])
      : this.sendSplit(producer, record);
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
