#!/usr/bin/env node
// The evaluator process: config -> logger -> metrics -> bus -> policy engine + evaluator -> serve.
import { Metrics, createBus, topicConfigs, createLogger, describeConfig, runIfMain, runServices, type ConfigSources } from '@palisade/common';
import { composeEvaluator } from './compose.js';
import { evaluatorSchema, loadEvaluatorConfig } from './config.js';

export async function runEvaluator(src: ConfigSources): Promise<void> {
  if (src.argv.includes('--help')) { process.stdout.write(`palisade evaluator [flags]\n${describeConfig(evaluatorSchema)}\n`); return; }
  const cfg = loadEvaluatorConfig(src);
  const logger = createLogger({ level: cfg.logLevel, base: { service: 'evaluator' } });
  const metrics = new Metrics(undefined, { defaultMetrics: true });
  const bus = createBus({ brokers: cfg.kafka, clientId: 'palisade-evaluator', logger, security: cfg,
    topicConfigs: topicConfigs(cfg) });
  // Composed before connecting: a bad signing key or policy is a config error, not something found after the network.
  const { service, tuning } = await composeEvaluator(cfg, { bus, metrics, logger });
  await bus.connect();
  await runServices({
    logger, metrics, metricsHost: cfg.metricsHost, metricsPort: cfg.metricsPort,
    shutdownDeadlineMs: cfg.shutdownDeadlineMs, services: [service],
    cleanup: async () => { tuning?.stop(); await bus.close(); },
  });
}

runIfMain(import.meta.url, 'palisade evaluator', runEvaluator);
