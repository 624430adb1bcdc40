// What the collector reads events from: the kernel (kernel-source.ts) in production, a fake in tests.
import type { palisade } from '@palisade/common';

export interface EventSourceStats {
  /** Kernel-side counters by reason (ringbuf reserve failures, perf lost samples, read failures...). */
  kernel: Record<string, number>;
  decodeErrors: number;
}

export interface EventSource {
  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void;
  stats(): EventSourceStats;
  close(): void;
}
