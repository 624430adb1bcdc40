// The whole pipeline in one process on this host: collector -> enricher -> evaluator -> responder on the
// in-process bus (or on Kafka with --kafka). Alerts go to stdout, one JSON object per line; logs go to stderr.
import {
  AlertSigner, AlertVerifier, Metrics, bool, createBus, createLogger, describeConfig, ephemeralAlertKeys, int, list, loadConfig,
  runServices, topicConfigs,
  type ConfigSources, type RunnableService,
} from '@palisade/common';
import { collectorSchema, composeCollector } from '@palisade/collector';
import { composeEnricher, enricherSchema } from '@palisade/enricher';
import { composeEvaluator, evaluatorSchema } from '@palisade/evaluator';
import { composeResponder, responderSchema } from '@palisade/responder';
import { alertToJson } from './alert-json.js';

export const embeddedSchema = {
  ...collectorSchema,
  ...enricherSchema,
  ...evaluatorSchema,
  ...responderSchema,
  kafka: list('Kafka bootstrap brokers; empty (the default): the in-process bus', 'PALISADE_KAFKA_BROKERS', []),
  metricsPort: int('Port of /metrics, /healthz and /readyz (all stages)', 'PALISADE_METRICS_PORT', 9464, 0, 65535),
  printAlerts: bool('Print each alert on stdout as one JSON object per line', 'PALISADE_PRINT_ALERTS', true),
  memoryBusMaxMessageBytes: int('Most bytes of one record on the in-process bus, like a broker\'s max.message.bytes ' +
    '(outputs are split under it; on Kafka each topic\'s own limit is read instead)', 'PALISADE_MEMORY_BUS_MAX_MESSAGE_BYTES',
  1_048_588, 16_384),
};

export async function runEmbedded(src: ConfigSources): Promise<void> {
  if (src.argv.includes('--help')) {
    process.stdout.write(`palisade embedded [flags]\n${describeConfig(embeddedSchema)}\n`);
    return;
  }
  const cfg = loadConfig(embeddedSchema, src);
  const logger = createLogger({ level: cfg.logLevel, base: { service: 'palisade', node: cfg.node } });
  const metrics = new Metrics(undefined, { defaultMetrics: true });
  const bus = createBus({ brokers: cfg.kafka, clientId: `palisade-${cfg.node}`, logger, maxMessageBytes: cfg.memoryBusMaxMessageBytes,
    security: cfg, topicConfigs: topicConfigs(cfg) });
  await bus.connect();
  logger.info('starting the embedded pipeline', { bus: bus.kind, dryRun: cfg.dryRun });
  // Alerts are signed and verified here too, so the responder behaves as it does in a cluster: with a configured
  // key when one is given, else with a key pair made now that lives as long as this process.
  let keys: { signer: AlertSigner; verifier: AlertVerifier };
  if (cfg.alertSigningKeyFile !== '') {
    const signer = AlertSigner.fromFile(cfg.alertSigningKeyFile);
    keys = { signer, verifier: cfg.alertVerifyKeys.length > 0 ? AlertVerifier.fromFiles(cfg.alertVerifyKeys) : new AlertVerifier([signer.publicKey]) };
  } else {
    keys = ephemeralAlertKeys();
  }
  const responder = composeResponder(cfg, { bus, metrics, logger }, { verifier: keys.verifier });
  const evaluator = await composeEvaluator(cfg, { bus, metrics, logger }, { signer: keys.signer,
    ...(cfg.printAlerts && { onAlert: (a) => { process.stdout.write(alertToJson(a) + '\n'); } }),
  });
  const enricher = composeEnricher(cfg, { bus, metrics, logger });
  const collector = composeCollector(cfg, { bus, metrics, logger });
  // Consumers first, so nothing the collector publishes waits for a subscriber; stopped in reverse.
  const services: RunnableService[] = [responder.service, evaluator.service, enricher.service, collector.service];
  await runServices({
    logger, metrics, metricsHost: cfg.metricsHost, metricsPort: cfg.metricsPort,
    shutdownDeadlineMs: cfg.shutdownDeadlineMs, services,
    cleanup: async () => {
      evaluator.tuning?.stop();
      await collector.cleanup();
      await enricher.cleanup();
      await bus.close();
    },
  });
}
