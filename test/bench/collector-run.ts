// One storm against the real collector path, in this process: KernelSource -> Collector (services/collector/src/
// collector.ts: batching, RawEventBatch encoding, loss records) -> MemoryBus publish -> a consumer that counts the
// records and discards them.
//
// Why MemoryBus and not Kafka: a broker on this 2-core machine would take CPU from the storm's core or the
// collector's and make both figures about the broker. The bus's publish is the same call the Kafka path makes
// (Producer.send of the encoded batch); what MemoryBus leaves out is kafkajs' framing and socket write, which the
// pipeline stage measures with a real broker.
//
// Used by the collector stage (throughput, loss, CPU per event) and the overhead stage (all_events, filtered).
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryBus, Metrics, TOPICS, pb, silentLogger, type palisade } from '@palisade/common';
import { loadCollectorConfig } from '@palisade/collector';
import { Collector } from '@palisade/collector/dist/collector.js';
import { bootToRealtimeOffsetNs, EventDecoder, LAYOUT } from '@palisade/collector/dist/event-decoder.js';
import type { EncodedEventSink, EventSource, EventSourceStats } from '@palisade/collector/dist/event-source.js';
import { KERNEL_LOSS_COUNTERS, KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { BpfSession } from '@palisade/collector/dist/bpf-session.js';
import type { KernelFilter } from '@palisade/collector/dist/kernel-filter-compile.js';
import { clocks } from '@palisade/collector/dist/native.js';
import { OpenLoad, type OpenLoadResult } from './open-load.js';
import type { Teardown } from './teardown.js';

export interface CollectorRunOptions {
  openLoadBin: string;
  stormOpens: number;
  stormPath: string;
  stormCpu: number;
  /** Drop this comm's events in the kernel (the storm's), through the collector's in-kernel filter. */
  dropComm?: string;
  /** Time between attaching and starting the storm, for the start-up burst to drain. */
  settleMs: number;
  /** Called right before the storm starts. */
  onStormStart?: () => void;
}

export interface CollectorRun {
  storm: OpenLoadResult;
  /** Storm events the Collector was handed by its source. */
  stormDelivered: number;
  /** When the last of them arrived (hrtime), 0n if none. */
  lastStormDeliveryNs: bigint;
  /** Every event the Collector was handed in the window, the storm's and everyone else's. */
  eventsReceived: number;
  /** Events the Collector dropped because the bus did not keep up (its collector_backpressure loss). */
  backpressureDropped: number;
  batchesPublished: number;
  batchesConsumed: number;
  bytesPublished: number;
  /** User+system CPU of this process from the storm's start until everything was published and consumed. */
  cpuUs: number;
  /** Growth of each kernel/addon counter over the window. */
  kernelCounters: Record<string, number>;
  kernelLost: number;
  decodeErrors: number;
  /** Peak resident set over the run (VmHWM, reset at the run's start). */
  rssPeakMib: number;
  /** Resident set when the storm started. */
  rssStartMib: number;
  /** How the filter was installed, when one was asked for. */
  filterVia?: 'KernelSource.setFilter' | 'BpfSession.setFilter';
}

/**
 * Counts the storm's events on their way into the Collector: one path compare per file-open event. On the encoded
 * path (KernelSource.startEncoded) there is no event object: the path is compared in the kernel record's bytes.
 */
class CountingSource implements EventSource {
  stormDelivered = 0;
  lastStormDeliveryNs = 0n;
  received = 0;
  startEncoded?: (sink: EncodedEventSink) => void;
  private readonly stormPathBytes: Buffer;

  constructor(private readonly inner: EventSource, private readonly stormPath: string) {
    this.stormPathBytes = Buffer.from(stormPath);
    if (inner.startEncoded !== undefined) this.startEncoded = (sink) => this.startEncodedOn(inner, sink);
  }

  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void {
    this.inner.start((events) => {
      this.received += events.length;
      let mine = 0;
      for (const e of events) {
        if (e.kind === pb.EventKind.EVENT_KIND_FILE_OPEN && e.fileOpen?.path === this.stormPath) mine++;
      }
      if (mine > 0) { this.stormDelivered += mine; this.lastStormDeliveryNs = process.hrtime.bigint(); }
      onEvents(events);
    });
  }

  private startEncodedOn(inner: EventSource, sink: EncodedEventSink): void {
    let mine = 0;
    inner.startEncoded?.({
      encoder: sink.encoder,
      accept: (kind, record, at) => {
        this.received++;
        if (kind === pb.EventKind.EVENT_KIND_FILE_OPEN && this.isStormPath(record, at)) mine++;
        return sink.accept(kind, record, at);
      },
      drained: () => {
        if (mine > 0) { this.stormDelivered += mine; mine = 0; this.lastStormDeliveryNs = process.hrtime.bigint(); }
        sink.drained();
      },
    });
  }

  /** The record's path (NUL-terminated within path_len) is the storm's, byte for byte. */
  private isStormPath(record: Buffer, at: number): boolean {
    const want = this.stormPathBytes;
    const n = want.length;
    const len = record.readUInt16LE(at + FO.path_len);
    if (len < n) return false;
    const p = at + FO.path;
    for (let i = n - 1; i >= 0; i--) if (record[p + i] !== want[i]) return false;
    return len === n || record[p + n] === 0;
  }

  stats(): EventSourceStats { return this.inner.stats(); }
  close(): void { this.inner.close(); }
}

/**
 * The collector's kernel side without the process cache and cgroup resolver, for a filter when KernelSource has no
 * setFilter of its own yet: the BPF programs and their filter maps are the same, so the kernel-side cost of a
 * filtered storm is too.
 */
class FilteredSessionSource implements EventSource {
  private session: BpfSession | undefined;
  private decoder: EventDecoder | undefined;
  private closed = false;

  constructor(private readonly opts: ConstructorParameters<typeof KernelSource>[0] & object, private readonly filter: KernelFilter) {}

  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void {
    const decoder = new EventDecoder({ bootToRealtimeOffsetNs: bootToRealtimeOffsetNs(clocks()) });
    const session = BpfSession.open(this.opts);
    this.session = session;
    this.decoder = decoder;
    session.setFilter(this.filter);
    session.start((batch) => {
      const events = decoder.decode(batch);
      if (events.length > 0) onEvents(events);
    }, (err) => { throw err; });
  }

  stats(): EventSourceStats {
    // Like KernelSource: empty once closed (the Collector looks at the counters once more while it stops).
    const counters = this.session !== undefined && !this.closed ? { ...this.session.stats() } : {};
    const kernel: Record<string, number> = {};
    for (const reason of KERNEL_LOSS_COUNTERS) kernel[reason] = counters[reason] ?? 0;
    return { kernel, counters, decodeErrors: this.decoder?.decodeErrors ?? 0 };
  }

  close(): void { this.closed = true; this.session?.close(); }
}

const FO = LAYOUT.fileOpen.fields;

type FilterableSource = KernelSource & { setFilter?: (filter: KernelFilter) => unknown };

function vmHwmMib(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m?.[1] !== undefined ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

function resetVmHwm(): void {
  // "5" resets the peak RSS to the current RSS (Linux 4.0+); without it the peak is the process' lifetime one.
  try { writeFileSync('/proc/self/clear_refs', '5'); } catch { /* the lifetime peak is an upper bound */ }
}

async function lostByReason(metrics: Metrics, reason: string): Promise<number> {
  const lost = await metrics.counter('palisade_collector_lost_events_total', '', ['reason']).get();
  return lost.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

export async function runCollectorStorm(opts: CollectorRunOptions, teardown: Teardown): Promise<CollectorRun> {
  // The collector's production defaults, so the bench measures what a deployment runs.
  const cfg = loadCollectorConfig({ env: {}, argv: [] });
  const sourceOpts = {
    mode: cfg.bufferMode, ringBufferBytes: cfg.ringBufferBytes, perfBufferPages: cfg.perfBufferPages,
    ignoreSelf: cfg.ignoreSelf,
  };
  const filter: KernelFilter | undefined = opts.dropComm !== undefined
    ? { binaries: [{ comm: opts.dropComm, action: 'drop' }], pathPrefixes: [] }
    : undefined;
  const kernelSource: FilterableSource = new KernelSource(sourceOpts);
  let filterVia: CollectorRun['filterVia'];
  let inner: EventSource = kernelSource;
  if (filter !== undefined) {
    if (typeof kernelSource.setFilter === 'function') {
      filterVia = 'KernelSource.setFilter';
    } else {
      filterVia = 'BpfSession.setFilter';
      inner = new FilteredSessionSource(sourceOpts, filter);
    }
  }
  const source = new CountingSource(inner, opts.stormPath);

  const bus = new MemoryBus();
  const metrics = new Metrics();
  const collector = new Collector({
    node: 'bench', bus, source, metrics, logger: silentLogger,
    maxBatchEvents: cfg.maxBatchEvents, flushIntervalMs: cfg.flushIntervalMs, maxPendingEvents: cfg.maxPendingEvents,
  });
  let failure: unknown;
  collector.onFail((err) => { failure = err; });
  let consumed = 0;
  let bytes = 0;
  const stop = teardown.add('collector and bus', async () => {
    try { await collector.stop(); } finally { source.close(); await bus.close(); }
  });
  await bus.consume({
    groupId: 'bench-discard', topics: [TOPICS.raw],
    handler: async (batch) => { consumed += batch.length; for (const m of batch) bytes += m.value.length; },
  });
  await collector.start();
  // After start: the filter lives in maps the session creates. Set before the storm, so none of its opens passes.
  if (filterVia === 'KernelSource.setFilter' && filter !== undefined) await kernelSource.setFilter?.(filter);
  await sleep(opts.settleMs);

  const statsBefore = source.stats();
  const receivedBefore = source.received;
  const batchesBefore = collector.batchesSent;
  const consumedBefore = consumed;
  const bytesBefore = bytes;
  resetVmHwm();
  const rssStartMib = vmHwmMib();
  opts.onStormStart?.();
  const cpuBefore = process.cpuUsage();
  const storm = new OpenLoad(opts.openLoadBin, { count: opts.stormOpens, ratePerS: 0, paths: [opts.stormPath], cpu: opts.stormCpu });
  const killStorm = teardown.add('storm process', () => storm.kill());
  const result = await storm.done;
  await killStorm();

  // Drain: until every storm event (none, when filtered) is in and every batch published was consumed, with no
  // change for two polls; or nothing came for 500 ms; or 10 s passed.
  const expected = filter !== undefined ? 0 : result.opens;
  const drainDeadline = Date.now() + 10_000;
  let seen = -1;
  let quietSince = Date.now();
  let steady = 0;
  while (Date.now() < drainDeadline && Date.now() - quietSince < 500 && failure === undefined) {
    await sleep(50);
    const now = source.received + consumed;
    if (now !== seen) { seen = now; quietSince = Date.now(); steady = 0; continue; }
    if (source.stormDelivered >= expected && consumed === collector.batchesSent && ++steady >= 2) break;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const rssPeakMib = vmHwmMib();
  const statsAfter = source.stats();
  const received = source.received - receivedBefore;
  const batchesPublished = collector.batchesSent - batchesBefore;
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(statsAfter.counters ?? {})) counters[k] = v - (statsBefore.counters?.[k] ?? 0);
  await stop();
  if (failure !== undefined) throw new Error(`the collector failed during the storm: ${String(failure)}`);

  // Backpressure drops go out in-band as LossRecords; rather than decode every batch, read the counter the
  // collector keeps beside them. MemoryBus drops nothing, so this is 0 unless the collector's pending queue overflowed.
  const backpressureDropped = await lostByReason(metrics, 'collector_backpressure');
  return {
    storm: result,
    stormDelivered: source.stormDelivered,
    lastStormDeliveryNs: source.lastStormDeliveryNs,
    eventsReceived: received,
    backpressureDropped,
    batchesPublished,
    batchesConsumed: consumed - consumedBefore,
    bytesPublished: bytes - bytesBefore,
    cpuUs: cpu.user + cpu.system,
    kernelCounters: counters,
    kernelLost: KERNEL_LOSS_COUNTERS.reduce((s, k) => s + (counters[k] ?? 0), 0),
    decodeErrors: statsAfter.decodeErrors - statsBefore.decodeErrors,
    rssPeakMib,
    rssStartMib,
    ...(filterVia !== undefined && { filterVia }),
  };
}
