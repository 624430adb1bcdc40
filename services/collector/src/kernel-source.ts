// The collector's kernel side in one object: the BPF session (native.ts), the batch decoder, the cgroup resolver and
// the process cache (the binary, exec id and ancestry the kernel events do not carry).
import { KERNEL_LOSS_COUNTERS, PalisadeError, pb, type palisade } from '@palisade/common';
import { CgroupResolver } from './cgroup-resolver.js';
import { ContainerStartCache } from './container-start.js';
import { ArgvRedactor } from './redact.js';
import {
  bootToRealtimeOffsetNs, cString, EventDecoder, i64, isSensitiveWrite, LAYOUT, normalisePath, opensForWrite,
  SYSCALL_NAMES, u64,
} from './event-decoder.js';
import type { EncodedEventSink, EventSource, SourceProgram } from './event-source.js';
import { BpfSession, type BpfSessionOptions } from './bpf-session.js';
import type { KernelFilter } from './kernel-filter-compile.js';
import { clocks } from './native.js';
import { ProcessCache, type ProcessCacheStats } from './process-cache.js';
import type { RawBatchEncoder } from './raw-batch-encoder.js';

export interface KernelSourceOptions extends BpfSessionOptions {
  /** cgroup2 mount point the resolver walks. */
  cgroupRoot?: string;
  /** Minimum time between two cgroup walks triggered by unknown ids. */
  cgroupWalkIntervalMs?: number;
  /** Most processes the process cache remembers (binary, exec id, parent). */
  binaryCacheSize?: number;
  /** Where procfs is mounted: read at start for every process, and later for pids no event introduced. */
  procRoot?: string;
  /** How long an exited process stays resolvable, for its late events and its children's. */
  processExitGraceMs?: number;
  /** Redacts secrets from exec argv before they leave the collector (default: the built-in patterns). */
  redactor?: ArgvRedactor;
}

/**
 * The counters that mean "an event was dropped": the registry rows marked as a loss (bpf/include/palisade.h, PAL_STATS
 * and PAL_ADDON_STATS). The rest count throughput (events_emitted, records_delivered) or a field left empty
 * (read_*_failed: the event still went out).
 */
export { KERNEL_LOSS_COUNTERS };

export interface KernelSourceStats {
  /** Dropped events by reason: the KERNEL_LOSS_COUNTERS. */
  kernel: Record<string, number>;
  /** Every kernel and addon counter (see bpf/README.md). */
  counters: Record<string, number>;
  /** Records the decoder rejected. */
  decodeErrors: number;
  /** Hits, misses and /proc lookups of the process cache. */
  processCache: ProcessCacheStats;
}

/**
 * One drain concatenates the per-CPU ring shards, so a child's exec from one CPU can come before its parent's exec
 * from another; the process cache needs them in the order they happened. Each shard is already in order, so this
 * only sorts (stable, by kernel timestamp) when the batch is not; a drain that stopped at its byte cap can still
 * leave a later shard's older events for the next drain, and the cache's /proc lookup covers that rare case.
 */
export function inKernelOrder(events: palisade.v1.IRawEvent[]): palisade.v1.IRawEvent[] {
  let prev = -Infinity;
  for (const e of events) {
    const t = e.timeUnixNano ?? 0;
    if (t < prev) return events.sort((a, b) => (a.timeUnixNano ?? 0) - (b.timeUnixNano ?? 0));
    prev = t;
  }
  return events;
}

export class KernelSource implements EventSource {
  private readonly opts: KernelSourceOptions;
  private readonly resolver: CgroupResolver;
  private readonly processes: ProcessCache;
  private readonly starts: ContainerStartCache;
  private session: BpfSession | undefined;
  private decoder: EventDecoder | undefined;
  private closed = false;

  constructor(opts: KernelSourceOptions = {}) {
    this.opts = opts;
    this.resolver = new CgroupResolver({
      ...(opts.cgroupRoot !== undefined && { root: opts.cgroupRoot }),
      ...(opts.cgroupWalkIntervalMs !== undefined && { minWalkIntervalMs: opts.cgroupWalkIntervalMs }),
    });
    this.processes = new ProcessCache({
      ...(opts.binaryCacheSize !== undefined && { maxEntries: opts.binaryCacheSize }),
      ...(opts.procRoot !== undefined && { procRoot: opts.procRoot }),
      ...(opts.processExitGraceMs !== undefined && { exitGraceMs: opts.processExitGraceMs }),
    });
    this.starts = new ContainerStartCache({
      ...(opts.procRoot !== undefined && { procRoot: opts.procRoot }),
      ...(opts.cgroupRoot !== undefined && { cgroupRoot: opts.cgroupRoot }),
    });
  }

  /**
   * Loads and attaches the BPF programs and starts delivering decoded events, one array per kernel drain.
   * Throws PalisadeError (CONFIG_INVALID, BPF_LOAD_FAILED, BPF_ATTACH_FAILED, NATIVE_ERROR); later failures
   * (BPF_POLL_FAILED) go to onError, or are thrown from the loop when there is no onError.
   */
  start(
    onEvents: (events: palisade.v1.IRawEvent[]) => void,
    onError: (err: PalisadeError) => void = (err) => {
      throw err;
    },
  ): void {
    this.open((decoder) => (batch) => {
      const events = inKernelOrder(decoder.decode(batch));
      for (const event of events) this.annotate(event);
      this.processes.expire();
      if (events.length > 0) onEvents(events);
    }, onError);
  }

  /**
   * start(), with each event written into the sink's encoder as it is read: a file open (most of a storm) goes from
   * its kernel record to its RawEventBatch bytes without a RawEvent object or a path string; other kinds are decoded
   * and annotated as start() does, then encoded. Same events, same order, same bytes as start() then
   * RawBatchEncoder.add() (kernel-source.test.ts).
   */
  startEncoded(
    sink: EncodedEventSink,
    onError: (err: PalisadeError) => void = (err) => {
      throw err;
    },
  ): void {
    this.open((decoder) => {
      const batches = new RecordEncoder(decoder, this.resolver, this.processes, this.starts);
      return (batch) => batches.encode(batch, sink);
    }, onError);
  }

  private open(handler: (decoder: EventDecoder) => (batch: Buffer) => void, onError: (err: PalisadeError) => void): void {
    if (this.closed) throw new PalisadeError('INTERNAL', 'KernelSource.start() after close()');
    if (this.session !== undefined) throw new PalisadeError('INTERNAL', 'KernelSource.start() called twice');
    // Before loading, so the first events already have a clock offset.
    const offsetNs = bootToRealtimeOffsetNs(clocks(this.opts.addonPath));
    const redactor = this.opts.redactor ?? new ArgvRedactor({ enabled: true });
    const decoder = new EventDecoder({
      bootToRealtimeOffsetNs: offsetNs, redactArgv: (argv) => redactor.redact(argv),
      redactEnv: (name, value) => redactor.redactEnv(name, value),
    });
    this.processes.setBootToRealtimeOffsetNs(offsetNs);
    this.starts.setBootToRealtimeOffsetNs(offsetNs);
    // Before attaching, so the walk does not hold up the first drains while the ring buffer fills. A process that
    // starts between the walk and the attach is found by a lazy /proc lookup at its first event.
    this.processes.scanProc();
    const session = BpfSession.open(this.opts);
    this.decoder = decoder;
    this.session = session;
    try {
      session.start(handler(decoder), onError);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  stats(): KernelSourceStats {
    const counters: Record<string, number> = this.session !== undefined && !this.closed ? { ...this.session.stats() } : {};
    const kernel: Record<string, number> = {};
    for (const reason of KERNEL_LOSS_COUNTERS) kernel[reason] = counters[reason] ?? 0;
    return {
      kernel, counters, decodeErrors: this.decoder?.decodeErrors ?? 0, processCache: this.processes.stats(),
    };
  }

  /** Every program of the BPF object and whether it attached; [] before start. */
  programs(): readonly SourceProgram[] {
    return this.session !== undefined && !this.closed ? this.session.programs() : [];
  }

  /** Replaces the in-kernel filter of the running session (BpfSession.setFilter). */
  setFilter(filter: KernelFilter): void {
    if (this.session === undefined || this.closed) throw new PalisadeError('INTERNAL', 'KernelSource.setFilter() needs a started source');
    this.session.setFilter(filter);
  }

  /** Detaches everything. Idempotent. What the rings still hold is delivered first (a SIGTERM loses nothing). */
  close(): void {
    if (!this.closed && this.session !== undefined) {
      try {
        this.session.detachAndDrain();
      } catch {
        // Closing anyway: what a failed final drain could not deliver shows as events_emitted > records_delivered.
      }
    }
    this.closed = true;
    this.session?.close();
  }

  private annotate(event: palisade.v1.IRawEvent): void {
    const proc = event.process;
    if (proc === null || proc === undefined) return;
    if (event.exec?.cgroupName) this.resolver.learnLeaf(proc.cgroupId ?? 0, event.exec.cgroupName);
    proc.cgroupPath = this.resolver.resolve(proc.cgroupId ?? 0);
    this.processes.annotate(event);
    if (event.exec != null) this.starts.annotate(event);
  }
}

const H = LAYOUT.header.fields;
const FO = LAYOUT.fileOpen.fields;
const KIND_FILE_OPEN = LAYOUT.constants.kindFileOpen;
const PATH_RESOLVED = LAYOUT.constants.pathResolved;
const PATH_TRUNCATED = LAYOUT.constants.pathTruncated;
const PATH_OUTSIDE_ROOT = LAYOUT.constants.pathOutsideRoot;

/**
 * KernelSource's encoded path: a drain's records, in kernel order, annotated and appended to a sink's encoder.
 * Exported for tests, which hand it a fake /proc and cgroup tree.
 */
export class RecordEncoder {
  constructor(
    private readonly decoder: EventDecoder,
    private readonly resolver: CgroupResolver,
    private readonly processes: ProcessCache,
    /** Fills an exec's container start and exe_modified_after_container_start; without it they stay 0/false. */
    private readonly starts?: ContainerStartCache,
  ) {}

  encode(batch: Buffer, sink: EncodedEventSink): void {
    const decoder = this.decoder;
    const encoder = sink.encoder;
    const offsets = decoder.order(batch);
    for (let i = 0; i < offsets.length; i++) {
      const at = offsets[i] ?? 0;
      if (batch.readUInt16LE(at + H.kind) === KIND_FILE_OPEN) {
        // The checks decodeFileOpen makes; a record that fails them goes the object way, which counts it.
        const size = batch.readUInt16LE(at + H.size);
        const pathLen = size >= FO.path ? batch.readUInt16LE(at + FO.path_len) : -1;
        const argLen = size >= FO.path ? batch.readUInt16LE(at + FO.arg_len) : -1;
        if (pathLen >= 0 && pathLen <= LAYOUT.constants.pathMax && argLen >= 0 && argLen <= LAYOUT.constants.pathMax &&
            size === FO.path + pathLen + argLen) {
          this.fileOpen(batch, at, pathLen, argLen, sink, encoder);
          continue;
        }
      }
      const event = decoder.decodeAt(batch, at);
      if (event === undefined) continue;
      const proc = event.process;
      if (proc != null) {
        if (event.exec?.cgroupName) this.resolver.learnLeaf(proc.cgroupId ?? 0, event.exec.cgroupName);
        proc.cgroupPath = this.resolver.resolve(proc.cgroupId ?? 0);
        this.processes.annotate(event);
        if (event.exec != null) this.starts?.annotate(event);
      }
      if (sink.accept(event.kind ?? 0, batch, at)) encoder.add(event);
    }
    this.processes.expire();
    sink.drained();
  }

  /** decodeFileOpen + KernelSource.annotate + RawBatchEncoder.add, from the record's fields. */
  private fileOpen(
    buf: Buffer, at: number, pathLen: number, argLen: number, sink: EncodedEventSink, encoder: RawBatchEncoder,
  ): void {
    const decoder = this.decoder;
    const pid = buf.readUInt32LE(at + H.pid);
    const ppid = buf.readUInt32LE(at + H.ppid);
    const comm = decoder.comm(buf, at + H.comm);
    const parentComm = decoder.comm(buf, at + H.parent_comm);
    const cgroupId = u64(buf, at + H.cgroup_id);
    const cgroupPath = this.resolver.resolve(cgroupId);
    const self = this.processes.resolve(pid, ppid, comm, parentComm);
    if (!sink.accept(pb.EventKind.EVENT_KIND_FILE_OPEN, buf, at)) return;
    const flags = buf.readInt32LE(at + FO.flags);
    const pathFlags = buf.readUInt8(at + FO.path_flags);
    const resolved = (pathFlags & PATH_RESOLVED) !== 0;
    // The path as a string only when it must be looked at: folded (not resolved in the kernel), or an open that can
    // write (the sensitive-write check). Otherwise the kernel's bytes are copied as they are.
    const path = !resolved ? normalisePath(cString(buf, at + FO.path, pathLen))
      : opensForWrite(flags) ? cString(buf, at + FO.path, pathLen) : undefined;
    encoder.addFileOpen(
      decoder.time(buf, at), buf.readUInt32LE(at + H.cpu),
      pid, buf.readUInt32LE(at + H.tid), ppid, buf.readUInt32LE(at + H.uid), buf.readUInt32LE(at + H.gid),
      buf.readUInt32LE(at + H.euid),
      comm, parentComm, cgroupId, cgroupPath, self.binary, self.execId, this.processes.resolvedAncestors,
      buf, at + FO.path, pathLen, path,
      flags, buf.readUInt32LE(at + FO.mode), i64(buf, at + FO.result),
      SYSCALL_NAMES[buf.readUInt16LE(at + FO.syscall)] ?? '', path !== undefined && isSensitiveWrite(path, flags),
      at + FO.path + pathLen, argLen,
      resolved ? pb.PathResolution.PATH_RESOLUTION_KERNEL : pb.PathResolution.PATH_RESOLUTION_NORMALISED,
      (pathFlags & PATH_TRUNCATED) !== 0, (pathFlags & PATH_OUTSIDE_ROOT) !== 0,
      buf.readUInt8(at + FO.write_flags),
    );
  }
}
