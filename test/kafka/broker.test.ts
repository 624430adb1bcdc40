// The test broker launcher: it serves Kafka on the address it returns, and stop() leaves no process, port or data dir
// behind, also when the start fails. Without java or the jars the suite skips locally and fails under CI=true.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { skipUnless } from '@palisade/common/testing';
import { kafkaUnavailableReason, startKafka } from './broker.js';

const unavailable = kafkaUnavailableReason();
const skip = skipUnless(unavailable === undefined, `needs Kafka: ${unavailable ?? ''}`);

const tempDirs = (): Set<string> => new Set(readdirSync(tmpdir()).filter((d) => d.startsWith('palisade-kafka-')));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startKafka', { skip }, () => {
  it('starts a broker that serves metadata and creates topics; stop() removes everything but the logs', async (t) => {
    const logDir = mkdtempSync(join(tmpdir(), 'kafka-logs-test-'));
    t.after(() => rmSync(logDir, { recursive: true, force: true }));
    const before = tempDirs();
    const kafka = await startKafka({ logDir });
    try {
      assert.match(kafka.brokers[0] ?? '', /^127\.0\.0\.1:\d+$/);
      const client = new Kafka({
        brokers: kafka.brokers,
        clientId: 'broker-test',
        retry: { retries: 1 },
        logLevel: logLevel.NOTHING,
      });
      const admin = client.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'broker-test', numPartitions: 3 }] });
      const meta = await admin.fetchTopicMetadata({ topics: ['broker-test'] });
      assert.equal(meta.topics[0]?.partitions.length, 3);
      // auto.create.topics.enable=false: a producer that asks for auto-creation (kafkajs' default) still gets an error.
      const producer = client.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await assert.rejects(producer.send({ topic: 'no-such-topic', messages: [{ value: 'x' }] }));
      await producer.disconnect();
      assert.deepEqual((await admin.listTopics()).filter((t) => !t.startsWith('__')), ['broker-test']);
      await admin.disconnect();
    } finally {
      await Promise.all([kafka.stop(), kafka.stop()]);
    }
    await kafka.stop();
    assert.equal(alive(kafka.pid), false, 'the JVM is gone');
    assert.deepEqual(tempDirs(), before, 'the temp dir is removed');
    assert.ok(existsSync(join(logDir, 'server.log')), 'the broker log is kept');
    const probe = new Kafka({ brokers: kafka.brokers, clientId: 'probe', retry: { retries: 0 }, logLevel: logLevel.NOTHING });
    await assert.rejects(probe.admin().connect(), 'nothing listens on the port any more');
  });

  it('a start that times out fails with the tail of the broker log and cleans up', async () => {
    const before = tempDirs();
    await assert.rejects(startKafka({ startTimeoutMs: 1 }), (err: Error) => {
      assert.match(err.message, /did not start/);
      assert.match(err.message, /--- server\.log \(tail\) ---/);
      return true;
    });
    assert.deepEqual(tempDirs(), before);
  });
});
