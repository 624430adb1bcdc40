// For developers: starts one throwaway Kafka broker and prints its bootstrap address; Ctrl-C stops it and removes its
// data. Usage: node test/dist/kafka/run-broker.js [--log-dir DIR]
import { startKafka } from './broker.js';

const i = process.argv.indexOf('--log-dir');
const logDir = i >= 0 ? process.argv[i + 1] : undefined;
const started = Date.now();
const kafka = await startKafka(logDir === undefined ? {} : { logDir });
console.log(`kafka ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`bootstrap: ${kafka.brokers.join(',')}`);
console.log(`logs:      ${kafka.logDir}/server.log`);
console.log('Ctrl-C to stop');

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  kafka.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
