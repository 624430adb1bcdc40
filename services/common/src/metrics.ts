// Prometheus metrics (prom-client). Names in base units, counters end in _total, latencies are histograms; no pod
// names as labels. Metrics are get-or-create so that stages sharing a registry (embedded mode) share a metric.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { KERNEL_LOSS_COUNTERS } from './registry.js';

export class Metrics {
  readonly registry: Registry;

  constructor(registry = new Registry(), opts: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const found = this.registry.getSingleMetric(name);
    if (found) return found as Counter<L>;
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [],
    collect?: (this: Gauge<L>) => void): Gauge<L> {
    const found = this.registry.getSingleMetric(name);
    if (found) return found as Gauge<L>;
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }

  histogram<L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
    const found = this.registry.getSingleMetric(name);
    if (found) return found as Histogram<L>;
    return new Histogram<L>({ name, help, buckets, labelNames, registers: [this.registry] });
  }
}

/** Latency buckets in seconds, from 100 µs to 10 s. */
export const LATENCY_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The label value for something read from the wire: itself when the allow-list names it, else `other`. A forged
 * record must not be able to grow a metric's series without bound (every distinct label value is a series).
 */
export function allowedLabel(value: string | null | undefined, allowed: ReadonlySet<string>): string {
  return value != null && allowed.has(value) ? value : 'other';
}

/**
 * For labels whose values cannot be listed in advance (node names): the first `max` distinct values are kept, every
 * later one is `other`. Bounded, and exact on any cluster smaller than `max`.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string | null | undefined): string {
    if (value == null || value === '') return 'unknown';
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}

/**
 * Every LossRecord.source a stage writes: the kernel and addon counters marked as a loss in the ABI registry, and
 * the collector's own reasons. The label of the upstream-loss metrics comes only from this list.
 */
export const LOSS_SOURCES: ReadonlySet<string> = new Set([
  ...KERNEL_LOSS_COUNTERS, 'decode', 'collector_backpressure', 'visibility_gap',
  // The collector's on-disk spool (services/collector/src/spool.ts) was full, or the disk refused the write.
  'spool_full', 'spool_write_failed',
]);
