// Picks the transport: Kafka when brokers are given, the in-process bus otherwise (embedded mode only: separate
// processes cannot share it).
import type { Bus } from './bus.js';
import { KafkaBus } from './kafka-bus.js';
import { resolveKafkaSecurity, type KafkaSecurityKeyValues } from './kafka-security.js';
import type { Logger } from './logger.js';
import { MemoryBus } from './memory-bus.js';

export function createBus(opts: {
  brokers: readonly string[]; clientId: string; logger: Logger;
  /** The in-process bus' record size limit (Kafka reads each topic's own). */
  maxMessageBytes?: number;
  /** The Kafka security keys (common-config.ts); checked, and their files read, here. Default: PLAINTEXT. */
  security?: KafkaSecurityKeyValues;
  /** Configs of topics this bus may create (topicConfigs() in common-config.ts); Kafka only. */
  topicConfigs?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}): Bus {
  if (opts.brokers.length === 0) return new MemoryBus(opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes });
  const logger = opts.logger.child({ module: 'kafka' });
  const security = opts.security === undefined ? undefined : resolveKafkaSecurity(opts.security);
  if (security !== undefined) logger.info('kafka security', security.summary);
  const remote = opts.brokers.some((b) => !/^(127\.|localhost[:]|\[::1\])/.test(b));
  if (security?.summary.protocol === 'PLAINTEXT' && remote) {
    logger.warn('kafka over PLAINTEXT to a remote broker: no encryption, no authentication (see --kafka-security-protocol)');
  }
  return new KafkaBus({ brokers: [...opts.brokers], clientId: opts.clientId, logger, ...(security && { security }),
    ...(opts.topicConfigs && { topicConfigs: opts.topicConfigs }) });
}
