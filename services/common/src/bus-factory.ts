// Picks the transport: Kafka when brokers are given, the in-process bus otherwise (embedded mode only: separate
// processes cannot share it).
import type { Bus } from './bus.js';
import { KafkaBus } from './kafka-bus.js';
import type { Logger } from './logger.js';
import { MemoryBus } from './memory-bus.js';

export function createBus(opts: {
  brokers: readonly string[]; clientId: string; logger: Logger;
  /** The in-process bus' record size limit (Kafka reads each topic's own). */
  maxMessageBytes?: number;
}): Bus {
  if (opts.brokers.length === 0) return new MemoryBus(opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes });
  return new KafkaBus({ brokers: [...opts.brokers], clientId: opts.clientId, logger: opts.logger.child({ module: 'kafka' }) });
}
