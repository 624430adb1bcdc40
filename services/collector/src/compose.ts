// Builds the collector from its config and the shared pieces (bus, metrics, logger): used by main.ts and by the
// embedded pipeline.
import { isAbsolute, resolve } from 'node:path';
import type { Bus, Logger, Metrics } from '@palisade/common';
import { Collector } from './collector.js';
import type { CollectorConfig } from './config.js';
import { KernelSource } from './kernel-source.js';

export interface Composed<S> {
  service: S;
  cleanup: () => Promise<void>;
}

export function composeCollector(cfg: CollectorConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger }): Composed<Collector> {
  const source = new KernelSource({
    mode: cfg.bufferMode,
    ringBufferBytes: cfg.ringBufferBytes,
    perfBufferPages: cfg.perfBufferPages,
    ignoreSelf: cfg.ignoreSelf,
    ...(cfg.bpfObject !== '' && { objectPath: isAbsolute(cfg.bpfObject) ? cfg.bpfObject : resolve(cfg.bpfObject) }),
  });
  const service = new Collector({
    node: cfg.node, bus: shared.bus, source, metrics: shared.metrics, logger: shared.logger.child({ stage: 'collector' }),
    maxBatchEvents: cfg.maxBatchEvents, flushIntervalMs: cfg.flushIntervalMs, maxPendingEvents: cfg.maxPendingEvents,
  });
  return { service, cleanup: async () => source.close() };
}
