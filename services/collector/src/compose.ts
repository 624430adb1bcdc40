// Builds the collector from its config and the shared pieces (bus, metrics, logger): used by main.ts and by the
// embedded pipeline.
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bus, Logger, Metrics, palisade } from '@palisade/common';
import { CarriedCounters } from './carried-counters.js';
import { Collector } from './collector.js';
import type { CollectorConfig } from './config.js';
import type { EventSource, EventSourceStats, SourceProgram } from './event-source.js';
import { KernelSource } from './kernel-source.js';
import type { KernelFilter } from './kernel-filter-compile.js';
import type { ParseOptions } from './filter-policy.js';
import { PolicyWatcher } from './policy-watcher.js';
import { ArgvRedactor } from './redact.js';
import { Spool } from './spool.js';
import { Visibility } from './visibility.js';

/** policies/tracing/default.yaml of this installation (services/collector/dist/ -> repo root). */
export const DEFAULT_TRACING_POLICY = fileURLToPath(new URL('../../../policies/tracing/default.yaml', import.meta.url));

export interface Composed<S> {
  service: S;
  cleanup: () => Promise<void>;
}

/** What the policy needs from the kernel side: KernelSource in production. */
export interface FilterableSource extends EventSource {
  setFilter(filter: KernelFilter): void;
}

/**
 * The kernel source with its TracingPolicy: once the programs are attached, the policy is applied and then kept in
 * sync with its file. Every kill is reported as a process_kill event (emitKillEvents), whatever the policy says.
 * Between the attach and the first setFilter (map writes, well under a millisecond) nothing is filtered yet.
 */
export class PolicedSource implements EventSource {
  readonly watcher: PolicyWatcher;

  constructor(private readonly inner: FilterableSource, opts: {
    path: string; checkIntervalMs: number; logger: Logger; metrics: Metrics; parse?: ParseOptions;
  }) {
    this.watcher = new PolicyWatcher({
      path: opts.path, checkIntervalMs: opts.checkIntervalMs, logger: opts.logger, metrics: opts.metrics,
      ...(opts.parse !== undefined && { parse: opts.parse }),
      apply: (policy) => inner.setFilter({ ...policy.filter, emitKillEvents: true }),
    });
  }

  start(onEvents: (events: palisade.v1.IRawEvent[]) => void): void {
    this.inner.start(onEvents);
    try {
      this.watcher.start();
    } catch (err) {
      this.inner.close();
      throw err;
    }
  }

  stats(): EventSourceStats {
    return this.inner.stats();
  }

  programs(): readonly SourceProgram[] {
    return this.inner.programs?.() ?? [];
  }

  close(): void {
    this.watcher.stop();
    this.inner.close();
  }
}

export function composeCollector(cfg: CollectorConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger }): Composed<Collector> {
  const kernel = new KernelSource({
    mode: cfg.bufferMode,
    ringBufferBytes: cfg.ringBufferBytes,
    ringShards: cfg.ringShards,
    maxBatchBytes: cfg.maxBatchBytes,
    perfBufferPages: cfg.perfBufferPages,
    ignoreSelf: cfg.ignoreSelf,
    cgroupRoot: cfg.cgroupRoot,
    redactor: new ArgvRedactor({ enabled: cfg.redactArgs, patterns: cfg.redactPatterns }),
    ...(cfg.bpfObject !== '' && { objectPath: isAbsolute(cfg.bpfObject) ? cfg.bpfObject : resolve(cfg.bpfObject) }),
  });
  const logger = shared.logger.child({ stage: 'collector' });
  const source = new PolicedSource(kernel, {
    path: cfg.policy !== '' ? resolve(cfg.policy) : DEFAULT_TRACING_POLICY,
    checkIntervalMs: cfg.policyCheckIntervalMs, logger, metrics: shared.metrics, parse: { cgroupRoot: cfg.cgroupRoot },
  });
  const spool = openSpool(cfg, logger);
  const service = new Collector({
    node: cfg.node, bus: shared.bus, source, metrics: shared.metrics, logger,
    maxBatchEvents: cfg.maxBatchEvents, flushIntervalMs: cfg.flushIntervalMs, maxPendingEvents: cfg.maxPendingEvents,
    visibility: new Visibility({ stateDir: cfg.stateDir, node: cfg.node }),
    counters: new CarriedCounters({ stateDir: cfg.stateDir, node: cfg.node }),
    ...(spool !== undefined && { spool }), spoolAfterMs: cfg.spoolAfterMs,
  });
  return { service, cleanup: async () => { source.close(); spool?.close(); } };
}

/** The spool in the state dir, or none (no state dir, size 0, or a state dir it cannot use: said in the log). */
function openSpool(cfg: CollectorConfig, logger: Logger): Spool | undefined {
  if (cfg.stateDir === '' || cfg.spoolMaxBytes === 0) return undefined;
  const dir = join(cfg.stateDir, `spool-${cfg.node.replace(/[^A-Za-z0-9._-]/g, '_') || 'node'}`);
  try {
    return Spool.open({ dir, maxBytes: cfg.spoolMaxBytes, fsyncIntervalMs: cfg.spoolFsyncMs, logger });
  } catch (err) {
    logger.error('cannot open the spool: a broker outage will lose events (counted)', { dir, err });
    return undefined;
  }
}
