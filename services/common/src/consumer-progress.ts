// What a consumer knows about its own progress, per partition: the next offset it committed, the partition's end as
// last fetched (the high watermark), and since when a batch at the current position has been waiting for its commit.
// Both buses keep one of these per consumer, so readiness (ConsumerStage) asks the same facts of Kafka and MemoryBus.
//
// "Stalled" is measured from the moment work arrived, not from the last commit: a partition idle for an hour has an
// old last commit but nothing to do, and its first new batch must not look an hour late.
import type { PartitionProgress } from './bus.js';

interface PartitionState {
  topic: string;
  partition: number;
  committed: number | undefined;
  highWatermark: number;
  pendingFrom: number | undefined;
  pendingSince: number | undefined;
  lastCommitAt: number | undefined;
}

export class ProgressTracker {
  private readonly parts = new Map<string, PartitionState>();

  private state(topic: string, partition: number): PartitionState {
    const k = `${topic}/${partition}`;
    let s = this.parts.get(k);
    if (!s) {
      s = { topic, partition, committed: undefined, highWatermark: 0, pendingFrom: undefined, pendingSince: undefined, lastCommitAt: undefined };
      this.parts.set(k, s);
    }
    return s;
  }

  /** A batch starting at `from` was handed to the handler; the partition ends at `highWatermark` (next offset). */
  fetched(topic: string, partition: number, from: number, highWatermark: number, now = Date.now()): void {
    const s = this.state(topic, partition);
    s.highWatermark = Math.max(s.highWatermark, highWatermark);
    // A redelivery of the same position (after a retriable failure) keeps the time the work first arrived.
    if (s.pendingFrom !== from) { s.pendingFrom = from; s.pendingSince = now; }
  }

  /** The offsets before `next` were committed. */
  committed(topic: string, partition: number, next: number, now = Date.now()): void {
    const s = this.state(topic, partition);
    s.committed = next;
    s.highWatermark = Math.max(s.highWatermark, next);
    s.pendingFrom = undefined;
    s.pendingSince = undefined;
    s.lastCommitAt = now;
  }

  /** The partition is no longer this consumer's (a rebalance moved it, or the consumer stopped). */
  released(topic: string, partition: number): void {
    this.parts.delete(`${topic}/${partition}`);
  }

  snapshot(now = Date.now()): PartitionProgress[] {
    return [...this.parts.values()].map((s) => {
      const position = s.committed ?? s.pendingFrom ?? s.highWatermark;
      return {
        topic: s.topic, partition: s.partition, committed: s.committed, highWatermark: s.highWatermark,
        lag: Math.max(0, s.highWatermark - position),
        pendingMs: s.pendingSince === undefined ? undefined : Math.max(0, now - s.pendingSince),
        lastCommitAt: s.lastCommitAt,
      };
    });
  }
}
