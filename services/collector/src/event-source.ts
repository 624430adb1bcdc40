// What the collector reads events from: the kernel (kernel-source.ts) in production, a fake in tests.
import type { palisade } from '@palisade/common';

export interface EventSourceStats {
  /** Events dropped before userspace saw them, by reason (ring buffer full, perf lost samples...). Only drops. */
  kernel: Record<string, number>;
  /** Every kernel and addon counter (drops, throughput, field read failures), for metrics. */
  counters?: Record<string, number>;
  decodeErrors: number;
}

export interface EventSource {
  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void;
  stats(): EventSourceStats;
  close(): void;
}
