// The collector's kernel side in one object: the BPF session (native.ts), the batch decoder and the cgroup
// resolver, plus the small bit of process state the kernel events do not carry (the binary of a pid).
import { readlinkSync } from 'node:fs';
import { PalisadeError, pb, type palisade } from '@palisade/common';
import { CgroupResolver } from './cgroup-resolver.js';
import { bootToRealtimeOffsetNs, EventDecoder } from './event-decoder.js';
import type { EventSource } from './event-source.js';
import { BpfSession, clocks, type BpfSessionOptions } from './native.js';

export interface KernelSourceOptions extends BpfSessionOptions {
  /** cgroup2 mount point the resolver walks. */
  cgroupRoot?: string;
  /** Minimum time between two cgroup walks triggered by unknown ids. */
  cgroupWalkIntervalMs?: number;
  /** Most pids whose binary is remembered. */
  binaryCacheSize?: number;
  /** Where to read /proc/<pid>/exe for processes whose exec happened before we started. */
  procRoot?: string;
}

/**
 * The counters that mean "an event was dropped" (bpf/README.md, Counters). The rest count throughput
 * (events_emitted, records_delivered) or a field left empty (read_*_failed: the event still went out).
 */
export const KERNEL_LOSS_COUNTERS = [
  'ringbuf_output_failed', 'perfbuf_output_failed', 'scratch_missing', 'stash_missing', 'stash_update_failed',
  'perfbuf_lost', 'records_malformed',
] as const;

export interface KernelSourceStats {
  /** Dropped events by reason: the KERNEL_LOSS_COUNTERS. */
  kernel: Record<string, number>;
  /** Every kernel and addon counter (see bpf/README.md). */
  counters: Record<string, number>;
  /** Records the decoder rejected. */
  decodeErrors: number;
}

/**
 * pid -> path of its last exec. Bounded: when full, the oldest insertion goes (Map iteration order), which is the
 * longest-lived process, the one most likely to be looked up again through /proc if it is still running.
 */
class ProcessBinaries {
  private readonly byPid = new Map<number, string>();

  constructor(
    private readonly maxEntries: number,
    private readonly procRoot: string,
  ) {}

  exec(pid: number, filename: string): void {
    this.byPid.delete(pid);
    this.byPid.set(pid, filename);
    this.evict();
  }

  lookup(pid: number): string {
    const known = this.byPid.get(pid);
    if (known !== undefined) return known;
    // Started before us: ask procfs once, and remember a failure too, so a vanished pid costs one syscall.
    let binary = '';
    try {
      binary = readlinkSync(`${this.procRoot}/${pid}/exe`);
    } catch {
      binary = '';
    }
    this.byPid.set(pid, binary);
    this.evict();
    return binary;
  }

  exit(pid: number): void {
    this.byPid.delete(pid);
  }

  private evict(): void {
    while (this.byPid.size > this.maxEntries) {
      const oldest = this.byPid.keys().next();
      if (oldest.done === true) break;
      this.byPid.delete(oldest.value);
    }
  }
}

export class KernelSource implements EventSource {
  private readonly opts: KernelSourceOptions;
  private readonly resolver: CgroupResolver;
  private readonly binaries: ProcessBinaries;
  private session: BpfSession | undefined;
  private decoder: EventDecoder | undefined;
  private closed = false;

  constructor(opts: KernelSourceOptions = {}) {
    this.opts = opts;
    this.resolver = new CgroupResolver({
      ...(opts.cgroupRoot !== undefined && { root: opts.cgroupRoot }),
      ...(opts.cgroupWalkIntervalMs !== undefined && { minWalkIntervalMs: opts.cgroupWalkIntervalMs }),
    });
    this.binaries = new ProcessBinaries(opts.binaryCacheSize ?? 16384, opts.procRoot ?? '/proc');
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
    if (this.closed) throw new PalisadeError('INTERNAL', 'KernelSource.start() after close()');
    if (this.session !== undefined) throw new PalisadeError('INTERNAL', 'KernelSource.start() called twice');
    // Before loading, so the first events already have a clock offset.
    const decoder = new EventDecoder({ bootToRealtimeOffsetNs: bootToRealtimeOffsetNs(clocks(this.opts.addonPath)) });
    const session = BpfSession.open(this.opts);
    this.decoder = decoder;
    this.session = session;
    try {
      session.start((batch) => {
        const events = decoder.decode(batch);
        for (const event of events) this.annotate(event);
        if (events.length > 0) onEvents(events);
      }, onError);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  stats(): KernelSourceStats {
    const counters: Record<string, number> = this.session !== undefined && !this.closed ? { ...this.session.stats() } : {};
    const kernel: Record<string, number> = {};
    for (const reason of KERNEL_LOSS_COUNTERS) kernel[reason] = counters[reason] ?? 0;
    return { kernel, counters, decodeErrors: this.decoder?.decodeErrors ?? 0 };
  }

  /** Detaches everything. Idempotent. */
  close(): void {
    this.closed = true;
    this.session?.close();
  }

  private annotate(event: palisade.v1.IRawEvent): void {
    const proc = event.process;
    if (proc === null || proc === undefined) return;
    const pid = proc.pid ?? 0;
    proc.cgroupPath = this.resolver.resolve(proc.cgroupId ?? 0);
    if (event.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC) {
      this.binaries.exec(pid, event.exec?.filename ?? '');
      proc.binary = event.exec?.filename ?? '';
      return;
    }
    proc.binary = this.binaries.lookup(pid);
    if (event.kind === pb.EventKind.EVENT_KIND_PROCESS_EXIT) this.binaries.exit(pid);
  }
}
