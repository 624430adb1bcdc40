#!/usr/bin/env node
// The enricher process: config -> logger -> metrics -> bus -> pod cache + enricher -> serve.
import { Metrics, createBus, topicConfigs, createLogger, describeConfig, runIfMain, runServices, type ConfigSources } from '@palisade/common';
import { composeEnricher } from './compose.js';
import { enricherSchema, loadEnricherConfig } from './config.js';

export async function runEnricher(src: ConfigSources): Promise<void> {
  if (src.argv.includes('--help')) { process.stdout.write(`palisade enricher [flags]\n${describeConfig(enricherSchema)}\n`); return; }
  const cfg = loadEnricherConfig(src);
  const logger = createLogger({ level: cfg.logLevel, base: { service: 'enricher' } });
  const metrics = new Metrics(undefined, { defaultMetrics: true });
  const bus = createBus({ brokers: cfg.kafka, clientId: 'palisade-enricher', logger, security: cfg,
    topicConfigs: topicConfigs(cfg) });
  await bus.connect();
  const { service, cleanup } = composeEnricher(cfg, { bus, metrics, logger });
  await runServices({
    logger, metrics, metricsHost: cfg.metricsHost, metricsPort: cfg.metricsPort,
    shutdownDeadlineMs: cfg.shutdownDeadlineMs, services: [service],
    cleanup: async () => { await cleanup(); await bus.close(); },
  });
}

runIfMain(import.meta.url, 'palisade enricher', runEnricher);
