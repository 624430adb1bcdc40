// What the collector reads events from: the kernel (kernel-source.ts) in production, a fake in tests.
import type { palisade } from '@palisade/common';
import type { RawBatchEncoder } from './raw-batch-encoder.js';

export interface EventSourceStats {
  /** Events dropped before userspace saw them, by reason (ring buffer full, perf lost samples...). Only drops. */
  kernel: Record<string, number>;
  /** Every kernel and addon counter (drops, throughput, field read failures), for metrics. */
  counters?: Record<string, number>;
  decodeErrors: number;
}

/**
 * Where a source that can encode writes its events (EventSource.startEncoded): the Collector's open batch. Per event,
 * the source calls accept() and, when it says yes, appends the event to `encoder` before the next accept().
 */
export interface EncodedEventSink {
  readonly encoder: RawBatchEncoder;
  /**
   * One event of `kind` (palisade.v1.EventKind) from the kernel record at record[at..] is next. false: drop it (the
   * sink counted it as lost); true: it is counted as published and must be appended now.
   */
  accept(kind: number, record: Buffer, at: number): boolean;
  /** The end of one kernel drain: what is due can be published. */
  drained(): void;
}

/** One kernel program and whether it is attached (optional programs whose hook this kernel lacks are not). */
export interface SourceProgram {
  readonly name: string;
  /** The event kind it produces (registry name), '' when untagged. */
  readonly kind: string;
  readonly required: boolean;
  readonly attached: boolean;
  readonly reason: string;
}

export interface EventSource {
  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void;
  /** The kernel programs behind the source, once started (a fake source has none). */
  programs?(): readonly SourceProgram[];
  /**
   * Optional: the same events written straight into the sink's encoder, with no RawEvent object per event (the
   * collector's hot path). A Collector uses it instead of start() when the source has it.
   */
  startEncoded?(sink: EncodedEventSink): void;
  stats(): EventSourceStats;
  close(): void;
}
