#!/usr/bin/env node
// The responder process: config -> logger -> metrics -> bus -> Kubernetes clients + responder -> serve.
import { Metrics, createBus, createLogger, describeConfig, runIfMain, runServices, type ConfigSources } from '@palisade/common';
import { composeResponder } from './compose.js';
import { loadResponderConfig, responderSchema } from './config.js';

export async function runResponder(src: ConfigSources): Promise<void> {
  if (src.argv.includes('--help')) { process.stdout.write(`palisade responder [flags]\n${describeConfig(responderSchema)}\n`); return; }
  const cfg = loadResponderConfig(src);
  const logger = createLogger({ level: cfg.logLevel, base: { service: 'responder' } });
  const metrics = new Metrics(undefined, { defaultMetrics: true });
  const bus = createBus({ brokers: cfg.kafka, clientId: 'palisade-responder', logger, security: cfg });
  // Composed before connecting: a missing or bad key is a config error, not something found after the network.
  const { service } = composeResponder(cfg, { bus, metrics, logger });
  await bus.connect();
  await runServices({
    logger, metrics, metricsHost: cfg.metricsHost, metricsPort: cfg.metricsPort,
    shutdownDeadlineMs: cfg.shutdownDeadlineMs, services: [service],
    cleanup: async () => { await bus.close(); },
  });
}

runIfMain(import.meta.url, 'palisade responder', runResponder);
