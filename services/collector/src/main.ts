#!/usr/bin/env node
// The collector process: config -> logger -> metrics -> bus -> collector -> serve. One per node, as root.
import { Metrics, createBus, createLogger, describeConfig, runIfMain, runServices, type ConfigSources } from '@palisade/common';
import { composeCollector } from './compose.js';
import { collectorSchema, loadCollectorConfig } from './config.js';

export async function runCollector(src: ConfigSources): Promise<void> {
  if (src.argv.includes('--help')) { process.stdout.write(`palisade collector [flags]\n${describeConfig(collectorSchema)}\n`); return; }
  const cfg = loadCollectorConfig(src);
  const logger = createLogger({ level: cfg.logLevel, base: { service: 'collector', node: cfg.node } });
  const metrics = new Metrics(undefined, { defaultMetrics: true });
  const bus = createBus({ brokers: cfg.kafka, clientId: `palisade-collector-${cfg.node}`, logger, security: cfg });
  await bus.connect();
  const { service, cleanup } = composeCollector(cfg, { bus, metrics, logger });
  await runServices({
    logger, metrics, metricsHost: cfg.metricsHost, metricsPort: cfg.metricsPort,
    shutdownDeadlineMs: cfg.shutdownDeadlineMs, services: [service],
    cleanup: async () => { await cleanup(); await bus.close(); },
  });
}

runIfMain(import.meta.url, 'palisade collector', runCollector);
